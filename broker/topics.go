package broker

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"maps"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/streamhouse/streamhouse/config"
	"github.com/streamhouse/streamhouse/meta"
	"github.com/streamhouse/streamhouse/storage"
)

// topic is a topic as the broker serves it: the catalog's record, its
// resolved configuration and its partitions. A topic value is immutable
// once published in topics; a change (configs, partitions) publishes a new
// value, which shares the partitions and the log source of the old one.
type topic struct {
	meta.Topic
	cfg   config.Topic
	src   *logSource
	parts []*partition
}

// logSource is what a topic's partitions need to open their logs: the
// topic's name and id and its current log config, which a config change
// replaces (before it reconfigures the logs already open, so a log opened
// meanwhile gets the new config one way or the other).
type logSource struct {
	ts   *topics
	name string
	id   meta.TopicID
	lc   atomic.Pointer[storage.LogConfig]
}

// partition is one partition of a topic. Its log is opened when first
// needed: by a request for it, or by the warm-up that opens every log in
// the background after startup. A broker with 10,000 partitions on disk so
// answers as soon as its catalog is read, and a request for one partition
// waits for that partition's log only.
type partition struct {
	index int32
	src   *logSource
	mu    sync.Mutex                // serialises opening, reconfiguring and closing
	st    atomic.Pointer[partState] // nil until opened (or found corrupt, or closed)
}

// partState is what became of a partition's log.
type partState struct {
	log storage.Log // nil when offline or closed
	// offline is why the log could not be opened (corrupt data below its
	// recovery point): requests for the partition get
	// KAFKA_STORAGE_ERROR until an operator repairs it and restarts.
	offline error
	closed  bool // deleted, or the broker stopped
}

// errNotOpened is the answer of partition.opened for a log not opened yet.
var errNotOpened = errors.New("broker: log not opened yet")

// get returns the partition's log, opening it first if nothing has. The
// error is why it cannot be served: corrupt when opened (offline),
// failing since (corrupt data found by a read, a write or an fsync that
// failed), storage.ErrClosed once deleted or stopping, or the failure to
// open it, which the next request tries again.
func (p *partition) get(ctx context.Context) (storage.Log, error) {
	s := p.src.ts.s
	if _, ok := s.leaderEpochOf(p); !ok {
		return nil, fmt.Errorf("broker: %s-%d: %w", p.src.name, p.index, storage.ErrNotLeader)
	}
	st := p.st.Load()
	if st == nil {
		var err error
		if st, err = p.open(ctx); err != nil {
			return nil, err
		}
	}
	if sl, ok := st.log.(staler); ok && sl.Stale() {
		var err error
		if st, err = p.reopenStale(ctx, st); err != nil {
			return nil, err
		}
	}
	return st.serve()
}

// opened is get without the opening: errNotOpened when no log is open yet.
// The background loops (retention, cleaning, metrics) use it, and leave a
// log to the warm-up.
func (p *partition) opened() (storage.Log, error) {
	st := p.st.Load()
	if st == nil {
		return nil, errNotOpened
	}
	return st.serve()
}

func (st *partState) serve() (storage.Log, error) {
	switch {
	case st.closed:
		return nil, storage.ErrClosed
	case st.offline != nil:
		return nil, st.offline
	}
	if err := st.log.Offline(); err != nil {
		return nil, err
	}
	return st.log, nil
}

// open opens the log, once: callers that come meanwhile wait for it. Corrupt
// data below the log's recovery point leaves the partition offline, which
// is remembered; any other failure is returned and not.
func (p *partition) open(ctx context.Context) (*partState, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if st := p.st.Load(); st != nil {
		return st, nil
	}
	s := p.src.ts.s
	if _, ok := s.leaderEpochOf(p); !ok {
		// The cluster mode: the lease was given up meanwhile
		// (LeaseReleasing waits for this lock).
		return nil, fmt.Errorf("broker: open %s-%d: %w", p.src.name, p.index, storage.ErrNotLeader)
	}
	l, err := s.cfg.Store.Open(ctx, storage.Partition{Topic: p.src.name, TopicID: p.src.id, Partition: p.index}, *p.src.lc.Load())
	var st *partState
	switch {
	case errors.Is(err, storage.ErrCorrupt):
		s.log.Error("PARTITION OFFLINE: corrupt data below the recovery point; it answers KAFKA_STORAGE_ERROR until its files are repaired or restored and the broker restarted",
			"topic", p.src.name, "partition", p.index, "err", err)
		st = &partState{offline: err}
	case err != nil && (ctx.Err() != nil || errors.Is(err, storage.ErrNotLeader)):
		return nil, err
	case err != nil:
		// Kafka's answer for a log it cannot read: KAFKA_STORAGE_ERROR.
		return nil, fmt.Errorf("broker: open %s-%d: %w: %w", p.src.name, p.index, storage.ErrIO, err)
	default:
		st = &partState{log: l}
	}
	p.st.Store(st)
	return st, nil
}

// reconfigure applies the topic's log config to the log if it is open; one
// opened later reads it from the source.
func (p *partition) reconfigure(lc storage.LogConfig) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if st := p.st.Load(); st != nil && st.log != nil { // a closed state has none
		st.log.Reconfigure(lc)
	}
}

// close closes the log if it is open; after it the partition never opens.
func (p *partition) close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := p.st.Load()
	p.st.Store(&partState{closed: true})
	if st == nil || st.log == nil { // never opened, offline, or closed already
		return nil
	}
	if err := st.log.Close(); err != nil && !errors.Is(err, storage.ErrClosed) {
		return err
	}
	return nil
}

func (t *topic) partition(p int32) *partition {
	if p < 0 || int(p) >= len(t.parts) {
		return nil
	}
	return t.parts[p]
}

// topics is the broker's cache of the catalog's topics with their open logs.
// The hot path reads it under a read lock and never waits on the catalog.
//
// Lock order: adminMu before mu. adminMu serialises changes (create,
// delete), which talk to the catalog and the store without holding mu, so
// readers are never blocked by I/O.
type topics struct {
	s *Server

	adminMu sync.Mutex

	mu     sync.RWMutex // guards byName, byID
	byName map[string]*topic
	byID   map[meta.TopicID]*topic
}

func newTopics(s *Server) *topics {
	return &topics{
		s:      s,
		byName: make(map[string]*topic),
		byID:   make(map[meta.TopicID]*topic),
	}
}

// load reads every topic from the catalog and publishes it; the logs open
// when first needed, or by warm (the first Serve starts it) in the
// background.
func (ts *topics) load(ctx context.Context) error {
	all, err := ts.s.cfg.Catalog.Topics(ctx)
	if err != nil {
		return fmt.Errorf("broker: load topics: %w", err)
	}
	n := 0
	for _, mt := range all {
		t, err := ts.newTopic(mt)
		if err != nil {
			return err
		}
		ts.publish(t)
		n += len(t.parts)
	}
	ts.s.log.Info("topics loaded; their logs open in the background", "topics", len(all), "partitions", n)
	return nil
}

// warm opens every log not opened yet, several at a time (openWorkers), so
// that the broker soon holds what it held before a restart (retention and
// cleaning run on open logs) and a partition found corrupt is reported
// offline. It stops when ctx is done.
func (ts *topics) warm(ctx context.Context) {
	start := time.Now()
	var parts []*partition
	for _, t := range ts.all() {
		parts = append(parts, t.parts...)
	}
	failed := ts.warmParts(ctx, parts)
	if ctx.Err() == nil {
		ts.s.log.Info("logs opened", "partitions", len(parts), "failed", failed, "took", time.Since(start).Round(time.Millisecond))
	}
}

// warmParts opens the logs of parts not opened yet (warmWorkers at a time)
// and returns how many failed.
func (ts *topics) warmParts(ctx context.Context, parts []*partition) int64 {
	var failed atomic.Int64
	inParallel(ctx, len(parts), warmWorkers(), func(i int) {
		p := parts[i]
		if _, lead := ts.s.leaderEpochOf(p); !lead {
			return // the cluster mode: opened where its lease is taken
		}
		if _, err := p.get(ctx); err != nil && !errors.Is(err, storage.ErrCorrupt) && !errors.Is(err, storage.ErrClosed) && ctx.Err() == nil {
			failed.Add(1)
			ts.s.log.Error("opening a log failed; requests for the partition try again", "topic", p.src.name, "partition", p.index, "err", err)
		}
	})
	return failed.Load()
}

// warmNew opens the logs of partitions just created in the background, as
// warm does after a start: their directories and files follow the
// creation's answer (Kafka's brokers too make a new topic's logs after its
// controller answered), so that a producer that comes a moment later finds
// them made. One that comes at once opens what is left itself (Metadata,
// 16 at a time); each log opens once. A partition of a topic deleted
// meanwhile is closed and opens no more.
func (ts *topics) warmNew(parts []*partition) {
	s := ts.s
	if s.clustered() || s.base.Err() != nil {
		return
	}
	// A request's handler runs before Shutdown waits for s.bg.
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		ts.warmParts(s.base, parts)
	}()
}

// warmLoop opens every log after startup (topics.warm), and stops at
// Shutdown.
func (s *Server) warmLoop() {
	defer s.bg.Done()
	s.topics.warm(s.base)
}

// newTopic makes the served topic of a catalog topic, its logs not opened.
func (ts *topics) newTopic(mt meta.Topic) (*topic, error) {
	cfg, err := ts.s.settings().ResolveTopic(mt.Configs)
	if err != nil {
		return nil, fmt.Errorf("broker: topic %s: stored configs: %w", mt.Name, err)
	}
	src := &logSource{ts: ts, name: mt.Name, id: mt.ID}
	lc := logConfig(cfg)
	src.lc.Store(&lc)
	t := &topic{Topic: mt, cfg: cfg, src: src, parts: make([]*partition, mt.Partitions)}
	for i := range t.parts {
		t.parts[i] = &partition{index: int32(i), src: src}
	}
	return t, nil
}

// openWorkers bounds how many logs are opened at once. Opening a log
// is a few dozen small file system calls (directory listing, checkpoint,
// index files); with thousands of partitions the cores share them, and a
// disk that must be read gets several requests at a time.
func openWorkers() int { return min(16, 2*runtime.GOMAXPROCS(0)) }

// warmWorkers bounds the warm-up's openings: fewer than the cores, so that
// one stays free for the requests of a broker that just started (a Go
// scheduler whose every P is busy looks at the network only every 10 ms).
func warmWorkers() int { return max(1, runtime.GOMAXPROCS(0)-1) }

// closeWorkers bounds how many logs closeLogs closes at once. Closing a log
// fsyncs its data, its checkpoint and its directory: a disk completes many
// fsyncs issued together in far less time than one after another (storage/fs
// syncs 32 files at a time for the same reason), and a clean stop of
// 10,000 partitions took 10-15 s one at a time.
const closeWorkers = 32

// inParallel calls fn(i) for each i in [0, n), up to workers at a time, and
// returns when every call has. Once ctx is done no call starts; it returns
// how many were started.
func inParallel(ctx context.Context, n, workers int, fn func(i int)) int {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(workers, n) {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := next.Add(1) - 1
				if i >= int64(n) {
					return
				}
				fn(int(i))
			}
		})
	}
	wg.Wait()
	return int(min(next.Load(), int64(n)))
}

// openNeeded opens, several at a time, the logs of ps not opened yet; a
// request that reports on many partitions (Metadata) so waits for them
// together rather than one after another. Failures are left to the
// caller's get.
func openNeeded(ctx context.Context, ps []*partition) {
	var need []*partition
	for _, p := range ps {
		if _, lead := p.src.ts.s.leaderEpochOf(p); lead && p.st.Load() == nil {
			need = append(need, p)
		}
	}
	if len(need) <= 1 {
		return
	}
	inParallel(ctx, len(need), openWorkers(), func(i int) { need[i].open(ctx) })
}

func logConfig(c config.Topic) storage.LogConfig {
	segMs := c.SegmentMs
	if c.CleanupCompact && c.MaxCompactionLagMs > 0 {
		// KIP-354: a compacted topic's active segment rolls by
		// max.compaction.lag.ms too, so that no record stays out of the
		// cleaner's reach longer than that (Kafka's LogConfig.maxSegmentMs).
		segMs = min(segMs, c.MaxCompactionLagMs)
	}
	local := func(v, whole int64) int64 {
		if v == -2 { // as the whole log's
			return whole
		}
		return v
	}
	return storage.LogConfig{
		SegmentBytes:       int64(c.SegmentBytes),
		SegmentMs:          segMs,
		SegmentJitterMs:    c.SegmentJitterMs,
		IndexIntervalBytes: c.IndexIntervalBytes,
		FlushMessages:      c.FlushMessages,
		FlushMs:            c.FlushMs,
		Remote: storage.RemoteConfig{
			Enable:              c.RemoteStorageEnable,
			LocalRetentionMs:    local(c.LocalRetentionMs, c.RetentionMs),
			LocalRetentionBytes: local(c.LocalRetentionBytes, c.RetentionBytes),
			CopyDisable:         c.RemoteLogCopyDisable,
			DeleteOnDisable:     c.RemoteLogDeleteOnDisable,
		},
	}
}

// tieredLog is a log tiered storage serves: its local part and its remote
// part told apart.
type tieredLog interface {
	LocalLogStartOffset() int64
	LocalSize() int64
	RemoteSize() int64
	RemoteEnd() int64
	RemoteEnabled() bool
}

// closeLogs closes the logs of ps, several at a time (closeWorkers); none
// of ps opens a log after it.
func closeLogs(ps []*partition) error {
	var mu sync.Mutex
	var errs []error
	inParallel(context.Background(), len(ps), closeWorkers, func(i int) {
		if err := ps[i].close(); err != nil {
			mu.Lock()
			errs = append(errs, err)
			mu.Unlock()
		}
	})
	return errors.Join(errs...)
}

func (ts *topics) publish(t *topic) {
	ts.mu.Lock()
	ts.byName[t.Name] = t
	ts.byID[t.ID] = t
	ts.mu.Unlock()
	if ts.s.clustered() {
		ts.s.cfg.Cluster.Wake() // its partitions' leases to take
	}
}

// get returns the topic of that name, or nil.
func (ts *topics) get(name string) *topic {
	ts.mu.RLock()
	defer ts.mu.RUnlock()
	return ts.byName[name]
}

// getID returns the topic with that ID, or nil.
func (ts *topics) getID(id meta.TopicID) *topic {
	ts.mu.RLock()
	defer ts.mu.RUnlock()
	return ts.byID[id]
}

// live reports whether t's topic still exists: false once it was deleted,
// even if a topic of the same name was created since. A config change
// publishes a new value with the same ID and logs, which stays live.
func (ts *topics) live(t *topic) bool {
	ts.mu.RLock()
	defer ts.mu.RUnlock()
	return ts.byID[t.ID] != nil
}

// all returns every topic, in no order.
func (ts *topics) all() []*topic {
	ts.mu.RLock()
	defer ts.mu.RUnlock()
	out := make([]*topic, 0, len(ts.byName))
	for _, t := range ts.byName {
		out = append(out, t)
	}
	return out
}

// createSpec is a validated request to create a topic.
type createSpec struct {
	name       string
	partitions int32
	configs    map[string]string
	// rf is the replication factor asked (checked); 0: 1.
	rf int16
}

// create makes a topic: one catalog transaction (the source of truth), and
// the topic is served. Its logs open lazily, as after a restart: a
// partition's directory and files are made when it is first asked for
// (the producer's Metadata, a produce), and made durable by its first
// commit round. So creating 2,000 partitions costs the catalog commit, not
// a file system round per partition, and a crash leaves no partition
// directory without its topic (none is made before the topic is in the
// catalog) nor a topic without its partitions (a partition without a
// directory opens empty). Any data left on disk under the same name by a
// topic whose deletion was interrupted is removed first, so that a new
// topic never shows an old one's records.
func (ts *topics) create(ctx context.Context, spec createSpec) (*topic, error) {
	ts.adminMu.Lock()
	defer ts.adminMu.Unlock()
	if err := ts.checkNew(spec.name); err != nil {
		return nil, err
	}
	configs := spec.configs
	if ts.s.settings().RemoteLogStorageSystemEnable() {
		configs = ts.s.tieredByDefault(configs)
	}
	mt := meta.Topic{
		Name:              spec.name,
		ID:                newTopicID(),
		Partitions:        spec.partitions,
		ReplicationFactor: max(spec.rf, 1),
		Configs:           configs,
		CreatedAt:         ts.s.now(),
		Version:           1,
	}
	if err := ts.clearLeftovers(ctx, mt.Name, 0, mt.Partitions); err != nil {
		return nil, err
	}
	if err := ts.s.cfg.Catalog.CreateTopic(ctx, mt); err != nil {
		if errors.Is(err, meta.ErrTopicExists) {
			// Created through another broker, not seen here yet.
			ts.syncNameLocked(ctx, mt.Name)
		}
		return nil, err
	}
	t, err := ts.newTopic(mt)
	if err != nil {
		// Configs the broker validated and cannot resolve: undo the
		// catalog row so the name is free again.
		if derr := ts.s.cfg.Catalog.DeleteTopic(context.WithoutCancel(ctx), mt.ID, mt.Version); derr != nil {
			ts.s.log.Error("undo topic creation failed", "topic", mt.Name, "err", derr)
		}
		return nil, err
	}
	ts.publish(t)
	ts.warmNew(t.parts)
	ts.s.log.Info("topic created", "topic", mt.Name, "partitions", mt.Partitions, "id", uuidString(mt.ID))
	return t, nil
}

// tieredByDefault is a new topic's configs on a broker with tiered storage:
// remote.storage.enable=true unless the request set it or the topic is
// compacted (which tiered storage does not serve, but in the cluster mode,
// where every topic is in the bucket), so that a topic created without a
// thought for it moves to the bucket. The setting is the topic's own
// (DescribeConfigs shows it), to turn off as any other.
func (s *Server) tieredByDefault(configs map[string]string) map[string]string {
	if _, set := configs["remote.storage.enable"]; set {
		return configs
	}
	if cfg, err := s.settings().ResolveTopic(configs); err != nil || cfg.CleanupCompact && !s.settings().RemoteCompaction() {
		return configs
	}
	out := maps.Clone(configs)
	if out == nil {
		out = map[string]string{}
	}
	out["remote.storage.enable"] = "true"
	return out
}

// partitionLister is a store that lists the partitions it holds of a topic
// in one call (storage/fs).
type partitionLister interface {
	Partitions(topic string) ([]int32, error)
}

// clearLeftovers removes partitions [from, to) of a topic named name from
// the store: data left under the name by a topic whose deletion was cut
// short, which a new topic or partition must not show. A store that lists
// a topic's partitions is asked once; another is told to delete each.
func (ts *topics) clearLeftovers(ctx context.Context, name string, from, to int32) error {
	if pl, ok := ts.s.cfg.Store.(partitionLister); ok {
		held, err := pl.Partitions(name)
		if err != nil {
			return fmt.Errorf("broker: clear leftover logs of %s: %w", name, err)
		}
		for _, i := range held {
			if i < from || i >= to {
				continue
			}
			err := ts.s.cfg.Store.Delete(ctx, storage.Partition{Topic: name, Partition: i})
			if err != nil && !errors.Is(err, storage.ErrNotFound) {
				return fmt.Errorf("broker: clear leftover log %s-%d: %w", name, i, err)
			}
		}
		return nil
	}
	for i := from; i < to; i++ {
		err := ts.s.cfg.Store.Delete(ctx, storage.Partition{Topic: name, Partition: i})
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			return fmt.Errorf("broker: clear leftover log %s-%d: %w", name, i, err)
		}
	}
	return nil
}

// maxConflicts bounds how many times an admin change is computed again
// after the catalog refused it as conflicting (another broker changed the
// topic meanwhile): each retry first reads the topic again, so it is
// judged against the latest state, as Kafka's one controller would judge
// it. Past the bound the request fails with the conflict.
const maxConflicts = 3

// delete removes a topic: from the catalog, then from the cache (so no new
// request sees it), then its logs. Requests in flight on its logs fail
// with storage.ErrClosed.
func (ts *topics) delete(ctx context.Context, t *topic) error {
	ts.adminMu.Lock()
	defer ts.adminMu.Unlock()
	for try := 1; ; try++ {
		cur := ts.getID(t.ID)
		if cur == nil {
			return meta.ErrTopicNotFound
		}
		err := ts.s.cfg.Catalog.DeleteTopic(ctx, cur.ID, cur.Version)
		switch {
		case errors.Is(err, meta.ErrConflict) && try < maxConflicts:
			if err := ts.syncLocked(ctx, cur.ID); err != nil {
				return err
			}
			continue
		case errors.Is(err, meta.ErrTopicNotFound):
			// Deleted through another broker meanwhile.
			ts.removeLocked(ctx, cur, "deleted through another broker")
			return err
		case err != nil:
			return err
		}
		ts.removeLocked(ctx, cur, "topic deleted")
		return nil
	}
}

// removeLocked takes a topic the catalog no longer has out of the cache,
// closes its logs and deletes its data. Caller holds adminMu.
func (ts *topics) removeLocked(ctx context.Context, t *topic, why string) {
	ts.mu.Lock()
	if cur := ts.byName[t.Name]; cur != nil && cur.ID == t.ID {
		delete(ts.byName, t.Name)
	}
	delete(ts.byID, t.ID)
	ts.mu.Unlock()

	if ts.s.groups != nil {
		ts.s.groups.DeleteTopic(t.Name, t.ID)
	}
	var errs []error
	if err := closeLogs(t.parts); err != nil {
		errs = append(errs, err)
	}
	for _, p := range t.parts {
		err := ts.s.cfg.Store.Delete(context.WithoutCancel(ctx), storage.Partition{Topic: t.Name, TopicID: t.ID, Partition: p.index})
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		// The topic is gone from the catalog; leftover files are removed
		// when a topic of that name is created again.
		ts.s.log.Error("topic deleted but its logs were not all removed", "topic", t.Name, "err", err)
	}
	ts.s.log.Info(why, "topic", t.Name, "id", uuidString(t.ID))
}

// closeAll closes every log; the server is stopping.
func (ts *topics) closeAll() error {
	ts.adminMu.Lock()
	defer ts.adminMu.Unlock()
	ts.mu.Lock()
	defer ts.mu.Unlock()
	var all []*partition
	for name, t := range ts.byName {
		all = append(all, t.parts...)
		delete(ts.byName, name)
		delete(ts.byID, t.ID)
	}
	return closeLogs(all)
}

// newTopicID returns a random (version 4) UUID, as Kafka's
// Uuid.randomUuid: never one whose base64 form starts with '-' (first six
// bits 62), which command-line tools would take for a flag. The version bits
// also rule out Kafka's reserved all-zero and one IDs.
func newTopicID() meta.TopicID {
	for {
		var id meta.TopicID
		rand.Read(id[:])
		id[6] = id[6]&0x0f | 0x40
		id[8] = id[8]&0x3f | 0x80
		if id[0]>>2 != 62 {
			return id
		}
	}
}

func uuidString(id meta.TopicID) string {
	return fmt.Sprintf("%x-%x-%x-%x-%x", id[0:4], id[4:6], id[6:8], id[8:10], id[10:16])
}

// validTopicName applies Kafka's rules: 1 to 249 characters from
// [a-zA-Z0-9._-], and not "." or "..".
func validTopicName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: topic name is empty", errTopicInvalid)
	case name == "." || name == "..":
		return fmt.Errorf("%w: topic name cannot be %q", errTopicInvalid, name)
	case len(name) > 249:
		return fmt.Errorf("%w: topic name is %d characters long; the maximum is 249", errTopicInvalid, len(name))
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("%w: topic name %q contains a character other than ASCII alphanumerics, '.', '_' and '-'", errTopicInvalid, name)
		}
	}
	return nil
}

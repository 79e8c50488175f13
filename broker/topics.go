package broker

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/streamhouse/streamhouse/config"
	"github.com/streamhouse/streamhouse/meta"
	"github.com/streamhouse/streamhouse/storage"
)

// topic is a topic as the broker serves it: the catalog's record, its
// resolved configuration and an open log per partition. A topic value is
// immutable once published in topics; a change (configs, partitions)
// publishes a new value.
type topic struct {
	meta.Topic
	cfg   config.Topic
	parts []*partition
}

// partition is one partition of a topic.
type partition struct {
	index int32
	log   storage.Log // nil when offline
	// offline is why the log could not be opened (corrupt data below its
	// recovery point): requests for the partition get
	// KAFKA_STORAGE_ERROR until an operator repairs it and restarts.
	offline error
}

// down is why the partition cannot be served: its log could not be opened
// (offline), or it failed since (corrupt data found by a read, a write or
// an fsync that failed). Nil when it serves.
func (p *partition) down() error {
	if p.offline != nil {
		return p.offline
	}
	if p.log != nil {
		return p.log.Offline()
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

// load reads every topic from the catalog and opens its logs.
func (ts *topics) load(ctx context.Context) error {
	all, err := ts.s.cfg.Catalog.Topics(ctx)
	if err != nil {
		return fmt.Errorf("broker: load topics: %w", err)
	}
	start := time.Now()
	opened, err := ts.openAll(ctx, all)
	if err != nil {
		return err
	}
	n := 0
	for _, t := range opened {
		ts.publish(t)
		n += len(t.parts)
	}
	ts.s.log.Info("topics loaded", "topics", len(all), "partitions", n, "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// open opens the logs of a catalog topic.
func (ts *topics) open(ctx context.Context, mt meta.Topic) (*topic, error) {
	opened, err := ts.openAll(ctx, []meta.Topic{mt})
	if err != nil {
		return nil, err
	}
	return opened[0], nil
}

// openWorkers bounds how many logs openAll opens at once. Opening a log
// is a few dozen small file system calls (directory listing, checkpoint,
// index files); at startup with thousands of partitions the cores share
// them, and a disk that must be read gets several requests at a time.
func openWorkers() int { return min(16, 2*runtime.GOMAXPROCS(0)) }

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

// openAll opens the logs of the catalog topics mts, several at a time
// (openWorkers), and returns the topics in the order of mts. A partition
// whose data is corrupt below its recovery point is kept offline; any
// other failure closes every log opened and is returned.
func (ts *topics) openAll(ctx context.Context, mts []meta.Topic) ([]*topic, error) {
	type job struct {
		t  *topic
		lc storage.LogConfig
		i  int32
	}
	out := make([]*topic, len(mts))
	var jobs []job
	for k, mt := range mts {
		cfg, err := ts.s.settings().ResolveTopic(mt.Configs)
		if err != nil {
			return nil, fmt.Errorf("broker: topic %s: stored configs: %w", mt.Name, err)
		}
		t := &topic{Topic: mt, cfg: cfg, parts: make([]*partition, mt.Partitions)}
		out[k] = t
		lc := logConfig(cfg)
		for i := range mt.Partitions {
			jobs = append(jobs, job{t, lc, i})
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var mu sync.Mutex
	var firstErr error
	started := inParallel(ctx, len(jobs), openWorkers(), func(k int) {
		j := jobs[k]
		p, err := ts.openPartition(ctx, j.t.Topic, j.i, j.lc)
		if err != nil {
			mu.Lock()
			if firstErr == nil {
				firstErr = err
			}
			mu.Unlock()
			cancel()
			return
		}
		j.t.parts[j.i] = p
	})
	if firstErr == nil && started < len(jobs) {
		firstErr = ctx.Err() // the caller's: it stopped the opening
	}
	if firstErr != nil {
		var all []*partition
		for _, t := range out {
			all = append(all, t.parts...)
		}
		closeLogs(all)
		return nil, firstErr
	}
	return out, nil
}

// openPartition opens partition i of mt. Corrupt data below the log's
// recovery point leaves the partition offline rather than failing.
func (ts *topics) openPartition(ctx context.Context, mt meta.Topic, i int32, lc storage.LogConfig) (*partition, error) {
	l, err := ts.s.cfg.Store.Open(ctx, storage.Partition{Topic: mt.Name, TopicID: mt.ID, Partition: i}, lc)
	if errors.Is(err, storage.ErrCorrupt) {
		ts.s.log.Error("PARTITION OFFLINE: corrupt data below the recovery point; it answers KAFKA_STORAGE_ERROR until its files are repaired or restored and the broker restarted",
			"topic", mt.Name, "partition", i, "err", err)
		return &partition{index: i, offline: err}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("broker: open %s-%d: %w", mt.Name, i, err)
	}
	return &partition{index: i, log: l}, nil
}

func logConfig(c config.Topic) storage.LogConfig {
	segMs := c.SegmentMs
	if c.CleanupCompact && c.MaxCompactionLagMs > 0 {
		// KIP-354: a compacted topic's active segment rolls by
		// max.compaction.lag.ms too, so that no record stays out of the
		// cleaner's reach longer than that (Kafka's LogConfig.maxSegmentMs).
		segMs = min(segMs, c.MaxCompactionLagMs)
	}
	return storage.LogConfig{
		SegmentBytes:       int64(c.SegmentBytes),
		SegmentMs:          segMs,
		IndexIntervalBytes: c.IndexIntervalBytes,
		FlushMessages:      c.FlushMessages,
		FlushMs:            c.FlushMs,
	}
}

// closeLogs closes the logs of ps, several at a time (closeWorkers). A nil
// partition (one openAll did not get to) is skipped.
func closeLogs(ps []*partition) error {
	var mu sync.Mutex
	var errs []error
	inParallel(context.Background(), len(ps), closeWorkers, func(i int) {
		p := ps[i]
		if p == nil || p.log == nil {
			return
		}
		if err := p.log.Close(); err != nil && !errors.Is(err, storage.ErrClosed) {
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
}

// create makes a topic: catalog row first (the source of truth), then the
// logs. Any data left on disk under the same name by a topic whose deletion
// was interrupted is removed first, so that a new topic never shows an old
// one's records.
func (ts *topics) create(ctx context.Context, spec createSpec) (*topic, error) {
	ts.adminMu.Lock()
	defer ts.adminMu.Unlock()
	if err := ts.checkNew(spec.name); err != nil {
		return nil, err
	}
	mt := meta.Topic{
		Name:       spec.name,
		ID:         newTopicID(),
		Partitions: spec.partitions,
		Configs:    spec.configs,
		CreatedAt:  ts.s.now(),
	}
	for i := int32(0); i < spec.partitions; i++ {
		err := ts.s.cfg.Store.Delete(ctx, storage.Partition{Topic: mt.Name, Partition: i})
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			return nil, fmt.Errorf("broker: clear leftover log %s-%d: %w", mt.Name, i, err)
		}
	}
	if err := ts.s.cfg.Catalog.CreateTopic(ctx, mt); err != nil {
		return nil, err
	}
	t, err := ts.open(ctx, mt)
	if err != nil {
		// Undo the catalog row so the name is free again; the error
		// that matters is the one that made us undo.
		if derr := ts.s.cfg.Catalog.DeleteTopic(context.WithoutCancel(ctx), mt.Name); derr != nil {
			ts.s.log.Error("undo topic creation failed", "topic", mt.Name, "err", derr)
		}
		return nil, err
	}
	ts.publish(t)
	ts.s.log.Info("topic created", "topic", mt.Name, "partitions", mt.Partitions, "id", uuidString(mt.ID))
	return t, nil
}

// delete removes a topic: from the cache (so no new request sees it), from
// the catalog, then its logs. Requests in flight on its logs fail with
// storage.ErrClosed.
func (ts *topics) delete(ctx context.Context, t *topic) error {
	ts.adminMu.Lock()
	defer ts.adminMu.Unlock()
	ts.mu.Lock()
	if ts.byName[t.Name] != t {
		ts.mu.Unlock()
		return meta.ErrTopicNotFound
	}
	delete(ts.byName, t.Name)
	delete(ts.byID, t.ID)
	ts.mu.Unlock()

	if err := ts.s.cfg.Catalog.DeleteTopic(ctx, t.Name); err != nil && !errors.Is(err, meta.ErrTopicNotFound) {
		ts.publish(t) // still in the catalog: keep serving it
		return err
	}
	if ts.s.groups != nil {
		ts.s.groups.DeleteTopic(t.Name)
	}
	var errs []error
	if err := closeLogs(t.parts); err != nil {
		errs = append(errs, err)
	}
	for _, p := range t.parts {
		err := ts.s.cfg.Store.Delete(ctx, storage.Partition{Topic: t.Name, TopicID: t.ID, Partition: p.index})
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		// The topic is gone from the catalog; leftover files are removed
		// when a topic of that name is created again.
		ts.s.log.Error("topic deleted but its logs were not all removed", "topic", t.Name, "err", err)
	}
	ts.s.log.Info("topic deleted", "topic", t.Name, "id", uuidString(t.ID))
	return nil
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

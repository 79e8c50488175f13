// Package wal is the cluster mode's durability. A leader's appends to all
// its partitions since the last commit round go into one object in the
// bucket, then their coordinates into the catalog in one transaction
// (meta.WAL), each run conditional on the partition's lease and committed
// end, before any of them is acknowledged: a broker that lost a lease may
// upload, never commit. Store.Commit is storage/fs's Options.Commit.
//
// The leader keeps each partition in a local log (storage/tiered over
// storage/fs) that is a cache of what was committed: a broker that takes a
// partition over rebuilds it from the bucket (tiered segments, then the
// catalog's committed runs, Open), and closed segments are uploaded as
// tiered storage uploads them, after which their runs are trimmed from the
// catalog and WAL objects no run names are deleted (consolidation).
// Compacted topics are cleaned there, in the bucket: Log.Compact runs
// storage/tiered's remote cleaner under the partition's lease, which
// rewrites uploaded segments and swaps them in the catalog fenced by it.
//
// It imports storage, storage/objstore, storage/fs (for Appended), meta and
// batch.
package wal

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/streamhouse/streamhouse/batch"
	"github.com/streamhouse/streamhouse/meta"
	"github.com/streamhouse/streamhouse/storage"
	"github.com/streamhouse/streamhouse/storage/fs"
	"github.com/streamhouse/streamhouse/storage/objstore"
)

// ErrNotLeader: this broker does not (or no longer) lead the partition, or
// its commit of the partition failed and the partition must be opened
// again from what was committed. Clients are sent to the leader
// (NOT_LEADER_OR_FOLLOWER). It wraps storage.ErrNotLeader.
var ErrNotLeader = fmt.Errorf("wal: %w", storage.ErrNotLeader)

// Leadership is what the broker's lease bookkeeping tells the WAL.
type Leadership interface {
	// NodeID is this broker's node id.
	NodeID() int32
	// Lease returns this broker's session epoch and the partition's
	// lease (leader) epoch, and false when it does not hold it.
	Lease(p storage.Partition) (sessionEpoch int64, leaderEpoch int32, ok bool)
	// Live reports whether broker node's session is live, as this broker
	// last read the membership: a live broker deletes its own WAL objects
	// once unreferenced, and every broker those of the brokers gone.
	Live(node int32) bool
}

// Catalog is what the WAL keeps in the catalog.
type Catalog interface {
	meta.WAL
}

// Local is the store the WAL wraps: tiered storage over storage/fs (whose
// Options.Commit is the WAL's Commit), with the local log of a partition
// dropped without touching its remote data.
type Local interface {
	storage.Store
	// DropLocal removes p's local log only (the cache), not what the
	// bucket holds.
	DropLocal(ctx context.Context, p storage.Partition) error
}

// Options configures a Store.
type Options struct {
	Local   Local
	Bucket  objstore.Store
	Catalog Catalog
	Leader  Leadership
	// Grace is how long a WAL object no committed run names stays before
	// it is deleted (zero: 5 minutes); ConsolidateInterval how often runs
	// below the uploaded segments are trimmed and such objects deleted
	// (zero: 10 s).
	Grace               time.Duration
	ConsolidateInterval time.Duration
	// PutTimeout bounds one round's upload (zero: 10 s).
	PutTimeout time.Duration
	// MaxSegmentAge caps every log's segment.ms (zero: 1 minute): a
	// partition's committed runs are trimmed once tiered storage has
	// uploaded the segment they are in, which it does when the segment
	// rolls, so that the catalog holds at most about this long of runs
	// of each partition whatever its topic's segment.ms; and a broker
	// taking a partition over reads back every run past its last
	// uploaded segment, one GET each, before the partition takes a
	// produce. At 10 minutes that was up to 2,400 runs at the default
	// 250 ms flush, seconds of a failover's 10 s on a real bucket; a
	// minute is 240, against one more segment upload per active
	// partition per minute.
	MaxSegmentAge time.Duration
	Logger        *slog.Logger
	// Observe, when set, is told of each round: its partitions, bytes,
	// upload and commit times, and error.
	Observe func(partitions int, bytes int64, put, commit time.Duration, err error)
}

// Store is the cluster mode's storage.Store.
type Store struct {
	opts Options
	log  *slog.Logger

	mu    sync.Mutex
	parts map[partKey]*partState // open partitions

	stop chan struct{}
	bg   sync.WaitGroup
}

type partKey struct {
	id meta.TopicID
	p  int32
}

// partState is an open partition's commit state.
type partState struct {
	part storage.Partition
	log  storage.Log
	// end is the committed end as this broker knows it: what a round's
	// run of the partition must start at.
	end int64
	// stale is set when a commit of the partition failed: its local log
	// may hold what was never committed, and it must be opened again.
	stale bool
	// restoring is set while Open puts the committed runs back into the
	// local log: only then is a run below the committed end already
	// committed. Any other run there means the local log went back below
	// what the catalog holds (a self-healed write, a log reopened under
	// the partition's feet), and acknowledging it would acknowledge what
	// the catalog holds something else for.
	restoring bool
	// restored is how many committed runs Open read back.
	restored int
}

var _ storage.Store = (*Store)(nil)

// New returns a Store and starts its consolidation.
func New(opts Options) (*Store, error) {
	if opts.Local == nil || opts.Bucket == nil || opts.Catalog == nil || opts.Leader == nil {
		return nil, errors.New("wal: Local, Bucket, Catalog and Leader are required")
	}
	if opts.Grace <= 0 {
		opts.Grace = 5 * time.Minute
	}
	if opts.ConsolidateInterval <= 0 {
		opts.ConsolidateInterval = 10 * time.Second
	}
	if opts.PutTimeout <= 0 {
		opts.PutTimeout = 10 * time.Second
	}
	if opts.MaxSegmentAge <= 0 {
		opts.MaxSegmentAge = time.Minute
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	w := &Store{opts: opts, log: opts.Logger, parts: map[partKey]*partState{}, stop: make(chan struct{})}
	w.bg.Add(1)
	go w.consolidateLoop()
	return w, nil
}

// Open opens p's log as this broker takes it over: the local log rebuilt
// from the bucket (the tiered segments, then the committed runs past them),
// so that it holds exactly what was committed.
func (w *Store) Open(ctx context.Context, p storage.Partition, cfg storage.LogConfig) (storage.Log, error) {
	if _, _, ok := w.opts.Leader.Lease(p); !ok {
		return nil, fmt.Errorf("wal: open %s-%d: %w", p.Topic, p.Partition, ErrNotLeader)
	}
	// Whatever the local disk holds of p is from an earlier lease, and
	// may hold what was never committed: start from the bucket.
	if err := w.opts.Local.DropLocal(ctx, p); err != nil && !errors.Is(err, storage.ErrNotFound) {
		return nil, fmt.Errorf("wal: open %s-%d: %w", p.Topic, p.Partition, err)
	}
	end, err := w.opts.Catalog.WALEnd(ctx, p.TopicID, p.Partition)
	if err != nil {
		return nil, fmt.Errorf("wal: open %s-%d: %w", p.Topic, p.Partition, err)
	}
	cfg.InitialOffset = max(cfg.InitialOffset, 0)
	cfg = w.capSegment(cfg)
	l, err := w.opts.Local.Open(ctx, p, cfg)
	if err != nil {
		return nil, err
	}
	ps := &partState{part: p, log: l, end: end}
	key := partKey{p.TopicID, p.Partition}
	w.mu.Lock()
	w.parts[key] = ps
	w.mu.Unlock()
	start := time.Now()
	if err := w.restore(ctx, ps); err != nil {
		w.forget(key, ps)
		l.Close()
		return nil, fmt.Errorf("wal: open %s-%d: restore: %w", p.Topic, p.Partition, err)
	}
	w.log.Debug("partition rebuilt from the bucket", "topic", p.Topic, "partition", p.Partition, "end", end,
		"runs", ps.restored, "took", time.Since(start).Round(time.Millisecond))
	return &Log{Log: l, w: w, ps: ps}, nil
}

// capSegment caps cfg's segment.ms at MaxSegmentAge, with a
// segment.jitter.ms of half of it unless the topic asks for more (Kafka's
// remedy for the same herd): the partitions of a topic written from its
// start otherwise roll together at each MaxSegmentAge and upload that much
// of the topic at once. With 3 brokers, PostgreSQL and versitygw on one
// 2-core machine, a topic's minute at 10 MB/s (48 or 6 segments of 10-100
// MB) going up at once held up every record produced for 0.5-1.3 s, once
// a minute (-bench ClusterProduce, traced: the stall ended as the first
// uploads finished); spread over half a minute, none was 200 ms late.
func (w *Store) capSegment(cfg storage.LogConfig) storage.LogConfig {
	age := w.opts.MaxSegmentAge.Milliseconds()
	if cfg.SegmentMs <= 0 || cfg.SegmentMs > age {
		cfg.SegmentMs = age
		cfg.SegmentJitterMs = max(cfg.SegmentJitterMs, age/2)
	}
	return cfg
}

// restore appends the committed runs past the local log's end (the tiered
// segments' end) to it, and waits until they are published.
func (w *Store) restore(ctx context.Context, ps *partState) error {
	w.mu.Lock()
	ps.restoring = true
	w.mu.Unlock()
	defer func() {
		w.mu.Lock()
		ps.restoring = false
		w.mu.Unlock()
	}()
	l := ps.log
	next := l.NextOffset()
	if next > ps.end {
		// Tiered segments reach past the committed end: the end moved
		// up by DeleteRecords or retention before anything was
		// committed after it. Commits continue from the log.
		if err := w.opts.Catalog.SetWALEnd(ctx, ps.part.TopicID, ps.part.Partition, next); err != nil {
			return err
		}
		w.mu.Lock()
		ps.end = next
		w.mu.Unlock()
		return nil
	}
	runs, err := w.opts.Catalog.WALBatches(ctx, ps.part.TopicID, ps.part.Partition, next)
	if err != nil {
		return err
	}
	ps.restored = len(runs)
	fetched, stop := w.fetchRuns(ctx, runs)
	defer stop()
	for _, r := range runs {
		data, err := fetched()
		if err != nil {
			return err
		}
		for len(data) > 0 {
			h, err := batch.ReadHeader(data)
			if err != nil || int64(h.Size()) > int64(len(data)) {
				return fmt.Errorf("WAL object %s at %d: %w: %v", r.Object, r.Position, storage.ErrCorrupt, err)
			}
			b := data[:h.Size()]
			data = data[h.Size():]
			if h.NextOffset() <= l.NextOffset() {
				continue // below the segments' end: consolidated
			}
			if h.BaseOffset != l.NextOffset() {
				return fmt.Errorf("WAL object %s: a batch at %d where the log is at %d: %w", r.Object, h.BaseOffset, l.NextOffset(), storage.ErrCorrupt)
			}
			if _, err := l.Append(storage.Restoring(ctx), b); err != nil {
				return err
			}
		}
	}
	if l.NextOffset() != ps.end {
		return fmt.Errorf("the committed runs end at %d, the committed end is %d: %w", l.NextOffset(), ps.end, storage.ErrCorrupt)
	}
	return l.Sync(ctx) // Commit finds it all committed already
}

// restoreReads is how many runs a rebuild reads from the bucket at once,
// and how far ahead of the run being appended it reads. A partition taken
// over has one run per commit round since its last uploaded segment
// (thousands at a short flush interval): read one after the other, a
// round trip each, its rebuild took seconds on loopback, and the
// partition took no produce meanwhile.
const restoreReads = 32

// fetchRuns reads runs from the bucket, restoreReads at a time, and
// returns their data in order, one per call of next; stop ends the reads
// still under way (after an error, or once every run was taken).
func (w *Store) fetchRuns(ctx context.Context, runs []meta.WALBatch) (next func() ([]byte, error), stop func()) {
	type result struct {
		data []byte
		err  error
	}
	ctx, cancel := context.WithCancel(ctx)
	results := make([]chan result, len(runs))
	for i := range results {
		results[i] = make(chan result, 1)
	}
	slots := make(chan struct{}, restoreReads) // a read under way or a result not yet taken
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i, r := range runs {
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				data, err := w.get(ctx, r.Object, r.Position, r.Size)
				results[i] <- result{data, err}
			}()
		}
	}()
	i := 0
	next = func() ([]byte, error) {
		var res result
		select {
		case res = <-results[i]:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		i++
		<-slots
		return res.data, res.err
	}
	stop = func() {
		cancel()
		wg.Wait()
	}
	return next, stop
}

// get reads a range of a WAL object. A read the bucket could not serve
// now (objstore.ErrUnavailable: a 503 SlowDown, a 500, a reset) is tried
// again with backoff while ctx allows, up to getAttempts times: the
// object store client leaves retries to its callers, and one failed read
// would fail the whole rebuild of a partition, which then starts over.
func (w *Store) get(ctx context.Context, key string, pos, n int64) ([]byte, error) {
	backoff := 20 * time.Millisecond
	for attempt := 1; ; attempt++ {
		b, err := w.getOnce(ctx, key, pos, n)
		if err == nil || attempt == getAttempts || !errors.Is(err, objstore.ErrUnavailable) {
			return b, err
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, time.Second)
	}
}

// getAttempts bounds the tries of one read of a WAL object (about 6 s of
// backoff in all).
const getAttempts = 10

func (w *Store) getOnce(ctx context.Context, key string, pos, n int64) ([]byte, error) {
	r, err := w.opts.Bucket.Get(ctx, key, pos, n)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, fmt.Errorf("WAL object %s: %w", key, err)
	}
	return b, nil
}

func (w *Store) forget(key partKey, ps *partState) {
	w.mu.Lock()
	if w.parts[key] == ps {
		delete(w.parts, key)
	}
	w.mu.Unlock()
}

// Delete removes p's log, local and remote, and its committed runs.
func (w *Store) Delete(ctx context.Context, p storage.Partition) error {
	err := w.opts.Local.Delete(ctx, p)
	if cerr := w.opts.Catalog.DeleteWAL(ctx, p.TopicID, p.Partition); cerr != nil {
		return errors.Join(err, cerr)
	}
	return err
}

// Usage is the local store's.
func (w *Store) Usage() (storage.Usage, error) { return w.opts.Local.Usage() }

// Close stops consolidation and closes the local store.
func (w *Store) Close() error {
	select {
	case <-w.stop:
		return nil
	default:
		close(w.stop)
	}
	w.bg.Wait()
	return w.opts.Local.Close()
}

// Commit is storage/fs's Options.Commit: one object for every partition's
// new batches, uploaded, then their runs committed in one catalog
// transaction. A partition whose run does not commit (its lease moved, its
// end moved, or the outcome is unknown) fails, and is stale until opened
// again.
func (w *Store) Commit(ctx context.Context, appends []fs.Appended) []error {
	errs := make([]error, len(appends))
	node := w.opts.Leader.NodeID()
	var sessionEpoch int64
	var batches []meta.WALBatch
	var of []int
	// The round's object is its batches as they are, uploaded without
	// copying them into one buffer: grown append by append, such a copy
	// was a seventh of a lone broker's CPU at 10 MB/s (a 250 ms round
	// holds some 2.5 MB).
	var body objstore.Buffers
	w.mu.Lock()
	for i, a := range appends {
		ps := w.parts[partKey{a.Partition.TopicID, a.Partition.Partition}]
		switch {
		case ps == nil || ps.stale:
			errs[i] = fmt.Errorf("wal: %s-%d: %w", a.Partition.Topic, a.Partition.Partition, ErrNotLeader)
			continue
		case a.Next <= ps.end && ps.restoring:
			continue // restored: committed already
		case a.Base != ps.end:
			ps.stale = true
			errs[i] = fmt.Errorf("wal: %s-%d: a run from %d, the committed end is %d: %w", a.Partition.Topic, a.Partition.Partition, a.Base, ps.end, ErrNotLeader)
			continue
		}
		se, le, ok := w.opts.Leader.Lease(a.Partition)
		if !ok || (sessionEpoch != 0 && se != sessionEpoch) {
			ps.stale = true
			errs[i] = fmt.Errorf("wal: %s-%d: %w", a.Partition.Topic, a.Partition.Partition, ErrNotLeader)
			continue
		}
		sessionEpoch = se
		batches = append(batches, meta.WALBatch{TopicID: a.Partition.TopicID, Partition: a.Partition.Partition, LeaderEpoch: le,
			BaseOffset: a.Base, NextOffset: a.Next, Position: body.Size(), Size: int64(len(a.Data)), MaxTimestamp: maxTimestamp(a.Data)})
		body = body.Append(a.Data)
		of = append(of, i)
	}
	w.mu.Unlock()
	if len(batches) == 0 {
		return errs
	}
	key, err := objectKey(node, sessionEpoch)
	var put, commit time.Duration
	if err == nil {
		start := time.Now()
		pctx, cancel := context.WithTimeout(ctx, w.opts.PutTimeout)
		err = w.put(pctx, key, body)
		cancel()
		put = time.Since(start)
	}
	var failed []int
	if err == nil {
		for i := range batches {
			batches[i].Object = key
		}
		start := time.Now()
		failed, err = w.commit(ctx, node, sessionEpoch, batches)
		commit = time.Since(start)
	}
	if w.opts.Observe != nil {
		w.opts.Observe(len(batches), body.Size(), put, commit, err)
	}
	isFailed := map[int]bool{}
	for _, f := range failed {
		isFailed[f] = true
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for k, i := range of {
		a := appends[i]
		ps := w.parts[partKey{a.Partition.TopicID, a.Partition.Partition}]
		switch {
		case err != nil:
			// Not committed, or not known to be: nothing is
			// acknowledged, and the partition is rebuilt from what
			// the catalog says when it is opened again.
			if ps != nil {
				ps.stale = true
			}
			errs[i] = fmt.Errorf("wal: commit %s-%d: %w: %w", a.Partition.Topic, a.Partition.Partition, storage.ErrIO, err)
		case isFailed[k]:
			if ps != nil {
				ps.stale = true
			}
			errs[i] = fmt.Errorf("wal: commit %s-%d: the lease or the committed end moved: %w", a.Partition.Topic, a.Partition.Partition, ErrNotLeader)
		default:
			if ps != nil {
				ps.end = a.Next
			}
		}
	}
	return errs
}

// commitRetryMax bounds how long a round tries its commit again while the
// catalog cannot be reached; the leases bound it first (3-9 s).
const commitRetryMax = 30 * time.Second

// commit commits a round's runs, and tries again with backoff while the
// catalog cannot be reached (meta.ErrUnavailable: PostgreSQL restarting, a
// connection cut) and this broker still holds every lease of the round
// under the same session. A commit that failed to reach the catalog
// leaves every partition of the round stale, to be rebuilt from the
// bucket, which takes far longer than the outage (the chaos test: 16 s
// after a 2 s PostgreSQL restart). Trying again is safe whatever became
// of the attempt before, even one whose outcome is unknown: each run
// commits only where the partition's committed end is still its base, so
// a run committed already fails the second time (and its partition is
// rebuilt, as before) and is never recorded twice.
func (w *Store) commit(ctx context.Context, node int32, sessionEpoch int64, batches []meta.WALBatch) ([]int, error) {
	deadline := time.Now().Add(commitRetryMax)
	backoff := 20 * time.Millisecond
	for {
		failed, err := w.opts.Catalog.CommitWAL(ctx, node, sessionEpoch, batches)
		if err == nil || !errors.Is(err, meta.ErrUnavailable) || time.Now().After(deadline) || !w.stillLeads(sessionEpoch, batches) {
			return failed, err
		}
		select {
		case <-ctx.Done():
			return failed, err
		case <-w.stop:
			return failed, err
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 250*time.Millisecond)
		if !w.stillLeads(sessionEpoch, batches) {
			return failed, err
		}
	}
}

// stillLeads reports whether this broker holds the lease of every run's
// partition at the run's leader epoch, under the session sessionEpoch
// (and that session surely stands).
func (w *Store) stillLeads(sessionEpoch int64, batches []meta.WALBatch) bool {
	w.mu.Lock()
	parts := make([]storage.Partition, 0, len(batches))
	for _, b := range batches {
		if ps := w.parts[partKey{b.TopicID, b.Partition}]; ps != nil {
			parts = append(parts, ps.part)
		} else {
			w.mu.Unlock()
			return false
		}
	}
	w.mu.Unlock()
	for i, p := range parts {
		se, le, ok := w.opts.Leader.Lease(p)
		if !ok || se != sessionEpoch || le != batches[i].LeaderEpoch {
			return false
		}
	}
	return true
}

// put uploads a round's object, trying again with backoff while ctx (the
// round's PutTimeout) allows when the bucket could not take it now
// (objstore.ErrUnavailable): a round that fails makes every partition in
// it stale, and each is then rebuilt from the bucket, where one more try
// of a new object's PUT costs nothing (its key is the round's own).
func (w *Store) put(ctx context.Context, key string, body objstore.Buffers) error {
	backoff := 10 * time.Millisecond
	for {
		err := w.opts.Bucket.Put(ctx, key, body.Reader(), body.Size())
		if err == nil || !errors.Is(err, objstore.ErrUnavailable) || ctx.Err() != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 500*time.Millisecond)
	}
}

// objectKey names a new WAL object: wal/<node>/<session epoch>/<time>-<random>.
func objectKey(node int32, sessionEpoch int64) (string, error) {
	var r [6]byte
	if _, err := rand.Read(r[:]); err != nil {
		return "", err
	}
	return fmt.Sprintf("wal/%d/%d/%d-%s.wal", node, sessionEpoch, time.Now().UnixMilli(), hex.EncodeToString(r[:])), nil
}

// objectNode is the node id objectKey put in key, and false for a key not
// of that form.
func objectNode(key string) (int32, bool) {
	rest, ok := strings.CutPrefix(key, "wal/")
	if !ok {
		return 0, false
	}
	n, _, ok := strings.Cut(rest, "/")
	if !ok {
		return 0, false
	}
	node, err := strconv.ParseInt(n, 10, 32)
	return int32(node), err == nil
}

// maxTimestamp is the largest max timestamp of the batches in b.
func maxTimestamp(b []byte) int64 {
	ts := int64(-1)
	for len(b) > 0 {
		h, err := batch.ReadHeader(b)
		if err != nil || int64(h.Size()) > int64(len(b)) {
			break
		}
		ts = max(ts, h.MaxTimestamp)
		b = b[h.Size():]
	}
	return ts
}

// consolidateLoop trims, every ConsolidateInterval, the committed runs of
// the open partitions below what tiered storage uploaded, and deletes WAL
// objects no run has named for Grace.
func (w *Store) consolidateLoop() {
	defer w.bg.Done()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { <-w.stop; cancel() }()
	tick := time.NewTicker(w.opts.ConsolidateInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if err := w.Consolidate(ctx); err != nil && ctx.Err() == nil {
			w.log.Warn("consolidating the WAL failed; retrying", "err", err)
		}
	}
}

// remoteEnder is a tiered log's view of what it uploaded.
type remoteEnder interface{ RemoteEnd() int64 }

// Consolidate trims the runs below the uploaded segments of the open
// partitions and deletes unreferenced WAL objects past the grace period.
func (w *Store) Consolidate(ctx context.Context) error {
	w.mu.Lock()
	open := make([]*partState, 0, len(w.parts))
	for _, ps := range w.parts {
		open = append(open, ps)
	}
	w.mu.Unlock()
	sort.Slice(open, func(i, j int) bool { return open[i].part.Topic < open[j].part.Topic })
	var errs []error
	for _, ps := range open {
		re, ok := ps.log.(remoteEnder)
		if !ok {
			continue
		}
		if end := re.RemoteEnd(); end > 0 {
			errs = append(errs, w.opts.Catalog.TrimWAL(ctx, ps.part.TopicID, ps.part.Partition, end))
		}
	}
	objs, err := w.opts.Catalog.UnreferencedWALObjects(ctx, time.Now().Add(-w.opts.Grace))
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	// Each live broker's objects are its own to delete, so that the
	// DELETEs do not grow with the cluster; a gone broker's, anyone's.
	self := w.opts.Leader.NodeID()
	objs = slices.DeleteFunc(objs, func(o string) bool {
		node, ok := objectNode(o)
		return ok && node != self && w.opts.Leader.Live(node)
	})
	var gone []string
	for _, o := range objs {
		if err := w.opts.Bucket.Delete(ctx, o); err != nil && !errors.Is(err, objstore.ErrNotFound) {
			errs = append(errs, err)
			continue
		}
		gone = append(gone, o)
	}
	errs = append(errs, w.opts.Catalog.ForgetWALObjects(ctx, gone))
	return errors.Join(errs...)
}

// Log is an open partition's log under the WAL.
type Log struct {
	storage.Log
	w  *Store
	ps *partState
}

// Append refuses once a commit of the partition failed: the broker opens
// it again from what was committed.
func (l *Log) Append(ctx context.Context, b []byte) (int64, error) {
	l.w.mu.Lock()
	stale := l.ps.stale
	l.w.mu.Unlock()
	if stale {
		return 0, fmt.Errorf("wal: %s-%d: a commit failed; the partition must be opened again: %w", l.ps.part.Topic, l.ps.part.Partition, ErrNotLeader)
	}
	return l.Log.Append(ctx, b)
}

// Reconfigure applies cfg with its segment.ms capped (Options.MaxSegmentAge).
func (l *Log) Reconfigure(cfg storage.LogConfig) {
	l.Log.Reconfigure(l.w.capSegment(cfg))
}

// Stale reports whether the partition must be opened again.
func (l *Log) Stale() bool {
	l.w.mu.Lock()
	defer l.w.mu.Unlock()
	return l.ps.stale
}

// RemoteEnd is the tiered log's.
func (l *Log) RemoteEnd() int64 {
	if re, ok := l.Log.(remoteEnder); ok {
		return re.RemoteEnd()
	}
	return 0
}

// tieredLog is what a tiered log tells of its two tiers (ListOffsets -4,
// -5, -6, DescribeLogDirs, the metrics): the WAL's Log forwards it.
type tieredLog interface {
	LocalLogStartOffset() int64
	LocalSize() int64
	RemoteSize() int64
	RemoteEnabled() bool
	UploadBacklog() (segments int, bytes int64)
}

// LocalLogStartOffset is the tiered log's; the log start without one.
func (l *Log) LocalLogStartOffset() int64 {
	if tl, ok := l.Log.(tieredLog); ok {
		return tl.LocalLogStartOffset()
	}
	return l.Log.LogStartOffset()
}

// LocalSize is the tiered log's; the size without one.
func (l *Log) LocalSize() int64 {
	if tl, ok := l.Log.(tieredLog); ok {
		return tl.LocalSize()
	}
	return l.Log.Size()
}

// RemoteSize is the tiered log's.
func (l *Log) RemoteSize() int64 {
	if tl, ok := l.Log.(tieredLog); ok {
		return tl.RemoteSize()
	}
	return 0
}

// RemoteEnabled is the tiered log's.
func (l *Log) RemoteEnabled() bool {
	tl, ok := l.Log.(tieredLog)
	return ok && tl.RemoteEnabled()
}

// UploadBacklog is the tiered log's.
func (l *Log) UploadBacklog() (int, int64) {
	if tl, ok := l.Log.(tieredLog); ok {
		return tl.UploadBacklog()
	}
	return 0, 0
}

// EndOffsetForEpoch is the tiered log's (storage.EpochEnder): the epochs
// of what only the bucket holds are in its segments' records.
func (l *Log) EndOffsetForEpoch(ctx context.Context, epoch int32) (int32, int64, error) {
	if ee, ok := l.Log.(storage.EpochEnder); ok {
		return ee.EndOffsetForEpoch(ctx, epoch)
	}
	return epoch, l.Log.NextOffset(), nil
}

// Close closes the local log and forgets the partition; its local log is
// dropped at the next Open (it is a cache).
func (l *Log) Close() error {
	err := l.Log.Close() // what no round committed is not acknowledged: its waits fail (storage.ErrClosed)
	l.w.forget(partKey{l.ps.part.TopicID, l.ps.part.Partition}, l.ps)
	return err
}

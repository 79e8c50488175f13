// Package tiered is tiered storage (Kafka's KIP-405) for one broker: a
// storage.Store that wraps a local engine (storage/fs) and copies each
// partition's closed segments to object storage (storage/objstore), records
// them in the catalog (meta.RemoteSegments) once copied, lets the local
// copies go by local.retention.*, and serves reads below the local log from
// the bucket through a bounded local cache.
//
// It may import storage, storage/objstore, meta (the interfaces), batch and
// internal/fault; never an engine or a catalog implementation.
//
// # Objects
//
// A partition's segment copied to the bucket is five immutable objects,
// named by the topic's ID (a topic deleted and created again under its name
// has objects of its own), the partition, the segment's base offset (20
// digits, as its local file) and the upload's random ID (so that an upload
// retried after a failure never overwrites one the catalog recorded):
//
//	<topic-id hex>/<partition>/<base>-<id>.log        the batches, as in the local segment
//	<topic-id hex>/<partition>/<base>-<id>.index      its sparse offset index (storage/fs's .index)
//	<topic-id hex>/<partition>/<base>-<id>.timeindex  its sparse time index (.timeindex)
//	<topic-id hex>/<partition>/<base>-<id>.txnindex   the aborted transactions it holds, JSON
//	<topic-id hex>/<partition>/<base>-<id>.snapshot   the idempotent producers at its end, JSON
//
// under the store's prefix. The .log object's SHA-256 is in the catalog's
// record, and so are the segment's leader epochs (each epoch starting in
// it, from its batches' headers: KIP-405's segment leader-epoch
// checkpoint), so that OffsetsForLeaderEpoch is answered for what only the
// bucket holds without reading it (a single broker's epoch is always 0;
// the cluster mode's is the partition lease's).
//
// # The order of things (what a crash at any point leaves)
//
//   - Upload: the objects first, then the record. A crash before the
//     record leaves objects no record names; the sweep removes them once
//     older than a grace period and not of an upload under way in this
//     process (it lists them before it reads the records).
//   - Eager upload (eager.go): the .log object's parts go up before the
//     segment closes, as an incomplete multipart upload, completed only
//     by the segment's upload, before its small objects and its record.
//     A crash leaves an incomplete upload; the sweep aborts it once
//     older than the grace period and not registered here.
//   - Local retention removes only segments wholly below the end of what
//     is recorded: a segment is on the local disk or recorded, always.
//   - Remote retention (retention.*, DeleteRecords, the topic's deletion):
//     the partition's log start first (the catalog's remote log start), then
//     the records marked Deleting (no longer read), then, after the grace
//     period, the objects, then the records. A crash in between leaves
//     Deleting records whose objects the next sweep removes.
//
// Acknowledgements do not wait for any of this: an acks=all produce is
// answered once the local engine has made it durable, as without tiering.
// What was only on the local disk is lost with it; what was uploaded
// survives the disk (a broker started on an empty data directory with the
// same catalog and bucket serves it).
package tiered

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/streamhouse/streamhouse/meta"
	"github.com/streamhouse/streamhouse/storage"
	"github.com/streamhouse/streamhouse/storage/objstore"
)

var _ storage.Store = (*Store)(nil)

// Catalog is what tiered storage keeps in the catalog.
type Catalog interface {
	meta.RemoteSegments
}

// Options configures a Store.
type Options struct {
	// Local is the engine whose logs are tiered; its Logs must implement
	// storage.Segmented.
	Local storage.Store
	// Bucket is the object store.
	Bucket objstore.Store
	// Catalog holds the remote segment metadata.
	Catalog Catalog
	// CacheDir holds the cache of remote data; CacheBytes bounds it
	// (zero: 1 GiB).
	CacheDir   string
	CacheBytes int64
	// Uploaders bounds how many segments upload at once, all logs
	// together (zero: 8), and PartitionUploaders how many of one log
	// (zero: 4); UploadBytesPerSecond bounds their bandwidth together
	// (zero: no limit).
	Uploaders            int
	PartitionUploaders   int
	UploadBytesPerSecond int64
	// PartSize is the size of the parts in which an active segment's
	// batches are uploaded as it fills (an S3 multipart upload completed
	// when the segment closes), when the bucket takes multipart uploads
	// (objstore.Multipart); zero: 8 MiB; negative: segments are uploaded
	// whole once closed. S3 takes no part below 5 MiB but the last.
	PartSize int64
	// Grace is how long objects stay after their record was given up,
	// and how old an object no record names must be before the sweep
	// removes it (zero: 5 minutes).
	Grace time.Duration
	// UploadInterval is how often closed segments are looked for besides
	// the wake-ups at each roll (zero: 1 s).
	UploadInterval time.Duration
	Logger         *slog.Logger
	Now            func() time.Time
	// Observe, when set, is told of each object-store call (op is put,
	// get, stat or delete) for metrics.
	Observe func(op string, took time.Duration, bytes int64, err error)
	// ForceRemote, when set, is the tiered config of every log whose
	// LogConfig has none enabled (tests run the storage conformance suite
	// with everything tiered).
	ForceRemote *storage.RemoteConfig
}

// Store is a tiered storage.Store. Close stops its background work and
// closes the local store.
type Store struct {
	opts  Options
	log   *slog.Logger
	now   func() time.Time
	cache *cache

	mu   sync.Mutex // guards logs, closed, uploading
	logs map[partKey]*Log
	// uploading holds the upload IDs under way: the sweep leaves their
	// objects alone, however long an upload takes.
	uploading map[string]bool
	// closed is set by Close.
	closed bool

	sizes      sync.Map // object key -> size (int64), once stat'ed
	bucketRate rate     // UploadBytesPerSecond's bucket

	// slots holds a token for each segment upload under way (at most
	// Uploaders).
	slots chan struct{}

	wake chan struct{} // a log rolled: look for segments to upload
	stop chan struct{}
	bg   sync.WaitGroup
}

type partKey struct {
	id        meta.TopicID
	topic     string
	partition int32
}

// New builds a Store over opts.Local and starts its uploaders and sweep.
func New(opts Options) (*Store, error) {
	if opts.Local == nil || opts.Bucket == nil || opts.Catalog == nil {
		return nil, errors.New("tiered: Local, Bucket and Catalog are required")
	}
	if opts.CacheBytes <= 0 {
		opts.CacheBytes = 1 << 30
	}
	if opts.Uploaders <= 0 {
		opts.Uploaders = 8
	}
	if opts.PartitionUploaders <= 0 {
		opts.PartitionUploaders = 4
	}
	if opts.PartSize == 0 {
		opts.PartSize = 8 << 20
	}
	if opts.Grace <= 0 {
		opts.Grace = 5 * time.Minute
	}
	if opts.UploadInterval <= 0 {
		opts.UploadInterval = time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.CacheDir == "" {
		return nil, errors.New("tiered: CacheDir is required")
	}
	if err := os.MkdirAll(opts.CacheDir, 0o755); err != nil {
		return nil, fmt.Errorf("tiered: cache: %w", err)
	}
	st := &Store{
		opts:      opts,
		log:       opts.Logger,
		now:       opts.Now,
		logs:      map[partKey]*Log{},
		uploading: map[string]bool{},
		slots:     make(chan struct{}, opts.Uploaders),
		wake:      make(chan struct{}, 1),
		stop:      make(chan struct{}),
	}
	c, err := newCache(opts.CacheDir, opts.CacheBytes, st.fetch)
	if err != nil {
		return nil, err
	}
	st.cache = c
	st.bg.Add(2)
	go st.uploadLoop()
	go st.sweepLoop()
	return st, nil
}

// Open opens the local log of p, reading first what the catalog holds of
// its remote segments: a local log that does not exist yet (a new
// partition, or a data directory lost) starts where the remote one ends.
func (st *Store) Open(ctx context.Context, p storage.Partition, cfg storage.LogConfig) (storage.Log, error) {
	if st.opts.ForceRemote != nil && !cfg.Remote.Enable {
		cfg.Remote = *st.opts.ForceRemote
	}
	if p.TopicID == (meta.TopicID{}) && cfg.Remote.Enable {
		// Objects and records are named by topic ID (as Kafka's tiered
		// storage requires topic IDs): without one, nothing is tiered.
		st.log.Warn("a partition without a topic ID is not tiered", "topic", p.Topic, "partition", p.Partition)
		cfg.Remote = storage.RemoteConfig{}
	}
	r, err := st.loadRemote(ctx, p)
	if err != nil {
		return nil, err
	}
	cfg.InitialOffset = max(cfg.InitialOffset, r.end())
	if ex, ok := st.opts.Local.(interface{ Exists(storage.Partition) bool }); ok && !ex.Exists(p) {
		// The local log will start empty at the remote end (a restore,
		// or the cluster mode taking a partition over): with the
		// producer state there, so that idempotent producers and open
		// transactions carry on across it.
		if live := r.live(); len(live) > 0 {
			last := live[len(live)-1]
			if last.EndOffset == cfg.InitialOffset {
				pids, err := st.remoteProducers(ctx, last)
				if err != nil {
					return nil, fmt.Errorf("tiered: open %s-%d: %w", p.Topic, p.Partition, err)
				}
				cfg.InitialProducers = pids.AppendSnapshot(nil, last.EndOffset)
			}
		}
	}
	cfg.StaggerFirstRoll = cfg.Remote.Enable
	local, err := st.opts.Local.Open(ctx, p, cfg)
	if err != nil {
		return nil, err
	}
	seg, ok := local.(storage.Segmented)
	if !ok {
		local.Close()
		return nil, fmt.Errorf("tiered: the local engine's logs cannot be tiered (no storage.Segmented)")
	}
	l := &Log{Log: local, seg: seg, st: st, part: p, remote: r}
	l.eagerCtx, l.eagerStop = context.WithCancel(context.Background())
	l.cfg.Store(&cfg)
	l.tierMu.Lock()
	l.recount()
	l.tierMu.Unlock()
	if end := r.end(); local.NextOffset() < end {
		st.log.Warn("the local log ends below what object storage holds; it was restored from an older copy",
			"topic", p.Topic, "partition", p.Partition, "local_next", local.NextOffset(), "remote_end", end)
	}
	st.mu.Lock()
	if st.closed {
		st.mu.Unlock()
		local.Close()
		return nil, storage.ErrClosed
	}
	st.logs[partKey{p.TopicID, p.Topic, p.Partition}] = l
	st.mu.Unlock()
	st.wakeUploads()
	return l, nil
}

// DropLocal removes p's local log only: what the bucket holds stays, and a
// later Open starts the local log where it ends (the cluster mode drops a
// partition's local cache when another broker may have led it since).
func (st *Store) DropLocal(ctx context.Context, p storage.Partition) error {
	return st.opts.Local.Delete(ctx, p)
}

// Delete removes p's local log and gives its remote segments up: their
// records are marked Deleting now, their objects go after the grace period.
func (st *Store) Delete(ctx context.Context, p storage.Partition) error {
	err := st.opts.Local.Delete(ctx, p)
	segs, cerr := st.opts.Catalog.RemoteSegments(ctx, p.TopicID, p.Partition)
	if cerr != nil {
		return errors.Join(err, fmt.Errorf("tiered: delete %s-%d: %w", p.Topic, p.Partition, cerr))
	}
	var ids []string
	for _, s := range segs {
		if !s.Deleting {
			ids = append(ids, s.ID)
		}
	}
	if len(ids) > 0 {
		if cerr := st.opts.Catalog.MarkRemoteSegmentsDeleting(ctx, p.TopicID, p.Partition, ids); cerr != nil {
			return errors.Join(err, fmt.Errorf("tiered: delete %s-%d: %w", p.Topic, p.Partition, cerr))
		}
		if errors.Is(err, storage.ErrNotFound) {
			err = nil // the local log was gone already; the remote one is going now
		}
	}
	return err
}

// Usage is the local store's.
func (st *Store) Usage() (storage.Usage, error) { return st.opts.Local.Usage() }

// Close stops the background work and closes the local store. Logs must be
// closed first.
func (st *Store) Close() error {
	st.mu.Lock()
	if st.closed {
		st.mu.Unlock()
		return nil
	}
	st.closed = true
	st.mu.Unlock()
	close(st.stop)
	st.bg.Wait()
	st.cache.close()
	return st.opts.Local.Close()
}

// forget drops a closed log.
func (st *Store) forget(l *Log) {
	st.mu.Lock()
	defer st.mu.Unlock()
	k := partKey{l.part.TopicID, l.part.Topic, l.part.Partition}
	if st.logs[k] == l {
		delete(st.logs, k)
	}
}

// openLogs returns the open logs.
func (st *Store) openLogs() []*Log {
	st.mu.Lock()
	defer st.mu.Unlock()
	out := make([]*Log, 0, len(st.logs))
	for _, l := range st.logs {
		out = append(out, l)
	}
	return out
}

func (st *Store) wakeUploads() {
	select {
	case st.wake <- struct{}{}:
	default:
	}
}

// prefix is the object-key prefix of a partition's segments.
func prefix(id meta.TopicID, partition int32) string {
	return fmt.Sprintf("%s/%d/", id, partition)
}

// objectKey names one object of a remote segment; ext is ".log",
// ".index", ".timeindex", ".txnindex" or ".snapshot".
func objectKey(id meta.TopicID, partition int32, base int64, uploadID, ext string) string {
	return fmt.Sprintf("%s%020d-%s%s", prefix(id, partition), base, uploadID, ext)
}

// observe reports an object-store call.
func (st *Store) observe(op string, start time.Time, bytes int64, err error) {
	if st.opts.Observe != nil {
		st.opts.Observe(op, time.Since(start), bytes, err)
	}
}

// Backlog is what the open logs have not uploaded yet: closed segments and
// their bytes.
func (st *Store) Backlog() (segments int, bytes int64) {
	for _, l := range st.openLogs() {
		n, b := l.UploadBacklog()
		segments += n
		bytes += b
	}
	return segments, bytes
}

// MaxPartitionBacklog is the most closed segments any one open log has
// not uploaded yet.
func (st *Store) MaxPartitionBacklog() int {
	n := 0
	for _, l := range st.openLogs() {
		segs, _ := l.UploadBacklog()
		n = max(n, segs)
	}
	return n
}

// CacheStats counts the reads of remote chunks served from the cache, those
// that waited for a download, the chunks downloaded ahead of readers, and
// says how many bytes the cache holds.
func (st *Store) CacheStats() (hits, misses, prefetches, bytes int64) {
	c := st.cache
	return c.hits.Load(), c.misses.Load(), c.prefetches.Load(), c.bytes()
}

// RemoteBytes is what the bucket holds for the open logs.
func (st *Store) RemoteBytes() int64 {
	var n int64
	for _, l := range st.openLogs() {
		n += l.RemoteSize()
	}
	return n
}

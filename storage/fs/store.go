package fs

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/streamhouse/streamhouse/storage"
	"github.com/streamhouse/streamhouse/storage/fs/vfs"
)

var _ storage.Store = (*Store)(nil)

// Errors of this package, beside storage's sentinels.
var (
	// ErrInvalidName: the topic name or partition cannot name a
	// directory (Kafka's rule: 1 to 249 of [a-zA-Z0-9._-], not "." or
	// "..", and a partition >= 0).
	ErrInvalidName = errors.New("fs: invalid topic name or partition")
	// ErrInUse: the partition is open (or being opened or deleted) and
	// cannot be opened again or deleted.
	ErrInUse = errors.New("fs: partition in use")
)

// Options are a Store's dependencies.
type Options struct {
	// FS is the file system the store works in; nil means vfs.Default,
	// the operating system's. Tests inject errors through vfs/errorfs.
	FS vfs.FS
	// MinFreeBytes is the free-space guard's threshold, the broker's
	// storage.min.free.bytes (space.go): appends are refused with
	// storage.ErrNoSpace while the volume has less free space. Zero
	// turns the guard off; negative means the default, 5% of the
	// volume, at most 5 GiB.
	MinFreeBytes int64
	// Now is the clock segment.ms is measured with; nil means time.Now.
	Now func() time.Time
	// Logger receives recovery reports; nil discards them.
	Logger *slog.Logger
	// NoSync turns fsync off: appends are visible to readers at once and
	// Sync returns without waiting. Data reaches the disk when the kernel
	// writes it back, at flush.messages and flush.ms, and at Close. For
	// benchmarks and for users who accept losing recent writes on power
	// loss.
	NoSync bool
	// OnFsync, when set, is told how long each group-commit fsync took
	// (metrics).
	OnFsync func(time.Duration)
	// CheckpointInterval is how often the checkpoints of logs that moved
	// are written (Kafka's log.flush.offset.checkpoint.interval.ms).
	// Zero: 60 s.
	CheckpointInterval time.Duration
	// SyncFS makes a commit round of two files or more one syncfs(2) of
	// the store's file system instead of an fdatasync of each file: one
	// journal commit and one device flush instead of one per file. On
	// the development machine (a virtual machine) a round of 5 files took
	// 0.6-0.7 ms instead of 1.0 and half the kernel CPU. The round also
	// writes back whatever else is dirty on that file system, so it
	// suits a data directory on a file system of its own. Write-back
	// errors are attributed by fdatasyncing the round's files after a
	// failed syncfs. Linux 5.8 or later (syncfs reports write-back errors
	// since); New refuses it elsewhere.
	SyncFS bool
	// SyncFSForeignDirty, when positive, makes SyncFS conditional for a
	// data directory that shares its file system: a round is one syncfs
	// only while the machine's page cache holds at most this many dirty
	// or under-write-back bytes besides what the logs appended since the
	// previous round (/proc/meminfo), and fdatasyncs each file otherwise,
	// so that no round waits for another program's write-back, nor for a
	// compaction pass's output (which the cleaner fsyncs itself). Where
	// the page cache cannot be read, rounds fdatasync each file.
	SyncFSForeignDirty int64
	// Commit, when set, makes appends durable in place of fsync (the
	// cluster mode: one object in a bucket and one catalog transaction
	// per round): each commit round calls it once with every log's
	// batches appended since the round before it, and publishes (moves
	// the high watermark of) the logs it returns no error for; a log it
	// returns an error for fails as after a failed fsync, and heals. The
	// files are not fsynced: the local disk is a cache of what Commit
	// made durable. CommitInterval is the least time between two rounds'
	// starts, so that a round gathers the appends of that long;
	// CommitBytes, when positive, starts a round sooner once that many
	// bytes were appended since the last one began.
	Commit         func(ctx context.Context, appends []Appended) []error
	CommitInterval time.Duration
	CommitBytes    int64
	// NoNursery opens every new partition with its directory and files
	// at once, instead of in the nursery (nursery.go). Tests that
	// inject faults into a new partition's files use it.
	NoNursery bool
}

// Appended is one log's part of a commit round under Options.Commit: the
// whole batches [Base, Next), as stored.
type Appended struct {
	Partition storage.Partition
	Base      int64
	Next      int64
	Data      []byte
}

// SyncFSSupported says why Options.SyncFS cannot be used here, or nil.
func SyncFSSupported() error { return syncFSReportsErrors() }

// Store keeps partition logs under one directory, as
// <dir>/<topic>/<partition>/.
type Store struct {
	dir    string
	fsys   vfs.FS
	now    func() time.Time
	logger *slog.Logger
	noSync bool
	// clean: the last stop wrote the clean-shutdown marker.
	clean bool
	// fsSynced: after an unclean stop, New made everything in the
	// store's file system durable at once (syncfs), so logs opening need
	// not fsync what the crashed process left in the page cache. Set
	// before synced is closed.
	fsSynced bool
	// synced is closed once that syncfs is done (at once when none is
	// needed). It runs in the background so that a broker restarted
	// after a crash answers at once; Open waits for it, so nothing is
	// served before it is durable.
	synced chan struct{}

	commit committer
	space  spaceGuard
	// nursery holds new partitions' first batches (nursery.go); nil
	// under Options.NoNursery and Options.Commit.
	nursery *nursery

	mu        sync.Mutex
	logs      map[partKey]*Log // a nil value reserves the key while it is opened or deleted
	closed    bool
	ckptQueue []*Log // logs that asked for an early checkpoint

	ckptKick   chan struct{}
	ckptQuit   chan struct{}
	ckptExited chan struct{}

	// healers are the heal loops of failed logs (heal.go); healQuit
	// stops them at Close.
	healers  sync.WaitGroup
	healQuit chan struct{}
}

type partKey struct {
	topic     string
	partition int32
}

// New returns a Store over dir, creating the directory when missing.
func New(dir string, opts Options) (*Store, error) {
	fsys := opts.FS
	if fsys == nil {
		fsys = vfs.Default
	}
	if err := fsys.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("fs: new store: %w", err)
	}
	st := &Store{
		dir:        dir,
		fsys:       fsys,
		now:        opts.Now,
		logger:     opts.Logger,
		noSync:     opts.NoSync,
		logs:       make(map[partKey]*Log),
		ckptKick:   make(chan struct{}, 1),
		ckptQuit:   make(chan struct{}),
		ckptExited: make(chan struct{}),
		synced:     make(chan struct{}),
		healQuit:   make(chan struct{}),
	}
	if st.now == nil {
		st.now = time.Now
	}
	if st.logger == nil {
		st.logger = slog.New(slog.DiscardHandler)
	}
	syncFSRounds := opts.SyncFS && !st.noSync
	if syncFSRounds {
		if err := syncFSReportsErrors(); err != nil {
			return nil, fmt.Errorf("fs: new store: syncfs commit rounds: %w", err)
		}
	}
	// The marker says the last stop closed every log (final fsyncs and
	// checkpoints). It goes now, durably, so that a crash from here on is
	// seen as one.
	marker := filepath.Join(dir, cleanMarkerName)
	switch err := fsys.Remove(marker); {
	case err == nil:
		st.clean = true
		close(st.synced)
		if err := syncDir(fsys, dir); err != nil {
			return nil, err
		}
		st.logger.Info("storage: the last stop was clean")
	case errors.Is(err, os.ErrNotExist):
		st.logger.Info("storage: no clean-shutdown marker; each partition is checked from its checkpoint as it opens")
		if !st.noSync && !dirEmpty(fsys, dir) {
			// What the crashed process wrote may be in the page cache
			// only: one syncfs makes all of it durable, instead of an
			// fsync of each log's files and directory as it opens
			// (10,000 partitions: 1.5 s of restart). PostgreSQL's
			// recovery_init_sync_method=syncfs does the same. A new
			// store has nothing to make durable.
			go st.syncAll()
		} else {
			close(st.synced)
		}
	default:
		return nil, fmt.Errorf("fs: new store: %w", err)
	}
	if err := st.space.init(fsys, dir, st.logger, opts.MinFreeBytes); err != nil {
		return nil, err
	}
	interval := opts.CheckpointInterval
	if interval <= 0 {
		interval = 60 * time.Second
	}
	st.commit.onFsync = opts.OnFsync
	st.commit.fsys = fsys
	st.commit.commitFn, st.commit.interval = opts.Commit, opts.CommitInterval
	st.commit.commitBytes, st.commit.full = opts.CommitBytes, make(chan struct{}, 1)
	if syncFSRounds {
		root, err := fsys.OpenDir(dir)
		if err != nil {
			return nil, fmt.Errorf("fs: new store: %w", err)
		}
		st.commit.root, st.commit.logger = root, st.logger
		if opts.SyncFSForeignDirty > 0 {
			st.commit.foreignLimit = opts.SyncFSForeignDirty
			probe := &dirtyProbe{}
			st.commit.dirty, st.commit.closeDirty = probe.read, probe.close
		}
	}
	if !opts.NoNursery && opts.Commit == nil {
		// Replayed before anything opens: a partition whose first
		// batches are only in the journal finds them in its files.
		n, err := st.openNursery()
		if err != nil {
			if st.commit.root != nil {
				st.commit.root.Close()
			}
			st.space.stop()
			return nil, err
		}
		st.nursery = n
		st.commit.nursery = n
	}
	st.commit.start()
	go st.checkpointLoop(interval)
	return st, nil
}

// syncAll makes the store's file system durable after an unclean stop
// (syncfs) and closes st.synced. Where syncfs is not offered, or fails,
// each log fsyncs its own files as it opens instead (a failed write-back
// shows there again, on the files it concerns).
func (st *Store) syncAll() {
	defer close(st.synced)
	start := time.Now()
	switch err := syncFS(st.fsys, st.dir); {
	case err == nil:
		st.fsSynced = true
		st.logger.Info("storage: synced the file system after an unclean stop", "took", time.Since(start).Round(time.Millisecond))
	case errors.Is(err, vfs.ErrNoSyncFS):
	default:
		st.logger.Warn("storage: syncfs after an unclean stop failed; each log fsyncs its files as it opens", "err", err)
	}
}

// dirEmpty reports whether dir holds no entry; an unreadable dir counts as
// not empty.
func dirEmpty(fsys vfs.FS, dir string) bool {
	es, err := fsys.ReadDir(dir)
	return err == nil && len(es) == 0
}

// Exists reports whether p has a log in the store (open or not): a
// partition Open would create says false.
func (st *Store) Exists(p storage.Partition) bool {
	if validate(p) != nil {
		return false
	}
	_, err := st.fsys.Lstat(st.partitionDir(p))
	return err == nil
}

// Partitions lists, in no order, the partitions of topic that have a log
// in the store (open or not): one directory listing where Exists looks at
// each. A topic created lazily asks it for what a deletion cut short left
// under the name, usually nothing.
func (st *Store) Partitions(topic string) ([]int32, error) {
	if validate(storage.Partition{Topic: topic}) != nil {
		return nil, nil
	}
	es, err := st.fsys.ReadDir(st.topicDir(topic))
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("fs: list %s: %w", st.topicDir(topic), err)
	}
	var out []int32
	for _, e := range es {
		n, err := strconv.ParseInt(e.Name(), 10, 32)
		if err == nil && n >= 0 && e.IsDir() && strconv.Itoa(int(n)) == e.Name() {
			out = append(out, int32(n))
		}
	}
	return out, nil
}

// Open implements storage.Store. It refuses a partition that is open
// already with ErrInUse.
func (st *Store) Open(ctx context.Context, p storage.Partition, cfg storage.LogConfig) (storage.Log, error) {
	if err := validate(p); err != nil {
		return nil, err
	}
	select {
	case <-st.synced:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	key := partKey{p.Topic, p.Partition}
	dir := st.partitionDir(p)

	st.mu.Lock()
	if err := st.reserveLocked(key, "open"); err != nil {
		st.mu.Unlock()
		return nil, err
	}
	if st.nursery != nil && len(cfg.InitialProducers) == 0 && st.nursery.admits() {
		// A partition without a directory starts in the nursery:
		// nothing is made on disk until it settles.
		_, err := st.fsys.Lstat(dir)
		if errors.Is(err, os.ErrNotExist) {
			st.mu.Unlock()
			return st.finishOpen(ctx, key, dir, p, cfg, true, true)
		}
	}
	// Under st.mu so that Delete's removal of an empty topic directory
	// cannot slip between the two levels MkdirAll creates.
	created, mkErr := true, st.fsys.Mkdir(dir, 0o755)
	switch {
	case errors.Is(mkErr, os.ErrExist):
		created, mkErr = false, nil
	case errors.Is(mkErr, os.ErrNotExist): // a new topic
		mkErr = st.fsys.MkdirAll(dir, 0o755)
	}
	st.mu.Unlock()
	if mkErr != nil {
		st.release(key)
		return nil, fmt.Errorf("fs: open %s: %w", dir, mkErr)
	}
	return st.finishOpen(ctx, key, dir, p, cfg, created, false)
}

// finishOpen opens the log of a reserved key and publishes it.
func (st *Store) finishOpen(ctx context.Context, key partKey, dir string, p storage.Partition, cfg storage.LogConfig, created, nursery bool) (*Log, error) {
	l, err := st.openLog(ctx, key, dir, p, cfg, created, nursery)
	if err != nil {
		st.release(key)
		return nil, err
	}
	st.mu.Lock()
	st.logs[key] = l
	st.mu.Unlock()
	return l, nil
}

func (st *Store) openLog(ctx context.Context, key partKey, dir string, p storage.Partition, cfg storage.LogConfig, created, nursery bool) (*Log, error) {
	cfg = cfg.WithDefaults()
	l := &Log{
		store:        st,
		key:          key,
		dir:          dir,
		part:         p,
		now:          st.now,
		logger:       st.logger.With("topic", p.Topic, "partition", p.Partition),
		parentsDirty: created && !nursery,
	}
	l.setConfig(cfg)
	l.initial = max(0, cfg.InitialOffset)
	if created {
		l.initialPids = cfg.InitialProducers
	}
	start := l.recover
	switch {
	case nursery:
		start = l.initNursery
	case created:
		start = l.initEmpty // nothing to recover in a directory just made
	}
	if err := start(ctx); err != nil {
		for _, s := range l.segs {
			_ = s.f.Close()
		}
		return nil, err
	}
	a := l.segs[len(l.segs)-1]
	if a.size > 0 {
		// The first append's time is not on disk: the age of a recovered
		// active segment counts from the open.
		a.firstAt = l.now()
		a.rollJitter = l.pickJitter()
	}
	var size int64
	for _, s := range l.segs {
		size += s.size
	}
	l.active = a
	l.hwSeg, l.hwPos = a, a.size
	l.durable = durablePoint{seg: a, pos: a.size, next: a.next}
	l.durableNext.Store(a.next)
	l.start.Store(max(l.segs[0].base, min(l.start.Load(), a.next)))
	l.next.Store(a.next)
	l.hw.Store(a.next)
	l.size.Store(size)
	if err := l.loadProducers(); err != nil {
		for _, s := range l.segs {
			_ = s.f.Close()
		}
		return nil, err
	}
	return l, nil
}

// initEmpty starts the log of a partition directory Open has just created:
// it is what recover makes of an empty directory, without looking (no
// listing, no checkpoint to read), so that a new partition's first open
// costs its directory and one segment file. A topic of 2,000 partitions
// opened with a listing and a checkpoint probe each took twice the system
// calls. Nothing is durable yet: the first commit round fsyncs the segment,
// the partition directory and those above it (dirDirty, parentsDirty), and
// a log closed empty writes nothing (createdEmpty).
func (l *Log) initEmpty(context.Context) error {
	l.ckpt.absent = true
	if len(l.initialPids) > 0 {
		// A log created at storage.LogConfig.InitialOffset with the
		// producer state there: loadProducers starts from it.
		l.recoveryPoint.pids = base64.RawURLEncoding.EncodeToString(l.initialPids)
	}
	s, err := createSegment(l.store.fsys, l.dir, max(l.initial, l.start.Load()))
	if err != nil {
		return fmt.Errorf("fs: open %s: %w", l.dir, err)
	}
	l.segs = []*segment{s}
	l.dirDirty, l.parentsDirty = true, true
	return nil
}

// initNursery starts the log of a partition without a directory in the
// nursery (nursery.go): its first segment in memory, nothing on disk.
func (l *Log) initNursery(context.Context) error {
	l.ckpt.absent = true
	base := max(l.initial, l.start.Load())
	s := newSegment(l.store.fsys, l.dir, base)
	l.nursery = l.store.nursery.newFile(l.key, s.path, base)
	s.f = l.nursery
	l.segs = []*segment{s}
	return nil
}

// flushMessages and flushDuration read flush.messages and flush.ms: Kafka's
// default (Long.MAX_VALUE) and anything not positive mean never.
func flushMessages(n int64) int64 {
	if n <= 0 || n == math.MaxInt64 {
		return 0
	}
	return n
}

func flushDuration(ms int64) time.Duration {
	if ms <= 0 || ms >= math.MaxInt64/int64(time.Millisecond) {
		return 0
	}
	return time.Duration(ms) * time.Millisecond
}

// Delete implements storage.Store. The topic directory goes too when the
// partition was its last.
func (st *Store) Delete(ctx context.Context, p storage.Partition) error {
	if err := validate(p); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	key := partKey{p.Topic, p.Partition}
	st.mu.Lock()
	if err := st.reserveLocked(key, "delete"); err != nil {
		st.mu.Unlock()
		return err
	}
	st.mu.Unlock()
	defer st.release(key)

	dir := st.partitionDir(p)
	if _, err := st.fsys.Lstat(dir); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("fs: delete %s/%d: %w", p.Topic, p.Partition, storage.ErrNotFound)
		}
		return fmt.Errorf("fs: delete %s: %w", dir, err)
	}
	if err := st.fsys.RemoveAll(dir); err != nil {
		return fmt.Errorf("fs: delete %s: %w", dir, err)
	}
	st.mu.Lock()
	// Fails, as it should, while other partitions of the topic remain.
	_ = st.fsys.Remove(st.topicDir(p.Topic))
	st.mu.Unlock()
	return nil
}

// Close implements storage.Store. Logs still open are closed, up to
// maxSyncWorkers at a time.
func (st *Store) Close() error {
	<-st.synced // its goroutine does not outlive the store
	st.mu.Lock()
	if st.closed {
		st.mu.Unlock()
		return fmt.Errorf("fs: close store %s: %w", st.dir, storage.ErrClosed)
	}
	st.closed = true
	var open []*Log
	for _, l := range st.logs {
		if l != nil {
			open = append(open, l)
		}
	}
	st.mu.Unlock()
	if st.nursery != nil {
		// Logs still in the nursery settle together (one syncfs or
		// fsync round), not in each Close; a failure is Close's to
		// retry and report.
		var nfs []*nurseryFile
		for _, l := range open {
			if nf := l.nursery; nf != nil && !nf.settled.Load() && l.Size() > 0 {
				nfs = append(nfs, nf)
			}
		}
		_ = st.nursery.settle(nfs)
	}
	// Each close fsyncs: several at a time, as a commit round does.
	var errMu sync.Mutex
	var errs []error
	forEachParallel(len(open), func(i int) {
		if err := open[i].Close(); err != nil && !errors.Is(err, storage.ErrClosed) {
			errMu.Lock()
			errs = append(errs, err)
			errMu.Unlock()
		}
	})
	close(st.ckptQuit)
	<-st.ckptExited
	close(st.healQuit)
	st.healers.Wait()
	st.commit.stop()
	if st.nursery != nil {
		st.nursery.stop()
		if err := st.nursery.close(); err != nil {
			errs = append(errs, fmt.Errorf("fs: close store: %w", err))
		}
	}
	st.space.stop()
	if st.commit.closeDirty != nil {
		st.commit.closeDirty()
	}
	if st.commit.root != nil {
		st.commit.root.Close()
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	// Every log closed cleanly: fsynced, checkpointed.
	if err := writeFileDurable(st.fsys, filepath.Join(st.dir, cleanMarkerName), nil); err != nil {
		return fmt.Errorf("fs: close store: clean-shutdown marker: %w", err)
	}
	return nil
}

func (st *Store) reserveLocked(key partKey, op string) error {
	if st.closed {
		return fmt.Errorf("fs: %s %s/%d: %w", op, key.topic, key.partition, storage.ErrClosed)
	}
	if _, busy := st.logs[key]; busy {
		return fmt.Errorf("fs: %s %s/%d: %w", op, key.topic, key.partition, ErrInUse)
	}
	st.logs[key] = nil
	return nil
}

func (st *Store) release(key partKey) {
	st.mu.Lock()
	delete(st.logs, key)
	st.mu.Unlock()
}

func (st *Store) topicDir(topic string) string { return filepath.Join(st.dir, topic) }

func (st *Store) partitionDir(p storage.Partition) string {
	return filepath.Join(st.dir, p.Topic, strconv.Itoa(int(p.Partition)))
}

// validate applies Kafka's topic name rule. The broker checks names first;
// this is the guard that keeps a name from leaving the store's directory.
func validate(p storage.Partition) error {
	t := p.Topic
	ok := len(t) >= 1 && len(t) <= 249 && t != "." && t != ".." && p.Partition >= 0
	for i := 0; ok && i < len(t); i++ {
		c := t[i]
		ok = c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-'
	}
	if !ok {
		return fmt.Errorf("fs: partition %q/%d: %w", t, p.Partition, ErrInvalidName)
	}
	return nil
}

// Usage implements storage.Store: the store's directory and its file
// system's size and free space.
func (st *Store) Usage() (storage.Usage, error) {
	dir, err := filepath.Abs(st.dir)
	if err != nil {
		dir = st.dir
	}
	total, usable, err := st.fsys.DiskSpace(st.dir)
	if err != nil {
		return storage.Usage{Dir: dir, TotalBytes: -1, UsableBytes: -1}, fmt.Errorf("fs: statfs %s: %w", st.dir, err)
	}
	return storage.Usage{Dir: dir, TotalBytes: total, UsableBytes: usable}, nil
}

// setConfig sets the log's configs from cfg (with defaults filled in).
// Caller holds mu, or owns l alone.
func (l *Log) setConfig(cfg storage.LogConfig) {
	cfg = cfg.WithDefaults()
	// Index positions are 32 bits; Kafka caps segment.bytes the same.
	l.segBytes = min(cfg.SegmentBytes, math.MaxInt32)
	l.firstRoll = 0
	if cfg.StaggerFirstRoll {
		l.firstRoll = staggeredRoll(l.part, l.segBytes)
	}
	l.segMs = segMsDuration(cfg.SegmentMs)
	l.segJitter = segMsDuration(max(0, cfg.SegmentJitterMs))
	l.interval = int64(cfg.IndexIntervalBytes)
	l.flushMsg = flushMessages(cfg.FlushMessages)
	l.flushMs = flushDuration(cfg.FlushMs)
}

// staggeredRoll is the size at which p's first segment rolls when rolls
// are staggered: segBytes less a fraction of it below 15/16, the topic
// ID's hash plus the partition number times the golden ratio's fraction
// (modulo 1), so that a topic's partitions spread over the whole range
// evenly and two topics' partitions do not line up.
func staggeredRoll(p storage.Partition, segBytes int64) int64 {
	h := fnv.New64a()
	h.Write(p.TopicID[:])
	h.Write([]byte(p.Topic))
	_, f := math.Modf(float64(h.Sum64())/math.Exp2(64) + float64(p.Partition)*0.6180339887498949)
	return max(1, segBytes-int64(f*15/16*float64(segBytes)))
}

// pickJitter draws a segment's segment.jitter.ms, as Kafka does when it
// makes a segment: uniform in [0, min(segment.jitter.ms, segment.ms)).
// Caller holds mu, or owns l alone.
func (l *Log) pickJitter() time.Duration {
	if n := min(l.segJitter, l.segMs); n > 0 {
		return rand.N(n)
	}
	return 0
}

// Reconfigure implements storage.Log.
func (l *Log) Reconfigure(cfg storage.LogConfig) {
	l.mu.Lock()
	l.setConfig(cfg)
	l.mu.Unlock()
}

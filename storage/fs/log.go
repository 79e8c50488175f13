package fs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/streamhouse/streamhouse/batch"
	"github.com/streamhouse/streamhouse/internal/fault"
	"github.com/streamhouse/streamhouse/storage"
	"github.com/streamhouse/streamhouse/storage/fs/vfs"
)

var _ storage.Log = (*Log)(nil)

// Log is one partition's log on the local file system. See the package
// comment for the files.
//
// Locks, in the order they are taken (never the other way round):
//
//	cleanMu  the cleaner (compact.go) against whatever else removes or
//	         replaces segments: retention, DeleteRecords, Close.
//	mu       the appender lock: serialises Append, rolls, Close and the
//	         start of a sync round. Guards active, unsynced, dataDirty,
//	         dirDirty, parentsDirty, syncFiles and the
//	         appender-only fields of the active segment.
//	ckptMu   the checkpoint and index files: serialises their writers
//	         (checkpoints, rolled segments' indexes, Close); never waited
//	         for under mu by an append or a roll, as a checkpoint holds it
//	         across its fsyncs.
//	pidMu    the idempotent producers' durable copy (producers.go).
//	state    RWMutex over what readers look at: segs, hwSeg, hwPos, closed
//	         and each segment's published fields (size, next, indexes, max
//	         timestamp). Held exclusively only for the few instructions that
//	         publish an append or a roll, never across I/O. Readers hold it
//	         shared to pick a segment, an index position and the readable
//	         end, then release it and pread: a read never waits for a write
//	         syscall, and an append never waits for a read.
//	store.commit.mu  group-commit bookkeeping (see committer); guards
//	         queued. Taken after mu, never while holding state.
//	watchMu  the watcher list; a leaf.
//
// The nursery's locks (nursery.go: nursery.mu, then nurseryFile.mu) are
// taken after any of these and never hold one: settle takes no lock of the
// log's, so the appender, a checkpoint and a heal settle the log holding
// theirs.
//
// closed is written holding both mu and state, so either lock suffices to
// read it. The atomics mirror values guarded by the locks for the cheap
// getters.
type Log struct {
	store *Store
	key   partKey
	dir   string
	part  storage.Partition
	// The topic's configs, guarded by mu (Reconfigure changes them).
	segBytes int64
	// firstRoll is the size at which the segment the log was created
	// with (based at initial) rolls instead of segBytes; zero: segBytes
	// (storage.LogConfig.StaggerFirstRoll).
	firstRoll int64
	segMs     time.Duration
	segJitter time.Duration // segment.jitter.ms
	interval  int64
	flushMsg  int64         // flush.messages; <= 0 never
	flushMs   time.Duration // flush.ms; <= 0 never
	now       func() time.Time
	logger    *slog.Logger

	mu           sync.Mutex
	active       *segment
	unsynced     []*segment // rolled since the last sync round began
	dataDirty    bool       // a batch was written since the last sync round began
	dirDirty     bool       // a file was created since the last sync round began
	parentsDirty bool       // the partition directory itself is new
	unflushed    int64      // records appended since the last commit round took the log
	flushTimer   *time.Timer
	pids         storage.ProducerState // idempotent producers after every append (producers.go)

	state  sync.RWMutex
	segs   []*segment // by base offset
	hwSeg  *segment   // segment holding the batch that ends at the high watermark
	hwPos  int64      // end of that batch in hwSeg
	closed bool
	// durable is the end of what the last commit round fsynced (seg nil
	// before the first); it is what a checkpoint records.
	durable durablePoint

	queued bool // in the committer's queue; guarded by store.commit.mu

	// recoveryPoint is the checkpoint read at open (zero without one);
	// haveCheckpoint says whether there was a usable one.
	recoveryPoint  checkpoint
	haveCheckpoint bool
	// initial is where a log created empty starts
	// (storage.LogConfig.InitialOffset); set before recover.
	initial int64
	// initialPids is storage.LogConfig.InitialProducers.
	initialPids []byte

	// cleanMu serialises the cleaner (compact.go) with whatever else
	// removes or replaces segments (retention, DeleteRecords, Close).
	// Taken before mu. cleanedTo is the offset the log is cleaned to,
	// gapsTo the one below which cleaning may have left gaps (both
	// checkpointed).
	cleanMu   sync.Mutex
	cleanedTo atomic.Int64
	gapsTo    atomic.Int64

	start atomic.Int64
	hw    atomic.Int64
	next  atomic.Int64
	size  atomic.Int64
	// durableNext mirrors durable.next.
	durableNext atomic.Int64
	// failure is sticky, set once (setFailed): a write or an fsync
	// failed, or corrupt data was found (then reads are refused too,
	// offlineErr); appends are refused until heal (heal.go) reopens the
	// log from what is on disk, which clears it, or, for corruption,
	// until the broker restarts.
	failure atomic.Pointer[error]
	// gen counts heals; a commit round publishes what it fsynced for a
	// log only if no heal came in between (syncJob.gen). Written
	// holding mu and state, so either lock reads it.
	gen uint64
	// lost are the offsets heals dropped (heal.go), for SyncTo; guarded
	// by state.
	lost []lostRange
	// pendingSwap finishes a cleaner's swap that failed half way
	// (compact.go); heal runs it first. Guarded by mu.
	pendingSwap func() error

	// ckptMu serialises writes of the checkpoint and of index files, so
	// that a checkpoint never holds the appender lock across its fsyncs.
	// Taken after mu, before state.
	ckptMu sync.Mutex
	ckpt   checkpointer
	// idxPending are rolled segments whose index files the checkpoint
	// writer (or Close) is to write: a roll holds mu, which every commit
	// round takes, and must not wait there for ckptMu, which a checkpoint
	// holds across its fsyncs. Guarded by state.
	idxPending []*segment

	// pidMu guards the producers' durable copy (producers.go). Taken
	// after mu and ckptMu, before state; never held across I/O.
	pidMu         sync.Mutex
	pidPending    []pidBatch
	pidsDurable   storage.ProducerState
	pidsDurableAt int64
	pidsLost      bool

	// What readers see of transactions, refreshed under mu after each
	// transactional batch: the first unstable offset (-1: none) and the
	// aborted transactions.
	firstUnstable atomic.Int64
	aborted       atomic.Pointer[[]storage.AbortedTxn]

	watchMu  sync.Mutex
	watchers []chan<- struct{}

	// nursery is the first segment's file of a log opened in the
	// nursery (nursery.go), settled or not; nil for any other log.
	nursery *nurseryFile
}

// Append implements storage.Log. It writes b with one pwrite and does not
// fsync; see Sync.
func (l *Log) Append(ctx context.Context, b []byte) (int64, error) {
	// Only the cheap checks: the caller ran batch.Check, and recomputing
	// the CRC here would cost a pass over every byte produced.
	h, err := batch.ReadHeader(b)
	if err != nil || h.Size() != len(b) || h.LastOffsetDelta < 0 {
		return 0, invalidBatch(b, &h, err)
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if err := l.store.space.admit(len(b), l.dir); err != nil {
		return 0, err
	}
	l.mu.Lock()
	if h.ProducerID >= 0 && !storage.IsRestoring(ctx) {
		if off, err := l.checkProducerLocked(&h); err != nil {
			l.mu.Unlock()
			return off, err
		}
	}
	base, err := l.appendLocked(b, &h)
	if err == nil {
		l.recordProducerLocked(&h, b)
	}
	flush := l.flushMsg > 0 && l.unflushed >= l.flushMsg
	if !flush && l.flushMs > 0 && l.flushTimer == nil && l.store.noSync {
		l.flushTimer = time.AfterFunc(l.flushMs, l.flushLater)
	}
	l.mu.Unlock()
	if err != nil {
		return 0, err
	}
	fault.Crash("append-before-sync")
	switch {
	case l.store.noSync:
		if nf := l.nursery; nf != nil && !nf.settled.Load() {
			// In the page cache, as a batch in a segment file would
			// be: a killed process loses nothing of it.
			if err := nf.n.journal([]*nurseryFile{nf}, []bool{false}); err != nil {
				l.fail(err)
				return 0, err
			}
		}
		l.notify()
	case storage.CommitHeld(ctx) && !flush:
		l.store.commit.hold(l) // the caller's SyncTo starts the round
	default:
		l.store.commit.enqueue(l)
	}
	if flush {
		// flush.messages: as Kafka, the append that reaches the count
		// waits for the flush.
		if err := l.flush(ctx); err != nil {
			return base, err
		}
	}
	return base, nil
}

// flushLater is flush.ms's timer: a commit round for what was appended
// since the timer was armed.
func (l *Log) flushLater() {
	l.mu.Lock()
	l.flushTimer = nil
	closed := l.closed
	l.mu.Unlock()
	if !closed {
		l.store.commit.enqueue(l)
	}
}

func invalidBatch(b []byte, h *batch.Header, err error) error {
	if err == nil {
		err = fmt.Errorf("batch of %d bytes in a buffer of %d, lastOffsetDelta %d", h.Size(), len(b), h.LastOffsetDelta)
	}
	return fmt.Errorf("fs: append: %w: %w", storage.ErrInvalidBatch, err)
}

func (l *Log) appendLocked(b []byte, h *batch.Header) (int64, error) {
	if l.closed {
		return 0, fmt.Errorf("fs: append to %s: %w", l.dir, storage.ErrClosed)
	}
	if err := l.failed(); err != nil {
		return 0, err
	}
	base := l.next.Load()
	size := int64(len(b))
	now := l.now()
	s := l.active
	limit := l.segBytes
	if l.firstRoll > 0 && s.base == l.initial {
		limit = l.firstRoll
	}
	if s.size > 0 && (s.size+size > limit ||
		now.Sub(s.firstAt) > l.segMs-s.rollJitter ||
		base+int64(h.LastOffsetDelta)-s.base > maxSpan) {
		if err := l.rollLocked(base); err != nil {
			return 0, err
		}
		s = l.active
	}
	if nf := l.nursery; nf != nil && !nf.settled.Load() {
		switch {
		case s.size+size > nurseryLogMax || nf.n.held.Load() > nurseryMax:
			// Bounded memory: the log settles here, in the append.
			if err := l.settle(); err != nil {
				return 0, err
			}
		case s.size == 0:
			nf.n.enqueue(nf)
		}
	}
	batch.SetBaseOffset(b, base)
	h.BaseOffset = base
	pos := s.size
	if _, err := s.f.WriteAt(b, pos); err != nil {
		// Part of the batch may be in the file: cut off, or the log
		// fails (heal.go).
		return 0, l.writeFailedLocked(s, pos, err)
	}
	l.store.space.wrote()
	if pos == 0 {
		s.firstAt = now
		s.rollJitter = l.pickJitter()
	}
	if end := pos + size; !l.store.noSync && end-s.writebackFrom >= writebackChunk {
		// The commit round's fsync then finds most of the data on its
		// way to the device already.
		s.f.StartWriteback(s.writebackFrom, end-s.writebackFrom)
		s.writebackFrom = end
	}
	l.dataDirty = true
	l.unflushed += int64(h.LastOffsetDelta) + 1
	if !l.store.noSync {
		l.store.commit.wrote(size)
	}
	next := h.NextOffset()

	l.state.Lock()
	s.addBatch(pos, h, l.interval)
	if l.store.noSync {
		// Readers see the batch at once; otherwise the commit round
		// that fsyncs it moves the high watermark (publish).
		l.hwSeg, l.hwPos = s, s.size
		l.hw.Store(next)
	}
	l.state.Unlock()

	l.next.Store(next)
	l.size.Add(size)
	return base, nil
}

// rollLocked starts a new active segment at base. The old one's indexes are
// final from here on, so they are written to their files now; a failure to
// write them costs a rebuild at the next open, so it is logged, not returned.
func (l *Log) rollLocked(base int64) error {
	if err := l.settle(); err != nil {
		return err
	}
	old := l.active
	seg, err := createSegment(l.store.fsys, l.dir, base)
	switch {
	case err != nil && isNoSpace(err):
		l.store.space.noSpace(err)
		return noSpaceErr("roll", l.dir, err)
	case err != nil:
		// Nothing changed: the append fails, the log goes on.
		return fmt.Errorf("fs: roll %s at offset %d: %w: %w", l.dir, base, storage.ErrIO, err)
	}
	l.state.Lock()
	old.addTimeEntry()
	l.segs = append(l.segs, seg)
	l.state.Unlock()

	l.active = seg
	l.unsynced = append(l.unsynced, old)
	l.dirDirty = true
	fault.Crash("roll")
	l.state.Lock()
	l.idxPending = append(l.idxPending, old)
	l.state.Unlock()
	l.store.checkpointSoon(l)
	return nil
}

// writePendingIndexes writes the index files of the segments rolls left to
// write, those still in the log (retention may have removed some since).
// They are hints, checked before use, so they are not fsynced, and one
// that fails to be written is rebuilt on open. Caller holds ckptMu.
func (l *Log) writePendingIndexes() {
	l.state.Lock()
	pending := l.idxPending
	if len(pending) == 0 {
		l.state.Unlock()
		return
	}
	l.idxPending = nil
	live := make([]*segment, 0, len(pending))
	for _, s := range pending {
		if slices.Contains(l.segs, s) {
			live = append(live, s)
		}
	}
	l.state.Unlock()
	for _, s := range live {
		if err := s.writeIndexes(); err != nil {
			l.logger.Warn("writing index files of a rolled segment failed; they will be rebuilt on open",
				"segment", s.base, "err", err)
		}
	}
}

// LogStartOffset implements storage.Log.
func (l *Log) LogStartOffset() int64 { return l.start.Load() }

// HighWatermark implements storage.Log.
func (l *Log) HighWatermark() int64 { return l.hw.Load() }

// NextOffset implements storage.Log.
func (l *Log) NextOffset() int64 { return l.next.Load() }

// Size implements storage.Log.
func (l *Log) Size() int64 { return l.size.Load() }

// Watch implements storage.Log.
func (l *Log) Watch(ch chan<- struct{}) {
	l.watchMu.Lock()
	l.watchers = append(l.watchers, ch)
	l.watchMu.Unlock()
}

// Unwatch implements storage.Log. It removes one registration of ch.
func (l *Log) Unwatch(ch chan<- struct{}) {
	l.watchMu.Lock()
	defer l.watchMu.Unlock()
	for i, w := range l.watchers {
		if w == ch {
			last := len(l.watchers) - 1
			l.watchers[i] = l.watchers[last]
			l.watchers[last] = nil
			l.watchers = l.watchers[:last]
			return
		}
	}
}

// notify signals every watcher without blocking: a watcher with a full
// buffer has a wake-up pending already.
func (l *Log) notify() {
	l.watchMu.Lock()
	for _, ch := range l.watchers {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
	l.watchMu.Unlock()
}

// Close implements storage.Log: it writes the active segment's index files,
// fsyncs what is not yet durable, writes the checkpoint and closes every
// file.
func (l *Log) Close() error {
	l.cleanMu.Lock()
	defer l.cleanMu.Unlock()
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return fmt.Errorf("fs: close %s: %w", l.dir, storage.ErrClosed)
	}
	l.state.Lock()
	l.closed = true
	l.active.addTimeEntry()
	l.state.Unlock()
	if l.flushTimer != nil {
		l.flushTimer.Stop()
		l.flushTimer = nil
	}

	var errs []error
	l.ckptMu.Lock()
	defer l.ckptMu.Unlock()
	empty := l.createdEmpty()
	if !empty && l.failed() == nil {
		if err := l.settle(); err != nil {
			// What the journal holds is replayed at the next start.
			for _, s := range l.segs {
				_ = s.f.Close()
			}
			l.mu.Unlock()
			l.store.release(l.key)
			l.notify()
			return err
		}
	}
	if !empty {
		l.writePendingIndexes()
		if err := l.active.writeIndexes(); err != nil {
			l.logger.Warn("writing index files at close failed; they will be rebuilt on open", "err", err)
		}
	}
	switch {
	case l.failed() != nil:
		errs = append(errs, l.failed())
		if !errors.Is(l.failed(), storage.ErrCorrupt) {
			// A write or an fsync failed and the log was not reopened
			// yet: what was not durable is not trusted, and must not
			// be found by the next open's recovery (heal.go).
			l.state.RLock()
			d := l.durable
			l.state.RUnlock()
			if _, _, err := l.cutLocked(d); err != nil {
				errs = append(errs, err)
			} else if err := syncFile(d.seg.f); err != nil {
				errs = append(errs, err)
			}
		}
	case !empty && l.store.commit.commitFn != nil:
		// Under Options.Commit a batch is durable once a round
		// committed it, not once its file is fsynced: what no round
		// committed stays not durable, and an acks=all wait for it
		// fails (ErrClosed) instead of being answered as durable. The
		// checkpoint records what was committed.
		if err := l.writeCheckpoint(); err != nil {
			errs = append(errs, err)
		}
	case !empty:
		var serr []error
		if l.store.noSync || l.dataDirty || len(l.unsynced) > 0 || l.durableNext.Load() < l.next.Load() {
			// Else a finished commit round made every byte durable (or
			// the log was not written since it opened). A round that
			// took the log but is still fsyncing has not published: it
			// leaves durableNext behind, and Close fsyncs itself.
			// Without fsync nothing says what reached the disk (a log
			// recovered after a crash holds what the page cache had):
			// the checkpoint that follows claims it all, so fsync.
			for _, s := range append(l.unsynced, l.active) {
				if err := syncFile(s.f); err != nil {
					serr = append(serr, err)
				}
			}
		}
		if l.dirDirty || l.parentsDirty {
			serr = append(serr, l.syncDirs(l.parentsDirty))
		}
		if err := errors.Join(serr...); err != nil {
			errs = append(errs, err)
		} else {
			l.producersAtClose()
			p := durablePoint{seg: l.active, pos: l.active.size, next: l.next.Load()}
			l.state.Lock()
			l.durable = p
			l.state.Unlock()
			l.durableNext.Store(p.next)
			if err := l.writeCheckpoint(); err != nil {
				errs = append(errs, err)
			}
		}
	}
	l.unsynced = nil
	for _, s := range l.segs {
		if err := s.f.Close(); err != nil {
			errs = append(errs, fmt.Errorf("fs: close %s: %w", s.path, err))
		}
	}
	l.mu.Unlock()
	l.store.release(l.key)
	// Wake long polls so they see the log is gone instead of waiting out
	// their max_wait.
	l.notify()
	return errors.Join(errs...)
}

// setFailed makes err the log's sticky failure (see syncFailed) unless it
// has one, and reports whether it did.
func (l *Log) setFailed(err error) bool {
	return l.failure.CompareAndSwap(nil, &err)
}

// failed is the log's sticky failure, or nil.
func (l *Log) failed() error {
	if p := l.failure.Load(); p != nil {
		return *p
	}
	return nil
}

// Offline implements storage.Log.
func (l *Log) Offline() error { return l.failed() }

// createdEmpty reports whether l is as it was created and never held a
// record: one empty segment at offset 0 and no checkpoint, ever. Every
// file of such a log may be lost to a power cut without losing anything:
// the next open makes the same empty log. So Close writes and fsyncs
// nothing for it; a broker stopped after creating 10,000 partitions wrote
// 10,000 checkpoints and 20,000 index files, and fsynced 30,000 files and
// directories. Caller holds mu and ckptMu.
func (l *Log) createdEmpty() bool {
	// A log in the nursery was never on disk: opened again it starts
	// where its config says, as it did.
	inNursery := l.nursery != nil && !l.nursery.settled.Load()
	return len(l.segs) == 1 && (l.active.base == 0 || inNursery) && l.active.size == 0 &&
		l.ckpt.absent && !l.ckpt.wrote && l.start.Load() == l.active.base &&
		l.cleanedTo.Load() == 0 && l.gapsTo.Load() == 0
}

// syncFile fsyncs f (fdatasync), recording it for the power-loss tests.
func syncFile(f vfs.File) error {
	done := fault.Syncing(f.Name(), false)
	if err := f.SyncData(); err != nil {
		return fmt.Errorf("fs: sync %s: %w: %w", f.Name(), storage.ErrIO, err)
	}
	done()
	return nil
}

// syncDirs fsyncs the partition directory and, when it was created by this
// log, the directories above it up to the store's root.
func (l *Log) syncDirs(parents bool) error {
	fsys := l.store.fsys
	if err := syncDir(fsys, l.dir); err != nil {
		return err
	}
	if !parents {
		return nil
	}
	if err := syncDir(fsys, l.store.topicDir(l.part.Topic)); err != nil {
		return err
	}
	return syncDir(fsys, l.store.dir)
}

// segmentAfterLocked returns the first segment whose base is above base, or
// nil. Caller holds state.
func (l *Log) segmentAfterLocked(base int64) *segment {
	lo, hi := 0, len(l.segs)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if l.segs[m].base <= base {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo == len(l.segs) {
		return nil
	}
	return l.segs[lo]
}

// segmentForLocked returns the segment that holds offset: the last one
// whose base is <= offset. Caller holds state and has checked offset
// against the log start.
func (l *Log) segmentForLocked(offset int64) *segment {
	lo, hi := 0, len(l.segs)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if l.segs[m].base <= offset {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo == 0 {
		return nil
	}
	return l.segs[lo-1]
}

// readableEndLocked is how far into s a reader may read: nothing past the
// high watermark. Caller holds state.
func (l *Log) readableEndLocked(s *segment) int64 {
	switch {
	case l.hwSeg == nil || s.base > l.hwSeg.base:
		return 0
	case s == l.hwSeg:
		return l.hwPos
	default:
		return s.size
	}
}

// segMsDuration converts segment.ms to a Duration, saturating instead of
// overflowing.
func segMsDuration(ms int64) time.Duration {
	if ms > math.MaxInt64/int64(time.Millisecond) {
		return math.MaxInt64
	}
	return time.Duration(ms) * time.Millisecond
}

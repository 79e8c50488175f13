package fs

import (
	"errors"
	"fmt"
	"math"
	"syscall"
	"time"

	"github.com/streamhouse/streamhouse/batch"
	"github.com/streamhouse/streamhouse/storage"
)

// Write and fsync failures.
//
// A write that fails for lack of space (ENOSPC, EDQUOT) is undone: the
// file is cut back to where the batch began, the append fails with
// storage.ErrNoSpace, and the log stays online; the producer retries once
// space is back. Any other failure (EIO on a write, a failed fsync, a cut
// that failed) is the log's sticky failure (storage.ErrIO): appends are
// refused and Offline reports it, and the log heals by itself: heal,
// retried with backoff while it fails, reopens the log from what is on
// disk.
//
// After a failed fsync the kernel may have dropped the pages it could
// not write (and reports the error once): a later fsync that succeeds
// proves nothing about them, and reading them back may return what never
// reached the disk. So nothing past the durable point (the end of what the
// last successful commit round fsynced) is trusted: heal cuts the log
// there, fsyncs the cut, and reloads the log's state from the files and
// the checkpoint as recovery does. Nothing it drops was ever visible to a
// reader (the high watermark never passes the durable point) or
// acknowledged as durable.
//
// The offsets the dropped batches took were handed out: an acks=all
// producer may still call SyncTo with one, and a new batch at the same
// offset must not answer for it. So heal writes one empty batch
// (batch.MakeEmpty, as log compaction leaves) over those offsets, and
// remembers them (lostRange): a SyncTo for any of them fails, however
// late it comes. Offsets stay dense, and no offset ever names two
// different batches.

// Backoff between heal attempts while the failure lasts (a full disk, a
// failing device).
const (
	healFirstWait = 50 * time.Millisecond
	healMaxWait   = 5 * time.Second
)

// maxLostRanges bounds the remembered lost ranges; a SyncTo waits for a
// batch it appended moments before, so old ranges are never asked about.
const maxLostRanges = 64

// lostRange is a range of offsets (from, to] whose batches an I/O failure
// dropped before they were durable: a SyncTo whose target is in it fails
// with err.
type lostRange struct {
	from, to int64
	err      error
}

// isNoSpace reports whether err says the file system is full.
func isNoSpace(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

// noSpaceErr wraps a failure for lack of space as storage.ErrNoSpace.
func noSpaceErr(op, path string, err error) error {
	return fmt.Errorf("fs: %s %s: %w: %w", op, path, storage.ErrNoSpace, err)
}

// writeFailedLocked handles a failed write of a batch at pos of s: the
// bytes that reached the file are cut off. A full file system leaves the
// log as it was (storage.ErrNoSpace); anything else, or a cut that fails,
// is the log's sticky failure. Caller holds mu.
func (l *Log) writeFailedLocked(s *segment, pos int64, err error) error {
	terr := s.f.Truncate(pos)
	if terr == nil && isNoSpace(err) {
		l.store.space.noSpace(err)
		return noSpaceErr("append to", s.path, err)
	}
	err = fmt.Errorf("fs: append to %s: %w: %w", s.path, storage.ErrIO, errors.Join(err, terr))
	l.fail(err)
	return err
}

// fail makes err (wrapping storage.ErrIO) the log's sticky failure unless
// it has one, and starts healing it. It reports whether err became the
// failure.
func (l *Log) fail(err error) bool {
	if !l.setFailed(err) {
		return false
	}
	l.logger.Error("PARTITION OFFLINE: a write or an fsync failed; it reopens from what is on disk, dropping what was not durable, and comes back by itself",
		"err", err)
	l.store.startHealing(l)
	return true
}

// startHealing runs l's heal loop on a goroutine that Close waits for.
func (st *Store) startHealing(l *Log) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.closed {
		return
	}
	st.healers.Add(1)
	go func() {
		defer st.healers.Done()
		l.healLoop(st.healQuit)
	}()
}

// healLoop heals l, retrying with backoff until it succeeds, l closes, or
// quit is closed (the store is closing).
func (l *Log) healLoop(quit <-chan struct{}) {
	wait := healFirstWait
	for tries := 1; ; tries++ {
		t := time.NewTimer(wait)
		select {
		case <-quit:
			t.Stop()
			return
		case <-t.C:
		}
		start := time.Now()
		healed, err := l.heal()
		switch {
		case err == nil && healed.done:
			l.logger.Info("partition back online: reopened from what is on disk",
				"durable_offset", healed.durable, "dropped_offsets", healed.lost-healed.durable,
				"dropped_bytes", healed.droppedBytes, "removed_segments", healed.removedSegs,
				"attempts", tries, "took", time.Since(start).Round(time.Millisecond))
			return
		case err == nil:
			return // closed, or healed already
		}
		if tries == 1 || tries%20 == 0 {
			l.logger.Warn("reopening the partition failed; retrying", "err", err, "attempts", tries, "retry_in", wait)
		}
		wait = min(2*wait, healMaxWait)
	}
}

// healResult says what a heal did.
type healResult struct {
	done         bool
	durable      int64 // the durable point's offset: the log was cut there
	lost         int64 // the next offset before the cut: [durable, lost) were dropped
	droppedBytes int64
	removedSegs  int
}

// heal reopens l after an I/O failure (see the top of this file): the log
// is cut at its durable point, later segments removed, the cut fsynced, an
// empty batch written over the dropped offsets, and the active segment's
// indexes and the producers' state reloaded from the files and the
// checkpoint. A failure leaves the log failed for the next attempt, which
// starts over; every step can be redone.
func (l *Log) heal() (healResult, error) {
	var res healResult
	l.cleanMu.Lock()
	defer l.cleanMu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	cause := l.failed()
	if l.closed || cause == nil || errors.Is(cause, storage.ErrCorrupt) {
		return res, nil
	}
	l.ckptMu.Lock()
	defer l.ckptMu.Unlock()
	// Cut and rewritten in its own files only.
	if err := l.settle(); err != nil {
		return res, err
	}
	if l.pendingSwap != nil {
		// The cleaner's swap failed half way (compact.go): its new
		// segment is durable under its swap name; finish it first.
		if err := l.pendingSwap(); err != nil {
			return res, err
		}
		l.pendingSwap = nil
	}

	// From here on no commit round that prepared l before publishes
	// what it fsynced (its files are cut under it).
	l.state.Lock()
	l.gen++
	d := l.durable
	l.state.Unlock()
	lost := l.next.Load()
	if l.store.noSync {
		// Nothing is fsynced as it goes, and readers saw everything:
		// what was written whole is kept.
		d = durablePoint{seg: l.active, pos: l.active.size, next: lost}
	}
	res.durable, res.lost = d.next, lost
	dropped, removed, err := l.cutLocked(d)
	res.droppedBytes, res.removedSegs = dropped, removed
	if err != nil {
		return res, err
	}
	s := d.seg
	if lost > d.next {
		if lost-1-d.next > math.MaxInt32 || lost-1-s.base > maxSpan {
			return res, fmt.Errorf("fs: reopen %s: %d offsets dropped, more than one batch can cover", l.dir, lost-d.next)
		}
		filler := batch.MakeEmpty(int32(lost - 1 - d.next))
		batch.SetBaseOffset(filler, d.next)
		if _, err := s.f.WriteAt(filler, d.pos); err != nil {
			_ = s.f.Truncate(d.pos)
			return res, fmt.Errorf("fs: reopen %s: write the batch over the dropped offsets: %w", l.dir, err)
		}
	}
	if err := syncFile(s.f); err != nil {
		return res, err
	}
	if err := l.syncDirs(l.parentsDirty); err != nil {
		return res, err
	}
	l.parentsDirty = false
	if err := l.reloadLocked(d, lost); err != nil {
		return res, err
	}
	l.failure.Store(nil)
	res.done = true
	l.notify()
	// Recovery after a crash then starts at the new end; a failure here
	// costs a longer scan, never data.
	if err := l.writeCheckpoint(); err != nil {
		l.logger.Warn("writing the checkpoint after reopening failed", "err", err)
	}
	return res, nil
}

// cutLocked drops everything past the durable point d: the segments after
// d.seg are closed and removed, d.seg is truncated at d.pos and its index
// files, which may describe what is cut, are removed. It returns the bytes
// dropped and how many segments went. Caller holds mu and ckptMu.
func (l *Log) cutLocked(d durablePoint) (dropped int64, removed int, _ error) {
	l.state.RLock()
	i := len(l.segs) - 1
	for i >= 0 && l.segs[i] != d.seg {
		i--
	}
	l.state.RUnlock()
	if i < 0 {
		return 0, 0, fmt.Errorf("fs: reopen %s: the durable point's segment %d is not in the log", l.dir, d.seg.base)
	}
	// Newest first, so that a crash half way leaves a log that recovers
	// to the same point. Readers never read past the high watermark,
	// which is at most the durable point: none is in these files.
	for len(l.segs) > i+1 {
		last := l.segs[len(l.segs)-1]
		dropped += last.size
		_ = last.f.Close()
		if err := last.removeFiles(); err != nil {
			return dropped, removed, fmt.Errorf("fs: reopen %s: remove segment %d: %w", l.dir, last.base, err)
		}
		l.state.Lock()
		l.segs[len(l.segs)-1] = nil
		l.segs = l.segs[:len(l.segs)-1]
		l.state.Unlock()
		removed++
		l.dirDirty = true
	}
	s := d.seg
	if fi, err := s.f.Stat(); err == nil && fi.Size() > d.pos {
		dropped += fi.Size() - d.pos
	}
	if err := s.removeIndexes(); err != nil {
		return dropped, removed, fmt.Errorf("fs: reopen %s: %w", l.dir, err)
	}
	s.diskIndex, s.diskTimeIndex = -1, -1
	if err := s.f.Truncate(d.pos); err != nil {
		return dropped, removed, fmt.Errorf("fs: reopen %s: truncate %s: %w", l.dir, s.path, err)
	}
	if l.dirDirty {
		if err := syncDir(l.store.fsys, l.dir); err != nil {
			return dropped, removed, err
		}
		l.dirDirty = false
	}
	return dropped, removed, nil
}

// reloadLocked rebuilds the in-memory state of l after cutLocked (and the
// empty batch over [d.next, lost)): the active segment's indexes from the
// entries below the durable point and a scan of the rest, the producers'
// state from the checkpoint's snapshot and the batches after it, and the
// offsets. Caller holds cleanMu, mu and ckptMu.
func (l *Log) reloadLocked(d durablePoint, lost int64) error {
	s := d.seg
	l.state.RLock()
	idx, tidx := durableIndexes(d)
	l.state.RUnlock()
	// The segment's state is rebuilt aside, then published: readers use
	// its fields below the high watermark meanwhile.
	n := newSegment(l.store.fsys, l.dir, s.base)
	n.f = s.f
	n.index, n.tindex = idx, tidx
	if ts, rel, ok := lastTimeEntry(tidx); ok {
		n.maxTS, n.maxTSOff = ts, n.base+int64(rel)
	}
	from, next := int64(0), n.base
	if k := len(idx) / indexEntrySize; k > 0 {
		rel, pos := indexEntry(idx, k-1)
		from, next = int64(pos), n.base+int64(rel)
	}
	end := d.pos
	if lost > d.next {
		end += batch.HeaderSize // the empty batch
	}
	stop, why, err := l.scan(n, from, next, end)
	if err == nil && why != nil {
		err = fmt.Errorf("fs: reopen %s: %w at position %d, below the durable point: %w", s.path, storage.ErrCorrupt, stop, why)
	}
	if err != nil {
		return err
	}
	if n.next != lost {
		return fmt.Errorf("fs: reopen %s: %w: the log ends at offset %d, want %d", s.path, storage.ErrCorrupt, n.next, lost)
	}
	if l.ckpt.wrote {
		l.recoveryPoint = l.ckpt.written
	}
	l.state.Lock()
	s.size, s.next = n.size, n.next
	s.index, s.tindex = n.index, n.tindex
	s.maxTS, s.maxTSOff = n.maxTS, n.maxTSOff
	s.sinceIndex = n.sinceIndex
	s.checkedFrom.Store(min(s.checkedFrom.Load(), n.checkedFrom.Load()))
	s.writebackFrom = s.size
	l.active = s
	l.hwSeg, l.hwPos = s, s.size
	p := durablePoint{seg: s, pos: s.size, next: lost}
	l.durable = p
	if lost > d.next {
		l.lost = append(l.lost, lostRange{from: d.next, to: lost, err: l.failed()})
		if len(l.lost) > maxLostRanges {
			l.lost = append(l.lost[:0], l.lost[len(l.lost)-maxLostRanges:]...)
		}
	}
	l.state.Unlock()
	l.durableNext.Store(lost)
	l.hw.Store(lost)
	l.next.Store(lost)
	var size int64
	for _, seg := range l.segs {
		size += seg.size
	}
	l.size.Store(size)
	clear(l.unsynced)
	l.unsynced = l.unsynced[:0]
	l.dataDirty, l.unflushed = false, 0
	// The producers' state at the new end: the last checkpoint's
	// snapshot, then every batch after it, as recovery does.
	l.pidMu.Lock()
	defer l.pidMu.Unlock()
	l.pidPending, l.pidsLost = nil, false
	l.aborted.Store(nil) // loadProducers sets it only when there are some
	return l.loadProducers()
}

// lostErr is the error of a SyncTo whose target offset is in a range an
// I/O failure dropped (see lostRange), or nil.
func (l *Log) lostErr(target int64) error {
	l.state.RLock()
	defer l.state.RUnlock()
	for i := len(l.lost) - 1; i >= 0; i-- {
		if r := l.lost[i]; target > r.from && target <= r.to {
			return fmt.Errorf("fs: sync %s: offsets %d to %d were dropped before they were durable: %w", l.dir, r.from, r.to-1, r.err)
		}
	}
	return nil
}

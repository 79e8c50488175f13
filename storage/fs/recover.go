package fs

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/streamhouse/streamhouse/batch"
	"github.com/streamhouse/streamhouse/internal/fault"
	"github.com/streamhouse/streamhouse/storage"
)

// errGap is a batch whose CRC checks but whose base offset does not follow
// the one before: below it (always), or after a gap where the log was not
// cleaned (see gapAllowed). A torn write cannot produce it, so it is
// corruption: the log refuses to open rather than cut it off.
var errGap = errors.New("base offset does not follow the previous batch")

// gapAllowed reports whether a batch may start at offset after a gap in its
// segment: compaction removes whole batches below the offset that the
// checkpoint records. Without a usable checkpoint nothing tells a cleaned
// log from another, so such gaps are accepted anywhere rather than refusing
// to open a log that compaction made; a torn write cannot make one. A
// segment still ends where the next begins: the cleaner keeps the last
// batch of what it rewrites, empty if need be.
func (l *Log) gapAllowed(offset int64) bool {
	return !l.haveCheckpoint || offset <= l.gapsTo.Load()
}

// recover loads the partition directory into l.segs and sets the offsets.
//
// Every segment is checked from its last offset index entry to its end with
// batch.Parse (all of it when its index files are missing or fail their
// checks). The first batch that is torn or fails its CRC ends the log: the
// file is truncated there and later segments are removed. Removing later
// segments is safe: Sync fsyncs rolled segments before the active one, so a
// segment that a crash could tear has nothing acknowledged as durable after
// it. The same holds for a segment that ends cleanly before the next
// segment's base (its last blocks lost whole).
func (l *Log) recover(ctx context.Context) error {
	fsys := l.store.fsys
	entries, err := fsys.ReadDir(l.dir)
	if err != nil {
		return fmt.Errorf("fs: open %s: %w", l.dir, err)
	}
	if swapped, err := l.finishSwaps(entries); err != nil {
		return err
	} else if swapped {
		if entries, err = fsys.ReadDir(l.dir); err != nil {
			return fmt.Errorf("fs: open %s: %w", l.dir, err)
		}
	}
	var bases []int64
	var sides []string
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() {
			continue
		}
		if strings.HasSuffix(name, extTmp) || strings.HasSuffix(name, extCleaned) || strings.HasSuffix(name, extSwap) {
			if err := fsys.Remove(filepath.Join(l.dir, name)); err != nil {
				return fmt.Errorf("fs: open %s: remove leftover %s: %w", l.dir, name, err)
			}
			l.logger.Warn("removed leftover temporary file", "file", name)
			continue
		}
		base, ext, ok := parseSegmentName(name)
		switch {
		case !ok:
			// Not ours; leave it.
		case ext == extLog:
			bases = append(bases, base)
		case ext == extIndex || ext == extTimeIndex:
			sides = append(sides, name)
		}
	}
	slices.Sort(bases)
	// An index without its segment would be picked up by a future segment
	// of the same base.
	for _, name := range sides {
		base, _, _ := parseSegmentName(name)
		if _, found := slices.BinarySearch(bases, base); !found {
			if err := fsys.Remove(filepath.Join(l.dir, name)); err != nil {
				return fmt.Errorf("fs: open %s: remove orphan %s: %w", l.dir, name, err)
			}
		}
	}

	ck, haveCk, err := l.readCheckpoint()
	if err != nil {
		return err
	}
	if haveCk {
		// What the file holds: a checkpoint that would say the same
		// (an idle partition's, at close) is not written again.
		l.ckpt.written, l.ckpt.wrote = ck, true
		l.start.Store(ck.start)
		l.recoveryPoint = ck
		l.cleanedTo.Store(ck.cleaned)
		l.gapsTo.Store(ck.gaps)
	}
	l.haveCheckpoint = haveCk
	if !haveCk && len(l.initialPids) > 0 {
		// A log created at storage.LogConfig.InitialOffset with the
		// producer state there: loadProducers starts from it.
		l.recoveryPoint.pids = base64.RawURLEncoding.EncodeToString(l.initialPids)
	}
	if l.ckpt.absent {
		// A log closed as it was created made nothing durable, its
		// directory entries included (createdEmpty): its first commit
		// round fsyncs them, as for a new partition.
		l.dirDirty, l.parentsDirty = true, true
	}
	// Segments wholly below the log start offset are what a retention or
	// DeleteRecords interrupted by a crash had still to remove.
	for len(bases) > 1 && haveCk && bases[1] <= ck.start {
		if err := newSegment(fsys, l.dir, bases[0]).removeFiles(); err != nil {
			return fmt.Errorf("fs: open %s: remove segment below the log start offset: %w", l.dir, err)
		}
		l.logger.Info("removed a segment below the log start offset", "segment", bases[0], "log_start_offset", ck.start)
		bases = bases[1:]
	}
	if len(bases) == 0 {
		if haveCk && ck.pos > 0 {
			return fmt.Errorf("fs: open %s: %w: no segment, but the checkpoint says offset %d was durable", l.dir, storage.ErrCorrupt, ck.next)
		}
		s, err := createSegment(fsys, l.dir, max(l.initial, l.start.Load()))
		if err != nil {
			return fmt.Errorf("fs: open %s: %w", l.dir, err)
		}
		l.segs = []*segment{s}
		l.dirDirty = true
		return nil
	}
	for _, base := range bases {
		s := newSegment(fsys, l.dir, base)
		f, err := fsys.OpenFile(s.path, os.O_RDWR, 0)
		if err != nil {
			return fmt.Errorf("fs: open segment: %w", err)
		}
		s.f = f
		l.segs = append(l.segs, s)
	}
	cut := false // a torn tail was cut off
	for i := 0; i < len(l.segs); i++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		c, err := l.recoverSegment(i)
		if err != nil {
			return err
		}
		if c {
			cut = true
			break
		}
	}
	if haveCk && ck.pos > 0 {
		last := l.segs[len(l.segs)-1]
		if last.base < ck.segBase || last.base == ck.segBase && last.size < ck.pos {
			return fmt.Errorf("fs: open %s: %w: the log ends at offset %d, below the recovery point %d",
				l.dir, storage.ErrCorrupt, last.next, ck.next)
		}
	}
	if !l.store.clean && !l.store.noSync && (!l.store.fsSynced || cut) {
		// What a crashed process wrote is in the page cache, maybe not on
		// disk: make it durable before readers see it (the store's
		// syncfs did, unless it was not offered; a cut made since is
		// this log's to make durable).
		for _, s := range l.segs {
			if s.base >= ck.segBase {
				if err := syncFile(s.f); err != nil {
					return err
				}
			}
		}
		if err := syncDir(fsys, l.dir); err != nil {
			return err
		}
	}
	return nil
}

// belowRecoveryPoint reports whether byte pos of s is below the checkpoint's
// recovery point: everything there was fsynced, so a check failing there is
// media corruption, not a torn write.
func (l *Log) belowRecoveryPoint(s *segment, pos int64) bool {
	ck := l.recoveryPoint
	return s.base < ck.segBase || s.base == ck.segBase && pos < ck.pos
}

// recoverSegment checks segment i (see recover). cut reports that the log
// now ends in it.
func (l *Log) recoverSegment(i int) (cut bool, _ error) {
	s := l.segs[i]
	last := i == len(l.segs)-1
	fi, err := s.f.Stat()
	if err != nil {
		return false, fmt.Errorf("fs: open segment: %w", err)
	}
	size := fi.Size()
	if size > math.MaxUint32 {
		return false, fmt.Errorf("fs: open %s: %w: %d bytes, more than an index can address", s.path, storage.ErrCorrupt, size)
	}
	span := int64(maxSpan) + 1
	if !last {
		span = l.segs[i+1].base - s.base
	}

	loaded := l.loadIndexes(s, size, span, !last)
	from, next := int64(0), s.base
	if n := len(s.index) / indexEntrySize; n > 0 {
		rel, pos := indexEntry(s.index, n-1)
		from, next = int64(pos), s.base+int64(rel)
	}
	idxLen, tidxLen := len(s.index), len(s.tindex)
	end, why, err := l.scan(s, from, next, size)
	if err != nil {
		return false, err
	}

	if why == nil && !last {
		switch nb := l.segs[i+1].base; {
		case s.next > nb:
			return false, fmt.Errorf("fs: open %s: %w: segment ends at offset %d, after the next segment's base %d",
				s.path, storage.ErrCorrupt, s.next, nb)
		case s.next < nb:
			why = fmt.Errorf("segment ends at offset %d, before the next segment's base %d", s.next, nb)
		}
	}
	if why != nil {
		if l.belowRecoveryPoint(s, end) {
			return false, fmt.Errorf("fs: open %s: %w at position %d (offset %d), below the recovery point (offset %d): %w",
				s.path, storage.ErrCorrupt, end, s.next, l.recoveryPoint.next, why)
		}
		if err := l.cutTail(i, end, size, loaded, why); err != nil {
			return false, err
		}
		return true, nil
	}
	if !last {
		s.addTimeEntry()
		if !loaded || len(s.index) != idxLen || len(s.tindex) != tidxLen {
			if err := s.writeIndexes(); err != nil {
				l.logger.Warn("writing rebuilt index files failed", "segment", s.base, "err", err)
			}
		}
	}
	return false, nil
}

// cutTail ends the log at byte end of segment i: later segments go (newest
// first, so that a crash half way leaves a prefix that recovers the same
// way), then the file is truncated and its index files, which may describe
// the bytes cut off, are removed.
func (l *Log) cutTail(i int, end, size int64, loaded bool, why error) error {
	s := l.segs[i]
	var droppedBytes int64
	for j := len(l.segs) - 1; j > i; j-- {
		d := l.segs[j]
		if fi, err := d.f.Stat(); err == nil {
			droppedBytes += fi.Size()
		}
		_ = d.f.Close()
		if err := d.removeFiles(); err != nil {
			return fmt.Errorf("fs: open %s: remove segment after the torn tail: %w", l.dir, err)
		}
	}
	l.logger.Warn("truncating the log at a torn or corrupt tail",
		"segment", s.base, "position", end, "offset", s.next,
		"truncated_bytes", size-end, "removed_segments", len(l.segs)-1-i,
		"removed_bytes", droppedBytes, "reason", why)
	clear(l.segs[i+1:])
	l.segs = l.segs[:i+1]
	if err := s.removeIndexes(); err != nil {
		return fmt.Errorf("fs: open %s: %w", s.path, err)
	}
	if end < size {
		if err := s.f.Truncate(end); err != nil {
			return fmt.Errorf("fs: open %s: truncate: %w", s.path, err)
		}
	}
	if !loaded {
		return nil
	}
	// The loaded indexes may point past the cut, and their time entries
	// may stand for batches cut off: rebuild from the start. The bytes
	// before the last index entry were not checked yet either, so the
	// rebuild may cut again, at most once more.
	s.resetIndexes()
	end2, why2, err := l.scan(s, 0, s.base, end)
	if err != nil {
		return err
	}
	if why2 != nil {
		if l.belowRecoveryPoint(s, end2) {
			return fmt.Errorf("fs: open %s: %w at position %d (offset %d), below the recovery point (offset %d): %w",
				s.path, storage.ErrCorrupt, end2, s.next, l.recoveryPoint.next, why2)
		}
		l.logger.Warn("truncating the log at a corrupt batch found while rebuilding the index",
			"segment", s.base, "position", end2, "offset", s.next, "truncated_bytes", end-end2, "reason", why2)
		if err := s.f.Truncate(end2); err != nil {
			return fmt.Errorf("fs: open %s: truncate: %w", s.path, err)
		}
	}
	return nil
}

// scan replays the batches of s from pos, a batch boundary where offset
// next starts, up to size, checking each with batch.Parse and feeding it to
// addBatch. It stops at the first batch that is cut short or fails a check
// and returns why; end is where the valid batches end. err is an I/O error
// or corruption that must not be cut off.
func (l *Log) scan(s *segment, pos, next, size int64) (end int64, why, err error) {
	w := window{f: s.f, chunk: recoverChunk}
	s.size, s.next, s.sinceIndex = pos, next, 0
	s.checkedFrom.Store(pos)
	for pos < size {
		_, h, perr, err := w.checkedBatch(pos, size)
		if err != nil {
			return pos, nil, fmt.Errorf("fs: open %s: read at %d: %w: %w", s.path, pos, storage.ErrIO, err)
		}
		if perr == nil && h.LastOffsetDelta < 0 {
			perr = fmt.Errorf("%w: negative lastOffsetDelta %d", batch.ErrCount, h.LastOffsetDelta)
		}
		if perr != nil {
			return pos, perr, nil
		}
		if h.BaseOffset < next || h.BaseOffset > next && !l.gapAllowed(h.BaseOffset) {
			return pos, nil, fmt.Errorf("fs: open %s: %w at position %d: %w: batch at offset %d, expected %d",
				s.path, storage.ErrCorrupt, pos, errGap, h.BaseOffset, next)
		}
		s.addBatch(pos, &h, l.interval)
		pos += int64(h.Size())
		next = h.NextOffset()
	}
	return pos, nil, nil
}

// loadIndexes reads s's index files into s when both are present and pass
// their checks, and reports whether it did. The last offset entry must
// point at a batch header with the offset it claims, which catches an index
// left from before the file was cut and rewritten. A closed segment with
// batches must have a time entry: its last one is the segment's maximum.
func (l *Log) loadIndexes(s *segment, size, span int64, closed bool) bool {
	idx, err := readFile(l.store.fsys, s.sidePath(extIndex))
	if err == nil {
		var tidx []byte
		tidx, err = readFile(l.store.fsys, s.sidePath(extTimeIndex))
		if err == nil {
			err = l.checkIndexes(s, idx, tidx, size, span, closed)
		}
		if err == nil {
			s.index, s.tindex = idx, tidx
			s.diskIndex, s.diskTimeIndex = len(idx), len(tidx)
			if ts, rel, ok := lastTimeEntry(tidx); ok {
				s.maxTS, s.maxTSOff = ts, s.base+int64(rel)
			}
			return true
		}
	}
	if errors.Is(err, os.ErrNotExist) && size == 0 {
		return true // an empty segment needs none (see Log.createdEmpty)
	}
	if errors.Is(err, os.ErrNotExist) {
		l.logger.Info("index files missing; rebuilding them from the segment", "segment", s.base)
	} else {
		l.logger.Warn("index files not usable; rebuilding them from the segment", "segment", s.base, "err", err)
	}
	return false
}

func (l *Log) checkIndexes(s *segment, idx, tidx []byte, size, span int64, closed bool) error {
	if err := checkIndex(idx, size, span); err != nil {
		return err
	}
	if err := checkTimeIndex(tidx, span); err != nil {
		return err
	}
	if closed && size > 0 && len(tidx) == 0 {
		return fmt.Errorf("%w: no time entry for a closed segment", errIndex)
	}
	n := len(idx) / indexEntrySize
	if n == 0 {
		return nil
	}
	rel, pos := indexEntry(idx, n-1)
	var hb [batch.HeaderSize]byte
	if _, err := s.f.ReadAt(hb[:], int64(pos)); err != nil {
		return fmt.Errorf("%w: last entry: %w", errIndex, err)
	}
	if h, err := batch.ReadHeader(hb[:]); err != nil || h.BaseOffset != s.base+int64(rel) {
		return fmt.Errorf("%w: last entry (%d, %d) does not point at its batch", errIndex, rel, pos)
	}
	return nil
}

// finishSwaps completes the segment swaps of a cleaning pass that a crash
// interrupted (compact.go), given the partition directory's entries. A
// <first>.log.<last>.swap file is a cleaned replacement, fsynced before it
// got that name, for the segments with bases first to last: they and their
// indexes go, and the swap file becomes <first>.log. swapped reports that
// the directory changed.
func (l *Log) finishSwaps(entries []os.DirEntry) (swapped bool, _ error) {
	for _, e := range entries {
		first, last, ok := parseSwapName(e.Name())
		if !ok {
			continue
		}
		var doomed []string
		for _, e := range entries {
			base, ext, ok := parseSegmentName(e.Name())
			if ok && base >= first && base <= last && (ext == extIndex || ext == extTimeIndex || ext == extLog && base != first) {
				doomed = append(doomed, e.Name())
			}
		}
		if err := l.swapIn(doomed, first, last); err != nil {
			return swapped, fmt.Errorf("fs: open %s: finish the swap of %s: %w", l.dir, e.Name(), err)
		}
		swapped = true
		l.logger.Info("finished swapping in a cleaned segment", "segment", first, "replaced_through", last)
	}
	return swapped, nil
}

// swapIn replaces the segments with bases first to last by the swap file:
// doomed (their index files and the segments after first) go, then the
// swap file is renamed over <first>.log, then the directory is fsynced.
// Every step can be redone after a crash.
func (l *Log) swapIn(doomed []string, first, last int64) error {
	fsys := l.store.fsys
	for _, name := range doomed {
		if err := fsys.Remove(filepath.Join(l.dir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	fault.Crash("clean-swap")
	// A swap file gone is a rename done by a try that failed after it.
	if err := fsys.Rename(filepath.Join(l.dir, swapName(first, last)), filepath.Join(l.dir, segmentName(first, extLog))); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return syncDir(fsys, l.dir)
}

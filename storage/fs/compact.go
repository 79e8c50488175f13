package fs

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"

	"github.com/streamhouse/streamhouse/batch"
	"github.com/streamhouse/streamhouse/internal/fault"
	"github.com/streamhouse/streamhouse/storage"
)

// Compaction, as Kafka's LogCleaner does it:
//
//  1. Plan (planClean): the cleanable segments are the closed ones before
//     the first that is not wholly durable and below the high watermark,
//     holds an offset at or past the first unstable offset (an open
//     transaction), or is younger than min.compaction.lag.ms. Those
//     below the cleaned offset are clean, the rest dirty; a pass runs
//     when dirty bytes are at least min.cleanable.dirty.ratio of both, or
//     the oldest dirty record is older than max.compaction.lag.ms.
//  2. Index (indexKeys): the dirty segments' keys go into a KeyIndex, each
//     to the offset of its last record, as far as the index holds whole
//     segments. Aborted transactions' records and control batches are
//     not keys' values. This step's loop (storage.IndexSegments) and the
//     records' fate in it and the next are storage.BatchCleaner's, which
//     storage/tiered's remote cleaner shares.
//  3. Clean (cleanGroup): every cleanable segment up to the end of what
//     was indexed is rewritten, in groups of consecutive segments whose
//     sizes add up to segment.bytes at most, into one new segment named
//     after the group's first. A record stays when its key's latest
//     offset is its own or unknown; a tombstone (null value) only while
//     its batch is younger than delete.retention.ms; a record without a
//     key or in an aborted transaction never. A batch keeps its base
//     offset, lastOffsetDelta and producer fields (Kafka's filterTo), so
//     offsets never move; a batch left with no record goes, unless it is
//     its producer's last, which stays empty so that the producer's
//     sequence survives, and so does the group's last batch, so that a
//     segment still ends where the next begins (recovery checks that).
//     Control batches (transaction markers) stay.
//  4. Swap: the new segment is written to <first>.log.cleaned and
//     fsynced, renamed to <first>.log.<last>.swap (the commit point, made
//     durable by a directory fsync), then the group's index files and
//     segments after the first are removed and the swap file is renamed
//     over <first>.log. Recovery finishes a swap it finds and deletes a
//     .cleaned file, so a crash leaves either the old segments or the new
//     one. Before the first swap the checkpoint records the offset below
//     which gaps may now appear; after the last, how far the log is
//     clean.
//
// Readers that picked an old segment keep reading its file (unlinked, still
// open) or, if it was closed under them, retry (Read).

// cleanPlan is what one pass works on.
type cleanPlan struct {
	segs       []*segment // the cleanable segments
	dirtyFrom  int        // segs[dirtyFrom:] are dirty
	limit      int64      // base of the first segment after segs
	firstDirty int64
	segBytes   int64
	aborted    map[int64][]storage.AbortedTxn // by producer id
	lastBatch  map[int64]int64                // producer id -> last offset of its last batch
}

// Compact implements storage.Log.
func (l *Log) Compact(ctx context.Context, p storage.CompactPolicy) (storage.CompactResult, error) {
	var res storage.CompactResult
	l.cleanMu.Lock()
	defer l.cleanMu.Unlock()
	plan, err := l.planClean(p)
	if err != nil || plan == nil {
		return res, err
	}
	c := &cleaner{l: l, p: p, plan: plan, bc: storage.BatchCleaner{
		Policy: p, Keys: storage.NewKeyIndex(p.MaxKeys), Aborted: plan.aborted, LastBatch: plan.lastBatch,
	}}
	n, err := c.indexKeys(ctx)
	if err != nil {
		return res, err
	}
	if n == plan.dirtyFrom {
		return res, fmt.Errorf("fs: compact %s: the key index holds %d keys, fewer than segment %d has: raise log.cleaner.dedupe.buffer.size",
			l.dir, p.MaxKeys, plan.segs[n].base)
	}
	cleanedTo := plan.limit
	if n < len(plan.segs) {
		cleanedTo = plan.segs[n].base
	}
	// Gaps may appear below cleanedTo from the first swap on: recovery
	// must know before any exists.
	if err := l.checkpointCleaner(l.cleanedTo.Load(), max(l.gapsTo.Load(), cleanedTo)); err != nil {
		return res, err
	}
	res.Keys, res.KeyIndexBytes = c.bc.Keys.Len(), c.bc.Keys.Bytes()
	for _, g := range groupSegments(plan.segs[:n], plan.segBytes) {
		if err := c.cleanGroup(ctx, g, &res); err != nil {
			return res, err
		}
	}
	if err := l.checkpointCleaner(cleanedTo, l.gapsTo.Load()); err != nil {
		return res, err
	}
	res.CleanedTo = cleanedTo
	l.logger.Info("log cleaned", "segments", res.Segments, "into", res.Groups,
		"bytes_before", res.BytesBefore, "bytes_after", res.BytesAfter,
		"records_read", res.RecordsRead, "records_kept", res.RecordsKept,
		"keys", res.Keys, "key_index_bytes", res.KeyIndexBytes, "cleaned_to", cleanedTo)
	return res, nil
}

// planClean picks the cleanable segments, or returns nil when the log is
// not due a pass.
func (l *Log) planClean(p storage.CompactPolicy) (*cleanPlan, error) {
	l.mu.Lock()
	if err := l.usableLocked("compact"); err != nil {
		l.mu.Unlock()
		return nil, err
	}
	lastBatch := l.pids.LastOffsets()
	segBytes := l.segBytes
	l.state.RLock()
	l.mu.Unlock()
	now := p.Now.UnixMilli()
	unstable := l.firstUnstable.Load()
	bound := 0
	if l.hwSeg != nil && (l.store.noSync || l.durable.seg != nil) {
		for bound < len(l.segs)-1 {
			s := l.segs[bound]
			if s == l.hwSeg || !l.store.noSync && s == l.durable.seg ||
				unstable >= 0 && s.next > unstable ||
				p.MinLagMs > 0 && s.maxTS > now-p.MinLagMs {
				break
			}
			bound++
		}
	}
	segs := append([]*segment(nil), l.segs[:bound]...)
	limit := l.segs[bound].base
	l.state.RUnlock()

	firstDirty := max(l.cleanedTo.Load(), l.start.Load())
	dirtyFrom := 0
	var clean, dirty int64
	for i, s := range segs {
		if s.next <= firstDirty {
			dirtyFrom = i + 1
			clean += s.size
		} else {
			dirty += s.size
		}
	}
	if dirtyFrom == len(segs) || dirty == 0 {
		return nil, nil
	}
	due := float64(dirty)/float64(clean+dirty) >= p.MinCleanableRatio
	if !due && p.MaxLagMs >= 0 && p.MaxLagMs < math.MaxInt64 {
		// The oldest dirty record is in the first dirty segment's first
		// batch, or after it.
		var hb [batch.HeaderSize]byte
		if _, err := segs[dirtyFrom].f.ReadAt(hb[:], 0); err == nil {
			if h, err := batch.ReadHeader(hb[:]); err == nil && now-h.BaseTimestamp > p.MaxLagMs {
				due = true
			}
		}
	}
	if !due {
		return nil, nil
	}
	aborted := make(map[int64][]storage.AbortedTxn)
	for _, a := range l.abortedView() {
		if a.FirstOffset < limit {
			aborted[a.ProducerID] = append(aborted[a.ProducerID], a)
		}
	}
	return &cleanPlan{
		segs: segs, dirtyFrom: dirtyFrom, limit: limit, firstDirty: firstDirty,
		segBytes: segBytes, aborted: aborted, lastBatch: lastBatch,
	}, nil
}

// checkpointCleaner records the cleaner's offsets in the checkpoint.
func (l *Log) checkpointCleaner(cleaned, gaps int64) error {
	l.ckptMu.Lock()
	defer l.ckptMu.Unlock()
	oldC, oldG := l.cleanedTo.Load(), l.gapsTo.Load()
	l.cleanedTo.Store(cleaned)
	l.gapsTo.Store(gaps)
	if err := l.writeCheckpoint(); err != nil {
		// cleanedTo goes back; gapsTo keeps the higher bound, which the
		// failed write may have put on disk.
		l.cleanedTo.Store(oldC)
		l.gapsTo.Store(max(oldG, gaps))
		return err
	}
	return nil
}

// groupSegments splits segs into runs of consecutive segments that fit one
// segment: at most segBytes together (a segment larger than that alone)
// and offsets an index can address.
func groupSegments(segs []*segment, segBytes int64) [][]*segment {
	var out [][]*segment
	for i := 0; i < len(segs); {
		j, size := i+1, segs[i].size
		for j < len(segs) && size+segs[j].size <= segBytes && segs[j].next-segs[i].base <= maxSpan {
			size += segs[j].size
			j++
		}
		out = append(out, segs[i:j])
		i = j
	}
	return out
}

// cleaner is one pass's working state.
type cleaner struct {
	l    *Log
	p    storage.CompactPolicy
	plan *cleanPlan
	bc   storage.BatchCleaner // the records' fate

	w   window
	out []byte // batches to write
}

// eachBatch calls fn with each batch of s, CRC-checked.
func (c *cleaner) eachBatch(ctx context.Context, s *segment, fn func(b []byte, h *batch.Header) error) error {
	c.w = window{f: s.f, buf: c.w.buf[:0], chunk: recoverChunk}
	for pos := int64(0); pos < s.size; {
		if err := ctx.Err(); err != nil {
			return err
		}
		b, h, perr, err := c.w.checkedBatch(pos, s.size)
		if err != nil {
			return ioErr(s, pos, err)
		}
		if perr != nil {
			return c.l.corrupted(corruptAt(s, pos, perr))
		}
		if err := fn(b, &h); err != nil {
			return err
		}
		pos += int64(h.Size())
	}
	return nil
}

// indexKeys puts the keys of the dirty segments into the key index and
// returns the index in plan.segs after the last segment indexed whole.
func (c *cleaner) indexKeys(ctx context.Context) (int, error) {
	plan := c.plan
	n, err := storage.IndexSegments(ctx, &c.bc, plan.segs[plan.dirtyFrom:], plan.firstDirty, "fs: compact "+c.l.dir, c.eachBatch)
	return plan.dirtyFrom + n, err
}

// filter appends to c.out what stays of batch b; last says it ends the
// group, and so stays, empty if need be, so that the new segment ends where
// the next one begins (recovery checks that).
func (c *cleaner) filter(b []byte, h *batch.Header, last bool, res *storage.CompactResult) error {
	out, read, kept, err := c.bc.Filter(c.out, b, h, last)
	if err != nil {
		return fmt.Errorf("fs: compact %s: %w", c.l.dir, err)
	}
	c.out = out
	res.RecordsRead += int64(read)
	res.RecordsKept += int64(kept)
	return nil
}

// cleanGroup rewrites the segments of g into one and swaps it in.
func (c *cleaner) cleanGroup(ctx context.Context, g []*segment, res *storage.CompactResult) (err error) {
	l := c.l
	first, last := g[0], g[len(g)-1]
	fsys := l.store.fsys
	var size int64
	for _, s := range g {
		size += s.size
	}
	if !l.store.space.fits(size) {
		// Below storage.min.free.bytes the cleaner goes on (it is one
		// way space comes back), but only with groups whose output fits
		// in what the guard keeps free.
		return fmt.Errorf("fs: compact %s: %w: a group of %d bytes does not fit in the free space the guard keeps", l.dir, storage.ErrNoSpace, size)
	}
	out := newSegment(fsys, l.dir, first.base)
	tmp := out.path + extCleaned
	f, err := fsys.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("fs: compact %s: %w: %w", l.dir, storage.ErrIO, err)
	}
	out.f = f
	swapped := false
	defer func() {
		if !swapped {
			_ = f.Close()
			_ = fsys.Remove(tmp)
		}
	}()
	var before int64
	flush := func() error {
		if len(c.out) == 0 {
			return nil
		}
		pos := out.size
		for at := 0; at < len(c.out); {
			h, _ := batch.ReadHeader(c.out[at:])
			out.addBatch(pos+int64(at), &h, l.interval)
			at += h.Size()
		}
		if _, err := f.WriteAt(c.out, pos); err != nil {
			if isNoSpace(err) {
				return noSpaceErr("compact", l.dir, err)
			}
			return fmt.Errorf("fs: compact %s: %w: %w", l.dir, storage.ErrIO, err)
		}
		c.out = c.out[:0]
		return nil
	}
	for _, s := range g {
		before += s.size
		err := c.eachBatch(ctx, s, func(b []byte, h *batch.Header) error {
			if err := c.filter(b, h, s == last && h.NextOffset() == s.next, res); err != nil {
				return err
			}
			if len(c.out) >= recoverChunk {
				return flush()
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	if err := flush(); err != nil {
		return err
	}
	out.addTimeEntry()
	res.Segments += len(g)
	res.Groups++
	res.BytesBefore += before
	res.BytesAfter += out.size
	if len(g) == 1 && out.size == before {
		return nil // nothing removed: keep the old file
	}
	if err := syncFile(f); err != nil {
		return err
	}
	fault.Crash("clean-before-swap")
	swap := filepath.Join(l.dir, swapName(first.base, last.base))
	if err := fsys.Rename(tmp, swap); err != nil {
		return fmt.Errorf("fs: compact %s: %w: %w", l.dir, storage.ErrIO, err)
	}
	if err := syncDir(fsys, l.dir); err != nil {
		// Not committed: undone, so that no open finishes it.
		if rerr := fsys.Remove(swap); rerr != nil {
			l.logger.Warn("removing an uncommitted swap file failed; the next open finishes the swap it stands for", "file", swap, "err", rerr)
		}
		return fmt.Errorf("fs: compact %s: %w", l.dir, err)
	}
	swapped = true
	var doomed []string
	for _, s := range g {
		doomed = append(doomed, segmentName(s.base, extIndex), segmentName(s.base, extTimeIndex))
		if s != first {
			doomed = append(doomed, segmentName(s.base, extLog))
		}
	}
	// install puts out in the place of g. Caller holds mu.
	install := func() {
		if err := out.writeIndexes(); err != nil {
			l.logger.Warn("writing a cleaned segment's index files failed; they will be rebuilt on open", "segment", out.base, "err", err)
		}
		l.state.Lock()
		i := 0
		for i < len(l.segs) && l.segs[i] != first {
			i++
		}
		l.segs[i] = out
		n := copy(l.segs[i+1:], l.segs[i+len(g):])
		clear(l.segs[i+1+n:])
		l.segs = l.segs[:i+1+n]
		l.state.Unlock()
		l.unsynced = deleteSegs(l.unsynced, g)
		l.size.Add(out.size - before)
		for _, s := range g {
			_ = s.f.Close()
		}
	}
	if err := l.swapIn(doomed, first.base, last.base); err != nil {
		// The swap file is durable (the commit point): the log must not
		// change its files until the swap is finished, which heal
		// retries (heal.go); a restart would finish it too.
		err = fmt.Errorf("fs: compact %s: swap: %w: %w", l.dir, storage.ErrIO, err)
		l.mu.Lock()
		l.pendingSwap = func() error {
			if err := l.swapIn(doomed, first.base, last.base); err != nil {
				return fmt.Errorf("fs: compact %s: finish the swap: %w", l.dir, err)
			}
			install()
			return nil
		}
		l.mu.Unlock()
		l.fail(err)
		return err
	}
	l.mu.Lock()
	install()
	l.mu.Unlock()
	return nil
}

package tiered

import (
	"bufio"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/streamhouse/streamhouse/batch"
	"github.com/streamhouse/streamhouse/meta"
	"github.com/streamhouse/streamhouse/storage"
)

// Remote compaction: the cluster mode's log cleaner (CompactRemote). There
// the partition's leader holds locally only what it wrote since it took the
// partition over, and the bucket holds the rest as uploaded segments, so
// compaction cleans those: as storage/fs cleans local segments (Kafka's
// LogCleaner), with the records' fate decided by the same
// storage.BatchCleaner, and the segments swapped the way tiered storage
// changes anything, new immutable objects first, then the catalog:
//
//  1. Plan: the cleanable segments are the live remote ones before the
//     first that reaches past the last stable offset (an open
//     transaction) or is younger than min.compaction.lag.ms. Those the
//     cleaner wrote (their IDs begin with cleanedPrefix) and that lie
//     before any other are clean, the rest dirty; a pass runs when the
//     dirty bytes are at least min.cleanable.dirty.ratio of the cleanable
//     ones, or the oldest dirty record is older than
//     max.compaction.lag.ms.
//  2. Index: the dirty segments' keys, as far as the key index holds
//     whole segments (storage.IndexSegments, over this file's eachBatch).
//  3. Clean: every cleanable segment up to the end of what was indexed is
//     rewritten, in groups of consecutive segments of segment.bytes at
//     most together, into one new segment (new upload ID, named after the
//     group's base) with its five objects: the filtered batches (the
//     group's last batch stays, empty if need be, so that the segment
//     ends where it did), its offset and time indexes, the group's
//     aborted transactions, and the producer snapshot of the group's last
//     segment (the state at the same end). A group of clean segments that
//     would come out unchanged is left as it is.
//  4. Swap: as soon as a group's objects are uploaded, one catalog
//     transaction fenced by the partition's lease
//     (meta.RemoteSegments.ReplaceRemoteSegments) records its new segment
//     and marks the old ones Deleting: a deposed leader's pass changes
//     nothing. (Every broker's sweep deletes objects no record names once
//     older than the grace period: a group's stay unrecorded only for its
//     upload, and one whose upload took half the grace is not recorded.)
//     The sweep deletes the old objects after the grace period, so that
//     reads in flight finish; the new objects of a group that did not
//     swap are deleted, or else left to the sweep as orphans.
//  5. The leader's local copies of what was cleaned are removed: its
//     reads below the local log come from the bucket, cleaned.
//
// Offsets never move and no segment boundary is lost, so the leader's WAL
// runs, a new leader's rebuild (remote segments, then committed runs) and
// readers holding a segment's coordinates all stay valid.

// cleanedPrefix begins the upload ID of every segment the remote cleaner
// writes (uploads' IDs are hex, so never begin with it): the partition's
// clean part is its live segments from the first while they bear it, as
// storage/fs keeps its cleaner checkpoint.
const cleanedPrefix = "clean"

// remoteCleanPlan is what one remote pass works on.
type remoteCleanPlan struct {
	segs       []meta.RemoteSegment // the cleanable segments, by base offset
	dirtyFrom  int                  // segs[dirtyFrom:] are dirty
	firstDirty int64
}

// CompactRemote cleans the log's remote segments (the cluster mode's
// compaction, see above) under f, the partition's lease as its leader holds
// it. res.CleanedTo is where the clean part now ends (0 when no pass ran).
func (l *Log) CompactRemote(ctx context.Context, p storage.CompactPolicy, f meta.Fence) (storage.CompactResult, error) {
	var res storage.CompactResult
	plan, err := l.planRemoteClean(ctx, p)
	if err != nil || plan == nil {
		return res, err
	}
	cfg := l.cfg.Load()
	limit := plan.segs[len(plan.segs)-1].EndOffset
	aborted, err := l.cleanAborted(ctx, limit)
	if err != nil {
		return res, err
	}
	lastBatch := map[int64]int64{}
	if live := l.remote.live(); len(live) > 0 {
		// The producers' last batches, as the last segment's snapshot
		// has them: a producer that wrote since has its last batch in
		// the local log, and keeping one more empty batch of it costs
		// a header.
		pids, err := l.st.remoteProducers(ctx, live[len(live)-1])
		if err != nil {
			return res, fmt.Errorf("tiered: compact %s-%d: %w", l.part.Topic, l.part.Partition, err)
		}
		lastBatch = pids.LastOffsets()
	}
	c := &remoteCleaner{l: l, p: p, plan: plan, bc: storage.BatchCleaner{
		Policy: p, Keys: storage.NewKeyIndex(p.MaxKeys), Aborted: aborted, LastBatch: lastBatch,
	}}
	n, err := c.indexKeys(ctx)
	if err != nil {
		return res, err
	}
	if n == plan.dirtyFrom {
		return res, fmt.Errorf("tiered: compact %s-%d: the key index holds %d keys, fewer than remote segment %d has: raise log.cleaner.dedupe.buffer.size",
			l.part.Topic, l.part.Partition, p.MaxKeys, plan.segs[n].BaseOffset)
	}
	res.Keys, res.KeyIndexBytes = c.bc.Keys.Len(), c.bc.Keys.Bytes()
	defer c.release()
	// Each rewritten group is swapped in as soon as it is uploaded: its
	// objects are then unrecorded for the time of one upload, as an
	// upload's are (every broker's sweep deletes objects no record names
	// once they are older than the grace period), and a pass cut short
	// keeps the groups it swapped. Groups go in offset order, so a record
	// dropped for a later value of its key or for its tombstone never
	// outlives, swapped, the older groups that value covers.
	rewritten := 0
	swappedTo := int64(-1)
	defer func() {
		// The local copies of what was swapped go: reads there come
		// from the bucket, cleaned.
		if swappedTo < 0 {
			return
		}
		if _, err := l.seg.RetainBelow(ctx, storage.RetentionPolicy{Now: p.Now, Ms: -1, Bytes: 0}, swappedTo); err != nil {
			l.st.log.Warn("removing local copies of cleaned remote segments failed", "topic", l.part.Topic, "partition", l.part.Partition, "err", err)
		}
		l.tierMu.Lock()
		l.recount()
		l.tierMu.Unlock()
	}()
	for _, g := range groupRemote(plan.segs[:n], cfg.SegmentBytes) {
		s, changed, err := c.cleanGroup(ctx, g, &res)
		if err == nil && changed {
			if took := time.Since(c.putStart); took > l.st.opts.Grace/2 {
				err = fmt.Errorf("tiered: compact %s-%d: uploading segment %d took %v, too close to the grace period after which objects no record names are deleted",
					l.part.Topic, l.part.Partition, s.BaseOffset, took)
			} else {
				old := make([]string, len(g))
				for i, o := range g {
					old[i] = o.ID
				}
				err = l.swapRemote(ctx, f, old, []meta.RemoteSegment{s}, c.aborted)
			}
		}
		if err != nil {
			c.abandon(ctx)
			return res, err
		}
		c.release() // recorded (or nothing uploaded)
		if changed {
			rewritten++
		}
		swappedTo = g[len(g)-1].EndOffset
	}
	cleanedTo := plan.segs[n-1].EndOffset
	res.CleanedTo = cleanedTo
	l.st.log.Info("remote log cleaned", "topic", l.part.Topic, "partition", l.part.Partition,
		"segments", res.Segments, "into", res.Groups, "rewritten", rewritten,
		"bytes_before", res.BytesBefore, "bytes_after", res.BytesAfter,
		"records_read", res.RecordsRead, "records_kept", res.RecordsKept,
		"keys", res.Keys, "cleaned_to", cleanedTo)
	return res, nil
}

// planRemoteClean picks the cleanable segments, or returns nil when the log
// is not due a pass.
func (l *Log) planRemoteClean(ctx context.Context, p storage.CompactPolicy) (*remoteCleanPlan, error) {
	live := l.remote.live()
	start, _ := l.remote.first()
	lso := l.Log.LastStableOffset()
	now := p.Now.UnixMilli()
	bound := 0
	for bound < len(live) {
		s := live[bound]
		if s.EndOffset > lso || p.MinLagMs > 0 && s.MaxTimestamp > now-p.MinLagMs {
			break
		}
		bound++
	}
	segs := live[:bound]
	dirtyFrom := 0
	for dirtyFrom < len(segs) && strings.HasPrefix(segs[dirtyFrom].ID, cleanedPrefix) {
		dirtyFrom++
	}
	if dirtyFrom == len(segs) {
		return nil, nil
	}
	var clean, dirty int64
	for i, s := range segs {
		if i < dirtyFrom {
			clean += s.Size
		} else {
			dirty += s.Size
		}
	}
	due := dirty > 0 && float64(dirty)/float64(clean+dirty) >= p.MinCleanableRatio
	if !due && p.MaxLagMs >= 0 && p.MaxLagMs < math.MaxInt64 {
		// The oldest dirty record is in the first dirty segment's first
		// batch, or after it.
		s := segs[dirtyFrom]
		hb, err := l.st.getRange(ctx, objectKey(s.TopicID, s.Partition, s.BaseOffset, s.ID, ".log"), 0, batch.HeaderSize)
		if err != nil {
			return nil, remoteErr(l.part, err)
		}
		if h, err := batch.ReadHeader(hb); err == nil && now-h.BaseTimestamp > p.MaxLagMs {
			due = true
		}
	}
	if !due {
		return nil, nil
	}
	firstDirty := max(start, segs[dirtyFrom].BaseOffset)
	return &remoteCleanPlan{segs: segs, dirtyFrom: dirtyFrom, firstDirty: firstDirty}, nil
}

// cleanAborted returns the aborted transactions that may hold batches
// below limit, by producer id: those of every live remote segment (their
// .txnindex objects) and of the local log.
func (l *Log) cleanAborted(ctx context.Context, limit int64) (map[int64][]storage.AbortedTxn, error) {
	out := map[int64][]storage.AbortedTxn{}
	for _, s := range l.remote.live() {
		if err := l.loadAborted(ctx, s); err != nil {
			return nil, err
		}
	}
	l.remote.mu.RLock()
	var all []storage.AbortedTxn
	for _, s := range l.remote.segs {
		all = append(all, l.remote.aborted[s.ID]...)
	}
	l.remote.mu.RUnlock()
	all = append(all, l.Log.AbortedTransactions(0, limit)...)
	for _, a := range all {
		if a.FirstOffset < limit && !slices.Contains(out[a.ProducerID], a) {
			out[a.ProducerID] = append(out[a.ProducerID], a)
		}
	}
	return out, nil
}

// groupRemote splits segs into runs of consecutive segments that fit one
// segment: at most segBytes together (a larger one alone), and offsets an
// index entry can address.
func groupRemote(segs []meta.RemoteSegment, segBytes int64) [][]meta.RemoteSegment {
	var out [][]meta.RemoteSegment
	for i := 0; i < len(segs); {
		j, size := i+1, segs[i].Size
		for j < len(segs) && size+segs[j].Size <= segBytes && segs[j].EndOffset-segs[i].BaseOffset <= math.MaxUint32 {
			size += segs[j].Size
			j++
		}
		out = append(out, segs[i:j])
		i = j
	}
	return out
}

// remoteCleaner is one remote pass's working state.
type remoteCleaner struct {
	l    *Log
	p    storage.CompactPolicy
	plan *remoteCleanPlan
	bc   storage.BatchCleaner

	buf      []byte
	written  []meta.RemoteSegment            // uploaded by this pass, not yet recorded
	putStart time.Time                       // when the last group's first object was put
	aborted  map[string][]storage.AbortedTxn // the new segments' aborted transactions, by ID
}

// eachBatch streams remote segment s's batches, CRC-checked, to fn.
func (c *remoteCleaner) eachBatch(ctx context.Context, s meta.RemoteSegment, fn func(b []byte, h *batch.Header) error) error {
	key := objectKey(s.TopicID, s.Partition, s.BaseOffset, s.ID, ".log")
	rc, err := c.l.st.opts.Bucket.Get(ctx, key, 0, s.Size)
	if err != nil {
		return remoteErr(c.l.part, err)
	}
	defer rc.Close()
	r := bufio.NewReaderSize(rc, 1<<20)
	for pos := int64(0); pos < s.Size; {
		if err := ctx.Err(); err != nil {
			return err
		}
		c.buf = slices.Grow(c.buf[:0], batch.HeaderSize)[:batch.HeaderSize]
		if _, err := io.ReadFull(r, c.buf); err != nil {
			return remoteErr(c.l.part, fmt.Errorf("%s at %d: %w", key, pos, err))
		}
		h, err := batch.ReadHeader(c.buf)
		if err != nil || int64(h.Size()) > s.Size-pos {
			return fmt.Errorf("tiered: %s at %d: %w: %v", key, pos, storage.ErrCorrupt, err)
		}
		c.buf = slices.Grow(c.buf, h.Size()-batch.HeaderSize)[:h.Size()]
		if _, err := io.ReadFull(r, c.buf[batch.HeaderSize:]); err != nil {
			return remoteErr(c.l.part, fmt.Errorf("%s at %d: %w", key, pos, err))
		}
		if _, err := batch.Parse(c.buf); err != nil {
			return fmt.Errorf("tiered: %s at %d: %w: %w", key, pos, storage.ErrCorrupt, err)
		}
		if err := fn(c.buf, &h); err != nil {
			return err
		}
		pos += int64(h.Size())
	}
	return nil
}

// indexKeys puts the dirty segments' keys into the key index and returns
// the index in plan.segs after the last segment indexed whole.
func (c *remoteCleaner) indexKeys(ctx context.Context) (int, error) {
	plan := c.plan
	name := fmt.Sprintf("tiered: compact %s-%d", c.l.part.Topic, c.l.part.Partition)
	n, err := storage.IndexSegments(ctx, &c.bc, plan.segs[plan.dirtyFrom:], plan.firstDirty, name, c.eachBatch)
	return plan.dirtyFrom + n, err
}

// segmentWriter builds a new segment's log in a temporary file, and its
// indexes as storage/fs builds a segment's.
type segmentWriter struct {
	f        *os.File
	base     int64
	size     int64
	interval int64
	since    int64
	index    []byte
	tindex   []byte
	maxTS    int64
	maxTSOff int64
	lastTS   int64 // of the last time index entry
	// epochs are the leader epochs of the batches written, as an upload
	// records them (scanSegment).
	epochs []meta.EpochStart
}

func (w *segmentWriter) write(out []byte) error {
	for at := 0; at < len(out); {
		h, _ := batch.ReadHeader(out[at:])
		pos := w.size + int64(at)
		if h.MaxTimestamp > w.maxTS {
			w.maxTS, w.maxTSOff = h.MaxTimestamp, h.BaseOffset
		}
		if k := len(w.epochs); k == 0 || w.epochs[k-1].Epoch != h.PartitionLeaderEpoch {
			w.epochs = append(w.epochs, meta.EpochStart{Epoch: h.PartitionLeaderEpoch, StartOffset: h.BaseOffset})
		}
		if pos > 0 && w.since >= w.interval {
			w.index = binary.BigEndian.AppendUint32(w.index, uint32(h.BaseOffset-w.base))
			w.index = binary.BigEndian.AppendUint32(w.index, uint32(pos))
			w.timeEntry()
			w.since = 0
		}
		w.since += int64(h.Size())
		at += h.Size()
	}
	if _, err := w.f.Write(out); err != nil {
		return err
	}
	w.size += int64(len(out))
	return nil
}

// timeEntry appends (maxTS, its offset) when the maximum grew past the
// last entry.
func (w *segmentWriter) timeEntry() {
	if w.maxTSOff < 0 || len(w.tindex) > 0 && w.maxTS <= w.lastTS {
		return
	}
	w.tindex = binary.BigEndian.AppendUint64(w.tindex, uint64(w.maxTS))
	w.tindex = binary.BigEndian.AppendUint32(w.tindex, uint32(w.maxTSOff-w.base))
	w.lastTS = w.maxTS
}

// cleanGroup rewrites group g into one new segment, uploads its objects,
// and returns its record; changed is false when g was clean and comes out
// as it is (nothing uploaded then).
func (c *remoteCleaner) cleanGroup(ctx context.Context, g []meta.RemoteSegment, res *storage.CompactResult) (meta.RemoteSegment, bool, error) {
	l := c.l
	first, last := g[0], g[len(g)-1]
	f, err := os.CreateTemp(l.st.opts.CacheDir, "clean-*.tmp")
	if err != nil {
		return meta.RemoteSegment{}, false, fmt.Errorf("tiered: compact %s-%d: %w", l.part.Topic, l.part.Partition, err)
	}
	defer func() {
		f.Close()
		os.Remove(f.Name())
	}()
	interval := int64(l.cfg.Load().IndexIntervalBytes)
	if interval <= 0 {
		interval = storage.DefaultIndexIntervalBytes
	}
	w := &segmentWriter{f: f, base: first.BaseOffset, interval: interval, maxTS: math.MinInt64, maxTSOff: -1}
	var before int64
	var out []byte
	dirty := false
	for _, s := range g {
		before += s.Size
		dirty = dirty || !strings.HasPrefix(s.ID, cleanedPrefix)
		err := c.eachBatch(ctx, s, func(b []byte, h *batch.Header) error {
			var read, kept int32
			var err error
			out, read, kept, err = c.bc.Filter(out, b, h, s.ID == last.ID && h.NextOffset() == last.EndOffset)
			if err != nil {
				return fmt.Errorf("tiered: compact %s-%d: %w", l.part.Topic, l.part.Partition, err)
			}
			res.RecordsRead += int64(read)
			res.RecordsKept += int64(kept)
			if len(out) >= 1<<20 {
				err = w.write(out)
				out = out[:0]
			}
			return err
		})
		if err != nil {
			return meta.RemoteSegment{}, false, err
		}
	}
	if err := w.write(out); err != nil {
		return meta.RemoteSegment{}, false, fmt.Errorf("tiered: compact %s-%d: %w", l.part.Topic, l.part.Partition, err)
	}
	w.timeEntry()
	res.Segments += len(g)
	res.Groups++
	res.BytesBefore += before
	res.BytesAfter += w.size
	if !dirty && len(g) == 1 && w.size == before {
		return meta.RemoteSegment{}, false, nil
	}
	id, err := uploadID()
	if err != nil {
		return meta.RemoteSegment{}, false, err
	}
	id = cleanedPrefix + id
	l.st.mu.Lock()
	l.st.uploading[id] = true // the sweep leaves its objects alone until the swap
	l.st.mu.Unlock()
	rec := meta.RemoteSegment{
		TopicID: first.TopicID, Partition: first.Partition, ID: id,
		BaseOffset: first.BaseOffset, EndOffset: last.EndOffset, MaxTimestamp: w.maxTS,
		Size: w.size, CreatedAt: l.st.now(), LeaderEpochs: meta.NewLeaderEpochs(w.epochs),
	}
	c.written = append(c.written, rec)
	c.putStart = time.Now()
	key := func(ext string) string { return objectKey(rec.TopicID, rec.Partition, rec.BaseOffset, id, ext) }
	sum := sha256.New()
	err = retry(ctx, func() error {
		sum.Reset()
		return l.st.put(ctx, key(".log"), io.TeeReader(io.NewSectionReader(f, 0, w.size), sum), w.size)
	})
	if err != nil {
		return rec, false, err
	}
	rec.Checksum = hex.EncodeToString(sum.Sum(nil))
	c.written[len(c.written)-1] = rec
	if err := l.st.putBytes(ctx, key(".index"), w.index); err != nil {
		return rec, false, err
	}
	if err := l.st.putBytes(ctx, key(".timeindex"), w.tindex); err != nil {
		return rec, false, err
	}
	// The group's aborted transactions: every marker stays.
	var aborted []storage.AbortedTxn
	l.remote.mu.RLock()
	for _, s := range g {
		aborted = append(aborted, l.remote.aborted[s.ID]...)
	}
	l.remote.mu.RUnlock()
	txn, err := json.Marshal(nonNil(aborted))
	if err != nil {
		return rec, false, err
	}
	if err := l.st.putBytes(ctx, key(".txnindex"), txn); err != nil {
		return rec, false, err
	}
	if c.aborted == nil {
		c.aborted = map[string][]storage.AbortedTxn{}
	}
	c.aborted[id] = aborted
	// The producers at its end are those at the last segment's.
	snap, err := l.objectBytes(ctx, objectKey(last.TopicID, last.Partition, last.BaseOffset, last.ID, ".snapshot"))
	if err != nil {
		return rec, false, remoteErr(l.part, err)
	}
	if err := l.st.putBytes(ctx, key(".snapshot"), snap); err != nil {
		return rec, false, err
	}
	return rec, true, nil
}

// release lets the sweep have the objects written since the last release:
// recorded by now, or orphans (abandon deletes what it can of those
// first).
func (c *remoteCleaner) release() {
	c.l.st.mu.Lock()
	defer c.l.st.mu.Unlock()
	for _, s := range c.written {
		delete(c.l.st.uploading, s.ID)
	}
	c.written = c.written[:0]
}

// abandon deletes the objects of a pass that swapped nothing in; what it
// cannot delete, the sweep does once the grace period is over.
func (c *remoteCleaner) abandon(ctx context.Context) {
	for _, s := range c.written {
		for _, ext := range []string{".log", ".index", ".timeindex", ".txnindex", ".snapshot"} {
			key := objectKey(s.TopicID, s.Partition, s.BaseOffset, s.ID, ext)
			if err := c.l.st.opts.Bucket.Delete(ctx, key); err != nil {
				c.l.st.log.Debug("deleting an object of an abandoned clean failed; the sweep will", "key", key, "err", err)
			}
		}
	}
}

// swapRemote records add in the place of old in the catalog, fenced by f,
// then in the log's view of its remote segments.
func (l *Log) swapRemote(ctx context.Context, f meta.Fence, old []string, add []meta.RemoteSegment, aborted map[string][]storage.AbortedTxn) error {
	l.uploadMu.Lock()
	defer l.uploadMu.Unlock()
	if l.closed {
		return storage.ErrClosed
	}
	if err := l.st.opts.Catalog.ReplaceRemoteSegments(ctx, f, l.part.TopicID, l.part.Partition, old, add); err != nil {
		return fmt.Errorf("tiered: compact %s-%d: swap: %w", l.part.Topic, l.part.Partition, err)
	}
	l.tierMu.Lock()
	l.remote.replace(old, add, aborted)
	l.recount()
	l.tierMu.Unlock()
	return nil
}

// replace puts add in the place of the live segments with the IDs old.
func (r *remote) replace(old []string, add []meta.RemoteSegment, aborted map[string][]storage.AbortedTxn) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.segs = slices.DeleteFunc(r.segs, func(s meta.RemoteSegment) bool {
		if slices.Contains(old, s.ID) {
			r.bytes -= s.Size
			delete(r.aborted, s.ID)
			return true
		}
		return false
	})
	for _, s := range add {
		r.segs = append(r.segs, s)
		r.bytes += s.Size
		r.aborted[s.ID] = aborted[s.ID]
	}
	slices.SortFunc(r.segs, func(a, b meta.RemoteSegment) int { return cmp.Compare(a.BaseOffset, b.BaseOffset) })
}

// getRange reads n bytes of key from off, uncached.
func (st *Store) getRange(ctx context.Context, key string, off, n int64) ([]byte, error) {
	rc, err := st.opts.Bucket.Get(ctx, key, off, n)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b := make([]byte, n)
	if _, err := io.ReadFull(rc, b); err != nil {
		return nil, fmt.Errorf("%s: %w", key, err)
	}
	return b, nil
}

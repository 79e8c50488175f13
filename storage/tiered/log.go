package tiered

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/streamhouse/streamhouse/batch"
	"github.com/streamhouse/streamhouse/meta"
	"github.com/streamhouse/streamhouse/storage"
)

var _ storage.Log = (*Log)(nil)

// fetchTimeout bounds one GET of a chunk, which the first reader to miss it
// starts and others share; a reader stops waiting at its own deadline.
const fetchTimeout = 30 * time.Second

// Log is a partition's log: the local one, and below it what object storage
// holds. Appends, syncs and reads at or above the local log start go to
// the local log; reads below it are served from the bucket.
type Log struct {
	storage.Log // the local log
	seg         storage.Segmented
	st          *Store
	part        storage.Partition
	cfg         atomic.Pointer[storage.LogConfig]
	remote      *remote

	// uploadMu serialises the upload rounds of this log (uploadPending:
	// up to PartitionUploaders segments at once, recorded in order). Held
	// across the uploads' I/O: nothing on a request's path takes it.
	uploadMu sync.Mutex
	// uploading is set while an upload round of this log runs
	// (uploadAll).
	uploading atomic.Bool
	// tierMu makes moving a segment from one tier to the other (an
	// upload recorded, local copies let go) one step for Size and
	// Retain, which count what each tier holds. Never held across
	// object-store I/O.
	tierMu     sync.Mutex
	retryAfter time.Time // no upload before then (backoff after a failure); guarded by uploadMu
	backoff    time.Duration
	closed     bool // guarded by uploadMu: no upload after Close
	// pids is the producer state at pidsAt, the remote end (guarded by
	// uploadMu): each upload carries it forward through the segment and
	// stores it with the segment (.snapshot), so that a log created
	// empty at the remote end (a restore) starts with it. pidsReady
	// says whether it was loaded (the last segment's, at the first
	// upload after an open).
	pids      storage.ProducerState
	pidsAt    int64
	pidsReady bool
	// planPids is the producer state at planAt, the end of the last
	// segment whose upload started in this round (guarded by uploadMu;
	// planAt is -1 before the first): the next one carries it on.
	planPids storage.ProducerState
	planAt   int64
	// eagerMu guards eager, the eager upload of the active segment, and
	// closedEager, those of segments closed since, until their upload
	// takes them (eager.go); eagerClosed is set once the log closes.
	// eagerBase and eagerSent are the segment eager last sent parts of
	// and how many bytes (math.MaxInt64: it gave that segment up), for a
	// look without the lock; eagerRunning is set while a round of parts
	// runs. Never held across I/O but an abort's.
	eagerMu      sync.Mutex
	eager        *eagerUpload
	closedEager  map[int64]*eagerUpload
	eagerClosed  bool
	eagerBase    atomic.Int64
	eagerSent    atomic.Int64
	eagerRunning atomic.Bool
	// seenBase is the active segment's base at the last look (eagerAll),
	// rolledAt when it was seen to change (UnixNano; 0: the change was
	// handled).
	seenBase atomic.Int64
	rolledAt atomic.Int64
	// eagerCtx ends when the log closes (eagerStop): a part under way
	// stops then, instead of holding Close.
	eagerCtx  context.Context
	eagerStop context.CancelFunc
	// warned is when the upload backlog was last warned of.
	warned atomic.Int64
	// lastIndex is the offset index of the remote segment last read.
	lastIndex atomic.Pointer[segIndex]
	// remoteOnly is the bytes only the bucket holds (its segments less
	// those with local copies), as recount last counted them: Size adds the
	// local log's size to it.
	remoteOnly atomic.Int64
}

// LocalLogStartOffset is the first offset on the local disk (ListOffsets
// EARLIEST_LOCAL_TIMESTAMP).
func (l *Log) LocalLogStartOffset() int64 { return l.Log.LogStartOffset() }

// RemoteEnd is the offset after the last uploaded segment (or the remote
// log start, when higher): what object storage holds ends there.
func (l *Log) RemoteEnd() int64 { return l.remote.end() }

// RemoteEnabled says whether the log is tiered now (remote.storage.enable).
func (l *Log) RemoteEnabled() bool { return l.cfg.Load().Remote.Enable }

// RemoteSize is the bytes of the live remote segments.
func (l *Log) RemoteSize() int64 { return l.remote.size() }

// UploadBacklog is what awaits upload: closed local segments past the
// remote end, their count and bytes.
func (l *Log) UploadBacklog() (segments int, bytes int64) {
	if cfg := l.cfg.Load(); !cfg.Remote.Enable || cfg.Remote.CopyDisable {
		return 0, 0
	}
	end := l.remote.end()
	for _, s := range l.seg.ClosedSegments() {
		if s.Next > end {
			segments++
			bytes += s.Size
		}
	}
	return segments, bytes
}

// LogStartOffset is the first readable offset, remote or local.
func (l *Log) LogStartOffset() int64 {
	local := l.Log.LogStartOffset()
	if first, ok := l.remote.first(); ok && first < local {
		return first
	}
	return local
}

// Reconfigure applies the topic's configs, tiered ones included.
func (l *Log) Reconfigure(cfg storage.LogConfig) {
	if f := l.st.opts.ForceRemote; f != nil && !cfg.Remote.Enable {
		cfg.Remote = *f
	}
	cfg.StaggerFirstRoll = cfg.Remote.Enable
	old := l.cfg.Load()
	l.cfg.Store(&cfg)
	l.Log.Reconfigure(cfg)
	if cfg.Remote.Enable && (!old.Remote.Enable || old.Remote.CopyDisable) ||
		!cfg.Remote.Enable && cfg.Remote.DeleteOnDisable {
		l.st.wakeUploads() // the upload loop also drops remote data
	}
}

// Close waits for an upload under way (a reopened log reads what it
// recorded) and closes the local log.
func (l *Log) Close() error {
	l.uploadMu.Lock()
	l.closed = true
	l.uploadMu.Unlock()
	l.eagerStop()
	l.dropEager(true)
	l.st.forget(l)
	return l.Log.Close()
}

// Read serves offsets below the local log start from object storage, the
// rest from the local log.
func (l *Log) Read(ctx context.Context, offset int64, maxBytes int, minOne bool, dst []byte) ([]byte, error) {
	if offset >= l.Log.LogStartOffset() {
		out, err := l.Log.Read(ctx, offset, maxBytes, minOne, dst)
		if !errors.Is(err, storage.ErrOffsetOutOfRange) || offset >= l.Log.LogStartOffset() {
			return out, err
		}
		// Local retention moved the start past offset meanwhile.
	}
	s, ok := l.remote.find(offset)
	if !ok {
		return dst, fmt.Errorf("tiered: %s-%d: offset %d below the log start %d: %w",
			l.part.Topic, l.part.Partition, offset, l.LogStartOffset(), storage.ErrOffsetOutOfRange)
	}
	return l.readRemote(ctx, s, offset, maxBytes, minOne, dst)
}

// readRemote reads whole batches from segment s, from the one holding
// offset, as Read does; it stops at the segment's end. Batches before
// offset (from the index entry to it) are stepped over by their headers;
// the rest is read in one read of the cache into dst, then cut at the last
// whole batch that fits.
func (l *Log) readRemote(ctx context.Context, s meta.RemoteSegment, offset int64, maxBytes int, minOne bool, dst []byte) ([]byte, error) {
	logKey := objectKey(s.TopicID, s.Partition, s.BaseOffset, s.ID, ".log")
	// A read_committed fetch asks AbortedTransactions next: have them.
	if err := l.loadAborted(ctx, s); err != nil {
		return dst, err
	}
	pos, err := l.indexPosition(ctx, s, offset)
	if err != nil {
		return dst, err
	}
	c := l.st.cache
	var hdr [batch.HeaderSize]byte
	header := func(at int64) (*batch.Header, error) {
		if s.Size-at < batch.HeaderSize {
			return nil, fmt.Errorf("tiered: %s at %d: %d bytes left, short of a batch header: %w", logKey, at, s.Size-at, storage.ErrCorrupt)
		}
		if err := c.readInto(ctx, logKey, s.Size, at, hdr[:]); err != nil {
			return nil, remoteErr(l.part, err)
		}
		h, err := batch.ReadHeader(hdr[:])
		if err != nil {
			return nil, fmt.Errorf("tiered: %s at %d: %w: %w", logKey, at, storage.ErrCorrupt, err)
		}
		return &h, nil
	}
	// Step over the batches wholly before offset.
	var first *batch.Header
	for pos < s.Size {
		h, err := header(pos)
		if err != nil {
			return dst, err
		}
		if h.NextOffset() > offset {
			first = h
			break
		}
		pos += int64(h.Size())
	}
	if first == nil || int(first.Size()) > maxBytes && !minOne {
		return dst, nil
	}
	// One read of what the fetch may take, at least the first batch.
	want := min(s.Size-pos, max(int64(maxBytes), int64(first.Size())))
	start := len(dst)
	dst = slices.Grow(dst, int(want))[:start+int(want)]
	if err := c.readInto(ctx, logKey, s.Size, pos, dst[start:]); err != nil {
		return dst[:start], remoteErr(l.part, err)
	}
	// Whole batches only.
	got := dst[start:]
	n := 0
	for n+batch.HeaderSize <= len(got) {
		h, err := batch.ReadHeader(got[n:])
		if err != nil {
			return dst[:start], fmt.Errorf("tiered: %s at %d: %w: %w", logKey, pos+int64(n), storage.ErrCorrupt, err)
		}
		if n+int(h.Size()) > len(got) {
			break
		}
		n += int(h.Size())
	}
	l.readAhead(s, pos+int64(n))
	return dst[:start+n], nil
}

// readAhead fetches in the background what a sequential reader of segment
// s that stopped at pos asks for next: readAheadChunks chunks, past the
// end of s into the next segment, whose index and aborted transactions
// come first (a read of it needs them before any batch).
func (l *Log) readAhead(s meta.RemoteSegment, pos int64) {
	c := l.st.cache
	left := int64(readAheadChunks)
	first := pos / chunkSize
	if (first+left)*chunkSize >= s.Size {
		// The window reaches the next segment: its index and aborted
		// transactions first (small, and every read of it needs them).
		if next, ok := l.remote.find(s.EndOffset); ok && !l.abortedLoaded(next) {
			c.background(c.aheadSmall, func(ctx context.Context) {
				if _, err := l.objectBytes(ctx, objectKey(next.TopicID, next.Partition, next.BaseOffset, next.ID, ".index")); err == nil {
					l.loadAborted(ctx, next)
				}
			})
		}
	}
	for idx := first; left > 0 && idx*chunkSize < s.Size; idx++ {
		c.readAhead(objectKey(s.TopicID, s.Partition, s.BaseOffset, s.ID, ".log"), s.Size, idx)
		left--
	}
	if left == 0 {
		return
	}
	if next, ok := l.remote.find(s.EndOffset); ok {
		for idx := range min(left, (next.Size+chunkSize-1)/chunkSize) {
			c.readAhead(objectKey(next.TopicID, next.Partition, next.BaseOffset, next.ID, ".log"), next.Size, idx)
		}
	}
}

// abortedLoaded reports whether segment s's aborted transactions are
// loaded: a read or a read-ahead of it got that far.
func (l *Log) abortedLoaded(s meta.RemoteSegment) bool {
	l.remote.mu.RLock()
	defer l.remote.mu.RUnlock()
	_, ok := l.remote.aborted[s.ID]
	return ok
}

// indexPosition returns where in segment s's log object to start looking
// for offset: the last offset index entry at or below it.
func (l *Log) indexPosition(ctx context.Context, s meta.RemoteSegment, offset int64) (int64, error) {
	idx, err := l.segmentIndex(ctx, s)
	if err != nil {
		return 0, remoteErr(l.part, err)
	}
	rel := offset - s.BaseOffset
	var pos int64
	for i := 0; i+8 <= len(idx); i += 8 {
		if int64(binary.BigEndian.Uint32(idx[i:])) > rel {
			break
		}
		pos = int64(binary.BigEndian.Uint32(idx[i+4:]))
	}
	return pos, nil
}

// segmentIndex returns segment s's offset index: the one last read, kept
// (a sequential reader asks for the same segment's many times), else read
// through the cache.
func (l *Log) segmentIndex(ctx context.Context, s meta.RemoteSegment) ([]byte, error) {
	if c := l.lastIndex.Load(); c != nil && c.id == s.ID {
		return c.data, nil
	}
	data, err := l.objectBytes(ctx, objectKey(s.TopicID, s.Partition, s.BaseOffset, s.ID, ".index"))
	if err != nil {
		return nil, err
	}
	l.lastIndex.Store(&segIndex{id: s.ID, data: data})
	return data, nil
}

type segIndex struct {
	id   string
	data []byte
}

// objectBytes reads a small object whole, through the cache.
func (l *Log) objectBytes(ctx context.Context, key string) ([]byte, error) {
	return l.st.cache.object(ctx, key)
}

// remoteErr is a failed read of object storage: retriable, and answered as
// Kafka answers a failed remote read (KAFKA_STORAGE_ERROR).
func remoteErr(p storage.Partition, err error) error {
	if errors.Is(err, storage.ErrCorrupt) {
		return err
	}
	return fmt.Errorf("tiered: read %s-%d from object storage: %w: %w", p.Topic, p.Partition, storage.ErrUnavailable, err)
}

// AbortedTransactions adds the remote segments' aborted transactions
// (read by Read, which a read_committed fetch runs first) to the local
// log's.
func (l *Log) AbortedTransactions(from, to int64) []storage.AbortedTxn {
	out := l.Log.AbortedTransactions(from, to)
	if from >= l.Log.LogStartOffset() {
		return out
	}
	l.remote.mu.RLock()
	var remote []storage.AbortedTxn
	for _, s := range l.remote.segs {
		if s.EndOffset <= from || s.BaseOffset >= to {
			continue
		}
		for _, a := range l.remote.aborted[s.ID] {
			if a.LastOffset >= from && a.FirstOffset < to {
				remote = append(remote, a)
			}
		}
	}
	l.remote.mu.RUnlock()
	if len(remote) == 0 {
		return out
	}
	out = append(remote, out...)
	slices.SortFunc(out, func(a, b storage.AbortedTxn) int { return int(a.LastOffset - b.LastOffset) })
	return slices.CompactFunc(out, func(a, b storage.AbortedTxn) bool { return a == b })
}

// loadAborted reads segment s's aborted transactions from its .txnindex
// object into the cache of them, once.
func (l *Log) loadAborted(ctx context.Context, s meta.RemoteSegment) error {
	l.remote.mu.RLock()
	_, ok := l.remote.aborted[s.ID]
	l.remote.mu.RUnlock()
	if ok {
		return nil
	}
	b, err := l.objectBytes(ctx, objectKey(s.TopicID, s.Partition, s.BaseOffset, s.ID, ".txnindex"))
	if err != nil {
		return remoteErr(l.part, err)
	}
	var aborted []storage.AbortedTxn
	if err := json.Unmarshal(b, &aborted); err != nil {
		return fmt.Errorf("tiered: %s-%d: txnindex of %s: %w: %w", l.part.Topic, l.part.Partition, s.ID, storage.ErrCorrupt, err)
	}
	l.remote.mu.Lock()
	l.remote.aborted[s.ID] = aborted
	l.remote.mu.Unlock()
	return nil
}

// FindTimestamp looks in the remote segments first when the first with a
// max timestamp at or after ts is remote.
func (l *Log) FindTimestamp(ctx context.Context, ts int64, dst []byte) ([]byte, error) {
	local := l.Log.LogStartOffset()
	for _, s := range l.remote.live() {
		if s.BaseOffset >= local {
			break
		}
		if s.MaxTimestamp < ts {
			continue
		}
		off, err := l.timeIndexOffset(ctx, s, ts)
		if err != nil {
			return dst, err
		}
		start := len(dst)
		for off < s.EndOffset && off < local {
			out, err := l.readRemote(ctx, s, off, 1, true, dst[:start])
			if err != nil {
				return dst[:start], err
			}
			if len(out) == start {
				break
			}
			h, err := batch.ReadHeader(out[start:])
			if err != nil {
				return dst[:start], err
			}
			if h.MaxTimestamp >= ts {
				return out, nil
			}
			off = h.NextOffset()
		}
	}
	return l.Log.FindTimestamp(ctx, ts, dst)
}

// timeIndexOffset returns the offset to scan from for ts in segment s: the
// time index's last entry below ts.
func (l *Log) timeIndexOffset(ctx context.Context, s meta.RemoteSegment, ts int64) (int64, error) {
	b, err := l.objectBytes(ctx, objectKey(s.TopicID, s.Partition, s.BaseOffset, s.ID, ".timeindex"))
	if err != nil {
		return 0, remoteErr(l.part, err)
	}
	off := s.BaseOffset
	for i := 0; i+12 <= len(b); i += 12 {
		if int64(binary.BigEndian.Uint64(b[i:])) >= ts {
			break
		}
		off = s.BaseOffset + int64(binary.BigEndian.Uint32(b[i+8:]))
	}
	return off, nil
}

// MaxTimestamp is the local log's, unless a remote segment holds a larger
// one.
func (l *Log) MaxTimestamp(ctx context.Context, dst []byte) ([]byte, error) {
	out, err := l.Log.MaxTimestamp(ctx, dst)
	if err != nil {
		return out, err
	}
	localMax := int64(-1 << 63)
	if len(out) > len(dst) {
		if h, err := batch.ReadHeader(out[len(dst):]); err == nil {
			localMax = h.MaxTimestamp
		}
	}
	var best *meta.RemoteSegment
	local := l.Log.LogStartOffset()
	for _, s := range l.remote.live() {
		if s.BaseOffset < local && s.MaxTimestamp >= localMax && (best == nil || s.MaxTimestamp > best.MaxTimestamp) {
			best = &s
		}
	}
	if best == nil {
		return out, nil
	}
	return l.FindTimestamp(ctx, best.MaxTimestamp, dst)
}

// DeleteRecords moves the log start up to offset over both tiers: the
// catalog's remote log start first, then the remote segments wholly below
// it are given up, then the local log follows.
func (l *Log) DeleteRecords(ctx context.Context, offset int64) (int64, error) {
	start := l.LogStartOffset()
	hw := l.Log.HighWatermark()
	if offset < 0 || offset > hw {
		return start, fmt.Errorf("tiered: delete records of %s-%d below %d, outside [0, %d]: %w", l.part.Topic, l.part.Partition, offset, hw, storage.ErrOffsetOutOfRange)
	}
	if offset <= start {
		return start, nil
	}
	if err := l.moveRemoteStart(ctx, offset); err != nil {
		return start, err
	}
	if offset > l.Log.LogStartOffset() {
		if _, err := l.Log.DeleteRecords(ctx, offset); err != nil {
			return l.LogStartOffset(), err
		}
	}
	l.tierMu.Lock()
	l.recount()
	l.tierMu.Unlock()
	return offset, nil
}

// moveRemoteStart stores the new remote log start and gives up the remote
// segments wholly below it.
func (l *Log) moveRemoteStart(ctx context.Context, offset int64) error {
	cat := l.st.opts.Catalog
	if err := cat.SetRemoteLogStart(ctx, l.part.TopicID, l.part.Partition, offset); err != nil {
		return fmt.Errorf("tiered: %s-%d: %w", l.part.Topic, l.part.Partition, err)
	}
	dead := l.remote.moveStart(offset)
	if len(dead) == 0 {
		return nil
	}
	ids := make([]string, len(dead))
	for i, s := range dead {
		ids[i] = s.ID
	}
	if err := cat.MarkRemoteSegmentsDeleting(ctx, l.part.TopicID, l.part.Partition, ids); err != nil {
		// The start moved: they are no longer read; the sweep finds
		// their records below the start and gives them up.
		l.st.log.Warn("marking remote segments below the log start deleting failed; the sweep retries", "topic", l.part.Topic, "partition", l.part.Partition, "err", err)
	}
	return nil
}

// Retain applies retention.* over both tiers and local.retention.* to the
// local copies of what is uploaded. It holds tierMu: no upload moves a
// segment between the tiers while it counts them.
func (l *Log) Retain(ctx context.Context, p storage.RetentionPolicy) (int, error) {
	cfg := l.cfg.Load()
	if !cfg.Remote.Enable && len(l.remote.live()) == 0 {
		return l.Log.Retain(ctx, p)
	}
	l.tierMu.Lock()
	defer l.tierMu.Unlock()
	n := 0
	// The whole log: the oldest remote segments by retention.ms and by
	// retention.bytes over everything held.
	total := l.sizeLocked()
	now := p.Now.UnixMilli()
	var newStart int64 = -1
	for _, s := range l.remote.live() {
		if (p.Ms >= 0 && now-s.MaxTimestamp > p.Ms) || (p.Bytes >= 0 && total-s.Size >= p.Bytes) {
			total -= s.Size
			newStart = s.EndOffset
			n++
			continue
		}
		break
	}
	if newStart >= 0 {
		if err := l.moveRemoteStart(ctx, newStart); err != nil {
			return n, err
		}
		if newStart > l.Log.LogStartOffset() {
			if _, err := l.Log.DeleteRecords(ctx, min(newStart, l.Log.HighWatermark())); err != nil {
				return n, err
			}
		}
	}
	// Locally, data past retention.* goes whether uploaded or not (it is
	// expired, and needs no upload): by time, and by what the log holds
	// past retention.bytes once the remote segments went. Then
	// local.retention.* removes local copies of uploaded segments only.
	localBytes := int64(-1)
	if p.Bytes >= 0 && len(l.remote.live()) == 0 {
		if over := l.sizeLocked() - p.Bytes; over > 0 {
			localBytes = max(0, l.Log.Size()-over)
		}
	}
	k, err := l.Log.Retain(ctx, storage.RetentionPolicy{Now: p.Now, Ms: p.Ms, Bytes: localBytes})
	n += k
	if err != nil {
		l.recount()
		return n, err
	}
	if !cfg.Remote.Enable || cfg.Remote.CopyDisable {
		// With copying off (KIP-950), local.retention.* no longer
		// applies: the local log keeps what retention.* keeps.
		l.recount()
		return n, nil
	}
	// Local copies that go are still in the log (in the bucket): not
	// counted.
	_, err = l.seg.RetainBelow(ctx, storage.RetentionPolicy{Now: p.Now, Ms: cfg.Remote.LocalRetentionMs, Bytes: cfg.Remote.LocalRetentionBytes}, l.remote.end())
	l.recount()
	l.warnBacklog(cfg)
	return n, err
}

// warnBacklog says, at most once a minute, that local retention holds
// segments it would remove because they are not uploaded yet.
func (l *Log) warnBacklog(cfg *storage.LogConfig) {
	segs, bytes := l.UploadBacklog()
	if segs < 2 || cfg.Remote.LocalRetentionBytes < 0 || l.Log.Size() <= cfg.Remote.LocalRetentionBytes {
		return
	}
	now := l.st.now().UnixMilli()
	if last := l.warned.Load(); now-last < 60_000 || !l.warned.CompareAndSwap(last, now) {
		return
	}
	l.st.log.Warn("local retention keeps segments that are not uploaded yet: the local log grows until the uploads catch up",
		"topic", l.part.Topic, "partition", l.part.Partition, "backlog_segments", segs, "backlog_bytes", bytes,
		"local_bytes", l.Log.Size(), "local_retention_bytes", cfg.Remote.LocalRetentionBytes)
}

// Size is the bytes the log holds, in either tier (a segment in both
// counted once); LocalSize and RemoteSize are each tier's. It is cheap (the
// fetch path asks it): what both tiers hold is counted when it changes
// (recount), not here.
func (l *Log) Size() int64 {
	return l.Log.Size() + l.remoteOnly.Load()
}

// recount counts again what only the bucket holds, in one store: a Size
// racing an upload sees the segment in one tier or in both, never twice.
// Caller holds tierMu.
func (l *Log) recount() {
	l.remoteOnly.Store(max(0, l.remote.size()-l.overlapLocked()))
}

// sizeLocked is Size; caller holds tierMu. What is in both tiers counts
// once: local segments wholly uploaded, and the uploaded head of a local
// segment that took appends again after a restart (the active one, reopened
// where an uploaded segment ended the log).
func (l *Log) sizeLocked() int64 {
	return l.Log.Size() + l.remote.size() - l.overlapLocked()
}

// overlapLocked is the bytes both tiers hold. Caller holds tierMu.
func (l *Log) overlapLocked() int64 {
	end := l.remote.end()
	var n int64
	for _, s := range l.seg.ClosedSegments() {
		if s.Next <= end {
			n += s.Size // in the bucket too
		}
	}
	if a := l.seg.ActiveSegment(); a.Base < end {
		for _, r := range l.remote.live() {
			if r.BaseOffset >= a.Base {
				n += r.Size
			}
		}
	}
	return n
}

// LocalSize is the bytes on the local disk.
func (l *Log) LocalSize() int64 { return l.Log.Size() }

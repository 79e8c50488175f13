package tiered

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/streamhouse/streamhouse/batch"
	"github.com/streamhouse/streamhouse/internal/fault"
	"github.com/streamhouse/streamhouse/meta"
	"github.com/streamhouse/streamhouse/storage"
)

// uploadLoop looks for closed segments to upload at each roll and every
// UploadInterval, and uploads them until Close.
func (st *Store) uploadLoop() {
	defer st.bg.Done()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { <-st.stop; cancel() }()
	var running sync.WaitGroup
	defer running.Wait()
	tick := time.NewTicker(st.opts.UploadInterval)
	defer tick.Stop()
	// Active segments are looked at more often (eagerAll): a part's
	// worth of batches waits for this at most, and so does the upload
	// of a segment just closed. Without eager uploads there is nothing
	// to look for.
	var eagerC <-chan time.Time
	if st.multipart() != nil {
		eagerTick := time.NewTicker(min(st.opts.UploadInterval, 100*time.Millisecond))
		defer eagerTick.Stop()
		eagerC = eagerTick.C
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-st.wake:
		case <-tick.C:
		case <-eagerC:
			st.eagerAll(ctx, &running)
			continue
		}
		st.uploadAll(ctx, &running)
		st.eagerAll(ctx, &running)
	}
}

// uploadAll starts an upload round (uploadPending) for each open log with
// something to do and none under way. The rounds run side by side, each
// ending when its log has nothing left: a segment closed while another
// log uploads starts at once instead of after it. The store's slots bound
// how many segments upload at once, all logs together (Uploaders).
func (st *Store) uploadAll(ctx context.Context, running *sync.WaitGroup) {
	for _, l := range st.openLogs() {
		if ctx.Err() != nil {
			return
		}
		if !l.uploadWork() || !l.uploading.CompareAndSwap(false, true) {
			continue
		}
		running.Go(func() {
			l.uploadPending(ctx)
			l.uploading.Store(false)
			if ctx.Err() == nil && l.uploadWork() && !l.backingOff() {
				// A segment closed as the round ended: its wake-up
				// found the round still under way.
				st.wakeUploads()
			}
		})
	}
}

// uploadWork says whether the log has anything for an upload round: a
// closed segment past the remote end, or remote data to drop.
func (l *Log) uploadWork() bool {
	cfg := l.cfg.Load()
	if !cfg.Remote.Enable {
		return cfg.Remote.DeleteOnDisable && len(l.remote.live()) > 0
	}
	if cfg.Remote.CopyDisable {
		return false
	}
	_, ok := l.nextToUpload(l.remote.end())
	return ok
}

// backingOff says whether the log's uploads wait after a failure.
func (l *Log) backingOff() bool {
	l.uploadMu.Lock()
	defer l.uploadMu.Unlock()
	return l.st.now().Before(l.retryAfter)
}

// uploadPending uploads the log's closed segments past the remote end:
// up to PartitionUploaders at once, each taking one of the store's
// Uploaders slots, and records them in the catalog in offset order, each
// only once every segment below it is recorded, so that what the catalog
// holds never has a hole (a reader, or a broker started from it, sees the
// remote log whole up to its end). When one fails, those after it are
// given up (their objects are left to the sweep) and the log backs off,
// up to 30 s between tries.
func (l *Log) uploadPending(ctx context.Context) {
	cfg := l.cfg.Load()
	if !cfg.Remote.Enable && cfg.Remote.DeleteOnDisable {
		l.dropRemote(ctx)
		return
	}
	if !cfg.Remote.Enable || cfg.Remote.CopyDisable {
		return
	}
	l.uploadMu.Lock()
	defer l.uploadMu.Unlock()
	if l.closed || l.st.now().Before(l.retryAfter) {
		return
	}
	l.planPids, l.planAt = storage.ProducerState{}, -1
	wctx, cancel := context.WithCancel(ctx)
	var queue []*segUpload // started, in offset order; queue[0] is recorded next
	defer func() {
		// Given up (a failure, or the store closing): stop those
		// under way and wait for them; their objects are orphans.
		cancel()
		for _, u := range queue {
			<-u.done
			l.st.unregister(u.id)
		}
	}()
	failed := func(base int64, err error) {
		if ctx.Err() != nil {
			return
		}
		l.backoff = min(max(2*l.backoff, 500*time.Millisecond), 30*time.Second)
		l.retryAfter = l.st.now().Add(l.backoff)
		l.st.log.Warn("uploading a segment failed; retrying", "topic", l.part.Topic, "partition", l.part.Partition,
			"segment", base, "retry_in", l.backoff, "err", err)
	}
	// planned is where the segments started end: the next to start is
	// the closed segment holding it.
	planned := l.remote.end()
	for {
		for len(queue) < l.st.opts.PartitionUploaders && ctx.Err() == nil {
			s, ok := l.nextToUpload(planned)
			if !ok {
				break
			}
			if len(queue) == 0 {
				end := l.remote.end()
				if s.Base > end && len(l.remote.live()) > 0 {
					// Retention removed local segments before they
					// were uploaded (expired, they needed no
					// upload): the remote ones below them are
					// older still.
					if err := l.moveRemoteStart(ctx, s.Base); err != nil {
						l.st.log.Warn("moving the remote log start past expired data failed", "topic", l.part.Topic, "partition", l.part.Partition, "err", err)
						return
					}
					l.tierMu.Lock()
					l.recount()
					l.tierMu.Unlock()
				}
				// Nothing of this log under way: wait for a slot.
				select {
				case l.st.slots <- struct{}{}:
				case <-ctx.Done():
					return
				}
			} else if !l.st.trySlot() {
				// Others of this log are under way: another one
				// only if a slot is free now.
				break
			}
			u, err := l.prepare(ctx, s)
			if err != nil {
				<-l.st.slots
				failed(s.Base, err)
				return
			}
			queue = append(queue, u)
			planned = s.Next
			go func() {
				defer close(u.done)
				defer func() { <-l.st.slots }()
				defer u.data.Release()
				u.err = l.putObjects(wctx, u)
			}()
		}
		if len(queue) == 0 {
			return
		}
		u := queue[0]
		select {
		case <-u.done:
		case <-ctx.Done():
			return
		case <-time.After(l.st.opts.UploadInterval):
			// Segments closed meanwhile (a producer outrunning
			// the uploads) start beside the ones under way.
			continue
		}
		queue = queue[1:]
		err := u.err
		if err == nil {
			err = l.record(ctx, u)
		}
		l.st.unregister(u.id)
		if err != nil {
			failed(u.seg.Base, err)
			return
		}
		l.backoff = 0
	}
}

// dropRemote gives up every remote segment: tiered storage was turned off
// with remote.log.delete.on.disable (KIP-950), and the log is now what the
// local disk holds. The sweep deletes the objects.
func (l *Log) dropRemote(ctx context.Context) {
	if len(l.remote.live()) == 0 {
		return
	}
	l.tierMu.Lock()
	defer l.tierMu.Unlock()
	end := l.remote.end()
	if err := l.moveRemoteStart(ctx, end); err != nil {
		l.st.log.Warn("deleting remote data after tiered storage was turned off failed; retrying", "topic", l.part.Topic, "partition", l.part.Partition, "err", err)
		return
	}
	l.recount()
	l.st.log.Info("tiered storage turned off: remote data given up", "topic", l.part.Topic, "partition", l.part.Partition,
		"log_start", l.LogStartOffset())
}

// trySlot takes an upload slot if one is free.
func (st *Store) trySlot() bool {
	select {
	case st.slots <- struct{}{}:
		return true
	default:
		return false
	}
}

// unregister ends an upload: the sweep may judge its objects again.
func (st *Store) unregister(id string) {
	st.mu.Lock()
	delete(st.uploading, id)
	st.mu.Unlock()
}

// nextToUpload returns the closed segment to upload after what ends at
// planned: the first whose end is past it.
func (l *Log) nextToUpload(planned int64) (storage.SegmentInfo, bool) {
	for _, s := range l.seg.ClosedSegments() {
		if s.Next > planned {
			return s, true
		}
	}
	return storage.SegmentInfo{}, false
}

// segUpload is one segment's upload: what prepare made of it, then the
// outcome of its objects' PUTs (err, once done is closed).
type segUpload struct {
	seg     storage.SegmentInfo
	data    storage.SegmentData
	id      string
	aborted []storage.AbortedTxn
	txn     []byte // aborted, JSON: the .txnindex object
	pids    storage.ProducerState
	snap    []byte // pids: the .snapshot object
	epochs  []meta.EpochStart
	sum     []byte       // the .log object's SHA-256, once put
	eager   *eagerUpload // the parts of its .log sent before it closed

	done chan struct{}
	err  error
}

// prepare opens segment s for upload and makes what goes with it: its
// aborted transactions and the producer state at its end, carried from
// the one at its base (l.pids when nothing of this log is under way, else
// what prepare made for the segment started before: l.planPids). Caller
// holds uploadMu. The upload is registered: the sweep leaves its objects
// alone until unregister.
func (l *Log) prepare(ctx context.Context, s storage.SegmentInfo) (*segUpload, error) {
	if err := l.loadProducers(ctx); err != nil {
		return nil, err
	}
	d, err := l.seg.SegmentData(s.Base)
	if err != nil {
		return nil, err
	}
	e := l.takeEager(ctx, s.Base)
	var id string
	if e != nil {
		id = e.id // its parts are under the key of this upload's .log
	} else if id, err = uploadID(); err != nil {
		d.Release()
		return nil, err
	}
	u := &segUpload{seg: s, data: d, id: id, eager: e, done: make(chan struct{})}
	// Registered now: an eager upload taken over stays registered, and
	// every error below unregisters it.
	l.st.register(id)
	fail := func(err error) (*segUpload, error) {
		d.Release()
		if e != nil {
			l.st.abort(ctx, e)
		}
		l.st.unregister(id)
		return nil, err
	}
	u.aborted = l.Log.AbortedTransactions(s.Base, s.Next)
	if u.txn, err = json.Marshal(nonNil(u.aborted)); err != nil {
		return fail(err)
	}
	prev, at := l.pids, l.pidsAt
	if l.planAt > at {
		prev, at = l.planPids, l.planAt
	}
	pids := prev.Clone()
	if s.Base != at {
		// Segments below were never uploaded (expired first): what
		// their producers did is gone with them.
		pids = storage.ProducerState{}
	}
	if u.epochs, err = scanSegment(&pids, d.Log, d.Info.Size); err != nil {
		return fail(fmt.Errorf("producer state and leader epochs of segment %d: %w", s.Base, err))
	}
	pids.TrimAborted(s.Next) // the segment's aborts are in its .txnindex
	u.pids, u.snap = pids, pids.AppendSnapshot(nil, s.Next)
	l.planPids, l.planAt = pids, s.Next
	// Until its record is written (or it failed, leaving orphans for
	// the sweep), the sweep does not touch this upload's objects.
	return u, nil
}

// putObjects uploads segment u's objects: the batches, then the four
// small ones at once. The batches go first, as before they were uploaded
// at once with the rest: a sweep (another broker's, in the cluster mode,
// which does not know this upload) judges an object no record names by
// its age, and a small object put at the start of a long (throttled)
// upload of the batches would look old by the time the record lands.
func (l *Log) putObjects(ctx context.Context, u *segUpload) error {
	p, d := l.part, u.data
	key := func(ext string) string { return objectKey(p.TopicID, p.Partition, u.seg.Base, u.id, ext) }
	// The batches, hashed as they go. A segment that starts below the
	// remote end (a log restored from an older copy) is uploaded whole
	// all the same: reads find offsets by segment.
	if e := u.eager; e != nil {
		sum, err := l.finishEager(ctx, u, e)
		if err == nil {
			u.sum = sum
			return l.putSmall(ctx, u)
		}
		if ctx.Err() != nil {
			return err
		}
		l.st.log.Warn("completing the segment's multipart upload failed; uploading it whole", "topic", l.part.Topic,
			"partition", l.part.Partition, "segment", u.seg.Base, "err", err)
	}
	h := sha256.New()
	err := retry(ctx, func() error {
		h.Reset()
		r := io.TeeReader(io.NewSectionReader(d.Log, 0, d.Info.Size), h)
		return l.st.put(ctx, key(".log"), l.st.throttle(ctx, r), d.Info.Size)
	})
	if err != nil {
		return err
	}
	u.sum = h.Sum(nil)
	return l.putSmall(ctx, u)
}

// putSmall uploads segment u's four small objects at once.
func (l *Log) putSmall(ctx context.Context, u *segUpload) error {
	p, d := l.part, u.data
	key := func(ext string) string { return objectKey(p.TopicID, p.Partition, u.seg.Base, u.id, ext) }
	errs := make([]error, 4)
	var wg sync.WaitGroup
	for i, o := range []struct {
		ext  string
		data []byte
	}{{".index", d.Index}, {".timeindex", d.TimeIndex}, {".txnindex", u.txn}, {".snapshot", u.snap}} {
		wg.Go(func() { errs[i] = l.st.putBytes(ctx, key(o.ext), o.data) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// record records uploaded segment u in the catalog, and then makes it part
// of the remote log. Caller holds uploadMu, and every segment below u is
// recorded.
func (l *Log) record(ctx context.Context, u *segUpload) error {
	p, s := l.part, u.seg
	fault.Crash("tier-upload")
	rec := meta.RemoteSegment{
		TopicID: p.TopicID, Partition: p.Partition, ID: u.id,
		BaseOffset: s.Base, EndOffset: s.Next, MaxTimestamp: s.MaxTimestamp,
		Size: u.data.Info.Size, Checksum: hex.EncodeToString(u.sum), CreatedAt: l.st.now(),
		LeaderEpochs: meta.NewLeaderEpochs(u.epochs),
	}
	if err := l.st.opts.Catalog.AddRemoteSegment(ctx, rec); err != nil {
		return fmt.Errorf("record segment %d: %w", s.Base, err)
	}
	fault.Crash("tier-record")
	l.tierMu.Lock()
	if l.Log.LogStartOffset() >= s.Next {
		// Retention removed the segment while it uploaded (it
		// expired): the copy goes too.
		l.tierMu.Unlock()
		return l.st.opts.Catalog.MarkRemoteSegmentsDeleting(ctx, p.TopicID, p.Partition, []string{u.id})
	}
	gone := l.remote.add(rec, u.aborted)
	l.recount()
	l.tierMu.Unlock()
	l.pids, l.pidsAt = u.pids, s.Next
	if len(gone) > 0 {
		ids := make([]string, len(gone))
		for i, g := range gone {
			ids[i] = g.ID
		}
		if err := l.st.opts.Catalog.MarkRemoteSegmentsDeleting(ctx, p.TopicID, p.Partition, ids); err != nil {
			// Both are recorded and hold the same batches; the
			// next upload of this log, or a restart, reads them
			// again.
			l.st.log.Warn("giving up remote segments a new upload covers failed", "topic", p.Topic, "partition", p.Partition, "err", err)
		}
	}
	l.st.log.Debug("segment uploaded", "topic", p.Topic, "partition", p.Partition, "base", s.Base, "next", s.Next, "bytes", u.data.Info.Size)
	return nil
}

// loadProducers makes l.pids the producer state at the remote end: the
// last remote segment's snapshot, or nothing when there is no segment (the
// log's first upload starts at its beginning). Caller holds uploadMu.
func (l *Log) loadProducers(ctx context.Context) error {
	if l.pidsReady {
		return nil
	}
	live := l.remote.live()
	if len(live) == 0 {
		l.pids, l.pidsAt, l.pidsReady = storage.ProducerState{}, l.remote.end(), true
		if l.pidsAt == 0 {
			l.pidsAt = l.Log.LogStartOffset()
		}
		return nil
	}
	pids, err := l.st.remoteProducers(ctx, live[len(live)-1])
	if err != nil {
		return err
	}
	l.pids, l.pidsAt, l.pidsReady = pids, live[len(live)-1].EndOffset, true
	return nil
}

// remoteProducers reads a remote segment's producer snapshot: the state at
// its end.
func (st *Store) remoteProducers(ctx context.Context, s meta.RemoteSegment) (storage.ProducerState, error) {
	b, err := st.cache.object(ctx, objectKey(s.TopicID, s.Partition, s.BaseOffset, s.ID, ".snapshot"))
	if err != nil {
		return storage.ProducerState{}, fmt.Errorf("producer snapshot of segment %d: %w", s.BaseOffset, err)
	}
	pids, at, err := storage.ParseSnapshot(b)
	if err != nil {
		return storage.ProducerState{}, fmt.Errorf("producer snapshot of segment %d: %w", s.BaseOffset, err)
	}
	if at != s.EndOffset {
		return storage.ProducerState{}, fmt.Errorf("producer snapshot of segment %d is at %d, not its end %d", s.BaseOffset, at, s.EndOffset)
	}
	return pids, nil
}

// scanSegment carries st through the batches of a segment's file, and
// returns the leader epochs of its batches: the first batch's, then each
// change, with the offset of the batch it starts at.
func scanSegment(st *storage.ProducerState, r io.ReaderAt, size int64) ([]meta.EpochStart, error) {
	var epochs []meta.EpochStart
	var buf [batch.HeaderSize + 64]byte
	for pos := int64(0); pos < size; {
		n := min(int64(len(buf)), size-pos)
		if _, err := r.ReadAt(buf[:n], pos); err != nil && !errors.Is(err, io.EOF) {
			return nil, err
		}
		h, err := batch.ReadHeader(buf[:n])
		if err != nil {
			return nil, fmt.Errorf("batch at %d: %w", pos, err)
		}
		if k := len(epochs); k == 0 || epochs[k-1].Epoch != h.PartitionLeaderEpoch {
			epochs = append(epochs, meta.EpochStart{Epoch: h.PartitionLeaderEpoch, StartOffset: h.BaseOffset})
		}
		if h.ProducerID >= 0 {
			ctrl := int16(-1)
			if h.Control() {
				if ctrl, err = batch.ControlType(buf[:n]); err != nil {
					return nil, fmt.Errorf("control batch at %d: %w", pos, err)
				}
			}
			st.Update(&h, ctrl)
		}
		pos += int64(h.Size())
	}
	return epochs, nil
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// uploadID is a random name for an upload.
func uploadID() (string, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return hex.EncodeToString(b[:]), nil
}

// put uploads size bytes of r, observed.
func (st *Store) put(ctx context.Context, key string, r io.Reader, size int64) error {
	start := time.Now()
	err := st.opts.Bucket.Put(ctx, key, r, size)
	st.observe("put", start, size, err)
	if err != nil {
		return fmt.Errorf("upload %s: %w", key, err)
	}
	return nil
}

// putBytes uploads b, trying again a few times within the call (retry): a
// 503 or a reset connection costs a second try of one object, not of the
// whole segment.
func (st *Store) putBytes(ctx context.Context, key string, b []byte) error {
	return retry(ctx, func() error { return st.put(ctx, key, bytes.NewReader(b), int64(len(b))) })
}

// retry runs f up to four times, 50, 100, 200 ms apart, while it fails.
func retry(ctx context.Context, f func() error) error {
	var err error
	for try, wait := 0, 50*time.Millisecond; try < 4; try, wait = try+1, 2*wait {
		if err = f(); err == nil || ctx.Err() != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
	}
	return err
}

// fetch is the cache's GET: n bytes of key from off. The cache runs it
// under fetchTimeout.
func (st *Store) fetch(ctx context.Context, key string, off, n int64) ([]byte, error) {
	start := time.Now()
	r, err := st.opts.Bucket.Get(ctx, key, off, n)
	if err != nil {
		st.observe("get", start, 0, err)
		return nil, err
	}
	defer r.Close()
	var b []byte
	if n > 0 {
		// One buffer of the size asked for: ReadAll would grow one
		// from 512 bytes, copying 4 MiB several times.
		b = make([]byte, n)
		var k int
		k, err = io.ReadFull(r, b)
		if errors.Is(err, io.ErrUnexpectedEOF) {
			err = nil // a short object: the caller checks the length
		}
		b = b[:k]
	} else {
		b, err = io.ReadAll(r)
	}
	st.observe("get", start, int64(len(b)), err)
	return b, err
}

// stat returns an object's size, from memory after the first time (objects
// never change).
func (st *Store) stat(ctx context.Context, key string) (int64, error) {
	if v, ok := st.sizes.Load(key); ok {
		return v.(int64), nil
	}
	start := time.Now()
	o, err := st.opts.Bucket.Stat(ctx, key)
	st.observe("stat", start, 0, err)
	if err != nil {
		return 0, err
	}
	st.sizes.Store(key, o.Size)
	return o.Size, nil
}

// throttle limits r to UploadBytesPerSecond, shared by every upload.
func (st *Store) throttle(ctx context.Context, r io.Reader) io.Reader {
	if st.opts.UploadBytesPerSecond <= 0 {
		return r
	}
	return &throttled{ctx: ctx, r: r, st: st}
}

type throttled struct {
	ctx context.Context
	r   io.Reader
	st  *Store
}

func (t *throttled) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if n > 0 {
		if werr := t.st.bucketRate.wait(t.ctx, int64(n), t.st.opts.UploadBytesPerSecond); werr != nil {
			return n, werr
		}
	}
	return n, err
}

// rate is a token bucket over bytes.
type rate struct {
	mu   sync.Mutex
	next time.Time // when the bytes taken so far are paid for
}

func (r *rate) wait(ctx context.Context, n, perSecond int64) error {
	r.mu.Lock()
	now := time.Now()
	if r.next.Before(now) {
		r.next = now
	}
	r.next = r.next.Add(time.Duration(n) * time.Second / time.Duration(perSecond))
	d := r.next.Sub(now) - time.Second // a second's burst
	r.mu.Unlock()
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

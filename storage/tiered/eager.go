package tiered

import (
	"context"
	"crypto/sha256"
	"encoding"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"math"
	"sync"
	"time"

	"github.com/streamhouse/streamhouse/internal/fault"
	"github.com/streamhouse/streamhouse/storage"
	"github.com/streamhouse/streamhouse/storage/objstore"
)

// Eager uploads: the active segment's .log goes up as it fills, in parts of
// PartSize (an S3 multipart upload under the key the segment's .log object
// will have), so that when the segment closes only the rest is left to
// send: the upload backlog of closed segments is then a short tail each,
// not a whole segment's PUT.
//
// A log has at most one eager upload under way for its active segment
// (eager) and keeps those of segments closed since (closedEager) until
// their upload (prepare) takes them. One part at a time per log, each
// holding one of the store's upload slots while it is sent. The upload ID
// is registered (st.uploading) from before the multipart upload is created
// until it is completed or aborted, or handed to prepare (which registers
// it again): the sweep spares it. Whatever does not match exactly (a part
// failed, the segment was truncated or replaced, the bytes read again at the
// close differ from those sent, the broker restarted) gives the eager
// upload up: it is aborted (or left to the sweep, unregistered) and the
// segment is uploaded whole, as without eager uploads.

// eagerUpload is the multipart upload of one segment's .log.
type eagerUpload struct {
	base    int64  // the segment's base offset
	id      string // the upload's ID (the objects' names)
	key     string // the .log object's key
	mpID    string // the object store's multipart upload ID
	started time.Time

	// mu is held while a part is sent, and by the segment's upload
	// when it takes the parts over (it waits for the part under way).
	mu    sync.Mutex
	parts []objstore.Part
	crcs  []uint32  // each part's CRC32C, to check the bytes again at the close
	sent  int64     // bytes of [0, sent) in the parts
	h     hash.Hash // SHA-256 of [0, sent)
	taken bool      // prepare took it over (guarded by the Log's eagerMu)
}

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// multipart returns the bucket's multipart uploads, nil when eager
// uploads are off (no Multipart, or PartSize < 0).
func (st *Store) multipart() objstore.Multipart {
	if st.opts.PartSize < 0 {
		return nil
	}
	m, _ := st.opts.Bucket.(objstore.Multipart)
	return m
}

// eagerAll starts an eager round (eagerRun) for each open log whose active
// segment has a part's worth not sent and none under way. It also wakes
// the uploads when a segment with parts sent closed lately and is ready
// (durable): its tail then waits for this look, not for the next
// UploadInterval. (A segment uploaded whole still waits for that: started
// at once, whole uploads took CPU from a producer at full speed on two
// cores, halving BenchmarkProduceTiered's tiered figure.)
func (st *Store) eagerAll(ctx context.Context, running *sync.WaitGroup) {
	m := st.multipart()
	if m == nil {
		return // eager uploads off: none to start, none under way
	}
	now := time.Now().UnixNano()
	wake := false
	for _, l := range st.openLogs() {
		if ctx.Err() != nil {
			return
		}
		cfg := l.cfg.Load()
		if !cfg.Remote.Enable || cfg.Remote.CopyDisable {
			if l.eagerBase.Load() >= 0 {
				// Copies turned off: what was under way is
				// given up.
				l.dropEager(false)
				l.eagerBase.Store(-1)
			}
			continue
		}
		a := l.seg.ActiveSegment()
		if old := l.seenBase.Swap(a.Base); old != a.Base && l.eagerBase.Load() == old {
			if sent := l.eagerSent.Load(); sent > 0 && sent != math.MaxInt64 {
				// It closed with parts sent: only its tail is
				// left, cheap enough to start at once.
				l.rolledAt.Store(now)
			}
		}
		if at := l.rolledAt.Load(); at != 0 && !wake && !l.uploading.Load() {
			switch {
			case time.Duration(now-at) > st.opts.UploadInterval:
				l.rolledAt.Store(0) // the interval's look takes over
			case l.uploadWork():
				l.rolledAt.Store(0)
				wake = true
			}
		}
		if !l.eagerWork(a) || !l.eagerRunning.CompareAndSwap(false, true) {
			continue
		}
		running.Go(func() {
			defer l.eagerRunning.Store(false)
			l.eagerRun(ctx)
		})
	}
	if wake {
		st.wakeUploads()
	}
}

// eagerWork says whether active segment a may have a whole part not sent
// yet (its size counts bytes not yet durable: eagerRun checks).
func (l *Log) eagerWork(a storage.SegmentInfo) bool {
	sent := int64(0)
	if l.eagerBase.Load() == a.Base {
		sent = l.eagerSent.Load()
	}
	return sent != math.MaxInt64 && a.Size-sent >= l.st.opts.PartSize
}

// eagerRun sends the active segment's whole parts not yet sent, one at a
// time, while there are any. A failure gives the segment's eager upload
// up (it is uploaded whole once closed).
func (l *Log) eagerRun(ctx context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(l.eagerCtx, cancel)()
	for ctx.Err() == nil && l.eagerWork(l.seg.ActiveSegment()) {
		select {
		case l.st.slots <- struct{}{}:
		case <-ctx.Done():
			return
		}
		more, err := l.eagerPart(ctx)
		<-l.st.slots
		if err != nil {
			if ctx.Err() == nil {
				l.st.log.Warn("uploading a part of the active segment failed; it will be uploaded whole once closed",
					"topic", l.part.Topic, "partition", l.part.Partition, "err", err)
			}
			return
		}
		if !more {
			return
		}
	}
}

// eagerPart sends the active segment's next part if a whole one is
// durable, starting its multipart upload first if need be. It says
// whether it sent one.
func (l *Log) eagerPart(ctx context.Context) (bool, error) {
	m, ps := l.st.multipart(), l.st.opts.PartSize
	l.eagerMu.Lock()
	if l.eagerClosed {
		l.eagerMu.Unlock()
		return false, nil
	}
	d, err := l.seg.ActiveData()
	if err != nil {
		l.eagerMu.Unlock()
		return false, err
	}
	defer d.Release()
	e := l.eager
	if e != nil && e.base != d.Info.Base {
		// The segment closed: its upload takes the parts over (and
		// gives them up if it is gone: removed, or replaced).
		l.eager = nil
		if e.base < d.Info.Base {
			if l.closedEager == nil {
				l.closedEager = map[int64]*eagerUpload{}
			}
			l.closedEager[e.base] = e
		} else {
			l.giveUp(ctx, e) // the log was truncated below it
		}
		e = nil
	}
	if e != nil && d.Info.Size < e.sent {
		// Truncated below what was sent: start again.
		l.eager = nil
		l.giveUp(ctx, e)
		e = nil
	}
	sent := int64(0)
	if e != nil {
		sent = e.sent
	}
	if d.Info.Size-sent < ps || (e == nil && l.eagerBase.Load() == d.Info.Base && l.eagerSent.Load() == math.MaxInt64) {
		l.eagerMu.Unlock()
		return false, nil
	}
	if e == nil {
		id, err := uploadID()
		if err != nil {
			l.eagerMu.Unlock()
			return false, err
		}
		p := l.part
		e = &eagerUpload{base: d.Info.Base, id: id, key: objectKey(p.TopicID, p.Partition, d.Info.Base, id, ".log"),
			started: l.st.now(), h: sha256.New()}
		// Registered before it exists: the sweep lists uploads
		// before it looks at what is registered.
		l.st.register(id)
		start := time.Now()
		e.mpID, err = m.CreateMultipart(ctx, e.key)
		l.st.observe("put", start, 0, err)
		if err != nil {
			l.st.unregister(id)
			l.eagerGaveUp(d.Info.Base)
			l.eagerMu.Unlock()
			return false, fmt.Errorf("start the multipart upload of %s: %w", e.key, err)
		}
		l.eager = e
		l.eagerBase.Store(e.base)
		l.eagerSent.Store(0)
	}
	e.mu.Lock()
	l.eagerMu.Unlock()
	err = l.st.sendPart(ctx, e, d.Log, ps)
	if err == nil {
		l.eagerSent.Store(e.sent)
		fault.Crash("tier-part")
	}
	e.mu.Unlock()
	if err != nil {
		l.eagerMu.Lock()
		if l.eager == e && ctx.Err() == nil {
			// (Stopped by the log's close: dropEager aborts it.)
			l.eager = nil
			l.giveUp(ctx, e)
		}
		l.eagerMu.Unlock()
		return false, err
	}
	return true, nil
}

// sendPart sends the n bytes of r at e.sent as e's next part, hashed as
// they go. Caller holds e.mu.
func (st *Store) sendPart(ctx context.Context, e *eagerUpload, r io.ReaderAt, n int64) error {
	m := st.multipart()
	before, err := e.h.(encoding.BinaryMarshaler).MarshalBinary()
	if err != nil {
		return err
	}
	var part objstore.Part
	crc := crc32.New(crcTable)
	err = retry(ctx, func() error {
		if err := e.h.(encoding.BinaryUnmarshaler).UnmarshalBinary(before); err != nil {
			return err
		}
		crc.Reset()
		body := io.TeeReader(io.NewSectionReader(r, e.sent, n), io.MultiWriter(e.h, crc))
		start := time.Now()
		var err error
		part, err = m.PutPart(ctx, e.key, e.mpID, len(e.parts)+1, st.throttle(ctx, body), n)
		st.observe("put", start, n, err)
		return err
	})
	if err != nil {
		// As before the part: the segment's upload may still
		// send the rest from e.sent.
		if rerr := e.h.(encoding.BinaryUnmarshaler).UnmarshalBinary(before); rerr != nil {
			return rerr
		}
		return fmt.Errorf("upload part %d of %s: %w", len(e.parts)+1, e.key, err)
	}
	e.parts = append(e.parts, part)
	e.crcs = append(e.crcs, crc.Sum32())
	e.sent += n
	return nil
}

// eagerGaveUp marks the segment at base as one not uploaded eagerly.
func (l *Log) eagerGaveUp(base int64) {
	l.eagerBase.Store(base)
	l.eagerSent.Store(math.MaxInt64)
}

// giveUp aborts an eager upload no one will complete, and unregisters it;
// an abort that fails leaves it to the sweep. Caller holds eagerMu.
func (l *Log) giveUp(ctx context.Context, e *eagerUpload) {
	if l.eagerBase.Load() == e.base {
		l.eagerGaveUp(e.base)
	}
	l.st.abort(ctx, e)
}

// abort aborts e's multipart upload and unregisters it.
func (st *Store) abort(ctx context.Context, e *eagerUpload) {
	defer st.unregister(e.id)
	start := time.Now()
	err := st.multipart().AbortMultipart(ctx, e.key, e.mpID)
	if errors.Is(err, objstore.ErrNotFound) {
		err = nil // aborted already (by a sweep), or completed
	}
	st.observe("delete", start, 0, err)
	if err != nil && ctx.Err() == nil {
		st.log.Warn("aborting a multipart upload failed; the sweep will", "key", e.key, "err", err)
	}
}

// takeEager hands the eager upload of segment base over to its upload
// (prepare), nil when there is none; eager uploads of segments below it
// (which retention removed before they were uploaded) are given up.
// Caller holds uploadMu.
func (l *Log) takeEager(ctx context.Context, base int64) *eagerUpload {
	l.eagerMu.Lock()
	defer l.eagerMu.Unlock()
	var out *eagerUpload
	for b, e := range l.closedEager {
		switch {
		case b == base:
			out = e
			delete(l.closedEager, b)
		case b < base:
			delete(l.closedEager, b)
			l.st.abort(ctx, e)
		}
	}
	if e := l.eager; out == nil && e != nil && e.base == base {
		// The segment closed before the next round of parts
		// noticed.
		out, l.eager = e, nil
	}
	if out != nil {
		out.taken = true
	}
	return out
}

// dropEager gives every eager upload of the log up: it is closing (final),
// or no longer copies to object storage.
func (l *Log) dropEager(final bool) {
	l.eagerMu.Lock()
	defer l.eagerMu.Unlock()
	l.eagerClosed = l.eagerClosed || final
	all := make([]*eagerUpload, 0, len(l.closedEager)+1)
	for _, e := range l.closedEager {
		all = append(all, e)
	}
	if l.eager != nil {
		all = append(all, l.eager)
	}
	l.eager, l.closedEager = nil, nil
	if len(all) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, e := range all {
		e.mu.Lock() // a part under way ends first
		l.st.abort(ctx, e)
		e.mu.Unlock()
	}
}

// finishEager completes the eager upload of u's segment: it checks that
// the bytes its parts hold are those of the closed segment's start, sends
// the rest as the last part and completes the object; it returns the
// .log object's SHA-256. On an error the multipart upload is aborted
// (best effort) and the caller uploads the segment whole, under the same
// key.
func (l *Log) finishEager(ctx context.Context, u *segUpload, e *eagerUpload) ([]byte, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	sum, err := l.completeEager(ctx, u, e)
	if err != nil {
		start := time.Now()
		aerr := l.st.multipart().AbortMultipart(ctx, e.key, e.mpID)
		if errors.Is(aerr, objstore.ErrNotFound) {
			aerr = nil
		}
		l.st.observe("delete", start, 0, aerr)
	}
	return sum, err
}

func (l *Log) completeEager(ctx context.Context, u *segUpload, e *eagerUpload) ([]byte, error) {
	d, ps := u.data, l.st.opts.PartSize
	switch {
	case e.base != d.Info.Base || e.sent > d.Info.Size || len(e.parts) == 0:
		return nil, fmt.Errorf("segment %d of %d bytes does not start with the %d bytes sent in parts of segment %d",
			d.Info.Base, d.Info.Size, e.sent, e.base)
	case l.st.now().Sub(e.started) >= l.st.opts.Grace/2:
		// S3 dates the object by the upload's start: a sweep that does
		// not know this upload (another broker's) could take it for an
		// orphan before its record lands.
		return nil, fmt.Errorf("the multipart upload of segment %d started %v ago, too close to the sweep's grace period",
			e.base, l.st.now().Sub(e.started))
	}
	// The bytes sent must be the segment's: read them again.
	buf := make([]byte, 1<<20)
	for i, want := range e.crcs {
		crc := crc32.New(crcTable)
		if _, err := io.CopyBuffer(crc, io.NewSectionReader(d.Log, int64(i)*ps, ps), buf); err != nil {
			return nil, err
		}
		if crc.Sum32() != want {
			return nil, fmt.Errorf("segment %d: part %d differs from the segment's bytes", e.base, i+1)
		}
	}
	if rest := d.Info.Size - e.sent; rest > 0 {
		if err := l.st.sendPart(ctx, e, d.Log, rest); err != nil {
			return nil, err
		}
	}
	start := time.Now()
	err := retry(ctx, func() error { return l.st.multipart().CompleteMultipart(ctx, e.key, e.mpID, e.parts) })
	l.st.observe("put", start, 0, err)
	if err != nil {
		return nil, fmt.Errorf("complete %s: %w", e.key, err)
	}
	return e.h.Sum(nil), nil
}

// register marks an upload as under way: the sweep spares its objects and
// multipart uploads.
func (st *Store) register(id string) {
	st.mu.Lock()
	st.uploading[id] = true
	st.mu.Unlock()
}

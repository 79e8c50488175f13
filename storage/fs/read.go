package fs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"

	"github.com/streamhouse/streamhouse/batch"
	"github.com/streamhouse/streamhouse/storage"
	"github.com/streamhouse/streamhouse/storage/fs/vfs"
)

const (
	// probeMax bounds Read's first pread, which finds the requested batch
	// among those after the index entry. The distance it must cover is
	// below IndexIntervalBytes when the index was built with the current
	// interval; a longer one just takes more probes.
	probeMax = 64 << 10
	// scanChunk is the pread size of header scans (FindTimestamp,
	// MaxTimestamp) and recovery reads at least this much at a time.
	scanChunk    = 32 << 10
	recoverChunk = 1 << 20
)

// Read implements storage.Log. It holds state only to pick the segment, the
// index position and the readable end, then reads with pread: at most two
// for a read within a segment (a probe to find the batch, then the rest
// straight into dst), with no lock held.
func (l *Log) Read(ctx context.Context, offset int64, maxBytes int, minOne bool, dst []byte) ([]byte, error) {
	for tries := 1; ; tries++ {
		out, err := l.read(ctx, offset, maxBytes, minOne, dst)
		if !l.replacedUnder(err, tries) {
			return out, err
		}
	}
}

// maxReplacedRetries bounds the retries of a read whose segment the cleaner
// replaced under it: each swap is of segments older than the read's, so a
// retry that meets another is all but impossible.
const maxReplacedRetries = 4

// replacedUnder reports whether a read failed only because the cleaner
// swapped its segment out and closed the file (compact.go), so that a
// retry will find the new one.
func (l *Log) replacedUnder(err error, tries int) bool {
	if tries >= maxReplacedRetries || !errors.Is(err, storage.ErrClosed) {
		return false
	}
	l.state.RLock()
	defer l.state.RUnlock()
	return !l.closed
}

func (l *Log) read(ctx context.Context, offset int64, maxBytes int, minOne bool, dst []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return dst, err
	}
	if err := l.offlineErr(); err != nil {
		return dst, err
	}
	l.state.RLock()
	if l.closed {
		l.state.RUnlock()
		return dst, fmt.Errorf("fs: read %s: %w", l.dir, storage.ErrClosed)
	}
	start, hw := l.start.Load(), l.hw.Load()
	if offset < start || offset > hw {
		l.state.RUnlock()
		return dst, fmt.Errorf("fs: read %s at offset %d, outside [%d, %d]: %w",
			l.dir, offset, start, hw, storage.ErrOffsetOutOfRange)
	}
	if offset == hw {
		l.state.RUnlock()
		return dst, nil
	}
	s := l.segmentForLocked(offset)
	_, p := lookupIndex(s.index, uint32(offset-s.base))
	pos, end := int64(p), l.readableEndLocked(s)
	l.state.RUnlock()

	for {
		out, found, err := l.readSegment(s, pos, end, offset, maxBytes, minOne, dst)
		if errors.Is(err, storage.ErrClosed) && offset < l.start.Load() {
			// Retention removed the segment under the read.
			return dst, fmt.Errorf("fs: read %s at offset %d, below the log start %d: %w",
				l.dir, offset, l.start.Load(), storage.ErrOffsetOutOfRange)
		}
		if err != nil || found {
			return out, err
		}
		// Nothing at or after offset in s up to its readable end: go on in
		// the next segment.
		l.state.RLock()
		if l.closed {
			l.state.RUnlock()
			return dst, fmt.Errorf("fs: read %s: %w", l.dir, storage.ErrClosed)
		}
		s = l.segmentAfterLocked(s.base)
		if s == nil {
			l.state.RUnlock()
			return dst, nil
		}
		pos, end = 0, l.readableEndLocked(s)
		l.state.RUnlock()
	}
}

// readSegment reads from s, starting the search for the batch that holds
// offset at pos and reading nothing at or past end. found is false when s
// has no batch ending at or after offset before end.
//
// dst's spare capacity doubles as the probe buffer, so that a read
// allocates nothing when dst is large enough, and the probe's bytes from the
// found batch on are kept rather than read again.
func (l *Log) readSegment(s *segment, pos, end, offset int64, maxBytes int, minOne bool, dst []byte) (_ []byte, found bool, _ error) {
	base := len(dst)
	probeSize := min(l.interval+batch.HeaderSize, probeMax)
	var (
		w   []byte // probe bytes, from file position pos
		cur int    // position of the current header in w
		h   batch.Header
		err error
	)
	for {
		if cur+batch.HeaderSize > len(w) {
			pos += int64(cur)
			if pos >= end {
				return dst, false, nil
			}
			if pos+batch.HeaderSize > end {
				return dst, false, corruptAt(s, pos, errors.New("batch header runs past the end of the log"))
			}
			n := int(min(end-pos, probeSize))
			dst = slices.Grow(dst, n)
			w, cur = dst[base:base+n], 0
			if err := readFull(s, w, pos); err != nil {
				return dst, false, err
			}
		}
		if h, err = batch.ReadHeader(w[cur:]); err != nil {
			return dst, false, corruptAt(s, pos+int64(cur), err)
		}
		if pos+int64(cur)+int64(h.Size()) > end {
			return dst, false, corruptAt(s, pos+int64(cur), errors.New("batch runs past the end of the log"))
		}
		if h.LastOffset() >= offset {
			break
		}
		cur += h.Size()
	}

	fpos, first := pos+int64(cur), h.Size()
	var n int
	switch {
	case first > maxBytes && !minOne:
		return dst, true, nil
	case first > maxBytes:
		n = first
	default:
		n = int(min(int64(maxBytes), end-fpos))
	}
	out := slices.Grow(dst[:base], n)[:base+n]
	r := out[base:]
	have := min(len(w)-cur, n)
	if cur != 0 || &r[0] != &w[0] {
		copy(r[:have], w[cur:cur+have]) // memmove of at most one probe
	}
	if have < n {
		if err := readFull(s, r[have:], fpos+int64(have)); err != nil {
			return dst[:base], false, err
		}
	}
	// Keep whole batches only. A length that makes no sense ends the read
	// before it; the read that starts there reports it.
	total := first
	for total < n {
		size := batch.Size(r[total:])
		if size < batch.HeaderSize || total+size > n {
			break
		}
		total += size
	}
	if err := l.checkOnce(s, r[:total], fpos); err != nil {
		return dst[:base], false, err
	}
	return out[:base+total], true, nil
}

// checkOnce checks the CRCs of the batches b read from s at pos, unless
// that range was checked since the log opened (appended by this process,
// scanned by recovery, or read before). Every batch below the high
// watermark was checked before it was fsynced: one that fails now was
// damaged on the medium, and no client is served it.
func (l *Log) checkOnce(s *segment, b []byte, pos int64) error {
	end := pos + int64(len(b))
	to := s.checkedTo.Load()
	if end <= to || pos >= s.checkedFrom.Load() {
		return nil
	}
	for at := 0; at < len(b); {
		h, err := batch.Parse(b[at:])
		if err != nil {
			return l.corrupted(corruptAt(s, pos+int64(at), err))
		}
		at += h.Size()
	}
	for pos <= to && to < end && !s.checkedTo.CompareAndSwap(to, end) {
		to = s.checkedTo.Load()
	}
	return nil
}

// corrupted takes the log offline after a read found damage below the high
// watermark: appends and reads fail with err from now on.
func (l *Log) corrupted(err error) error {
	if l.setFailed(err) {
		l.logger.Error("corrupt data in the log: the partition is offline; restore it from a backup or delete the topic", "err", err)
	}
	return err
}

// offlineErr is the corruption that took the log offline for reads too, or
// nil (a failed write or fsync refuses appends only).
func (l *Log) offlineErr() error {
	if err := l.failed(); errors.Is(err, storage.ErrCorrupt) {
		return err
	}
	return nil
}

// FindTimestamp implements storage.Log. Segments whose max timestamp is
// below ts are skipped without I/O; in the first one that is not, the time
// index gives an offset before which every batch is older than ts, the
// offset index gives its position, and batch headers are scanned from there.
func (l *Log) FindTimestamp(ctx context.Context, ts int64, dst []byte) ([]byte, error) {
	for tries := 1; ; tries++ {
		out, err := l.findTimestamp(ctx, ts, dst)
		if !l.replacedUnder(err, tries) {
			return out, err
		}
	}
}

func (l *Log) findTimestamp(ctx context.Context, ts int64, dst []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return dst, err
	}
	w := window{chunk: scanChunk}
	after := int64(math.MinInt64)
	for {
		l.state.RLock()
		if l.closed {
			l.state.RUnlock()
			return dst, fmt.Errorf("fs: find timestamp in %s: %w", l.dir, storage.ErrClosed)
		}
		s := l.segmentAfterLocked(after)
		for s != nil && s.maxTS < ts {
			s = l.segmentAfterLocked(s.base)
		}
		if s == nil {
			l.state.RUnlock()
			return dst, nil
		}
		var pos int64
		if rel, ok := lookupTime(s.tindex, ts); ok {
			_, p := lookupIndex(s.index, rel)
			pos = int64(p)
		}
		end := l.readableEndLocked(s)
		l.state.RUnlock()

		fpos, h, err := scanHeaders(s, &w, pos, end, func(_ int64, h *batch.Header) bool { return h.MaxTimestamp >= ts })
		if err != nil {
			return dst, err
		}
		if fpos >= 0 {
			return readBatch(s, fpos, h.Size(), dst)
		}
		after = s.base
	}
}

// MaxTimestamp implements storage.Log. Each segment knows its maximum and
// the first batch holding it, so only that batch is looked for.
func (l *Log) MaxTimestamp(ctx context.Context, dst []byte) ([]byte, error) {
	for tries := 1; ; tries++ {
		out, err := l.maxTimestamp(ctx, dst)
		if !l.replacedUnder(err, tries) {
			return out, err
		}
	}
}

func (l *Log) maxTimestamp(ctx context.Context, dst []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return dst, err
	}
	l.state.RLock()
	if l.closed {
		l.state.RUnlock()
		return dst, fmt.Errorf("fs: max timestamp of %s: %w", l.dir, storage.ErrClosed)
	}
	var best *segment
	for _, s := range l.segs {
		if s.maxTSOff >= 0 && (best == nil || s.maxTS > best.maxTS) {
			best = s
		}
	}
	if best == nil {
		l.state.RUnlock()
		return dst, nil
	}
	off := best.maxTSOff
	if off >= l.hw.Load() {
		// Not durable yet: as Kafka, nothing past the high watermark.
		l.state.RUnlock()
		return dst, nil
	}
	_, p := lookupIndex(best.index, uint32(off-best.base))
	end := l.readableEndLocked(best)
	l.state.RUnlock()

	w := window{chunk: scanChunk}
	fpos, h, err := scanHeaders(best, &w, int64(p), end, func(_ int64, h *batch.Header) bool { return h.BaseOffset >= off })
	if err != nil {
		return dst, err
	}
	if fpos < 0 || h.BaseOffset != off {
		return dst, corruptAt(best, int64(p), fmt.Errorf("no batch at offset %d, which holds the max timestamp", off))
	}
	return readBatch(best, fpos, h.Size(), dst)
}

// scanHeaders walks the batch headers of s from pos to end and returns the
// position and header of the first batch for which match, given each
// batch's position and header, is true, or -1.
func scanHeaders(s *segment, w *window, pos, end int64, match func(pos int64, h *batch.Header) bool) (int64, batch.Header, error) {
	w.f = s.f
	for pos < end {
		b, err := w.at(pos, end, batch.HeaderSize)
		if err != nil {
			return -1, batch.Header{}, ioErr(s, pos, err)
		}
		h, err := batch.ReadHeader(b)
		if err != nil {
			return -1, h, corruptAt(s, pos, err)
		}
		if pos+int64(h.Size()) > end {
			return -1, h, corruptAt(s, pos, errors.New("batch runs past the end of the log"))
		}
		if match(pos, &h) {
			return pos, h, nil
		}
		pos += int64(h.Size())
	}
	return -1, batch.Header{}, nil
}

// readBatch appends the size bytes at pos to dst.
func readBatch(s *segment, pos int64, size int, dst []byte) ([]byte, error) {
	n := len(dst)
	dst = slices.Grow(dst, size)[:n+size]
	if err := readFull(s, dst[n:], pos); err != nil {
		return dst[:n], err
	}
	return dst, nil
}

// readFull fills b from s at pos. The caller took pos and len(b) from
// published state, so a short read means the file was cut behind the log's
// back.
func readFull(s *segment, b []byte, pos int64) error {
	n, err := s.f.ReadAt(b, pos)
	if n == len(b) {
		return nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		return corruptAt(s, pos, fmt.Errorf("read %d of %d bytes: %w", n, len(b), io.ErrUnexpectedEOF))
	}
	return ioErr(s, pos, err)
}

// ioErr wraps a failed read of s at pos: storage.ErrClosed when the file
// was closed under the read (retention, the cleaner or Close), else
// storage.ErrIO, so that the broker answers KAFKA_STORAGE_ERROR.
func ioErr(s *segment, pos int64, err error) error {
	if errors.Is(err, os.ErrClosed) {
		return fmt.Errorf("fs: read %s at %d: %w", s.path, pos, storage.ErrClosed)
	}
	return fmt.Errorf("fs: read %s at %d: %w: %w", s.path, pos, storage.ErrIO, err)
}

func corruptAt(s *segment, pos int64, err error) error {
	return fmt.Errorf("fs: read %s at %d: %w: %w", s.path, pos, storage.ErrCorrupt, err)
}

// window is a read buffer over one file, for sequential scans: at returns a
// view of the file that stays valid until the next call.
type window struct {
	f     vfs.File
	buf   []byte
	off   int64 // file position of buf[0]
	chunk int   // least bytes read at a time
}

// at returns the want bytes of the file at pos, or fewer when end comes
// first. It reads chunk bytes or more at a time, never past end.
func (w *window) at(pos, end int64, want int) ([]byte, error) {
	if pos >= w.off && pos+int64(want) <= w.off+int64(len(w.buf)) {
		i := int(pos - w.off)
		return w.buf[i : i+want], nil
	}
	avail := end - pos
	if avail <= 0 {
		return nil, nil
	}
	n := int(min(int64(max(want, w.chunk)), avail))
	if cap(w.buf) < n {
		w.buf = make([]byte, n)
	}
	w.buf = w.buf[:n]
	w.off = pos
	if got, err := w.f.ReadAt(w.buf, pos); got < n {
		w.buf = w.buf[:0]
		if err == nil || errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return w.buf[:min(want, n)], nil
}

// checkedBatch returns the batch at pos, checked with batch.Parse, reading
// nothing at or past end: the scan that recovery and the cleaner share. perr
// says why the bytes at pos are not a valid batch (cut short by end, or
// failing a check); err is a failed read. b stays valid until the next call.
func (w *window) checkedBatch(pos, end int64) (b []byte, h batch.Header, perr, err error) {
	if b, err = w.at(pos, end, batch.HeaderSize); err != nil {
		return nil, h, nil, err
	}
	if h, perr = batch.ReadHeader(b); perr != nil {
		return nil, h, perr, nil
	}
	if int64(h.Size()) > end-pos {
		return nil, h, batch.ErrShort, nil
	}
	if b, err = w.at(pos, end, h.Size()); err != nil {
		return nil, h, nil, err
	}
	h, perr = batch.Parse(b)
	return b, h, perr, nil
}

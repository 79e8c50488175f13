package codec

// Streaming: decompression that holds a bounded amount of memory whatever
// the input expands to, and compression written as it goes, so that a
// batch's records can be checked (and re-encoded) without ever being
// materialised. What each codec holds while it streams:
//   - gzip: its 32 KiB window and tables.
//   - lz4: one block (at most 4 MiB, as the frame declares) and 64 KiB of
//     history for linked blocks.
//   - zstd: the frame's window, refused past MaxZstdWindow (a frame
//     declares it, or its content size when it is a single segment), and
//     one block (128 KiB).
//   - snappy: one block decoded whole (a back-reference may reach anywhere
//     in it): the whole section for a raw block as librdkafka and franz-go
//     write it, a 32 KiB chunk for the Java client's xerial framing. A
//     block cannot expand past 64/3 of its size (snappy's densest tag), and
//     one claiming more is refused before anything is allocated.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// MaxZstdWindow is the largest zstd window a frame may ask the decoder to
// keep. Producers at their default levels use 1-8 MiB (librdkafka and the
// Java client 2 MiB at level 3, franz-go's klauspost encoder 8 MiB, libzstd
// 8 MiB up to level 19); only the "ultra" levels 20-22 of libzstd, on
// batches of more than 8 MiB, ask for more, and such a frame is refused as
// corrupt rather than let a 32 KiB frame claim half a gigabyte of memory.
const MaxZstdWindow = 8 << 20

// maxSnappyRatio bounds what a snappy block of n bytes decodes to: a 3-byte
// copy tag yields at most 64 bytes.
func maxSnappyDecoded(n int) int { return n/3*64 + 64 }

// xerialChunk is the input size of each chunk NewWriter frames snappy
// with, as the Java client's SnappyOutputStream (and Kafka's broker).
const xerialChunk = 32 << 10

// NewReader returns a reader of src decompressed with codec c. It yields at
// most limit bytes: past them, Read fails with ErrTooLarge. A malformed
// stream fails with ErrCorrupt, and an unknown codec with ErrUnknown. The
// memory it holds is bounded by the codec (see above), not by what src
// expands to. Close gives its state back for reuse; the reader must not be
// used after.
func (cs *Codecs) NewReader(c int8, src []byte, limit int64) (io.ReadCloser, error) {
	r := &Reader{cs: cs, c: c, left: limit}
	switch c {
	case None:
		r.br.Reset(src)
		r.r = &r.br
	case Gzip:
		zr, _ := cs.gzr.Get().(*gzip.Reader)
		r.br.Reset(src)
		var err error
		if zr == nil {
			zr, err = gzip.NewReader(&r.br)
		} else {
			err = zr.Reset(&r.br)
		}
		if err != nil {
			return nil, fmt.Errorf("%w: gzip: %v", ErrCorrupt, err)
		}
		r.gz, r.r = zr, zr
	case Snappy:
		r.sn = &snappyReader{cs: cs, src: src, limit: limit}
		r.r = r.sn
	case LZ4:
		zr, _ := cs.lzr.Get().(*lz4.Reader)
		r.br.Reset(src)
		if zr == nil {
			zr = lz4.NewReader(&r.br)
		} else {
			zr.Reset(&r.br)
		}
		r.lz, r.r = zr, zr
	case Zstd:
		d, err := cs.zstdDecoder()
		if err != nil {
			return nil, err
		}
		r.br.Reset(src)
		if err := d.Reset(&r.br); err != nil {
			cs.zdec.Put(d)
			return nil, fmt.Errorf("%w: zstd: %v", ErrCorrupt, err)
		}
		r.zs, r.r = d, d
	default:
		return nil, fmt.Errorf("%w %d", ErrUnknown, c)
	}
	return r, nil
}

// Reader is what NewReader returns.
type Reader struct {
	cs   *Codecs
	c    int8
	r    io.Reader
	br   bytes.Reader
	left int64 // bytes it may still yield
	done bool

	gz *gzip.Reader
	lz *lz4.Reader
	zs *zstd.Decoder
	sn *snappyReader
}

// Read implements io.Reader.
func (r *Reader) Read(p []byte) (int, error) {
	if r.done {
		return 0, io.EOF
	}
	if int64(len(p)) > r.left {
		p = p[:r.left+1] // one byte more tells a stream at the limit from one past it
	}
	n, err := r.r.Read(p)
	if int64(n) > r.left {
		n, r.left = int(r.left), 0
		return n, ErrTooLarge
	}
	r.left -= int64(n)
	switch {
	case err == nil, errors.Is(err, ErrTooLarge), errors.Is(err, ErrCorrupt):
	case err == io.EOF:
		r.done = true
	default:
		err = fmt.Errorf("%w: %s: %v", ErrCorrupt, codecName(r.c), err)
	}
	return n, err
}

// Close implements io.Closer: pooled state goes back.
func (r *Reader) Close() error {
	switch {
	case r.gz != nil:
		r.cs.gzr.Put(r.gz)
	case r.lz != nil:
		r.lz.Reset(nil)
		r.cs.lzr.Put(r.lz)
	case r.zs != nil:
		r.zs.Reset(nil)
		r.cs.zdec.Put(r.zs)
	case r.sn != nil:
		r.sn.release()
	}
	*r = Reader{done: true}
	return nil
}

func codecName(c int8) string {
	switch c {
	case None:
		return "none"
	case Gzip:
		return "gzip"
	case Snappy:
		return "snappy"
	case LZ4:
		return "lz4"
	case Zstd:
		return "zstd"
	}
	return fmt.Sprintf("codec %d", c)
}

// zstdDecoder returns a pooled decoder: one goroutine, low memory, windows
// up to MaxZstdWindow.
func (cs *Codecs) zstdDecoder() (*zstd.Decoder, error) {
	if d, _ := cs.zdec.Get().(*zstd.Decoder); d != nil {
		return d, nil
	}
	return zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true), zstd.WithDecoderMaxWindow(MaxZstdWindow))
}

// snappyReader decodes a raw snappy block, or xerial chunks one at a time,
// into a pooled buffer.
type snappyReader struct {
	cs     *Codecs
	src    []byte
	limit  int64
	xerial int // 0: not known yet; 1: xerial; -1: one raw block
	buf    *[]byte
	out    []byte // decoded, not read yet
}

func (s *snappyReader) Read(p []byte) (int, error) {
	for len(s.out) == 0 {
		if err := s.next(); err != nil {
			return 0, err
		}
	}
	n := copy(p, s.out)
	s.out = s.out[n:]
	return n, nil
}

// next decodes the next block into s.out; io.EOF after the last.
func (s *snappyReader) next() error {
	if s.xerial == 0 {
		s.xerial = -1
		if bytes.HasPrefix(s.src, xerialMagic) {
			if len(s.src) < 16 {
				return fmt.Errorf("%w: snappy: xerial header truncated", ErrCorrupt)
			}
			s.xerial, s.src = 1, s.src[16:]
		} else {
			return s.block(s.src, true)
		}
	}
	if s.xerial < 0 || len(s.src) == 0 {
		return io.EOF
	}
	if len(s.src) < 4 {
		return fmt.Errorf("%w: snappy: chunk length truncated", ErrCorrupt)
	}
	n := int(binary.BigEndian.Uint32(s.src))
	s.src = s.src[4:]
	if n < 0 || n > len(s.src) {
		return fmt.Errorf("%w: snappy: chunk of %d bytes past the end", ErrCorrupt, n)
	}
	blk := s.src[:n]
	s.src = s.src[n:]
	return s.block(blk, false)
}

// block decodes one snappy block into s.out; last marks the raw block that
// is all of the input.
func (s *snappyReader) block(blk []byte, last bool) error {
	if last {
		s.src = nil
	}
	n, err := snappy.DecodedLen(blk)
	switch {
	case err != nil:
		return fmt.Errorf("%w: snappy: %v", ErrCorrupt, err)
	case int64(n) > s.limit:
		return ErrTooLarge // before allocating it
	case n > maxSnappyDecoded(len(blk)):
		return fmt.Errorf("%w: snappy: a block of %d bytes claims %d decoded", ErrCorrupt, len(blk), n)
	}
	s.limit -= int64(n)
	if s.buf == nil {
		s.buf, _ = s.cs.snbuf.Get().(*[]byte)
		if s.buf == nil {
			s.buf = new([]byte)
		}
	}
	if cap(*s.buf) < n {
		*s.buf = make([]byte, n)
	}
	out, err := snappy.Decode((*s.buf)[:n], blk)
	if err != nil {
		return fmt.Errorf("%w: snappy: %v", ErrCorrupt, err)
	}
	s.out = out
	return nil
}

// release gives the decode buffer back, unless it grew past what is worth
// keeping.
func (s *snappyReader) release() {
	if s.buf != nil && cap(*s.buf) <= 4<<20 {
		s.cs.snbuf.Put(s.buf)
	}
	s.buf, s.out = nil, nil
}

// NewWriter returns a writer that compresses what is written to it with
// codec c into dst, framed as Kafka's own broker frames what it re-encodes:
// gzip members, LZ4 frames of 64 KiB blocks, one zstd frame, snappy in the
// Java client's xerial framing (32 KiB chunks), which every client reads.
// Close ends the stream and gives pooled state back.
func (cs *Codecs) NewWriter(c int8, dst io.Writer) (*Writer, error) {
	w := &Writer{cs: cs, c: c, dst: dst}
	switch c {
	case None:
	case Gzip:
		zw, _ := cs.gzw.Get().(*gzip.Writer)
		if zw == nil {
			zw = gzip.NewWriter(dst)
		} else {
			zw.Reset(dst)
		}
		w.gz = zw
	case Snappy:
		w.sn = &xerialWriter{dst: dst}
	case LZ4:
		zw, _ := cs.lzw.Get().(*lz4.Writer)
		if zw == nil {
			zw = lz4.NewWriter(dst)
		} else {
			zw.Reset(dst)
		}
		if err := zw.Apply(lz4.BlockSizeOption(lz4.Block64Kb)); err != nil {
			return nil, err
		}
		w.lz = zw
	case Zstd:
		e, _ := cs.zsw.Get().(*zstd.Encoder)
		if e == nil {
			var err error
			e, err = zstd.NewWriter(dst, zstd.WithEncoderConcurrency(1), zstd.WithWindowSize(1<<20), zstd.WithLowerEncoderMem(true))
			if err != nil {
				return nil, err
			}
		} else {
			e.Reset(dst)
		}
		w.zs = e
	default:
		return nil, fmt.Errorf("%w %d", ErrUnknown, c)
	}
	return w, nil
}

// Writer is what NewWriter returns.
type Writer struct {
	cs  *Codecs
	c   int8
	dst io.Writer

	gz *gzip.Writer
	lz *lz4.Writer
	zs *zstd.Encoder
	sn *xerialWriter
}

// Write implements io.Writer.
func (w *Writer) Write(p []byte) (int, error) {
	switch {
	case w.gz != nil:
		return w.gz.Write(p)
	case w.lz != nil:
		return w.lz.Write(p)
	case w.zs != nil:
		return w.zs.Write(p)
	case w.sn != nil:
		return w.sn.Write(p)
	case w.dst != nil:
		return w.dst.Write(p)
	}
	return 0, errors.New("codec: write after close")
}

// Close ends the stream (trailers, the last block) and gives the writer's
// state back; nothing may be written after.
func (w *Writer) Close() error {
	var err error
	switch {
	case w.gz != nil:
		err = w.gz.Close()
		w.cs.gzw.Put(w.gz)
	case w.lz != nil:
		err = w.lz.Close()
		w.lz.Reset(nil)
		w.cs.lzw.Put(w.lz)
	case w.zs != nil:
		err = w.zs.Close()
		w.zs.Reset(nil)
		w.cs.zsw.Put(w.zs)
	case w.sn != nil:
		err = w.sn.Close()
	}
	*w = Writer{}
	return err
}

// xerialWriter frames snappy as the Java client's SnappyOutputStream: the
// magic and two versions, then (int32 length, snappy block) chunks of
// xerialChunk input bytes each.
type xerialWriter struct {
	dst     io.Writer
	started bool
	in      []byte
	out     []byte
}

func (x *xerialWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		k := min(len(p), xerialChunk-len(x.in))
		x.in = append(x.in, p[:k]...)
		p = p[k:]
		if len(x.in) == xerialChunk {
			if err := x.flush(); err != nil {
				return n - len(p), err
			}
		}
	}
	return n, nil
}

func (x *xerialWriter) flush() error {
	x.out = x.out[:0]
	if !x.started {
		x.started = true
		x.out = append(x.out, xerialMagic...)
		x.out = binary.BigEndian.AppendUint32(x.out, 1)
		x.out = binary.BigEndian.AppendUint32(x.out, 1)
	}
	if len(x.in) > 0 {
		at := len(x.out)
		room := snappy.MaxEncodedLen(len(x.in))
		x.out = slices.Grow(x.out, 4+room)[:at+4+room]
		blk := snappy.Encode(x.out[at+4:], x.in)
		binary.BigEndian.PutUint32(x.out[at:], uint32(len(blk)))
		x.out = x.out[:at+4+len(blk)]
		x.in = x.in[:0]
	}
	_, err := x.dst.Write(x.out)
	return err
}

func (x *xerialWriter) Close() error {
	if len(x.in) > 0 || !x.started {
		return x.flush()
	}
	return nil
}

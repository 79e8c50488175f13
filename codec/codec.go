// Package codec compresses and decompresses the records section of a Kafka
// record batch with the codecs Kafka defines: gzip, snappy, lz4 and zstd
// (github.com/klauspost/compress and github.com/pierrec/lz4).
//
// Decompression is always bounded: it stops with ErrTooLarge once the output
// would pass the caller's limit, so a small batch that expands to gigabytes
// costs at most the limit in memory.
//
// Framing, as Kafka clients write it:
//   - gzip: a gzip stream (RFC 1952), possibly several members.
//   - snappy: either one raw snappy block, or the xerial framing of the Java
//     client: the 8-byte magic "\x82SNAPPY\x00", two int32 versions, then
//     (int32 length, snappy block) chunks.
//   - lz4: the LZ4 frame format (Kafka fixed its header checksum in KIP-57).
//   - zstd: a zstd frame.
package codec

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// Codec numbers, as in a batch's attributes.
const (
	None   = 0
	Gzip   = 1
	Snappy = 2
	LZ4    = 3
	Zstd   = 4
)

// Errors.
var (
	ErrTooLarge = errors.New("codec: decompressed data exceeds the limit")
	ErrUnknown  = errors.New("codec: unknown codec")
	ErrCorrupt  = errors.New("codec: corrupt compressed data")
)

var xerialMagic = []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0}

// Codecs holds reusable encoders and decoders. The zero value is ready to
// use and safe for concurrent use.
type Codecs struct {
	zdec sync.Pool // *zstd.Decoder
	zenc sync.Pool // *zstd.Encoder
}

// Decompress appends the decompression of src with codec c to dst. It fails
// with ErrTooLarge when the output would be more than limit bytes.
func (cs *Codecs) Decompress(c int8, dst, src []byte, limit int) ([]byte, error) {
	switch c {
	case None:
		if len(src) > limit {
			return dst, ErrTooLarge
		}
		return append(dst, src...), nil
	case Gzip:
		zr, err := gzip.NewReader(bytes.NewReader(src))
		if err != nil {
			return dst, fmt.Errorf("%w: gzip: %v", ErrCorrupt, err)
		}
		return readLimited(dst, zr, limit, "gzip")
	case Snappy:
		return decodeSnappy(dst, src, limit)
	case LZ4:
		return readLimited(dst, lz4.NewReader(bytes.NewReader(src)), limit, "lz4")
	case Zstd:
		d, _ := cs.zdec.Get().(*zstd.Decoder)
		if d == nil {
			var err error
			d, err = zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true))
			if err != nil {
				return dst, err
			}
		}
		defer cs.zdec.Put(d)
		if err := d.Reset(bytes.NewReader(src)); err != nil {
			return dst, fmt.Errorf("%w: zstd: %v", ErrCorrupt, err)
		}
		return readLimited(dst, d, limit, "zstd")
	}
	return dst, fmt.Errorf("%w %d", ErrUnknown, c)
}

// readLimited appends everything r yields to dst, failing once more than
// limit bytes have come.
func readLimited(dst []byte, r io.Reader, limit int, name string) ([]byte, error) {
	start := len(dst)
	lr := io.LimitReader(r, int64(limit)+1)
	for {
		if len(dst) == cap(dst) {
			dst = slices.Grow(dst, max(4096, len(dst)-start))
		}
		n, err := lr.Read(dst[len(dst):cap(dst)])
		dst = dst[:len(dst)+n]
		if len(dst)-start > limit {
			return dst[:start], ErrTooLarge
		}
		if err == io.EOF {
			return dst, nil
		}
		if err != nil {
			return dst[:start], fmt.Errorf("%w: %s: %v", ErrCorrupt, name, err)
		}
	}
}

func decodeSnappy(dst, src []byte, limit int) ([]byte, error) {
	if !bytes.HasPrefix(src, xerialMagic) {
		return snappyBlock(dst, src, limit)
	}
	if len(src) < 16 {
		return dst, fmt.Errorf("%w: snappy: xerial header truncated", ErrCorrupt)
	}
	start := len(dst)
	src = src[16:]
	for len(src) > 0 {
		if len(src) < 4 {
			return dst[:start], fmt.Errorf("%w: snappy: chunk length truncated", ErrCorrupt)
		}
		n := int(binary.BigEndian.Uint32(src))
		src = src[4:]
		if n < 0 || n > len(src) {
			return dst[:start], fmt.Errorf("%w: snappy: chunk of %d bytes past the end", ErrCorrupt, n)
		}
		var err error
		if dst, err = snappyBlock(dst, src[:n], limit-(len(dst)-start)); err != nil {
			return dst[:start], err
		}
		src = src[n:]
	}
	return dst, nil
}

func snappyBlock(dst, src []byte, limit int) ([]byte, error) {
	n, err := snappy.DecodedLen(src)
	if err != nil {
		return dst, fmt.Errorf("%w: snappy: %v", ErrCorrupt, err)
	}
	if n > limit {
		return dst, ErrTooLarge
	}
	start := len(dst)
	dst = append(dst, make([]byte, n)...)
	if _, err := snappy.Decode(dst[start:], src); err != nil {
		return dst[:start], fmt.Errorf("%w: snappy: %v", ErrCorrupt, err)
	}
	return dst, nil
}

// Compress appends the compression of src with codec c to dst, framed as the
// Kafka clients frame it (raw snappy blocks, LZ4 frames).
func (cs *Codecs) Compress(c int8, dst, src []byte) ([]byte, error) {
	switch c {
	case None:
		return append(dst, src...), nil
	case Gzip:
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		zw.Write(src)
		if err := zw.Close(); err != nil {
			return dst, err
		}
		return append(dst, b.Bytes()...), nil
	case Snappy:
		return append(dst, snappy.Encode(nil, src)...), nil
	case LZ4:
		var b bytes.Buffer
		zw := lz4.NewWriter(&b)
		if _, err := zw.Write(src); err != nil {
			return dst, err
		}
		if err := zw.Close(); err != nil {
			return dst, err
		}
		return append(dst, b.Bytes()...), nil
	case Zstd:
		e, _ := cs.zenc.Get().(*zstd.Encoder)
		if e == nil {
			var err error
			e, err = zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
			if err != nil {
				return dst, err
			}
		}
		defer cs.zenc.Put(e)
		return e.EncodeAll(src, dst), nil
	}
	return dst, fmt.Errorf("%w %d", ErrUnknown, c)
}

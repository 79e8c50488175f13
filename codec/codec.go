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
	zdec  sync.Pool // *zstd.Decoder (zstdDecoder's options)
	zenc  sync.Pool // *zstd.Encoder for EncodeAll
	zsw   sync.Pool // *zstd.Encoder streaming (NewWriter)
	gzr   sync.Pool // *gzip.Reader
	gzw   sync.Pool // *gzip.Writer
	lzr   sync.Pool // *lz4.Reader
	lzw   sync.Pool // *lz4.Writer
	snbuf sync.Pool // *[]byte: snappy blocks decoded
}

// Decompress appends the decompression of src with codec c to dst. It fails
// with ErrTooLarge when the output would be more than limit bytes, having
// grown dst by at most about twice the limit. It holds the whole output:
// to look at records without that, stream them (NewReader).
func (cs *Codecs) Decompress(c int8, dst, src []byte, limit int) ([]byte, error) {
	if c == None {
		if len(src) > limit {
			return dst, ErrTooLarge
		}
		return append(dst, src...), nil
	}
	r, err := cs.NewReader(c, src, int64(limit))
	if err != nil {
		return dst, err
	}
	defer r.Close()
	start := len(dst)
	for {
		if len(dst) == cap(dst) {
			dst = slices.Grow(dst, max(4096, len(dst)-start))
		}
		n, err := r.Read(dst[len(dst):cap(dst)])
		dst = dst[:len(dst)+n]
		switch {
		case err == io.EOF:
			return dst, nil
		case err != nil:
			return dst[:start], err
		}
	}
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

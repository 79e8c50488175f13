package codec

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/klauspost/compress/snappy"
)

var all = []struct {
	name string
	c    int8
}{{"none", None}, {"gzip", Gzip}, {"snappy", Snappy}, {"lz4", LZ4}, {"zstd", Zstd}}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	var cs Codecs
	in := bytes.Repeat([]byte("streamhouse record bytes "), 4000)
	for _, tc := range all {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			z, err := cs.Compress(tc.c, []byte("keep"), in)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(z, []byte("keep")) {
				t.Fatal("Compress did not append")
			}
			out, err := cs.Decompress(tc.c, []byte("pre"), z[4:], len(in))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(out, append([]byte("pre"), in...)) {
				t.Fatal("round trip differs")
			}
			// One byte less than the output is too much.
			if _, err := cs.Decompress(tc.c, nil, z[4:], len(in)-1); !errors.Is(err, ErrTooLarge) {
				t.Fatalf("limit len-1: %v", err)
			}
		})
	}
}

// A bomb, a few KiB that expand to 1 GiB, is refused at the limit without
// expanding it.
func TestBombIsBounded(t *testing.T) {
	t.Parallel()
	var cs Codecs
	zeros := make([]byte, 64<<20)
	for _, tc := range all[1:] {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			z, err := cs.Compress(tc.c, nil, zeros)
			if err != nil {
				t.Fatal(err)
			}
			out, err := cs.Decompress(tc.c, nil, z, 1<<20)
			if !errors.Is(err, ErrTooLarge) {
				t.Fatalf("err = %v", err)
			}
			if cap(out) > 4<<20 {
				t.Fatalf("buffer grew to %d bytes for a 1 MiB limit", cap(out))
			}
		})
	}
}

// The Java client frames snappy the xerial way; librdkafka and franz-go
// write raw blocks. Both decode.
func TestSnappyXerial(t *testing.T) {
	t.Parallel()
	var cs Codecs
	a, b := []byte("first chunk "), []byte("second chunk")
	z := append([]byte{}, xerialMagic...)
	z = binary.BigEndian.AppendUint32(z, 1)
	z = binary.BigEndian.AppendUint32(z, 1)
	for _, c := range [][]byte{a, b} {
		blk := snappy.Encode(nil, c)
		z = binary.BigEndian.AppendUint32(z, uint32(len(blk)))
		z = append(z, blk...)
	}
	out, err := cs.Decompress(Snappy, nil, z, 100)
	if err != nil || string(out) != "first chunk second chunk" {
		t.Fatalf("out %q err %v", out, err)
	}
	if _, err := cs.Decompress(Snappy, nil, z[:len(z)-3], 100); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("truncated chunk: %v", err)
	}
	if _, err := cs.Decompress(Snappy, nil, z, 20); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("limit: %v", err)
	}
}

func TestUnknownAndCorrupt(t *testing.T) {
	t.Parallel()
	var cs Codecs
	if _, err := cs.Decompress(5, nil, []byte("x"), 10); !errors.Is(err, ErrUnknown) {
		t.Fatalf("codec 5: %v", err)
	}
	for _, tc := range all[1:] {
		if _, err := cs.Decompress(tc.c, nil, []byte("definitely not compressed data"), 100); err == nil {
			t.Errorf("%s: garbage decoded without error", tc.name)
		}
	}
}

// FuzzDecompress: any input, any codec: no panic, output within the limit.
func FuzzDecompress(f *testing.F) {
	var cs Codecs
	for _, tc := range all {
		z, _ := cs.Compress(tc.c, nil, []byte("seed seed seed seed"))
		f.Add(tc.c, z)
	}
	f.Fuzz(func(t *testing.T, c int8, in []byte) {
		const limit = 1 << 16
		out, err := cs.Decompress(c, nil, in, limit)
		if len(out) > limit {
			t.Fatalf("%d bytes out, limit %d", len(out), limit)
		}
		if err == nil && c == None && !bytes.Equal(out, in) {
			t.Fatal("none changed the bytes")
		}
	})
}

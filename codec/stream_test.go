package codec

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// writeChunks writes src to w in chunks of odd sizes and closes it.
func writeChunks(t testing.TB, w *Writer, src []byte) {
	t.Helper()
	for i := 0; len(src) > 0; i++ {
		n := min(len(src), 1+i*7919%70000)
		if _, err := w.Write(src[:n]); err != nil {
			t.Fatal(err)
		}
		src = src[n:]
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// readAll reads r in reads of 1000 bytes.
func readAll(r io.Reader) ([]byte, error) {
	var out []byte
	p := make([]byte, 1000)
	for {
		n, err := r.Read(p)
		out = append(out, p[:n]...)
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
	}
}

// What NewWriter writes, NewReader and Decompress read back, at the limit
// and not one byte past it.
func TestStreamRoundTrip(t *testing.T) {
	t.Parallel()
	var cs Codecs
	rnd := rand.New(rand.NewPCG(1, 2))
	random := make([]byte, 300<<10)
	for i := range random {
		random[i] = byte(rnd.Uint32())
	}
	inputs := map[string][]byte{
		"empty":  nil,
		"small":  []byte("one record"),
		"text":   bytes.Repeat([]byte("streamhouse record bytes "), 40000),
		"random": random,
	}
	for _, tc := range all {
		for name, in := range inputs {
			t.Run(tc.name+"/"+name, func(t *testing.T) {
				t.Parallel()
				var z bytes.Buffer
				w, err := cs.NewWriter(tc.c, &z)
				if err != nil {
					t.Fatal(err)
				}
				writeChunks(t, w, in)
				r, err := cs.NewReader(tc.c, z.Bytes(), int64(len(in)))
				if err != nil {
					t.Fatal(err)
				}
				out, err := readAll(r)
				r.Close()
				if err != nil || !bytes.Equal(out, in) {
					t.Fatalf("read back %d bytes of %d: %v", len(out), len(in), err)
				}
				if got, err := cs.Decompress(tc.c, nil, z.Bytes(), len(in)); err != nil || !bytes.Equal(got, in) {
					t.Fatalf("Decompress: %d bytes of %d: %v", len(got), len(in), err)
				}
				if len(in) == 0 {
					return
				}
				r, err = cs.NewReader(tc.c, z.Bytes(), int64(len(in)-1))
				if err == nil {
					out, err = readAll(r)
					r.Close()
				}
				if !errors.Is(err, ErrTooLarge) || len(out) > len(in)-1 {
					t.Fatalf("limit len-1: %d bytes, %v", len(out), err)
				}
			})
		}
	}
}

// snappy as Kafka's broker and the Java client frame it (xerial): chunks of
// 32 KiB.
func TestSnappyWriterFramesXerial(t *testing.T) {
	t.Parallel()
	var cs Codecs
	var z bytes.Buffer
	w, _ := cs.NewWriter(Snappy, &z)
	writeChunks(t, w, bytes.Repeat([]byte("x"), 100<<10))
	b := z.Bytes()
	if !bytes.HasPrefix(b, xerialMagic) || binary.BigEndian.Uint32(b[8:]) != 1 || binary.BigEndian.Uint32(b[12:]) != 1 {
		t.Fatalf("header %x", b[:min(16, len(b))])
	}
	chunks := 0
	for b = b[16:]; len(b) > 0; chunks++ {
		n := int(binary.BigEndian.Uint32(b))
		b = b[4+n:]
	}
	if chunks != 4 {
		t.Fatalf("%d chunks for 100 KiB, want 4", chunks)
	}
}

// A zstd frame asking for a window past MaxZstdWindow is refused before the
// decoder allocates it; one within decodes.
func TestZstdWindowBounded(t *testing.T) {
	t.Parallel()
	var cs Codecs
	frame := func(window int) []byte {
		var z bytes.Buffer
		e, err := zstd.NewWriter(&z, zstd.WithWindowSize(window), zstd.WithEncoderConcurrency(1))
		if err != nil {
			t.Fatal(err)
		}
		zero := make([]byte, 1<<20)
		for range 2 * window >> 20 {
			e.Write(zero)
		}
		e.Close()
		return z.Bytes()
	}
	r, err := cs.NewReader(Zstd, frame(MaxZstdWindow), 1<<40)
	if err == nil {
		_, err = io.Copy(io.Discard, r)
		r.Close()
	}
	if err != nil {
		t.Fatalf("window of %d: %v", MaxZstdWindow, err)
	}
	r, err = cs.NewReader(Zstd, frame(2*MaxZstdWindow), 1<<40)
	if err == nil {
		_, err = io.Copy(io.Discard, r)
		r.Close()
	}
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("window of %d: %v, want ErrCorrupt", 2*MaxZstdWindow, err)
	}
}

// A snappy block claiming more than snappy can encode in its size is
// refused before its claimed size is allocated. Not parallel: it measures
// the whole process's allocations, which parallel tests would add to (a
// run saw 84 MB).
func TestSnappyClaimBounded(t *testing.T) {
	var cs Codecs
	claim := binary.AppendUvarint(nil, 1<<31)
	claim = append(claim, make([]byte, 100)...)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	r, err := cs.NewReader(Snappy, claim, 1<<40)
	if err == nil {
		_, err = io.Copy(io.Discard, r)
		r.Close()
	}
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("err = %v", err)
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<20 {
		t.Fatalf("allocated %d bytes for a 100-byte block claiming 2 GiB", grew)
	}
	if _, err := cs.Decompress(Snappy, nil, claim, 1000); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("under a limit of 1000: %v", err)
	}
}

// bomb is a stream of n zero bytes compressed with c, written as it goes.
func bomb(tb testing.TB, cs *Codecs, c int8, n int) []byte {
	tb.Helper()
	var z bytes.Buffer
	w, err := cs.NewWriter(c, &z)
	if err != nil {
		tb.Fatal(err)
	}
	zero := make([]byte, 1<<20)
	for range n >> 20 {
		if _, err := w.Write(zero); err != nil {
			tb.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		tb.Fatal(err)
	}
	return z.Bytes()
}

// BenchmarkStreamBomb streams 256 MiB of zeros out of each codec's
// compressed form, as produce validation reads a batch: bytes allocated per
// stream (B/op) is what a bomb costs in memory, MB/s the CPU it costs.
//
//	go test ./codec -run '^$' -bench StreamBomb -benchtime 5x
func BenchmarkStreamBomb(b *testing.B) {
	var cs Codecs
	const size = 256 << 20
	for _, tc := range all[1:] {
		b.Run(tc.name, func(b *testing.B) {
			z := bomb(b, &cs, tc.c, size)
			buf := make([]byte, 32<<10)
			b.SetBytes(size)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				r, err := cs.NewReader(tc.c, z, 1<<40)
				if err != nil {
					b.Fatal(err)
				}
				n, err := io.CopyBuffer(io.Discard, onlyReader{r}, buf)
				r.Close()
				if err != nil || n != size {
					b.Fatalf("%d bytes, %v", n, err)
				}
			}
			b.ReportMetric(float64(len(z)), "compressed-bytes")
		})
	}
}

// onlyReader hides WriterTo, so that io.CopyBuffer reads as a Scanner does.
type onlyReader struct{ io.Reader }

// FuzzNewReader: any input, any codec: what NewReader yields is what
// Decompress returns, never more than the limit, and the same error class.
func FuzzNewReader(f *testing.F) {
	var cs Codecs
	for _, tc := range all {
		z, _ := cs.Compress(tc.c, nil, []byte("seed seed seed seed"))
		f.Add(tc.c, z, uint16(100))
		var x bytes.Buffer
		w, _ := cs.NewWriter(tc.c, &x)
		w.Write(bytes.Repeat([]byte("seed"), 1000))
		w.Close()
		f.Add(tc.c, x.Bytes(), uint16(3000))
	}
	f.Fuzz(func(t *testing.T, c int8, in []byte, limit uint16) {
		want, werr := cs.Decompress(c, nil, in, int(limit))
		r, err := cs.NewReader(c, in, int64(limit))
		var got []byte
		if err == nil {
			got, err = readAll(r)
			r.Close()
		}
		if len(got) > int(limit) {
			t.Fatalf("%d bytes out, limit %d", len(got), limit)
		}
		switch {
		case werr == nil && err == nil:
			if !bytes.Equal(got, want) {
				t.Fatal("NewReader and Decompress disagree")
			}
		case werr == nil || err == nil:
			t.Fatalf("Decompress: %v, NewReader: %v", werr, err)
		case errors.Is(werr, ErrTooLarge) != errors.Is(err, ErrTooLarge):
			t.Fatalf("Decompress: %v, NewReader: %v", werr, err)
		case !errors.Is(err, ErrTooLarge) && !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrUnknown):
			t.Fatalf("NewReader: %v is not one of the package's errors", err)
		}
	})
}

package objstore

import (
	"bytes"
	"io"
	"math/rand/v2"
	"testing"
)

// TestBuffersReader reads a Buffers in every way a client reads a body
// (whole, in small reads after seeks, at offsets) against bytes.Reader
// over the same bytes.
func TestBuffersReader(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := range 200 {
		var b Buffers
		var want []byte
		for range rng.IntN(6) {
			p := make([]byte, rng.IntN(40))
			for i := range p {
				p[i] = byte(rng.Uint32())
			}
			b = b.Append(p)
			want = append(want, p...)
		}
		if b.Size() != int64(len(want)) {
			t.Fatalf("trial %d: size %d, want %d", trial, b.Size(), len(want))
		}
		got, err := io.ReadAll(b.Reader())
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("trial %d: ReadAll %x %v, want %x", trial, got, err, want)
		}
		r, ref := b.Reader(), bytes.NewReader(want)
		for range 20 {
			if rng.IntN(3) == 0 {
				off := rng.Int64N(int64(len(want)) + 3)
				g, e1 := r.Seek(off, io.SeekStart)
				w, e2 := ref.Seek(off, io.SeekStart)
				if g != w || (e1 == nil) != (e2 == nil) {
					t.Fatalf("trial %d: Seek(%d) %d %v, want %d %v", trial, off, g, e1, w, e2)
				}
			}
			n := rng.IntN(30)
			g, w := make([]byte, n), make([]byte, n)
			gn, ge := io.ReadFull(r, g)
			wn, we := io.ReadFull(ref, w)
			if gn != wn || ge != we || !bytes.Equal(g[:gn], w[:wn]) {
				t.Fatalf("trial %d: read %d: %d %v %x, want %d %v %x", trial, n, gn, ge, g[:gn], wn, we, w[:wn])
			}
			off := rng.Int64N(int64(len(want)) + 3)
			g, w = make([]byte, n), make([]byte, n)
			gn, ge = r.ReadAt(g, off)
			wn, we = ref.ReadAt(w, off)
			if gn != wn || ge != we || !bytes.Equal(g[:gn], w[:wn]) {
				t.Fatalf("trial %d: ReadAt(%d, %d): %d %v, want %d %v", trial, n, off, gn, ge, wn, we)
			}
		}
	}
}

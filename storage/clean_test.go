package storage

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/streamhouse/streamhouse/batch"
)

// TestIndexSegments checks the key-indexing loop both cleaners share: it
// indexes whole segments while the key index holds them, stops at the
// segment that fills it, and passes the iterator's errors on as they are.
func TestIndexSegments(t *testing.T) {
	// seg makes a segment of one-record batches with the keys, from
	// offset base.
	seg := func(base int64, keys ...string) [][]byte {
		var s [][]byte
		for i, k := range keys {
			b := batch.Make([]batch.KeyValue{{Key: []byte(k), Value: []byte("v")}}, 1000)
			batch.SetBaseOffset(b, base+int64(i))
			s = append(s, b)
		}
		return s
	}
	var seen int // batches the iterator handed out
	batches := func(ctx context.Context, s [][]byte, fn func(b []byte, h *batch.Header) error) error {
		for _, b := range s {
			h, err := batch.Parse(b)
			if err != nil {
				return err
			}
			seen++
			if err := fn(b, &h); err != nil {
				return err
			}
		}
		return nil
	}
	segs := [][][]byte{seg(0, "a", "b"), seg(2, "c", "a"), seg(4, "d", "e", "f")}
	for _, c := range []struct {
		name       string
		maxKeys    int
		firstDirty int64
		want       int
		keys       int
	}{
		{name: "all fit", maxKeys: 10, want: 3, keys: 6},
		{name: "full in the third", maxKeys: 4, want: 2, keys: 4},
		{name: "full in the second", maxKeys: 2, want: 1, keys: 2},
		{name: "below firstDirty skipped", maxKeys: 4, firstDirty: 3, want: 3, keys: 4},
	} {
		t.Run(c.name, func(t *testing.T) {
			bc := &BatchCleaner{Keys: NewKeyIndex(c.maxKeys)}
			seen = 0
			n, err := IndexSegments(context.Background(), bc, segs, c.firstDirty, "test", batches)
			if err != nil || n != c.want || bc.Keys.Len() != c.keys {
				t.Fatalf("IndexSegments = (%d, %v) with %d keys, want (%d, nil) with %d", n, err, bc.Keys.Len(), c.want, c.keys)
			}
			if c.want == 3 && seen != 7 {
				t.Fatalf("the iterator handed out %d batches, want 7", seen)
			}
		})
	}

	t.Run("iterator error", func(t *testing.T) {
		bad := errors.New("segment unreadable")
		each := func(ctx context.Context, s [][]byte, fn func(b []byte, h *batch.Header) error) error { return bad }
		bc := &BatchCleaner{Keys: NewKeyIndex(10)}
		if n, err := IndexSegments(context.Background(), bc, segs, 0, "test", each); err != bad || n != 0 {
			t.Fatalf("IndexSegments = (%d, %v), want (0, %v) as it is", n, err, bad)
		}
	})
	t.Run("records that do not decode", func(t *testing.T) {
		b := seg(0, "a")[0]
		h, err := batch.Parse(b)
		if err != nil {
			t.Fatal(err)
		}
		b = b[:len(b)-2] // the record runs past the section
		each := func(ctx context.Context, s [][]byte, fn func(b []byte, h *batch.Header) error) error {
			h.Length -= 2
			return fn(b, &h)
		}
		bc := &BatchCleaner{Keys: NewKeyIndex(10)}
		_, err = IndexSegments(context.Background(), bc, segs[:1], 0, "fs: compact dir", each)
		if err == nil || !strings.HasPrefix(err.Error(), "fs: compact dir: batch at offset 0: ") {
			t.Fatalf("IndexSegments = %v, want a records error prefixed with the name", err)
		}
	})
}

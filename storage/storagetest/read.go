package storagetest

import (
	"bytes"
	"errors"
	"testing"

	"github.com/streamhouse/streamhouse/batch"
	"github.com/streamhouse/streamhouse/storage"
)

func testEmptyLog(t *testing.T, h *harness) {
	l := h.open(t, part("t", 0), storage.LogConfig{})
	for name, got := range map[string]int64{
		"LogStartOffset": l.LogStartOffset(),
		"HighWatermark":  l.HighWatermark(),
		"NextOffset":     l.NextOffset(),
		"Size":           l.Size(),
	} {
		if got != 0 {
			t.Errorf("%s = %d, want 0", name, got)
		}
	}
	dst := []byte("x")
	if got, err := l.Read(t.Context(), 0, 1<<20, true, dst); err != nil || !bytes.Equal(got, dst) {
		t.Errorf("Read(0) = %q, %v; want dst unchanged, nil", got, err)
	}
	if _, err := l.Read(t.Context(), 1, 1<<20, true, nil); !errors.Is(err, storage.ErrOffsetOutOfRange) {
		t.Errorf("Read(1) error = %v, want ErrOffsetOutOfRange", err)
	}
	if got, err := l.FindTimestamp(t.Context(), 0, dst); err != nil || !bytes.Equal(got, dst) {
		t.Errorf("FindTimestamp = %q, %v; want dst unchanged, nil", got, err)
	}
	if got, err := l.MaxTimestamp(t.Context(), dst); err != nil || !bytes.Equal(got, dst) {
		t.Errorf("MaxTimestamp = %q, %v; want dst unchanged, nil", got, err)
	}
}

func testReadEveryOffset(t *testing.T, h *harness) {
	for _, tc := range []struct {
		name string
		cfg  storage.LogConfig
	}{
		{"Defaults", storage.LogConfig{}},
		{"DenseIndex", storage.LogConfig{IndexIntervalBytes: 1}},
		{"SparseIndex", storage.LogConfig{IndexIntervalBytes: 2000}},
		{"SmallSegments", storage.LogConfig{SegmentBytes: 1500, IndexIntervalBytes: 300}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := h.open(t, part("read-"+tc.name, 0), tc.cfg)
			all := appendAll(t, l, makeBatches(40, seqTS)...)
			for off := int64(0); off < l.HighWatermark(); off++ {
				got, err := l.Read(t.Context(), off, 1<<20, true, nil)
				if err != nil {
					t.Fatalf("Read(%d): %v", off, err)
				}
				if n := checkRead(t, got, all, indexOf(all, off)); n == 0 {
					t.Fatalf("Read(%d) returned nothing below the high watermark", off)
				}
			}
			readAll(t, l, all)
		})
	}
}

func testReadAppendsToDst(t *testing.T, h *harness) {
	l := h.open(t, part("t", 0), storage.LogConfig{})
	all := appendAll(t, l, makeBatches(3, seqTS)...)
	prefix := []byte("prefix")
	for _, dst := range [][]byte{
		bytes.Clone(prefix),
		append(make([]byte, 0, 1<<16), prefix...), // room to spare
	} {
		got, err := l.Read(t.Context(), 1, 1<<20, true, dst)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(got, prefix) {
			t.Fatalf("Read overwrote dst: got %q...", got[:min(len(got), 10)])
		}
		checkRead(t, got[len(prefix):], all, indexOf(all, 1))
	}
}

func testReadAtHighWatermark(t *testing.T, h *harness) {
	l := h.open(t, part("t", 0), storage.LogConfig{})
	appendAll(t, l, makeBatches(5, seqTS)...)
	for _, minOne := range []bool{false, true} {
		got, err := l.Read(t.Context(), l.HighWatermark(), 1<<20, minOne, nil)
		if err != nil || len(got) != 0 {
			t.Errorf("Read(HW, minOne=%v) = %d bytes, %v; want 0, nil", minOne, len(got), err)
		}
	}
}

func testReadOutOfRange(t *testing.T, h *harness) {
	l := h.open(t, part("t", 0), storage.LogConfig{})
	appendAll(t, l, makeBatches(5, seqTS)...)
	for _, off := range []int64{-1, -1 << 40, l.HighWatermark() + 1, l.HighWatermark() + 1<<40} {
		got, err := l.Read(t.Context(), off, 1<<20, true, []byte("d"))
		if !errors.Is(err, storage.ErrOffsetOutOfRange) {
			t.Errorf("Read(%d) error = %v, want ErrOffsetOutOfRange", off, err)
		}
		if string(got) != "d" {
			t.Errorf("Read(%d) changed dst to %q", off, got)
		}
	}
}

func testReadMaxBytes(t *testing.T, h *harness) {
	// One segment: within it, a read is expected to fill maxBytes with as
	// many whole batches as fit.
	l := h.open(t, part("t", 0), storage.LogConfig{IndexIntervalBytes: 100})
	all := appendAll(t, l, makeBatches(12, seqTS)...)
	for first := range all {
		sum := 0
		for k := first; k < len(all); k++ {
			size := len(all[k].b)
			for _, maxBytes := range []int{sum + size - 1, sum + size} {
				want := k - first
				if maxBytes == sum+size {
					want++
				}
				for _, minOne := range []bool{false, true} {
					got, err := l.Read(t.Context(), all[first].base, maxBytes, minOne, nil)
					if err != nil {
						t.Fatal(err)
					}
					if len(got) > maxBytes && !(minOne && want == 0) {
						t.Fatalf("Read(%d, maxBytes=%d) returned %d bytes", all[first].base, maxBytes, len(got))
					}
					n := checkRead(t, got, all, first)
					if minOne && want == 0 {
						want = 1
					}
					if n != want {
						t.Fatalf("Read(%d, maxBytes=%d, minOne=%v) returned %d batches, want %d",
							all[first].base, maxBytes, minOne, n, want)
					}
				}
			}
			sum += size
		}
	}
}

func testReadMinOne(t *testing.T, h *harness) {
	l := h.open(t, part("t", 0), storage.LogConfig{})
	all := appendAll(t, l, MakeBatch(3, 500, 1), MakeBatch(1, 10, 2))
	size := len(all[0].b)
	for _, tc := range []struct {
		name     string
		offset   int64
		maxBytes int
		minOne   bool
		want     int // batches
	}{
		{"TooSmallNoMinOne", 0, size - 1, false, 0},
		{"TooSmallMinOne", 0, size - 1, true, 1},
		{"ZeroNoMinOne", 0, 0, false, 0},
		{"ZeroMinOne", 0, 0, true, 1},
		{"NegativeMinOne", 0, -1, true, 1},
		{"MidBatchMinOne", 2, 1, true, 1},
		{"ExactFit", 0, size, false, 1},
		{"SecondBatchMinOne", 3, 1, true, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := l.Read(t.Context(), tc.offset, tc.maxBytes, tc.minOne, []byte("d"))
			if err != nil {
				t.Fatal(err)
			}
			if n := checkRead(t, got[1:], all, indexOf(all, tc.offset)); n != tc.want {
				t.Fatalf("got %d batches, want %d", n, tc.want)
			}
		})
	}
}

func testMultiSegment(t *testing.T, h *harness) {
	cfg := storage.LogConfig{SegmentBytes: 2048, IndexIntervalBytes: 256}
	l := h.open(t, part("t", 0), cfg)
	all := appendAll(t, l, makeBatches(60, seqTS)...)
	for off := int64(0); off < l.HighWatermark(); off++ {
		for _, maxBytes := range []int{1, 700, 1 << 20} {
			got, err := l.Read(t.Context(), off, maxBytes, true, nil)
			if err != nil {
				t.Fatalf("Read(%d, %d): %v", off, maxBytes, err)
			}
			if n := checkRead(t, got, all, indexOf(all, off)); n == 0 {
				t.Fatalf("Read(%d, %d) returned nothing", off, maxBytes)
			}
		}
	}
	readAll(t, l, all)
	var size int64
	for _, s := range all {
		size += int64(len(s.b))
	}
	if l.Size() != size {
		t.Errorf("Size = %d, want %d", l.Size(), size)
	}
}

func testLargeBatch(t *testing.T, h *harness) {
	cfg := storage.LogConfig{SegmentBytes: 1024, IndexIntervalBytes: 64}
	l := h.open(t, part("t", 0), cfg)
	all := appendAll(t, l,
		MakeBatch(2, 50, 1),
		MakeBatch(3, 4000, 2), // alone in its segment
		MakeBatch(1, 50, 3),
		MakeBatch(2, 5000, 4),
		MakeBatch(2, 5000, 5),
		MakeBatch(1, 10, 6),
	)
	for off := int64(0); off < l.HighWatermark(); off++ {
		got, err := l.Read(t.Context(), off, 10, true, nil)
		if err != nil {
			t.Fatalf("Read(%d): %v", off, err)
		}
		if n := checkRead(t, got, all, indexOf(all, off)); n != 1 {
			t.Fatalf("Read(%d, 10, minOne) returned %d batches, want 1", off, n)
		}
		got, err = l.Read(t.Context(), off, 10, false, nil)
		if err != nil || len(got) != 0 {
			t.Fatalf("Read(%d, 10, !minOne) = %d bytes, %v; want nothing", off, len(got), err)
		}
	}
	readAll(t, l, all)
}

func testFindTimestamp(t *testing.T, h *harness) {
	// Not monotonic, with ties, over several segments and index entries.
	tss := []int64{100, 50, 200, 200, 150, 300, 100, 300, 250, 400, 400, 10, 500, 450, 500, 600}
	for i := range 40 {
		tss = append(tss, 600+int64((i*7919)%97))
	}
	cfg := storage.LogConfig{SegmentBytes: 1200, IndexIntervalBytes: 150}
	p := part("t", 0)
	l := h.open(t, p, cfg)
	all := appendAll(t, l, makeBatches(len(tss), func(i int) int64 { return tss[i] })...)

	check := func(t *testing.T, l storage.Log) {
		t.Helper()
		queries := []int64{-1 << 62, 0, 1 << 62}
		for _, ts := range tss {
			queries = append(queries, ts-1, ts, ts+1)
		}
		for _, q := range queries {
			want := -1
			for i, s := range all {
				if s.ts >= q {
					want = i
					break
				}
			}
			got, err := l.FindTimestamp(t.Context(), q, []byte("d"))
			if err != nil {
				t.Fatalf("FindTimestamp(%d): %v", q, err)
			}
			if want < 0 {
				if string(got) != "d" {
					t.Fatalf("FindTimestamp(%d) = %d bytes, want none", q, len(got)-1)
				}
				continue
			}
			if !bytes.Equal(got[1:], all[want].b) {
				hd, _ := batch.ReadHeader(got[1:])
				t.Fatalf("FindTimestamp(%d) returned the batch at %d, want the one at %d", q, hd.BaseOffset, all[want].base)
			}
		}
	}
	check(t, l)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	check(t, h.open(t, p, cfg))
}

func testMaxTimestamp(t *testing.T, h *harness) {
	for _, tc := range []struct {
		name string
		tss  []int64
	}{
		{"Single", []int64{5}},
		{"Increasing", []int64{1, 2, 3, 4, 5, 6, 7, 8}},
		{"FirstOfTies", []int64{1, 9, 3, 9, 9, 2, 8}},
		{"MaxInFirstSegment", []int64{900, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18}},
		{"TiesAcrossSegments", []int64{1, 70, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 70, 13, 14, 15, 16, 70}},
		{"Negative", []int64{-5, -1, -3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := storage.LogConfig{SegmentBytes: 900, IndexIntervalBytes: 100}
			p := part("max-"+tc.name, 0)
			l := h.open(t, p, cfg)
			all := appendAll(t, l, makeBatches(len(tc.tss), func(i int) int64 { return tc.tss[i] })...)
			want := 0
			for i, s := range all {
				if s.ts > all[want].ts {
					want = i
				}
			}
			check := func(l storage.Log) {
				t.Helper()
				got, err := l.MaxTimestamp(t.Context(), []byte("d"))
				if err != nil {
					t.Fatal(err)
				}
				if string(got[:1]) != "d" || !bytes.Equal(got[1:], all[want].b) {
					hd, _ := batch.ReadHeader(got[1:])
					t.Fatalf("MaxTimestamp returned the batch at %d, want the one at %d", hd.BaseOffset, all[want].base)
				}
			}
			check(l)
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			check(h.open(t, p, cfg))
		})
	}
}

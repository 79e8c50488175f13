package fs

import (
	"math"
	"testing"

	"github.com/streamhouse/streamhouse/batch"
)

func makeIndex(entries ...[2]uint32) []byte {
	var b []byte
	for _, e := range entries {
		b = appendIndexEntry(b, e[0], e[1])
	}
	return b
}

func TestLookupIndex(t *testing.T) {
	t.Parallel()
	idx := makeIndex([2]uint32{3, 100}, [2]uint32{7, 250}, [2]uint32{20, 900})
	for _, tc := range []struct {
		rel, wantRel, wantPos uint32
	}{
		{0, 0, 0}, {2, 0, 0}, {3, 3, 100}, {6, 3, 100}, {7, 7, 250},
		{19, 7, 250}, {20, 20, 900}, {math.MaxUint32, 20, 900},
	} {
		if r, p := lookupIndex(idx, tc.rel); r != tc.wantRel || p != tc.wantPos {
			t.Errorf("lookupIndex(%d) = (%d, %d), want (%d, %d)", tc.rel, r, p, tc.wantRel, tc.wantPos)
		}
	}
	if r, p := lookupIndex(nil, 5); r != 0 || p != 0 {
		t.Errorf("lookupIndex(empty) = (%d, %d)", r, p)
	}
}

func TestLookupTime(t *testing.T) {
	t.Parallel()
	var tidx []byte
	for _, e := range []struct {
		ts  int64
		rel uint32
	}{{-5, 0}, {10, 4}, {30, 4}, {31, 9}} {
		tidx = appendTimeEntry(tidx, e.ts, e.rel)
	}
	for _, tc := range []struct {
		ts      int64
		wantRel uint32
		wantOK  bool
	}{
		{math.MinInt64, 0, false}, {-5, 0, false}, {-4, 0, true}, {10, 0, true},
		{11, 4, true}, {31, 4, true}, {32, 9, true}, {math.MaxInt64, 9, true},
	} {
		if r, ok := lookupTime(tidx, tc.ts); r != tc.wantRel || ok != tc.wantOK {
			t.Errorf("lookupTime(%d) = (%d, %v), want (%d, %v)", tc.ts, r, ok, tc.wantRel, tc.wantOK)
		}
	}
}

func TestCheckIndex(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		idx  []byte
		size int64
		span int64
		ok   bool
	}{
		{"Empty", nil, 0, 1, true},
		{"Good", makeIndex([2]uint32{1, 100}, [2]uint32{5, 400}), 1000, 10, true},
		{"PartialEntry", makeIndex([2]uint32{1, 100})[:7], 1000, 10, false},
		{"RelNotIncreasing", makeIndex([2]uint32{5, 100}, [2]uint32{5, 400}), 1000, 10, false},
		{"PosNotIncreasing", makeIndex([2]uint32{1, 400}, [2]uint32{5, 400}), 1000, 10, false},
		{"PosPastEnd", makeIndex([2]uint32{1, 100}, [2]uint32{5, 990}), 1000, 10, false},
		{"RelPastSpan", makeIndex([2]uint32{1, 100}, [2]uint32{10, 400}), 1000, 10, false},
		{"Zeros", make([]byte, 16), 1000, 10, false},
	} {
		if err := checkIndex(tc.idx, tc.size, tc.span); (err == nil) != tc.ok {
			t.Errorf("%s: checkIndex = %v, want ok %v", tc.name, err, tc.ok)
		}
	}
}

// FuzzIndex checks the index decoder on any bytes: checkIndex never panics
// and, when it accepts, every lookup returns the greatest entry at or below
// the query, inside the file; checkTimeIndex likewise for lookupTime.
func FuzzIndex(f *testing.F) {
	f.Add(makeIndex([2]uint32{1, 100}, [2]uint32{5, 400}), int64(1000), int64(10), uint32(4))
	f.Add([]byte{}, int64(0), int64(1), uint32(0))
	f.Add(make([]byte, 24), int64(1<<20), int64(maxSpan), uint32(7))
	f.Fuzz(func(t *testing.T, idx []byte, size, span int64, q uint32) {
		if err := checkIndex(idx, size, span); err == nil {
			if len(idx)%indexEntrySize != 0 {
				t.Fatalf("accepted %d bytes", len(idx))
			}
			// The answer by brute force.
			var wantRel, wantPos uint32
			for i := range len(idx) / indexEntrySize {
				r, p := indexEntry(idx, i)
				if int64(r) >= span || int64(p)+batch.HeaderSize > size {
					t.Fatalf("accepted entry %d (%d, %d) outside the segment", i, r, p)
				}
				if r <= q {
					wantRel, wantPos = r, p
				}
			}
			if r, p := lookupIndex(idx, q); r != wantRel || p != wantPos {
				t.Fatalf("lookupIndex(%d) = (%d, %d), want (%d, %d)", q, r, p, wantRel, wantPos)
			}
		}
		if err := checkTimeIndex(idx, span); err == nil {
			ts := int64(q) - 1<<31
			var wantRel uint32
			wantOK := false
			for i := range len(idx) / timeIndexEntrySize {
				ets, erel := timeEntry(idx, i)
				if int64(erel) >= span {
					t.Fatalf("accepted time entry %d with offset %d outside the segment", i, erel)
				}
				if ets < ts {
					wantRel, wantOK = erel, true
				}
			}
			if rel, ok := lookupTime(idx, ts); rel != wantRel || ok != wantOK {
				t.Fatalf("lookupTime(%d) = (%d, %v), want (%d, %v)", ts, rel, ok, wantRel, wantOK)
			}
		}
	})
}

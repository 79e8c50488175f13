package storagetest

import (
	"testing"
	"time"

	"github.com/streamhouse/streamhouse/batch"
)

func TestMakeBatch(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		records, valueSize int
		ts                 int64
	}{
		{1, 0, 0}, {1, 1, -1}, {3, 100, 1_700_000_000_000}, {200, 64, 5}, {2, 20_000, 9},
	} {
		b := MakeBatch(tc.records, tc.valueSize, tc.ts)
		h, err := batch.Check(b)
		if err != nil {
			t.Fatalf("MakeBatch(%d, %d, %d) fails batch.Check: %v", tc.records, tc.valueSize, tc.ts, err)
		}
		if h.Size() != len(b) || h.RecordCount != int32(tc.records) || h.MaxTimestamp != tc.ts ||
			h.BaseTimestamp != tc.ts || h.BaseOffset != 0 || h.ProducerID != -1 {
			t.Fatalf("MakeBatch(%d, %d, %d): header %+v", tc.records, tc.valueSize, tc.ts, h)
		}
		var n int
		err = batch.Records(batch.RecordsSection(b, &h), func(r batch.Record) bool {
			if r.Key != nil || len(r.Value) != tc.valueSize || r.OffsetDelta != int32(n) {
				t.Errorf("record %d: key %q, %d value bytes, offset delta %d", n, r.Key, len(r.Value), r.OffsetDelta)
			}
			n++
			return true
		})
		if err != nil || n != tc.records {
			t.Fatalf("records: %d, %v", n, err)
		}
	}
}

func TestClock(t *testing.T) {
	t.Parallel()
	c := NewClock(time.Unix(100, 0))
	c.Advance(time.Second)
	if got := c.Now(); !got.Equal(time.Unix(101, 0)) {
		t.Fatalf("Now = %v", got)
	}
}

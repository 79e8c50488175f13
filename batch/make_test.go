package batch

import (
	"bytes"
	"testing"
)

// TestMake: what Make writes passes Check and reads back record by record,
// null keys and values included.
func TestMake(t *testing.T) {
	in := []KeyValue{
		{Key: []byte("k1"), Value: []byte("v1")},
		{Key: []byte("k2"), Value: nil},
		{Key: nil, Value: []byte{}},
		{Key: bytes.Repeat([]byte("k"), 300), Value: bytes.Repeat([]byte("v"), 70000)},
	}
	b := Make(in, 1_700_000_000_123)
	h, err := Check(b)
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	if h.RecordCount != int32(len(in)) || h.LastOffsetDelta != int32(len(in)-1) || h.Codec() != CodecNone ||
		h.BaseTimestamp != 1_700_000_000_123 || h.MaxTimestamp != 1_700_000_000_123 || h.ProducerID != -1 || h.Transactional() || h.Control() {
		t.Fatalf("header %+v", h)
	}
	SetBaseOffset(b, 42)
	if _, err := Check(b); err != nil {
		t.Fatalf("Check after SetBaseOffset: %v", err)
	}
	var got []Record
	if err := Records(RecordsSection(b, &h), func(r Record) bool { got = append(got, r); return true }); err != nil {
		t.Fatalf("Records: %v", err)
	}
	if len(got) != len(in) {
		t.Fatalf("%d records, want %d", len(got), len(in))
	}
	for i, r := range got {
		if r.OffsetDelta != int32(i) || !bytes.Equal(r.Key, in[i].Key) || !bytes.Equal(r.Value, in[i].Value) ||
			(r.Key == nil) != (in[i].Key == nil) || (r.Value == nil) != (in[i].Value == nil) {
			t.Errorf("record %d: %+v, want key %q value %q", i, r, in[i].Key, in[i].Value)
		}
	}
}

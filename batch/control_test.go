package batch

import (
	"errors"
	"testing"
)

func TestControl(t *testing.T) {
	for _, typ := range []int16{ControlAbort, ControlCommit} {
		b := MakeControl(typ, 42, 3, 7, 1_700_000_000_000)
		h, err := Check(b)
		if err != nil {
			t.Fatal(err)
		}
		if !h.Control() || !h.Transactional() || h.ProducerID != 42 || h.ProducerEpoch != 3 || h.RecordCount != 1 {
			t.Fatalf("header %+v", h)
		}
		got, err := ControlType(b)
		if err != nil || got != typ {
			t.Fatalf("ControlType = %d, %v; want %d", got, err, typ)
		}
	}
	b := MakeControl(ControlCommit, 1, 0, 0, 0)
	b[HeaderSize+8] = 9 // the key's type: neither abort nor commit
	if _, err := ControlType(b); !errors.Is(err, ErrControl) {
		t.Fatalf("unknown type: %v", err)
	}
	for n := range HeaderSize + 8 {
		if _, err := ControlType(b[:n]); !errors.Is(err, ErrControl) {
			t.Fatalf("cut at %d: %v", n, err)
		}
	}
}

func FuzzControlType(f *testing.F) {
	f.Add(MakeControl(ControlCommit, 1, 0, 0, 0))
	f.Add(MakeControl(ControlAbort, 9, 2, 5, 123))
	f.Fuzz(func(t *testing.T, b []byte) {
		typ, err := ControlType(b)
		if err == nil && typ != ControlAbort && typ != ControlCommit {
			t.Fatalf("type %d accepted", typ)
		}
	})
}

func TestReencode(t *testing.T) {
	b := MakeControl(ControlCommit, 1, 0, 0, 5) // any valid batch
	h, err := Check(b)
	if err != nil {
		t.Fatal(err)
	}
	sec := []byte("not really snappy, but framing is the caller's")
	out := Reencode(b, &h, CodecSnappy, sec)
	h2, err := Parse(out)
	if err != nil {
		t.Fatal(err)
	}
	if h2.Codec() != CodecSnappy || h2.Size() != HeaderSize+len(sec) || h2.ProducerID != 1 || h2.Control() != h.Control() || string(out[HeaderSize:]) != string(sec) {
		t.Fatalf("reencoded %+v", h2)
	}
	if _, err := Check(b); err != nil {
		t.Fatal("the original changed")
	}
}

package batch

import (
	"encoding/binary"
	"errors"
)

// ErrRecord means a record inside a batch is malformed.
var ErrRecord = errors.New("batch: malformed record")

// Record is one record of a batch, as views into the records bytes (nothing
// is copied). A nil Key or Value is a null one.
//
//	length          varint  bytes that follow
//	attributes      int8    unused
//	timestampDelta  varlong from the batch's baseTimestamp
//	offsetDelta     varint  from the batch's baseOffset
//	keyLength       varint  -1 for null
//	key
//	valueLength     varint  -1 for null
//	value
//	headerCount     varint
//	headers         (keyLength varint, key, valueLength varint, value) each
type Record struct {
	TimestampDelta int64
	OffsetDelta    int32
	Key            []byte
	Value          []byte
	HeaderCount    int
	headers        []byte
	encoded        []byte
}

// Encoded is the record as it is in the batch, its length varint included:
// what a batch rebuilt from some of its records (AppendRebuilt) carries,
// unchanged, since offset and timestamp deltas stay relative to the same
// base.
func (r *Record) Encoded() []byte { return r.encoded }

// RecordHeader is one record header.
type RecordHeader struct {
	Key   string
	Value []byte
}

// Headers decodes the record's headers.
func (r *Record) Headers() ([]RecordHeader, error) {
	b := r.headers
	hs := make([]RecordHeader, 0, r.HeaderCount)
	for i := 0; i < r.HeaderCount; i++ {
		k, rest, ok := varBytes(b)
		if !ok || k == nil {
			return nil, ErrRecord
		}
		v, rest, ok := varBytes(rest)
		if !ok {
			return nil, ErrRecord
		}
		hs = append(hs, RecordHeader{Key: string(k), Value: v})
		b = rest
	}
	return hs, nil
}

// Records calls fn for each record in b, the records section of a batch
// (decompressed when the batch is compressed), until fn returns false. It
// returns ErrRecord when a record is malformed: a field cut short or too
// long for its varint, a null header key, or bytes left between the last
// header and the end the record's length gives. Records before it have been
// passed to fn. Headers of a record passed to fn do not fail.
//
// Records copies nothing and allocates nothing itself.
func Records(b []byte, fn func(Record) bool) error {
	for len(b) > 0 {
		l, w := varint32(b)
		if w <= 0 || l <= 0 || int(l) > len(b)-w {
			return ErrRecord
		}
		r, err := readRecord(b[w : w+int(l)])
		if err != nil {
			return err
		}
		r.encoded = b[:w+int(l)]
		b = b[w+int(l):]
		if !fn(r) {
			return nil
		}
	}
	return nil
}

func readRecord(b []byte) (Record, error) {
	var r Record
	if len(b) < 1 {
		return r, ErrRecord
	}
	b = b[1:] // attributes
	// The timestamp delta is a varlong: up to ten bytes, as binary.Varint.
	ts, w := binary.Varint(b)
	if w <= 0 {
		return r, ErrRecord
	}
	b = b[w:]
	od, w := varint32(b)
	if w <= 0 || od < 0 {
		return r, ErrRecord
	}
	b = b[w:]
	var ok bool
	if r.Key, b, ok = varBytes(b); !ok {
		return r, ErrRecord
	}
	if r.Value, b, ok = varBytes(b); !ok {
		return r, ErrRecord
	}
	n, w := varint32(b)
	if w <= 0 || n < 0 || int(n) > len(b)-w {
		return r, ErrRecord
	}
	b = b[w:]
	// Walk the headers now, copying nothing, so that a record Records
	// passes to fn is well formed to its last byte and Headers cannot
	// fail on it. Like Kafka ("Invalid record size"), the headers must
	// end exactly where the record's length says the record does.
	headers := b
	for range n {
		k, rest, ok := varBytes(b)
		if !ok || k == nil {
			return r, ErrRecord
		}
		if _, b, ok = varBytes(rest); !ok {
			return r, ErrRecord
		}
	}
	if len(b) != 0 {
		return r, ErrRecord
	}
	r.TimestampDelta = ts
	r.OffsetDelta = od
	r.HeaderCount = int(n)
	r.headers = headers
	return r, nil
}

// varBytes reads a varint-length-prefixed byte string; length -1 is null.
// The view it returns has no capacity past the string.
func varBytes(b []byte) (v, rest []byte, ok bool) {
	l, w := varint32(b)
	if w <= 0 || l < -1 || int(l) > len(b)-w {
		return nil, nil, false
	}
	b = b[w:]
	if l == -1 {
		return nil, b, true
	}
	return b[:l:l], b[l:], true
}

// varint32 reads a zigzag varint that Kafka defines as an int32 (a record's
// length, offset delta, key, value and header lengths, header count). Such a
// varint has at most five bytes, the fifth carrying only the top four bits;
// binary.Varint would take up to ten, and so accept records that Kafka and
// franz-go refuse to read. n is as binary.Varint's: 0 when b ends first,
// negative when the encoding is too long.
func varint32(b []byte) (v int32, n int) {
	var x uint32
	for i := range 5 {
		if i == len(b) {
			return 0, 0
		}
		c := b[i]
		if i == 4 && c > 0x0f {
			return 0, -(i + 1)
		}
		x |= uint32(c&0x7f) << (7 * i)
		if c < 0x80 {
			return int32(x>>1) ^ -int32(x&1), i + 1
		}
	}
	panic("unreachable") // the fifth byte is at most 0x0f
}

// RecordsSection returns the records bytes of a parsed batch (compressed when
// the batch is).
func RecordsSection(b []byte, h *Header) []byte { return b[HeaderSize:h.Size()] }

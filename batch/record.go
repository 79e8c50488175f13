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
}

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
// returns ErrRecord when a record is malformed; records before it have been
// passed to fn.
func Records(b []byte, fn func(Record) bool) error {
	for len(b) > 0 {
		l, w := binary.Varint(b)
		if w <= 0 || l <= 0 || l > int64(len(b)-w) {
			return ErrRecord
		}
		r, err := readRecord(b[w : w+int(l)])
		if err != nil {
			return err
		}
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
	ts, w := binary.Varint(b)
	if w <= 0 {
		return r, ErrRecord
	}
	b = b[w:]
	od, w := binary.Varint(b)
	if w <= 0 || od < 0 || od > 1<<31-1 {
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
	n, w := binary.Varint(b)
	if w <= 0 || n < 0 || n > int64(len(b)) {
		return r, ErrRecord
	}
	r.TimestampDelta = ts
	r.OffsetDelta = int32(od)
	r.HeaderCount = int(n)
	r.headers = b[w:]
	return r, nil
}

// varBytes reads a varint-length-prefixed byte string; length -1 is null.
func varBytes(b []byte) (v, rest []byte, ok bool) {
	l, w := binary.Varint(b)
	if w <= 0 || l < -1 || l > int64(len(b)-w) {
		return nil, nil, false
	}
	b = b[w:]
	if l == -1 {
		return nil, b, true
	}
	return b[:l:l], b[l:], true
}

// RecordsSection returns the records bytes of a parsed batch (compressed when
// the batch is).
func RecordsSection(b []byte, h *Header) []byte { return b[HeaderSize:h.Size()] }

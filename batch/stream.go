package batch

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Streaming records: the records section of a compressed batch, read as its
// decompressor yields it, through a buffer of fixed size.
//
// Kafka checks the size of a batch as it was sent (max.message.bytes), not
// what its records expand to, and its LogValidator walks a compressed
// batch's records without materialising their keys and values
// (skipKeyValueIterator). Scanner does the same: it reads each record's
// fields, keeps the first PrefixSize bytes of its key and value (enough for
// a schema id) and skips the rest, so a record of a gigabyte costs the time
// to stream it and the Scanner's buffer, never its size in memory. It
// accepts and refuses exactly what Records does on the same bytes.

// PrefixSize is how many leading bytes of a key and a value a Scanner keeps.
const PrefixSize = 16

// MinScanBuffer is the smallest buffer NewScanner accepts: room for a
// record's fixed fields (its length, attributes, timestamp and offset
// deltas, and a length), which must be seen whole.
const MinScanBuffer = 64

// RecordInfo is one record as a Scanner reads it. Key and Value hold the
// first PrefixSize bytes (or fewer) of the key and value, nil when it is
// null and empty (not nil) when it is empty; they are valid until the
// callback returns.
type RecordInfo struct {
	TimestampDelta int64
	OffsetDelta    int32
	KeySize        int32 // -1: null
	ValueSize      int32 // -1: null
	Key, Value     []byte
	HeaderCount    int
	// Size is the bytes the record takes in the stream, its length
	// varint included.
	Size int64
}

// Scanner walks a stream of uncompressed records (a decompressed records
// section) with a fixed buffer. A Scanner may be reused, one Scan at a
// time.
type Scanner struct {
	buf        []byte
	r          io.Reader
	start, end int   // buffered bytes: buf[start:end]
	err        error // what r returned last when it returned an error (io.EOF at the end)
	rem        int64 // bytes left in the current record
	read       int64 // bytes consumed from r
	key, value [PrefixSize]byte
	ri         RecordInfo
}

// NewScanner returns a Scanner with a buffer of size bytes (at least
// MinScanBuffer).
func NewScanner(size int) *Scanner {
	return &Scanner{buf: make([]byte, max(size, MinScanBuffer))}
}

// Scan calls fn with each record read from r until r ends (io.EOF) or fn
// returns false. It returns ErrRecord when a record is malformed, with the
// rules of Records: a field cut short (the stream ends inside a record) or
// too long for its varint, a length that runs past the record, a null
// header key, bytes left between the last header and the record's end. A
// read error of r (other than io.EOF) is returned as it is, wrapped: the
// stream, not a record, is broken. Records before the error have been
// passed to fn.
func (s *Scanner) Scan(r io.Reader, fn func(*RecordInfo) bool) error {
	s.r, s.start, s.end, s.err, s.read = r, 0, 0, nil, 0
	err := s.scan(fn)
	s.r = nil
	return err
}

func (s *Scanner) scan(fn func(*RecordInfo) bool) error {
	ri := &s.ri // in s: fn, unknown, would move a local to the heap
	for {
		if s.fill(1) == 0 {
			if s.err == io.EOF {
				return nil
			}
			return s.streamErr()
		}
		at := s.read
		s.rem = 5 // the length varint is read from the stream, not a record
		l, err := s.varint32()
		if err != nil {
			return err
		}
		if l <= 0 {
			return ErrRecord
		}
		s.rem = int64(l)
		if err := s.record(ri); err != nil {
			return err
		}
		ri.Size = s.read - at
		if !fn(ri) {
			return nil
		}
	}
}

// Consumed reports how many bytes the last Scan consumed from its reader.
func (s *Scanner) Consumed() int64 { return s.read }

// record reads the body of a record of s.rem bytes into ri.
func (s *Scanner) record(ri *RecordInfo) error {
	if s.rem < 1 {
		return ErrRecord
	}
	if err := s.skip(1); err != nil { // attributes
		return err
	}
	ts, err := s.varint64()
	if err != nil {
		return err
	}
	od, err := s.varint32()
	if err != nil {
		return err
	}
	if od < 0 {
		return ErrRecord
	}
	ks, key, err := s.field(s.key[:])
	if err != nil {
		return err
	}
	vs, value, err := s.field(s.value[:])
	if err != nil {
		return err
	}
	n, err := s.varint32()
	if err != nil {
		return err
	}
	if n < 0 || int64(n) > s.rem {
		return ErrRecord
	}
	for range n {
		l, err := s.varint32()
		if err != nil {
			return err
		}
		if l < 0 || int64(l) > s.rem { // a null header key too
			return ErrRecord
		}
		if err := s.skip(int64(l)); err != nil {
			return err
		}
		if l, err = s.varint32(); err != nil {
			return err
		}
		if l < -1 || int64(l) > s.rem {
			return ErrRecord
		}
		if err := s.skip(max(int64(l), 0)); err != nil {
			return err
		}
	}
	if s.rem != 0 {
		return ErrRecord
	}
	*ri = RecordInfo{TimestampDelta: ts, OffsetDelta: od, KeySize: ks, ValueSize: vs, Key: key, Value: value, HeaderCount: int(n)}
	return nil
}

// field reads a varint-length-prefixed byte string of the record, keeping
// its first bytes in pre: its size (-1: null) and the kept prefix.
func (s *Scanner) field(pre []byte) (int32, []byte, error) {
	l, err := s.varint32()
	if err != nil {
		return 0, nil, err
	}
	if l < -1 || int64(l) > s.rem {
		return 0, nil, ErrRecord
	}
	if l == -1 {
		return -1, nil, nil
	}
	k := min(int(l), len(pre))
	if s.fill(k) < k {
		return 0, nil, s.shortErr()
	}
	copy(pre, s.buf[s.start:s.start+k])
	s.consume(k)
	if err := s.skip(int64(l) - int64(k)); err != nil {
		return 0, nil, err
	}
	return l, pre[:k:k], nil
}

// varint32 reads a Kafka int32 varint within the record (varint32's rules).
func (s *Scanner) varint32() (int32, error) {
	need := int(min(5, s.rem))
	got := s.fill(need)
	v, w := varint32(s.buf[s.start : s.start+min(got, need)])
	if w <= 0 {
		if w == 0 && got < need {
			return 0, s.shortErr()
		}
		return 0, ErrRecord
	}
	s.consume(w)
	return v, nil
}

// varint64 reads a varlong within the record (binary.Varint's rules).
func (s *Scanner) varint64() (int64, error) {
	need := int(min(binary.MaxVarintLen64, s.rem))
	got := s.fill(need)
	v, w := binary.Varint(s.buf[s.start : s.start+min(got, need)])
	if w <= 0 {
		if w == 0 && got < need {
			return 0, s.shortErr()
		}
		return 0, ErrRecord
	}
	s.consume(w)
	return v, nil
}

// skip consumes n bytes of the record (n <= s.rem), reading through the
// buffer.
func (s *Scanner) skip(n int64) error {
	for n > 0 {
		if s.start == s.end {
			s.start, s.end = 0, 0
			if s.readMore() == 0 {
				return s.shortErr()
			}
		}
		k := int(min(n, int64(s.end-s.start)))
		s.consume(k)
		n -= int64(k)
	}
	return nil
}

func (s *Scanner) consume(n int) {
	s.start += n
	s.rem -= int64(n)
	s.read += int64(n)
}

// fill tries to have n bytes (n <= len(buf)) buffered and returns how many
// are.
func (s *Scanner) fill(n int) int {
	if s.end-s.start >= n {
		return s.end - s.start
	}
	if s.start+n > len(s.buf) {
		s.end = copy(s.buf, s.buf[s.start:s.end])
		s.start = 0
	}
	for s.end-s.start < n && s.readMore() > 0 {
	}
	return s.end - s.start
}

// readMore reads once into the free end of the buffer, retrying reads
// that return nothing, and returns how many bytes came; 0 once r has
// failed or ended (s.err).
func (s *Scanner) readMore() int {
	for tries := 0; s.err == nil && s.end < len(s.buf); tries++ {
		n, err := s.r.Read(s.buf[s.end:])
		s.end += n
		if err != nil {
			s.err = err
		}
		if n > 0 {
			return n
		}
		if tries == 100 {
			s.err = io.ErrNoProgress
		}
	}
	return 0
}

// shortErr is why bytes a record needs are missing: the stream's failure,
// or the record cut short at its end.
func (s *Scanner) shortErr() error {
	if s.err != nil && s.err != io.EOF {
		return s.streamErr()
	}
	return ErrRecord
}

func (s *Scanner) streamErr() error {
	if errors.Is(s.err, io.ErrNoProgress) {
		return fmt.Errorf("batch: records stream: %w", s.err)
	}
	return fmt.Errorf("batch: records stream at byte %d: %w", s.read, s.err)
}

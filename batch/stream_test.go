package batch_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/streamhouse/streamhouse/batch"
)

// scanResult is what Scan passes and returns, flattened to compare with
// what Records passes for the same bytes.
type scanResult struct {
	dump     string
	n        int
	consumed int64
	err      error
}

func scanAll(sc *batch.Scanner, r io.Reader) scanResult {
	var buf bytes.Buffer
	n := 0
	err := sc.Scan(r, func(ri *batch.RecordInfo) bool {
		n++
		fmt.Fprintf(&buf, "%d %d %d %q/%v %d %q/%v %d %d|", ri.TimestampDelta, ri.OffsetDelta,
			ri.KeySize, ri.Key, ri.Key == nil, ri.ValueSize, ri.Value, ri.Value == nil, ri.HeaderCount, ri.Size)
		return true
	})
	return scanResult{buf.String(), n, sc.Consumed(), err}
}

// expectScan is what Scan must pass for b: Records' records, as a Scanner
// sees them (prefixes of the key and value, sizes).
func expectScan(b []byte) scanResult {
	var buf bytes.Buffer
	n := 0
	err := batch.Records(b, func(r batch.Record) bool {
		n++
		size := func(v []byte) int32 {
			if v == nil {
				return -1
			}
			return int32(len(v))
		}
		pre := func(v []byte) []byte {
			if v == nil {
				return nil
			}
			return v[:min(len(v), batch.PrefixSize)]
		}
		k, v := pre(r.Key), pre(r.Value)
		fmt.Fprintf(&buf, "%d %d %d %q/%v %d %q/%v %d %d|", r.TimestampDelta, r.OffsetDelta,
			size(r.Key), k, k == nil, size(r.Value), v, v == nil, r.HeaderCount, len(r.Encoded()))
		return true
	})
	return scanResult{dump: buf.String(), n: n, err: err}
}

// chunked yields b in reads of the sizes it is given in turn (cycling; 0
// means a read that returns nothing, never twice in a row), then fails
// with fail (io.EOF for a clean end) once stop bytes have gone.
type chunked struct {
	b     []byte
	sizes []byte
	i     int
	stop  int
	fail  error
	empty bool // the last read returned nothing
}

func (c *chunked) Read(p []byte) (int, error) {
	if c.stop <= 0 || len(c.b) == 0 {
		return 0, c.fail
	}
	n := len(p)
	if len(c.sizes) > 0 {
		n = int(c.sizes[c.i%len(c.sizes)])
		c.i++
		if n == 0 && c.empty {
			n = 1
		}
	}
	c.empty = n == 0
	n = min(n, len(p), len(c.b), c.stop)
	copy(p, c.b[:n])
	c.b, c.stop = c.b[n:], c.stop-n
	return n, nil
}

// FuzzScanRecords: the streaming validator agrees with Records, whatever
// the buffer size and however the reader splits the bytes:
//
//   - the same records (fields, key and value prefixes and sizes, record
//     sizes), the same verdict, and every byte consumed on success;
//
//   - a stream cut short after k bytes (io.EOF) is judged as Records
//     judges b[:k];
//
//   - a stream that fails after k bytes gives that failure (wrapped), or
//     ErrRecord only when b[:k] is malformed already, and the records
//     before it.
//
//     go test ./batch -run '^$' -fuzz '^FuzzScanRecords$' -fuzztime 60s -fuzzminimizetime 5s
func FuzzScanRecords(f *testing.F) {
	for _, b := range corpusSeeds(f)["FuzzRecords"] {
		f.Add(b, uint8(0), []byte{}, uint16(0))
		f.Add(b, uint8(3), []byte{1, 0, 7, 64}, uint16(len(b)/2))
	}
	bigValue := appendRaw(nil, []byte{0, 2, 0}, vi(3), []byte("key"), vi(200), bytes.Repeat([]byte("v"), 200), vi(1), vi(1), []byte("h"), vi(-1))
	f.Add(bigValue, uint8(0), []byte{5, 0, 3}, uint16(0))
	f.Fuzz(func(t *testing.T, data []byte, bufSize uint8, sizes []byte, cut uint16) {
		want := expectScan(data)
		sc := batch.NewScanner(int(bufSize)) // MinScanBuffer or more
		got := scanAll(sc, &chunked{b: data, sizes: sizes, stop: len(data), fail: io.EOF})
		if (got.err == nil) != (want.err == nil) || got.err != nil && !errors.Is(got.err, batch.ErrRecord) {
			t.Fatalf("Scan: %v, Records: %v", got.err, want.err)
		}
		if got.n != want.n || got.dump != want.dump {
			t.Fatalf("Scan passed %d records\n%s\nRecords %d\n%s", got.n, got.dump, want.n, want.dump)
		}
		if got.err == nil && got.consumed != int64(len(data)) {
			t.Fatalf("Scan consumed %d of %d bytes", got.consumed, len(data))
		}

		// Cut short at k: as Records on the first k bytes.
		k := int(cut) % (len(data) + 1)
		want = expectScan(data[:k])
		got = scanAll(sc, &chunked{b: data, sizes: sizes, stop: k, fail: io.EOF})
		if (got.err == nil) != (want.err == nil) || got.n != want.n || got.dump != want.dump {
			t.Fatalf("cut at %d: Scan %d records, %v; Records %d, %v", k, got.n, got.err, want.n, want.err)
		}

		// Failing at k: that failure, unless what came before is bad.
		errBroken := errors.New("broken stream")
		got = scanAll(sc, &chunked{b: data, sizes: sizes, stop: k, fail: errBroken})
		switch {
		case errors.Is(got.err, errBroken):
		case errors.Is(got.err, batch.ErrRecord) && want.err != nil:
		default:
			t.Fatalf("failing at %d: %v (records of the first %d bytes: %v)", k, got.err, k, want.err)
		}
		if got.n > want.n || want.dump[:len(got.dump)] != got.dump {
			t.Fatalf("failing at %d: passed %d records, not a prefix of the %d before", k, got.n, want.n)
		}
	})
}

// zeros is a reader of n zero bytes after a prefix, allocating nothing.
type zeros struct {
	prefix []byte
	n      int64
	tail   []byte
}

func (z *zeros) Read(p []byte) (int, error) {
	switch {
	case len(z.prefix) > 0:
		n := copy(p, z.prefix)
		z.prefix = z.prefix[n:]
		return n, nil
	case z.n > 0:
		n := int(min(int64(len(p)), z.n))
		clear(p[:n])
		z.n -= int64(n)
		return n, nil
	case len(z.tail) > 0:
		n := copy(p, z.tail)
		z.tail = z.tail[n:]
		return n, nil
	}
	return 0, io.EOF
}

// A record far larger than the buffer streams through it: its value is
// skipped, its prefix kept, and the scan allocates nothing.
func TestScanLargeRecord(t *testing.T) { // not parallel: AllocsPerRun
	const valueLen = 256 << 20
	var head []byte
	head = append(head, 0)               // attributes
	head = binary.AppendVarint(head, 42) // timestamp delta
	head = binary.AppendVarint(head, 0)  // offset delta
	head = binary.AppendVarint(head, 3)  // key
	head = append(head, "key"...)        //
	head = binary.AppendVarint(head, valueLen)
	tail := []byte{2, 2, 'h', 0} // one header "h", empty value
	rec := binary.AppendVarint(nil, int64(len(head)+valueLen+len(tail)))
	rec = append(rec, head...)
	sc := batch.NewScanner(32 << 10)
	var got batch.RecordInfo
	z := new(zeros)
	allocs := testing.AllocsPerRun(2, func() {
		*z = zeros{prefix: rec, n: valueLen, tail: tail}
		err := sc.Scan(z, func(ri *batch.RecordInfo) bool {
			got = *ri
			return true
		})
		if err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("scanning a %d MiB record allocated %v times", valueLen>>20, allocs)
	}
	want := int64(len(rec)) + valueLen + int64(len(tail))
	if got.TimestampDelta != 42 || string(got.Key) != "key" || got.ValueSize != valueLen ||
		!bytes.Equal(got.Value, make([]byte, batch.PrefixSize)) || got.HeaderCount != 1 || got.Size != want || sc.Consumed() != want {
		t.Fatalf("got %+v, consumed %d; want size %d", got, sc.Consumed(), want)
	}
}

// A reader that returns nothing forever is a broken stream, not a hang.
func TestScanNoProgress(t *testing.T) {
	t.Parallel()
	err := batch.NewScanner(0).Scan(readerFunc(func([]byte) (int, error) { return 0, nil }), func(*batch.RecordInfo) bool { return true })
	if !errors.Is(err, io.ErrNoProgress) {
		t.Fatalf("err = %v", err)
	}
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

package protocol

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// seedFrames are real requests of every served API at its lowest and
// highest version, the seeds of the fuzz targets beside the corpus in
// testdata/fuzz.
func seedFrames() [][]byte {
	var out [][]byte
	for _, r := range NewTable(Implemented()).Ranges() {
		for _, v := range []int16{r.Min, r.Max} {
			req := kmsg.RequestForKey(r.Key)
			req.SetVersion(v)
			out = append(out, frameOf(req, 1, kmsg.StringPtr("fuzz")))
		}
	}
	return out
}

// FuzzReadFrame: whatever the input, ReadFrame returns exactly the bytes
// the size prefix names, or an error; it never returns more than it read.
func FuzzReadFrame(f *testing.F) {
	for _, s := range seedFrames() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		const limit = 1 << 16
		got, err := ReadFrame(bytes.NewReader(in), limit, nil)
		if err != nil {
			if len(got) > len(in) {
				t.Fatalf("error path returned %d bytes from %d", len(got), len(in))
			}
			return
		}
		n := int32(binary.BigEndian.Uint32(in))
		if n < minFrameSize || n > limit || int(n) != len(got) || !bytes.Equal(got, in[4:4+n]) {
			t.Fatalf("frame of %d bytes for size %d", len(got), n)
		}
	})
}

// FuzzParseRequest: no panic on any frame; a frame that parses re-encodes
// to a frame that parses to the same header and request (decode, encode,
// decode is stable).
func FuzzParseRequest(f *testing.F) {
	for _, s := range seedFrames() {
		f.Add(s[4:])
	}
	table := NewTable(Implemented())
	f.Fuzz(func(t *testing.T, frame []byte) {
		// A copy with no spare capacity, so reading past the end
		// cannot go unnoticed.
		frame = bytes.Clone(frame)
		h, req, err := ParseRequest(frame, table)
		if err != nil {
			var uv *UnsupportedVersionError
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrUnknownAPIKey) && !errors.As(err, &uv) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		var id *string
		if h.ClientID != "" {
			id = &h.ClientID
		}
		again := frameOf(req, h.CorrelationID, id)
		h2, req2, err := ParseRequest(again[4:], table)
		if err != nil {
			t.Fatalf("re-encoded request does not parse: %v", err)
		}
		if h2 != h {
			t.Fatalf("header %+v, re-parsed %+v", h, h2)
		}
		if !reflect.DeepEqual(req.AppendTo(nil), req2.AppendTo(nil)) {
			t.Fatalf("%s v%d does not round-trip", kmsg.NameForKey(h.Key), h.Version)
		}
	})
}

// TestWriteSeedCorpus writes the seeds to testdata/fuzz when
// STREAMHOUSE_WRITE_CORPUS is set, so that the corpus is kept in the
// repository and grows with the table.
func TestWriteSeedCorpus(t *testing.T) {
	if os.Getenv("STREAMHOUSE_WRITE_CORPUS") == "" {
		t.Skip("set STREAMHOUSE_WRITE_CORPUS=1 to rewrite testdata/fuzz seeds")
	}
	hostile := [][]byte{
		{0x7f, 0xff, 0xff, 0xff},                                // 2 GiB length
		{0xff, 0xff, 0xff, 0xff},                                // negative length
		{0, 0, 0, 20, 0, 3, 0, 1},                               // truncated header
		{0, 0, 0, 10, 0x27, 0x0f, 0, 1, 0, 0, 0, 1, 0xff, 0xff}, // unknown key 9999
	}
	write := func(target string, i int, b []byte) {
		dir := filepath.Join("testdata", "fuzz", target)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		body := "go test fuzz v1\n[]byte(" + strconv.Quote(string(b)) + ")\n"
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%03d", i)), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for i, s := range append(seedFrames(), hostile...) {
		write("FuzzReadFrame", i, s)
		if len(s) > 4 {
			write("FuzzParseRequest", i, s[4:])
		}
	}
}

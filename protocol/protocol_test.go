package protocol

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"reflect"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// frameOf encodes a request as a client does: size, header v1/v2, body.
func frameOf(req kmsg.Request, corr int32, clientID *string) []byte {
	var b []byte
	b = append(b, 0, 0, 0, 0)
	b = binary.BigEndian.AppendUint16(b, uint16(req.Key()))
	b = binary.BigEndian.AppendUint16(b, uint16(req.GetVersion()))
	b = binary.BigEndian.AppendUint32(b, uint32(corr))
	if clientID == nil {
		b = binary.BigEndian.AppendUint16(b, 0xffff)
	} else {
		b = binary.BigEndian.AppendUint16(b, uint16(len(*clientID)))
		b = append(b, *clientID...)
	}
	if req.IsFlexible() {
		b = append(b, 0)
	}
	b = req.AppendTo(b)
	binary.BigEndian.PutUint32(b, uint32(len(b)-4))
	return b
}

func TestReadFrame(t *testing.T) {
	t.Parallel()
	valid := frameOf(kmsg.NewPtrApiVersionsRequest(), 7, kmsg.StringPtr("c"))
	sized := func(n int32, body []byte) []byte {
		b := binary.BigEndian.AppendUint32(nil, uint32(n))
		return append(b, body...)
	}
	tests := []struct {
		name    string
		in      []byte
		max     int32
		want    []byte
		wantErr error
	}{
		{"valid", valid, 1 << 20, valid[4:], nil},
		{"eof before size", nil, 100, nil, io.EOF},
		{"eof inside size", []byte{0, 0}, 100, nil, io.ErrUnexpectedEOF},
		{"truncated body", sized(20, make([]byte, 5)), 100, nil, io.ErrUnexpectedEOF},
		{"too large", sized(2<<30-1, nil), 100 << 20, nil, ErrFrameTooLarge},
		{"negative", sized(-1, nil), 100, nil, ErrFrameTooSmall},
		{"zero", sized(0, nil), 100, nil, ErrFrameTooSmall},
		{"smaller than a header", sized(9, make([]byte, 9)), 100, nil, ErrFrameTooSmall},
		{"exactly max", sized(100, make([]byte, 100)), 100, make([]byte, 100), nil},
		{"one above max", sized(101, make([]byte, 101)), 100, nil, ErrFrameTooLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := ReadFrame(bytes.NewReader(tc.in), tc.max, nil)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if err == nil && !bytes.Equal(got, tc.want) {
				t.Fatalf("frame = %x, want %x", got, tc.want)
			}
		})
	}
}

// A peer that claims a huge frame and sends a little costs about what it
// sent, not what it claimed.
func TestReadFrameGrowsWithData(t *testing.T) {
	t.Parallel()
	in := binary.BigEndian.AppendUint32(nil, 90<<20)
	in = append(in, make([]byte, 1000)...)
	got, err := ReadFrame(bytes.NewReader(in), 100<<20, nil)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("err = %v", err)
	}
	if cap(got) > 2*firstChunk {
		t.Fatalf("buffer capacity %d after 1000 bytes of a 90 MiB claim", cap(got))
	}

	// A real large frame arrives whole, and a reused buffer is reused.
	big := make([]byte, 3<<20+17)
	for i := range big {
		big[i] = byte(i)
	}
	in = append(binary.BigEndian.AppendUint32(nil, uint32(len(big))), big...)
	got, err = ReadFrame(bytes.NewReader(in), 100<<20, nil)
	if err != nil || !bytes.Equal(got, big) {
		t.Fatalf("large frame: err %v, equal %v", err, bytes.Equal(got, big))
	}
	again, err := ReadFrame(bytes.NewReader(in), 100<<20, got)
	if err != nil || &again[0] != &got[0] {
		t.Fatalf("buffer not reused: err %v", err)
	}
}

// Every API and version in the table parses from what kmsg encodes, with the
// header fields intact.
func TestParseRequestEveryVersion(t *testing.T) {
	t.Parallel()
	table := NewTable(Implemented())
	for _, r := range table.Ranges() {
		for v := r.Min; v <= r.Max; v++ {
			req := kmsg.RequestForKey(r.Key)
			req.SetVersion(v)
			for _, id := range []*string{nil, kmsg.StringPtr(""), kmsg.StringPtr("client-1")} {
				frame := frameOf(req, 12345, id)
				h, got, err := ParseRequest(frame[4:], table)
				if err != nil {
					t.Fatalf("%s v%d: %v", kmsg.NameForKey(r.Key), v, err)
				}
				wantID := ""
				if id != nil {
					wantID = *id
				}
				if h.Key != r.Key || h.Version != v || h.CorrelationID != 12345 || h.ClientID != wantID {
					t.Fatalf("%s v%d: header %+v", kmsg.NameForKey(r.Key), v, h)
				}
				if got.GetVersion() != v || !reflect.DeepEqual(got.AppendTo(nil), req.AppendTo(nil)) {
					t.Fatalf("%s v%d: body does not round-trip", kmsg.NameForKey(r.Key), v)
				}
			}
		}
	}
}

func TestParseRequestErrors(t *testing.T) {
	t.Parallel()
	table := NewTable(Implemented())
	tooNew := kmsg.NewPtrMetadataRequest()
	tooNew.SetVersion(13)
	narrow := NewTable([]VersionRange{{Key: 3, Min: 0, Max: 12}, {Key: 18, Min: 0, Max: 3}})
	apiv := kmsg.NewPtrApiVersionsRequest()
	apiv.SetVersion(5)
	unknown := frameOf(kmsg.NewPtrApiVersionsRequest(), 1, nil)
	binary.BigEndian.PutUint16(unknown[4:], 9999)
	unserved := kmsg.NewPtrLeaderAndISRRequest()
	unserved.SetVersion(7)
	// Metadata v9 is flexible: corrupt its header tag count.
	m9 := kmsg.NewPtrMetadataRequest()
	m9.SetVersion(9)
	flexBadTags := frameOf(m9, 1, nil)
	p7 := kmsg.NewPtrProduceRequest()
	p7.SetVersion(7)
	p7.Topics = []kmsg.ProduceRequestTopic{{Topic: "t", Partitions: []kmsg.ProduceRequestTopicPartition{{Records: make([]byte, 100)}}}}
	flexBadTags[4+10] = 0x7f // tag count 127 with no bytes behind it

	tests := []struct {
		name    string
		frame   []byte
		table   *Table
		wantErr error
		wantUV  bool
	}{
		{"truncated header", []byte{0, 3, 0, 1, 0}, table, ErrMalformed, false},
		{"client id past end", []byte{0, 3, 0, 1, 0, 0, 0, 1, 0, 50, 'a'}, table, ErrMalformed, false},
		{"unknown key", unknown[4:], table, ErrUnknownAPIKey, false},
		{"version above range", frameOf(tooNew, 1, nil)[4:], narrow, nil, true},
		{"ApiVersions above range", frameOf(apiv, 1, nil)[4:], narrow, nil, true},
		{"key known to kmsg, not served", frameOf(unserved, 1, nil)[4:], table, nil, true},
		{"bad header tags", flexBadTags[4:], table, ErrMalformed, false},
		{"truncated body", frameOf(p7, 1, nil)[4:40], table, ErrMalformed, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h, _, err := ParseRequest(tc.frame, tc.table)
			var uv *UnsupportedVersionError
			if tc.wantUV {
				if !errors.As(err, &uv) {
					t.Fatalf("err = %v, want UnsupportedVersionError", err)
				}
				if uv.Header.CorrelationID != h.CorrelationID || h.CorrelationID != 1 {
					t.Fatalf("header not kept: %+v", uv.Header)
				}
				return
			}
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
		})
	}
}

// A response is framed with header v0, or v1 when flexible, except that
// ApiVersions always uses v0.
func TestAppendResponse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		resp    kmsg.Response
		version int16
		tagByte bool
	}{
		{"metadata v8 header v0", kmsg.NewPtrMetadataResponse(), 8, false},
		{"metadata v9 header v1", kmsg.NewPtrMetadataResponse(), 9, true},
		{"apiversions v3 header v0", kmsg.NewPtrApiVersionsResponse(), 3, false},
		{"produce v13 header v1", kmsg.NewPtrProduceResponse(), 13, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.resp.SetVersion(tc.version)
			out := AppendResponse([]byte("prefix"), 99, tc.resp)
			out = out[len("prefix"):]
			if n := binary.BigEndian.Uint32(out); int(n) != len(out)-4 {
				t.Fatalf("size %d, frame %d", n, len(out)-4)
			}
			if c := int32(binary.BigEndian.Uint32(out[4:])); c != 99 {
				t.Fatalf("correlation %d", c)
			}
			body := out[8:]
			if tc.tagByte {
				if body[0] != 0 {
					t.Fatalf("tag byte %d", body[0])
				}
				body = body[1:]
			}
			got := kmsg.ResponseForKey(tc.resp.Key())
			got.SetVersion(tc.version)
			if err := got.ReadFrom(body); err != nil {
				t.Fatalf("decode: %v", err)
			}
		})
	}
}

// notYet lists the APIs served below kmsg's highest version, with the
// highest served, until the semantics of the versions above are built.
var notYet = map[int16]int16{}

func TestTable(t *testing.T) {
	t.Parallel()
	table := NewTable(Implemented())
	seen := map[int16]bool{}
	for _, r := range table.Ranges() {
		if seen[r.Key] {
			t.Fatalf("key %d twice", r.Key)
		}
		seen[r.Key] = true
		req := kmsg.RequestForKey(r.Key)
		if req == nil {
			t.Fatalf("key %d unknown to kmsg", r.Key)
		}
		if want, ok := notYet[r.Key]; ok {
			if r.Max != want {
				t.Errorf("%s: serve up to v%d, the gap notYet records is v%d", kmsg.NameForKey(r.Key), r.Max, want)
			}
		} else if r.Max != req.MaxVersion() {
			t.Errorf("%s: serve up to v%d, kmsg knows v%d", kmsg.NameForKey(r.Key), r.Max, req.MaxVersion())
		}
		if !table.Supports(r.Key, r.Min) || !table.Supports(r.Key, r.Max) || table.Supports(r.Key, r.Max+1) || table.Supports(r.Key, r.Min-1) {
			t.Errorf("%s: Supports disagrees with range", kmsg.NameForKey(r.Key))
		}
	}
	var resp kmsg.ApiVersionsResponse
	table.FillApiVersions(&resp)
	if len(resp.ApiKeys) != len(table.Ranges()) {
		t.Fatalf("ApiVersions lists %d keys, table %d", len(resp.ApiKeys), len(table.Ranges()))
	}
}

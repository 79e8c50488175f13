package console

import (
	"context"
	"encoding/json"
	"maps"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/bufbuild/protocompile"
)

// FuzzShow renders arbitrary keys and values in every format, and reads
// arbitrary cursors and Protobuf payloads. Properties: text shown as text or JSON is valid
// UTF-8; a cut preview is no longer than its limit (a hex dump: a
// quarter of it, 16 bytes at least) and says it was cut; a cursor that
// parses writes back to one that parses to the same positions.
func FuzzShow(f *testing.F) {
	for _, seed := range []string{"", "hello", `{"a":1}`, "\x00\xff\xfe", "<script>alert(1)</script>", "0:1,2:3", "\x00\x00\x00\x00\x01rest", strings.Repeat("é", 300)} {
		f.Add([]byte(seed), uint16(64))
	}
	c := &Console{}
	r := httptest.NewRequest("GET", "/", nil)
	comp := protocompile.Compiler{Resolver: &protocompile.SourceResolver{Accessor: protocompile.SourceAccessorFromMap(map[string]string{
		"f.proto": "syntax = \"proto3\";\nmessage A { string s = 1; message B { int64 n = 1; repeated A as = 2; } }\nmessage C { bytes b = 1; }\n"})}}
	fds, err := comp.Compile(context.Background(), "f.proto")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte, limit uint16) {
		for _, format := range []string{fmtAuto, fmtText, fmtJSON, fmtHex, fmtSchema} {
			s := c.show(r, &reqState{}, b, false, format, int(limit), true)
			switch s.Kind {
			case "text", "json":
				if !utf8.ValidString(s.Text) {
					t.Fatalf("%s %s: not UTF-8: %q", format, s.Kind, s.Text)
				}
				if limit > 0 && len(s.Text) > int(limit) {
					t.Fatalf("%s: %d bytes of text past the limit %d", format, len(s.Text), limit)
				}
			case "hex":
				shown := strings.Count(s.Text, "\n") * 16
				if limit > 0 && shown > max(int(limit)/4, 16)+15 {
					t.Fatalf("hex: %d bytes shown past the limit %d", shown, limit)
				}
				if !s.Cut && shown < len(b) {
					t.Fatalf("hex: %d of %d bytes shown and not marked cut", shown, len(b))
				}
			case "empty":
				if len(b) != 0 {
					t.Fatalf("%d bytes shown as empty", len(b))
				}
			default:
				t.Fatalf("%s: kind %q", format, s.Kind)
			}
		}
		// Protobuf in Confluent's framing (after the schema id): message
		// indexes, then the message; what decodes is JSON.
		if out, err := decodeProto(fds[0], b); err == nil && !json.Valid(out) {
			t.Fatalf("protobuf %x decoded to %q, not JSON", b, out)
		}
		pos, err := parseCursor(string(b))
		if err != nil {
			return
		}
		again, err := parseCursor(formatCursor(pos))
		if err != nil || !maps.Equal(pos, again) {
			t.Fatalf("cursor %q: %v, written %q, read again %v %v", b, pos, formatCursor(pos), again, err)
		}
	})
}

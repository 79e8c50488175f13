package compattests

// The console decodes records through the broker's schema registry
// (Confluent's wire format: Avro, Protobuf with message indexes, JSON
// Schema), lists subjects and diffs two versions (issue 24).

import (
	be "encoding/binary"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/hamba/avro/v2"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"
	"google.golang.org/protobuf/encoding/protowire"
)

func TestConsoleSchemaRegistry(t *testing.T) {
	t.Parallel()
	httpAddr := freePort(t)
	b := srStart(t, "", "--http-listen", httpAddr)
	ctx := fgCtx(t)
	rcl, err := sr.NewClient(sr.URLs(b.url))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rcl.CreateSchema(ctx, "people-value", sr.Schema{Schema: srOrderV1, Type: sr.TypeAvro}); err != nil {
		t.Fatal(err)
	}
	avroV2, err := rcl.CreateSchema(ctx, "people-value", sr.Schema{Schema: srOrderV2, Type: sr.TypeAvro})
	if err != nil {
		t.Fatal(err)
	}
	proto, err := rcl.CreateSchema(ctx, "people-proto-value", sr.Schema{Type: sr.TypeProtobuf,
		Schema: "syntax = \"proto3\";\npackage shop;\nmessage Other { string x = 1; }\nmessage Person { string name = 1; int32 age = 2; }\n"})
	if err != nil {
		t.Fatal(err)
	}
	jsonS, err := rcl.CreateSchema(ctx, "people-json-value", sr.Schema{Type: sr.TypeJSON,
		Schema: `{"type":"object","properties":{"city":{"type":"string"}}}`})
	if err != nil {
		t.Fatal(err)
	}
	frame := func(id int, payload []byte) []byte {
		out := make([]byte, 5, 5+len(payload))
		be.BigEndian.PutUint32(out[1:], uint32(id))
		return append(out, payload...)
	}
	sch, err := avro.Parse(srOrderV2)
	if err != nil {
		t.Fatal(err)
	}
	avroBytes, err := avro.Marshal(sch, map[string]any{"id": "o-42", "amount": 9.5, "currency": "CHF"})
	if err != nil {
		t.Fatal(err)
	}
	// Person is the second message: indexes [1] (count 1, index 1, as
	// zig-zag varints).
	var pb []byte
	pb = protowire.AppendVarint(pb, protowire.EncodeZigZag(1))
	pb = protowire.AppendVarint(pb, protowire.EncodeZigZag(1))
	pb = protowire.AppendTag(pb, 1, protowire.BytesType)
	pb = protowire.AppendString(pb, "alice")
	pb = protowire.AppendTag(pb, 2, protowire.VarintType)
	pb = protowire.AppendVarint(pb, 37)
	fgCreateTopic(t, fgAdmin(t, b.addr), "people", 1, nil)
	fgProduceSync(t, fgClient(t, b.addr),
		&kgo.Record{Topic: "people", Key: []byte("avro"), Value: frame(avroV2.ID, avroBytes)},
		&kgo.Record{Topic: "people", Key: []byte("proto"), Value: frame(proto.ID, pb)},
		&kgo.Record{Topic: "people", Key: []byte("json"), Value: frame(jsonS.ID, []byte(`{"city":"Basel"}`))},
		&kgo.Record{Topic: "people", Key: []byte("unknown id"), Value: frame(9999, []byte("??"))},
	)
	get := func(path string) string {
		t.Helper()
		resp, err := http.Get("http://" + httpAddr + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %s\n%s", path, resp.Status, body)
		}
		return string(body)
	}
	page := get("/topics/people/messages?from=start")
	for _, want := range []string{
		`{&#34;amount&#34;:9.5,&#34;currency&#34;:&#34;CHF&#34;,&#34;id&#34;:&#34;o-42&#34;}`,
		`{&#34;name&#34;:&#34;alice&#34;,&#34;age&#34;:37}`,
		`{&#34;city&#34;:&#34;Basel&#34;}`,
		"avro (schema ", "protobuf (schema ", "jsonschema (schema ",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the messages page does not show %s", want)
		}
	}
	// An id the registry does not have: shown as bytes, not decoded.
	if !strings.Contains(page, "00 00 00 27 0f 3f 3f") {
		t.Errorf("a record with an unknown schema id is not shown as hex")
	}
	if subjects := get("/schemas"); !strings.Contains(subjects, "people-proto-value") || !strings.Contains(subjects, "people-json-value") {
		t.Errorf("subjects not listed")
	}
	diff := get("/schemas/people-value/diff")
	if !strings.Contains(diff, `<tr class="add"><td class="mono">&#43;</td><td><pre>      &#34;name&#34;: &#34;currency&#34;,</pre>`) {
		t.Errorf("the diff of versions 1 and 2 does not add the currency field:\n%s", diff)
	}
}

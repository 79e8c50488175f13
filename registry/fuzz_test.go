package registry

import (
	"testing"
)

// FuzzSchemas parses arbitrary text as each format. A schema that parses
// reads its own data (compatible with itself both ways), and parsing its
// stored form again gives the same stored form.
func FuzzSchemas(f *testing.F) {
	for _, c := range append(append(append([]compatCase{}, avroCases...), protobufCases...), jsonCases...) {
		f.Add(string(c.format), c.next)
	}
	f.Add(string(Avro), `["null","string",{"type":"array","items":"int"}]`)
	f.Add(string(JSON), `{"$ref":"#"}`)
	f.Add(string(JSON), `{"definitions":{"a":{"$ref":"#/definitions/b"},"b":{"$ref":"#/definitions/a"}},"$ref":"#/definitions/a"}`)
	f.Add(string(Protobuf), "syntax = \"proto2\";\nmessage M { optional group G = 1 { optional int32 a = 2; } map<string, M> m = 3; }")
	f.Fuzz(func(t *testing.T, typ, text string) {
		fm, ok := formatOf(Format(typ))
		if !ok || len(text) > 4096 {
			return
		}
		for _, normalize := range []bool{false, true} {
			p, err := safeParse(fm, text, nil, normalize)
			if err != nil {
				continue
			}
			if msgs := fm.readable(p, p); len(msgs) > 0 {
				t.Fatalf("%s schema %q cannot read itself: %v", typ, text, msgs)
			}
			again, err := safeParse(fm, p.canonical(), nil, normalize)
			if err != nil {
				t.Fatalf("%s schema %q stored as %q, which does not parse: %v", typ, text, p.canonical(), err)
			}
			if again.canonical() != p.canonical() {
				t.Fatalf("%s schema %q: stored %q, then %q", typ, text, p.canonical(), again.canonical())
			}
		}
	})
}

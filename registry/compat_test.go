package registry

import (
	"strings"
	"testing"
)

// compatCase: may next be registered after previous (oldest first) under
// level? The cases are Confluent's documented examples for each format.
type compatCase struct {
	name     string
	format   Format
	level    string
	previous []string
	next     string
	want     bool
}

func avroRecord(fields ...string) string {
	return `{"type":"record","name":"R","namespace":"ex","fields":[` + strings.Join(fields, ",") + `]}`
}

const (
	fA        = `{"name":"a","type":"string"}`
	fBDefault = `{"name":"b","type":"int","default":0}`
	fB        = `{"name":"b","type":"int"}`
	fCDefault = `{"name":"c","type":"string","default":""}`
	fALong    = `{"name":"a","type":"long"}`
	fAInt     = `{"name":"a","type":"int"}`
)

var avroCases = []compatCase{
	{"add field with default", Avro, Backward, []string{avroRecord(fA)}, avroRecord(fA, fBDefault), true},
	{"add field without default", Avro, Backward, []string{avroRecord(fA)}, avroRecord(fA, fB), false},
	{"delete field", Avro, Backward, []string{avroRecord(fA, fB)}, avroRecord(fA), true},
	{"forward: add field without default", Avro, Forward, []string{avroRecord(fA)}, avroRecord(fA, fB), true},
	{"forward: delete field without default", Avro, Forward, []string{avroRecord(fA, fB)}, avroRecord(fA), false},
	{"forward: delete field with default", Avro, Forward, []string{avroRecord(fA, fBDefault)}, avroRecord(fA), true},
	{"full: add field with default", Avro, Full, []string{avroRecord(fA)}, avroRecord(fA, fBDefault), true},
	{"full: add field without default", Avro, Full, []string{avroRecord(fA)}, avroRecord(fA, fB), false},
	{"full: delete field with default", Avro, Full, []string{avroRecord(fA, fBDefault)}, avroRecord(fA), true},
	{"full: delete field without default", Avro, Full, []string{avroRecord(fA, fB)}, avroRecord(fA), false},
	{"promote int to long", Avro, Backward, []string{avroRecord(fAInt)}, avroRecord(fALong), true},
	{"demote long to int", Avro, Backward, []string{avroRecord(fALong)}, avroRecord(fAInt), false},
	{"change type string to int", Avro, Backward, []string{avroRecord(fA)}, avroRecord(fAInt), false},
	{"none allows anything", Avro, None, []string{avroRecord(fA)}, avroRecord(fAInt), true},
	// Only the latest is checked unless transitive: v3 reads v2 (which has
	// b) but not v1 (which lacks it, and b has no default).
	{"backward checks the latest only", Avro, Backward, []string{avroRecord(fA), avroRecord(fA, fBDefault)}, avroRecord(fA, fB), true},
	{"backward transitive checks all", Avro, BackwardTransitive, []string{avroRecord(fA), avroRecord(fA, fBDefault)}, avroRecord(fA, fB), false},
	{"forward transitive checks all", Avro, ForwardTransitive, []string{avroRecord(fA, fB), avroRecord(fA, fB, fCDefault)}, avroRecord(fA, fCDefault), false},
	{"full transitive", Avro, FullTransitive, []string{avroRecord(fA), avroRecord(fA, fBDefault)}, avroRecord(fA, fBDefault, fCDefault), true},
	{"enum symbol added", Avro, Backward,
		[]string{`{"type":"enum","name":"E","symbols":["A","B"]}`}, `{"type":"enum","name":"E","symbols":["A","B","C"]}`, true},
	{"enum symbol removed", Avro, Backward,
		[]string{`{"type":"enum","name":"E","symbols":["A","B"]}`}, `{"type":"enum","name":"E","symbols":["A"]}`, false},
	{"record renamed", Avro, Backward, []string{avroRecord(fA)}, strings.Replace(avroRecord(fA), `"R"`, `"S"`, 1), false},
	{"record renamed with an alias", Avro, Backward, []string{avroRecord(fA)},
		`{"type":"record","name":"S","namespace":"ex","aliases":["ex.R"],"fields":[` + fA + `]}`, true},
	{"field made nullable", Avro, Backward, []string{avroRecord(fA)}, avroRecord(`{"name":"a","type":["null","string"],"default":null}`), true},
}

func proto3(body string) string { return "syntax = \"proto3\";\npackage ex;\n" + body }

var protobufCases = []compatCase{
	{"add field", Protobuf, Full, []string{proto3(`message M { string a = 1; }`)}, proto3(`message M { string a = 1; int32 b = 2; }`), true},
	{"remove field", Protobuf, Full, []string{proto3(`message M { string a = 1; int32 b = 2; }`)}, proto3(`message M { string a = 1; }`), true},
	{"rename field", Protobuf, Full, []string{proto3(`message M { string a = 1; }`)}, proto3(`message M { string name = 1; }`), true},
	{"int32 to int64", Protobuf, Backward, []string{proto3(`message M { int32 a = 1; }`)}, proto3(`message M { int64 a = 1; }`), true},
	{"string to bytes", Protobuf, Backward, []string{proto3(`message M { string a = 1; }`)}, proto3(`message M { bytes a = 1; }`), true},
	{"int32 to string", Protobuf, Backward, []string{proto3(`message M { int32 a = 1; }`)}, proto3(`message M { string a = 1; }`), false},
	{"int32 to sint32", Protobuf, Backward, []string{proto3(`message M { int32 a = 1; }`)}, proto3(`message M { sint32 a = 1; }`), false},
	{"scalar to message", Protobuf, Backward, []string{proto3(`message N {} message M { int32 a = 1; }`)}, proto3(`message N {} message M { N a = 1; }`), false},
	{"message type changed", Protobuf, Backward,
		[]string{proto3(`message N {} message O {} message M { N a = 1; }`)}, proto3(`message N {} message O {} message M { O a = 1; }`), false},
	{"package changed", Protobuf, Backward, []string{proto3(`message M { int32 a = 1; }`)}, strings.Replace(proto3(`message M { int32 a = 1; }`), "package ex;", "package other;", 1), false},
	{"message removed", Protobuf, Backward, []string{proto3(`message M { int32 a = 1; } message N {}`)}, proto3(`message M { int32 a = 1; }`), false},
	{"message added", Protobuf, Backward, []string{proto3(`message M { int32 a = 1; }`)}, proto3(`message M { int32 a = 1; } message N {}`), true},
	{"oneof field removed", Protobuf, Backward,
		[]string{proto3(`message M { oneof o { int32 a = 1; string b = 2; } }`)}, proto3(`message M { oneof o { int32 a = 1; } }`), false},
	{"field moved into an existing oneof", Protobuf, Backward,
		[]string{proto3(`message M { int32 c = 3; oneof o { int32 a = 1; } }`)}, proto3(`message M { oneof o { int32 a = 1; int32 c = 3; } }`), false},
	{"one field moved into a new oneof", Protobuf, Backward,
		[]string{proto3(`message M { int32 a = 1; }`)}, proto3(`message M { oneof o { int32 a = 1; } }`), true},
	{"several fields moved into a new oneof", Protobuf, Backward,
		[]string{proto3(`message M { int32 a = 1; int32 b = 2; }`)}, proto3(`message M { oneof o { int32 a = 1; int32 b = 2; } }`), false},
	{"enum value added", Protobuf, Full, []string{proto3(`enum E { A = 0; } message M { E e = 1; }`)}, proto3(`enum E { A = 0; B = 1; } message M { E e = 1; }`), true},
	{"required field added", Protobuf, Backward,
		[]string{"syntax = \"proto2\";\nmessage M { optional int32 a = 1; }"}, "syntax = \"proto2\";\nmessage M { optional int32 a = 1; required int32 b = 2; }", false},
	{"required field removed", Protobuf, Backward,
		[]string{"syntax = \"proto2\";\nmessage M { required int32 a = 1; }"}, "syntax = \"proto2\";\nmessage M { }", false},
	{"singular string to repeated", Protobuf, Backward, []string{proto3(`message M { string a = 1; }`)}, proto3(`message M { repeated string a = 1; }`), true},
	{"singular int32 to repeated", Protobuf, Backward, []string{proto3(`message M { int32 a = 1; }`)}, proto3(`message M { repeated int32 a = 1; }`), false},
	{"well-known import", Protobuf, Backward,
		[]string{proto3(`message M { int32 a = 1; }`)}, "syntax = \"proto3\";\npackage ex;\nimport \"google/protobuf/timestamp.proto\";\nmessage M { int32 a = 1; google.protobuf.Timestamp t = 2; }", true},
}

func jsonObject(closed bool, props string, required ...string) string {
	s := `{"type":"object","properties":{` + props + `}`
	if len(required) > 0 {
		s += `,"required":["` + strings.Join(required, `","`) + `"]`
	}
	if closed {
		s += `,"additionalProperties":false`
	}
	return s + "}"
}

var jsonCases = []compatCase{
	{"open model: add property", JSON, Backward, []string{jsonObject(false, `"a":{"type":"string"}`)}, jsonObject(false, `"a":{"type":"string"},"b":{"type":"integer"}`), false},
	{"closed model: add optional property", JSON, Backward, []string{jsonObject(true, `"a":{"type":"string"}`)}, jsonObject(true, `"a":{"type":"string"},"b":{"type":"integer"}`), true},
	{"closed model: add required property", JSON, Backward, []string{jsonObject(true, `"a":{"type":"string"}`)}, jsonObject(true, `"a":{"type":"string"},"b":{"type":"integer"}`, "b"), false},
	{"open model: remove property", JSON, Backward, []string{jsonObject(false, `"a":{"type":"string"},"b":{"type":"integer"}`)}, jsonObject(false, `"a":{"type":"string"}`), true},
	{"closed model: remove property", JSON, Backward, []string{jsonObject(true, `"a":{"type":"string"},"b":{"type":"integer"}`)}, jsonObject(true, `"a":{"type":"string"}`), false},
	{"forward: open model: remove property", JSON, Forward, []string{jsonObject(false, `"a":{"type":"string"},"b":{"type":"integer"}`)}, jsonObject(false, `"a":{"type":"string"}`), false},
	{"forward: open model: add property", JSON, Forward, []string{jsonObject(false, `"a":{"type":"string"}`)}, jsonObject(false, `"a":{"type":"string"},"b":{"type":"integer"}`), true},
	{"partially open model: add a property it covers", JSON, Backward,
		[]string{`{"type":"object","properties":{"a":{"type":"string"}},"additionalProperties":{"type":"string"}}`},
		`{"type":"object","properties":{"a":{"type":"string"},"b":{"type":"string"}},"additionalProperties":{"type":"string"}}`, true},
	{"type changed", JSON, Backward, []string{`{"type":"string"}`}, `{"type":"number"}`, false},
	{"integer widened to number", JSON, Backward, []string{`{"type":"integer"}`}, `{"type":"number"}`, true},
	{"number narrowed to integer", JSON, Backward, []string{`{"type":"number"}`}, `{"type":"integer"}`, false},
	{"enum value added", JSON, Backward, []string{`{"enum":["a","b"]}`}, `{"enum":["a","b","c"]}`, true},
	{"enum value removed", JSON, Backward, []string{`{"enum":["a","b"]}`}, `{"enum":["a"]}`, false},
	{"maxLength decreased", JSON, Backward, []string{`{"type":"string","maxLength":10}`}, `{"type":"string","maxLength":5}`, false},
	{"maxLength increased", JSON, Backward, []string{`{"type":"string","maxLength":10}`}, `{"type":"string","maxLength":20}`, true},
	{"minimum added", JSON, Backward, []string{`{"type":"number"}`}, `{"type":"number","minimum":0}`, false},
	{"required removed", JSON, Backward, []string{jsonObject(true, `"a":{"type":"string"}`, "a")}, jsonObject(true, `"a":{"type":"string"}`), true},
	{"required added", JSON, Backward, []string{jsonObject(true, `"a":{"type":"string"}`)}, jsonObject(true, `"a":{"type":"string"}`, "a"), false},
	{"additionalProperties closed", JSON, Backward, []string{jsonObject(false, `"a":{"type":"string"}`)}, jsonObject(true, `"a":{"type":"string"}`), false},
	{"array items widened", JSON, Backward, []string{`{"type":"array","items":{"type":"integer"}}`}, `{"type":"array","items":{"type":"number"}}`, true},
	{"array items changed", JSON, Backward, []string{`{"type":"array","items":{"type":"integer"}}`}, `{"type":"array","items":{"type":"string"}}`, false},
	{"oneOf branch added", JSON, Backward, []string{`{"oneOf":[{"type":"string"},{"type":"integer"}]}`}, `{"oneOf":[{"type":"string"},{"type":"integer"},{"type":"boolean"}]}`, true},
	{"oneOf branch removed", JSON, Backward, []string{`{"oneOf":[{"type":"string"},{"type":"integer"}]}`}, `{"oneOf":[{"type":"string"}]}`, false},
	{"local $ref followed", JSON, Backward,
		[]string{`{"definitions":{"n":{"type":"integer"}},"type":"object","properties":{"a":{"$ref":"#/definitions/n"}},"additionalProperties":false}`},
		`{"definitions":{"n":{"type":"string"}},"type":"object","properties":{"a":{"$ref":"#/definitions/n"}},"additionalProperties":false}`, false},
}

func TestCompatibilityMatrix(t *testing.T) {
	t.Parallel()
	for _, cases := range [][]compatCase{avroCases, protobufCases, jsonCases} {
		for _, c := range cases {
			t.Run(string(c.format)+"/"+c.level+"/"+c.name, func(t *testing.T) {
				f, _ := formatOf(c.format)
				next, err := f.parse(c.next, nil, false)
				if err != nil {
					t.Fatalf("next: %v", err)
				}
				var prev []parsed
				var nums []int
				for i := len(c.previous) - 1; i >= 0; i-- {
					p, err := f.parse(c.previous[i], nil, false)
					if err != nil {
						t.Fatalf("previous %d: %v", i, err)
					}
					prev, nums = append(prev, p), append(nums, i+1)
				}
				msgs := checkLevel(f, c.level, next, prev, nums)
				if got := len(msgs) == 0; got != c.want {
					t.Errorf("compatible = %v, want %v; messages: %v", got, c.want, msgs)
				}
			})
		}
	}
}

func TestInvalidSchemas(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name   string
		format Format
		text   string
	}{
		{"avro: not json", Avro, `{"type":`},
		{"avro: record without fields", Avro, `{"type":"record","name":"R"}`},
		{"avro: unknown named type", Avro, `{"type":"record","name":"R","fields":[{"name":"a","type":"Missing"}]}`},
		{"avro: bad default", Avro, `{"type":"record","name":"R","fields":[{"name":"a","type":"int","default":"x"}]}`},
		{"avro: trailing text", Avro, `"string" "int"`},
		{"protobuf: syntax error", Protobuf, `syntax = "proto3"; message M { int32 a = ; }`},
		{"protobuf: unknown type", Protobuf, `syntax = "proto3"; message M { Missing a = 1; }`},
		{"protobuf: unknown import", Protobuf, `syntax = "proto3"; import "nope.proto"; message M {}`},
		{"protobuf: duplicate field number", Protobuf, `syntax = "proto3"; message M { int32 a = 1; int32 b = 1; }`},
		{"json: not json", JSON, `{"type":`},
		{"json: invalid keyword value", JSON, `{"type":"strng"}`},
		{"json: minimum not a number", JSON, `{"type":"number","minimum":"zero"}`},
		{"json: a file reference", JSON, `{"$ref":"file:///etc/passwd"}`},
		{"json: a remote reference", JSON, `{"$ref":"https://example.com/schema.json"}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			f, _ := formatOf(c.format)
			if _, err := f.parse(c.text, nil, false); err == nil {
				t.Errorf("%s parsed", c.text)
			}
		})
	}
}

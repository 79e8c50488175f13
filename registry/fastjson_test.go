package registry

import (
	"encoding/json"
	"reflect"
	"testing"
)

// FuzzFastRecords: where the fast path reads a key or a SCHEMA value, it
// reads what encoding/json reads.
func FuzzFastRecords(f *testing.F) {
	sub := "orders-value"
	f.Add(encodeKey(recordKey{KeyType: keySchema, Subject: &sub, Version: 3, Magic: 1}))
	f.Add([]byte(`{"keytype":"CONFIG","subject":null,"magic":0}`))
	f.Add(encodeValue(schemaValue{Subject: sub, Version: 2, ID: 7, SchemaType: Protobuf, Schema: "syntax = \"proto3\";\nmessage M {}\n\t\u00e9\u2028"}))
	f.Add([]byte(`{"subject":"a\"b\\c\u00e9\ud83d\ude00","version":1,"id":2,"references":[],"schema":"\"string\"","deleted":true}`))
	f.Add([]byte(` { "subject" : "s" , "version" : 01 } `))
	f.Add([]byte(`{"subject":"s","subject":"t"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if k, ok := fastKey(b); ok {
			var want recordKey
			if err := json.Unmarshal(b, &want); err != nil {
				t.Fatalf("fastKey read %q, which encoding/json refuses: %v", b, err)
			}
			if !reflect.DeepEqual(k, want) {
				t.Fatalf("fastKey(%q) = %+v, encoding/json %+v", b, k, want)
			}
		}
		if v, ok := fastSchemaValue(b); ok {
			var want schemaValue
			if err := json.Unmarshal(b, &want); err != nil {
				t.Fatalf("fastSchemaValue read %q, which encoding/json refuses: %v", b, err)
			}
			if len(want.References) == 0 {
				want.References = nil
			}
			if !reflect.DeepEqual(v, want) {
				t.Fatalf("fastSchemaValue(%q) = %+v, encoding/json %+v", b, v, want)
			}
		}
	})
}

// The records the registry writes take the fast path.
func TestFastRecordsRead(t *testing.T) {
	sub := "s"
	if _, ok := fastKey(schemaKey(sub, 1)); !ok {
		t.Error("a SCHEMA key took the slow path")
	}
	if _, ok := fastKey(subjectKey(keyConfig, nil)); !ok {
		t.Error("a global CONFIG key took the slow path")
	}
	if _, ok := fastSchemaValue(encodeValue(schemaValue{Subject: sub, Version: 1, ID: 1, Schema: `{"type":"record","name":"R","fields":[{"name":"a\u00e9","type":"string","doc":"<&>"}]}`})); !ok {
		t.Error("a SCHEMA value took the slow path")
	}
}

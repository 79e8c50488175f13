package registry

import (
	"errors"
	"testing"
)

// A SCHEMA tombstone removes a soft-deleted version only: one of a live
// version is a writer's tombstone for a key its record lost on its id,
// which another registry's version took meanwhile (rewriteWinners), and
// must not remove that version.
func TestTombstoneOfLiveVersion(t *testing.T) {
	st := newState()
	const schema = `{"type":"string"}`
	if err := st.apply(schemaKey("s", 1), encodeValue(schemaValue{Subject: "s", Version: 1, ID: 1, Schema: schema})); err != nil {
		t.Fatal(err)
	}
	if err := st.apply(schemaKey("s", 1), nil); !errors.Is(err, errConflict) {
		t.Fatalf("tombstone of a live version: %v, want errConflict", err)
	}
	if s := st.subjects["s"]; s == nil || len(s.versions) != 1 || st.schemaOf("s", 1) == nil {
		t.Fatalf("the live version was removed: %+v", s)
	}
	if err := st.apply(schemaKey("s", 1), encodeValue(schemaValue{Subject: "s", Version: 1, ID: 1, Schema: schema, Deleted: true})); err != nil {
		t.Fatal(err)
	}
	if err := st.apply(schemaKey("s", 1), nil); err != nil {
		t.Fatalf("tombstone of a soft-deleted version: %v", err)
	}
	if st.subjects["s"] != nil || st.schemaOf("s", 1) != nil {
		t.Fatalf("the soft-deleted version is still there")
	}
}

package wal

import "testing"

// objectNode reads the node id objectKey puts in a WAL object's key: what
// decides which broker deletes the object once unreferenced.
func TestObjectNode(t *testing.T) {
	key, err := objectKey(7, 3)
	if err != nil {
		t.Fatal(err)
	}
	if n, ok := objectNode(key); !ok || n != 7 {
		t.Fatalf("objectNode(%q) = %d, %v; want 7", key, n, ok)
	}
	for _, k := range []string{"segments/x", "wal/", "wal/x/1/2.wal", "wal/99999999999/1/2.wal"} {
		if n, ok := objectNode(k); ok {
			t.Errorf("objectNode(%q) = %d, true; want false", k, n)
		}
	}
}

// Package objtest is the conformance suite of objstore.Store: every
// implementation (objstore.Memory, objstore/s3 against a real S3-compatible
// server) runs it.
package objtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/streamhouse/streamhouse/storage/objstore"
)

// Run runs the suite. open returns a store whose keys no other test uses
// (a prefix of its own is enough).
func Run(t *testing.T, open func(t *testing.T) objstore.Store) {
	t.Helper()
	tests := []struct {
		name string
		run  func(t *testing.T, s objstore.Store)
	}{
		{"PutGet", testPutGet},
		{"Ranges", testRanges},
		{"Missing", testMissing},
		{"Overwrite", testOverwrite},
		{"ListOrderAndPrefix", testList},
		{"Delete", testDelete},
		{"Large", testLarge},
		{"Check", func(t *testing.T, s objstore.Store) {
			if err := s.Check(t.Context()); err != nil {
				t.Fatalf("Check: %v", err)
			}
		}},
		{"CancelledContext", testCancelled},
		{"Multipart", testMultipart},
		{"MultipartAbortAndList", testMultipartAbort},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.run(t, open(t))
		})
	}
}

func put(t *testing.T, s objstore.Store, key string, data []byte) {
	t.Helper()
	if err := s.Put(t.Context(), key, bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatalf("Put(%s): %v", key, err)
	}
}

func get(t *testing.T, s objstore.Store, key string, off, n int64) []byte {
	t.Helper()
	r, err := s.Get(t.Context(), key, off, n)
	if err != nil {
		t.Fatalf("Get(%s, %d, %d): %v", key, off, n, err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("Get(%s, %d, %d): read: %v", key, off, n, err)
	}
	return b
}

func testPutGet(t *testing.T, s objstore.Store) {
	data := []byte("hello, bucket")
	put(t, s, "a/b/c.log", data)
	if got := get(t, s, "a/b/c.log", 0, -1); !bytes.Equal(got, data) {
		t.Fatalf("Get = %q, want %q", got, data)
	}
	o, err := s.Stat(t.Context(), "a/b/c.log")
	if err != nil || o.Size != int64(len(data)) || o.Key != "a/b/c.log" {
		t.Fatalf("Stat = %+v, %v", o, err)
	}
	put(t, s, "empty", nil)
	if got := get(t, s, "empty", 0, -1); len(got) != 0 {
		t.Fatalf("Get(empty) = %q", got)
	}
}

func testRanges(t *testing.T, s objstore.Store) {
	data := []byte("0123456789abcdef")
	put(t, s, "r", data)
	for _, c := range []struct {
		off, n int64
		want   string
	}{{0, 4, "0123"}, {4, 4, "4567"}, {10, -1, "abcdef"}, {14, 10, "ef"}, {15, 1, "f"}, {0, 16, string(data)}} {
		if got := get(t, s, "r", c.off, c.n); string(got) != c.want {
			t.Errorf("Get(r, %d, %d) = %q, want %q", c.off, c.n, got, c.want)
		}
	}
}

func testMissing(t *testing.T, s objstore.Store) {
	if _, err := s.Get(t.Context(), "nope", 0, -1); !errors.Is(err, objstore.ErrNotFound) {
		t.Errorf("Get of a missing key: err = %v, want ErrNotFound", err)
	}
	if _, err := s.Stat(t.Context(), "nope"); !errors.Is(err, objstore.ErrNotFound) {
		t.Errorf("Stat of a missing key: err = %v, want ErrNotFound", err)
	}
	if err := s.Delete(t.Context(), "nope"); err != nil {
		t.Errorf("Delete of a missing key: %v", err)
	}
}

func testOverwrite(t *testing.T, s objstore.Store) {
	put(t, s, "k", []byte("first"))
	put(t, s, "k", []byte("second, longer"))
	if got := get(t, s, "k", 0, -1); string(got) != "second, longer" {
		t.Fatalf("Get after overwrite = %q", got)
	}
}

func testList(t *testing.T, s objstore.Store) {
	keys := []string{"t/1/00000000000000000010.log", "t/1/00000000000000000000.log", "t/10/x", "t/2/y", "u/z"}
	for _, k := range keys {
		put(t, s, k, []byte(k))
	}
	var got []string
	if err := s.List(t.Context(), "t/1/", func(o objstore.Object) error {
		got = append(got, o.Key)
		if o.Size != int64(len(o.Key)) {
			t.Errorf("List: %s has size %d, want %d", o.Key, o.Size, len(o.Key))
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	want := []string{"t/1/00000000000000000000.log", "t/1/00000000000000000010.log"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("List(t/1/) = %q, want %q", got, want)
	}
	stop := errors.New("stop")
	n := 0
	err := s.List(t.Context(), "t/", func(objstore.Object) error { n++; return stop })
	if !errors.Is(err, stop) || n != 1 {
		t.Errorf("List stopped by fn: err = %v after %d calls", err, n)
	}
}

func testDelete(t *testing.T, s objstore.Store) {
	put(t, s, "d", []byte("x"))
	if err := s.Delete(t.Context(), "d"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Stat(t.Context(), "d"); !errors.Is(err, objstore.ErrNotFound) {
		t.Errorf("Stat after Delete: err = %v, want ErrNotFound", err)
	}
}

func testLarge(t *testing.T, s objstore.Store) {
	data := make([]byte, 21<<20) // past one multipart part
	rand.Read(data)
	put(t, s, "big", data)
	if got := get(t, s, "big", 0, -1); !bytes.Equal(got, data) {
		t.Fatalf("Get(big) differs (%d bytes, want %d)", len(got), len(data))
	}
	if got := get(t, s, "big", 20<<20, 1<<20); !bytes.Equal(got, data[20<<20:21<<20]) {
		t.Fatal("ranged Get(big) differs")
	}
}

func testCancelled(t *testing.T, s objstore.Store) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := s.Put(ctx, "c", bytes.NewReader([]byte("x")), 1); err == nil {
		t.Error("Put with a cancelled context succeeded")
	}
	if _, err := s.Get(ctx, "c", 0, -1); err == nil {
		t.Error("Get with a cancelled context succeeded")
	}
}

func multipart(t *testing.T, s objstore.Store) objstore.Multipart {
	t.Helper()
	m, ok := s.(objstore.Multipart)
	if !ok {
		t.Skip("no objstore.Multipart")
	}
	return m
}

func listUploads(t *testing.T, m objstore.Multipart, prefix string) map[string]string {
	t.Helper()
	got := map[string]string{} // id -> key
	if err := m.ListMultipart(t.Context(), prefix, func(u objstore.Upload) error {
		if u.Initiated.IsZero() {
			t.Errorf("ListMultipart: upload %s of %s has no initiation time", u.ID, u.Key)
		}
		got[u.ID] = u.Key
		return nil
	}); err != nil {
		t.Fatalf("ListMultipart(%q): %v", prefix, err)
	}
	return got
}

// testMultipart: parts of MinPartSize and a short last one make the object
// at Complete, not before; the upload is listed until then.
func testMultipart(t *testing.T, s objstore.Store) {
	m := multipart(t, s)
	ctx := t.Context()
	data := make([]byte, objstore.MinPartSize+1000)
	rand.Read(data)
	id, err := m.CreateMultipart(ctx, "mp/a.log")
	if err != nil {
		t.Fatalf("CreateMultipart: %v", err)
	}
	var parts []objstore.Part
	for n, b := range [][]byte{data[:objstore.MinPartSize], data[objstore.MinPartSize:]} {
		p, err := m.PutPart(ctx, "mp/a.log", id, n+1, bytes.NewReader(b), int64(len(b)))
		if err != nil {
			t.Fatalf("PutPart(%d): %v", n+1, err)
		}
		parts = append(parts, p)
	}
	if _, err := s.Stat(ctx, "mp/a.log"); !errors.Is(err, objstore.ErrNotFound) {
		t.Fatalf("Stat before Complete: err = %v, want ErrNotFound", err)
	}
	if got := listUploads(t, m, "mp/"); got[id] != "mp/a.log" {
		t.Fatalf("ListMultipart(mp/) = %v, want upload %s of mp/a.log", got, id)
	}
	if err := m.CompleteMultipart(ctx, "mp/a.log", id, parts); err != nil {
		t.Fatalf("CompleteMultipart: %v", err)
	}
	if got := get(t, s, "mp/a.log", 0, -1); !bytes.Equal(got, data) {
		t.Fatalf("Get after Complete differs (%d bytes, want %d)", len(got), len(data))
	}
	if got := listUploads(t, m, "mp/"); len(got) != 0 {
		t.Fatalf("ListMultipart after Complete = %v, want none", got)
	}
	if err := m.AbortMultipart(ctx, "mp/a.log", id); !errors.Is(err, objstore.ErrNotFound) {
		t.Fatalf("AbortMultipart of a completed upload: err = %v, want ErrNotFound", err)
	}
}

// testMultipartAbort: an aborted upload leaves no object and is no longer
// listed; listing keeps to its prefix.
func testMultipartAbort(t *testing.T, s objstore.Store) {
	m := multipart(t, s)
	ctx := t.Context()
	a, err := m.CreateMultipart(ctx, "ab/1/x.log")
	if err != nil {
		t.Fatal(err)
	}
	b, err := m.CreateMultipart(ctx, "ab/2/y.log")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.PutPart(ctx, "ab/1/x.log", a, 1, bytes.NewReader([]byte("part")), 4); err != nil {
		t.Fatal(err)
	}
	if got := listUploads(t, m, "ab/1/"); len(got) != 1 || got[a] != "ab/1/x.log" {
		t.Fatalf("ListMultipart(ab/1/) = %v, want only %s", got, a)
	}
	if got := listUploads(t, m, ""); got[a] == "" || got[b] == "" {
		t.Fatalf("ListMultipart(\"\") = %v, want %s and %s", got, a, b)
	}
	for _, u := range []struct{ key, id string }{{"ab/1/x.log", a}, {"ab/2/y.log", b}} {
		if err := m.AbortMultipart(ctx, u.key, u.id); err != nil {
			t.Fatalf("AbortMultipart(%s): %v", u.key, err)
		}
	}
	if got := listUploads(t, m, "ab/"); len(got) != 0 {
		t.Fatalf("ListMultipart after Abort = %v, want none", got)
	}
	if _, err := s.Stat(ctx, "ab/1/x.log"); !errors.Is(err, objstore.ErrNotFound) {
		t.Fatalf("Stat after Abort: err = %v, want ErrNotFound", err)
	}
	if _, err := m.PutPart(ctx, "ab/1/x.log", a, 2, bytes.NewReader([]byte("late")), 4); !errors.Is(err, objstore.ErrNotFound) {
		t.Fatalf("PutPart of an aborted upload: err = %v, want ErrNotFound", err)
	}
}

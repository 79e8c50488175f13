package errorfs

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/streamhouse/streamhouse/storage/fs/vfs"
)

func TestRules(t *testing.T) {
	dir := t.TempDir()
	var rs Rules
	fsys := Wrap(vfs.Default, &rs)
	name := filepath.Join(dir, "seg.log")
	f, err := fsys.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()

	// The second write fails with ENOSPC after 3 of its bytes, then
	// writes pass again.
	r := rs.Add(Rule{Kind: OpWrite, Path: "seg", Err: syscall.ENOSPC, After: 1, Times: 1, Partial: 3})
	if _, err := f.WriteAt([]byte("abcdef"), 0); err != nil {
		t.Fatalf("first write: %v", err)
	}
	n, err := f.WriteAt([]byte("ghijkl"), 6)
	if !errors.Is(err, syscall.ENOSPC) || n != 3 {
		t.Fatalf("second write: %d, %v; want 3 bytes and ENOSPC", n, err)
	}
	var pe *os.PathError
	if !errors.As(err, &pe) || pe.Path != name {
		t.Fatalf("second write's error %v is not an *os.PathError on %s", err, name)
	}
	if _, err := f.WriteAt([]byte("x"), 9); err != nil {
		t.Fatalf("third write: %v", err)
	}
	b := make([]byte, 10)
	if _, err := f.ReadAt(b, 0); err != nil || string(b) != "abcdefghix" {
		t.Fatalf("file holds %q (%v)", b, err)
	}
	rs.Remove(r)

	// Any kind on the path, every time, until cleared.
	rs.Add(Rule{Any: true, Path: "seg", Err: syscall.EIO})
	if err := f.SyncData(); !errors.Is(err, syscall.EIO) {
		t.Fatalf("SyncData: %v, want EIO", err)
	}
	if err := f.Truncate(0); !errors.Is(err, syscall.EIO) {
		t.Fatalf("Truncate: %v, want EIO", err)
	}
	if err := fsys.Rename(name, name+".2"); !errors.Is(err, syscall.EIO) {
		t.Fatalf("Rename: %v, want EIO", err)
	}
	if got := rs.Failed(); got != 4 {
		t.Fatalf("Failed: %d, want 4", got)
	}
	rs.Clear()
	if err := f.SyncData(); err != nil {
		t.Fatalf("SyncData after Clear: %v", err)
	}
	if rs.Count(OpSyncData) != 2 {
		t.Fatalf("Count(OpSyncData) = %d, want 2", rs.Count(OpSyncData))
	}
}

func TestSetSpace(t *testing.T) {
	fsys := Wrap(vfs.Default, InjectorFunc(func(Op) error { return nil }))
	dir := t.TempDir()
	fsys.SetSpace(func(_ string, total, _ int64) (int64, int64) { return total, 1234 })
	total, usable, err := fsys.DiskSpace(dir)
	if err != nil || total <= 0 || usable != 1234 {
		t.Fatalf("DiskSpace: %d, %d, %v; want the real total and 1234", total, usable, err)
	}
}

package vfs

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// A file closed under a commit round reports os.ErrClosed, as f.Sync
// would: storage/fs tells it from a failure of the data by that.
func TestSyncDataClosedFile(t *testing.T) {
	f, err := Default.OpenFile(filepath.Join(t.TempDir(), "seg"), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("data")); err != nil {
		t.Fatal(err)
	}
	if err := f.SyncData(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := f.SyncData(); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("SyncData on a closed file: %v, want os.ErrClosed", err)
	}
}

// DiskSpace reports the size and free space of a real file system.
func TestDiskSpace(t *testing.T) {
	total, usable, err := Default.DiskSpace(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if total <= 0 || usable < 0 || usable > total {
		t.Fatalf("DiskSpace: total %d, usable %d", total, usable)
	}
	if _, _, err := Default.DiskSpace(filepath.Join(t.TempDir(), "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("DiskSpace of a missing path: %v, want os.ErrNotExist", err)
	}
}

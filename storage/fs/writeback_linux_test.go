package fs

import (
	"errors"
	"os"
	"testing"
)

// A file closed under a commit round reports os.ErrClosed, as f.Sync
// would: syncFailed tells it from a failure of the data by that.
func TestSyncDataClosedFile(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "seg")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("data"); err != nil {
		t.Fatal(err)
	}
	if err := syncData(f); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := syncData(f); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("syncData on a closed file: %v, want os.ErrClosed", err)
	}
}

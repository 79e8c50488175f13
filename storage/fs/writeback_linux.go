package fs

import (
	"os"

	"golang.org/x/sys/unix"
)

// startWriteback asks the kernel to start writing [off, off+n) of f to the
// device without waiting (sync_file_range SYNC_FILE_RANGE_WRITE), so that
// the commit round's fsync finds most of its data on the way already.
// Errors are ignored: the fsync that follows reports what matters.
func startWriteback(f *os.File, off, n int64) {
	_ = unix.SyncFileRange(int(f.Fd()), off, n, unix.SYNC_FILE_RANGE_WRITE)
}

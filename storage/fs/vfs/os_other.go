//go:build !linux

package vfs

import "os"

// openFile is os.OpenFile; on Linux it skips the network poller (see
// os_linux.go).
func openFile(name string, flag int, perm os.FileMode) (*os.File, error) {
	return os.OpenFile(name, flag, perm)
}

// startWriteback does nothing where sync_file_range does not exist; the
// commit round's fsync writes everything.
func startWriteback(f *os.File, off, n int64) {}

// syncData is fsync where fdatasync is not offered.
func syncData(f *os.File) error { return f.Sync() }

// syncFS is not offered here.
func syncFS(f *os.File) error { return ErrNoSyncFS }

// diskSpace is unknown where statfs is not offered.
func diskSpace(name string) (total, usable int64, err error) { return -1, -1, nil }

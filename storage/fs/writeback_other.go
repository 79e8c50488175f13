//go:build !linux

package fs

import (
	"errors"
	"os"
)

// startWriteback is a no-op where sync_file_range does not exist; the
// commit round's fsync writes everything.
func startWriteback(f *os.File, off, n int64) {}

// syncData is fsync where fdatasync is not offered.
func syncData(f *os.File) error { return f.Sync() }

// diskSpace is unknown where statfs is not offered.
func diskSpace(dir string) (total, usable int64, err error) { return -1, -1, nil }

// syncFS is not offered here: each log fsyncs its own files after an
// unclean stop (see Store.fsSynced).
func syncFS(dir string) error { return errNoSyncFS }

// syncWholeFS is not offered here.
func syncWholeFS(dir *os.File) error { return errNoSyncFS }

// syncFSReportsErrors: syncfs is Linux's.
func syncFSReportsErrors() error { return errors.New("syncfs is not offered on this system") }

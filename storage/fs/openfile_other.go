//go:build !linux

package fs

import "os"

// openFile is os.OpenFile; on Linux it skips the network poller (see
// openfile_linux.go).
func openFile(name string, flag int, perm os.FileMode) (*os.File, error) {
	return os.OpenFile(name, flag, perm)
}

//go:build !linux

package fs

import "errors"

// syncFSReportsErrors: syncfs is Linux's.
func syncFSReportsErrors() error { return errors.New("syncfs is not offered on this system") }

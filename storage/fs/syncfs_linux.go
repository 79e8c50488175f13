package fs

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// syncFSReportsErrors says why syncfs cannot stand in for fsync here: it
// returns write-back errors only since Linux 5.8.
func syncFSReportsErrors() error {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return err
	}
	var major, minor int
	if _, err := fmt.Sscanf(unix.ByteSliceToString(u.Release[:]), "%d.%d", &major, &minor); err != nil {
		return fmt.Errorf("kernel release %q: %w", unix.ByteSliceToString(u.Release[:]), err)
	}
	if major < 5 || major == 5 && minor < 8 {
		return fmt.Errorf("the syncfs of Linux %d.%d does not report write-back errors (5.8 and later do)", major, minor)
	}
	return nil
}

package fs

import (
	"fmt"
	"os"

	"github.com/streamhouse/streamhouse/internal/fault"

	"golang.org/x/sys/unix"
)

// startWriteback asks the kernel to start writing [off, off+n) of f to the
// device without waiting (sync_file_range SYNC_FILE_RANGE_WRITE), so that
// the commit round's fsync finds most of its data on the way already.
// Errors are ignored: the fsync that follows reports what matters.
func startWriteback(f *os.File, off, n int64) {
	_ = withFd(f, func(fd int) error {
		return unix.SyncFileRange(fd, off, n, unix.SYNC_FILE_RANGE_WRITE)
	})
}

// syncData is fdatasync: the file's data and what reading it back needs
// (its size, its blocks), without the timestamps that fsync journals too.
func syncData(f *os.File) error {
	err := withFd(f, func(fd int) error {
		for {
			if err := unix.Fdatasync(fd); err != unix.EINTR {
				return err
			}
		}
	})
	if err != nil && err != os.ErrClosed {
		return &os.PathError{Op: "fdatasync", Path: f.Name(), Err: err}
	}
	return err
}

// syncFS makes every write to the file system that holds dir durable, its
// files and directories alike (syncfs(2)).
func syncFS(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return syncWholeFS(f)
}

// syncWholeFS is syncFS through an open directory of the file system.
func syncWholeFS(dir *os.File) error {
	done := fault.SyncingTree(dir.Name())
	if err := withFd(dir, unix.Syncfs); err != nil {
		return &os.PathError{Op: "syncfs", Path: dir.Name(), Err: err}
	}
	done()
	return nil
}

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

// withFd runs fn on f's descriptor, which f keeps open meanwhile; a file
// closed already gives os.ErrClosed (as f.Sync would), never another file
// that reused the number.
func withFd(f *os.File, fn func(fd int) error) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) { ferr = fn(int(fd)) }); err != nil {
		return os.ErrClosed // Control fails only for a closed file
	}
	return ferr
}

// diskSpace returns the size of the file system holding dir and the bytes
// an unprivileged writer may still use there.
func diskSpace(dir string) (total, usable int64, err error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return -1, -1, err
	}
	return int64(st.Blocks) * int64(st.Bsize), int64(st.Bavail) * int64(st.Bsize), nil
}

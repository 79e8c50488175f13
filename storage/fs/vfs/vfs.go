// Package vfs is the file system that storage/fs works through: the few
// calls the engine makes on files and directories, so that a test can put
// another file system under it. Default is the operating system's;
// vfs/errorfs wraps any FS and injects errors (ENOSPC, EIO, ...) at chosen
// calls, as pebble's vfs and errorfs do.
//
// The interface holds what storage/fs needs and no more: regular files
// read and written at positions, truncated and fsynced (fdatasync where the
// system has it), directories created, listed, removed and fsynced, renames,
// syncfs(2) of a whole file system, and the size and free space of the file
// system holding a path. Errors are the operating system's (*os.PathError
// and the like, wrapping syscall errnos), so that callers test them with
// errors.Is (syscall.ENOSPC, os.ErrNotExist).
//
// vfs imports the standard library and golang.org/x/sys/unix only.
package vfs

import (
	"errors"
	"io"
	"os"
)

// ErrNoSyncFS: the system offers no syncfs(2).
var ErrNoSyncFS = errors.New("vfs: syncfs is not offered here")

// FS is a file system.
type FS interface {
	// OpenFile opens the regular file name with os.OpenFile's flags
	// (os.O_RDWR|os.O_CREATE|os.O_EXCL, ...).
	OpenFile(name string, flag int, perm os.FileMode) (File, error)
	// OpenDir opens the directory name, for File.Sync (making the
	// entries of files created in it durable) and File.SyncFS.
	OpenDir(name string) (File, error)
	// Mkdir and MkdirAll are os.Mkdir and os.MkdirAll.
	Mkdir(name string, perm os.FileMode) error
	MkdirAll(name string, perm os.FileMode) error
	// Remove and RemoveAll are os.Remove and os.RemoveAll.
	Remove(name string) error
	RemoveAll(name string) error
	// Rename is os.Rename: newname is replaced atomically.
	Rename(oldname, newname string) error
	// ReadDir is os.ReadDir: the entries of a directory, by name.
	ReadDir(name string) ([]os.DirEntry, error)
	// Lstat is os.Lstat.
	Lstat(name string) (os.FileInfo, error)
	// DiskSpace returns the size of the file system holding name and
	// the bytes an unprivileged writer may still use there (statfs(2):
	// blocks and available blocks); -1 for both where the system cannot
	// tell.
	DiskSpace(name string) (total, usable int64, err error)
}

// File is an open file or directory of an FS.
type File interface {
	io.ReaderAt
	io.WriterAt
	io.Writer
	io.Closer
	// Name is the name the file was opened with.
	Name() string
	// Stat is os.File.Stat.
	Stat() (os.FileInfo, error)
	// Truncate changes the file's size.
	Truncate(size int64) error
	// Sync is fsync(2): the file's data and metadata, or a directory's
	// entries, on stable storage.
	Sync() error
	// SyncData is fdatasync(2): the data and what reading it back needs
	// (its size, its blocks), without the timestamps; Sync where the
	// system has no fdatasync. A closed file gives os.ErrClosed.
	SyncData() error
	// SyncFS is syncfs(2): every write to the file system holding the
	// file made durable, its files and directories alike. ErrNoSyncFS
	// where the system has none.
	SyncFS() error
	// StartWriteback asks the system to start writing [off, off+n) to
	// the device without waiting (sync_file_range(2)
	// SYNC_FILE_RANGE_WRITE), so that a later SyncData finds most of it
	// on its way already. A hint: errors are ignored, and it does
	// nothing where the system has no such call.
	StartWriteback(off, n int64)
}

// Default is the operating system's file system.
var Default FS = osFS{}

// osFS is FS over package os.
type osFS struct{}

func (osFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	f, err := openFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

func (osFS) OpenDir(name string) (File, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

func (osFS) Mkdir(name string, perm os.FileMode) error    { return os.Mkdir(name, perm) }
func (osFS) MkdirAll(name string, perm os.FileMode) error { return os.MkdirAll(name, perm) }
func (osFS) Remove(name string) error                     { return os.Remove(name) }
func (osFS) RemoveAll(name string) error                  { return os.RemoveAll(name) }
func (osFS) Rename(oldname, newname string) error         { return os.Rename(oldname, newname) }
func (osFS) ReadDir(name string) ([]os.DirEntry, error)   { return os.ReadDir(name) }
func (osFS) Lstat(name string) (os.FileInfo, error)       { return os.Lstat(name) }
func (osFS) DiskSpace(name string) (total, usable int64, err error) {
	return diskSpace(name)
}

// osFile is File over *os.File; ReadAt, WriteAt, Write, Close, Name,
// Stat, Truncate and Sync are *os.File's.
type osFile struct{ *os.File }

func (f osFile) SyncData() error             { return syncData(f.File) }
func (f osFile) SyncFS() error               { return syncFS(f.File) }
func (f osFile) StartWriteback(off, n int64) { startWriteback(f.File, off, n) }

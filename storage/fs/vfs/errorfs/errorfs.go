// Package errorfs is a vfs.FS that injects errors: it wraps another FS
// and asks an Injector, before each call, whether the call fails, as
// pebble's errorfs does. Tests use it to give storage/fs the ENOSPC of a
// full disk or the EIO of a failing one at any call it makes (a write, an
// fdatasync, a rename, a directory fsync, ...), and to make the free space
// the file system reports what they want (FS.SetSpace).
//
// A failed call returns the error as the operating system would, an
// *os.PathError around the injected errno, so that callers test it with
// errors.Is(err, syscall.ENOSPC). A write may be made to fail after part of
// its bytes reached the file (PartialWrite), as a real one can.
package errorfs

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"syscall"

	"github.com/streamhouse/streamhouse/storage/fs/vfs"
)

// Kind is the kind of a call.
type Kind int

// The calls an Injector is asked about.
const (
	OpOpen      Kind = iota // FS.OpenFile of an existing file
	OpCreate                // FS.OpenFile with os.O_CREATE
	OpOpenDir               // FS.OpenDir
	OpMkdir                 // FS.Mkdir, FS.MkdirAll
	OpRemove                // FS.Remove, FS.RemoveAll
	OpRename                // FS.Rename (Path is the old name)
	OpReadDir               // FS.ReadDir
	OpStat                  // FS.Lstat, File.Stat
	OpDiskSpace             // FS.DiskSpace
	OpRead                  // File.ReadAt
	OpWrite                 // File.Write, File.WriteAt
	OpTruncate              // File.Truncate
	OpSync                  // File.Sync (a directory's entries)
	OpSyncData              // File.SyncData
	OpSyncFS                // File.SyncFS
	OpClose                 // File.Close
	numKinds
)

var kindNames = [numKinds]string{"open", "create", "opendir", "mkdir", "remove", "rename", "readdir", "stat",
	"statfs", "read", "write", "truncate", "fsync", "fdatasync", "syncfs", "close"}

func (k Kind) String() string {
	if k >= 0 && k < numKinds {
		return kindNames[k]
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Kinds lists every kind, for tests that try each.
func Kinds() []Kind {
	out := make([]Kind, numKinds)
	for i := range out {
		out[i] = Kind(i)
	}
	return out
}

// Op is one call on the file system.
type Op struct {
	Kind Kind
	Path string // the file or directory the call is on
	Off  int64  // OpRead, OpWrite: the position (-1 for File.Write); OpTruncate: the size
	Len  int    // OpRead, OpWrite: the bytes asked for
}

func (o Op) String() string { return fmt.Sprintf("%s %s", o.Kind, o.Path) }

// Injector decides whether a call fails: MaybeError returns nil to let it
// run, or the error (an errno such as syscall.ENOSPC, or a *PartialWrite)
// it fails with. It is called from many goroutines at once.
type Injector interface {
	MaybeError(op Op) error
}

// InjectorFunc is an Injector.
type InjectorFunc func(Op) error

// MaybeError implements Injector.
func (f InjectorFunc) MaybeError(op Op) error { return f(op) }

// PartialWrite, returned by an Injector for an OpWrite, makes the write
// store its first N bytes (at most what it was given) before it fails
// with Err.
type PartialWrite struct {
	N   int
	Err error
}

func (p *PartialWrite) Error() string { return fmt.Sprintf("after %d bytes: %v", p.N, p.Err) }
func (p *PartialWrite) Unwrap() error { return p.Err }

// FS is a vfs.FS whose calls fail as its Injector says.
type FS struct {
	inner vfs.FS
	inj   Injector

	mu    sync.Mutex
	space func(name string, total, usable int64) (int64, int64)
}

var _ vfs.FS = (*FS)(nil)

// Wrap returns an FS over inner that asks inj about every call.
func Wrap(inner vfs.FS, inj Injector) *FS {
	return &FS{inner: inner, inj: inj}
}

// SetSpace makes DiskSpace report what fn makes of the inner file system's
// numbers (nil: those numbers), so that a test can put a file system
// near full without filling it.
func (fs *FS) SetSpace(fn func(name string, total, usable int64) (int64, int64)) {
	fs.mu.Lock()
	fs.space = fn
	fs.mu.Unlock()
}

// check asks the injector about op and returns the error to fail with, as
// the system would give it: an *os.PathError around the errno.
func (fs *FS) check(op Op) error {
	err := fs.inj.MaybeError(op)
	if err == nil {
		return nil
	}
	return wrap(op, err)
}

func wrap(op Op, err error) error {
	var pw *PartialWrite
	if errors.As(err, &pw) {
		return &PartialWrite{N: pw.N, Err: &os.PathError{Op: op.Kind.String(), Path: op.Path, Err: pw.Err}}
	}
	return &os.PathError{Op: op.Kind.String(), Path: op.Path, Err: err}
}

// OpenFile implements vfs.FS.
func (fs *FS) OpenFile(name string, flag int, perm os.FileMode) (vfs.File, error) {
	kind := OpOpen
	if flag&os.O_CREATE != 0 {
		kind = OpCreate
	}
	if err := fs.check(Op{Kind: kind, Path: name}); err != nil {
		return nil, err
	}
	f, err := fs.inner.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &file{File: f, fs: fs}, nil
}

// OpenDir implements vfs.FS.
func (fs *FS) OpenDir(name string) (vfs.File, error) {
	if err := fs.check(Op{Kind: OpOpenDir, Path: name}); err != nil {
		return nil, err
	}
	f, err := fs.inner.OpenDir(name)
	if err != nil {
		return nil, err
	}
	return &file{File: f, fs: fs}, nil
}

// Mkdir implements vfs.FS.
func (fs *FS) Mkdir(name string, perm os.FileMode) error {
	if err := fs.check(Op{Kind: OpMkdir, Path: name}); err != nil {
		return err
	}
	return fs.inner.Mkdir(name, perm)
}

// MkdirAll implements vfs.FS.
func (fs *FS) MkdirAll(name string, perm os.FileMode) error {
	if err := fs.check(Op{Kind: OpMkdir, Path: name}); err != nil {
		return err
	}
	return fs.inner.MkdirAll(name, perm)
}

// Remove implements vfs.FS.
func (fs *FS) Remove(name string) error {
	if err := fs.check(Op{Kind: OpRemove, Path: name}); err != nil {
		return err
	}
	return fs.inner.Remove(name)
}

// RemoveAll implements vfs.FS.
func (fs *FS) RemoveAll(name string) error {
	if err := fs.check(Op{Kind: OpRemove, Path: name}); err != nil {
		return err
	}
	return fs.inner.RemoveAll(name)
}

// Rename implements vfs.FS.
func (fs *FS) Rename(oldname, newname string) error {
	if err := fs.check(Op{Kind: OpRename, Path: oldname}); err != nil {
		return &os.LinkError{Op: "rename", Old: oldname, New: newname, Err: errors.Unwrap(err)}
	}
	return fs.inner.Rename(oldname, newname)
}

// ReadDir implements vfs.FS.
func (fs *FS) ReadDir(name string) ([]os.DirEntry, error) {
	if err := fs.check(Op{Kind: OpReadDir, Path: name}); err != nil {
		return nil, err
	}
	return fs.inner.ReadDir(name)
}

// Lstat implements vfs.FS.
func (fs *FS) Lstat(name string) (os.FileInfo, error) {
	if err := fs.check(Op{Kind: OpStat, Path: name}); err != nil {
		return nil, err
	}
	return fs.inner.Lstat(name)
}

// DiskSpace implements vfs.FS, through SetSpace's function if any.
func (fs *FS) DiskSpace(name string) (total, usable int64, err error) {
	if err := fs.check(Op{Kind: OpDiskSpace, Path: name}); err != nil {
		return -1, -1, err
	}
	total, usable, err = fs.inner.DiskSpace(name)
	if err != nil {
		return total, usable, err
	}
	fs.mu.Lock()
	space := fs.space
	fs.mu.Unlock()
	if space != nil {
		total, usable = space(name, total, usable)
	}
	return total, usable, nil
}

// file is a vfs.File whose calls fail as its FS's Injector says.
type file struct {
	vfs.File
	fs *FS
}

func (f *file) ReadAt(b []byte, off int64) (int, error) {
	if err := f.fs.check(Op{Kind: OpRead, Path: f.Name(), Off: off, Len: len(b)}); err != nil {
		return 0, err
	}
	return f.File.ReadAt(b, off)
}

func (f *file) WriteAt(b []byte, off int64) (int, error) {
	err := f.fs.check(Op{Kind: OpWrite, Path: f.Name(), Off: off, Len: len(b)})
	if err == nil {
		return f.File.WriteAt(b, off)
	}
	var pw *PartialWrite
	if errors.As(err, &pw) {
		n, werr := f.File.WriteAt(b[:min(max(pw.N, 0), len(b))], off)
		if werr != nil {
			return n, werr
		}
		return n, pw.Err
	}
	return 0, err
}

func (f *file) Write(b []byte) (int, error) {
	err := f.fs.check(Op{Kind: OpWrite, Path: f.Name(), Off: -1, Len: len(b)})
	if err == nil {
		return f.File.Write(b)
	}
	var pw *PartialWrite
	if errors.As(err, &pw) {
		n, werr := f.File.Write(b[:min(max(pw.N, 0), len(b))])
		if werr != nil {
			return n, werr
		}
		return n, pw.Err
	}
	return 0, err
}

func (f *file) Stat() (os.FileInfo, error) {
	if err := f.fs.check(Op{Kind: OpStat, Path: f.Name()}); err != nil {
		return nil, err
	}
	return f.File.Stat()
}

func (f *file) Truncate(size int64) error {
	if err := f.fs.check(Op{Kind: OpTruncate, Path: f.Name(), Off: size}); err != nil {
		return err
	}
	return f.File.Truncate(size)
}

func (f *file) Sync() error {
	if err := f.fs.check(Op{Kind: OpSync, Path: f.Name()}); err != nil {
		return err
	}
	return f.File.Sync()
}

func (f *file) SyncData() error {
	if err := f.fs.check(Op{Kind: OpSyncData, Path: f.Name()}); err != nil {
		return err
	}
	return f.File.SyncData()
}

func (f *file) SyncFS() error {
	if err := f.fs.check(Op{Kind: OpSyncFS, Path: f.Name()}); err != nil {
		return err
	}
	return f.File.SyncFS()
}

func (f *file) Close() error {
	if err := f.fs.check(Op{Kind: OpClose, Path: f.Name()}); err != nil {
		// The descriptor is released all the same, as close(2) does.
		f.File.Close()
		return err
	}
	return f.File.Close()
}

var _ io.WriterAt = (*file)(nil)

// Rule says which calls a Rules injector fails: those of Kind (any kind
// when Any is set) on a path containing Path ("" for any), with Err. The
// first After matching calls pass; then Times calls fail (0: every one
// until the rule is removed). Partial, for writes, is how many bytes reach
// the file before the error (0: none).
type Rule struct {
	Kind    Kind
	Any     bool
	Path    string
	Err     error
	After   int
	Times   int
	Partial int

	seen, failed int
}

// Rules is an Injector that fails the calls its rules match, and counts
// the calls it sees. Safe for concurrent use; rules are added and removed
// while the file system is in use.
type Rules struct {
	mu    sync.Mutex
	rules []*Rule
	ops   [numKinds]int
	fails int
}

// Add arms r and returns it, for Remove.
func (rs *Rules) Add(r Rule) *Rule {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	p := &r
	rs.rules = append(rs.rules, p)
	return p
}

// Remove disarms r.
func (rs *Rules) Remove(r *Rule) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	for i, q := range rs.rules {
		if q == r {
			rs.rules = append(rs.rules[:i], rs.rules[i+1:]...)
			return
		}
	}
}

// Clear disarms every rule.
func (rs *Rules) Clear() {
	rs.mu.Lock()
	rs.rules = nil
	rs.mu.Unlock()
}

// Failed returns how many calls the rules failed so far.
func (rs *Rules) Failed() int {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return rs.fails
}

// Count returns how many calls of kind the injector saw.
func (rs *Rules) Count(kind Kind) int {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return rs.ops[kind]
}

// MaybeError implements Injector.
func (rs *Rules) MaybeError(op Op) error {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	rs.ops[op.Kind]++
	for _, r := range rs.rules {
		if !r.Any && r.Kind != op.Kind || r.Path != "" && !strings.Contains(op.Path, r.Path) {
			continue
		}
		r.seen++
		if r.seen <= r.After || r.Times > 0 && r.failed >= r.Times {
			continue
		}
		r.failed++
		rs.fails++
		err := r.Err
		if err == nil {
			err = syscall.EIO
		}
		if r.Partial > 0 && op.Kind == OpWrite {
			return &PartialWrite{N: r.Partial, Err: err}
		}
		return err
	}
	return nil
}

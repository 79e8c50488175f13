package fs

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/streamhouse/streamhouse/batch"
	"github.com/streamhouse/streamhouse/internal/fault"
	"github.com/streamhouse/streamhouse/storage"
	"github.com/streamhouse/streamhouse/storage/fs/vfs"
)

// File name extensions of a segment's three files.
const (
	extLog       = ".log"
	extIndex     = ".index"
	extTimeIndex = ".timeindex"
	extTmp       = ".tmp"
	extSwap      = ".swap"    // <first>.log.<last>.swap: a cleaned segment ready to replace first..last
	extCleaned   = ".cleaned" // a cleaned segment being written

	baseDigits = 20 // a base offset is named as Kafka names it: %020d
)

// segment is one <base>.log file and its in-memory indexes.
//
// base, path, fsys and f are set before the segment is shared and never
// change (f is closed by Log.Close). The fields below them are written only by the
// goroutine holding Log.mu, and while the segment is shared only while also
// holding Log.state: the appender may read them holding Log.mu alone,
// anyone else holds Log.state (shared).
type segment struct {
	base int64
	path string // the .log file; the indexes sit beside it
	fsys vfs.FS // the file system it is in
	f    vfs.File

	size     int64  // bytes of whole batches in the file
	next     int64  // offset after the last batch (base when empty)
	index    []byte // offset index in its file encoding
	tindex   []byte // time index in its file encoding
	maxTS    int64  // largest max timestamp of any batch; MinInt64 when empty
	maxTSOff int64  // base offset of the first batch holding maxTS; -1 when empty

	// Appender-only state (Log.mu); rebuilt by recovery.
	// Byte ranges whose CRCs were checked since the log opened, so that a
	// read checks a batch only once: [checkedFrom, size) by recovery's
	// scan and by appends (checked before they were written), [0,
	// checkedTo) by reads. Both only ever widen.
	checkedFrom atomic.Int64
	checkedTo   atomic.Int64

	sinceIndex    int64         // log bytes appended since the last index entry
	firstAt       time.Time     // clock reading at the first append, for segment.ms
	rollJitter    time.Duration // how much earlier than segment.ms it rolls (segment.jitter.ms)
	writebackFrom int64         // where the next startWriteback begins

	// diskIndex and diskTimeIndex are how many bytes of index and tindex
	// their files are known to hold (the index files hold a prefix of
	// the indexes in memory, which only grow); -1: unknown. They let
	// writeIndexes skip files that would be rewritten unchanged: closing
	// 10,000 idle partitions rewrote 20,000 index files. Guarded like the
	// files: by Log.ckptMu, or by owning the segment (recovery, the
	// cleaner's new segments).
	diskIndex, diskTimeIndex int
}

// writebackChunk is how many appended bytes of a segment wait before their
// writeback is started early (see startWriteback).
const writebackChunk = 256 << 10

func newSegment(fsys vfs.FS, dir string, base int64) *segment {
	return &segment{
		base:     base,
		path:     filepath.Join(dir, segmentName(base, extLog)),
		fsys:     fsys,
		next:     base,
		maxTS:    math.MinInt64,
		maxTSOff: -1,

		diskIndex:     -1,
		diskTimeIndex: -1,
	}
}

func segmentName(base int64, ext string) string {
	return fmt.Sprintf("%0*d%s", baseDigits, base, ext)
}

// parseSegmentName splits "<20 digits><ext>"; ok is false for any other
// name.
func parseSegmentName(name string) (base int64, ext string, ok bool) {
	if len(name) <= baseDigits {
		return 0, "", false
	}
	digits, ext := name[:baseDigits], name[baseDigits:]
	for _, c := range []byte(digits) {
		if c < '0' || c > '9' {
			return 0, "", false
		}
	}
	base, err := strconv.ParseInt(digits, 10, 64)
	if err != nil {
		return 0, "", false
	}
	return base, ext, true
}

// swapName is the name of the cleaned segment that replaces the segments
// with bases first to last.
func swapName(first, last int64) string {
	return fmt.Sprintf("%0*d%s.%0*d%s", baseDigits, first, extLog, baseDigits, last, extSwap)
}

// parseSwapName is swapName's inverse.
func parseSwapName(name string) (first, last int64, ok bool) {
	first, ext, ok := parseSegmentName(name)
	rest, found := strings.CutPrefix(ext, extLog+".")
	if !ok || !found {
		return 0, 0, false
	}
	rest, found = strings.CutSuffix(rest, extSwap)
	if !found || len(rest) != baseDigits {
		return 0, 0, false
	}
	last, _, ok = parseSegmentName(rest + extLog)
	if !ok || last < first {
		return 0, 0, false
	}
	return first, last, true
}

// sidePath is the path of the segment's file with extension ext.
func (s *segment) sidePath(ext string) string {
	return s.path[:len(s.path)-len(extLog)] + ext
}

// createSegment makes an empty segment file. O_EXCL: a file of that name is
// either a live segment or something recovery should have dealt with, and
// must not be silently overwritten.
func createSegment(fsys vfs.FS, dir string, base int64) (*segment, error) {
	s := newSegment(fsys, dir, base)
	f, err := fsys.OpenFile(s.path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, fmt.Errorf("fs: create segment: %w", err)
	}
	s.f = f
	return s, nil
}

// addBatch records a batch just written at pos: it maintains the size, the
// next offset, the running max timestamp and the sparse indexes. An offset
// entry is added at the first batch that starts IndexIntervalBytes or more
// after the previous entry (the first batch of a segment is the implicit
// entry (0, 0)); a time entry is added at the same moments when the max
// timestamp has grown past the last time entry. Recovery replays this on
// the batches it scans, so rebuilt indexes match the ones written live.
func (s *segment) addBatch(pos int64, h *batch.Header, interval int64) {
	if h.MaxTimestamp > s.maxTS {
		s.maxTS, s.maxTSOff = h.MaxTimestamp, h.BaseOffset
	}
	if pos > 0 && s.sinceIndex >= interval {
		s.index = appendIndexEntry(s.index, uint32(h.BaseOffset-s.base), uint32(pos))
		s.addTimeEntry()
		s.sinceIndex = 0
	}
	size := int64(h.Size())
	s.sinceIndex += size
	s.size = pos + size
	s.next = h.NextOffset()
}

// addTimeEntry appends (maxTS, maxTSOff) when the maximum has grown past the
// last entry. Called at index moments and when the segment stops taking
// appends, so that a closed segment's last time entry is its maximum.
func (s *segment) addTimeEntry() {
	if s.maxTSOff < 0 {
		return
	}
	if ts, _, ok := lastTimeEntry(s.tindex); ok && s.maxTS <= ts {
		return
	}
	s.tindex = appendTimeEntry(s.tindex, s.maxTS, uint32(s.maxTSOff-s.base))
}

// resetIndexes forgets everything learnt about the file's contents, before a
// rebuild.
func (s *segment) resetIndexes() {
	s.size, s.next = 0, s.base
	s.index, s.tindex = s.index[:0], s.tindex[:0]
	s.maxTS, s.maxTSOff = math.MinInt64, -1
	s.sinceIndex = 0
	s.diskIndex, s.diskTimeIndex = -1, -1
}

// writeIndexes writes both index files, each to a temporary file renamed
// over the old one, so that a reader of the directory never sees half an
// index. They are not fsynced: recovery checks an index before trusting it
// and rebuilds it from the segment otherwise, so an index lost to a crash
// costs a scan, never data. Files known to hold the indexes already are
// left alone. The caller must keep the indexes still.
func (s *segment) writeIndexes() error {
	return s.writeIndexFiles(s.index, s.tindex)
}

// writeIndexFiles writes idx and tidx, prefixes of s's indexes, to the
// index files (see writeIndexes) unless they hold them already, and
// remembers what the files hold.
func (s *segment) writeIndexFiles(idx, tidx []byte) error {
	if len(idx) == s.diskIndex && len(tidx) == s.diskTimeIndex {
		return nil
	}
	err := errors.Join(
		writeFileAtomic(s.fsys, s.sidePath(extIndex), idx),
		writeFileAtomic(s.fsys, s.sidePath(extTimeIndex), tidx),
	)
	s.diskIndex, s.diskTimeIndex = len(idx), len(tidx)
	if err != nil {
		s.diskIndex, s.diskTimeIndex = -1, -1
	}
	return err
}

// removeIndexes deletes the index files; a missing file is not an error.
func (s *segment) removeIndexes() error {
	var errs []error
	for _, ext := range []string{extIndex, extTimeIndex} {
		if err := s.fsys.Remove(s.sidePath(ext)); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// removeFiles removes the segment and its index files; a file already
// gone is no error, so that a removal a crash interrupted can be redone.
func (s *segment) removeFiles() error {
	err := s.removeIndexes()
	if rerr := s.fsys.Remove(s.path); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
		err = errors.Join(err, rerr)
	}
	return err
}

func writeFileAtomic(fsys vfs.FS, path string, data []byte) error {
	tmp := path + extTmp
	f, err := fsys.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("fs: write %s: %w", path, err)
	}
	_, werr := f.Write(data)
	cerr := f.Close()
	if err := errors.Join(werr, cerr); err != nil {
		_ = fsys.Remove(tmp)
		return fmt.Errorf("fs: write %s: %w", path, err)
	}
	if err := fsys.Rename(tmp, path); err != nil {
		_ = fsys.Remove(tmp)
		return fmt.Errorf("fs: write %s: %w", path, err)
	}
	return nil
}

// syncDir fsyncs a directory, making the entries of files created in it
// durable.
func syncDir(fsys vfs.FS, dir string) error {
	d, err := fsys.OpenDir(dir)
	if err != nil {
		return fmt.Errorf("fs: sync directory: %w: %w", storage.ErrIO, err)
	}
	done := fault.Syncing(dir, true)
	serr := d.Sync()
	cerr := d.Close()
	if err := errors.Join(serr, cerr); err != nil {
		return fmt.Errorf("fs: sync directory %s: %w: %w", dir, storage.ErrIO, err)
	}
	done()
	return nil
}

// syncFS makes every write to the file system that holds dir durable, its
// files and directories alike (syncfs(2)); vfs.ErrNoSyncFS where the system
// has none.
func syncFS(fsys vfs.FS, dir string) error {
	d, err := fsys.OpenDir(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return syncWholeFS(d)
}

// syncWholeFS is syncFS through an open directory of the file system,
// recorded for the power-loss tests.
func syncWholeFS(dir vfs.File) error {
	done := fault.SyncingTree(dir.Name())
	if err := dir.SyncFS(); err != nil {
		return err
	}
	done()
	return nil
}

// readFile is os.ReadFile through fsys, for the small files a log reads
// when it opens (checkpoint, index files): one read of the size that fstat
// gives. The files it reads are replaced by rename, never rewritten in
// place, so the size holds while the file is open.
func readFile(fsys vfs.FS, name string) ([]byte, error) {
	f, err := fsys.OpenFile(name, os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	b := make([]byte, fi.Size())
	if _, err := f.ReadAt(b, 0); err != nil {
		return nil, &os.PathError{Op: "read", Path: name, Err: err}
	}
	return b, nil
}

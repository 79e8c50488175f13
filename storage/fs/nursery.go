package fs

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/streamhouse/streamhouse/internal/fault"
	"github.com/streamhouse/streamhouse/storage"
	"github.com/streamhouse/streamhouse/storage/fs/vfs"
)

// The nursery: a new partition's first batches wait in one shared journal
// instead of its own directory and files.
//
// Making a partition's directory and segment file costs two file-system
// metadata operations, and making them durable an fsync of the file, of
// the partition directory and of those above it. On the development
// machine (ext4 on a virtio disk) 2,000 mkdirs in one topic directory took
// 0.6-0.7 s, as each takes the parent's lock, and the 2,000 file creations
// 0.7-0.8 s more, while 2,000 records appended to one file and one
// fdatasync took 2.3 ms. So a partition Open creates (its directory did
// not exist) starts in the nursery: its first segment is a nurseryFile,
// bytes in memory, and a commit round makes them durable by appending them
// to the store's journal (<dir>/+nursery; '+' is no topic's character) and
// fdatasyncing that one file, however many new partitions the round holds.
// Soon after its first append the settler makes the partition's directory
// and segment file in the background (settle), writes the bytes there,
// fsyncs them with the directories above, and only then appends a
// settled record for the partition to the journal; from then on the
// segment's file is the real one and the journal is no longer needed for
// it. Once every partition with records in the journal is settled the
// journal is cut back to nothing.
//
// Everything that writes into the partition directory (a roll, a
// checkpoint, Close of a log that holds something, a heal) settles the log
// first, in the caller, so that retention, DeleteRecords, compaction and
// cuts only ever act on settled logs: the journal's copy of a settled log
// is never replayed over what those did. A nursery log also settles at
// once when it holds more than nurseryLogMax bytes, and a new partition
// opens outside the nursery while the nursery holds nurseryMax bytes in
// all, so that the memory it takes stays bounded.
//
// New replays the journal before anything opens: for every partition
// whose records have no settled record after them it writes the bytes
// they hold into the partition's segment file (made if missing; anything
// the file holds past them is kept: batches a commit round fsynced there
// after the settler's switch), fsyncs them and the directories, and cuts
// the journal. The log then opens and recovers as any other.
//
// Journal records, back to back:
//
//	length  uint32  bytes after the CRC
//	crc     uint32  CRC-32C of those bytes
//	kind    uint8   1: data, 2: settled
//	topic   uint16 length, then the name
//	part    int32
//	base    int64   the segment's base offset
//	pos     int64   where data goes in the segment (data records)
//	data    the rest (data records)
//
// A data record at pos replaces whatever the replay had gathered for the
// partition from pos on. A torn or failing record ends the journal.
const (
	nurseryName   = "+nursery"
	nurseryLogMax = 256 << 10
	nurseryMax    = 64 << 20

	recData    = 1
	recSettled = 2

	// settleDelay gathers the first appends of new partitions into one
	// settle pass, and leaves their first commit round the disk.
	settleDelay = 20 * time.Millisecond
	// settleBatch bounds one pass.
	settleBatch = 512
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// nursery is the store's journal and settler.
type nursery struct {
	st *Store

	// mu guards the journal file's writes and the counts. Taken before
	// a nurseryFile's mu, never after.
	mu         sync.Mutex
	f          vfs.File
	size       int64
	unresolved int // nursery files with records in the journal and no durable settled record
	buf        []byte

	// held is the bytes all nursery files hold in memory.
	held atomic.Int64

	// hold stops the settler's passes (tests).
	hold atomic.Bool

	qmu    sync.Mutex
	queue  []*nurseryFile
	kick   chan struct{}
	quit   chan struct{}
	exited chan struct{}
}

// nurseryFile is the first segment file of a partition in the nursery: its
// bytes in memory until settle writes them to the real file, then the real
// file, to which every call goes from then on.
type nurseryFile struct {
	n    *nursery
	key  partKey
	base int64
	path string

	mu        sync.RWMutex
	mem       []byte
	journaled int64 // bytes of mem the journal holds
	counted   bool  // counted in n.unresolved
	closed    bool
	attempt   *settleAttempt // the settle running, if any

	// real is the real file once settle switched to it (set under mu,
	// never changed after): calls then go there without taking mu, so
	// that an append never waits for a read.
	real atomic.Pointer[fileBox]
	// settled: the real file holds, durably, everything the journal held
	// for the partition, and the journal's settled record is durable.
	settled atomic.Bool
}

type fileBox struct{ vfs.File }

// file is the real file, or nil while the bytes are in memory.
func (nf *nurseryFile) file() vfs.File {
	if b := nf.real.Load(); b != nil {
		return b.File
	}
	return nil
}

type settleAttempt struct {
	done chan struct{}
	err  error
}

var _ vfs.File = (*nurseryFile)(nil)

// openNursery opens the store's journal, replays what it holds and starts
// the settler.
func (st *Store) openNursery() (*nursery, error) {
	n := &nursery{
		st:     st,
		kick:   make(chan struct{}, 1),
		quit:   make(chan struct{}),
		exited: make(chan struct{}),
	}
	path := filepath.Join(st.dir, nurseryName)
	_, statErr := st.fsys.Lstat(path)
	f, err := st.fsys.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("fs: open %s: %w", path, err)
	}
	n.f = f
	if statErr != nil {
		// A new journal: its entry made durable once.
		if err := syncDir(st.fsys, st.dir); err != nil {
			f.Close()
			return nil, err
		}
	} else if err := n.replay(); err != nil {
		f.Close()
		return nil, err
	}
	go n.settler()
	return n, nil
}

// replayed is what the journal holds for one partition.
type replayed struct {
	key  partKey
	base int64
	data []byte
}

// replay puts what the journal holds for unsettled partitions into their
// segment files, durably, and cuts the journal.
func (n *nursery) replay() error {
	fi, err := n.f.Stat()
	if err != nil {
		return fmt.Errorf("fs: replay %s: %w", n.f.Name(), err)
	}
	if fi.Size() == 0 {
		return nil
	}
	b := make([]byte, fi.Size())
	if _, err := n.f.ReadAt(b, 0); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("fs: replay %s: %w", n.f.Name(), err)
	}
	parts := make(map[partKey]*replayed)
	var order []partKey
	for len(b) >= 8 {
		length := binary.BigEndian.Uint32(b)
		if uint64(length) > uint64(len(b)-8) || crc32.Checksum(b[8:8+length], crcTable) != binary.BigEndian.Uint32(b[4:]) {
			break // the torn tail of the last write
		}
		kind, key, base, pos, data, ok := parseRecord(b[8 : 8+length])
		b = b[8+length:]
		if !ok {
			break
		}
		switch kind {
		case recSettled:
			delete(parts, key)
		case recData:
			r := parts[key]
			if r == nil || r.base != base {
				r = &replayed{key: key, base: base}
				parts[key] = r
				order = append(order, key)
			}
			if pos > int64(len(r.data)) {
				n.st.logger.Warn("storage: the nursery journal skips bytes of a partition; its records after the gap are ignored",
					"topic", key.topic, "partition", key.partition, "pos", pos, "have", len(r.data))
				continue
			}
			r.data = append(r.data[:pos], data...)
		}
	}
	var done []*replayed
	dirs := map[string]bool{}
	for _, key := range order {
		r := parts[key]
		if r == nil {
			continue
		}
		delete(parts, key) // once, however often it was listed
		dir := n.st.partitionDir(storage.Partition{Topic: key.topic, Partition: key.partition})
		if err := n.st.fsys.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("fs: replay the nursery into %s: %w", dir, err)
		}
		path := filepath.Join(dir, segmentName(r.base, extLog))
		f, err := n.st.fsys.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			return fmt.Errorf("fs: replay the nursery into %s: %w", path, err)
		}
		_, werr := f.WriteAt(r.data, 0)
		serr := syncFile(f)
		cerr := f.Close()
		if err := errors.Join(werr, serr, cerr); err != nil {
			return fmt.Errorf("fs: replay the nursery into %s: %w", path, err)
		}
		dirs[dir], dirs[n.st.topicDir(key.topic)] = true, true
		done = append(done, r)
	}
	if len(done) > 0 {
		dirs[n.st.dir] = true
		for d := range dirs {
			if err := syncDir(n.st.fsys, d); err != nil {
				return err
			}
		}
		n.st.logger.Info("storage: replayed the nursery journal into new partitions' segments", "partitions", len(done))
	}
	if err := n.f.Truncate(0); err != nil {
		return fmt.Errorf("fs: cut %s: %w", n.f.Name(), err)
	}
	return syncFile(n.f)
}

func parseRecord(b []byte) (kind byte, key partKey, base, pos int64, data []byte, ok bool) {
	if len(b) < 3 {
		return 0, key, 0, 0, nil, false
	}
	kind = b[0]
	tl := int(binary.BigEndian.Uint16(b[1:]))
	b = b[3:]
	if len(b) < tl+4+16 {
		return 0, key, 0, 0, nil, false
	}
	key.topic = string(b[:tl])
	b = b[tl:]
	key.partition = int32(binary.BigEndian.Uint32(b))
	base = int64(binary.BigEndian.Uint64(b[4:]))
	pos = int64(binary.BigEndian.Uint64(b[12:]))
	return kind, key, base, pos, b[20:], (kind == recData || kind == recSettled) && pos >= 0
}

// appendRecord appends one journal record to b.
func appendRecord(b []byte, kind byte, key partKey, base, pos int64, data []byte) []byte {
	length := 1 + 2 + len(key.topic) + 4 + 8 + 8 + len(data)
	at := len(b)
	b = binary.BigEndian.AppendUint32(b, uint32(length))
	b = binary.BigEndian.AppendUint32(b, 0)
	b = append(b, kind)
	b = binary.BigEndian.AppendUint16(b, uint16(len(key.topic)))
	b = append(b, key.topic...)
	b = binary.BigEndian.AppendUint32(b, uint32(key.partition))
	b = binary.BigEndian.AppendUint64(b, uint64(base))
	b = binary.BigEndian.AppendUint64(b, uint64(pos))
	b = append(b, data...)
	binary.BigEndian.PutUint32(b[at+4:], crc32.Checksum(b[at+8:], crcTable))
	return b
}

// admits says whether a new partition may start in the nursery.
func (n *nursery) admits() bool { return n.held.Load() < nurseryMax }

// newFile is the nursery file of a new partition's first segment.
func (n *nursery) newFile(key partKey, path string, base int64) *nurseryFile {
	return &nurseryFile{n: n, key: key, base: base, path: path}
}

// journal appends the bytes of files not yet in the journal (those still
// in memory) as one write, and reports which files it took: the caller
// fsyncs the journal for them, and the rest for themselves.
func (n *nursery) journal(files []*nurseryFile, took []bool) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	b := n.buf[:0]
	counted := 0
	for i, nf := range files {
		nf.mu.Lock()
		if nf.file() != nil || nf.closed {
			nf.mu.Unlock()
			continue
		}
		took[i] = true
		if nf.journaled < int64(len(nf.mem)) {
			b = appendRecord(b, recData, nf.key, nf.base, nf.journaled, nf.mem[nf.journaled:])
			nf.journaled = int64(len(nf.mem))
			if !nf.counted {
				nf.counted = true
				counted++
			}
		}
		nf.mu.Unlock()
	}
	n.unresolved += counted
	n.buf = b[:0]
	if len(b) == 0 {
		return nil
	}
	if _, err := n.f.WriteAt(b, n.size); err != nil {
		// What reached the file may be there: the next write goes
		// after it, and replay's CRC ends the journal at a torn one.
		if fi, serr := n.f.Stat(); serr == nil {
			n.size = max(n.size, fi.Size())
		}
		return fmt.Errorf("fs: write %s: %w: %w", n.f.Name(), storage.ErrIO, err)
	}
	n.size += int64(len(b))
	return nil
}

// sync fdatasyncs the journal.
func (n *nursery) sync() error { return syncFile(n.f) }

// enqueue hands nf to the settler.
func (n *nursery) enqueue(nf *nurseryFile) {
	n.qmu.Lock()
	n.queue = append(n.queue, nf)
	n.qmu.Unlock()
	select {
	case n.kick <- struct{}{}:
	default:
	}
}

// settler settles the files enqueued, a batch at a time, until stop.
func (n *nursery) settler() {
	defer close(n.exited)
	for {
		select {
		case <-n.quit:
			return
		case <-n.kick:
		}
		t := time.NewTimer(settleDelay)
		select {
		case <-n.quit:
			t.Stop()
			return
		case <-t.C:
		}
		for !n.hold.Load() {
			n.qmu.Lock()
			batch := n.queue[:min(len(n.queue), settleBatch)]
			n.queue = n.queue[len(batch):]
			if len(n.queue) == 0 {
				n.queue = nil
			}
			n.qmu.Unlock()
			if len(batch) == 0 {
				break
			}
			if err := n.settle(batch); err != nil {
				n.st.logger.Warn("storage: making new partitions' directories failed; they stay in the nursery journal and are tried again when they roll, checkpoint or close",
					"partitions", len(batch), "err", err)
			}
			select {
			case <-n.quit:
				return
			default:
			}
		}
	}
}

func (n *nursery) stop() {
	close(n.quit)
	<-n.exited
}

// close closes the journal, cut back first when nothing in it is needed.
func (n *nursery) close() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.unresolved == 0 && n.size > 0 {
		if err := n.f.Truncate(0); err == nil {
			n.size = 0
			_ = syncFile(n.f)
		}
	}
	return n.f.Close()
}

// settle makes each file's partition directory and segment file, moves
// its bytes there, durably, and records it settled in the journal. Files
// settled already, closed, or being settled by another call are skipped;
// the last wait for that call.
func (n *nursery) settle(files []*nurseryFile) error {
	var mine []*nurseryFile
	var theirs []*settleAttempt
	a := &settleAttempt{done: make(chan struct{})}
	for _, nf := range files {
		nf.mu.Lock()
		switch {
		case nf.settled.Load() || nf.closed:
		case nf.attempt != nil:
			theirs = append(theirs, nf.attempt)
		default:
			nf.attempt = a
			mine = append(mine, nf)
		}
		nf.mu.Unlock()
	}
	if len(mine) > 0 {
		a.err = n.settleMine(mine)
		for _, nf := range mine {
			nf.mu.Lock()
			nf.attempt = nil
			nf.mu.Unlock()
		}
		close(a.done)
	}
	errs := []error{a.err}
	for _, t := range theirs {
		<-t.done
		errs = append(errs, t.err)
	}
	return errors.Join(errs...)
}

func (n *nursery) settleMine(files []*nurseryFile) error {
	st := n.st
	fsys := st.fsys
	// 1. Directories and files, the bytes so far written to them.
	type made struct {
		nf   *nurseryFile
		f    vfs.File
		size int64 // bytes of mem written to f
		err  error
	}
	ms := make([]made, len(files))
	forEachParallel(len(files), func(i int) {
		nf := files[i]
		m := &ms[i]
		m.nf = nf
		if nf.file() != nil {
			return // switched by an attempt that failed later
		}
		for try := 0; ; try++ {
			// A Delete of the topic's last other partition may remove
			// the topic directory between MkdirAll's two levels.
			m.err = fsys.MkdirAll(filepath.Dir(nf.path), 0o755)
			if m.err == nil || try == 2 || !errors.Is(m.err, os.ErrNotExist) {
				break
			}
		}
		if m.err != nil {
			return
		}
		// Not O_EXCL: the path is the partition's own (Open found no
		// directory and the key is reserved), and a failed attempt
		// may have left the file.
		f, err := fsys.OpenFile(nf.path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
		if err != nil {
			m.err = err
			return
		}
		nf.mu.RLock()
		_, err = f.WriteAt(nf.mem, 0)
		m.size = int64(len(nf.mem))
		nf.mu.RUnlock()
		if err != nil {
			f.Close()
			m.err = err
			return
		}
		m.f = f
	})
	// 2. Durable, with the directory entries up to the store's root.
	var errs []error
	var items []syncItem
	dirs := map[string]bool{}
	for i := range ms {
		m := &ms[i]
		if m.err != nil {
			errs = append(errs, fmt.Errorf("fs: settle %s: %w", m.nf.path, m.err))
			continue
		}
		if m.f == nil {
			continue
		}
		items = append(items, syncItem{f: m.f, job: i})
		for _, d := range []string{filepath.Dir(m.nf.path), st.topicDir(m.nf.key.topic), st.dir} {
			if !dirs[d] {
				dirs[d] = true
				items = append(items, syncItem{dir: d, job: -1})
			}
		}
	}
	var dirErr error
	var mu sync.Mutex
	synced := false
	if root := st.commit.root; root != nil && len(files) >= 8 {
		synced = syncWholeFS(root) == nil
	}
	if !synced {
		forEachParallel(len(items), func(k int) {
			it := &items[k]
			var err error
			if it.f != nil {
				err = syncFile(it.f)
			} else {
				err = syncDir(fsys, it.dir)
			}
			if err == nil {
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if it.job < 0 {
				dirErr = errors.Join(dirErr, err)
			} else {
				ms[it.job].err = err
			}
		})
	}
	// 3. The switch: bytes appended since step 1 follow, and every call
	// goes to the real file from here on.
	var extra []int
	for i := range ms {
		m := &ms[i]
		if m.f == nil {
			continue
		}
		if m.err != nil || dirErr != nil {
			m.f.Close()
			errs = append(errs, fmt.Errorf("fs: settle %s: %w", m.nf.path, cmp.Or(m.err, dirErr)))
			m.f = nil
			continue
		}
		nf := m.nf
		nf.mu.Lock()
		if nf.closed {
			nf.mu.Unlock()
			m.f.Close()
			m.f = nil
			continue
		}
		if int64(len(nf.mem)) > m.size {
			if _, err := m.f.WriteAt(nf.mem[m.size:], m.size); err != nil {
				nf.mu.Unlock()
				m.f.Close()
				m.f = nil
				errs = append(errs, fmt.Errorf("fs: settle %s: %w", nf.path, err))
				continue
			}
			extra = append(extra, i)
		}
		nf.real.Store(&fileBox{m.f})
		n.held.Add(-int64(len(nf.mem)))
		nf.mem = nil
		nf.mu.Unlock()
	}
	fault.Crash("nursery-switch")
	forEachParallel(len(extra), func(k int) {
		m := &ms[extra[k]]
		m.err = syncFile(m.f)
	})
	// 4. Settled records for the files the journal holds something of,
	// once their bytes are durable in the real files (including files an
	// earlier attempt switched).
	var settled []*nurseryFile
	for i := range ms {
		m := &ms[i]
		nf := m.nf
		real := nf.file()
		switch {
		case m.err != nil && m.f != nil:
			errs = append(errs, fmt.Errorf("fs: settle %s: %w", nf.path, m.err))
		case real == nil:
		case m.f == nil:
			// Switched by an earlier attempt that failed after: the
			// real file may not hold its tail durably.
			if err := syncFile(real); err != nil {
				errs = append(errs, fmt.Errorf("fs: settle %s: %w", nf.path, err))
				continue
			}
			settled = append(settled, nf)
		default:
			settled = append(settled, nf)
		}
	}
	if err := n.recordSettled(settled); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// recordSettled appends the settled records of files whose real files hold
// their bytes durably, fsyncs them, marks the files settled, and cuts the
// journal once nothing in it is needed.
func (n *nursery) recordSettled(files []*nurseryFile) error {
	if len(files) == 0 {
		return nil
	}
	n.mu.Lock()
	b := n.buf[:0]
	var counted []*nurseryFile
	for _, nf := range files {
		nf.mu.RLock()
		if nf.counted {
			b = appendRecord(b, recSettled, nf.key, nf.base, 0, nil)
			counted = append(counted, nf)
		}
		nf.mu.RUnlock()
	}
	n.buf = b[:0]
	var err error
	if len(b) > 0 {
		if _, err = n.f.WriteAt(b, n.size); err == nil {
			n.size += int64(len(b))
		}
	}
	n.mu.Unlock()
	if err == nil && len(counted) > 0 {
		err = n.sync()
	}
	if err != nil {
		return fmt.Errorf("fs: settle: %w", err)
	}
	fault.Crash("nursery-settled")
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, nf := range files {
		nf.settled.Store(true)
	}
	n.unresolved -= len(counted)
	if n.unresolved == 0 && n.size > 0 {
		// Nothing in it is needed: a crash before this reaches the disk
		// replays records whose partitions are all settled.
		if err := n.f.Truncate(0); err != nil {
			return fmt.Errorf("fs: cut %s: %w", n.f.Name(), err)
		}
		n.size = 0
	}
	return nil
}

// settle settles the log's nursery file, if it has one not settled yet:
// what must happen before anything is written into the partition
// directory. It takes no lock of the log's.
func (l *Log) settle() error {
	nf := l.nursery
	if nf == nil || nf.settled.Load() {
		return nil
	}
	if err := nf.n.settle([]*nurseryFile{nf}); err != nil {
		return fmt.Errorf("fs: make %s: %w: %w", l.dir, storage.ErrIO, err)
	}
	return nil
}

// The vfs.File methods: memory until the switch, the real file after.

func (nf *nurseryFile) ReadAt(p []byte, off int64) (int, error) {
	if f := nf.file(); f != nil {
		return f.ReadAt(p, off)
	}
	nf.mu.RLock()
	defer nf.mu.RUnlock()
	if f := nf.file(); f != nil {
		return f.ReadAt(p, off)
	}
	if nf.closed {
		return 0, os.ErrClosed
	}
	if off >= int64(len(nf.mem)) {
		return 0, io.EOF
	}
	k := copy(p, nf.mem[off:])
	if k < len(p) {
		return k, io.EOF
	}
	return k, nil
}

func (nf *nurseryFile) WriteAt(p []byte, off int64) (int, error) {
	if f := nf.file(); f != nil {
		return f.WriteAt(p, off)
	}
	nf.mu.Lock()
	defer nf.mu.Unlock()
	if f := nf.file(); f != nil {
		return f.WriteAt(p, off)
	}
	if nf.closed {
		return 0, os.ErrClosed
	}
	end := off + int64(len(p))
	if grow := end - int64(len(nf.mem)); grow > 0 {
		nf.mem = append(nf.mem, make([]byte, grow)...)
		nf.n.held.Add(grow)
	}
	copy(nf.mem[off:], p)
	if off < nf.journaled {
		// Rewritten: the next record starts here, and replaces what
		// the journal holds from here on.
		nf.journaled = off
	}
	return len(p), nil
}

func (nf *nurseryFile) Write(p []byte) (int, error) {
	if f := nf.file(); f != nil {
		return f.Write(p)
	}
	nf.mu.RLock()
	at := int64(len(nf.mem))
	nf.mu.RUnlock()
	return nf.WriteAt(p, at)
}

func (nf *nurseryFile) Truncate(size int64) error {
	if f := nf.file(); f != nil {
		return f.Truncate(size)
	}
	nf.mu.Lock()
	defer nf.mu.Unlock()
	if f := nf.file(); f != nil {
		return f.Truncate(size)
	}
	if nf.closed {
		return os.ErrClosed
	}
	nf.n.held.Add(size - int64(len(nf.mem)))
	if size <= int64(len(nf.mem)) {
		nf.mem = nf.mem[:size]
		nf.journaled = min(nf.journaled, size)
		return nil
	}
	nf.mem = append(nf.mem, make([]byte, size-int64(len(nf.mem)))...)
	return nil
}

// SyncData makes the file durable: the journal, while it is in memory.
func (nf *nurseryFile) SyncData() error {
	if f := nf.file(); f != nil {
		return f.SyncData()
	}
	took := []bool{false}
	if err := nf.n.journal([]*nurseryFile{nf}, took); err != nil {
		return err
	}
	if took[0] {
		return nf.n.sync()
	}
	if f := nf.file(); f != nil {
		return f.SyncData()
	}
	return os.ErrClosed
}

func (nf *nurseryFile) Sync() error { return nf.SyncData() }

func (nf *nurseryFile) SyncFS() error {
	if f := nf.file(); f != nil {
		return f.SyncFS()
	}
	return vfs.ErrNoSyncFS
}

func (nf *nurseryFile) StartWriteback(off, n int64) {
	if f := nf.file(); f != nil {
		f.StartWriteback(off, n)
	}
}

func (nf *nurseryFile) Name() string { return nf.path }

func (nf *nurseryFile) Stat() (os.FileInfo, error) {
	if f := nf.file(); f != nil {
		return f.Stat()
	}
	nf.mu.RLock()
	defer nf.mu.RUnlock()
	if f := nf.file(); f != nil {
		return f.Stat()
	}
	return memInfo{name: filepath.Base(nf.path), size: int64(len(nf.mem))}, nil
}

// Close drops the memory (what the journal holds stays there for the next
// start's replay) or closes the real file.
func (nf *nurseryFile) Close() error {
	nf.mu.Lock()
	defer nf.mu.Unlock()
	if nf.closed {
		return os.ErrClosed
	}
	nf.closed = true
	if f := nf.file(); f != nil {
		return f.Close()
	}
	nf.n.held.Add(-int64(len(nf.mem)))
	nf.mem = nil
	return nil
}

// memInfo is the os.FileInfo of a nursery file in memory.
type memInfo struct {
	name string
	size int64
}

func (m memInfo) Name() string       { return m.name }
func (m memInfo) Size() int64        { return m.size }
func (m memInfo) Mode() fs.FileMode  { return 0o644 }
func (m memInfo) ModTime() time.Time { return time.Time{} }
func (m memInfo) IsDir() bool        { return false }
func (m memInfo) Sys() any           { return nil }

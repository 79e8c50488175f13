package fs

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/streamhouse/streamhouse/internal/fault"
	"github.com/streamhouse/streamhouse/storage"
	"github.com/streamhouse/streamhouse/storage/fs/vfs"
)

const (
	checkpointName   = "checkpoint"
	checkpointMagic1 = "streamhouse-checkpoint 1"
	checkpointMagic2 = "streamhouse-checkpoint 2"
	checkpointMagic  = "streamhouse-checkpoint 3"
	cleanMarkerName  = ".clean-shutdown"
	checkpointEveryB = 64 << 20 // durable bytes that trigger a checkpoint early
)

// checkpoint is what <partition>/checkpoint records:
//
//	streamhouse-checkpoint 3
//	recovery-point <offset> <segment base> <position>
//	log-start-offset <offset>
//	producers <base64 of storage.ProducerState.AppendSnapshot> | producers none
//	cleaned-offset <offset> <gaps below>
//
// The recovery point is a batch boundary below which everything was
// fsynced: recovery checks only what follows it, and damage below it is
// media corruption, never a torn write. The producer snapshot is the
// idempotent producers' state at the recovery point, so that recovery
// replays only the batches after it ("none": replay the whole log). The
// cleaned offset is where the log cleaner (compact.go) has cleaned to (the
// next pass indexes keys from there); below the second number batches may
// start after a gap, which recovery accepts there only. Version 1 had no
// producers line, version 2 no cleaned offset. The file is replaced whole
// (a temporary file, fsync, rename, directory fsync).
type checkpoint struct {
	next, segBase, pos int64
	start              int64
	pids               string // base64 snapshot; "" for none
	cleaned, gaps      int64
}

func (c checkpoint) encode() []byte {
	pids := c.pids
	if pids == "" {
		pids = "none"
	}
	return fmt.Appendf(nil, "%s\nrecovery-point %d %d %d\nlog-start-offset %d\nproducers %s\ncleaned-offset %d %d\n",
		checkpointMagic, c.next, c.segBase, c.pos, c.start, pids, c.cleaned, c.gaps)
}

func parseCheckpoint(b []byte) (checkpoint, error) {
	var c checkpoint
	lines := bytes.Split(bytes.TrimSuffix(b, []byte("\n")), []byte("\n"))
	switch {
	case len(lines) == 3 && string(lines[0]) == checkpointMagic1:
	case len(lines) == 4 && string(lines[0]) == checkpointMagic2,
		len(lines) == 5 && string(lines[0]) == checkpointMagic:
		f := bytes.Fields(lines[3])
		if len(f) != 2 || string(f[0]) != "producers" {
			return c, fmt.Errorf("want \"producers\" and a snapshot, got %q", lines[3])
		}
		if string(f[1]) != "none" {
			c.pids = string(f[1])
		}
	default:
		return c, errors.New("not a version 1, 2 or 3 checkpoint")
	}
	nums := func(line []byte, key string, n int) ([]int64, error) {
		f := bytes.Fields(line)
		if len(f) != n+1 || string(f[0]) != key {
			return nil, fmt.Errorf("want %q and %d numbers, got %q", key, n, line)
		}
		out := make([]int64, n)
		for i := range n {
			v, err := strconv.ParseInt(string(f[i+1]), 10, 64)
			if err != nil || v < 0 {
				return nil, fmt.Errorf("%s: bad number %q", key, f[i+1])
			}
			out[i] = v
		}
		return out, nil
	}
	rp, err := nums(lines[1], "recovery-point", 3)
	if err != nil {
		return c, err
	}
	st, err := nums(lines[2], "log-start-offset", 1)
	if err != nil {
		return c, err
	}
	c.next, c.segBase, c.pos, c.start = rp[0], rp[1], rp[2], st[0]
	if len(lines) == 5 {
		cl, err := nums(lines[4], "cleaned-offset", 2)
		if err != nil {
			return c, err
		}
		c.cleaned, c.gaps = cl[0], cl[1]
	}
	if c.pos > 0 && c.next <= c.segBase || c.next < c.segBase {
		return c, fmt.Errorf("recovery point %d inconsistent with segment %d position %d", c.next, c.segBase, c.pos)
	}
	return c, nil
}

// readCheckpoint returns the partition's checkpoint; ok is false when there
// is none or it cannot be used (which is logged).
func (l *Log) readCheckpoint() (c checkpoint, ok bool, _ error) {
	b, err := readFile(l.store.fsys, filepath.Join(l.dir, checkpointName))
	if errors.Is(err, os.ErrNotExist) {
		l.ckpt.absent = true
		return c, false, nil
	}
	if err != nil {
		return c, false, fmt.Errorf("fs: open %s: read checkpoint: %w: %w", l.dir, storage.ErrIO, err)
	}
	c, err = parseCheckpoint(b)
	if err != nil {
		l.logger.Warn("checkpoint unusable; recovering the whole log", "err", err)
		return c, false, nil
	}
	return c, true, nil
}

// checkpointer is a log's checkpoint bookkeeping, guarded by Log.state
// (written and wrote also by Log.ckptMu, held by every writer).
type checkpointer struct {
	written checkpoint // the last one written
	wrote   bool
	pending bool // queued with the store's checkpoint loop; guarded by Log.state
	absent  bool // there was no checkpoint file when the log opened
}

// writeCheckpoint records the durable point and the log start offset, and
// the active segment's indexes up to the durable point so that recovery
// scans only what follows it. Caller holds l.ckptMu, which keeps other
// writers of these files (rolls, Close) out.
func (l *Log) writeCheckpoint() error {
	if nf := l.nursery; nf != nil && !nf.settled.Load() {
		if l.size.Load() == 0 && l.start.Load() == nf.base {
			// Nothing to record: an empty log in the nursery opens
			// again as it is (the checkpoint loop's tick would
			// otherwise make the directories of every partition
			// created and never written).
			return nil
		}
		if err := l.settle(); err != nil {
			return err
		}
	}
	l.pidMu.Lock()
	l.state.RLock()
	d := l.durable
	c := checkpoint{next: d.next, start: l.start.Load(), cleaned: l.cleanedTo.Load(), gaps: l.gapsTo.Load()}
	var idx, tidx []byte
	if d.seg != nil {
		c.segBase, c.pos = d.seg.base, d.pos
		if d.seg == l.segs[len(l.segs)-1] && !l.closed {
			idx, tidx = durableIndexes(d)
		}
	}
	l.state.RUnlock()
	c.pids = l.producerSnapshotLocked(d.next)
	l.pidMu.Unlock()
	if l.ckpt.wrote && c == l.ckpt.written {
		return nil
	}
	if idx != nil || tidx != nil {
		// Hints, checked before use: no fsync.
		if err := d.seg.writeIndexFiles(idx, tidx); err != nil {
			l.logger.Warn("writing index files at a checkpoint failed", "err", err)
		}
	}
	if err := writeFileDurable(l.store.fsys, filepath.Join(l.dir, checkpointName), c.encode()); err != nil {
		return err
	}
	// Written holding ckptMu and state, so either lock reads it.
	l.state.Lock()
	l.ckpt.written, l.ckpt.wrote = c, true
	l.state.Unlock()
	return nil
}

// durableIndexes copies the index entries of the active segment that point
// below the durable point. Caller holds state.
func durableIndexes(d durablePoint) (idx, tidx []byte) {
	s := d.seg
	n := len(s.index) / indexEntrySize
	for n > 0 {
		if _, pos := indexEntry(s.index, n-1); int64(pos) < d.pos {
			break
		}
		n--
	}
	idx = append([]byte{}, s.index[:n*indexEntrySize]...)
	m := len(s.tindex) / timeIndexEntrySize
	for m > 0 {
		if _, rel := timeEntry(s.tindex, m-1); s.base+int64(rel) < d.next {
			break
		}
		m--
	}
	tidx = append([]byte{}, s.tindex[:m*timeIndexEntrySize]...)
	return idx, tidx
}

// maybeCheckpoint asks the store's checkpoint loop for an early checkpoint
// once much has been made durable since the last, so that a restart after a
// crash scans little.
func (l *Log) maybeCheckpoint() {
	l.state.Lock()
	d := l.durable
	due := !l.ckpt.pending && d.seg != nil &&
		(d.seg.base != l.ckpt.written.segBase || d.pos-l.ckpt.written.pos >= checkpointEveryB)
	if due {
		l.ckpt.pending = true
	}
	l.state.Unlock()
	if due {
		l.store.checkpointSoon(l)
	}
}

// writeFileDurable replaces path with data: a temporary file, fsync,
// rename, fsync of the directory.
func writeFileDurable(fsys vfs.FS, path string, data []byte) error {
	tmp := path + extTmp
	f, err := fsys.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("fs: write %s: %w: %w", path, storage.ErrIO, err)
	}
	_, werr := f.Write(data)
	serr := syncFile(f)
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		_ = fsys.Remove(tmp)
		return fmt.Errorf("fs: write %s: %w: %w", path, storage.ErrIO, err)
	}
	fault.Crash("checkpoint")
	if err := fsys.Rename(tmp, path); err != nil {
		_ = fsys.Remove(tmp)
		return fmt.Errorf("fs: write %s: %w: %w", path, storage.ErrIO, err)
	}
	return syncDir(fsys, filepath.Dir(path))
}

// checkpointLoop writes the checkpoints of logs whose durable point moved,
// every interval, and early for logs that asked (maybeCheckpoint).
func (st *Store) checkpointLoop(interval time.Duration) {
	defer close(st.ckptExited)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		var logs []*Log
		select {
		case <-st.ckptQuit:
			return
		case <-tick.C:
			st.mu.Lock()
			for _, l := range st.logs {
				if l != nil {
					logs = append(logs, l)
				}
			}
			st.mu.Unlock()
		case <-st.ckptKick:
			st.mu.Lock()
			logs, st.ckptQueue = st.ckptQueue, nil
			st.mu.Unlock()
		}
		for _, l := range logs {
			// Not the appender lock: appends go on during the fsyncs.
			l.ckptMu.Lock()
			l.state.Lock()
			l.ckpt.pending = false
			closed := l.closed
			l.state.Unlock()
			if !closed {
				l.writePendingIndexes()
			}
			if !closed && l.offlineErr() == nil {
				if err := l.writeCheckpoint(); err != nil {
					l.logger.Warn("writing the checkpoint failed; a restart after a crash will scan more", "err", err)
				}
			}
			l.ckptMu.Unlock()
		}
	}
}

func (st *Store) checkpointSoon(l *Log) {
	st.mu.Lock()
	st.ckptQueue = append(st.ckptQueue, l)
	st.mu.Unlock()
	select {
	case st.ckptKick <- struct{}{}:
	default:
	}
}

package fs

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/streamhouse/streamhouse/internal/fault"
	"github.com/streamhouse/streamhouse/storage"
	"github.com/streamhouse/streamhouse/storage/fs/vfs"
)

// maxSyncWorkers bounds the fsyncs a commit round runs at once. Parallel
// fsyncs of different files overlap in the device queue (2,000 files: 375
// ms one by one, 160 ms 32 at a time on the development machine).
const maxSyncWorkers = 32

// committer is the store's group commit: one goroutine that runs rounds.
// A round takes every log written since the previous round began, fsyncs
// their new data (segments rolled since, the active segment, directories
// that gained entries) in parallel, and then publishes each log's high
// watermark up to what it made durable. Appends go on during a round; what
// they add is the next round's. Sync waits for the round that covers it.
//
// Thousands of partitions written at once cost one round, not one round
// each; a round's fsyncs run side by side.
type committer struct {
	mu      sync.Mutex
	queue   []*Log        // logs with work for the next round; Log.queued marks them
	wake    chan struct{} // closed, and replaced, when a round finishes
	waiting int           // Sync callers waiting on wake, for tests

	// beforeRound is a test hook, called at the start of each round.
	beforeRound func()
	// onFsync is Options.OnFsync.
	onFsync func(time.Duration)
	// root is the store's directory, open, when rounds of several files
	// are one syncfs (Options.SyncFS); nil otherwise.
	root   vfs.File
	fsys   vfs.FS
	logger *slog.Logger
	// foreignLimit is Options.SyncFSForeignDirty and dirty reads the
	// machine's dirty page cache for it; nil dirty: rounds are one syncfs
	// whatever else is dirty. closeDirty releases what dirty holds.
	foreignLimit int64
	dirty        func() (int64, error)
	closeDirty   func()
	// written counts the bytes appended to the store's logs since the
	// running round began: the store's own share of the dirty page cache.
	written atomic.Int64

	kick   chan struct{} // buffered 1: the queue is not empty
	quit   chan struct{}
	exited chan struct{}

	// Owned by the committer goroutine: whether the last round that
	// could have been one syncfs fdatasynced its files instead, because
	// of others' write-back (or an unreadable page cache), and when
	// that was last logged.
	fellBack     bool
	fellBackSaid bool
	fellBackAt   time.Time

	// commitFn is Options.Commit: it makes a round's appends durable
	// instead of fsync; interval is Options.CommitInterval, lastRound
	// when the last round started (committer goroutine's).
	commitFn  func(ctx context.Context, appends []Appended) []error
	interval  time.Duration
	lastRound time.Time
	// commitBytes is Options.CommitBytes: full is signalled (buffered
	// 1) when written reaches it, ending a round's wait for its
	// interval.
	commitBytes int64
	full        chan struct{}

	// nursery is the store's (nursery.go), or nil: a round journals the
	// bytes of logs still in it and fsyncs the journal once for them.
	nursery *nursery

	// Round scratch, owned by the committer goroutine.
	spare []*Log
	nfs   []*nurseryFile
	nfAt  []int
	took  []bool
	jobs  []syncJob
	items []syncItem
	dirs  map[string]bool
}

// syncJob is one log's part of a round.
type syncJob struct {
	l      *Log
	gen    uint64       // l.gen when the round took it
	target durablePoint // what the round makes durable
	// from is what was durable before (Options.Commit), and spans the
	// bytes from it to target, segment by segment.
	from  durablePoint
	spans []span
	skip  bool // nothing to do, or the log failed or closed
	dirs  bool // it needs directory entries made durable
	mu    sync.Mutex
	err   error
}

// span is bytes [from, to) of a segment's file.
type span struct {
	seg      *segment
	from, to int64
}

// syncItem is one fsync of a round: a file of job, or a directory by path
// (job -1: logs of the round share directory fsyncs).
type syncItem struct {
	f   vfs.File
	dir string
	job int
}

// durablePoint is a batch boundary: the end of the batch before offset
// next, at pos in the segment with base seg.
type durablePoint struct {
	seg  *segment
	pos  int64
	next int64
}

func (c *committer) start() {
	c.wake = make(chan struct{})
	c.kick = make(chan struct{}, 1)
	c.quit = make(chan struct{})
	c.exited = make(chan struct{})
	go c.run()
}

func (c *committer) stop() {
	close(c.quit)
	<-c.exited
}

func (c *committer) run() {
	defer close(c.exited)
	for {
		select {
		case <-c.kick:
			if c.interval > 0 {
				// Gather the appends of an interval into one
				// round (Options.CommitInterval).
				if wait := c.interval - time.Since(c.lastRound); wait > 0 {
					t := time.NewTimer(wait)
					select {
					case <-t.C:
					case <-c.full: // Options.CommitBytes
					case <-c.quit:
						t.Stop()
						return
					}
					t.Stop()
				}
				c.lastRound = time.Now()
			}
			c.round()
		case <-c.quit:
			return
		}
	}
}

// wrote counts n bytes appended, and ends the wait for the next round
// when they reach Options.CommitBytes.
func (c *committer) wrote(n int64) {
	if w := c.written.Add(n); c.commitBytes > 0 && w >= c.commitBytes {
		select {
		case c.full <- struct{}{}:
		default:
		}
	}
}

// enqueue puts l in the next round.
func (c *committer) enqueue(l *Log) {
	c.mu.Lock()
	c.enqueueLocked(l)
	c.mu.Unlock()
}

// hold puts l in the next round without starting one (storage.HoldCommit).
func (c *committer) hold(l *Log) {
	c.mu.Lock()
	c.holdLocked(l)
	c.mu.Unlock()
}

func (c *committer) holdLocked(l *Log) {
	if !l.queued {
		l.queued = true
		c.queue = append(c.queue, l)
	}
}

func (c *committer) enqueueLocked(l *Log) {
	c.holdLocked(l)
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// commit puts l in the next round and waits until every batch of l below
// offset target is durable: usually the next round, sometimes the one
// running already (it prepares each log after it starts, so it may have
// taken the appends). It returns early when the log fails or closes.
func (c *committer) commit(ctx context.Context, l *Log, target int64) error {
	c.mu.Lock()
	c.enqueueLocked(l)
	for l.durableNext.Load() < target {
		wake := c.wake
		c.waiting++
		c.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			c.mu.Lock()
			c.waiting--
			c.mu.Unlock()
			return ctx.Err()
		}
		if l.durableNext.Load() < target {
			// A round went by without covering l: it failed or closed
			// (prepareSync skips such logs), or it was not in it.
			l.mu.Lock()
			stuck := l.closed || l.failed() != nil
			l.mu.Unlock()
			if stuck {
				c.mu.Lock()
				c.waiting--
				c.mu.Unlock()
				return l.syncErr(target)
			}
		}
		c.mu.Lock()
		c.waiting--
		if l.durableNext.Load() < target {
			c.enqueueLocked(l)
		}
	}
	c.mu.Unlock()
	if err := l.lostErr(target); err != nil {
		return err
	}
	return l.syncErr(target)
}

func (c *committer) round() {
	c.mu.Lock()
	logs := c.queue
	c.queue = c.spare[:0]
	if len(logs) == 0 {
		c.spare = logs
		c.mu.Unlock()
		return
	}
	for _, l := range logs {
		l.queued = false
	}
	hook := c.beforeRound
	c.mu.Unlock()
	ours := c.written.Swap(0)
	select {
	case <-c.full: // counted in this round
	default:
	}
	if hook != nil {
		hook()
	}

	jobs := c.jobs[:0]
	items := c.items[:0]
	if c.dirs == nil {
		c.dirs = make(map[string]bool)
	}
	dirs := c.dirs
	clear(dirs)
	for _, l := range logs {
		jobs = append(jobs, syncJob{l: l})
		j := &jobs[len(jobs)-1]
		if c.commitFn != nil {
			l.prepareCommit(j)
			continue
		}
		items = l.prepareSync(j, len(jobs)-1, items, dirs)
	}
	if c.commitFn != nil {
		c.commitRound(jobs)
	} else if err := c.runItems(jobs, items, ours); err != nil {
		// A directory fsync failed: no log that needed one is durable.
		for i := range jobs {
			if jobs[i].dirs && jobs[i].err == nil {
				jobs[i].err = err
			}
		}
	}
	fault.Crash("sync-before-ack")
	for i := range jobs {
		j := &jobs[i]
		switch {
		case j.skip:
		case j.err != nil:
			j.l.syncFailed(j.err, j.gen)
		default:
			j.l.publish(j.target, j.gen)
		}
	}

	c.mu.Lock()
	close(c.wake)
	c.wake = make(chan struct{})
	clear(logs)
	c.spare = logs[:0]
	c.mu.Unlock()
	for i := range jobs {
		jobs[i] = syncJob{}
	}
	clear(items)
	c.jobs, c.items = jobs[:0], items[:0]
}

// runItems runs a round's fsyncs, in parallel when there are several, or
// one syncfs for them all (Options.SyncFS). A file's failure goes to its
// job; it returns a directory's failure. ours is what the store wrote
// since the previous round began.
func (c *committer) runItems(jobs []syncJob, items []syncItem, ours int64) error {
	var dirMu sync.Mutex
	var dirErr error
	items, journaled := c.journalNursery(jobs, items)
	var journalErr error
	do := func(it *syncItem) {
		var err error
		start := time.Now()
		if it.f != nil {
			err = syncFile(it.f)
		} else {
			err = syncDir(c.fsys, it.dir)
		}
		if c.onFsync != nil {
			c.onFsync(time.Since(start))
		}
		switch {
		case err == nil:
		case it.job == jobJournal:
			journalErr = err // one journal item a round
		case it.job < 0:
			dirMu.Lock()
			dirErr = cmp.Or(dirErr, err)
			dirMu.Unlock()
		default:
			j := &jobs[it.job]
			j.mu.Lock()
			j.err = cmp.Or(j.err, err)
			j.mu.Unlock()
		}
	}
	if c.root != nil && len(items) >= 2 && c.syncFSServes(ours, len(items)) {
		start := time.Now()
		err := syncWholeFS(c.root)
		if c.onFsync != nil {
			c.onFsync(time.Since(start))
		}
		if err == nil {
			return nil
		}
		// Some write-back on the file system failed, maybe not of these
		// files: their own fdatasyncs say which (a file's write-back
		// error is reported to its fsync whatever syncfs saw).
		c.logger.Warn("storage: syncfs failed; fsyncing the round's files one by one", "err", err)
	}
	forEachParallel(len(items), func(i int) { do(&items[i]) })
	if journalErr != nil {
		for _, job := range journaled {
			j := &jobs[job]
			j.mu.Lock()
			j.err = cmp.Or(j.err, journalErr)
			j.mu.Unlock()
		}
	}
	return dirErr
}

// jobJournal is the job of the nursery journal's fsync in a round.
const jobJournal = -2

// journalNursery writes the bytes of the round's files that are still in
// the nursery to its journal, in one write, and puts one fsync of the
// journal in their place. It returns the items left and the jobs whose
// files the journal took.
func (c *committer) journalNursery(jobs []syncJob, items []syncItem) ([]syncItem, []int) {
	n := c.nursery
	if n == nil {
		return items, nil
	}
	nfs, at := c.nfs[:0], c.nfAt[:0]
	for i := range items {
		if nf, ok := items[i].f.(*nurseryFile); ok && !nf.settled.Load() {
			nfs = append(nfs, nf)
			at = append(at, i)
		}
	}
	c.nfs, c.nfAt = nfs, at
	if len(nfs) == 0 {
		return items, nil
	}
	took := c.took[:0]
	for range nfs {
		took = append(took, false)
	}
	c.took = took
	err := n.journal(nfs, took)
	var journaled []int
	keep := items[:0]
	k := 0
	for i := range items {
		if k < len(at) && at[k] == i {
			if took[k] {
				journaled = append(journaled, items[i].job)
				k++
				continue
			}
			k++
		}
		keep = append(keep, items[i])
	}
	clear(items[len(keep):])
	items = keep
	clear(nfs)
	if err != nil {
		for _, job := range journaled {
			jobs[job].err = cmp.Or(jobs[job].err, err)
		}
		return items, nil
	}
	if len(journaled) > 0 {
		items = append(items, syncItem{f: n.f, job: jobJournal})
	}
	return items, journaled
}

// syncFSServes says whether a round of items files and directories may be
// one syncfs: always, unless Options.SyncFSForeignDirty asks that the page
// cache hold little dirty data besides the store's own (ours bytes, written
// since the last round began). Then others' dirty data must also be no
// more than the round's own (or syncFSSmallForeign), unless the round has
// syncFSManyItems files or more: a syncfs writes back whatever is dirty on
// the file system, so a round of a few KiB (a produce at a low rate) that
// found a few MiB of others' data waited for it on every round, where an
// fdatasync of its one or two files waits for its own pages only (1,000
// records/s on a machine shared with builds: ack p99 39-193 ms, median
// 168, with syncfs rounds against 33-80, median 38, fdatasync). Switches
// to and from the limit are logged, at most once a minute.
func (c *committer) syncFSServes(ours int64, items int) bool {
	if c.dirty == nil {
		return true
	}
	d, err := c.dirty()
	foreign := d - ours
	ok := err == nil && foreign <= c.foreignLimit
	switch {
	case !ok && !c.fellBack:
		c.fellBack = true
		if now := time.Now(); now.Sub(c.fellBackAt) >= time.Minute {
			c.fellBackAt, c.fellBackSaid = now, true
			if err != nil {
				c.logger.Warn("storage: cannot read the page cache's dirty bytes; commit rounds fdatasync each file", "err", err)
			} else {
				c.logger.Info("storage: other write-back is pending on the machine; commit rounds fdatasync each file until it drains",
					"dirty_mib", d>>20, "store_mib", max(ours, 0)>>20, "limit_mib", c.foreignLimit>>20)
			}
		}
	case ok && c.fellBack:
		c.fellBack = false
		if c.fellBackSaid {
			c.fellBackSaid = false
			c.logger.Info("storage: commit rounds are one syncfs again")
		}
	}
	return ok && (items >= syncFSManyItems || foreign <= max(ours, syncFSSmallForeign))
}

// syncFSManyItems and syncFSSmallForeign bound syncFSServes's rule that a
// round be one syncfs only when others' dirty data is no more than its
// own: a round of this many files gains more from one syncfs than
// others' write-back costs it (2,000 files: one syncfs against 160 ms of
// fdatasyncs), and this much of others' dirty data (a few ms of write-back
// at most) is allowed whatever the round's size, so that the page cache's
// accounting drift (per-CPU counters) does not decide.
const (
	syncFSManyItems    = 32
	syncFSSmallForeign = 256 << 10
)

// forEachParallel calls do(i) for every i in [0, n), on up to
// maxSyncWorkers goroutines (in the caller's when n is at most 1), and
// returns when every call has: fsyncs of different files, several at a
// time.
func forEachParallel(n int, do func(i int)) {
	workers := min(n, maxSyncWorkers)
	if workers <= 1 {
		for i := range n {
			do(i)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				do(i)
			}
		})
	}
	wg.Wait()
}

// prepareCommit takes l's part of a round under Options.Commit, under the
// appender lock: the bytes from its durable point to its end.
func (l *Log) prepareCommit(j *syncJob) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed || l.failed() != nil {
		j.skip = true
		return
	}
	j.gen = l.gen
	l.unflushed = 0
	l.state.RLock()
	from := l.durable
	segs := l.segs
	l.state.RUnlock()
	j.from = from
	j.target = durablePoint{seg: l.active, pos: l.active.size, next: l.next.Load()}
	clear(l.unsynced)
	l.unsynced = l.unsynced[:0]
	l.dataDirty, l.dirDirty, l.parentsDirty = false, false, false
	if j.target.next <= from.next {
		j.skip = true
		return
	}
	for _, s := range segs {
		if from.seg != nil && s.base < from.seg.base {
			continue
		}
		sp := span{seg: s, to: s.size}
		if s == from.seg {
			sp.from = from.pos
		}
		if s == j.target.seg {
			sp.to = j.target.pos
		}
		if sp.to > sp.from {
			j.spans = append(j.spans, sp)
		}
		if s == j.target.seg {
			break
		}
	}
}

// commitRound makes a round's appends durable through Options.Commit: each
// log's new bytes read back from its files (the page cache), handed over
// at once, and each log's error set on its job.
func (c *committer) commitRound(jobs []syncJob) {
	var appends []Appended
	var of []int
	for i := range jobs {
		j := &jobs[i]
		if j.skip {
			continue
		}
		var n int64
		for _, sp := range j.spans {
			n += sp.to - sp.from
		}
		data := make([]byte, n)
		var at int64
		for _, sp := range j.spans {
			if _, err := sp.seg.f.ReadAt(data[at:at+sp.to-sp.from], sp.from); err != nil {
				j.err = fmt.Errorf("fs: read %s back for commit: %w", sp.seg.path, err)
				break
			}
			at += sp.to - sp.from
		}
		if j.err != nil {
			continue
		}
		appends = append(appends, Appended{Partition: j.l.part, Base: j.from.next, Next: j.target.next, Data: data})
		of = append(of, i)
	}
	if len(appends) == 0 {
		return
	}
	start := time.Now()
	errs := c.commitFn(context.Background(), appends)
	if c.onFsync != nil {
		c.onFsync(time.Since(start))
	}
	for k, i := range of {
		if k < len(errs) && errs[k] != nil {
			jobs[i].err = errs[k]
		}
	}
}

// prepareSync takes l's part of a round under the appender lock: the files
// and directories to fsync, and the point they make durable. The log's
// directories (and, for a new partition, the topic directory and the
// store's root) are shared between logs of a round through dirs.
func (l *Log) prepareSync(j *syncJob, job int, items []syncItem, dirs map[string]bool) []syncItem {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed || l.failed() != nil {
		j.skip = true
		return items
	}
	j.gen = l.gen
	l.unflushed = 0
	if !l.dataDirty && len(l.unsynced) == 0 && !l.dirDirty && !l.parentsDirty {
		j.skip = true
		return items
	}
	for _, s := range l.unsynced {
		items = append(items, syncItem{f: s.f, job: job})
	}
	items = append(items, syncItem{f: l.active.f, job: job})
	addDir := func(d string) {
		j.dirs = true
		if !dirs[d] {
			dirs[d] = true
			items = append(items, syncItem{dir: d, job: -1})
		}
	}
	if l.dirDirty || l.parentsDirty {
		addDir(l.dir)
	}
	if l.parentsDirty {
		addDir(l.store.topicDir(l.part.Topic))
		addDir(l.store.dir)
	}
	clear(l.unsynced)
	l.unsynced = l.unsynced[:0]
	l.dataDirty, l.dirDirty, l.parentsDirty = false, false, false
	j.target = durablePoint{seg: l.active, pos: l.active.size, next: l.next.Load()}
	return items
}

// publish makes what a round fsynced visible: the high watermark moves
// (unless the store does not wait for fsync, when it moved at the append)
// and watchers are signalled. A heal since the round took the log (gen
// moved) cut the files under it: nothing is published.
func (l *Log) publish(p durablePoint, gen uint64) {
	l.state.Lock()
	if gen != l.gen {
		l.state.Unlock()
		return
	}
	if p.next > l.durable.next || l.durable.seg == nil {
		l.durable = p
		l.durableNext.Store(p.next)
	}
	moved := false
	if !l.store.noSync && p.next > l.hw.Load() {
		l.hwSeg, l.hwPos = p.seg, p.pos
		l.hw.Store(p.next)
		moved = true
	}
	l.state.Unlock()
	l.foldProducers(p.next)
	if moved {
		l.notify()
	}
	l.maybeCheckpoint()
}

// Sync implements storage.Log: it returns once every batch appended before
// the call is on stable storage, with the directory entries of the files
// that hold them, and the high watermark covers them. With Options.NoSync
// it returns at once.
func (l *Log) Sync(ctx context.Context) error {
	return l.SyncTo(ctx, l.next.Load())
}

// SyncTo implements storage.Log: Sync for the batches below offset next
// only, so that a produce's answer does not wait for batches appended
// after its own.
func (l *Log) SyncTo(ctx context.Context, next int64) error {
	if l.store.noSync || l.durableNext.Load() >= next {
		if err := l.lostErr(next); err != nil {
			return err
		}
		if err := l.syncErr(next); err != nil {
			return err
		}
		l.state.RLock()
		closed := l.closed
		l.state.RUnlock()
		if closed {
			return fmt.Errorf("fs: sync %s: %w", l.dir, storage.ErrClosed)
		}
		return nil
	}
	return l.store.commit.commit(ctx, l, next)
}

// flush fsyncs l whatever the store's mode: flush.messages and flush.ms.
func (l *Log) flush(ctx context.Context) error {
	return l.store.commit.commit(ctx, l, l.next.Load())
}

// syncErr is what a Sync up to offset target that found its round done
// returns: the sticky failure, or ErrClosed when the log was closed under
// it before the batches below target were durable.
func (l *Log) syncErr(target int64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.failed(); err != nil {
		return err
	}
	if l.closed && l.durableNext.Load() < target {
		return fmt.Errorf("fs: sync %s: %w", l.dir, storage.ErrClosed)
	}
	return nil
}

// syncFailed makes an fsync failure sticky: after a failed fsync the kernel
// may have dropped the dirty pages, and a later fsync that succeeds proves
// nothing about them; the log heals by reopening from what is on disk
// (heal.go). A file closed under the round by Close, or cut under it by a
// heal (gen moved), is not a failure of the data.
func (l *Log) syncFailed(err error, gen uint64) {
	if errors.Is(err, os.ErrClosed) {
		return
	}
	l.state.RLock()
	stale := gen != l.gen
	l.state.RUnlock()
	if !stale {
		l.fail(err)
	}
}

package fs

import (
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/streamhouse/streamhouse/storage"
	"github.com/streamhouse/streamhouse/storage/fs/vfs"
)

// The free-space guard (Options.MinFreeBytes, the broker's
// storage.min.free.bytes): appends are refused with storage.ErrNoSpace
// while the store's volume has less free space than the threshold, so that
// the disk never fills: fetches, retention, DeleteRecords, topic deletion
// and the catalog keep the room they need to work and to give space back.
// Appends resume by themselves once the free space is back above the
// threshold plus a margin (a quarter of it, at most 256 MiB), so that the
// guard does not flap around the threshold.
//
// The check is cheap: a goroutine reads the free space (statfs) every
// checkInterval, and sooner once the store appended half the room it had
// left above the threshold at the last reading; an append reads two
// atomics and never makes a system call for the guard.

const (
	// DefaultMinFreeShare and DefaultMinFreeMax make the default
	// threshold: 5% of the volume, at most 5 GiB.
	DefaultMinFreeShare = 0.05
	DefaultMinFreeMax   = 5 << 30

	spaceCheckInterval = 100 * time.Millisecond
	// A check is due after at most this many bytes appended, and at
	// least this few.
	spaceCheckMaxBytes = 64 << 20
	spaceCheckMinBytes = 64 << 10
	spaceMarginMax     = 256 << 20
)

// Space is the state of a store's volume and free-space guard.
type Space struct {
	// TotalBytes and FreeBytes are the volume's size and the bytes the
	// broker may still use there, at the last reading (-1: unknown).
	TotalBytes, FreeBytes int64
	// MinFreeBytes is the guard's threshold (0: off) and ResumeBytes the
	// free space at which appends resume.
	MinFreeBytes, ResumeBytes int64
	// Low says appends are refused for lack of space, since LowSince.
	Low      bool
	LowSince time.Time
	// Full says the last write that met ENOSPC has not been followed by
	// one that succeeded: the volume filled (guard off, or another
	// program filled it between two readings).
	Full bool
	// Refused counts the appends refused for lack of space since the
	// store opened: by the guard, or by a full volume.
	Refused int64
}

// Space reports the store's volume and free-space guard.
func (st *Store) Space() Space {
	g := &st.space
	s := Space{
		TotalBytes:   g.total.Load(),
		FreeBytes:    g.free.Load(),
		MinFreeBytes: g.min,
		ResumeBytes:  g.resume,
		Low:          g.low.Load(),
		Full:         g.full.Load(),
		Refused:      g.refused.Load(),
	}
	if s.Low {
		if p := g.since.Load(); p != nil {
			s.LowSince = *p
		}
	}
	return s
}

// spaceGuard is the store's free-space guard. min and resume are set by
// New; the rest is shared between appends and the checker goroutine.
type spaceGuard struct {
	fsys   vfs.FS
	dir    string
	logger *slog.Logger

	min, resume int64 // 0: off

	low   atomic.Bool
	since atomic.Pointer[time.Time]
	full  atomic.Bool
	// total and free are the last reading.
	total, free atomic.Int64
	refused     atomic.Int64
	// written counts bytes appended since the last reading; a reading
	// is due once it passes due.
	written atomic.Int64
	due     atomic.Int64

	kick       chan struct{} // buffered 1
	quit       chan struct{}
	exited     chan struct{}
	readFailed bool // the last reading failed (logged once); checker only
	stopOnce   sync.Once
}

// init resolves the threshold (minFree < 0: the default share of the
// volume) and, when the guard is on, reads the free space once and starts
// the checker.
func (g *spaceGuard) init(fsys vfs.FS, dir string, logger *slog.Logger, minFree int64) error {
	g.fsys, g.dir, g.logger = fsys, dir, logger
	g.total.Store(-1)
	g.free.Store(-1)
	total, free, err := fsys.DiskSpace(dir)
	if err == nil {
		g.total.Store(total)
		g.free.Store(free)
	}
	if minFree < 0 {
		if err != nil {
			return fmt.Errorf("fs: new store: the free-space guard's default is a share of the volume, whose size is unknown: %w", err)
		}
		minFree = min(int64(float64(total)*DefaultMinFreeShare), DefaultMinFreeMax)
	}
	if minFree == 0 || total < 0 {
		// Off, or a system that cannot tell free space (vfs returns -1).
		logger.Info("storage: the free-space guard is off (storage.min.free.bytes=0): a full volume fails appends as they come", "dir", dir)
		return nil
	}
	g.min = minFree
	g.resume = minFree + min(minFree/4, spaceMarginMax)
	logger.Info("storage: free-space guard: produce is refused while the volume has less free space than storage.min.free.bytes",
		"dir", dir, "min_free_bytes", g.min, "resume_bytes", g.resume, "free_bytes", free, "total_bytes", total)
	g.kick = make(chan struct{}, 1)
	g.quit = make(chan struct{})
	g.exited = make(chan struct{})
	g.check(time.Now())
	go g.run()
	return nil
}

// stop ends the checker.
func (g *spaceGuard) stop() {
	if g.quit == nil {
		return
	}
	g.stopOnce.Do(func() {
		close(g.quit)
		<-g.exited
	})
}

func (g *spaceGuard) run() {
	defer close(g.exited)
	t := time.NewTicker(spaceCheckInterval)
	defer t.Stop()
	for {
		select {
		case <-g.quit:
			return
		case now := <-t.C:
			g.check(now)
		case <-g.kick:
			g.check(time.Now())
		}
	}
}

// check reads the free space and trips or clears the guard. Called by the
// checker goroutine only (and by init before it starts).
func (g *spaceGuard) check(now time.Time) {
	g.written.Store(0)
	total, free, err := g.fsys.DiskSpace(g.dir)
	if err != nil {
		if !g.readFailed {
			g.readFailed = true
			g.logger.Warn("storage: reading the volume's free space failed; the free-space guard keeps its last reading", "err", err)
		}
		g.due.Store(spaceCheckMinBytes)
		return
	}
	g.readFailed = false
	g.total.Store(total)
	g.free.Store(free)
	// Each change is logged before it takes effect, so that whoever
	// sees its effect finds its line.
	switch {
	case !g.low.Load() && free < g.min:
		g.since.Store(&now)
		g.logger.Error("storage: DISK LOW: free space is below storage.min.free.bytes; produce is refused (KAFKA_STORAGE_ERROR, retried by producers) until space is freed; fetches, DeleteRecords, topic deletion and retention go on",
			"dir", g.dir, "free_bytes", free, "total_bytes", total, "min_free_bytes", g.min, "resume_bytes", g.resume)
		g.low.Store(true)
	case g.low.Load() && free >= g.resume:
		low := now
		if p := g.since.Load(); p != nil {
			low = *p
		}
		g.logger.Info("storage: free space is back above storage.min.free.bytes; produce resumes",
			"dir", g.dir, "free_bytes", free, "total_bytes", total, "min_free_bytes", g.min,
			"refused_appends", g.refused.Load(), "low_for", now.Sub(low).Round(time.Millisecond))
		g.low.Store(false)
	}
	// The next reading comes after half the room left above the
	// threshold was appended, so that the store alone cannot pass the
	// threshold unseen between two readings.
	g.due.Store(min(max((free-g.min)/2, spaceCheckMinBytes), spaceCheckMaxBytes))
}

// admit is the guard's check of an append of n bytes: ErrNoSpace while
// free space is low. It counts the bytes toward the next reading.
func (g *spaceGuard) admit(n int, path string) error {
	if g.min == 0 {
		return nil
	}
	if g.low.Load() {
		g.refused.Add(1)
		return fmt.Errorf("fs: append to %s: %w: %d bytes free, below storage.min.free.bytes (%d)",
			path, storage.ErrNoSpace, g.free.Load(), g.min)
	}
	if g.written.Add(int64(n)) >= g.due.Load() {
		select {
		case g.kick <- struct{}{}:
		default:
		}
	}
	return nil
}

// fits reports whether n more bytes can be written without taking the
// free space below what the guard keeps (the cleaner's output while the
// guard is tripped). Always true with the guard off.
func (g *spaceGuard) fits(n int64) bool {
	if g.min == 0 || !g.low.Load() {
		return true
	}
	return g.free.Load()-n >= g.min/2
}

// noSpace records an append that failed for lack of space (ENOSPC): the
// first of a run is logged.
func (g *spaceGuard) noSpace(err error) {
	g.refused.Add(1)
	if !g.full.Swap(true) {
		g.logger.Error("storage: DISK FULL: a write failed for lack of space; appends fail (KAFKA_STORAGE_ERROR, retried by producers) until space is freed; partitions stay online",
			"dir", g.dir, "err", err)
	}
}

// wrote records a successful write: a run of full-volume failures is
// over.
func (g *spaceGuard) wrote() {
	if g.full.Load() && g.full.Swap(false) {
		g.logger.Info("storage: writes succeed again after the volume was full", "dir", g.dir)
	}
}

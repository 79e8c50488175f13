package fs

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/streamhouse/streamhouse/internal/fault"
	"github.com/streamhouse/streamhouse/storage"
)

// Retain implements storage.Log. It removes, oldest first, closed segments
// that are wholly below the log start offset, or whose largest timestamp is
// older than p.Ms, or whose removal leaves at least p.Bytes in the log, as
// Kafka's UnifiedLog.deleteOldSegments does. It stops at the first segment
// that stays, never removes the active segment, and removes nothing that is
// not below the high watermark.
func (l *Log) Retain(ctx context.Context, p storage.RetentionPolicy) (int, error) {
	return l.retain(ctx, p, math.MaxInt64)
}

// retain is Retain over the segments wholly below limit only.
func (l *Log) retain(ctx context.Context, p storage.RetentionPolicy, limit int64) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	l.cleanMu.Lock()
	defer l.cleanMu.Unlock()
	if err := l.usable("retain"); err != nil {
		return 0, err
	}
	now := p.Now.UnixMilli()
	l.state.RLock()
	hw, start := l.hw.Load(), l.start.Load()
	diff := l.size.Load() - p.Bytes
	n := 0
	for _, s := range l.segs[:len(l.segs)-1] {
		if s.next > hw || s.next > limit || !l.expired(s, start, now, p, diff) {
			break
		}
		diff -= s.size
		n++
	}
	var newStart int64
	if n > 0 {
		newStart = max(start, l.segs[n].base)
	}
	l.state.RUnlock()
	if n == 0 {
		return 0, nil
	}
	if err := l.moveStart(newStart, n); err != nil {
		return 0, err
	}
	return n, nil
}

// expired reports whether retention removes s (see Retain); diff is how
// many bytes the log holds beyond p.Bytes before s goes.
func (l *Log) expired(s *segment, start, now int64, p storage.RetentionPolicy, diff int64) bool {
	if s.next <= start {
		return true
	}
	if p.Ms >= 0 {
		ts := s.maxTS
		if ts < 0 {
			// No usable timestamps (records from before timestamps
			// existed): Kafka falls back on the file's mtime.
			ts = math.MaxInt64
			if fi, err := s.f.Stat(); err == nil {
				ts = fi.ModTime().UnixMilli()
			}
		}
		if now-ts > p.Ms {
			return true
		}
	}
	return p.Bytes >= 0 && diff-s.size >= 0
}

// DeleteRecords implements storage.Log.
func (l *Log) DeleteRecords(ctx context.Context, offset int64) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	l.cleanMu.Lock()
	defer l.cleanMu.Unlock()
	if err := l.usable("delete records"); err != nil {
		return 0, err
	}
	hw, start := l.hw.Load(), l.start.Load()
	if offset < 0 || offset > hw {
		return start, fmt.Errorf("fs: delete records of %s below %d, outside [0, %d]: %w",
			l.dir, offset, hw, storage.ErrOffsetOutOfRange)
	}
	if offset <= start {
		return start, nil
	}
	l.state.RLock()
	n := 0
	for n < len(l.segs)-1 && l.segs[n].next <= offset {
		n++
	}
	l.state.RUnlock()
	if err := l.moveStart(offset, n); err != nil {
		return start, err
	}
	return offset, nil
}

// usable is usableLocked for a caller that does not hold mu.
func (l *Log) usable(op string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.usableLocked(op)
}

func (l *Log) usableLocked(op string) error {
	if l.closed {
		return fmt.Errorf("fs: %s %s: %w", op, l.dir, storage.ErrClosed)
	}
	return l.failed()
}

// moveStart makes start the log start offset, durably (the checkpoint),
// and then removes the first n segments, which are wholly below it. A
// crash between the two leaves segments that the next open removes.
// Caller holds cleanMu (which keeps Close, the cleaner and other moves
// out) and not mu: appends go on while the checkpoint is fsynced and the
// files are removed, which under a busy disk takes long enough to stall a
// producer. The segments removed are closed ones below the high
// watermark, which appends and rolls never touch.
func (l *Log) moveStart(start int64, n int) error {
	old := l.start.Load()
	l.start.Store(start)
	l.ckptMu.Lock()
	err := l.writeCheckpoint()
	l.ckptMu.Unlock()
	if err != nil {
		l.start.Store(old)
		return err
	}
	fault.Crash("retention")
	if n == 0 {
		return nil
	}
	l.mu.Lock()
	l.state.Lock()
	dead := append([]*segment(nil), l.segs[:n]...)
	clear(l.segs[:n])
	l.segs = l.segs[n:]
	l.state.Unlock()
	// With NoSync a dead segment may still wait for a flush.
	l.unsynced = deleteSegs(l.unsynced, dead)
	l.mu.Unlock()

	var freed int64
	var errs []error
	for _, s := range dead {
		freed += s.size
		// A read that picked the segment before it left segs fails on
		// the closed file and finds the offset below the start (Read).
		errs = append(errs, s.f.Close(), s.removeFiles())
	}
	l.size.Add(-freed)
	l.logger.Info("segments deleted", "segments", n, "bytes", freed, "log_start_offset", start)
	if err := errors.Join(errs...); err != nil {
		// The start moved; files left behind go at the next open.
		l.logger.Warn("removing deleted segments' files failed", "err", err)
	}
	return nil
}

func deleteSegs(list, dead []*segment) []*segment {
	out := list[:0]
	for _, s := range list {
		keep := true
		for _, d := range dead {
			keep = keep && s != d
		}
		if keep {
			out = append(out, s)
		}
	}
	return out
}

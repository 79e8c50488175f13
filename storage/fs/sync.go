package fs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"

	"github.com/streamhouse/streamhouse/storage"
)

// syncer coalesces concurrent Sync calls (group commit). Rounds run one at a
// time. A caller is covered by the first round that starts after it
// arrives: when none is running it starts one itself; otherwise it waits
// for the running round to end, and then either finds that a later round
// (started by another waiter) has covered it, or starts that round and
// covers everyone who was waiting. One fsync thus serves every caller that
// arrived while the previous one was in flight.
//
// A broker-wide write-ahead log will replace this; it is kept to the
// smallest thing that is correct.
type syncer struct {
	mu          sync.Mutex
	running     bool
	started     uint64        // rounds started
	done        uint64        // rounds finished
	err         error         // result of the latest finished round
	wake        chan struct{} // closed, and replaced, when a round finishes
	waiting     int           // callers waiting on wake, for tests
	beforeRound func()        // test hook: called at the start of each round
}

// Sync implements storage.Log: it returns once every batch appended before
// the call is on stable storage, with the directory entries of the files
// that hold them.
func (l *Log) Sync(ctx context.Context) error {
	s := &l.sync
	s.mu.Lock()
	need := s.started + 1
	for {
		if s.done >= need {
			// Rounds finish in order and a failure is sticky, so the
			// latest result speaks for round need too.
			err := s.err
			s.mu.Unlock()
			return err
		}
		if !s.running {
			s.running = true
			s.started++
			round := s.started
			hook := s.beforeRound
			s.mu.Unlock()

			if hook != nil {
				hook()
			}
			err := l.syncRound()

			s.mu.Lock()
			s.running = false
			s.done, s.err = round, err
			close(s.wake)
			s.wake = make(chan struct{})
			continue
		}
		wake := s.wake
		s.waiting++
		s.mu.Unlock()
		select {
		case <-wake:
			s.mu.Lock()
			s.waiting--
		case <-ctx.Done():
			s.mu.Lock()
			s.waiting--
			s.mu.Unlock()
			return ctx.Err()
		}
	}
}

// syncRound fsyncs the segments rolled since the last round, the active
// segment and, after a file was created, the directory. It holds the
// appender lock only to take that list, so appends go on during the fsync;
// what they add is covered by the next round.
func (l *Log) syncRound() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return fmt.Errorf("fs: sync %s: %w", l.dir, storage.ErrClosed)
	}
	if l.failed != nil {
		err := l.failed
		l.mu.Unlock()
		return err
	}
	if !l.dataDirty && len(l.unsynced) == 0 && !l.dirDirty && !l.parentsDirty {
		// Everything written was taken by an earlier round, which
		// succeeded: a failure would have stuck.
		l.mu.Unlock()
		return nil
	}
	l.dataDirty = false
	files := l.syncFiles[:0]
	for _, s := range l.unsynced {
		files = append(files, s.f)
	}
	files = append(files, l.active.f)
	clear(l.unsynced)
	l.unsynced = l.unsynced[:0]
	dir, parents := l.dirDirty, l.parentsDirty
	l.dirDirty, l.parentsDirty = false, false
	l.syncFiles = files
	l.mu.Unlock()

	for _, f := range files {
		if err := f.Sync(); err != nil {
			return l.syncFailed(fmt.Errorf("fs: sync %s: %w", f.Name(), err))
		}
	}
	if dir || parents {
		if err := l.syncDirs(parents); err != nil {
			return l.syncFailed(err)
		}
	}
	return nil
}

// syncFailed makes an fsync failure sticky: after a failed fsync the kernel
// may have dropped the dirty pages, and a later fsync that succeeds proves
// nothing about them. A file closed under the round by Close is not a
// failure of the data.
func (l *Log) syncFailed(err error) error {
	if errors.Is(err, os.ErrClosed) {
		return fmt.Errorf("fs: sync %s: %w", l.dir, storage.ErrClosed)
	}
	l.mu.Lock()
	if l.failed == nil {
		l.failed = err
	}
	l.mu.Unlock()
	return err
}

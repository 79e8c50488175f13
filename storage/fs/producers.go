package fs

import (
	"encoding/base64"
	"fmt"

	"github.com/streamhouse/streamhouse/batch"
	"github.com/streamhouse/streamhouse/storage"
)

// Idempotent producers. A log keeps two copies of its producers' state:
//
//	pids         after every batch appended (guarded by mu): what Append
//	             checks sequences against
//	pidsDurable  after every batch below pidsDurableAt, which follows the
//	             durable point: what a checkpoint records, so that recovery
//	             starts from state that matches data known to be on disk
//	             and replays only the batches after it
//
// pidPending holds the headers of producer batches appended but not yet
// folded into pidsDurable; each commit round's publish folds what it made
// durable. Without fsync (Options.NoSync) nothing becomes durable until
// Close, so after maxPidPending headers the durable copy is given up
// (pidsLost) until Close, and a crash then replays the whole log.

// maxPidPending bounds pidPending.
const maxPidPending = 1 << 16

// checkProducerLocked runs the producer checks for a batch about to be
// appended. Caller holds mu.
func (l *Log) checkProducerLocked(h *batch.Header) (int64, error) {
	off, err := l.pids.Check(h)
	if err != nil {
		return off, fmt.Errorf("fs: append to %s: %w", l.dir, err)
	}
	return 0, nil
}

// recordProducerLocked updates the state after h (its base offset set) was
// appended. Caller holds mu.
func (l *Log) recordProducerLocked(h *batch.Header) {
	if h.ProducerID < 0 {
		return
	}
	l.pids.Update(h)
	l.pidMu.Lock()
	switch {
	case l.pidsLost:
	case len(l.pidPending) >= maxPidPending:
		l.pidsLost = true
		l.pidPending = nil
	default:
		l.pidPending = append(l.pidPending, *h)
	}
	l.pidMu.Unlock()
}

// foldProducersLocked moves the pending batches below next into the
// durable copy. Caller holds pidMu.
func (l *Log) foldProducersLocked(next int64) {
	if next <= l.pidsDurableAt {
		return
	}
	n := 0
	for n < len(l.pidPending) && l.pidPending[n].NextOffset() <= next {
		l.pidsDurable.Update(&l.pidPending[n])
		n++
	}
	if n > 0 {
		k := copy(l.pidPending, l.pidPending[n:])
		clear(l.pidPending[k:])
		l.pidPending = l.pidPending[:k]
	}
	l.pidsDurableAt = next
}

// foldProducers is foldProducersLocked for publish.
func (l *Log) foldProducers(next int64) {
	l.pidMu.Lock()
	l.foldProducersLocked(next)
	l.pidMu.Unlock()
}

// producerSnapshotLocked returns the checkpoint's producers field for the
// durable point next: "" when the durable copy was given up. Caller holds
// pidMu.
func (l *Log) producerSnapshotLocked(next int64) string {
	if l.pidsLost {
		return ""
	}
	l.foldProducersLocked(next)
	return base64.RawURLEncoding.EncodeToString(l.pidsDurable.AppendSnapshot(nil, next))
}

// producersAtClose makes the durable copy the whole state, once Close has
// fsynced everything. Caller holds mu.
func (l *Log) producersAtClose() {
	l.pidMu.Lock()
	l.pidsDurable = l.pids.Clone()
	l.pidsDurableAt = l.next.Load()
	l.pidPending, l.pidsLost = nil, false
	l.pidMu.Unlock()
}

// loadProducers rebuilds the producer state after recovery: the
// checkpoint's snapshot, then every batch after it. Without a usable
// snapshot it replays the whole log (logged: it costs a read of every
// batch header).
func (l *Log) loadProducers() error {
	from := l.segs[0].base
	var st storage.ProducerState
	if enc := l.recoveryPoint.pids; enc != "" {
		b, err := base64.RawURLEncoding.DecodeString(enc)
		var at int64
		if err == nil {
			st, at, err = storage.ParseSnapshot(b)
		}
		switch {
		case err != nil:
			l.logger.Warn("producer snapshot unusable; replaying the whole log", "err", err)
			st = storage.ProducerState{}
		case at > l.segs[len(l.segs)-1].next:
			l.logger.Warn("producer snapshot is past the end of the log; replaying the whole log",
				"snapshot_offset", at, "log_end_offset", l.segs[len(l.segs)-1].next)
			st = storage.ProducerState{}
		default:
			from = at
		}
	} else if l.recoveryPoint.next > 0 || l.segs[len(l.segs)-1].next > l.segs[0].base {
		l.logger.Info("no producer snapshot; replaying the log's batch headers")
	}
	i := 0
	for i+1 < len(l.segs) && l.segs[i+1].base <= from {
		i++
	}
	for ; i < len(l.segs); i++ {
		s := l.segs[i]
		w := window{chunk: 64 << 10} // a window caches one file
		pos := int64(0)
		if from > s.base {
			_, p := lookupIndex(s.index, uint32(from-s.base))
			pos = int64(p)
		}
		_, _, err := scanHeaders(s, &w, pos, s.size, func(h *batch.Header) bool {
			if h.BaseOffset >= from {
				st.Update(h)
			}
			return false
		})
		if err != nil {
			return fmt.Errorf("fs: open %s: rebuild producer state: %w", l.dir, err)
		}
	}
	l.pids = st
	l.pidsDurable = st.Clone()
	l.pidsDurableAt = l.segs[len(l.segs)-1].next
	return nil
}

// ExpireProducers implements storage.Log.
func (l *Log) ExpireProducers(nowMs, maxAgeMs int64) int {
	l.mu.Lock()
	n := l.pids.Expire(nowMs, maxAgeMs)
	l.pidMu.Lock()
	l.pidsDurable.Expire(nowMs, maxAgeMs)
	l.pidMu.Unlock()
	l.mu.Unlock()
	return n
}

package fs

import (
	"cmp"
	"encoding/base64"
	"fmt"
	"slices"

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

// pidBatch is a producer batch waiting to be folded into the durable copy.
type pidBatch struct {
	h    batch.Header
	ctrl int16 // control record type of a control batch
}

// recordProducerLocked updates the state after the batch b with header h
// (its base offset set) was appended. Caller holds mu.
func (l *Log) recordProducerLocked(h *batch.Header, b []byte) {
	if h.ProducerID < 0 {
		return
	}
	ctrl := int16(-1)
	if h.Control() {
		ctrl, _ = batch.ControlType(b) // the broker wrote it
	}
	l.pids.Update(h, ctrl)
	if h.Transactional() {
		l.publishTxnLocked(h)
	}
	l.pidMu.Lock()
	switch {
	case l.pidsLost:
	case len(l.pidPending) >= maxPidPending:
		l.pidsLost = true
		l.pidPending = nil
	default:
		l.pidPending = append(l.pidPending, pidBatch{*h, ctrl})
	}
	l.pidMu.Unlock()
}

// publishTxnLocked refreshes what readers see of transactions (the first
// unstable offset, the aborted list) after the transactional batch h: a
// data batch can only lower the first unstable offset (its transaction's
// first offset is at or after any open one's), so only a marker costs a
// walk over the producers. Caller holds mu.
func (l *Log) publishTxnLocked(h *batch.Header) {
	if h.Control() {
		l.firstUnstable.Store(l.pids.FirstUnstableOffset())
	} else if e := l.pids.Entry(h.ProducerID); e != nil && e.TxnFirstOffset >= 0 {
		if before := l.firstUnstable.Load(); before < 0 || e.TxnFirstOffset < before {
			l.firstUnstable.Store(e.TxnFirstOffset)
		}
	}
	if a := l.pids.Aborted(); len(a) != len(l.abortedView()) {
		// ProducerState only appends to the list (TrimAborted makes a new
		// one), so readers share it up to its length rather than each
		// abort marker copying it under mu.
		v := a[:len(a):len(a)]
		l.aborted.Store(&v)
	}
}

func (l *Log) abortedView() []storage.AbortedTxn {
	if p := l.aborted.Load(); p != nil {
		return *p
	}
	return nil
}

// LastStableOffset implements storage.Log.
func (l *Log) LastStableOffset() int64 {
	hw := l.hw.Load()
	if first := l.firstUnstable.Load(); first >= 0 && first < hw {
		return first
	}
	return hw
}

// AbortedTransactions implements storage.Log.
func (l *Log) AbortedTransactions(from, to int64) []storage.AbortedTxn {
	all := l.abortedView()
	i, _ := slices.BinarySearchFunc(all, from, func(a storage.AbortedTxn, off int64) int {
		return cmp.Compare(a.LastOffset, off)
	})
	var out []storage.AbortedTxn
	for _, a := range all[i:] {
		if a.FirstOffset < to {
			out = append(out, a)
		}
	}
	return out
}

// foldProducersLocked moves the pending batches below next into the
// durable copy. Caller holds pidMu.
func (l *Log) foldProducersLocked(next int64) {
	if next <= l.pidsDurableAt {
		return
	}
	n := 0
	for n < len(l.pidPending) && l.pidPending[n].h.NextOffset() <= next {
		l.pidsDurable.Update(&l.pidPending[n].h, l.pidPending[n].ctrl)
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
	l.pidsDurable.TrimAborted(l.start.Load())
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
		w := window{f: s.f, chunk: 64 << 10} // a window caches one file
		pos := int64(0)
		if from > s.base {
			_, p := lookupIndex(s.index, uint32(from-s.base))
			pos = int64(p)
		}
		var cerr error
		_, _, err := scanHeaders(s, &w, pos, s.size, func(pos int64, h *batch.Header) bool {
			if h.BaseOffset < from || h.ProducerID < 0 {
				return false
			}
			ctrl := int16(-1)
			if h.Control() {
				// Recovery checked the batch: its first record is there.
				var cb []byte
				if cb, cerr = w.at(pos, s.size, min(h.Size(), batch.HeaderSize+32)); cerr != nil {
					cerr = ioErr(s, pos, cerr)
					return true
				}
				if ctrl, cerr = batch.ControlType(cb); cerr != nil {
					cerr = corruptAt(s, pos, cerr)
					return true
				}
			}
			st.Update(h, ctrl)
			return false
		})
		if err = cmp.Or(err, cerr); err != nil {
			return fmt.Errorf("fs: open %s: rebuild producer state: %w", l.dir, err)
		}
	}
	st.TrimAborted(l.start.Load())
	l.pids = st
	l.firstUnstable.Store(st.FirstUnstableOffset())
	if a := st.Aborted(); len(a) > 0 {
		v := slices.Clone(a)
		l.aborted.Store(&v)
	}
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

// ActiveProducers implements storage.Log.
func (l *Log) ActiveProducers() []storage.ActiveProducer {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.pids.Active()
}

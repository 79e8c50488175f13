package group

// A share group's partition (KIP-932; Kafka's SharePartition): which of its
// records are in flight and in what state.
//
// The share-partition start offset (start) is the first record not done
// with: every record below it was acknowledged or archived. recs holds the
// records from start on that were delivered at least once (or are gaps
// and control records, archived as they are met), one entry per offset;
// records after them were never delivered. A record is
//
//	available     may be acquired (again)
//	acquired      locked by one member until its lock expires
//	acknowledged  accepted: done
//	archived      rejected, delivered too often, a gap, a control record,
//	              or (read_committed) of an aborted transaction: done
//
// and start moves past every done record at the front. Acquiring
// increments a record's delivery count; a record that becomes available
// again (released, or its lock expired) with share.delivery.count.limit
// deliveries behind it is archived instead. No more than
// group.share.partition.max.record.locks records are in flight (the
// in-flight window); re-acquiring released ones is always possible.
//
// mu guards everything but the fields set at creation; the coordinator's
// mu, when both are held, is taken first.

import (
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/streamhouse/streamhouse/batch"
	"github.com/streamhouse/streamhouse/meta"
)

type recState int8

const (
	recAvailable recState = iota
	recAcquired
	recAcked
	recArchived
)

// The acknowledgement types (Kafka's AcknowledgeType; 4 is KIP-1222's
// renew).
const (
	ackGap     int8 = 0
	ackAccept  int8 = 1
	ackRelease int8 = 2
	ackReject  int8 = 3
	ackRenew   int8 = 4
)

type inflight struct {
	state  recState
	count  int16     // deliveries
	member string    // who holds the lock, while acquired
	expiry time.Time // when the lock ends, while acquired
}

type sharePart struct {
	group     string
	topicID   [16]byte
	partition int32

	mu         sync.Mutex
	loaded     bool // start is set (initialized, or loaded from the catalog)
	stateEpoch int32
	start      int64
	recs       []inflight // offsets [start, start+len(recs))
	acquired   int        // entries acquired
	lockTimer  *timer
	lockAt     time.Time // when lockTimer fires; zero when none
	// perRecord is the log's bytes per record as the last reads found
	// them (0: not known yet), to read what an acquisition takes.
	perRecord int
	deleted   bool // the state goes from the catalog

	// seq counts changes to store, written and failed as for groups.
	seq, written, failed uint64

	// The cluster mode (leadshare.go): fence is the partition's lease as
	// this broker held it when it took the state up; needLoad says the
	// state is still to be read from the catalog; fenced is up to which
	// a write was fenced (the lease lost: those changes are never stored).
	// dropped, that it was forgotten here (its catalog state stays).
	fence    meta.Fence
	needLoad bool
	dropped  bool
	fenced   uint64
}

func (sp *sharePart) key() meta.SharePartitionKey {
	return meta.SharePartitionKey{Group: sp.group, TopicID: sp.topicID, Partition: sp.partition}
}

// end is the offset after the last record in flight.
func (sp *sharePart) end() int64 { return sp.start + int64(len(sp.recs)) }

// advanceLocked moves start past the done records at the front, and past
// records below logStart (gone from the log).
func (sp *sharePart) advanceLocked(logStart int64) {
	n := 0
	for n < len(sp.recs) && (sp.recs[n].state == recAcked || sp.recs[n].state == recArchived) {
		n++
	}
	if logStart > sp.start+int64(n) {
		for i := n; i < len(sp.recs) && sp.start+int64(i) < logStart; i++ {
			if sp.recs[i].state == recAcquired {
				sp.acquired--
			}
			n = i + 1
		}
	}
	if n > 0 {
		sp.recs = sp.recs[n:]
		sp.start += int64(n)
		// Let the front go: copy when the live part is a small
		// share of what the array holds.
		if cap(sp.recs) > 64 && len(sp.recs) < cap(sp.recs)/4 {
			sp.recs = slices.Clone(sp.recs)
		}
	}
	if logStart > sp.start {
		sp.start = logStart
	}
}

// readSizeLocked is how many bytes of the log to read to acquire
// maxRecords records: a quarter more than the last reads' bytes per
// record say, within [64 KiB, limit].
func (sp *sharePart) readSizeLocked(maxRecords, limit int) int {
	if sp.perRecord <= 0 {
		return limit
	}
	return min(max(maxRecords*sp.perRecord*5/4, 64<<10), limit)
}

// sawReadLocked notes what a read of the log returned: batches holding
// records records in n bytes.
func (sp *sharePart) sawReadLocked(n int, records int64) {
	if records <= 0 || n <= 0 {
		return
	}
	per := max(int(int64(n)/records), 1)
	if sp.perRecord <= 0 {
		sp.perRecord = per
		return
	}
	sp.perRecord = (3*sp.perRecord + per) / 4
}

// releaseLocked makes an acquired record available again, or archives it
// when it was delivered limit times.
func (sp *sharePart) releaseLocked(r *inflight, limit int32) {
	if r.state != recAcquired {
		return
	}
	sp.acquired--
	r.member, r.expiry = "", time.Time{}
	if int32(r.count) >= limit {
		r.state = recArchived
	} else {
		r.state = recAvailable
	}
}

// releaseMemberLocked releases every record member holds; it reports
// whether any did.
func (sp *sharePart) releaseMemberLocked(member string, limit int32) bool {
	any := false
	for i := range sp.recs {
		if r := &sp.recs[i]; r.state == recAcquired && r.member == member {
			sp.releaseLocked(r, limit)
			any = true
		}
	}
	return any
}

// expireLocked releases the records whose lock ended by now; it reports
// whether any did, and returns when the next lock ends (zero for none).
func (sp *sharePart) expireLocked(now time.Time, limit int32) (released bool, next time.Time) {
	for i := range sp.recs {
		r := &sp.recs[i]
		if r.state != recAcquired {
			continue
		}
		if !r.expiry.After(now) {
			sp.releaseLocked(r, limit)
			released = true
			continue
		}
		if next.IsZero() || r.expiry.Before(next) {
			next = r.expiry
		}
	}
	return released, next
}

// firstAcquirable is the first offset a fetch may acquire: the first
// available record in flight, or the end when none is and the window has
// room; -1 when nothing can be.
func (sp *sharePart) firstAcquirable(maxLocks int) int64 {
	for i := range sp.recs {
		if sp.recs[i].state == recAvailable {
			return sp.start + int64(i)
		}
	}
	if len(sp.recs) >= maxLocks {
		return -1
	}
	return sp.end()
}

// acquireOpts is what one acquisition may take.
type acquireOpts struct {
	member     string
	maxRecords int
	// strict stops at maxRecords within a batch (KIP-1206's
	// record_limit mode); otherwise whole batches are acquired and
	// maxRecords is a target.
	strict   bool
	limit    int64 // the offset not to reach: the high watermark, or the last stable offset
	maxLocks int
	until    time.Time // the locks' end
	aborted  func(producerID, offset int64) bool
}

// acquireLocked acquires records of batches (whole batches as the log
// returned them, from some offset on) for o.member and returns the batches
// that hold acquired records, and the acquired ranges with their delivery
// counts. Records done with, or held by another member, are skipped;
// control batches and (read_committed) aborted transactions' batches are
// archived as they are met, never delivered.
func (sp *sharePart) acquireLocked(batches []byte, o acquireOpts) ([]byte, []kmsg.ShareFetchResponseTopicPartitionAcquiredRecord) {
	var out []byte
	var acq []kmsg.ShareFetchResponseTopicPartitionAcquiredRecord
	n := 0
	add := func(off int64, count int16) {
		if k := len(acq) - 1; k >= 0 && acq[k].LastOffset == off-1 && acq[k].DeliveryCount == count {
			acq[k].LastOffset = off
			return
		}
		acq = append(acq, kmsg.ShareFetchResponseTopicPartitionAcquiredRecord{FirstOffset: off, LastOffset: off, DeliveryCount: count})
	}
	for len(batches) > 0 && n < o.maxRecords {
		h, err := batch.ReadHeader(batches)
		if err != nil || h.Size() > len(batches) {
			break
		}
		b := batches[:h.Size()]
		batches = batches[h.Size():]
		first, last := h.BaseOffset, h.LastOffset()
		if last < sp.start {
			continue
		}
		if first >= o.limit {
			break
		}
		// Records between the end and this batch are gone (compacted
		// away) or never were: archived, so that start passes them.
		if first > sp.end() {
			if len(sp.recs) == 0 {
				sp.start = first
			} else {
				gap := first - sp.end()
				if int64(len(sp.recs))+gap > int64(o.maxLocks) {
					break
				}
				for range gap {
					sp.recs = append(sp.recs, inflight{state: recArchived})
				}
			}
		}
		done := h.Control() || h.Transactional() && o.aborted != nil && o.aborted(h.ProducerID, first)
		took := false
		for off := max(first, sp.start); off <= last && off < o.limit; off++ {
			if o.strict && n >= o.maxRecords {
				break
			}
			i := off - sp.start
			if i >= int64(len(sp.recs)) {
				if len(sp.recs) >= o.maxLocks {
					break
				}
				sp.recs = append(sp.recs, inflight{state: recAvailable})
			}
			r := &sp.recs[i]
			if r.state != recAvailable {
				continue
			}
			if done {
				r.state = recArchived
				continue
			}
			r.state, r.member, r.expiry = recAcquired, o.member, o.until
			r.count++
			sp.acquired++
			add(off, r.count)
			took = true
			n++
		}
		if took {
			out = append(out, b...)
		}
	}
	return out, acq
}

// ackError is why an acknowledgement batch is refused.
type ackError int8

const (
	ackOK ackError = iota
	ackInvalidState
	ackInvalidRequest
)

// ackLocked applies one acknowledgement batch of member: each offset of
// [first, last] must be acquired by member (INVALID_RECORD_STATE
// otherwise; nothing of the batch is applied then). types holds one type
// for the whole batch, or one per offset.
func (sp *sharePart) ackLocked(member string, first, last int64, types []int8, limit int32, renewUntil time.Time) ackError {
	if last < first || len(types) == 0 || len(types) != 1 && int64(len(types)) != last-first+1 {
		return ackInvalidRequest
	}
	for _, t := range types {
		if t < ackGap || t > ackRenew {
			return ackInvalidRequest
		}
	}
	if first < sp.start || last >= sp.end() {
		return ackInvalidState
	}
	for off := first; off <= last; off++ {
		if r := &sp.recs[off-sp.start]; r.state != recAcquired || r.member != member {
			return ackInvalidState
		}
	}
	for off := first; off <= last; off++ {
		t := types[0]
		if len(types) > 1 {
			t = types[off-first]
		}
		r := &sp.recs[off-sp.start]
		switch t {
		case ackAccept:
			sp.acquired--
			r.state, r.member, r.expiry = recAcked, "", time.Time{}
		case ackGap, ackReject:
			sp.acquired--
			r.state, r.member, r.expiry = recArchived, "", time.Time{}
		case ackRelease:
			sp.releaseLocked(r, limit)
		case ackRenew:
			r.expiry = renewUntil
		}
	}
	return ackOK
}

// inFlight counts the records done with after start (acknowledged or
// archived), for the lag.
func (sp *sharePart) doneLocked() int64 {
	var n int64
	for i := range sp.recs {
		if s := sp.recs[i].state; s == recAcked || s == recArchived {
			n++
		}
	}
	return n
}

// stateLocked is the partition's state as the catalog stores it: acquired
// records as available, since their locks do not survive a restart.
func (sp *sharePart) stateLocked(now time.Time) meta.ShareState {
	s := meta.ShareState{Group: sp.group, TopicID: sp.topicID, Partition: sp.partition, StateEpoch: sp.stateEpoch,
		StartOffset: sp.start, UpdateTime: now.Truncate(time.Millisecond)}
	for i := range sp.recs {
		r := &sp.recs[i]
		st := meta.ShareAvailable
		switch r.state {
		case recAcked:
			st = meta.ShareAcknowledged
		case recArchived:
			st = meta.ShareArchived
		}
		off := sp.start + int64(i)
		if k := len(s.Batches) - 1; k >= 0 && s.Batches[k].LastOffset == off-1 && s.Batches[k].State == st && s.Batches[k].DeliveryCount == r.count {
			s.Batches[k].LastOffset = off
			continue
		}
		s.Batches = append(s.Batches, meta.ShareBatch{FirstOffset: off, LastOffset: off, State: st, DeliveryCount: r.count})
	}
	return s
}

// loadLocked sets the partition from a stored state.
func (sp *sharePart) loadLocked(s meta.ShareState) {
	if s.StartOffset < 0 {
		// Reset to nothing: it starts again by
		// share.auto.offset.reset, at the epoch the reset left.
		sp.loaded, sp.stateEpoch, sp.recs, sp.acquired = false, s.StateEpoch, nil, 0
		return
	}
	sp.loaded, sp.stateEpoch, sp.start = true, s.StateEpoch, s.StartOffset
	sp.recs, sp.acquired = nil, 0
	for _, b := range s.Batches {
		if b.LastOffset < sp.start {
			continue
		}
		st := recAvailable
		switch b.State {
		case meta.ShareAcknowledged:
			st = recAcked
		case meta.ShareArchived:
			st = recArchived
		}
		for off := max(b.FirstOffset, sp.start); off <= b.LastOffset; off++ {
			for sp.end() < off {
				// Not stored: never delivered.
				sp.recs = append(sp.recs, inflight{state: recAvailable})
			}
			sp.recs = append(sp.recs, inflight{state: st, count: b.DeliveryCount})
		}
	}
	sp.advanceLocked(0)
}

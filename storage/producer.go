package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"maps"
	"math"
	"slices"

	"github.com/streamhouse/streamhouse/batch"
)

// Errors of idempotent appends (Kafka's ProducerStateManager). An engine
// returns them from Log.Append, wrapped; the broker answers with the Kafka
// code of the same name.
var (
	// ErrDuplicateBatch: the batch is a retry of one of its producer's
	// last MaxProducerBatches batches. Append stores nothing and returns
	// the base offset the batch got the first time, with this error.
	ErrDuplicateBatch = errors.New("storage: duplicate batch")
	// ErrOutOfOrderSequence: the batch's first sequence does not follow
	// its producer's last (OUT_OF_ORDER_SEQUENCE_NUMBER).
	ErrOutOfOrderSequence = errors.New("storage: out of order sequence number")
	// ErrInvalidProducerEpoch: the batch's producer epoch is older than
	// the producer's current one (INVALID_PRODUCER_EPOCH).
	ErrInvalidProducerEpoch = errors.New("storage: invalid producer epoch")
	// ErrUnknownProducerID: the log holds no state for the producer (never
	// seen, or expired) and the batch does not start its sequence at 0
	// (UNKNOWN_PRODUCER_ID): the client resets its sequence and retries.
	ErrUnknownProducerID = errors.New("storage: unknown producer id")
)

// MaxProducerBatches is how many of a producer's last batches a log keeps
// to answer retries: the most requests in flight an idempotent producer may
// have (Kafka's ProducerStateEntry.NUM_BATCHES_TO_RETAIN).
const MaxProducerBatches = 5

// ProducerBatch is what a log keeps of one idempotent batch.
type ProducerBatch struct {
	FirstSeq, LastSeq       int32
	FirstOffset, LastOffset int64
}

// ProducerEntry is one producer's state in one partition.
type ProducerEntry struct {
	Epoch int16
	// Batches are its last batches of Epoch, oldest first, at most
	// MaxProducerBatches.
	Batches []ProducerBatch
	// LastTimestamp is the max timestamp of its last batch (ms), what
	// producer.id.expiration.ms counts from, as Kafka.
	LastTimestamp int64
	// TxnFirstOffset is the first offset of its open transaction in this
	// partition, -1 when none.
	TxnFirstOffset int64
}

// AbortedTxn is an aborted transaction's range in one partition: what a
// read_committed Fetch lists so that consumers drop its records.
type AbortedTxn struct {
	ProducerID  int64
	FirstOffset int64 // its first batch
	LastOffset  int64 // its abort marker
}

// ProducerState is a partition's idempotent producers: what Log.Append
// checks a batch with producer id against. It is not safe for concurrent
// use; a log guards it with its append lock.
type ProducerState struct {
	m       map[int64]*ProducerEntry
	aborted []AbortedTxn // by LastOffset
	open    int          // entries with an open transaction
}

// Len is the number of producers held.
func (s *ProducerState) Len() int { return len(s.m) }

// Entry returns the state of producer id, or nil.
func (s *ProducerState) Entry(id int64) *ProducerEntry { return s.m[id] }

// Check tells what appending the batch with header h would do. It returns
// (offset, ErrDuplicateBatch) for a retry, one of the other sentinel
// errors for a batch the log must refuse, and (0, nil) for a batch to
// append. Batches without producer id and control batches always pass.
func (s *ProducerState) Check(h *batch.Header) (int64, error) {
	if h.ProducerID < 0 || h.Control() {
		return 0, nil
	}
	e := s.m[h.ProducerID]
	if e == nil {
		if h.BaseSequence != 0 {
			return 0, fmt.Errorf("%w: producer %d has no state in this partition and its batch starts at sequence %d", ErrUnknownProducerID, h.ProducerID, h.BaseSequence)
		}
		return 0, nil
	}
	switch {
	case h.ProducerEpoch < e.Epoch:
		return 0, fmt.Errorf("%w: producer %d epoch %d is older than its current epoch %d", ErrInvalidProducerEpoch, h.ProducerID, h.ProducerEpoch, e.Epoch)
	case h.ProducerEpoch > e.Epoch:
		// A new epoch starts its sequences again.
		if h.BaseSequence != 0 {
			return 0, fmt.Errorf("%w: producer %d's new epoch %d starts at sequence %d, not 0", ErrOutOfOrderSequence, h.ProducerID, h.ProducerEpoch, h.BaseSequence)
		}
		return 0, nil
	}
	last := lastSeq(h)
	for _, b := range e.Batches {
		if b.FirstSeq == h.BaseSequence && b.LastSeq == last {
			return b.FirstOffset, ErrDuplicateBatch
		}
	}
	if n := len(e.Batches); n > 0 && !inSequence(e.Batches[n-1].LastSeq, h.BaseSequence) {
		return 0, fmt.Errorf("%w: producer %d epoch %d sent sequence %d, expected %d", ErrOutOfOrderSequence, h.ProducerID, h.ProducerEpoch, h.BaseSequence, nextSeq(e.Batches[n-1].LastSeq))
	}
	return 0, nil
}

// Update records the batch with header h (its BaseOffset set) as
// appended. Logs call it after Check passed, and for every batch replayed
// at recovery. ctrl is the control record type of a control batch
// (batch.ControlType), ignored for other batches.
func (s *ProducerState) Update(h *batch.Header, ctrl int16) {
	if h.ProducerID < 0 {
		return
	}
	if s.m == nil {
		s.m = make(map[int64]*ProducerEntry)
	}
	e := s.m[h.ProducerID]
	if e == nil {
		e = &ProducerEntry{Epoch: h.ProducerEpoch, TxnFirstOffset: -1}
		s.m[h.ProducerID] = e
	}
	if h.ProducerEpoch > e.Epoch || h.ProducerEpoch != e.Epoch && !h.Control() {
		e.Epoch = h.ProducerEpoch
		e.Batches = e.Batches[:0]
	}
	e.LastTimestamp = h.MaxTimestamp
	if h.Control() {
		// A transaction marker ends the producer's transaction here; an
		// abort is remembered for read_committed fetches.
		if e.TxnFirstOffset >= 0 {
			if ctrl == batch.ControlAbort {
				s.aborted = append(s.aborted, AbortedTxn{ProducerID: h.ProducerID, FirstOffset: e.TxnFirstOffset, LastOffset: h.BaseOffset})
			}
			e.TxnFirstOffset = -1
			s.open--
		}
		return
	}
	if h.Transactional() && e.TxnFirstOffset < 0 {
		e.TxnFirstOffset = h.BaseOffset
		s.open++
	}
	if len(e.Batches) == MaxProducerBatches {
		copy(e.Batches, e.Batches[1:])
		e.Batches = e.Batches[:MaxProducerBatches-1]
	}
	e.Batches = append(e.Batches, ProducerBatch{
		FirstSeq: h.BaseSequence, LastSeq: lastSeq(h),
		FirstOffset: h.BaseOffset, LastOffset: h.LastOffset(),
	})
}

// FirstUnstableOffset is the first offset of the oldest open transaction,
// or -1 when none is open: the last stable offset's bound.
func (s *ProducerState) FirstUnstableOffset() int64 {
	if s.open == 0 {
		return -1
	}
	first := int64(-1)
	for _, e := range s.m {
		if e.TxnFirstOffset >= 0 && (first < 0 || e.TxnFirstOffset < first) {
			first = e.TxnFirstOffset
		}
	}
	return first
}

// Aborted returns the aborted transactions, by the offset of their abort
// marker. The slice is shared: callers must not change it.
func (s *ProducerState) Aborted() []AbortedTxn { return s.aborted }

// TrimAborted forgets aborted transactions whose marker is below offset
// (the log start offset: nothing of them is left to read).
func (s *ProducerState) TrimAborted(offset int64) {
	n := 0
	for n < len(s.aborted) && s.aborted[n].LastOffset < offset {
		n++
	}
	if n > 0 {
		s.aborted = slices.Clone(s.aborted[n:])
	}
}

// Expire removes producers whose last batch is older than maxAgeMs at
// nowMs (producer.id.expiration.ms), except those with an open
// transaction, and returns how many went.
func (s *ProducerState) Expire(nowMs, maxAgeMs int64) int {
	n := 0
	for id, e := range s.m {
		if e.TxnFirstOffset < 0 && nowMs-e.LastTimestamp >= maxAgeMs {
			delete(s.m, id)
			n++
		}
	}
	return n
}

// Clone returns a deep copy.
func (s *ProducerState) Clone() ProducerState {
	c := ProducerState{m: make(map[int64]*ProducerEntry, len(s.m)), aborted: slices.Clone(s.aborted), open: s.open}
	for id, e := range s.m {
		ce := *e
		ce.Batches = slices.Clone(e.Batches)
		c.m[id] = &ce
	}
	return c
}

// lastSeq is the sequence of h's last record; sequences wrap at MaxInt32.
func lastSeq(h *batch.Header) int32 {
	return int32((int64(h.BaseSequence) + int64(h.LastOffsetDelta)) % (math.MaxInt32 + 1))
}

func nextSeq(seq int32) int32 {
	if seq == math.MaxInt32 {
		return 0
	}
	return seq + 1
}

func inSequence(last, first int32) bool { return first == nextSeq(last) }

// Producer snapshot encoding: what a log writes beside its checkpoint so
// that recovery replays only the batches after it.
//
//	magic "SHPS" | version u8 | offset i64 | count u32 | entries | aborted count u32 | aborted | crc32c u32
//	entry: id i64 | epoch i16 | lastTimestamp i64 | txnFirstOffset i64 | n u8 | n × (firstSeq i32, lastSeq i32, firstOffset i64, lastOffset i64)
//	aborted: id i64 | firstOffset i64 | lastOffset i64
//
// Version 1 had neither txnFirstOffset nor the aborted list.
const (
	snapshotMagic   = "SHPS"
	snapshotVersion = 2
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ErrBadSnapshot: producer snapshot bytes failed their checks.
var ErrBadSnapshot = errors.New("storage: bad producer snapshot")

// AppendSnapshot appends to dst the encoding of s as of offset (the offset
// after the last batch s covers).
func (s *ProducerState) AppendSnapshot(dst []byte, offset int64) []byte {
	start := len(dst)
	dst = append(dst, snapshotMagic...)
	dst = append(dst, snapshotVersion)
	dst = binary.BigEndian.AppendUint64(dst, uint64(offset))
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(s.m)))
	for _, id := range slices.Sorted(maps.Keys(s.m)) {
		e := s.m[id]
		dst = binary.BigEndian.AppendUint64(dst, uint64(id))
		dst = binary.BigEndian.AppendUint16(dst, uint16(e.Epoch))
		dst = binary.BigEndian.AppendUint64(dst, uint64(e.LastTimestamp))
		dst = binary.BigEndian.AppendUint64(dst, uint64(e.TxnFirstOffset))
		dst = append(dst, byte(len(e.Batches)))
		for _, b := range e.Batches {
			dst = binary.BigEndian.AppendUint32(dst, uint32(b.FirstSeq))
			dst = binary.BigEndian.AppendUint32(dst, uint32(b.LastSeq))
			dst = binary.BigEndian.AppendUint64(dst, uint64(b.FirstOffset))
			dst = binary.BigEndian.AppendUint64(dst, uint64(b.LastOffset))
		}
	}
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(s.aborted)))
	for _, a := range s.aborted {
		dst = binary.BigEndian.AppendUint64(dst, uint64(a.ProducerID))
		dst = binary.BigEndian.AppendUint64(dst, uint64(a.FirstOffset))
		dst = binary.BigEndian.AppendUint64(dst, uint64(a.LastOffset))
	}
	return binary.BigEndian.AppendUint32(dst, crc32.Checksum(dst[start:], castagnoli))
}

// ParseSnapshot decodes a snapshot written by AppendSnapshot (version 1 or
// 2) and returns the state and its offset.
func ParseSnapshot(b []byte) (ProducerState, int64, error) {
	const head = len(snapshotMagic) + 1 + 8 + 4
	bad := func(why string) (ProducerState, int64, error) {
		return ProducerState{}, 0, fmt.Errorf("%w: %s", ErrBadSnapshot, why)
	}
	if len(b) < head+4 {
		return bad("too short")
	}
	body, sum := b[:len(b)-4], binary.BigEndian.Uint32(b[len(b)-4:])
	if crc32.Checksum(body, castagnoli) != sum {
		return bad("checksum mismatch")
	}
	version := body[4]
	if string(body[:4]) != snapshotMagic || version != 1 && version != snapshotVersion {
		return bad("unknown magic or version")
	}
	offset := int64(binary.BigEndian.Uint64(body[5:]))
	count := binary.BigEndian.Uint32(body[13:])
	entryHead := 8 + 2 + 8 + 1
	if version >= 2 {
		entryHead += 8
	}
	const batchSize, abortedSize = 4 + 4 + 8 + 8, 8 + 8 + 8
	rest := body[head:]
	if uint64(count)*uint64(entryHead) > uint64(len(rest)) || offset < 0 {
		return bad("count or offset out of range")
	}
	s := ProducerState{m: make(map[int64]*ProducerEntry, count)}
	prev := int64(-1)
	for range count {
		if len(rest) < entryHead {
			return bad("entry cut short")
		}
		id := int64(binary.BigEndian.Uint64(rest))
		e := &ProducerEntry{
			Epoch:          int16(binary.BigEndian.Uint16(rest[8:])),
			LastTimestamp:  int64(binary.BigEndian.Uint64(rest[10:])),
			TxnFirstOffset: -1,
		}
		if version >= 2 {
			e.TxnFirstOffset = int64(binary.BigEndian.Uint64(rest[18:]))
		}
		n := int(rest[entryHead-1])
		rest = rest[entryHead:]
		if id <= prev || n > MaxProducerBatches || len(rest) < n*batchSize || e.TxnFirstOffset < -1 {
			return bad("entry out of range or out of order")
		}
		prev = id
		if e.TxnFirstOffset >= 0 {
			s.open++
		}
		e.Batches = make([]ProducerBatch, n)
		for i := range n {
			e.Batches[i] = ProducerBatch{
				FirstSeq:    int32(binary.BigEndian.Uint32(rest)),
				LastSeq:     int32(binary.BigEndian.Uint32(rest[4:])),
				FirstOffset: int64(binary.BigEndian.Uint64(rest[8:])),
				LastOffset:  int64(binary.BigEndian.Uint64(rest[16:])),
			}
			rest = rest[batchSize:]
		}
		s.m[id] = e
	}
	if version >= 2 {
		if len(rest) < 4 {
			return bad("aborted list cut short")
		}
		na := binary.BigEndian.Uint32(rest)
		rest = rest[4:]
		if uint64(na)*abortedSize != uint64(len(rest)) {
			return bad("aborted list length")
		}
		if na > 0 {
			s.aborted = make([]AbortedTxn, na)
		}
		for i := range s.aborted {
			a := AbortedTxn{
				ProducerID:  int64(binary.BigEndian.Uint64(rest)),
				FirstOffset: int64(binary.BigEndian.Uint64(rest[8:])),
				LastOffset:  int64(binary.BigEndian.Uint64(rest[16:])),
			}
			if a.ProducerID < 0 || a.FirstOffset < 0 || a.LastOffset < a.FirstOffset || i > 0 && a.LastOffset <= s.aborted[i-1].LastOffset {
				return bad("aborted transaction out of range or out of order")
			}
			s.aborted[i] = a
			rest = rest[abortedSize:]
		}
	}
	if len(rest) != 0 {
		return bad("trailing bytes")
	}
	return s, offset, nil
}

// ActiveProducer is one producer's state in a partition, as
// DescribeProducers shows it.
type ActiveProducer struct {
	ID             int64
	Epoch          int16
	LastSequence   int32 // -1 when it has no batch of its epoch
	LastTimestamp  int64
	TxnStartOffset int64 // -1 when no transaction is open
}

// LastOffsets maps each producer with a batch of its current epoch to the
// last offset of its last batch: the batch that log compaction must keep
// (empty if need be) so that the producer's sequence survives a rebuild of
// the state from the log.
func (s *ProducerState) LastOffsets() map[int64]int64 {
	out := make(map[int64]int64, len(s.m))
	for id, e := range s.m {
		if n := len(e.Batches); n > 0 {
			out[id] = e.Batches[n-1].LastOffset
		}
	}
	return out
}

// Active lists the producers, by id.
func (s *ProducerState) Active() []ActiveProducer {
	out := make([]ActiveProducer, 0, len(s.m))
	for _, id := range slices.Sorted(maps.Keys(s.m)) {
		e := s.m[id]
		last := int32(-1)
		if n := len(e.Batches); n > 0 {
			last = e.Batches[n-1].LastSeq
		}
		out = append(out, ActiveProducer{ID: id, Epoch: e.Epoch, LastSequence: last, LastTimestamp: e.LastTimestamp, TxnStartOffset: e.TxnFirstOffset})
	}
	return out
}

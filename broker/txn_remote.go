package broker

// Transactions across brokers (the cluster mode): a transaction's
// coordinator (the broker holding its transactional id's shard) and the
// leaders of its partitions are different brokers. Kafka's coordinator
// sends WriteTxnMarkers to each leader, and each leader asks the
// coordinator whether a transactional batch's partition was added
// (KIP-890's verification). Here both go through the catalog that every
// broker shares, so that brokers never call each other:
//
//   - Markers: the coordinator stores the decision (PrepareCommit or
//     PrepareAbort, at some version) as it always does, writes the markers
//     of the partitions it leads itself, and asks for the others with
//     PutTxnMarkers (a change in the feed, which PostgreSQL NOTIFYs to
//     every broker at once). Each leader reads the decided state, writes
//     the marker into each of its partitions in it, waits until they are
//     durable (committed with the lease's epoch: a deposed leader's marker
//     never counts), and records them with PutTxnMarkers at that version.
//     The coordinator ends the transaction once every partition is
//     recorded. A leader that dies before recording leaves its partitions
//     to the next leader, which the coordinator asks again
//     (RetryPrepared); a marker written twice is harmless (the second
//     finds no open transaction of the producer). Records are kept per
//     version of the state, so a late one never counts for the next
//     transaction of the same producer.
//   - Verification: a leader that does not coordinate the transactional
//     id reads its state from the catalog (Produce carries the id) and
//     remembers a positive answer for the producer's epoch on that
//     partition at the partition's leader epoch, until it writes the
//     partition's next marker of that producer.
//
// Transaction version 2 (KIP-890 part 2: a produce adds its partition to
// the transaction itself) would need the leader to change the
// coordinator's state; the cluster mode finalizes transaction.version=1,
// so that clients add partitions with AddPartitionsToTxn as they did
// before Kafka 4.0.

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/streamhouse/streamhouse/broker/txn"
	"github.com/streamhouse/streamhouse/meta"
)

// remoteMarkerWait bounds how long an end waits for other brokers' markers
// before it answers (the transaction then ends in the background, and the
// producer is told CONCURRENT_TRANSACTIONS until it has).
const remoteMarkerWait = 10 * time.Second

// remoteMarkerAsk is how often a waiting coordinator asks the leaders again
// (a leader that missed the change, or a partition's new leader).
const remoteMarkerAsk = 2 * time.Second

// maxVerified bounds remoteTxns.verified.
const maxVerified = 1 << 16

// groupMarkerTopic names the group coordinators' shards among a
// transaction's marker targets, as Kafka writes a transaction's markers
// into the __consumer_offsets partitions of its groups.
const groupMarkerTopic = "__consumer_offsets"

// groupTarget is the marker target of group shard i.
func groupTarget(i int32) meta.TopicPartition {
	return meta.TopicPartition{Topic: groupMarkerTopic, Partition: i}
}

// remoteTxns is a leader's memory of the transactions it verified through
// the catalog, and the wake-ups of coordinators waiting for markers.
type remoteTxns struct {
	// stripes serialise the marker writes of a transactional id
	// (owedMarkers), by its hash.
	stripes  [64]sync.Mutex
	mu       sync.Mutex
	verified map[verifiedKey]verifiedTxn
	wake     chan struct{} // closed and replaced when markers are recorded
	serving  map[string]bool
	again    map[string]bool
	// pending are the offsets TxnOffsetCommit gave a group this broker
	// coordinates for a transaction another broker coordinates, by
	// transactional id, until its markers (OffsetFetch's require_stable).
	pending map[string][]meta.GroupOffset
}

// addPending records offsets as pending for transactional id.
func (r *remoteTxns) addPending(id string, offsets []meta.GroupOffset) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.pending == nil {
		r.pending = map[string][]meta.GroupOffset{}
	}
	r.pending[id] = append(r.pending[id], offsets...)
}

// donePending forgets id's pending offsets.
func (r *remoteTxns) donePending(id string) {
	r.mu.Lock()
	delete(r.pending, id)
	r.mu.Unlock()
}

// pendingOffset reports whether a transaction holds an offset of group for
// the partition not committed yet.
func (r *remoteTxns) pendingOffset(group, topic string, partition int32) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, offs := range r.pending {
		for _, o := range offs {
			if o.Group == group && o.Topic == topic && o.Partition == partition {
				return true
			}
		}
	}
	return false
}

type verifiedKey struct {
	tp  meta.TopicPartition
	pid int64
}

type verifiedTxn struct {
	epoch       int16 // the producer's
	leaderEpoch int32 // the partition's, when verified
}

// lock takes the marker lock of transactional id and returns its unlock.
func (r *remoteTxns) lock(id string) func() {
	h := fnv.New32a()
	h.Write([]byte(id))
	m := &r.stripes[h.Sum32()%uint32(len(r.stripes))]
	m.Lock()
	return m.Unlock
}

// forget drops what was verified for pid on tp: its transaction there
// ended with the marker just written.
func (r *remoteTxns) forget(tp meta.TopicPartition, pid int64) {
	r.mu.Lock()
	delete(r.verified, verifiedKey{tp, pid})
	r.mu.Unlock()
}

// waker returns the channel closed at the next recorded marker.
func (r *remoteTxns) waker() <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.wake == nil {
		r.wake = make(chan struct{})
	}
	return r.wake
}

// signal wakes the coordinators waiting for markers.
func (r *remoteTxns) signal() {
	r.mu.Lock()
	if r.wake != nil {
		close(r.wake)
		r.wake = nil
	}
	r.mu.Unlock()
}

// coordinatesTxn reports whether this broker coordinates transactional id.
func (s *Server) coordinatesTxn(id string) bool { return s.coordinates(s.txnLease(id)) }

// awaitRemoteMarkers asks the leaders of remote, partitions of st another
// broker leads, for their markers and waits until all are recorded.
func (s *Server) awaitRemoteMarkers(ctx context.Context, st meta.Transaction, remote []meta.TopicPartition) error {
	ctx, cancel := context.WithTimeout(ctx, remoteMarkerWait)
	defer cancel()
	var asked time.Time
	for {
		wake := s.remoteTxns.waker()
		if time.Since(asked) >= remoteMarkerAsk {
			if err := s.cfg.Catalog.PutTxnMarkers(ctx, st.ID, st.Version, nil); err != nil {
				return fmt.Errorf("asking other brokers for the markers of %d partitions: %w", len(remote), err)
			}
			asked = time.Now()
		}
		done, err := s.cfg.Catalog.TxnMarkers(ctx, st.ID, st.Version)
		if err != nil {
			return fmt.Errorf("reading the markers other brokers wrote: %w", err)
		}
		remote = slices.DeleteFunc(remote, func(tp meta.TopicPartition) bool {
			if slices.Contains(done, tp) {
				return true
			}
			if tp.Topic == groupMarkerTopic {
				return false
			}
			_, e := s.partitionOf(tp.Topic, tp.Partition)
			return e != nil // deleted since
		})
		if len(remote) == 0 {
			return nil
		}
		select {
		case <-wake:
		case <-time.After(remoteMarkerAsk):
		case <-ctx.Done():
			return fmt.Errorf("markers of %d partitions led by other brokers (%s-%d first) not written yet: %w",
				len(remote), remote[0].Topic, remote[0].Partition, ctx.Err())
		}
	}
}

// txnMarkersChanged follows a ChangeTxnMarkers change: the coordinators
// waiting here are woken, and the markers asked of this broker's
// partitions are written in the background (one run per transactional id
// at a time; a change during a run runs it again).
func (s *Server) txnMarkersChanged(id string) {
	s.remoteTxns.signal()
	if s.coordinatesTxn(id) {
		return // the coordinator writes the markers of what it leads itself
	}
	r := &s.remoteTxns
	r.mu.Lock()
	if r.serving[id] {
		if r.again == nil {
			r.again = map[string]bool{}
		}
		r.again[id] = true
		r.mu.Unlock()
		return
	}
	if r.serving == nil {
		r.serving = map[string]bool{}
	}
	r.serving[id] = true
	r.mu.Unlock()
	s.background(func() {
		for {
			if err := s.serveTxnMarkers(s.base, id); err != nil && s.base.Err() == nil {
				// The coordinator asks again (RetryPrepared).
				s.log.Warn("writing the markers another broker's transaction asked for failed", "transactional_id", id, "err", err)
			}
			r.mu.Lock()
			if !r.again[id] {
				delete(r.serving, id)
				r.mu.Unlock()
				return
			}
			delete(r.again, id)
			r.mu.Unlock()
		}
	})
}

// serveTxnMarkers writes the markers of id's decided transaction into the
// partitions of it this broker leads and records them.
func (s *Server) serveTxnMarkers(ctx context.Context, id string) error {
	st, ok, err := s.cfg.Catalog.Transaction(ctx, id)
	if err != nil || !ok || st.State != txn.PrepareCommit && st.State != txn.PrepareAbort {
		return err
	}
	_, err = s.owedMarkers(ctx, st)
	if errors.Is(err, meta.ErrConflict) {
		return nil // the transaction moved on: its markers were counted
	}
	return err
}

// owedMarkers writes the markers of st, a decided transaction as stored at
// st.Version, that this broker owes and nobody recorded yet: into the
// partitions of it this broker leads, and for the groups of it this broker
// coordinates (a commit's offsets take effect here); then records them.
// It returns the partitions and group shards left to other brokers.
//
// Every marker write of one transactional id on a broker (the
// coordinator's and a leader's) runs under one lock, after the stored
// state is read again: a marker is never written twice here, and never
// once the transaction moved on (ErrConflict), where it would end the
// same producer's next transaction.
func (s *Server) owedMarkers(ctx context.Context, st meta.Transaction) ([]meta.TopicPartition, error) {
	unlock := s.remoteTxns.lock(st.ID)
	defer unlock()
	// The records first, then the state: records read before the
	// transaction ended are only trusted if it had not ended after
	// (its end forgets them, and an empty read would write the markers
	// again, into the producer's next transaction).
	done, err := s.cfg.Catalog.TxnMarkers(ctx, st.ID, st.Version)
	if err != nil {
		return nil, err
	}
	now, ok, err := s.cfg.Catalog.Transaction(ctx, st.ID)
	if err != nil {
		return nil, err
	}
	if !ok || now.Version != st.Version {
		return nil, fmt.Errorf("transaction %q is at version %d, not %d: %w", st.ID, now.Version, st.Version, meta.ErrConflict)
	}
	recorded := func(tp meta.TopicPartition) bool { return slices.Contains(done, tp) }
	var mine, others, shards []meta.TopicPartition
	for _, tp := range st.Partitions {
		p, e := s.partitionOf(tp.Topic, tp.Partition)
		switch {
		case recorded(tp), e != nil: // written, or deleted
		case s.leads(p):
			mine = append(mine, tp)
		default:
			others = append(others, tp)
		}
	}
	for _, g := range st.Groups {
		key := s.groupLease(g)
		sh := groupTarget(key.Partition)
		switch {
		case recorded(sh), slices.Contains(shards, sh), slices.Contains(others, sh):
		case s.coordinates(key):
			shards = append(shards, sh)
		default:
			others = append(others, sh)
		}
	}
	commit := st.State == txn.PrepareCommit
	moved, err := s.writeLocalMarkers(ctx, mine, st.ProducerID, st.ProducerEpoch, commit)
	if err != nil {
		return nil, err
	}
	others = append(others, moved...)
	written := slices.DeleteFunc(mine, func(tp meta.TopicPartition) bool { return slices.Contains(moved, tp) })
	if len(shards) > 0 {
		// This broker's groups in the transaction: a commit's offsets
		// take effect here now (the decision is durable; the
		// coordinator stores them with the transaction's end), and
		// they are pending no more.
		if commit {
			var offs []meta.GroupOffset
			for _, o := range st.Offsets {
				if s.ownsGroup(o.Group) {
					offs = append(offs, o)
				}
			}
			s.groups.ApplyTxnOffsets(offs)
		}
		s.remoteTxns.donePending(st.ID)
		written = append(written, shards...)
	}
	if len(written) > 0 {
		if err := s.cfg.Catalog.PutTxnMarkers(ctx, st.ID, st.Version, written); err != nil {
			return nil, err
		}
	}
	return others, nil
}

// leads reports whether this broker leads p.
func (s *Server) leads(p *partition) bool {
	_, ok := s.leaderEpochOf(p)
	return ok
}

// verifyRemote is the coordinator's Verify for a transactional id another
// broker coordinates: pid's transaction at epoch is open and added tp, as
// the catalog says.
func (s *Server) verifyRemote(ctx context.Context, id string, pid int64, epoch int16, p *partition, tp meta.TopicPartition) *kerr.Error {
	leaderEpoch, _ := s.leaderEpochOf(p)
	key := verifiedKey{tp, pid}
	r := &s.remoteTxns
	r.mu.Lock()
	v, ok := r.verified[key]
	r.mu.Unlock()
	if ok && v.epoch == epoch && v.leaderEpoch == leaderEpoch {
		return nil
	}
	st, found, err := s.cfg.Catalog.Transaction(ctx, id)
	switch {
	case err != nil:
		// Kafka's answer when the coordinator cannot be asked: retriable.
		s.log.Log(ctx, meta.LogLevel(err, slog.LevelWarn), "verifying a transactional batch against the catalog failed", "transactional_id", id, "err", err)
		return kerr.NotEnoughReplicas
	case !found:
		return kerr.InvalidTxnState
	}
	if e := txn.VerifyState(&st, pid, epoch, tp); e != nil {
		return e
	}
	r.mu.Lock()
	if r.verified == nil || len(r.verified) >= maxVerified {
		// Entries of partitions led elsewhere since are never forgotten
		// by a marker: dropped all at once now and then.
		r.verified = map[verifiedKey]verifiedTxn{}
	}
	r.verified[key] = verifiedTxn{epoch, leaderEpoch}
	r.mu.Unlock()
	return nil
}

// commitRemoteTxnOffsets is the transaction coordinator's CommitOffsets
// for a transactional id another broker coordinates: the offsets are added
// to the transaction's stored state (conditional on its version; read
// again and retried when the coordinator wrote meanwhile), where the
// coordinator finds them (Config.Shared) and commits them at the end.
// addGroup adds the group to the transaction first (TxnOffsetCommit v5+).
func (s *Server) commitRemoteTxnOffsets(ctx context.Context, id string, pid int64, epoch int16, group string, offsets []meta.GroupOffset, addGroup bool) *kerr.Error {
	for range 10 {
		st, found, err := s.cfg.Catalog.Transaction(ctx, id)
		if err != nil {
			s.log.Log(ctx, meta.LogLevel(err, slog.LevelError), "reading a transaction another broker coordinates failed", "transactional_id", id, "err", err)
			return kerr.CoordinatorNotAvailable
		}
		if !found {
			return kerr.InvalidProducerIDMapping
		}
		if e := txn.Check(&st, pid, epoch); e != nil {
			return e
		}
		switch st.State {
		case txn.PrepareCommit, txn.PrepareAbort, txn.PrepareEpochFence:
			return kerr.ConcurrentTransactions
		}
		if addGroup && !slices.Contains(st.Groups, group) {
			st.Groups = append(st.Groups, group)
			if st.State != txn.Ongoing {
				st.State, st.StartTime = txn.Ongoing, s.now().Truncate(time.Millisecond)
			}
		}
		if st.State != txn.Ongoing || !slices.Contains(st.Groups, group) {
			return kerr.InvalidTxnState
		}
		txn.MergeOffsets(&st, offsets)
		st.UpdateTime = s.now().Truncate(time.Millisecond)
		err = s.cfg.Catalog.PutTransaction(ctx, st, nil)
		if errors.Is(err, meta.ErrConflict) {
			continue // the coordinator wrote meanwhile
		}
		if err != nil {
			s.log.Log(ctx, meta.LogLevel(err, slog.LevelError), "storing a transaction's offsets failed", "transactional_id", id, "err", err)
			return kerr.CoordinatorNotAvailable
		}
		s.remoteTxns.addPending(id, offsets)
		return nil
	}
	return kerr.ConcurrentTransactions
}

// applyTxnOffsets is txn.Config.CommittedOffsets: the offsets of the groups
// this broker coordinates take effect (another broker's took effect when
// it wrote the transaction's markers).
func (s *Server) applyTxnOffsets(offsets []meta.GroupOffset) {
	if s.clustered() {
		offsets = slices.DeleteFunc(slices.Clone(offsets), func(o meta.GroupOffset) bool { return !s.ownsGroup(o.Group) })
	}
	s.groups.ApplyTxnOffsets(offsets)
}

// sharedTxn is txn.Config.Shared: a transaction with a group another
// broker coordinates may have offsets added there (commitRemoteTxnOffsets).
func (s *Server) sharedTxn(st *meta.Transaction) bool {
	if !s.clustered() {
		return false
	}
	for _, g := range st.Groups {
		if !s.ownsGroup(g) {
			return true
		}
	}
	return false
}

// txnFence is txn.Config.Fence: in the cluster mode, a transactional id's
// state is stored under its shard's lease (nil otherwise).
func (s *Server) txnFence() func(id string) (meta.Fence, bool) { return s.shardFence(s.txnLease) }

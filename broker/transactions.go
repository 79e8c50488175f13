package broker

// Transactions (the exactly-once issue), served by the coordinator in
// broker/txn: InitProducerId with a transactional id, AddPartitionsToTxn
// v0-v5, AddOffsetsToTxn v0-v4, EndTxn v0-v5, TxnOffsetCommit v0-v6. The
// broker writes the coordinator's markers into its partitions and checks
// that a transactional batch belongs to an open transaction that added its
// partition (KIP-890 part 1's defence against hanging transactions, for
// every client version).
//
// Transaction version 2 (KIP-890 part 2), advertised as the finalized
// feature transaction.version=2: Produce v12+ adds its partition to the
// transaction itself, TxnOffsetCommit v5+ its group, and EndTxn v5+ bumps
// the epoch at each end (the markers carry the new one, fencing late
// batches of the old). Clients that do not know the feature use version 1.

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/streamhouse/streamhouse/batch"
	"github.com/streamhouse/streamhouse/broker/txn"
	"github.com/streamhouse/streamhouse/internal/fault"
	"github.com/streamhouse/streamhouse/meta"
	"github.com/streamhouse/streamhouse/storage"
)

func (s *Server) newTxnCoordinator() *txn.Coordinator {
	return txn.New(txn.Config{
		Store:         s.cfg.Catalog,
		NewProducerID: s.newProducerID,
		WriteMarkers:  s.writeMarkers,
		PartitionExists: func(topic string, p int32) bool {
			_, e := s.partitionOf(topic, p)
			return e == nil
		},
		CommittedOffsets: s.applyTxnOffsets,
		MaxTimeoutMs:     s.settings().TransactionMaxTimeoutMs(),
		Owns:             s.coordinatesTxn,
		Fence:            s.txnFence(),
		Shared:           s.sharedTxn,
		Logger:           s.log,
		Now:              s.now,
	})
}

// writeMarkers writes the end markers of st, a decided transaction, and
// waits until all are durable: into the partitions this broker leads
// itself, and, in the cluster mode, through the catalog into those other
// brokers lead (awaitRemoteMarkers).
func (s *Server) writeMarkers(ctx context.Context, st meta.Transaction) error {
	if !s.clustered() {
		_, err := s.writeLocalMarkers(ctx, st.Partitions, st.ProducerID, st.ProducerEpoch, st.State == txn.PrepareCommit)
		return err
	}
	remote, err := s.owedMarkers(ctx, st)
	if err != nil || len(remote) == 0 {
		return err
	}
	return s.awaitRemoteMarkers(ctx, st, remote)
}

// writeLocalMarkers appends a commit or abort marker to each partition
// this broker leads and waits until all are durable. A partition deleted
// meanwhile is skipped; those led by another broker (the cluster mode)
// are returned.
func (s *Server) writeLocalMarkers(ctx context.Context, parts []meta.TopicPartition, pid int64, epoch int16, commit bool) ([]meta.TopicPartition, error) {
	typ := batch.ControlAbort
	if commit {
		typ = batch.ControlCommit
	}
	now := s.now().UnixMilli()
	type written struct {
		tp   meta.TopicPartition
		log  storage.Log
		next int64
	}
	var done []written
	var remote []meta.TopicPartition
	var failed error
	// gone sorts out a partition whose marker could not be written or
	// committed here: deleted (skipped), given up to another broker or
	// given up while the marker waited for its commit (the cluster mode:
	// a closed log, or not led here; its leader writes it, and a marker
	// that did commit before the handover is then written twice, which
	// the log takes), or failed.
	gone := func(tp meta.TopicPartition, err error) bool {
		if _, e := s.partitionOf(tp.Topic, tp.Partition); e != nil {
			return true // deleted under us
		}
		if errors.Is(err, storage.ErrNotLeader) || s.clustered() && errors.Is(err, storage.ErrClosed) {
			remote = append(remote, tp)
			return true
		}
		return errors.Is(err, storage.ErrClosed) // a single broker's: deleted
	}
	// One commit round for all the markers, started by the SyncTo calls
	// below, which run whatever happens.
	actx := storage.HoldCommit(ctx)
	for _, tp := range parts {
		l, err := s.logOf(ctx, tp.Topic, tp.Partition)
		var base int64
		if err == nil {
			base, err = l.Append(actx, batch.MakeControl(typ, pid, epoch, 0, now))
		}
		if err != nil {
			if gone(tp, err) {
				continue
			}
			failed = fmt.Errorf("marker for %s/%d: %w", tp.Topic, tp.Partition, err)
			break
		}
		s.remoteTxns.forget(tp, pid)
		s.log.Debug("transaction marker appended", "topic", tp.Topic, "partition", tp.Partition, "offset", base, "producer_id", pid, "commit", commit)
		done = append(done, written{tp, l, base + 1})
		fault.Crash("txn-marker")
	}
	for _, w := range done {
		if err := w.log.SyncTo(ctx, w.next); err != nil && !gone(w.tp, err) && failed == nil {
			failed = fmt.Errorf("marker for %s/%d: %w", w.tp.Topic, w.tp.Partition, err)
		}
	}
	return remote, failed
}

// txnLoop finishes decided ends whose markers failed and aborts timed-out
// transactions every
// transaction.abort.timed.out.transaction.cleanup.interval.ms, and forgets
// transactional ids idle for transactional.id.expiration.ms every
// transaction.remove.expired.transaction.cleanup.interval.ms, until
// Shutdown.
func (s *Server) txnLoop() {
	defer s.bg.Done()
	set := s.settings()
	abort := time.NewTicker(time.Duration(set.TransactionAbortTimedOutIntervalMs()) * time.Millisecond)
	defer abort.Stop()
	expire := time.NewTicker(time.Duration(set.TransactionRemoveExpiredIntervalMs()) * time.Millisecond)
	defer expire.Stop()
	for {
		select {
		case <-s.shutdown:
			return
		case <-abort.C:
			s.txns.RetryPrepared(s.base)
			s.txns.AbortTimedOut(s.base)
		case <-expire.C:
			maxAge := time.Duration(set.TransactionalIDExpirationMs()) * time.Millisecond
			if n := s.txns.ExpireIDs(s.base, maxAge); n > 0 {
				s.log.Info("expired idle transactional ids", "transactional_ids", n, "transactional_id_expiration_ms", maxAge.Milliseconds())
			}
		}
	}
}

// fenced is PRODUCER_FENCED for versions that know it (KIP-588) and
// INVALID_PRODUCER_EPOCH before, as Kafka answers.
func fenced(e *kerr.Error, version, since int16) *kerr.Error {
	if e == kerr.ProducerFenced && version < since {
		return kerr.InvalidProducerEpoch
	}
	return e
}

func code(e *kerr.Error) int16 {
	if e == nil {
		return 0
	}
	return e.Code
}

func (s *Server) initTransactionalProducerID(ctx context.Context, req *kmsg.InitProducerIDRequest, resp *kmsg.InitProducerIDResponse) {
	pid, epoch, e := s.txns.InitProducerID(ctx, *req.TransactionalID, req.TransactionTimeoutMillis, req.ProducerID, req.ProducerEpoch)
	resp.ProducerID, resp.ProducerEpoch = pid, epoch
	resp.ErrorCode = code(fenced(e, req.Version, 4))
}

func (s *Server) handleAddPartitionsToTxn(ctx context.Context, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.AddPartitionsToTxnRequest)
	resp := req.ResponseKind().(*kmsg.AddPartitionsToTxnResponse)
	txns := req.Transactions
	if req.Version < 4 {
		// v0-v3 carry one transaction, from its producer; v4+ batches
		// of them, sent by brokers (KIP-890). Both go the v4 way.
		tr := kmsg.NewAddPartitionsToTxnRequestTransaction()
		tr.TransactionalID, tr.ProducerID, tr.ProducerEpoch = req.TransactionalID, req.ProducerID, req.ProducerEpoch
		for _, t := range req.Topics {
			tt := kmsg.NewAddPartitionsToTxnRequestTransactionTopic()
			tt.Topic, tt.Partitions = t.Topic, t.Partitions
			tr.Topics = append(tr.Topics, tt)
		}
		txns = []kmsg.AddPartitionsToTxnRequestTransaction{tr}
	}
	for _, tr := range txns {
		resp.Transactions = append(resp.Transactions, s.addPartitionsToTxn(ctx, &tr, req.Version))
	}
	if req.Version < 4 {
		for _, t := range resp.Transactions[0].Topics {
			rt := kmsg.NewAddPartitionsToTxnResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewAddPartitionsToTxnResponseTopicPartition()
				rp.Partition, rp.ErrorCode = p.Partition, p.ErrorCode
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		resp.Transactions = nil
	}
	return resp, nil
}

// addPartitionsToTxn adds (or, with verify_only, checks) one transaction's
// partitions and answers each.
func (s *Server) addPartitionsToTxn(ctx context.Context, tr *kmsg.AddPartitionsToTxnRequestTransaction, version int16) kmsg.AddPartitionsToTxnResponseTransaction {
	var parts []meta.TopicPartition
	for _, t := range tr.Topics {
		for _, p := range t.Partitions {
			parts = append(parts, meta.TopicPartition{Topic: t.Topic, Partition: p})
		}
	}
	var all *kerr.Error
	each := map[meta.TopicPartition]*kerr.Error{}
	if tr.VerifyOnly {
		for _, p := range parts {
			each[p] = s.txns.Verify(tr.ProducerID, tr.ProducerEpoch, p)
		}
	} else {
		all, each = s.txns.AddPartitions(ctx, tr.TransactionalID, tr.ProducerID, tr.ProducerEpoch, parts)
		all = fenced(all, version, 2)
	}
	rtx := kmsg.NewAddPartitionsToTxnResponseTransaction()
	rtx.TransactionalID = tr.TransactionalID
	for _, t := range tr.Topics {
		rt := kmsg.NewAddPartitionsToTxnResponseTransactionTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewAddPartitionsToTxnResponseTransactionTopicPartition()
			rp.Partition = p
			rp.ErrorCode = code(all)
			if all == nil {
				rp.ErrorCode = code(each[meta.TopicPartition{Topic: t.Topic, Partition: p}])
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		rtx.Topics = append(rtx.Topics, rt)
	}
	return rtx
}

func (s *Server) handleAddOffsetsToTxn(ctx context.Context, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.AddOffsetsToTxnRequest)
	resp := req.ResponseKind().(*kmsg.AddOffsetsToTxnResponse)
	if req.Group == "" {
		resp.ErrorCode = kerr.InvalidGroupID.Code
		return resp, nil
	}
	resp.ErrorCode = code(fenced(s.txns.AddOffsets(ctx, req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Group), req.Version, 2))
	return resp, nil
}

func (s *Server) handleEndTxn(ctx context.Context, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.EndTxnRequest)
	resp := req.ResponseKind().(*kmsg.EndTxnResponse)
	pid, epoch, e := s.txns.EndTxn(ctx, req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Commit, req.Version >= 5)
	if e == nil {
		fault.Crash("catalog-answer")
	}
	resp.ErrorCode = code(fenced(e, req.Version, 2))
	if req.Version >= 5 {
		resp.ProducerID, resp.ProducerEpoch = pid, epoch
		if e != nil {
			resp.ProducerID, resp.ProducerEpoch = -1, -1
		}
	}
	return resp, nil
}

func (s *Server) handleTxnOffsetCommit(ctx context.Context, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.TxnOffsetCommitRequest)
	resp := req.ResponseKind().(*kmsg.TxnOffsetCommitResponse)
	answer := func(each func(topic string, p *kmsg.TxnOffsetCommitRequestTopicPartition) *kerr.Error) {
		for _, t := range req.Topics {
			rt := kmsg.NewTxnOffsetCommitResponseTopic()
			rt.Topic, rt.TopicID = t.Topic, t.TopicID
			for i := range t.Partitions {
				rp := kmsg.NewTxnOffsetCommitResponseTopicPartition()
				rp.Partition = t.Partitions[i].Partition
				rp.ErrorCode = code(each(t.Topic, &t.Partitions[i]))
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
	}
	all := func(e *kerr.Error) {
		answer(func(string, *kmsg.TxnOffsetCommitRequestTopicPartition) *kerr.Error { return e })
	}
	if req.Version >= 3 {
		if e := s.groups.ValidateTxnCommit(req.Group, req.MemberID, req.InstanceID, req.Generation); e != nil {
			all(e)
			return resp, nil
		}
	} else if req.Group == "" {
		all(kerr.InvalidGroupID)
		return resp, nil
	}
	now := s.now().Truncate(time.Millisecond)
	maxMeta := int(s.settings().OffsetMetadataMaxBytes())
	var offsets []meta.GroupOffset
	bad := map[*kmsg.TxnOffsetCommitRequestTopicPartition]*kerr.Error{}
	for ti := range req.Topics {
		t := &req.Topics[ti]
		if req.Version >= 6 {
			// v6 names topics by ID.
			if tt := s.topics.getID(meta.TopicID(t.TopicID)); tt != nil {
				t.Topic = tt.Name
			} else {
				for i := range t.Partitions {
					bad[&t.Partitions[i]] = kerr.UnknownTopicID
				}
				continue
			}
		}
		tp := s.topics.get(t.Topic)
		for i := range t.Partitions {
			rp := &t.Partitions[i]
			md := ""
			if rp.Metadata != nil {
				md = *rp.Metadata
			}
			switch {
			case tp == nil || tp.partition(rp.Partition) == nil:
				bad[rp] = kerr.UnknownTopicOrPartition
			case len(md) > maxMeta:
				bad[rp] = kerr.OffsetMetadataTooLarge
			default:
				epoch := int32(-1)
				if req.Version >= 2 {
					epoch = rp.LeaderEpoch
				}
				offsets = append(offsets, meta.GroupOffset{Group: req.Group, Topic: t.Topic, Partition: rp.Partition,
					Offset: rp.Offset, LeaderEpoch: epoch, Metadata: md, CommitTime: now})
			}
		}
	}
	var e *kerr.Error
	if len(offsets) > 0 && s.clustered() && !s.coordinatesTxn(req.TransactionalID) {
		// Another broker coordinates the transaction (txn_remote.go).
		e = fenced(s.commitRemoteTxnOffsets(ctx, req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Group, offsets, req.Version >= 5), req.Version, 3)
		offsets = nil
	}
	if len(offsets) > 0 && req.Version >= 5 {
		// Transaction version 2: the group joins the transaction here.
		e = s.txns.AddOffsets(ctx, req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Group)
	}
	if len(offsets) > 0 && e == nil {
		e = fenced(s.txns.CommitOffsets(ctx, req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Group, offsets), req.Version, 3)
	}
	answer(func(_ string, rp *kmsg.TxnOffsetCommitRequestTopicPartition) *kerr.Error {
		if b := bad[rp]; b != nil {
			return b
		}
		return e
	})
	return resp, nil
}

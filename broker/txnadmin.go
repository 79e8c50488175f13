package broker

// DescribeProducers v0, DescribeTransactions v0, ListTransactions v0-v2:
// what kafka-transactions.sh and kadm show of producers and transactions.

import (
	"context"
	"regexp"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/streamhouse/streamhouse/broker/txn"
	"github.com/streamhouse/streamhouse/meta"
)

func (s *Server) handleDescribeProducers(ctx context.Context, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.DescribeProducersRequest)
	resp := req.ResponseKind().(*kmsg.DescribeProducersResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewDescribeProducersResponseTopic()
		st.Topic = rt.Topic
		for _, p := range rt.Partitions {
			sp := kmsg.NewDescribeProducersResponseTopicPartition()
			sp.Partition = p
			l, err := s.logOf(ctx, rt.Topic, p)
			switch {
			case err != nil:
				sp.ErrorCode = errorCode(err)
			default:
				for _, a := range l.ActiveProducers() {
					ap := kmsg.NewDescribeProducersResponseTopicPartitionActiveProducer()
					ap.ProducerID, ap.ProducerEpoch = a.ID, int32(a.Epoch)
					ap.LastSequence, ap.LastTimestamp = a.LastSequence, a.LastTimestamp
					ap.CoordinatorEpoch, ap.CurrentTxnStartOffset = -1, a.TxnStartOffset
					if a.TxnStartOffset >= 0 {
						ap.CoordinatorEpoch = 0
					}
					sp.ActiveProducers = append(sp.ActiveProducers, ap)
				}
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}

func (s *Server) handleDescribeTransactions(ctx context.Context, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.DescribeTransactionsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeTransactionsResponse)
	found := s.txns.Describe(req.TransactionalIDs)
	for _, id := range req.TransactionalIDs {
		ts := kmsg.NewDescribeTransactionsResponseTransactionState()
		ts.TransactionalID = id
		st, ok := found[id]
		if !s.coordinatesTxn(id) {
			// Another broker coordinates it (the cluster mode); what
			// this one read of it may be stale.
			ts.ErrorCode = kerr.NotCoordinator.Code
			resp.TransactionStates = append(resp.TransactionStates, ts)
			continue
		}
		if !ok {
			ts.ErrorCode = kerr.TransactionalIDNotFound.Code
			resp.TransactionStates = append(resp.TransactionStates, ts)
			continue
		}
		ts.State, ts.TimeoutMillis = st.State, st.TimeoutMs
		ts.StartTimestamp = -1
		if !st.StartTime.IsZero() {
			ts.StartTimestamp = st.StartTime.UnixMilli()
		}
		ts.ProducerID, ts.ProducerEpoch = st.ProducerID, st.ProducerEpoch
		byTopic := map[string][]int32{}
		var order []string
		for _, p := range st.Partitions {
			if _, ok := byTopic[p.Topic]; !ok {
				order = append(order, p.Topic)
			}
			byTopic[p.Topic] = append(byTopic[p.Topic], p.Partition)
		}
		for _, name := range order {
			tt := kmsg.NewDescribeTransactionsResponseTransactionStateTopic()
			tt.Topic, tt.Partitions = name, byTopic[name]
			ts.Topics = append(ts.Topics, tt)
		}
		resp.TransactionStates = append(resp.TransactionStates, ts)
	}
	return resp, nil
}

// txnStates are the states ListTransactions filters by.
var txnStates = []string{txn.Empty, txn.Ongoing, txn.PrepareCommit, txn.PrepareAbort, txn.CompleteCommit, txn.CompleteAbort, txn.PrepareEpochFence}

func (s *Server) handleListTransactions(ctx context.Context, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.ListTransactionsRequest)
	resp := req.ResponseKind().(*kmsg.ListTransactionsResponse)
	states := map[string]bool{}
	for _, f := range req.StateFilters {
		if slices.Contains(txnStates, f) {
			states[f] = true
		} else {
			resp.UnknownStateFilters = append(resp.UnknownStateFilters, f)
		}
	}
	var re *regexp.Regexp
	if req.TransactionalIDPattern != nil && *req.TransactionalIDPattern != "" {
		var err error
		if re, err = regexp.Compile(*req.TransactionalIDPattern); err != nil {
			resp.ErrorCode = kerr.InvalidRegularExpression.Code
			return resp, nil
		}
	}
	now := s.now()
	keep := func(st meta.Transaction) bool {
		switch {
		case len(req.StateFilters) > 0 && !states[st.State]:
			return false
		case len(req.ProducerIDFilters) > 0 && !slices.Contains(req.ProducerIDFilters, st.ProducerID):
			return false
		case re != nil && !re.MatchString(st.ID):
			return false
		case req.DurationFilterMillis >= 0 && req.Version >= 1:
			// Only transactions running longer than the duration.
			return st.State == txn.Ongoing && now.Sub(st.StartTime).Milliseconds() > req.DurationFilterMillis
		}
		return true
	}
	if len(resp.UnknownStateFilters) > 0 && len(states) == 0 {
		return resp, nil
	}
	for _, st := range s.txns.List() {
		if !keep(st) || !s.coordinatesTxn(st.ID) {
			continue // another broker lists what it coordinates (the cluster mode)
		}
		ts := kmsg.NewListTransactionsResponseTransactionState()
		ts.TransactionalID, ts.ProducerID, ts.TransactionState = st.ID, st.ProducerID, st.State
		resp.TransactionStates = append(resp.TransactionStates, ts)
	}
	return resp, nil
}

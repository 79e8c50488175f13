package broker

// Fetch: v4-v18.
//
// Batches are returned as stored, never decoded. A partition returns whole
// batches starting with the one that holds fetch_offset, up to its
// partition_max_bytes and what is left of the request's max_bytes; the
// first partition with data returns at least one whole batch even when it
// is larger than both limits (KIP-74). Each partition reports the high
// watermark, the last stable offset (equal to it until transactions land)
// and the log start offset. A fetch offset below the log start or above the
// high watermark gets OFFSET_OUT_OF_RANGE.
//
// Long poll: when fewer than min_bytes are available, the request waits up
// to max_wait_ms for any of its partitions to grow, then answers with what
// there is. An error in any partition answers at once. Shutdown wakes
// waiters; a closed connection cancels them.
//
// Fetch sessions (KIP-227) are declined: the answer's session_id is 0, so
// clients send full fetch requests, which every client accepts. A request
// naming a session id gets FETCH_SESSION_ID_NOT_FOUND; a session epoch other
// than 0 or -1 without a session gets INVALID_FETCH_SESSION_EPOCH.
//
// current_leader_epoch (v9+) is checked against the partition's epoch, 0:
// a larger one is UNKNOWN_LEADER_EPOCH. v13+ addresses topics by ID
// (UNKNOWN_TOPIC_ID). Fetches from replicas (replica_id >= 0) are refused
// with NOT_LEADER_OR_FOLLOWER: this broker has no followers.
// last_fetched_epoch (v12+) needs no divergence check while every partition
// has only ever had epoch 0. Rack (v11+) is ignored: there is one replica to
// read from.

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/streamhouse/streamhouse/batch"
	"github.com/streamhouse/streamhouse/meta"
	"github.com/streamhouse/streamhouse/storage"
)

const (
	readCommitted = 1
	// fetchBufHint bounds the buffer allocated up front for a fetch's
	// records; it grows as reads need.
	fetchBufHint = 1 << 20
	// maxPooledFetchBuf is the largest fetch buffer kept for reuse.
	maxPooledFetchBuf = 128 << 20
)

// fetchPart is one partition of a fetch request, resolved.
type fetchPart struct {
	resp *kmsg.FetchResponseTopicPartition
	req  *kmsg.FetchRequestTopicPartition
	t    *topic      // nil when err is set
	l    storage.Log // nil when err is set
	err  error       // set for the whole request's life
}

func (s *Server) handleFetch(ctx context.Context, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.FetchRequest)
	resp := req.ResponseKind().(*kmsg.FetchResponse)

	if req.Version >= 7 {
		switch {
		case req.SessionID != 0:
			resp.ErrorCode = kerr.FetchSessionIDNotFound.Code
			return resp, nil
		case req.SessionEpoch != 0 && req.SessionEpoch != -1:
			resp.ErrorCode = kerr.InvalidFetchSessionEpoch.Code
			return resp, nil
		}
		resp.SessionID = 0
	}
	replica := req.ReplicaID
	if req.Version >= 15 {
		replica = req.ReplicaState.ID
	}

	var parts []fetchPart
	resp.Topics = make([]kmsg.FetchResponseTopic, len(req.Topics))
	for i := range req.Topics {
		rt := &req.Topics[i]
		st := &resp.Topics[i]
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		var t *topic
		var topicErr error
		if req.Version >= 13 {
			if t = s.topics.getID(meta.TopicID(rt.TopicID)); t == nil {
				topicErr = kerr.UnknownTopicID
			} else {
				st.Topic = t.Name
			}
		} else if t = s.topics.get(rt.Topic); t == nil {
			topicErr = kerr.UnknownTopicOrPartition
		}
		st.Partitions = make([]kmsg.FetchResponseTopicPartition, len(rt.Partitions))
		for j := range rt.Partitions {
			rp := &rt.Partitions[j]
			sp := &st.Partitions[j]
			sp.Default()
			sp.Partition = rp.Partition
			fp := fetchPart{resp: sp, req: rp, err: topicErr}
			switch {
			case fp.err != nil:
			case replica >= 0:
				fp.err = kerr.NotLeaderForPartition
			default:
				if p := t.partition(rp.Partition); p == nil {
					fp.err = kerr.UnknownTopicOrPartition
				} else if fp.err = s.checkLeader(p, rp.CurrentLeaderEpoch); fp.err != nil {
				} else if fp.l, fp.err = p.get(ctx); fp.err == nil {
					fp.t = t
				}
			}
			parts = append(parts, fp)
		}
	}
	// The response's topic slices hold the partitions; parts point into
	// them.

	var deadline <-chan time.Time
	var wake chan struct{}
	// The records are read into a pooled buffer, returned once the
	// response is encoded: a consumer's fetches reuse the same memory
	// instead of allocating, zeroing and growing tens of MiB each.
	bp, _ := s.fetchBufs.Get().(*[]byte)
	if bp == nil {
		bp = new([]byte)
	}
	buf := (*bp)[:0]
	defer func() {
		if cap(buf) <= maxPooledFetchBuf {
			r.release = func() {
				*bp = buf[:0]
				s.fetchBufs.Put(bp)
			}
		}
	}()
	for attempt := 0; ; attempt++ {
		var total int
		var failed bool
		buf, total, failed = s.fillFetch(ctx, req, parts, buf, attempt > 0)
		if failed || total >= int(req.MinBytes) || req.MaxWaitMillis <= 0 {
			break
		}
		if attempt == 0 {
			timer := time.NewTimer(time.Duration(req.MaxWaitMillis) * time.Millisecond)
			defer timer.Stop()
			deadline = timer.C
			wake = make(chan struct{}, 1)
			for _, fp := range parts {
				if fp.l != nil {
					fp.l.Watch(wake)
					defer fp.l.Unwatch(wake)
				}
			}
			// Data may have arrived between the read and Watch.
			continue
		}
		began := time.Now()
		woke := false
		select {
		case <-wake:
			woke = true
		case <-deadline:
		case <-ctx.Done():
		case <-s.shutdown:
		}
		r.waited += time.Since(began)
		if woke {
			continue
		}
		// Out of time: answer with what there is now.
		buf, _, _ = s.fillFetch(ctx, req, parts, buf, true)
		break
	}
	if s.cfg.Metrics != nil {
		for i := range parts {
			fp := &parts[i]
			if fp.resp.ErrorCode != 0 {
				r.failed = true
			}
			if n := len(fp.resp.RecordBatches); n > 0 && fp.t != nil {
				s.cfg.Metrics.Out(fp.t.Name, n, countRecords(fp.resp.RecordBatches))
			}
		}
	}
	fetched := 0
	for i := range parts {
		fetched += len(parts[i].resp.RecordBatches)
	}
	s.throttle(r, resp, "consumer_byte_rate", fetched)
	return resp, nil
}

// fillFetch reads every partition of the request into its response entry,
// reusing buf for the bytes. It returns the bytes read and whether any
// partition failed. waited says the request waited since its topics were
// resolved, so a topic may have been deleted meanwhile.
func (s *Server) fillFetch(ctx context.Context, req *kmsg.FetchRequest, parts []fetchPart, buf []byte, waited bool) ([]byte, int, bool) {
	buf = buf[:0]
	if est := fetchEstimate(req, parts); cap(buf) < est {
		// Room for the whole read at once: growing by doubling as
		// partitions are read would allocate, zero and copy again.
		buf = make([]byte, 0, est)
	} else if cap(buf) == 0 {
		buf = make([]byte, 0, min(int(max(req.MaxBytes, 0)), fetchBufHint))
	}
	remaining := int(req.MaxBytes)
	total := 0
	failed := false
	// A read that goes to object storage (tiered storage) is bounded by
	// the fetch's max wait (at least a second): a slow bucket fails the
	// partition with a retriable error rather than hold the answer past
	// the client's patience. Made only when a read needs it: local reads
	// never come near it, and the fetch path allocates nothing for them.
	var remoteCtx context.Context
	var cancelRemote context.CancelFunc
	defer func() {
		if cancelRemote != nil {
			cancelRemote()
		}
	}()
	readCtx := func(l storage.Log, off int64) context.Context {
		tl, ok := l.(tieredLog)
		if !ok || off >= tl.LocalLogStartOffset() {
			return ctx
		}
		if remoteCtx == nil {
			remoteCtx, cancelRemote = context.WithTimeout(ctx, max(time.Duration(req.MaxWaitMillis)*time.Millisecond, time.Second))
		}
		return remoteCtx
	}
	for i := range parts {
		fp := &parts[i]
		sp := fp.resp
		// Empty, not null: librdkafka rejects a null record set.
		sp.RecordBatches = []byte{}
		if waited && fp.err == nil && !s.topics.live(fp.t) {
			// Deleted while the request waited.
			fp.err = kerr.UnknownTopicOrPartition
			if req.Version >= 13 {
				fp.err = kerr.UnknownTopicID
			}
		}
		if fp.err != nil {
			sp.ErrorCode = errorCode(fp.err)
			failed = true
			continue
		}
		l := fp.l
		hw := l.HighWatermark()
		lso := l.LastStableOffset()
		sp.HighWatermark = hw
		sp.LastStableOffset = lso
		sp.LogStartOffset = l.LogStartOffset()
		committed := req.IsolationLevel == readCommitted
		if committed {
			sp.AbortedTransactions = []kmsg.FetchResponseTopicPartitionAbortedTransaction{}
		}
		if fp.req.FetchOffset == hw || committed && fp.req.FetchOffset >= lso && fp.req.FetchOffset <= hw {
			// Nothing to read (read_committed: nothing stable yet).
			continue
		}
		limit := min(int(fp.req.PartitionMaxBytes), remaining)
		if limit <= 0 && total > 0 {
			continue
		}
		start := len(buf)
		var err error
		buf, err = l.Read(readCtx(l, fp.req.FetchOffset), fp.req.FetchOffset, max(limit, 0), total == 0, buf)
		if err != nil {
			buf = buf[:start]
			sp.ErrorCode = logErrorCode(err)
			failed = true
			continue
		}
		if req.Version < 10 && hasZstd(buf[start:]) {
			// Consumers before Fetch v10 cannot read zstd (KIP-110):
			// Kafka answers UNSUPPORTED_COMPRESSION_TYPE.
			buf = buf[:start]
			sp.ErrorCode = kerr.UnsupportedCompressionType.Code
			failed = true
			continue
		}
		if committed {
			// Only batches below the last stable offset, and the
			// aborted transactions among them.
			n, last := stablePrefix(buf[start:], lso)
			buf = buf[:start+n]
			if last >= 0 {
				for _, a := range l.AbortedTransactions(fp.req.FetchOffset, last+1) {
					at := kmsg.NewFetchResponseTopicPartitionAbortedTransaction()
					at.ProducerID, at.FirstOffset = a.ProducerID, a.FirstOffset
					sp.AbortedTransactions = append(sp.AbortedTransactions, at)
				}
			}
		}
		n := len(buf) - start
		if n > 0 {
			sp.RecordBatches = buf[start:len(buf):len(buf)]
			total += n
			remaining -= n
		}
	}
	return buf, total, failed
}

// fetchEstimate guesses how many bytes a fetch reads: for each partition
// with records past its fetch offset, the offsets up to the high watermark
// at the log's average bytes an offset, a little over, within the
// partition's and the request's limits.
func fetchEstimate(req *kmsg.FetchRequest, parts []fetchPart) int {
	total := 0
	for i := range parts {
		fp := &parts[i]
		if fp.err != nil || fp.l == nil {
			continue
		}
		l := fp.l
		off, hw := fp.req.FetchOffset, l.HighWatermark()
		span := l.NextOffset() - l.LogStartOffset()
		if off < 0 || off >= hw || span <= 0 {
			continue
		}
		est := float64(l.Size())/float64(span)*float64(hw-off)*1.1 + 16<<10
		total += int(min(est, float64(max(fp.req.PartitionMaxBytes, 0))))
	}
	return min(total, int(max(req.MaxBytes, 0)))
}

// stablePrefix returns how many bytes of the whole batches in b lie below
// offset lso, and the last offset among them (-1 for none).
func stablePrefix(b []byte, lso int64) (n int, last int64) {
	last = -1
	for n < len(b) {
		h, err := batch.ReadHeader(b[n:])
		if err != nil || h.BaseOffset >= lso || n+h.Size() > len(b) {
			break
		}
		last = h.LastOffset()
		n += h.Size()
	}
	return n, last
}

// hasZstd reports whether one of the whole batches in b is zstd-compressed.
func hasZstd(b []byte) bool {
	for n := 0; n < len(b); {
		h, err := batch.ReadHeader(b[n:])
		if err != nil || n+h.Size() > len(b) {
			return false
		}
		if h.Codec() == batch.CodecZstd {
			return true
		}
		n += h.Size()
	}
	return false
}

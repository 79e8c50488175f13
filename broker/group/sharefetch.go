package group

// ShareFetch and ShareAcknowledge: share sessions, acquisition and
// acknowledgement.
//
// A share session is a member's set of partitions on this broker, keyed by
// group and member as Kafka keys it: epoch 0 opens it (replacing one the
// member had: the records that one held are released), each request after
// names the next epoch and adds partitions to it (Topics) or removes them
// (ForgottenTopicsData), and epoch -1 closes it, releasing what the member
// still holds of its partitions. Acknowledgements ride on ShareFetch
// (epoch > 0) or come in ShareAcknowledge. A request that acknowledges is
// answered once the acknowledgements are stored in the catalog: a
// restart never redelivers an accepted record.
//
// A fetch acquires records of the session's partitions, round robin, up
// to MaxRecords (whole batches: a batch is never split, so a fetch may go
// past it, as Kafka's) and MaxBytes; with nothing to acquire it waits up
// to MaxWaitMillis for records to arrive or be released. read_committed
// groups acquire up to the last stable offset only, and archive aborted
// transactions' records. Record locks expire after
// share.record.lock.duration.ms, when their records become available
// again.
//
// A share session belongs to the connection its last request came on; when
// that connection closes, the session goes and its member's records of its
// partitions are released, as Kafka's broker releases them, so another
// member gets them without waiting for their locks to expire.
//
// ShareAcquireMode (v2, KIP-1206): batch_optimized (0) acquires whole
// batches, MaxRecords a target a fetch may pass; record_limit (1) acquires
// no more than MaxRecords records, the batches that hold them returned
// whole (the client delivers the acquired records only).

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/streamhouse/streamhouse/batch"
	"github.com/streamhouse/streamhouse/storage"
)

// ShareLogs gives share fetches the partitions' logs.
type ShareLogs interface {
	// Log returns the partition's log, or the Kafka error that says why
	// it cannot be read (UNKNOWN_TOPIC_ID, UNKNOWN_TOPIC_OR_PARTITION,
	// KAFKA_STORAGE_ERROR, ...).
	Log(ctx context.Context, topicID [16]byte, partition int32) (storage.Log, *kerr.Error)
}

// sharePK names a partition of a share group.
type sharePK struct {
	topicID   [16]byte
	partition int32
}

type sessKey struct{ group, member string }

// shareSession is one member's share session. Guarded by Coordinator.mu.
type shareSession struct {
	conn  any // the connection of its latest request
	epoch int32
	parts []sharePK
	max   map[sharePK]int32 // partition max bytes
	next  int               // round robin start
}

func (s *shareSession) add(pk sharePK, maxBytes int32) {
	if _, ok := s.max[pk]; !ok {
		s.parts = append(s.parts, pk)
	}
	s.max[pk] = maxBytes
}

func (s *shareSession) forget(pk sharePK) {
	if _, ok := s.max[pk]; !ok {
		return
	}
	delete(s.max, pk)
	s.parts = slices.DeleteFunc(s.parts, func(p sharePK) bool { return p == pk })
}

// ackBatch is one acknowledgement batch of a request.
type ackBatch struct {
	first, last int64
	types       []int8
}

// sharePartLocked returns the group's state of the partition, creating it
// (not initialized) when new. Caller holds c.mu.
func (c *Coordinator) sharePartLocked(g *group, pk sharePK) *sharePart {
	sp := g.shares[pk]
	if sp == nil {
		sp = &sharePart{group: g.name, topicID: pk.topicID, partition: pk.partition}
		g.shares[pk] = sp
	}
	return sp
}

// shareGroupLocked returns the share group name, creating it empty; nil
// when the id is another kind of group's.
func (c *Coordinator) shareGroupLocked(name string) *group {
	g := c.groups[name]
	if g == nil {
		g = c.newGroupLocked(name)
	}
	switch {
	case g.typ == typeShare:
	case g.typ == "" && len(g.offsets) == 0:
		g.typ = typeShare
	default:
		return nil
	}
	return g
}

// wakeShare wakes the fetches waiting for records to acquire.
func (c *Coordinator) wakeShare() {
	c.wakeMu.Lock()
	close(c.wakeCh)
	c.wakeCh = make(chan struct{})
	c.wakeMu.Unlock()
}

func (c *Coordinator) shareWaiter() <-chan struct{} {
	c.wakeMu.Lock()
	defer c.wakeMu.Unlock()
	return c.wakeCh
}

// releaseMemberLocked releases every record member holds in group's
// partitions. Caller holds c.mu.
func (c *Coordinator) releaseMemberLocked(group, member string) {
	g := c.shareHostLocked(group)
	if g == nil {
		return
	}
	limit := c.shareConfig(group).DeliveryCountLimit
	any := false
	for _, sp := range g.shares {
		sp.mu.Lock()
		if sp.releaseMemberLocked(member, limit) {
			sp.advanceLocked(0)
			c.touchShareLocked(sp)
			any = true
		}
		sp.mu.Unlock()
	}
	if any {
		c.wakeShare()
	}
}

// closeMemberSessionsLocked drops member's share session. Caller holds
// c.mu.
func (c *Coordinator) closeMemberSessionsLocked(group, member string) {
	delete(c.sessions, sessKey{group, member})
}

// armLockTimerLocked makes sp's lock timer fire when its earliest lock
// ends. Caller holds sp.mu.
func (c *Coordinator) armLockTimerLocked(sp *sharePart, at time.Time) {
	if at.IsZero() || !sp.lockAt.IsZero() && !at.Before(sp.lockAt) {
		return
	}
	if sp.lockTimer != nil {
		sp.lockTimer.Stop()
	}
	sp.lockAt = at
	sp.lockTimer = c.afterFunc(max(at.Sub(c.now()), time.Millisecond), func() { c.expireLocks(sp) })
}

// expireLocks releases sp's records whose locks ended.
func (c *Coordinator) expireLocks(sp *sharePart) {
	limit := c.shareConfig(sp.group).DeliveryCountLimit
	sp.mu.Lock()
	sp.lockAt, sp.lockTimer = time.Time{}, nil
	if sp.deleted {
		sp.mu.Unlock()
		return
	}
	released, next := sp.expireLocked(c.now(), limit)
	if released {
		sp.advanceLocked(0)
		c.touchShareLocked(sp)
	}
	c.armLockTimerLocked(sp, next)
	sp.mu.Unlock()
	if released {
		c.wakeShare()
	}
}

// initLocked sets a new partition's start offset by the group's
// share.auto.offset.reset. Caller holds sp.mu.
func (c *Coordinator) initLocked(ctx context.Context, sp *sharePart, l storage.Log, cfg ShareConfig) {
	if sp.loaded {
		return
	}
	sp.loaded = true
	switch cfg.AutoOffsetReset {
	case "earliest":
		sp.start = l.LogStartOffset()
	case "by_duration":
		sp.start = l.HighWatermark()
		ts := c.now().Add(-cfg.ResetDuration).UnixMilli()
		if off, ok := firstAtOrAfter(ctx, l, ts); ok {
			sp.start = off
		}
	default:
		sp.start = l.HighWatermark()
	}
	c.touchShareLocked(sp)
}

// firstAtOrAfter is the offset of the log's first record stamped ts or
// later, as ListOffsets finds it.
func firstAtOrAfter(ctx context.Context, l storage.Log, ts int64) (int64, bool) {
	b, err := l.FindTimestamp(ctx, ts, nil)
	if err != nil || len(b) == 0 {
		return 0, false
	}
	h, err := batchHeader(b)
	if err != nil {
		return 0, false
	}
	if off, ok := recordAtOrAfter(b, h, ts); ok {
		return off, true
	}
	return h.NextOffset(), true
}

// recordsIn counts the offsets the batches of data span.
func recordsIn(data []byte) int64 {
	var n int64
	for len(data) > 0 {
		h, err := batch.ReadHeader(data)
		if err != nil || h.Size() > len(data) {
			break
		}
		n += h.LastOffset() - h.BaseOffset + 1
		data = data[h.Size():]
	}
	return n
}

// shareReadBytes bounds one read of a partition's log for a share fetch.
const shareReadBytes = 1 << 20

// fetchResult is one partition's share of a fetch.
type fetchResult struct {
	pk       sharePK
	records  []byte
	acquired []kmsg.ShareFetchResponseTopicPartitionAcquiredRecord
	err      *kerr.Error
}

// acquire acquires records of one partition for member.
func (c *Coordinator) acquire(ctx context.Context, g *group, sp *sharePart, member string, cfg ShareConfig, maxRecords, maxBytes int, strict bool) fetchResult {
	res := fetchResult{pk: sharePK{sp.topicID, sp.partition}}
	l, e := c.cfg.ShareLogs.Log(ctx, sp.topicID, sp.partition)
	if e != nil {
		res.err = e
		return res
	}
	limit := l.HighWatermark()
	if cfg.ReadCommitted {
		limit = l.LastStableOffset()
	}
	if e := c.loadShare(ctx, sp); e != nil {
		res.err = e
		return res
	}
	sp.mu.Lock()
	if sp.dropped {
		sp.mu.Unlock()
		return res
	}
	c.initLocked(ctx, sp, l, cfg)
	sp.advanceLocked(l.LogStartOffset())
	from := sp.firstAcquirable(c.cfg.SharePartitionMaxRecordLocks)
	readMax := sp.readSizeLocked(maxRecords, min(maxBytes, shareReadBytes))
	sp.mu.Unlock()
	if from < 0 || from >= limit {
		return res
	}
	// Read what the records to acquire likely take, not all the request
	// allows: a fetch takes maxRecords (500 by default), and records
	// locked by others are skipped, not returned. Compressed batches of
	// small records hold thousands in a few KiB.
	data, err := l.Read(ctx, from, readMax, true, nil)
	if err != nil {
		if errors.Is(err, storage.ErrOffsetOutOfRange) {
			return res // retention moved the start meanwhile; the next fetch catches up
		}
		res.err = kerr.KafkaStorageError
		return res
	}
	var aborted func(pid, off int64) bool
	if cfg.ReadCommitted {
		txns := l.AbortedTransactions(from, limit)
		aborted = func(pid, off int64) bool {
			for _, t := range txns {
				if t.ProducerID == pid && off >= t.FirstOffset && off < t.LastOffset {
					return true
				}
			}
			return false
		}
	}
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if sp.deleted || sp.dropped {
		return res
	}
	sp.sawReadLocked(len(data), recordsIn(data))
	res.records, res.acquired = sp.acquireLocked(data, acquireOpts{
		member: member, maxRecords: maxRecords, strict: strict, limit: limit, maxLocks: c.cfg.SharePartitionMaxRecordLocks,
		until: c.now().Add(cfg.RecordLockDuration), aborted: aborted,
	})
	sp.advanceLocked(0)
	if len(res.acquired) > 0 {
		c.armLockTimerLocked(sp, c.now().Add(cfg.RecordLockDuration))
	}
	return res
}

// ackResult is one partition's acknowledgements' outcome.
type ackResult struct {
	pk  sharePK
	err *kerr.Error
	sp  *sharePart
	seq uint64 // the state to be durable before the answer
}

// applyAcks applies member's acknowledgements of one partition.
func (c *Coordinator) applyAcks(g *group, pk sharePK, member string, batches []ackBatch, cfg ShareConfig, renewAllowed bool) ackResult {
	res := ackResult{pk: pk}
	f, e := c.leaderFence(pk)
	if e != nil {
		res.err = e
		return res
	}
	c.mu.Lock()
	sp := g.shares[pk]
	c.mu.Unlock()
	if sp != nil && c.clustered() {
		sp.mu.Lock()
		if sp.fence != f || sp.dropped {
			sp = nil // acquired under an earlier lease: those locks are gone
		}
		sp.mu.Unlock()
	}
	if sp == nil {
		res.err = kerr.InvalidRecordState
		return res
	}
	// Batches in order and not overlapping, as Kafka checks.
	prev := int64(-1)
	for _, b := range batches {
		if b.first <= prev || b.last < b.first {
			res.err = kerr.InvalidRequest
			return res
		}
		prev = b.last
		if !renewAllowed && slices.Contains(b.types, ackRenew) {
			res.err = kerr.InvalidRequest
			return res
		}
	}
	sp.mu.Lock()
	defer sp.mu.Unlock()
	released := false
	for _, b := range batches {
		switch sp.ackLocked(member, b.first, b.last, b.types, cfg.DeliveryCountLimit, c.now().Add(cfg.RecordLockDuration)) {
		case ackInvalidState:
			res.err = kerr.InvalidRecordState
		case ackInvalidRequest:
			res.err = kerr.InvalidRequest
		default:
			released = released || slices.Contains(b.types, ackRelease)
			continue
		}
		break
	}
	sp.advanceLocked(0)
	res.sp, res.seq = sp, c.touchShareLocked(sp)
	if released {
		defer c.wakeShare()
	}
	return res
}

// ShareFetch serves ShareFetch v1-v2; conn identifies the connection it came
// on (ConnClosed).
func (c *Coordinator) ShareFetch(ctx context.Context, req *kmsg.ShareFetchRequest, conn any) *kmsg.ShareFetchResponse {
	resp := req.ResponseKind().(*kmsg.ShareFetchResponse)
	group, member := deref(req.GroupID), deref(req.MemberID)
	fail := func(e *kerr.Error) *kmsg.ShareFetchResponse {
		resp.ErrorCode = e.Code
		return resp
	}
	if group == "" || member == "" || len(member) > 36 || c.cfg.ShareLogs == nil {
		return fail(kerr.InvalidRequest)
	}
	renew := req.Version >= 2 && req.IsRenewAck
	if req.ShareAcquireMode != 0 && req.ShareAcquireMode != 1 {
		return fail(kerr.InvalidRequest)
	}
	if renew && (req.MaxBytes != 0 || req.MinBytes != 0 || req.MaxRecords != 0 || req.MaxWaitMillis != 0) {
		return fail(kerr.InvalidRequest)
	}
	cfg := c.shareConfig(group)
	resp.AcquisitionLockTimeoutMillis = int32(cfg.RecordLockDuration.Milliseconds())
	acks := make(map[sharePK][]ackBatch)
	for _, rt := range req.Topics {
		for _, rp := range rt.Partitions {
			for _, b := range rp.AcknowledgementBatches {
				pk := sharePK{rt.TopicID, rp.Partition}
				acks[pk] = append(acks[pk], ackBatch{b.FirstOffset, b.LastOffset, b.AcknowledgeTypes})
			}
			if renew && len(rp.AcknowledgementBatches) == 0 {
				return fail(kerr.InvalidRequest)
			}
		}
	}

	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return fail(errCoordinatorNotAvailable)
	}
	host := c.shareGroupLocked
	if c.clustered() {
		// A partition's leader serves the group whatever broker
		// coordinates it, as Kafka's does: it does not know the
		// group's type.
		host = c.leadingLocked
	}
	g := host(group)
	if g == nil {
		c.mu.Unlock()
		return fail(kerr.GroupIDNotFound)
	}
	key := sessKey{group, member}
	s := c.sessions[key]
	switch {
	case req.ShareSessionEpoch == 0:
		if len(acks) > 0 {
			c.mu.Unlock()
			return fail(kerr.InvalidRequest)
		}
		if s != nil {
			c.releaseMemberLocked(group, member)
		} else if len(c.sessions) >= c.cfg.ShareMaxSessions {
			c.mu.Unlock()
			return fail(kerr.ShareSessionLimitReached)
		} else if c.groupSessionsLocked(group) == 0 {
			c.retireIdleLocked(g)
		}
		s = &shareSession{max: make(map[sharePK]int32)}
		c.sessions[key] = s
	case s == nil:
		c.mu.Unlock()
		return fail(kerr.ShareSessionNotFound)
	case req.ShareSessionEpoch != -1 && req.ShareSessionEpoch != s.epoch:
		c.mu.Unlock()
		return fail(kerr.InvalidShareSessionEpoch)
	}
	final := req.ShareSessionEpoch == -1
	if !final {
		c.bindLocked(key, s, conn)
		for _, rt := range req.Topics {
			for _, rp := range rt.Partitions {
				s.add(sharePK{rt.TopicID, rp.Partition}, rp.PartitionMaxBytes)
			}
		}
		for _, ft := range req.ForgottenTopicsData {
			for _, p := range ft.Partitions {
				s.forget(sharePK{ft.TopicID, p})
			}
		}
		if s.epoch++; s.epoch <= 0 {
			s.epoch = 1
		}
	}
	parts := slices.Clone(s.parts)
	maxes := make(map[sharePK]int32, len(parts))
	for _, pk := range parts {
		maxes[pk] = s.max[pk]
	}
	if len(parts) > 0 {
		s.next = (s.next + 1) % len(parts)
		parts = append(parts[s.next:], parts[:s.next]...)
	}
	c.mu.Unlock()

	answers := newShareAnswers(resp)
	c.ackAll(ctx, g, member, acks, cfg, renew, answers)
	if final {
		// The last request of the session: its acknowledgements, and
		// what the member still holds of its partitions goes back.
		c.mu.Lock()
		if c.sessions[key] == s {
			delete(c.sessions, key)
		}
		released := false
		limit := cfg.DeliveryCountLimit
		for _, pk := range s.parts {
			if sp := g.shares[pk]; sp != nil {
				sp.mu.Lock()
				if sp.releaseMemberLocked(member, limit) {
					sp.advanceLocked(0)
					c.touchShareLocked(sp)
					released = true
				}
				sp.mu.Unlock()
			}
		}
		c.mu.Unlock()
		if released {
			c.wakeShare()
		}
		answers.wait(ctx, c)
		return resp
	}
	if !renew && req.MaxBytes != 0 {
		c.fetchInto(ctx, g, member, parts, maxes, cfg, req, answers)
	}
	answers.wait(ctx, c)
	return resp
}

// ackAll applies the acknowledgements of a request, partition by
// partition, recording the outcome in answers.
func (c *Coordinator) ackAll(ctx context.Context, g *group, member string, acks map[sharePK][]ackBatch, cfg ShareConfig, renew bool, a *shareAnswers) {
	for _, pk := range sortedPKs(acks) {
		r := c.applyAcks(g, pk, member, acks[pk], cfg, renew)
		a.ack(r)
	}
}

func sortedPKs[V any](m map[sharePK]V) []sharePK {
	out := make([]sharePK, 0, len(m))
	for pk := range m {
		out = append(out, pk)
	}
	slices.SortFunc(out, func(a, b sharePK) int {
		if c := bytes.Compare(a.topicID[:], b.topicID[:]); c != 0 {
			return c
		}
		return int(a.partition) - int(b.partition)
	})
	return out
}

// fetchInto acquires records of parts, waiting up to the request's
// MaxWaitMillis for some when there are none, and puts them in answers.
func (c *Coordinator) fetchInto(ctx context.Context, g *group, member string, parts []sharePK, maxes map[sharePK]int32, cfg ShareConfig, req *kmsg.ShareFetchRequest, a *shareAnswers) {
	maxRecords := int(req.MaxRecords)
	if maxRecords <= 0 {
		maxRecords = 500
	}
	deadline := time.Now().Add(time.Duration(max(req.MaxWaitMillis, 0)) * time.Millisecond)
	for {
		wake := c.shareWaiter()
		var watched []storage.Log
		watchCh := make(chan struct{}, 1)
		budgetRecs, budgetBytes := maxRecords, int(req.MaxBytes)
		if budgetBytes <= 0 {
			budgetBytes = 1 << 30
		}
		got := 0
		for _, pk := range parts {
			if budgetRecs <= 0 || budgetBytes <= 0 {
				break
			}
			// A partition's own limit is v0's; from v1 the request's
			// MaxBytes bounds them all.
			pmax := budgetBytes
			if req.Version == 0 {
				if pmax = int(maxes[pk]); pmax <= 0 {
					continue
				}
			}
			f, e := c.leaderFence(pk)
			if e != nil {
				a.fetched(fetchResult{pk: pk, err: e})
				continue
			}
			c.mu.Lock()
			sp := c.leaderPartLocked(g, pk, f)
			c.mu.Unlock()
			r := c.acquire(ctx, g, sp, member, cfg, budgetRecs, min(pmax, budgetBytes), req.Version >= 2 && req.ShareAcquireMode == 1)
			if r.err != nil || len(r.acquired) > 0 {
				a.fetched(r)
			}
			for _, ar := range r.acquired {
				n := int(ar.LastOffset - ar.FirstOffset + 1)
				budgetRecs -= n
				got += n
			}
			budgetBytes -= len(r.records)
			if r.err == nil && len(r.acquired) == 0 {
				if l, e := c.cfg.ShareLogs.Log(ctx, pk.topicID, pk.partition); e == nil {
					l.Watch(watchCh)
					watched = append(watched, l)
				}
			}
		}
		wait := time.Until(deadline)
		if got > 0 || a.errs > 0 || wait <= 0 || ctx.Err() != nil {
			for _, l := range watched {
				l.Unwatch(watchCh)
			}
			return
		}
		t := time.NewTimer(wait)
		select {
		case <-wake:
		case <-watchCh:
		case <-t.C:
		case <-ctx.Done():
		}
		t.Stop()
		for _, l := range watched {
			l.Unwatch(watchCh)
		}
	}
}

// shareAnswers builds a ShareFetch (or ShareAcknowledge) response's
// partitions and remembers the states to be durable before it goes.
type shareAnswers struct {
	resp    *kmsg.ShareFetchResponse
	index   map[sharePK]int // into resp partitions: topic, partition
	durable []ackResult
	errs    int
}

func newShareAnswers(resp *kmsg.ShareFetchResponse) *shareAnswers {
	return &shareAnswers{resp: resp, index: make(map[sharePK]int)}
}

func (a *shareAnswers) part(pk sharePK) *kmsg.ShareFetchResponseTopicPartition {
	ti := -1
	for i := range a.resp.Topics {
		if a.resp.Topics[i].TopicID == pk.topicID {
			ti = i
		}
	}
	if ti < 0 {
		t := kmsg.NewShareFetchResponseTopic()
		t.TopicID = pk.topicID
		a.resp.Topics = append(a.resp.Topics, t)
		ti = len(a.resp.Topics) - 1
	}
	t := &a.resp.Topics[ti]
	for i := range t.Partitions {
		if t.Partitions[i].Partition == pk.partition {
			return &t.Partitions[i]
		}
	}
	p := kmsg.NewShareFetchResponseTopicPartition()
	p.Partition = pk.partition
	p.CurrentLeader.LeaderID, p.CurrentLeader.LeaderEpoch = -1, -1
	t.Partitions = append(t.Partitions, p)
	return &t.Partitions[len(t.Partitions)-1]
}

func (a *shareAnswers) ack(r ackResult) {
	p := a.part(r.pk)
	if r.err != nil {
		p.AcknowledgeErrorCode = r.err.Code
	}
	if r.sp != nil {
		a.durable = append(a.durable, r)
	}
}

func (a *shareAnswers) fetched(r fetchResult) {
	p := a.part(r.pk)
	if r.err != nil {
		p.ErrorCode = r.err.Code
		a.errs++
		return
	}
	p.Records = append(p.Records, r.records...)
	p.AcquiredRecords = append(p.AcquiredRecords, r.acquired...)
}

// wait holds the answer until the acknowledged states are stored; a
// partition whose store failed answers its acknowledgements with
// KAFKA_STORAGE_ERROR... the acknowledgement stands in memory and is
// stored by a later round, so the client may retry it.
func (a *shareAnswers) wait(ctx context.Context, c *Coordinator) {
	for _, d := range a.durable {
		if e := c.durableShare(ctx, d.sp, d.seq); e != nil {
			if p := a.part(d.pk); p.AcknowledgeErrorCode == 0 {
				p.AcknowledgeErrorCode = e.Code
			}
		}
	}
}

// ShareAcknowledge serves ShareAcknowledge v1-v2; conn is as for
// ShareFetch.
func (c *Coordinator) ShareAcknowledge(ctx context.Context, req *kmsg.ShareAcknowledgeRequest, conn any) *kmsg.ShareAcknowledgeResponse {
	resp := req.ResponseKind().(*kmsg.ShareAcknowledgeResponse)
	group, member := deref(req.GroupID), deref(req.MemberID)
	if group == "" || member == "" || len(member) > 36 || c.cfg.ShareLogs == nil {
		resp.ErrorCode = kerr.InvalidRequest.Code
		return resp
	}
	cfg := c.shareConfig(group)
	resp.AcquisitionLockTimeoutMillis = int32(cfg.RecordLockDuration.Milliseconds())
	acks := make(map[sharePK][]ackBatch)
	for _, rt := range req.Topics {
		for _, rp := range rt.Partitions {
			for _, b := range rp.AcknowledgementBatches {
				pk := sharePK{rt.TopicID, rp.Partition}
				acks[pk] = append(acks[pk], ackBatch{b.FirstOffset, b.LastOffset, b.AcknowledgeTypes})
			}
		}
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		resp.ErrorCode = errCoordinatorNotAvailable.Code
		return resp
	}
	g := c.shareHostLocked(group)
	if g != nil && g.typ != typeShare {
		c.mu.Unlock()
		resp.ErrorCode = kerr.GroupIDNotFound.Code
		return resp
	}
	key := sessKey{group, member}
	s := c.sessions[key]
	switch {
	case req.ShareSessionEpoch == 0:
		c.mu.Unlock()
		resp.ErrorCode = kerr.InvalidShareSessionEpoch.Code
		return resp
	case s == nil || g == nil:
		c.mu.Unlock()
		resp.ErrorCode = kerr.ShareSessionNotFound.Code
		return resp
	case req.ShareSessionEpoch != -1 && req.ShareSessionEpoch != s.epoch:
		c.mu.Unlock()
		resp.ErrorCode = kerr.InvalidShareSessionEpoch.Code
		return resp
	}
	final := req.ShareSessionEpoch == -1
	if final {
		delete(c.sessions, key)
	} else {
		c.bindLocked(key, s, conn)
		if s.epoch++; s.epoch <= 0 {
			s.epoch = 1
		}
	}
	c.mu.Unlock()

	fr := kmsg.NewShareFetchResponse()
	answers := newShareAnswers(&fr)
	c.ackAll(ctx, g, member, acks, cfg, req.Version >= 2 && req.IsRenewAck, answers)
	if final {
		c.mu.Lock()
		released := false
		for _, pk := range s.parts {
			if sp := g.shares[pk]; sp != nil {
				sp.mu.Lock()
				if sp.releaseMemberLocked(member, cfg.DeliveryCountLimit) {
					sp.advanceLocked(0)
					c.touchShareLocked(sp)
					released = true
				}
				sp.mu.Unlock()
			}
		}
		c.mu.Unlock()
		if released {
			c.wakeShare()
		}
	}
	answers.wait(ctx, c)
	for _, t := range fr.Topics {
		rt := kmsg.NewShareAcknowledgeResponseTopic()
		rt.TopicID = t.TopicID
		for _, p := range t.Partitions {
			rp := kmsg.NewShareAcknowledgeResponseTopicPartition()
			rp.Partition, rp.ErrorCode = p.Partition, p.AcknowledgeErrorCode
			rp.CurrentLeader.LeaderID, rp.CurrentLeader.LeaderEpoch = -1, -1
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}

// bindLocked ties session s (of key) to the connection conn. Caller holds
// c.mu.
func (c *Coordinator) bindLocked(key sessKey, s *shareSession, conn any) {
	if conn == nil || s.conn == conn {
		return
	}
	if old := c.connSessions[s.conn]; old != nil {
		delete(old, key)
		if len(old) == 0 {
			delete(c.connSessions, s.conn)
		}
	}
	s.conn = conn
	if c.connSessions[conn] == nil {
		c.connSessions[conn] = make(map[sessKey]struct{})
	}
	c.connSessions[conn][key] = struct{}{}
}

// ConnClosed closes the share sessions whose latest request came on conn,
// releasing their members' records of their partitions. The broker calls
// it as each connection closes; it does nothing once the coordinator is
// closed (a broker that stops keeps its records' states as they are).
func (c *Coordinator) ConnClosed(conn any) {
	c.mu.Lock()
	keys := c.connSessions[conn]
	if len(keys) == 0 || c.closed {
		c.mu.Unlock()
		return
	}
	delete(c.connSessions, conn)
	released := false
	for key := range keys {
		s := c.sessions[key]
		if s == nil || s.conn != conn {
			continue
		}
		delete(c.sessions, key)
		g := c.shareHostLocked(key.group)
		if g == nil {
			continue
		}
		limit := c.shareConfig(key.group).DeliveryCountLimit
		for _, pk := range s.parts {
			if sp := g.shares[pk]; sp != nil {
				sp.mu.Lock()
				if sp.releaseMemberLocked(key.member, limit) {
					sp.advanceLocked(0)
					c.touchShareLocked(sp)
					released = true
				}
				sp.mu.Unlock()
			}
		}
	}
	c.mu.Unlock()
	if released {
		c.wakeShare()
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

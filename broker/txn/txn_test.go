package txn

import (
	"context"
	"errors"
	"math"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/streamhouse/streamhouse/meta"
)

// fakeStore is meta.Transactions in memory, with the offsets committed.
type fakeStore struct {
	mu      sync.Mutex
	txns    map[string]meta.Transaction
	offsets []meta.GroupOffset
}

func (f *fakeStore) PutTransaction(_ context.Context, t meta.Transaction, offsets []meta.GroupOffset) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.txns[t.ID].Version != t.Version {
		return meta.ErrConflict
	}
	t.Version++
	f.txns[t.ID] = t
	f.offsets = append(f.offsets, offsets...)
	return nil
}

func (f *fakeStore) Transaction(_ context.Context, id string) (meta.Transaction, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t, ok := f.txns[id]
	return t, ok, nil
}

func (f *fakeStore) Transactions(context.Context) ([]meta.Transaction, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []meta.Transaction
	for _, t := range f.txns {
		out = append(out, t)
	}
	return out, nil
}

// PutTransactionFenced is PutTransaction: the tests hold every lease.
func (f *fakeStore) PutTransactionFenced(ctx context.Context, _ meta.Fence, t meta.Transaction, offsets []meta.GroupOffset) error {
	return f.PutTransaction(ctx, t, offsets)
}

func (f *fakeStore) DeleteTransaction(_ context.Context, id string, version int64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if t, ok := f.txns[id]; ok && t.Version != version {
		return meta.ErrConflict
	}
	delete(f.txns, id)
	return nil
}

type marker struct {
	parts  []meta.TopicPartition
	pid    int64
	epoch  int16
	commit bool
}

type fixture struct {
	store   *fakeStore
	c       *Coordinator
	now     time.Time
	nextPID int64
	markers []marker
	applied []meta.GroupOffset
}

func newFixture(t *testing.T, store *fakeStore) *fixture {
	f := &fixture{store: store, now: time.Unix(1_700_000_000, 0), nextPID: 100}
	if f.store == nil {
		f.store = &fakeStore{txns: map[string]meta.Transaction{}}
	}
	f.c = New(Config{
		Store: f.store,
		NewProducerID: func(context.Context) (int64, error) {
			f.nextPID++
			return f.nextPID, nil
		},
		WriteMarkers: func(_ context.Context, st meta.Transaction) error {
			f.markers = append(f.markers, marker{slices.Clone(st.Partitions), st.ProducerID, st.ProducerEpoch, st.State == PrepareCommit})
			return nil
		},
		PartitionExists:  func(topic string, p int32) bool { return topic != "missing" },
		CommittedOffsets: func(o []meta.GroupOffset) { f.applied = append(f.applied, o...) },
		Now:              func() time.Time { return f.now },
	})
	if err := f.c.Load(t.Context()); err != nil {
		t.Fatal(err)
	}
	return f
}

var tp = meta.TopicPartition{Topic: "t", Partition: 0}

func TestInitFenceAndEnd(t *testing.T) {
	f := newFixture(t, nil)
	ctx := t.Context()
	pid, epoch, e := f.c.InitProducerID(ctx, "a", 1000, -1, -1)
	if e != nil || epoch != 0 {
		t.Fatalf("init: %d/%d %v", pid, epoch, e)
	}
	if all, _ := f.c.AddPartitions(ctx, "a", pid, epoch, []meta.TopicPartition{tp}); all != nil {
		t.Fatal(all)
	}
	if _, each := f.c.AddPartitions(ctx, "a", pid, epoch, []meta.TopicPartition{{Topic: "missing"}, tp}); each[meta.TopicPartition{Topic: "missing"}] != kerr.UnknownTopicOrPartition || each[tp] != kerr.OperationNotAttempted {
		t.Fatalf("unknown partition: %v", each)
	}
	if e := f.c.Verify(pid, epoch, tp); e != nil {
		t.Fatal(e)
	}
	// A second InitProducerId fences the first: its open transaction is
	// aborted at the bumped epoch.
	pid2, epoch2, e := f.c.InitProducerID(ctx, "a", 1000, -1, -1)
	if e != nil || pid2 != pid || epoch2 != 2 {
		t.Fatalf("re-init: %d/%d %v, want %d/2", pid2, epoch2, e, pid)
	}
	if len(f.markers) != 1 || f.markers[0].commit || f.markers[0].epoch != 1 {
		t.Fatalf("fencing abort markers %+v", f.markers)
	}
	if e := f.c.Verify(pid, epoch, tp); e != kerr.InvalidProducerEpoch {
		t.Fatalf("zombie verify: %v", e)
	}
	if _, _, e := f.c.EndTxn(ctx, "a", pid, epoch, true, false); e != kerr.ProducerFenced {
		t.Fatalf("zombie end: %v", e)
	}
	// KIP-360: a client with an unknown pair is fenced; one retrying with
	// the previous pair gets the same answer.
	if _, _, e := f.c.InitProducerID(ctx, "a", 1000, pid, 0); e != kerr.ProducerFenced {
		t.Fatalf("stale pair: %v", e)
	}
	if p, ep, e := f.c.InitProducerID(ctx, "a", 1000, pid, 1); e != nil || p != pid || ep != 2 {
		t.Fatalf("retry with the previous pair: %d/%d %v", p, ep, e)
	}

	// Commit with offsets (version 1): markers, offsets stored and applied.
	if all, _ := f.c.AddPartitions(ctx, "a", pid, 2, []meta.TopicPartition{tp}); all != nil {
		t.Fatal(all)
	}
	if e := f.c.CommitOffsets(ctx, "a", pid, 2, "g", []meta.GroupOffset{{Group: "g", Topic: "t", Offset: 5}}); e != kerr.InvalidTxnState {
		t.Fatalf("offsets before AddOffsets: %v", e)
	}
	if e := f.c.AddOffsets(ctx, "a", pid, 2, "g"); e != nil {
		t.Fatal(e)
	}
	if e := f.c.CommitOffsets(ctx, "a", pid, 2, "g", []meta.GroupOffset{{Group: "g", Topic: "t", Offset: 5}}); e != nil {
		t.Fatal(e)
	}
	if !f.c.PendingOffset("g", "t", 0) {
		t.Fatal("no pending offset while the transaction is open")
	}
	if _, _, e := f.c.EndTxn(ctx, "a", pid, 2, true, false); e != nil {
		t.Fatal(e)
	}
	if f.c.PendingOffset("g", "t", 0) || len(f.applied) != 1 || f.applied[0].Offset != 5 || len(f.store.offsets) != 1 {
		t.Fatalf("after commit: pending %v, applied %v, stored %v", f.c.PendingOffset("g", "t", 0), f.applied, f.store.offsets)
	}
	if _, _, e := f.c.EndTxn(ctx, "a", pid, 2, true, false); e != nil {
		t.Fatalf("retried commit: %v", e)
	}
	if _, _, e := f.c.EndTxn(ctx, "a", pid, 2, false, false); e != kerr.InvalidTxnState {
		t.Fatalf("abort after commit: %v", e)
	}
}

func TestEndBumpsEpoch(t *testing.T) {
	f := newFixture(t, nil)
	ctx := t.Context()
	pid, _, _ := f.c.InitProducerID(ctx, "b", 1000, -1, -1)
	if e := f.c.AddImplicitly(ctx, pid, 0, tp); e != nil {
		t.Fatal(e)
	}
	p, ep, e := f.c.EndTxn(ctx, "b", pid, 0, true, true)
	if e != nil || p != pid || ep != 1 || f.markers[0].epoch != 1 {
		t.Fatalf("end: %d/%d %v, markers %+v", p, ep, e, f.markers)
	}
	// A retry of that end answers the same.
	if p2, ep2, e := f.c.EndTxn(ctx, "b", pid, 0, true, true); e != nil || p2 != p || ep2 != ep {
		t.Fatalf("retry: %d/%d %v", p2, ep2, e)
	}
	// An abort with nothing open still moves the epoch.
	if _, ep3, e := f.c.EndTxn(ctx, "b", pid, 1, false, true); e != nil || ep3 != 2 {
		t.Fatalf("empty abort: %d %v", ep3, e)
	}
	// Exhausting the epochs moves to a new producer id.
	f.c.mu.Lock()
	f.c.txns["b"].state.ProducerEpoch = math.MaxInt16 - 1
	f.c.mu.Unlock()
	if e := f.c.AddImplicitly(ctx, pid, math.MaxInt16-1, tp); e != nil {
		t.Fatal(e)
	}
	p4, ep4, e := f.c.EndTxn(ctx, "b", pid, math.MaxInt16-1, true, true)
	last := f.markers[len(f.markers)-1]
	if e != nil || p4 == pid || ep4 != 0 || last.pid != pid || last.epoch != math.MaxInt16 {
		t.Fatalf("exhausted: %d/%d %v, last marker %+v", p4, ep4, e, last)
	}
}

func TestLoadFinishesPrepared(t *testing.T) {
	store := &fakeStore{txns: map[string]meta.Transaction{
		"c": {ID: "c", ProducerID: 7, ProducerEpoch: 3, State: PrepareCommit, TimeoutMs: 1000,
			Partitions: []meta.TopicPartition{tp}, Groups: []string{"g"},
			Offsets: []meta.GroupOffset{{Group: "g", Topic: "t", Offset: 9}}},
		"d": {ID: "d", ProducerID: 8, ProducerEpoch: 0, State: PrepareAbort, TimeoutMs: 1000,
			Partitions: []meta.TopicPartition{tp}, Offsets: []meta.GroupOffset{{Group: "g", Topic: "t", Offset: 99}}},
	}}
	f := newFixture(t, store)
	if len(f.markers) != 2 {
		t.Fatalf("markers %+v", f.markers)
	}
	for _, m := range f.markers {
		if m.commit != (m.pid == 7) {
			t.Fatalf("marker %+v", m)
		}
	}
	if st := store.txns["c"]; st.State != CompleteCommit || len(st.Offsets) != 0 {
		t.Fatalf("c after load: %+v", st)
	}
	if st := store.txns["d"]; st.State != CompleteAbort {
		t.Fatalf("d after load: %+v", st)
	}
	if len(store.offsets) != 1 || store.offsets[0].Offset != 9 || len(f.applied) != 1 {
		t.Fatalf("offsets stored %v, applied %v", store.offsets, f.applied)
	}
}

func TestTimeoutAndExpiry(t *testing.T) {
	f := newFixture(t, nil)
	ctx := t.Context()
	pid, _, _ := f.c.InitProducerID(ctx, "e", 1000, -1, -1)
	if all, _ := f.c.AddPartitions(ctx, "e", pid, 0, []meta.TopicPartition{tp}); all != nil {
		t.Fatal(all)
	}
	f.now = f.now.Add(999 * time.Millisecond)
	if n := f.c.AbortTimedOut(ctx); n != 0 {
		t.Fatal("aborted before the timeout")
	}
	if n := f.c.ExpireIDs(ctx, time.Millisecond); n != 0 {
		t.Fatal("expired an open transaction")
	}
	f.now = f.now.Add(2 * time.Millisecond)
	if n := f.c.AbortTimedOut(ctx); n != 1 || f.markers[0].commit || f.markers[0].epoch != 1 {
		t.Fatalf("timeout abort: %d, markers %+v", n, f.markers)
	}
	if e := f.c.Verify(pid, 0, tp); e != kerr.InvalidProducerEpoch {
		t.Fatalf("the timed out producer is not fenced: %v", e)
	}
	f.now = f.now.Add(time.Hour)
	if n := f.c.ExpireIDs(ctx, time.Hour); n != 1 || len(f.store.txns) != 0 || len(f.c.List()) != 0 {
		t.Fatalf("expiry: %d, stored %v", n, f.store.txns)
	}
	if p, ep, e := f.c.InitProducerID(ctx, "e", 1000, -1, -1); e != nil || p == pid || ep != 0 {
		t.Fatalf("after expiry: %d/%d %v", p, ep, e)
	}
}

// An end whose markers fail stays decided, answers CONCURRENT_TRANSACTIONS,
// and is finished by RetryPrepared once the markers go through.
func TestRetryPrepared(t *testing.T) {
	f := newFixture(t, nil)
	ctx := t.Context()
	pid, _, _ := f.c.InitProducerID(ctx, "r", 1000, -1, -1)
	if all, _ := f.c.AddPartitions(ctx, "r", pid, 0, []meta.TopicPartition{tp}); all != nil {
		t.Fatal(all)
	}
	write := f.c.cfg.WriteMarkers
	f.c.cfg.WriteMarkers = func(context.Context, meta.Transaction) error {
		return errors.New("partition offline")
	}
	if _, _, e := f.c.EndTxn(ctx, "r", pid, 0, true, false); e != kerr.CoordinatorNotAvailable {
		t.Fatalf("end with failing markers: %v", e)
	}
	if st := f.store.txns["r"]; st.State != PrepareCommit {
		t.Fatalf("stored state %s, want PrepareCommit kept", st.State)
	}
	if _, _, e := f.c.EndTxn(ctx, "r", pid, 0, true, false); e != kerr.ConcurrentTransactions {
		t.Fatalf("retried end while prepared: %v", e)
	}
	if n := f.c.RetryPrepared(ctx); n != 0 {
		t.Fatal("finished while the markers still fail")
	}
	f.c.cfg.WriteMarkers = write
	if n := f.c.RetryPrepared(ctx); n != 1 || f.store.txns["r"].State != CompleteCommit {
		t.Fatalf("RetryPrepared: %d, state %s", n, f.store.txns["r"].State)
	}
	if _, _, e := f.c.EndTxn(ctx, "r", pid, 0, true, false); e != nil {
		t.Fatalf("end after the retry finished it: %v", e)
	}
}

// Shared: a state another broker may change in the store is read again
// before a request changes it, so what that broker added (a remote group
// coordinator's TxnOffsetCommit offsets) is committed with the end. Owns:
// the background work leaves others' ids alone.
func TestSharedAndOwns(t *testing.T) {
	f := newFixture(t, nil)
	ctx := t.Context()
	f.c.cfg.Shared = func(st *meta.Transaction) bool { return slices.Contains(st.Groups, "remote") }
	pid, epoch, e := f.c.InitProducerID(ctx, "s", 1000, -1, -1)
	if e != nil {
		t.Fatal(e)
	}
	if all, _ := f.c.AddPartitions(ctx, "s", pid, epoch, []meta.TopicPartition{tp}); all != nil {
		t.Fatal(all)
	}
	if e := f.c.AddOffsets(ctx, "s", pid, epoch, "remote"); e != nil {
		t.Fatal(e)
	}
	// The group's coordinator, another broker, adds its offsets.
	f.store.mu.Lock()
	st := f.store.txns["s"]
	st.Offsets = append(st.Offsets, meta.GroupOffset{Group: "remote", Topic: "t", Offset: 9})
	st.Version++
	f.store.txns["s"] = st
	f.store.mu.Unlock()
	if _, _, e := f.c.EndTxn(ctx, "s", pid, epoch, true, false); e != nil {
		t.Fatalf("end after a remote change: %v", e)
	}
	if len(f.store.offsets) != 1 || f.store.offsets[0].Offset != 9 {
		t.Fatalf("committed offsets %+v, want the remote group's", f.store.offsets)
	}

	// An id another coordinator owns is neither aborted when it times
	// out nor finished when decided, here.
	f.c.cfg.Owns = func(id string) bool { return id != "other" }
	opid, oepoch, e := f.c.InitProducerID(ctx, "other", 1, -1, -1)
	if e != nil {
		t.Fatal(e)
	}
	if all, _ := f.c.AddPartitions(ctx, "other", opid, oepoch, []meta.TopicPartition{tp}); all != nil {
		t.Fatal(all)
	}
	f.now = f.now.Add(time.Minute)
	if n := f.c.AbortTimedOut(ctx); n != 0 {
		t.Fatalf("aborted %d transactions another coordinator owns", n)
	}
	f.c.cfg.Owns = nil
	if n := f.c.AbortTimedOut(ctx); n != 1 {
		t.Fatalf("aborted %d timed out transactions, want 1", n)
	}
}

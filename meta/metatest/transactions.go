package metatest

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/streamhouse/streamhouse/meta"
)

func testTransactions(t *testing.T, open func(t *testing.T) meta.Catalog) {
	ctx := t.Context()
	c := open(t)
	if got, err := c.Transactions(ctx); err != nil || len(got) != 0 {
		t.Fatalf("Transactions on a new catalog: %v, %v", got, err)
	}
	at := time.UnixMilli(1_700_000_000_123).UTC()
	a := meta.Transaction{
		ID: "b-txn", ProducerID: 7, ProducerEpoch: 2, LastProducerID: -1, LastProducerEpoch: -1,
		TimeoutMs: 60000, State: "Ongoing",
		Partitions: []meta.TopicPartition{{Topic: "t", Partition: 1}, {Topic: "u", Partition: 0}},
		Groups:     []string{"g"},
		Offsets:    []meta.GroupOffset{{Group: "g", Topic: "t", Partition: 1, Offset: 42, LeaderEpoch: -1, Metadata: "m", CommitTime: at}},
		StartTime:  at, UpdateTime: at,
	}
	b := meta.Transaction{ID: "a-txn", ProducerID: 8, LastProducerID: 3, LastProducerEpoch: 9, State: "Empty", TimeoutMs: 1000, UpdateTime: at}
	for _, tx := range []meta.Transaction{a, b} {
		if err := c.PutTransaction(ctx, tx, nil); err != nil {
			t.Fatal(err)
		}
	}
	a.Version, b.Version = 1, 1
	got, err := c.Transactions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || !reflect.DeepEqual(got[0], b) || !reflect.DeepEqual(got[1], a) {
		t.Fatalf("Transactions = %+v\nwant %+v and %+v", got, b, a)
	}
	if one, ok, err := c.Transaction(ctx, "b-txn"); err != nil || !ok || !reflect.DeepEqual(one, a) {
		t.Fatalf("Transaction(b-txn) = %+v, %v, %v; want %+v", one, ok, err, a)
	}
	if _, ok, err := c.Transaction(ctx, "missing"); err != nil || ok {
		t.Fatalf("Transaction(missing) = %v, %v; want none", ok, err)
	}
	// Replacing the state commits the offsets with it.
	a.State, a.Offsets, a.Partitions, a.Groups = "CompleteCommit", nil, nil, nil
	commit := []meta.GroupOffset{{Group: "g", Topic: "t", Partition: 1, Offset: 42, LeaderEpoch: -1, Metadata: "m", CommitTime: at}}
	// A state computed from a stale version changes nothing, offsets
	// included.
	stale := a
	stale.Version = 0
	if err := c.PutTransaction(ctx, stale, commit); !errors.Is(err, meta.ErrConflict) {
		t.Fatalf("PutTransaction at a stale version: err = %v, want %v", err, meta.ErrConflict)
	}
	if offs, err := c.GroupOffsets(ctx, "g"); err != nil || len(offs) != 0 {
		t.Fatalf("offsets after a conflicting PutTransaction: %v, %v", offs, err)
	}
	if err := c.PutTransaction(ctx, a, commit); err != nil {
		t.Fatal(err)
	}
	a.Version = 2
	offs, err := c.GroupOffsets(ctx, "g")
	if err != nil {
		t.Fatal(err)
	}
	EqualOffsets(t, offs, commit)
	if err := c.DeleteTransaction(ctx, "a-txn", 2); !errors.Is(err, meta.ErrConflict) {
		t.Fatalf("DeleteTransaction at a stale version: err = %v, want %v", err, meta.ErrConflict)
	}
	if err := c.DeleteTransaction(ctx, "a-txn", 1); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteTransaction(ctx, "missing", 1); err != nil {
		t.Fatal(err)
	}
	got, err = c.Transactions(ctx)
	if err != nil || len(got) != 1 || !reflect.DeepEqual(got[0], a) {
		t.Fatalf("after delete: %+v, %v", got, err)
	}
}

// testTxnMarkers: a transaction's end markers recorded by partitions'
// leaders belong to the state stored at one version: recorded only at it,
// read back sorted without repeats, forgotten by the next PutTransaction
// and by DeleteTransaction; each PutTxnMarkers records a change.
func testTxnMarkers(t *testing.T, open func(t *testing.T) meta.Catalog) {
	ctx := t.Context()
	c := open(t)
	tp := func(topic string, p int32) meta.TopicPartition {
		return meta.TopicPartition{Topic: topic, Partition: p}
	}
	st := meta.Transaction{ID: "x", ProducerID: 5, LastProducerID: -1, LastProducerEpoch: -1, State: "PrepareCommit",
		Partitions: []meta.TopicPartition{tp("b", 0), tp("a", 2), tp("a", 1)}}
	if err := c.PutTransaction(ctx, st, nil); err != nil {
		t.Fatal(err)
	}
	if got, err := c.TxnMarkers(ctx, "x", 1); err != nil || len(got) != 0 {
		t.Fatalf("TxnMarkers before any: %v, %v", got, err)
	}
	if err := c.PutTxnMarkers(ctx, "x", 2, []meta.TopicPartition{tp("a", 1)}); !errors.Is(err, meta.ErrConflict) {
		t.Fatalf("PutTxnMarkers at a version not stored: err = %v, want %v", err, meta.ErrConflict)
	}
	before, err := c.LastChange(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, parts := range [][]meta.TopicPartition{{tp("b", 0), tp("a", 2)}, nil, {tp("a", 2), tp("a", 1)}} {
		if err := c.PutTxnMarkers(ctx, "x", 1, parts); err != nil {
			t.Fatal(err)
		}
	}
	want := []meta.TopicPartition{tp("a", 1), tp("a", 2), tp("b", 0)}
	if got, err := c.TxnMarkers(ctx, "x", 1); err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("TxnMarkers = %v, %v; want %v", got, err, want)
	}
	chs, err := c.Changes(ctx, before, 10)
	if err != nil || len(chs) != 3 {
		t.Fatalf("changes after 3 PutTxnMarkers: %+v, %v", chs, err)
	}
	for _, ch := range chs {
		if ch.Kind != meta.ChangeTxnMarkers || ch.Key != "x" {
			t.Fatalf("change %+v, want kind %q key x", ch, meta.ChangeTxnMarkers)
		}
	}
	st.Version, st.State, st.Partitions = 1, "CompleteCommit", nil
	if err := c.PutTransaction(ctx, st, nil); err != nil {
		t.Fatal(err)
	}
	if got, err := c.TxnMarkers(ctx, "x", 1); err != nil || len(got) != 0 {
		t.Fatalf("TxnMarkers after the next PutTransaction: %v, %v", got, err)
	}
	if err := c.PutTxnMarkers(ctx, "x", 1, []meta.TopicPartition{tp("a", 1)}); !errors.Is(err, meta.ErrConflict) {
		t.Fatalf("PutTxnMarkers at the previous version: err = %v, want %v", err, meta.ErrConflict)
	}
	if err := c.PutTxnMarkers(ctx, "x", 2, []meta.TopicPartition{tp("a", 1)}); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteTransaction(ctx, "x", 2); err != nil {
		t.Fatal(err)
	}
	if got, err := c.TxnMarkers(ctx, "x", 2); err != nil || len(got) != 0 {
		t.Fatalf("TxnMarkers after DeleteTransaction: %v, %v", got, err)
	}
}

// testPutTransactionFenced: a transaction shard's holder stores states
// while its lease holds; after a takeover its writes are fenced and store
// nothing (offsets included).
func testPutTransactionFenced(t *testing.T, open func(t *testing.T) meta.Catalog) {
	ctx := t.Context()
	c := open(t)
	key := meta.LeaseKey{Kind: meta.LeaseTxnShard, Partition: 3}
	f1 := holdLease(t, c, 1, key)
	st := meta.Transaction{ID: "x", ProducerID: 5, LastProducerID: -1, LastProducerEpoch: -1, State: "Empty"}
	if err := c.PutTransactionFenced(ctx, f1, st, nil); err != nil {
		t.Fatalf("fenced write by the holder: %v", err)
	}
	st.Version = 1
	if err := c.DeregisterBroker(ctx, 1, f1.SessionEpoch); err != nil {
		t.Fatal(err)
	}
	st.State = "CompleteCommit"
	commit := []meta.GroupOffset{{Group: "g", Topic: "t", Offset: 4, LeaderEpoch: -1}}
	if err := c.PutTransactionFenced(ctx, f1, st, commit); !errors.Is(err, meta.ErrFenced) {
		t.Fatalf("write after the holder's session ended: err = %v, want %v", err, meta.ErrFenced)
	}
	if got, ok, err := c.Transaction(ctx, "x"); err != nil || !ok || got.Version != 1 || got.State != "Empty" {
		t.Fatalf("state after a fenced write: %+v, %v, %v", got, ok, err)
	}
	if offs, err := c.GroupOffsets(ctx, "g"); err != nil || len(offs) != 0 {
		t.Fatalf("offsets after a fenced write: %v, %v", offs, err)
	}
	if err := c.PutTransactionFenced(ctx, holdLease(t, c, 2, key), st, commit); err != nil {
		t.Fatalf("the new holder's write: %v", err)
	}
}

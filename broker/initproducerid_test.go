package broker_test

import (
	"encoding/binary"
	"hash/crc32"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/streamhouse/streamhouse/broker/brokertest"
	"github.com/streamhouse/streamhouse/storage/storagetest"
)

func TestInitProducerID(t *testing.T) {
	t.Parallel()
	b := brokertest.New(t)
	c := dialRaw(t, b.Addr())
	seen := map[int64]bool{}
	init := func(v int16) int64 {
		t.Helper()
		req := at(kmsg.NewPtrInitProducerIDRequest(), v)
		req.TransactionTimeoutMillis = 60000
		resp := c.do(req).(*kmsg.InitProducerIDResponse)
		if resp.ErrorCode != 0 || resp.ProducerID < 0 || resp.ProducerEpoch != 0 {
			t.Fatalf("v%d: %v, id %d epoch %d", v, kerr.ErrorForCode(resp.ErrorCode), resp.ProducerID, resp.ProducerEpoch)
		}
		if seen[resp.ProducerID] {
			t.Fatalf("v%d: producer id %d handed out twice", v, resp.ProducerID)
		}
		seen[resp.ProducerID] = true
		return resp.ProducerID
	}
	for v := int16(0); v <= 5; v++ {
		init(v)
	}

	// A transactional id keeps its producer id and bumps the epoch.
	req := at(kmsg.NewPtrInitProducerIDRequest(), 5)
	txn := "txn"
	req.TransactionalID = &txn
	req.TransactionTimeoutMillis = 60000
	first := c.do(req).(*kmsg.InitProducerIDResponse)
	if first.ErrorCode != 0 || first.ProducerID < 0 || first.ProducerEpoch != 0 || seen[first.ProducerID] {
		t.Fatalf("transactional: %v, id %d epoch %d", kerr.ErrorForCode(first.ErrorCode), first.ProducerID, first.ProducerEpoch)
	}
	seen[first.ProducerID] = true
	again := c.do(req).(*kmsg.InitProducerIDResponse)
	if again.ErrorCode != 0 || again.ProducerID != first.ProducerID || again.ProducerEpoch != 1 {
		t.Fatalf("transactional again: %v, id %d epoch %d", kerr.ErrorForCode(again.ErrorCode), again.ProducerID, again.ProducerEpoch)
	}
	req.TransactionTimeoutMillis = 900001 // above transaction.max.timeout.ms
	if r := c.do(req).(*kmsg.InitProducerIDResponse); r.ErrorCode != kerr.InvalidTransactionTimeout.Code {
		t.Fatalf("timeout above the maximum: %v", kerr.ErrorForCode(r.ErrorCode))
	}

	// After a restart, ids are never reused.
	b.Restart()
	c = dialRaw(t, b.Addr())
	for range 3 {
		init(5)
	}
}

// Idempotent produce: a retry gets the offset the batch got; a gap, an old
// epoch, an unknown producer get Kafka's codes; an idle producer expires.
func TestIdempotentProduce(t *testing.T) {
	t.Parallel()
	b := brokertest.New(t, brokertest.Options{Settings: map[string]string{
		"producer.id.expiration.ms":                "60000",
		"producer.id.expiration.check.interval.ms": "20",
	}})
	c := dialRaw(t, b.Addr())
	createTopic(t, c, "idem", 1, nil)
	resp := c.do(at(kmsg.NewPtrInitProducerIDRequest(), 4)).(*kmsg.InitProducerIDResponse)
	pid := resp.ProducerID
	now := time.Now().UnixMilli()
	send := func(ts int64, epoch int16, seq int32, records int) kmsg.ProduceResponseTopicPartition {
		t.Helper()
		return produce(t, c, "idem", 0, -1, storagetest.MakeIdempotentBatch(records, 10, ts, pid, epoch, seq))
	}
	first := send(now, 0, 0, 3)
	second := send(now, 0, 3, 2)
	if first.ErrorCode != 0 || second.ErrorCode != 0 || second.BaseOffset != first.BaseOffset+3 {
		t.Fatalf("appends: %+v, %+v", first, second)
	}
	if r := send(now, 0, 0, 3); r.ErrorCode != 0 || r.BaseOffset != first.BaseOffset {
		t.Fatalf("retry: %v at %d, want no error at %d", kerr.ErrorForCode(r.ErrorCode), r.BaseOffset, first.BaseOffset)
	}
	for _, c := range []struct {
		epoch   int16
		seq     int32
		records int
		want    *kerr.Error
	}{
		{0, 9, 1, kerr.OutOfOrderSequenceNumber},
		{1, 5, 1, kerr.OutOfOrderSequenceNumber}, // a new epoch starts at 0
	} {
		if r := send(now, c.epoch, c.seq, c.records); r.ErrorCode != c.want.Code {
			t.Fatalf("epoch %d seq %d: %v, want %v", c.epoch, c.seq, kerr.ErrorForCode(r.ErrorCode), c.want)
		}
	}
	if r := send(now, 1, 0, 1); r.ErrorCode != 0 {
		t.Fatalf("epoch bump: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	if r := send(now, 0, 5, 1); r.ErrorCode != kerr.InvalidProducerEpoch.Code {
		t.Fatalf("old epoch: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	// Transactional batches are not served yet.
	txn := storagetest.MakeIdempotentBatch(1, 10, now, pid, 1, 1)
	txn[22] |= 0x10 // attributes: transactional
	binary.BigEndian.PutUint32(txn[17:], crc32.Checksum(txn[21:], crc32.MakeTable(crc32.Castagnoli)))
	if r := produce(t, c, "idem", 0, -1, txn); r.ErrorCode != kerr.InvalidTxnState.Code {
		t.Fatalf("transactional batch: %v", kerr.ErrorForCode(r.ErrorCode))
	}

	// A producer whose last batch is older than producer.id.expiration.ms
	// is forgotten at the next check: continuing its sequence is
	// UNKNOWN_PRODUCER_ID, starting again at 0 is fine.
	old := now - 120_000
	other := pid + 1
	if r := produce(t, c, "idem", 0, -1, storagetest.MakeIdempotentBatch(1, 10, old, other, 0, 0)); r.ErrorCode != 0 {
		t.Fatalf("old producer: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		r := produce(t, c, "idem", 0, -1, storagetest.MakeIdempotentBatch(1, 10, now, other, 0, 1))
		if r.ErrorCode == kerr.UnknownProducerID.Code {
			break
		}
		if r.ErrorCode != 0 || time.Now().After(deadline) {
			t.Fatalf("expired producer: %v", kerr.ErrorForCode(r.ErrorCode))
		}
		// Appended before the check ran: that batch is recent, so the
		// producer stays; start over with an old one.
		other += 1000
		if r := produce(t, c, "idem", 0, -1, storagetest.MakeIdempotentBatch(1, 10, old, other, 0, 0)); r.ErrorCode != 0 {
			t.Fatalf("old producer: %v", kerr.ErrorForCode(r.ErrorCode))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if r := produce(t, c, "idem", 0, -1, storagetest.MakeIdempotentBatch(1, 10, now, other, 0, 0)); r.ErrorCode != 0 {
		t.Fatalf("expired producer starting at 0: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	// The live producer was not expired.
	if r := send(now, 1, 1, 1); r.ErrorCode != 0 {
		t.Fatalf("live producer after expiry: %v", kerr.ErrorForCode(r.ErrorCode))
	}
}

// AddPartitionsToTxn v3 (a producer's) and v5 (batched, with verify_only)
// over the wire.
func TestAddPartitionsToTxnVersions(t *testing.T) {
	t.Parallel()
	b := brokertest.New(t)
	c := dialRaw(t, b.Addr())
	createTopic(t, c, "tx", 2, nil)
	init := at(kmsg.NewPtrInitProducerIDRequest(), 5)
	id := "apt"
	init.TransactionalID, init.TransactionTimeoutMillis = &id, 60000
	ir := c.do(init).(*kmsg.InitProducerIDResponse)

	v3 := at(kmsg.NewPtrAddPartitionsToTxnRequest(), 3)
	v3.TransactionalID, v3.ProducerID, v3.ProducerEpoch = id, ir.ProducerID, ir.ProducerEpoch
	rt := kmsg.NewAddPartitionsToTxnRequestTopic()
	rt.Topic, rt.Partitions = "tx", []int32{0}
	v3.Topics = append(v3.Topics, rt)
	r3 := c.do(v3).(*kmsg.AddPartitionsToTxnResponse)
	if len(r3.Topics) != 1 || r3.Topics[0].Partitions[0].ErrorCode != 0 || len(r3.Transactions) != 0 {
		t.Fatalf("v3: %+v", r3)
	}
	v3.ProducerEpoch-- // an older epoch: fenced (v2+ know PRODUCER_FENCED)
	if r := c.do(v3).(*kmsg.AddPartitionsToTxnResponse); r.Topics[0].Partitions[0].ErrorCode != kerr.ProducerFenced.Code {
		t.Fatalf("v3 old epoch: %v", kerr.ErrorForCode(r.Topics[0].Partitions[0].ErrorCode))
	}

	v5 := at(kmsg.NewPtrAddPartitionsToTxnRequest(), 5)
	tx := kmsg.NewAddPartitionsToTxnRequestTransaction()
	tx.TransactionalID, tx.ProducerID, tx.ProducerEpoch, tx.VerifyOnly = id, ir.ProducerID, ir.ProducerEpoch, true
	tt := kmsg.NewAddPartitionsToTxnRequestTransactionTopic()
	tt.Topic, tt.Partitions = "tx", []int32{0, 1}
	tx.Topics = append(tx.Topics, tt)
	v5.Transactions = append(v5.Transactions, tx)
	r5 := c.do(v5).(*kmsg.AddPartitionsToTxnResponse)
	ps := r5.Transactions[0].Topics[0].Partitions
	if len(r5.Transactions) != 1 || ps[0].ErrorCode != 0 || ps[1].ErrorCode != kerr.InvalidTxnState.Code {
		t.Fatalf("v5 verify only: %+v", r5)
	}
	v5.Transactions[0].VerifyOnly = false
	if r := c.do(v5).(*kmsg.AddPartitionsToTxnResponse); r.Transactions[0].Topics[0].Partitions[1].ErrorCode != 0 {
		t.Fatalf("v5 add: %+v", r)
	}
	v5.Transactions[0].VerifyOnly = true
	if r := c.do(v5).(*kmsg.AddPartitionsToTxnResponse); r.Transactions[0].Topics[0].Partitions[1].ErrorCode != 0 {
		t.Fatalf("v5 verify after add: %+v", r)
	}
}

package broker_test

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/streamhouse/streamhouse/broker/brokertest"
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

	// Transactions are not served yet: no producer id without the
	// coordinator a transactional id needs.
	req := at(kmsg.NewPtrInitProducerIDRequest(), 5)
	txn := "txn"
	req.TransactionalID = &txn
	req.TransactionTimeoutMillis = 60000
	if resp := c.do(req).(*kmsg.InitProducerIDResponse); resp.ErrorCode != kerr.CoordinatorNotAvailable.Code || resp.ProducerID != -1 {
		t.Fatalf("transactional: %v, id %d", kerr.ErrorForCode(resp.ErrorCode), resp.ProducerID)
	}

	// After a restart, ids are never reused.
	b.Restart()
	c = dialRaw(t, b.Addr())
	for range 3 {
		init(5)
	}
}

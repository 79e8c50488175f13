package broker_test

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/streamhouse/streamhouse/broker/brokertest"
	"github.com/streamhouse/streamhouse/storage/storagetest"
)

// Allocation discipline on the hot path (issue 8): a produce or a fetch
// allocates per request and per partition, never per record. Measured over
// a real connection to an in-process broker: the process's allocations per
// round trip (the test client's included) must not grow with the number of
// records in the batch.
func TestHotPathAllocsPerRecord(t *testing.T) {
	b := brokertest.New(t, brokertest.Options{NoSync: true})
	c := dialRaw(t, b.Addr())
	createTopic(t, c, "allocs", 1, nil)

	produce := func(records int) func() {
		bt := storagetest.MakeBatch(records, 10, time.Now().UnixMilli())
		req := at(kmsg.NewPtrProduceRequest(), 11)
		req.Acks = 1
		req.TimeoutMillis = 5000
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic = "allocs"
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Records = bt
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		return func() {
			resp := c.do(req).(*kmsg.ProduceResponse)
			if code := resp.Topics[0].Partitions[0].ErrorCode; code != 0 {
				t.Fatalf("produce: error %d", code)
			}
		}
	}
	fetch := func(maxBytes int32) func() {
		req := at(kmsg.NewPtrFetchRequest(), 12)
		req.MaxWaitMillis = 0
		req.MaxBytes = maxBytes
		ft := kmsg.NewFetchRequestTopic()
		ft.Topic = "allocs"
		fp := kmsg.NewFetchRequestTopicPartition()
		fp.PartitionMaxBytes = maxBytes
		ft.Partitions = append(ft.Partitions, fp)
		req.Topics = append(req.Topics, ft)
		return func() {
			resp := c.do(req).(*kmsg.FetchResponse)
			if p := resp.Topics[0].Partitions[0]; p.ErrorCode != 0 || len(p.RecordBatches) == 0 {
				t.Fatalf("fetch: error %d, %d bytes", p.ErrorCode, len(p.RecordBatches))
			}
		}
	}
	small := testing.AllocsPerRun(200, produce(1))
	large := testing.AllocsPerRun(200, produce(1000))
	t.Logf("produce: %.0f allocations with 1 record, %.0f with 1,000", small, large)
	if large-small > 20 {
		t.Errorf("produce allocates per record: %.0f allocations for a batch of 1 record, %.0f for 1,000", small, large)
	}
	// The log now holds batches of 1 and 1,000 records: a fetch of one
	// small batch against one of about 50 large ones.
	fsmall := testing.AllocsPerRun(200, fetch(100))
	flarge := testing.AllocsPerRun(200, fetch(1<<20))
	t.Logf("fetch: %.0f allocations for one batch, %.0f for 1 MiB", fsmall, flarge)
	if flarge-fsmall > 40 {
		t.Errorf("fetch allocates per record or per batch: %.0f allocations for one batch, %.0f for 1 MiB", fsmall, flarge)
	}
}

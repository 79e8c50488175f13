package broker_test

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/streamhouse/streamhouse/broker/brokertest"
	"github.com/streamhouse/streamhouse/storage/storagetest"
)

// DescribeConfigs v0 (no sources on the wire: is_default).
func TestDescribeConfigsV0(t *testing.T) {
	t.Parallel()
	b := brokertest.New(t)
	c := dialRaw(t, b.Addr())
	createTopic(t, c, "dc0", 1, map[string]string{"retention.ms": "1000"})
	req := at(kmsg.NewPtrDescribeConfigsRequest(), 0)
	rr := kmsg.NewDescribeConfigsRequestResource()
	rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeTopic, "dc0"
	rr.ConfigNames = []string{"retention.ms", "segment.bytes"}
	req.Resources = append(req.Resources, rr)
	resp := c.do(req).(*kmsg.DescribeConfigsResponse)
	if len(resp.Resources) != 1 || resp.Resources[0].ErrorCode != 0 || len(resp.Resources[0].Configs) != 2 {
		t.Fatalf("%+v", resp)
	}
	for _, cfg := range resp.Resources[0].Configs {
		if (cfg.Name == "retention.ms") == cfg.IsDefault {
			t.Fatalf("%s: is_default %v", cfg.Name, cfg.IsDefault)
		}
	}
}

// A Fetch before v10 cannot carry zstd batches: UNSUPPORTED_COMPRESSION_TYPE.
func TestFetchZstdNeedsV10(t *testing.T) {
	t.Parallel()
	b := brokertest.New(t)
	c := dialRaw(t, b.Addr())
	createTopic(t, c, "z", 1, map[string]string{"compression.type": "zstd"})
	if r := produce(t, c, "z", 0, -1, storagetest.MakeBatch(3, 100, time.Now().UnixMilli())); r.ErrorCode != 0 {
		t.Fatalf("produce: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	for _, v := range []int16{9, 10} {
		req := at(kmsg.NewPtrFetchRequest(), v)
		req.MaxBytes = 1 << 20
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic = "z"
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.PartitionMaxBytes = 1 << 20
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		sp := c.do(req).(*kmsg.FetchResponse).Topics[0].Partitions[0]
		want := int16(0)
		if v < 10 {
			want = kerr.UnsupportedCompressionType.Code
		}
		if sp.ErrorCode != want || (want == 0) != (len(sp.RecordBatches) > 0) {
			t.Fatalf("fetch v%d: %v, %d bytes", v, kerr.ErrorForCode(sp.ErrorCode), len(sp.RecordBatches))
		}
	}
}

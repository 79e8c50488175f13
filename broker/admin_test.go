package broker_test

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/streamhouse/streamhouse/broker/brokertest"
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

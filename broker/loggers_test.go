package broker_test

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/streamhouse/streamhouse/broker/brokertest"
)

// The BROKER_LOGGER resource, as Kafka serves it: DescribeConfigs lists
// the loggers with their effective levels; IncrementalAlterConfigs SETs a
// level (in effect at once), DELETE makes a logger follow the root again;
// everything else is refused with Kafka's codes.
func TestBrokerLoggers(t *testing.T) {
	t.Parallel()
	b := brokertest.New(t)
	c := dialRaw(t, b.Addr())

	describe := func(name string) (map[string]string, int16) {
		t.Helper()
		req := at(kmsg.NewPtrDescribeConfigsRequest(), 4)
		rr := kmsg.NewDescribeConfigsRequestResource()
		rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeBrokerLogger, name
		req.Resources = append(req.Resources, rr)
		res := c.do(req).(*kmsg.DescribeConfigsResponse).Resources[0]
		out := map[string]string{}
		for _, e := range res.Configs {
			if e.Source != kmsg.ConfigSourceDynamicBrokerLoggerConfig || e.ReadOnly || e.Value == nil {
				t.Fatalf("logger entry %+v", e)
			}
			out[e.Name] = *e.Value
		}
		return out, res.ErrorCode
	}
	alter := func(name string, ops ...kmsg.IncrementalAlterConfigsRequestResourceConfig) int16 {
		t.Helper()
		req := kmsg.NewPtrIncrementalAlterConfigsRequest()
		rr := kmsg.NewIncrementalAlterConfigsRequestResource()
		rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeBrokerLogger, name
		rr.Configs = ops
		req.Resources = append(req.Resources, rr)
		return c.do(req).(*kmsg.IncrementalAlterConfigsResponse).Resources[0].ErrorCode
	}
	op := func(name string, o kmsg.IncrementalAlterConfigOp, value string) kmsg.IncrementalAlterConfigsRequestResourceConfig {
		c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
		c.Name, c.Op = name, o
		if o != kmsg.IncrementalAlterConfigOpDelete {
			c.Value = &value
		}
		return c
	}

	got, code := describe("1")
	if code != 0 || got["root"] != "DEBUG" || got["streamhouse.broker"] != "DEBUG" {
		t.Fatalf("loggers %v, error %d", got, code)
	}
	if code := alter("1", op("streamhouse.broker", kmsg.IncrementalAlterConfigOpSet, "WARN")); code != 0 {
		t.Fatalf("SET: %v", kerr.ErrorForCode(code))
	}
	if got, _ := describe("1"); got["streamhouse.broker"] != "WARN" || got["root"] != "DEBUG" {
		t.Fatalf("after SET: %v", got)
	}
	if code := alter("1", op("root", kmsg.IncrementalAlterConfigOpSet, "error")); code != 0 {
		t.Fatalf("SET root: %v", kerr.ErrorForCode(code))
	}
	if code := alter("1", op("streamhouse.broker", kmsg.IncrementalAlterConfigOpDelete, "")); code != 0 {
		t.Fatalf("DELETE: %v", kerr.ErrorForCode(code))
	}
	if got, _ := describe("1"); got["streamhouse.broker"] != "ERROR" {
		t.Fatalf("after DELETE the logger follows root (ERROR): %v", got)
	}

	for _, tc := range []struct {
		what string
		name string
		ops  []kmsg.IncrementalAlterConfigsRequestResourceConfig
		want *kerr.Error
	}{
		{"unknown logger", "1", []kmsg.IncrementalAlterConfigsRequestResourceConfig{op("no.such.logger", kmsg.IncrementalAlterConfigOpSet, "INFO")}, kerr.InvalidConfig},
		{"unknown level", "1", []kmsg.IncrementalAlterConfigsRequestResourceConfig{op("root", kmsg.IncrementalAlterConfigOpSet, "LOUD")}, kerr.InvalidConfig},
		{"delete root", "1", []kmsg.IncrementalAlterConfigsRequestResourceConfig{op("root", kmsg.IncrementalAlterConfigOpDelete, "")}, kerr.InvalidConfig},
		{"append", "1", []kmsg.IncrementalAlterConfigsRequestResourceConfig{op("root", kmsg.IncrementalAlterConfigOpAppend, "INFO")}, kerr.InvalidRequest},
		{"empty broker id", "", []kmsg.IncrementalAlterConfigsRequestResourceConfig{op("root", kmsg.IncrementalAlterConfigOpSet, "INFO")}, kerr.InvalidRequest},
		{"other broker", "7", []kmsg.IncrementalAlterConfigsRequestResourceConfig{op("root", kmsg.IncrementalAlterConfigOpSet, "INFO")}, kerr.InvalidRequest},
		// One bad operation: none applied.
		{"all or nothing", "1", []kmsg.IncrementalAlterConfigsRequestResourceConfig{op("root", kmsg.IncrementalAlterConfigOpSet, "INFO"), op("nope", kmsg.IncrementalAlterConfigOpSet, "INFO")}, kerr.InvalidConfig},
	} {
		if code := alter(tc.name, tc.ops...); code != tc.want.Code {
			t.Errorf("%s: %v, want %v", tc.what, kerr.ErrorForCode(code), tc.want)
		}
	}
	if got, _ := describe("1"); got["root"] != "ERROR" {
		t.Fatalf("refused alterations changed the root level: %v", got)
	}
	if _, code := describe(""); code != kerr.InvalidRequest.Code {
		t.Fatalf("describe with an empty broker id: %v", kerr.ErrorForCode(code))
	}

	// AlterConfigs (the whole-state API) does not take loggers.
	req := kmsg.NewPtrAlterConfigsRequest()
	rr := kmsg.NewAlterConfigsRequestResource()
	rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeBrokerLogger, "1"
	req.Resources = append(req.Resources, rr)
	if code := c.do(req).(*kmsg.AlterConfigsResponse).Resources[0].ErrorCode; code != kerr.InvalidRequest.Code {
		t.Fatalf("AlterConfigs on loggers: %v", kerr.ErrorForCode(code))
	}
}

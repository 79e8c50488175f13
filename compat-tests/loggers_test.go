package compattests

// Broker loggers (the BROKER_LOGGER config resource) through sarama's
// ClusterAdmin, as kafka-configs --entity-type broker-loggers drives them:
// list the loggers, raise one's level, see it in effect in the broker's own
// log, put it back.

import (
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
)

func TestBrokerLoggers(t *testing.T) {
	t.Parallel()
	p := startProc(t, t.TempDir(), "", "--log-level", "info")
	c := saramaConfig(sarama.V3_0_0_0)
	adm := newSaramaAdmin(t, p.addr, c)
	describe := func() map[string]string {
		t.Helper()
		entries, err := adm.DescribeConfig(sarama.ConfigResource{Type: sarama.BrokerLoggerResource, Name: "1"})
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for _, e := range entries {
			out[e.Name] = e.Value
		}
		return out
	}
	got := describe()
	for _, name := range []string{"root", "streamhouse.broker", "streamhouse.storage", "streamhouse.catalog"} {
		if got[name] != "INFO" {
			t.Fatalf("logger %s at %q, want INFO (--log-level info): %v", name, got[name], got)
		}
	}
	debug := "DEBUG"
	if err := adm.IncrementalAlterConfig(sarama.BrokerLoggerResource, "1", map[string]sarama.IncrementalAlterConfigsEntry{
		"streamhouse.broker": {Operation: sarama.IncrementalAlterConfigsOperationSet, Value: &debug},
	}, false); err != nil {
		t.Fatal(err)
	}
	if got := describe(); got["streamhouse.broker"] != "DEBUG" || got["root"] != "INFO" {
		t.Fatalf("after SET: %v", got)
	}
	rcEventually(t, 5*time.Second, "the broker logging its change", func() (bool, string) {
		return strings.Contains(p.logs.String(), "logger level changed"), ""
	})
	if err := adm.IncrementalAlterConfig(sarama.BrokerLoggerResource, "1", map[string]sarama.IncrementalAlterConfigsEntry{
		"streamhouse.broker": {Operation: sarama.IncrementalAlterConfigsOperationDelete},
	}, false); err != nil {
		t.Fatal(err)
	}
	if got := describe(); got["streamhouse.broker"] != "INFO" {
		t.Fatalf("after DELETE: %v", got)
	}
	bad := "LOUD"
	err := adm.IncrementalAlterConfig(sarama.BrokerLoggerResource, "1", map[string]sarama.IncrementalAlterConfigsEntry{
		"root": {Operation: sarama.IncrementalAlterConfigsOperationSet, Value: &bad},
	}, false)
	if err == nil || !strings.Contains(err.Error(), "not a supported log level") {
		t.Fatalf("an unknown level: %v", err)
	}
}

package broker_test

import (
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/streamhouse/streamhouse/broker/brokertest"
	"github.com/streamhouse/streamhouse/internal/pgtest"
)

// sharedPair starts two brokers on one catalog, each with a data directory
// of its own, as two brokers sharing a PostgreSQL catalog run.
// With STREAMHOUSE_TEST_METADATA=postgres the catalog is one PostgreSQL
// schema; otherwise one SQLite file.
func sharedPair(t *testing.T) (a, b *brokertest.Broker) {
	t.Helper()
	opts := brokertest.Options{CatalogPath: filepath.Join(t.TempDir(), "metadata.db")}
	if pgtest.Enabled() {
		opts = brokertest.Options{DatabaseURL: pgtest.URL(t)}
	}
	oa, ob := opts, opts
	oa.Settings, ob.Settings = map[string]string{"node.id": "1"}, map[string]string{"node.id": "2"}
	return brokertest.New(t, oa), brokertest.New(t, ob)
}

// eventually polls cond every 20 ms for up to 5 s and reports how long it
// took to hold; the test fails if it never did.
func eventually(t *testing.T, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > 5*time.Second {
			t.Fatalf("%s: not seen in 5 s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return time.Since(start)
}

func metadataTopic(t *testing.T, c *rawConn, name string) *kmsg.MetadataResponseTopic {
	t.Helper()
	req := at(kmsg.NewPtrMetadataRequest(), 12)
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(name)
	req.Topics = append(req.Topics, rt)
	resp := c.do(req).(*kmsg.MetadataResponse)
	if len(resp.Topics) != 1 || resp.Topics[0].ErrorCode != 0 {
		return nil
	}
	return &resp.Topics[0]
}

func topicConfig(t *testing.T, c *rawConn, topic, name string) string {
	t.Helper()
	req := at(kmsg.NewPtrDescribeConfigsRequest(), 4)
	rr := kmsg.NewDescribeConfigsRequestResource()
	rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeTopic, topic
	rr.ConfigNames = []string{name}
	req.Resources = append(req.Resources, rr)
	resp := c.do(req).(*kmsg.DescribeConfigsResponse)
	if len(resp.Resources) != 1 || resp.Resources[0].ErrorCode != 0 || len(resp.Resources[0].Configs) != 1 {
		return ""
	}
	return deref(resp.Resources[0].Configs[0].Value)
}

func alterTopicConfig(c *rawConn, topic, name, value string) int16 {
	req := at(kmsg.NewPtrIncrementalAlterConfigsRequest(), 1)
	rr := kmsg.NewIncrementalAlterConfigsRequestResource()
	rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeTopic, topic
	cfg := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
	cfg.Name, cfg.Value, cfg.Op = name, kmsg.StringPtr(value), kmsg.IncrementalAlterConfigOpSet
	rr.Configs = append(rr.Configs, cfg)
	req.Resources = append(req.Resources, rr)
	return c.do(req).(*kmsg.IncrementalAlterConfigsResponse).Resources[0].ErrorCode
}

// TestFollowCatalog: a topic created, changed, grown and deleted through one
// broker is seen so by another sharing its catalog, within a second.
func TestFollowCatalog(t *testing.T) {
	t.Parallel()
	a, b := sharedPair(t)
	ca, cb := dialRaw(t, a.Addr()), dialRaw(t, b.Addr())

	id := createTopic(t, ca, "shared", 2, map[string]string{"retention.ms": "60000"})
	d := eventually(t, "topic created through a", func() bool {
		mt := metadataTopic(t, cb, "shared")
		return mt != nil && mt.TopicID == id && len(mt.Partitions) == 2
	})
	t.Logf("creation seen through the other broker after %v", d)
	if got := topicConfig(t, cb, "shared", "retention.ms"); got != "60000" {
		t.Fatalf("retention.ms through b = %q, want 60000", got)
	}

	if code := alterTopicConfig(ca, "shared", "retention.ms", "120000"); code != 0 {
		t.Fatalf("alter through a: %v", kerr.ErrorForCode(code))
	}
	eventually(t, "config changed through a", func() bool { return topicConfig(t, cb, "shared", "retention.ms") == "120000" })

	req := at(kmsg.NewPtrCreatePartitionsRequest(), 3)
	rt := kmsg.NewCreatePartitionsRequestTopic()
	rt.Topic, rt.Count = "shared", 5
	req.Topics = append(req.Topics, rt)
	if code := ca.do(req).(*kmsg.CreatePartitionsResponse).Topics[0].ErrorCode; code != 0 {
		t.Fatalf("create partitions through a: %v", kerr.ErrorForCode(code))
	}
	eventually(t, "partitions added through a", func() bool {
		mt := metadataTopic(t, cb, "shared")
		return mt != nil && len(mt.Partitions) == 5
	})

	// A change through b computed over a's: b's cache is current, so
	// nothing conflicts; and a sees it.
	if code := alterTopicConfig(cb, "shared", "segment.ms", "3600000"); code != 0 {
		t.Fatalf("alter through b: %v", kerr.ErrorForCode(code))
	}
	eventually(t, "config changed through b", func() bool { return topicConfig(t, ca, "shared", "segment.ms") == "3600000" })
	if got := topicConfig(t, ca, "shared", "retention.ms"); got != "120000" {
		t.Fatalf("retention.ms after b's change = %q: b's change undid a's", got)
	}

	del := at(kmsg.NewPtrDeleteTopicsRequest(), 6)
	dt := kmsg.NewDeleteTopicsRequestTopic()
	dt.Topic = kmsg.StringPtr("shared")
	del.Topics = append(del.Topics, dt)
	if code := cb.do(del).(*kmsg.DeleteTopicsResponse).Topics[0].ErrorCode; code != 0 {
		t.Fatalf("delete through b: %v", kerr.ErrorForCode(code))
	}
	eventually(t, "deletion through b", func() bool { return metadataTopic(t, ca, "shared") == nil })
}

// TestConflictingChanges: both brokers change one topic's configs at once,
// each from its own cache; both changes land, neither undoes the other.
func TestConflictingChanges(t *testing.T) {
	t.Parallel()
	a, b := sharedPair(t)
	ca, cb := dialRaw(t, a.Addr()), dialRaw(t, b.Addr())
	createTopic(t, ca, "raced", 1, nil)
	eventually(t, "topic created through a", func() bool { return metadataTopic(t, cb, "raced") != nil })
	for round := range 5 {
		va, vb := time.Duration(round+1)*time.Hour, time.Duration(round+1)*time.Minute
		codes := make(chan int16, 2)
		go func() { codes <- alterTopicConfig(ca, "raced", "retention.ms", itoa(va.Milliseconds())) }()
		go func() { codes <- alterTopicConfig(cb, "raced", "segment.ms", itoa(vb.Milliseconds())) }()
		for range 2 {
			if code := <-codes; code != 0 {
				t.Fatalf("round %d: %v", round, kerr.ErrorForCode(code))
			}
		}
		for _, c := range []*rawConn{ca, cb} {
			eventually(t, "both changes", func() bool {
				return topicConfig(t, c, "raced", "retention.ms") == itoa(va.Milliseconds()) &&
					topicConfig(t, c, "raced", "segment.ms") == itoa(vb.Milliseconds())
			})
		}
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

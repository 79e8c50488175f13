package compattests

// Admin APIs of the configs-and-admin issue, driven by kadm and sarama's
// ClusterAdmin.

import (
	"crypto/rand"
	"errors"
	"testing"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/streamhouse/streamhouse/broker/brokertest"
)

func TestCreatePartitions(t *testing.T) {
	t.Parallel()
	b := brokertest.New(t)
	addr := b.Addr()
	adm := fgAdmin(t, addr)
	ctx := fgCtx(t)
	fgCreateTopic(t, adm, "grow", 2, nil)

	// validate_only changes nothing.
	if r, err := adm.ValidateUpdatePartitions(ctx, 4, "grow"); err != nil || r["grow"].Err != nil {
		t.Fatalf("validate: %+v %v", r, err)
	}
	if r, err := adm.UpdatePartitions(ctx, 5, "grow"); err != nil || r["grow"].Err != nil {
		t.Fatalf("grow to 5: %+v %v", r, err)
	}
	for _, c := range []struct {
		n    int
		want error
	}{{5, kerr.InvalidPartitions}, {3, kerr.InvalidPartitions}} {
		r, err := adm.UpdatePartitions(ctx, c.n, "grow")
		if err != nil || !errors.Is(r["grow"].Err, c.want) {
			t.Fatalf("update to %d: %+v %v, want %v", c.n, r, err, c.want)
		}
	}
	if r, err := adm.UpdatePartitions(ctx, 3, "missing"); err != nil || !errors.Is(r["missing"].Err, kerr.UnknownTopicOrPartition) {
		t.Fatalf("unknown topic: %+v %v", r, err)
	}
	// The new partitions take records, and survive a restart.
	cl := fgClient(t, addr, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	fgProduceAll(t, cl, []*kgo.Record{{Topic: "grow", Partition: 4, Value: []byte("in the new partition")}})
	b.Restart()
	td, err := fgAdmin(t, b.Addr()).ListTopics(ctx, "grow")
	if err != nil || len(td["grow"].Partitions) != 5 {
		t.Fatalf("after restart: %+v %v", td, err)
	}
	got := fgConsume(t, b.Addr(), "grow", 5, 1)
	if len(got[4]) != 1 || string(got[4][0].Value) != "in the new partition" {
		t.Fatalf("partition 4 after restart: %v", got)
	}

	// sarama's ClusterAdmin, with an explicit assignment.
	forEachSaramaVersion(t, func(t *testing.T, v sarama.KafkaVersion) {
		topic := saramaTopicName("grow", v.String())
		sa := newSaramaAdmin(t, b.Addr(), saramaConfig(v))
		saramaCreateTopic(t, sa, topic, 1, nil)
		if err := sa.CreatePartitions(topic, 3, [][]int32{{1}, {1}}, false); err != nil {
			t.Fatal(err)
		}
		if err := sa.CreatePartitions(topic, 4, [][]int32{{7}}, false); !errors.Is(err, sarama.ErrInvalidReplicaAssignment) {
			t.Fatalf("assignment to another broker: %v", err)
		}
		md, err := sa.DescribeTopics([]string{topic})
		if err != nil || len(md) != 1 || len(md[0].Partitions) != 3 {
			t.Fatalf("described: %v %v", md, err)
		}
	})
}

// TestClusterAdmin: DescribeCluster, OffsetForLeaderEpoch, ElectLeaders,
// partition reassignments and DescribeLogDirs answered as a single-node
// Kafka answers them, through kadm and sarama.
func TestClusterAdmin(t *testing.T) {
	t.Parallel()
	b := brokertest.New(t)
	addr := b.Addr()
	adm := fgAdmin(t, addr)
	ctx := fgCtx(t)
	fgCreateTopic(t, adm, "adm", 2, nil)
	fgProduceAll(t, fgClient(t, addr, kgo.RecordPartitioner(kgo.ManualPartitioner())),
		[]*kgo.Record{{Topic: "adm", Partition: 1, Value: []byte("a")}, {Topic: "adm", Partition: 1, Value: []byte("b")}})

	// OffsetForLeaderEpoch: epoch 0 ends at the log end; a later epoch is
	// undefined.
	var req kadm.OffsetForLeaderEpochRequest
	req.Add("adm", 1, 0)
	req.Add("adm", 0, 5)
	oe, err := adm.OffsetForLeaderEpoch(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if r := oe["adm"][1]; r.Err != nil || r.EndOffset != 2 || r.LeaderEpoch != 0 {
		t.Fatalf("epoch 0: %+v", r)
	}
	if r := oe["adm"][0]; r.Err != nil || r.EndOffset != -1 || r.LeaderEpoch != -1 {
		t.Fatalf("epoch 5: %+v", r)
	}

	// ElectLeaders: the only replica leads already.
	el, err := adm.ElectLeaders(ctx, kadm.ElectPreferredReplica, kadm.TopicsSet{"adm": {0: {}, 1: {}}})
	if err != nil {
		t.Fatal(err)
	}
	if r := el["adm"][0]; !errors.Is(r.Err, kerr.ElectionNotNeeded) {
		t.Fatalf("elect: %+v", r)
	}
	if all, err := adm.ElectLeaders(ctx, kadm.ElectLiveReplica, nil); err != nil || len(all) != 0 {
		t.Fatalf("elect all: %+v %v", all, err)
	}

	// Reassignments: to this broker is done at once, elsewhere refused,
	// cancelling finds nothing in progress, and none is listed.
	var ar kadm.AlterPartitionAssignmentsReq
	ar.Assign("adm", 0, []int32{1})
	ar.Assign("adm", 1, []int32{2})
	ar.CancelAssign("adm", 0)
	res, err := adm.AlterPartitionAssignments(ctx, ar)
	if err != nil {
		t.Fatal(err)
	}
	if r := res["adm"][1]; !errors.Is(r.Err, kerr.InvalidReplicaAssignment) {
		t.Fatalf("reassign to broker 2: %+v", r)
	}
	var ok kadm.AlterPartitionAssignmentsReq
	ok.Assign("adm", 0, []int32{1})
	if res, err := adm.AlterPartitionAssignments(ctx, ok); err != nil || res["adm"][0].Err != nil {
		t.Fatalf("reassign to this broker: %+v %v", res, err)
	}
	var cancel kadm.AlterPartitionAssignmentsReq
	cancel.CancelAssign("adm", 0)
	if res, err := adm.AlterPartitionAssignments(ctx, cancel); err != nil || !errors.Is(res["adm"][0].Err, kerr.NoReassignmentInProgress) {
		t.Fatalf("cancel: %+v %v", res, err)
	}
	if ls, err := adm.ListPartitionReassignments(ctx, nil); err != nil || len(ls) != 0 {
		t.Fatalf("list reassignments: %+v %v", ls, err)
	}

	// DescribeLogDirs: one directory with each partition's size and the
	// volume's space.
	dirs, err := adm.DescribeAllLogDirs(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var n int
	var size int64
	dirs.Each(func(d kadm.DescribedLogDir) {
		n++
		if d.Err != nil || d.TotalBytes <= 0 || d.UsableBytes <= 0 || d.Dir == "" {
			t.Errorf("log dir %+v", d)
		}
		size = d.Size()
	})
	if n != 1 || size <= 0 {
		t.Fatalf("%d log dirs, %d bytes", n, size)
	}

	// sarama's ClusterAdmin sees the same cluster.
	sa := newSaramaAdmin(t, addr, saramaConfig(sarama.MaxVersion))
	brokers, controller, err := sa.DescribeCluster()
	if err != nil || len(brokers) != 1 || controller != brokers[0].ID() {
		t.Fatalf("DescribeCluster: %v %d %v", brokers, controller, err)
	}
	ld, err := sa.DescribeLogDirs([]int32{controller})
	if err != nil || len(ld[controller]) != 1 {
		t.Fatalf("DescribeLogDirs: %+v %v", ld, err)
	}
	er, err := sa.ElectLeaders(sarama.PreferredElection, map[string][]int32{"adm": {1}})
	if err != nil || er["adm"][1].ErrorCode != sarama.ErrElectionNotNeeded {
		t.Fatalf("ElectLeaders: %+v %v", er, err)
	}
}

// topicConfig returns a topic's effective value and source of name.
func topicConfig(t *testing.T, adm *kadm.Client, topic, name string) (string, kmsg.ConfigSource) {
	t.Helper()
	rc, err := adm.DescribeTopicConfigs(fgCtx(t), topic)
	if err != nil {
		t.Fatal(err)
	}
	r, err := rc.On(topic, nil)
	if err != nil || r.Err != nil {
		t.Fatalf("describe %s: %v %v", topic, err, r.Err)
	}
	for _, c := range r.Configs {
		if c.Key == name {
			v := ""
			if c.Value != nil {
				v = *c.Value
			}
			return v, c.Source
		}
	}
	t.Fatalf("%s has no config %s", topic, name)
	return "", 0
}

// TestAlterTopicConfigs: kadm's incremental and whole-state alterations and
// sarama's are visible at once in DescribeConfigs, take effect at once (a
// lowered max.message.bytes refuses the next batch), and survive a restart.
func TestAlterTopicConfigs(t *testing.T) {
	t.Parallel()
	b := brokertest.New(t)
	addr := b.Addr()
	adm := fgAdmin(t, addr)
	ctx := fgCtx(t)
	const topic = "alter"
	fgCreateTopic(t, adm, topic, 1, map[string]string{"retention.ms": "600000"})
	s := kadm.StringPtr
	big := make([]byte, 4000)
	rand.Read(big) // incompressible: the batch stays above 1000 bytes
	cl := fgClient(t, addr, kgo.DisableIdempotentWrite(), kgo.RecordRetries(0))
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: big}).FirstErr(); err != nil {
		t.Fatal(err)
	}

	// Incremental: set, and it bites at once.
	res, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{
		{Op: kadm.SetConfig, Name: "max.message.bytes", Value: s("1000")},
		{Op: kadm.AppendConfig, Name: "cleanup.policy", Value: s("compact")},
	}, topic)
	if err != nil || res[0].Err != nil {
		t.Fatalf("incremental alter: %+v %v", res, err)
	}
	if v, src := topicConfig(t, adm, topic, "max.message.bytes"); v != "1000" || src != kmsg.ConfigSourceDynamicTopicConfig {
		t.Fatalf("max.message.bytes %q from %v", v, src)
	}
	if v, _ := topicConfig(t, adm, topic, "cleanup.policy"); v != "delete,compact" {
		t.Fatalf("cleanup.policy %q", v)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: big}).FirstErr(); !errors.Is(err, kerr.MessageTooLarge) {
		t.Fatalf("a batch above the lowered max.message.bytes: %v", err)
	}
	// Refusals change nothing.
	for _, c := range []struct {
		cfg  kadm.AlterConfig
		want error
	}{
		{kadm.AlterConfig{Op: kadm.SetConfig, Name: "no.such.config", Value: s("1")}, kerr.InvalidConfig},
		{kadm.AlterConfig{Op: kadm.SetConfig, Name: "retention.ms", Value: s("soon")}, kerr.InvalidConfig},
		{kadm.AlterConfig{Op: kadm.AppendConfig, Name: "retention.ms", Value: s("1")}, kerr.InvalidConfig},
	} {
		res, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{c.cfg}, topic)
		if err != nil || !errors.Is(res[0].Err, c.want) {
			t.Fatalf("%+v: %+v %v, want %v", c.cfg, res, err, c.want)
		}
	}
	if res, err := adm.ValidateAlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "retention.ms", Value: s("5")}}, topic); err != nil || res[0].Err != nil {
		t.Fatalf("validate only: %+v %v", res, err)
	}
	if v, _ := topicConfig(t, adm, topic, "retention.ms"); v != "600000" {
		t.Fatalf("retention.ms %q after refusals and validate_only", v)
	}
	if res, err := adm.AlterTopicConfigs(ctx, nil, "missing"); err == nil && len(res) > 0 && res[0].Err == nil {
		t.Fatalf("unknown topic: %+v", res)
	}

	// Delete: back to the default, and the big batch goes in again.
	if res, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.DeleteConfig, Name: "max.message.bytes"}}, topic); err != nil || res[0].Err != nil {
		t.Fatalf("delete: %+v %v", res, err)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Key: []byte("k"), Value: big}).FirstErr(); err != nil { // keyed: compacted now
		t.Fatalf("after delete: %v", err)
	}

	// The whole-state AlterConfigs replaces every set config.
	if res, err := adm.AlterTopicConfigsState(ctx, []kadm.AlterConfig{{Name: "segment.ms", Value: s("3600000")}}, topic); err != nil || res[0].Err != nil {
		t.Fatalf("state alter: %+v %v", res, err)
	}
	if _, src := topicConfig(t, adm, topic, "retention.ms"); src != kmsg.ConfigSourceDefaultConfig {
		t.Fatalf("retention.ms still set after a whole-state alter: %v", src)
	}

	// sarama, both kinds.
	sa := newSaramaAdmin(t, addr, saramaConfig(sarama.MaxVersion))
	if err := sa.AlterConfig(sarama.TopicResource, topic, map[string]*string{"retention.bytes": s("1048576")}, false); err != nil {
		t.Fatal(err)
	}
	if err := sa.IncrementalAlterConfig(sarama.TopicResource, topic, map[string]sarama.IncrementalAlterConfigsEntry{
		"flush.messages": {Operation: sarama.IncrementalAlterConfigsOperationSet, Value: s("1000")},
	}, false); err != nil {
		t.Fatal(err)
	}
	err = sa.IncrementalAlterConfig(sarama.TopicResource, topic, map[string]sarama.IncrementalAlterConfigsEntry{
		"flush.messages": {Operation: sarama.IncrementalAlterConfigsOperationSet, Value: s("-5")},
	}, false)
	if !errors.Is(err, sarama.ErrInvalidConfig) {
		t.Fatalf("sarama invalid value: %v", err)
	}

	// Everything set survives a restart.
	b.Restart()
	adm = fgAdmin(t, b.Addr())
	for name, want := range map[string]string{"retention.bytes": "1048576", "flush.messages": "1000"} {
		if v, src := topicConfig(t, adm, topic, name); v != want || src != kmsg.ConfigSourceDynamicTopicConfig {
			t.Fatalf("%s after restart: %q from %v", name, v, src)
		}
	}
}

// brokerConfig returns a broker resource's value and source of name, ok
// false when the resource does not list it.
func brokerConfig(t *testing.T, adm *kadm.Client, broker int32, all bool, name string) (string, kmsg.ConfigSource, bool) {
	t.Helper()
	var rc kadm.ResourceConfigs
	var err error
	if all {
		rc, err = adm.DescribeBrokerConfigs(fgCtx(t))
	} else {
		rc, err = adm.DescribeBrokerConfigs(fgCtx(t), broker)
	}
	if err != nil || len(rc) != 1 || rc[0].Err != nil {
		t.Fatalf("describe broker configs: %+v %v", rc, err)
	}
	for _, c := range rc[0].Configs {
		if c.Key == name {
			v := ""
			if c.Value != nil {
				v = *c.Value
			}
			return v, c.Source, true
		}
	}
	return "", 0, false
}

// TestAlterBrokerConfigs: dynamic broker configs, per broker and
// cluster-wide, change the broker's values and the topics' defaults at
// once, are refused for read-only configs, and survive a restart.
func TestAlterBrokerConfigs(t *testing.T) {
	t.Parallel()
	b := brokertest.New(t)
	addr := b.Addr()
	adm := fgAdmin(t, addr)
	ctx := fgCtx(t)
	fgCreateTopic(t, adm, "dyn", 1, nil)
	s := kadm.StringPtr

	res, err := adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Name: "log.retention.ms", Value: s("7200000")}}, fgNode)
	if err != nil || res[0].Err != nil {
		t.Fatalf("alter broker: %+v %v", res, err)
	}
	if v, src, _ := brokerConfig(t, adm, fgNode, false, "log.retention.ms"); v != "7200000" || src != kmsg.ConfigSourceDynamicBrokerConfig {
		t.Fatalf("log.retention.ms %q from %v", v, src)
	}
	if v, src := topicConfig(t, adm, "dyn", "retention.ms"); v != "7200000" || src != kmsg.ConfigSourceDynamicBrokerConfig {
		t.Fatalf("topic retention.ms %q from %v", v, src)
	}

	// Cluster-wide default: message.max.bytes, which the topic's
	// max.message.bytes follows; a big batch is refused at once.
	res, err = adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Name: "message.max.bytes", Value: s("1000")}})
	if err != nil || res[0].Err != nil {
		t.Fatalf("alter cluster default: %+v %v", res, err)
	}
	if v, src, ok := brokerConfig(t, adm, 0, true, "message.max.bytes"); !ok || v != "1000" || src != kmsg.ConfigSourceDynamicDefaultBrokerConfig {
		t.Fatalf("default message.max.bytes %q from %v (%v)", v, src, ok)
	}
	big := make([]byte, 4000)
	rand.Read(big)
	cl := fgClient(t, addr, kgo.DisableIdempotentWrite(), kgo.RecordRetries(0))
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "dyn", Value: big}).FirstErr(); !errors.Is(err, kerr.MessageTooLarge) {
		t.Fatalf("a batch above the cluster's message.max.bytes: %v", err)
	}

	// Read-only configs and other brokers are refused.
	res, err = adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Name: "num.partitions", Value: s("3")}, {Name: "node.id", Value: s("2")}}, fgNode)
	if err != nil || !errors.Is(res[0].Err, kerr.InvalidRequest) {
		t.Fatalf("read-only: %+v %v", res, err)
	}
	if v, _, _ := brokerConfig(t, adm, fgNode, false, "node.id"); v != "1" {
		t.Fatalf("node.id %q after a refused change", v)
	}

	// sarama's whole-state AlterConfigs on this broker replaces its set.
	sa := newSaramaAdmin(t, addr, saramaConfig(sarama.MaxVersion))
	if err := sa.AlterConfig(sarama.BrokerResource, "1", map[string]*string{"log.segment.bytes": s("2097152")}, false); err != nil {
		t.Fatal(err)
	}
	if _, src, _ := brokerConfig(t, adm, fgNode, false, "log.retention.ms"); src == kmsg.ConfigSourceDynamicBrokerConfig {
		t.Fatal("log.retention.ms still dynamic after a whole-state alter")
	}

	// After a restart the dynamic values are back.
	b.Restart()
	adm = fgAdmin(t, b.Addr())
	if v, src := topicConfig(t, adm, "dyn", "segment.bytes"); v != "2097152" || src != kmsg.ConfigSourceDynamicBrokerConfig {
		t.Fatalf("topic segment.bytes after restart %q from %v", v, src)
	}
	if v, src := topicConfig(t, adm, "dyn", "max.message.bytes"); v != "1000" || src != kmsg.ConfigSourceDynamicDefaultBrokerConfig {
		t.Fatalf("topic max.message.bytes after restart %q from %v", v, src)
	}
}

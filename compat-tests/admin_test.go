package compattests

// Admin APIs of the configs-and-admin issue, driven by kadm and sarama's
// ClusterAdmin.

import (
	"errors"
	"testing"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

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

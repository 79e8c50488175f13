package compattests

// Admin APIs of the configs-and-admin issue, driven by kadm and sarama's
// ClusterAdmin.

import (
	"errors"
	"testing"

	"github.com/IBM/sarama"
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

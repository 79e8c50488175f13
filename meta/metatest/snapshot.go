package metatest

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/streamhouse/streamhouse/meta"
)

// Fill stores some of everything a catalog holds in c: topics with configs
// and changed versions, offsets, groups' metadata, transactions, broker
// configs, client quotas, SCRAM credentials, ACLs, producer ids and the
// cluster id. For tests of whole-catalog operations (Export and Import,
// catalog copy).
func Fill(t testing.TB, c meta.Catalog) {
	t.Helper()
	ctx := t.Context()
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("fill: %s: %v", what, err)
		}
	}
	_, err := c.ClusterID(ctx)
	must("cluster id", err)
	_, err = c.AllocateProducerIDs(ctx, 1000)
	must("producer ids", err)
	for i, name := range []string{"orders", "payments", "a.b"} {
		tp := topic(t, name, int32(i+1), map[string]string{"retention.ms": "1000", "cleanup.policy": "delete"})
		CreateTopic(t, c, tp)
		if i == 0 {
			must("set partitions", c.SetPartitions(ctx, tp.ID, 1, 6))
			must("set configs", c.SetTopicConfigs(ctx, tp.ID, 2, map[string]string{"segment.bytes": "1048576"}))
		}
	}
	at := time.UnixMilli(1_700_000_000_321).UTC()
	must("offsets", c.CommitOffsets(ctx, []meta.GroupOffset{
		{Group: "billing", Topic: "orders", Partition: 0, Offset: 42, LeaderEpoch: 3, Metadata: "m", CommitTime: at},
		{Group: "billing", Topic: "orders", Partition: 5, Offset: 7, LeaderEpoch: -1, CommitTime: at},
		{Group: "audit", Topic: "payments", Partition: 1, Offset: 1, LeaderEpoch: -1, CommitTime: at},
	}))
	tx := meta.Transaction{ID: "tx-1", ProducerID: 5, ProducerEpoch: 2, LastProducerID: -1, LastProducerEpoch: -1, TimeoutMs: 60000,
		State: "Ongoing", Partitions: []meta.TopicPartition{{Topic: "orders", Partition: 1}}, Groups: []string{"billing"},
		Offsets:   []meta.GroupOffset{{Group: "billing", Topic: "orders", Partition: 1, Offset: 9, LeaderEpoch: -1, CommitTime: at}},
		StartTime: at, UpdateTime: at}
	must("transaction", c.PutTransaction(ctx, tx, nil))
	tx.Version, tx.State = 1, "Ongoing"
	must("transaction again", c.PutTransaction(ctx, tx, nil))
	must("broker configs", c.SetBrokerConfigs(ctx, "", 0, map[string]string{"log.retention.ms": "5000"}))
	must("broker configs of 1", c.SetBrokerConfigs(ctx, "1", 0, map[string]string{"message.max.bytes": "2000000"}))
	must("broker configs of 1 emptied", c.SetBrokerConfigs(ctx, "1", 1, nil))
	app := "app"
	must("client quota", c.SetClientQuota(ctx, meta.ClientQuota{Entity: []meta.QuotaEntityPart{{Type: "client-id", Name: &app}}, Values: map[string]float64{"producer_byte_rate": 1024}}))
	must("scram", c.AlterScramCredentials(ctx, []meta.ScramCredential{
		{User: "alice", Mechanism: 1, Salt: []byte("salt"), StoredKey: []byte("stored"), ServerKey: []byte("server"), Iterations: 4096},
		{User: "alice", Mechanism: 2, Salt: []byte("salt2"), StoredKey: []byte("stored2"), ServerKey: []byte("server2"), Iterations: 8192},
	}, nil))
	tid := NewTopicID(t)
	must("remote segment", c.AddRemoteSegment(ctx, meta.RemoteSegment{TopicID: tid, Partition: 3, ID: "u1", BaseOffset: 0, EndOffset: 100,
		MaxTimestamp: 1_700_000_000_000, Size: 4096, Checksum: "abc", CreatedAt: at}))
	must("remote log start", c.SetRemoteLogStart(ctx, tid, 3, 40))
	must("groups", c.PutGroups(ctx, SampleGroups(t)))
	must("share states", c.PutShareStates(ctx, SampleShareStates(t), nil))
	must("group configs", c.SetGroupConfigs(ctx, "queue", 0, map[string]string{"share.auto.offset.reset": "earliest"}))
	must("acls", c.CreateACLs(ctx, []meta.ACL{
		{ResourceType: 2, ResourceName: "orders", PatternType: 3, Principal: "User:alice", Host: "*", Operation: 3, Permission: 3},
		{ResourceType: 3, ResourceName: "bill", PatternType: 4, Principal: "User:bob", Host: "10.0.0.1", Operation: 2, Permission: 2},
	}))
	must("delegation token", c.CreateDelegationToken(ctx, meta.DelegationToken{ID: "tok1", Owner: "User:alice", Requester: "User:admin",
		Renewers: []string{"User:bob"}, IssueTime: 1000, ExpiryTime: 2000, MaxTime: 3000}))
}

// EqualSnapshots reports an error unless got and want hold the same catalog.
func EqualSnapshots(t testing.TB, got, want meta.Snapshot) {
	t.Helper()
	norm := func(s meta.Snapshot) meta.Snapshot {
		for i := range s.Topics {
			s.Topics[i].CreatedAt = s.Topics[i].CreatedAt.Truncate(time.Millisecond).UTC()
		}
		return s
	}
	got, want = norm(got), norm(want)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("snapshots differ\n got %+v\nwant %+v", got, want)
	}
}

// testSnapshot: Export reads everything, Import into an empty catalog
// gives one that exports the same and works on from there, and Import into
// one that holds anything changes nothing.
func testSnapshot(t *testing.T, open func(t *testing.T) meta.Catalog) {
	ctx := t.Context()
	src := open(t)
	Fill(t, src)
	snap, err := src.Export(ctx)
	if err != nil {
		t.Fatalf("Export: %v", err)
	}
	if len(snap.Topics) != 3 || len(snap.Offsets) != 3 || len(snap.Transactions) != 1 || len(snap.BrokerConfigs) != 2 ||
		len(snap.ClientQuotas) != 1 || len(snap.ScramCredentials) != 2 || len(snap.ACLs) != 2 || len(snap.DelegationTokens) != 1 || snap.ClusterID == "" || snap.NextProducerID < 1000 ||
		len(snap.RemoteSegments) != 1 || len(snap.RemoteLogStarts) != 1 || len(snap.Groups) != 3 ||
		len(snap.ShareStates) != 3 || len(snap.GroupConfigs) != 1 {
		t.Fatalf("Export missed something: %+v", snap)
	}
	dst := open(t)
	if err := dst.Import(ctx, snap); err != nil {
		t.Fatalf("Import: %v", err)
	}
	again, err := dst.Export(ctx)
	if err != nil {
		t.Fatalf("Export of the import: %v", err)
	}
	EqualSnapshots(t, again, snap)
	if err := dst.Import(ctx, snap); !errors.Is(err, meta.ErrNotEmpty) {
		t.Errorf("Import into a catalog holding the snapshot: err = %v, want %v", err, meta.ErrNotEmpty)
	}
	// The imported catalog carries on: same cluster id, producer ids
	// after the source's, versions where the source left them.
	if id, err := dst.ClusterID(ctx); err != nil || id != snap.ClusterID {
		t.Errorf("ClusterID = %q, %v; want %q", id, err, snap.ClusterID)
	}
	if first, err := dst.AllocateProducerIDs(ctx, 1); err != nil || first < snap.NextProducerID {
		t.Errorf("AllocateProducerIDs = %d, %v; want at least %d", first, err, snap.NextProducerID)
	}
	orders := snap.Topics[1] // by name: a.b, orders, payments
	if err := dst.SetTopicConfigs(ctx, orders.ID, orders.Version, nil); err != nil {
		t.Errorf("SetTopicConfigs at the exported version: %v", err)
	}
	// A catalog holding only a cluster id is not empty.
	other := open(t)
	if _, err := other.ClusterID(ctx); err != nil {
		t.Fatal(err)
	}
	if err := other.Import(ctx, snap); !errors.Is(err, meta.ErrNotEmpty) {
		t.Errorf("Import into a catalog with a cluster id: err = %v, want %v", err, meta.ErrNotEmpty)
	}
	if got, err := other.Topics(ctx); err != nil || len(got) != 0 {
		t.Errorf("a refused Import left topics: %+v, %v", got, err)
	}
}

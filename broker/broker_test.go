package broker_test

import (
	"encoding/binary"
	"hash/crc32"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/streamhouse/streamhouse/broker/brokertest"
	"github.com/streamhouse/streamhouse/protocol"
	"github.com/streamhouse/streamhouse/storage/storagetest"
)

// createTopic makes a topic with CreateTopics v7 and returns its ID.
func createTopic(t *testing.T, c *rawConn, name string, partitions int32, configs map[string]string) [16]byte {
	t.Helper()
	req := at(kmsg.NewPtrCreateTopicsRequest(), 7)
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = name, partitions, 1
	for k, v := range configs {
		cfg := kmsg.NewCreateTopicsRequestTopicConfig()
		cfg.Name, cfg.Value = k, kmsg.StringPtr(v)
		rt.Configs = append(rt.Configs, cfg)
	}
	req.Topics = append(req.Topics, rt)
	resp := c.do(req).(*kmsg.CreateTopicsResponse)
	if code := resp.Topics[0].ErrorCode; code != 0 {
		t.Fatalf("create %s: %v %v", name, kerr.ErrorForCode(code), deref(resp.Topics[0].ErrorMessage))
	}
	return resp.Topics[0].TopicID
}

func deref(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}

// produce sends one batch at Produce v9 and returns the partition answer.
func produce(t *testing.T, c *rawConn, topic string, partition int32, acks int16, records []byte) kmsg.ProduceResponseTopicPartition {
	t.Helper()
	req := at(kmsg.NewPtrProduceRequest(), 9)
	req.Acks = acks
	req.TimeoutMillis = 5000
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition, rp.Records = partition, records
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic, rt.Partitions = topic, []kmsg.ProduceRequestTopicPartition{rp}
	req.Topics = []kmsg.ProduceRequestTopic{rt}
	return c.do(req).(*kmsg.ProduceResponse).Topics[0].Partitions[0]
}

func fetchReq(v int16, topic string, id [16]byte, partition int32, offset int64) *kmsg.FetchRequest {
	req := at(kmsg.NewPtrFetchRequest(), v)
	req.MaxBytes = 1 << 20
	req.SessionEpoch = -1
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes = partition, offset, 1<<20
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic, rt.TopicID, rt.Partitions = topic, id, []kmsg.FetchRequestTopicPartition{rp}
	req.Topics = []kmsg.FetchRequestTopic{rt}
	return req
}

func TestApiVersions(t *testing.T) {
	t.Parallel()
	b := brokertest.New(t)
	table := protocol.NewTable(protocol.Implemented())
	for v := int16(0); v <= 5; v++ {
		c := dialRaw(t, b.Addr())
		req := at(kmsg.NewPtrApiVersionsRequest(), v)
		req.ClientSoftwareName, req.ClientSoftwareVersion = "streamhouse-test", "1.0"
		resp := c.do(req).(*kmsg.ApiVersionsResponse)
		if resp.ErrorCode != 0 || len(resp.ApiKeys) != len(table.Ranges()) {
			t.Fatalf("v%d: error %d, %d keys", v, resp.ErrorCode, len(resp.ApiKeys))
		}
		for _, k := range resp.ApiKeys {
			r, _ := table.Range(k.ApiKey)
			if k.MinVersion != r.Min || k.MaxVersion != r.Max {
				t.Fatalf("v%d: key %d advertised v%d-v%d, table v%d-v%d", v, k.ApiKey, k.MinVersion, k.MaxVersion, r.Min, r.Max)
			}
		}
	}

	tests := []struct {
		name    string
		mod     func(*kmsg.ApiVersionsRequest)
		version int16
		want    int16
	}{
		{"v3 bad software name", func(r *kmsg.ApiVersionsRequest) { r.ClientSoftwareName = "-bad name" }, 3, kerr.InvalidRequest.Code},
		{"v5 cluster without node", func(r *kmsg.ApiVersionsRequest) { r.ClusterID = kmsg.StringPtr(b.Server().ClusterID()) }, 5, kerr.InvalidRequest.Code},
		{"v5 wrong cluster", func(r *kmsg.ApiVersionsRequest) { r.ClusterID, r.NodeID = kmsg.StringPtr("other"), 1 }, 5, kerr.RebootstrapRequired.Code},
		{"v5 wrong node", func(r *kmsg.ApiVersionsRequest) { r.ClusterID, r.NodeID = kmsg.StringPtr(b.Server().ClusterID()), 7 }, 5, kerr.RebootstrapRequired.Code},
		{"v5 right cluster and node", func(r *kmsg.ApiVersionsRequest) { r.ClusterID, r.NodeID = kmsg.StringPtr(b.Server().ClusterID()), 1 }, 5, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := dialRaw(t, b.Addr())
			req := at(kmsg.NewPtrApiVersionsRequest(), tc.version)
			req.ClientSoftwareName, req.ClientSoftwareVersion = "streamhouse-test", "1.0"
			tc.mod(req)
			if got := c.do(req).(*kmsg.ApiVersionsResponse).ErrorCode; got != tc.want {
				t.Fatalf("error %v, want %v", kerr.ErrorForCode(got), kerr.ErrorForCode(tc.want))
			}
		})
	}

	// KIP-511: a version above ours is answered in the v0 format with
	// UNSUPPORTED_VERSION and the versions of ApiVersions we serve, as
	// Kafka answers.
	c := dialRaw(t, b.Addr())
	corr := c.send(at(kmsg.NewPtrApiVersionsRequest(), 99))
	resp, err := c.recv(at(kmsg.NewPtrApiVersionsRequest(), 0), corr)
	if err != nil {
		t.Fatal(err)
	}
	av := resp.(*kmsg.ApiVersionsResponse)
	if av.ErrorCode != kerr.UnsupportedVersion.Code || len(av.ApiKeys) != 1 || av.ApiKeys[0].ApiKey != 18 || av.ApiKeys[0].MaxVersion != 5 {
		t.Fatalf("v99: error %d, keys %+v", av.ErrorCode, av.ApiKeys)
	}
}

func TestMetadata(t *testing.T) {
	t.Parallel()
	b := brokertest.New(t, brokertest.Options{Settings: map[string]string{"num.partitions": "2"}})
	c := dialRaw(t, b.Addr())
	id := createTopic(t, c, "known", 3, nil)

	topicsOf := func(r *kmsg.MetadataResponse) map[string]kmsg.MetadataResponseTopic {
		m := map[string]kmsg.MetadataResponseTopic{}
		for _, mt := range r.Topics {
			m[deref(mt.Topic)] = mt
		}
		return m
	}

	// v0 empty list and v1+ null list mean every topic.
	for _, v := range []int16{0, 1, 9, 13} {
		req := at(kmsg.NewPtrMetadataRequest(), v)
		if v == 0 {
			req.Topics = []kmsg.MetadataRequestTopic{}
		}
		resp := c.do(req).(*kmsg.MetadataResponse)
		mt, ok := topicsOf(resp)["known"]
		if !ok || len(mt.Partitions) != 3 {
			t.Fatalf("v%d: all topics: %+v", v, resp.Topics)
		}
		if len(resp.Brokers) != 1 || resp.Brokers[0].NodeID != 1 || resp.ControllerID != 1 && v >= 1 {
			t.Fatalf("v%d: brokers %+v controller %d", v, resp.Brokers, resp.ControllerID)
		}
		for _, p := range mt.Partitions {
			if p.Leader != 1 || len(p.Replicas) != 1 || len(p.ISR) != 1 {
				t.Fatalf("v%d: partition %+v", v, p)
			}
		}
		if v >= 10 && mt.TopicID != id {
			t.Fatalf("v%d: topic id %x, want %x", v, mt.TopicID, id)
		}
	}

	named := func(v int16, allow bool, names ...string) *kmsg.MetadataRequest {
		req := at(kmsg.NewPtrMetadataRequest(), v)
		req.AllowAutoTopicCreation = allow
		req.Topics = []kmsg.MetadataRequestTopic{}
		for _, n := range names {
			rt := kmsg.NewMetadataRequestTopic()
			rt.Topic = kmsg.StringPtr(n)
			req.Topics = append(req.Topics, rt)
		}
		return req
	}
	// Auto-creation: always before v4, by the flag from v4.
	if mt := topicsOf(c.do(named(3, false, "auto-v3")).(*kmsg.MetadataResponse))["auto-v3"]; mt.ErrorCode != 0 || len(mt.Partitions) != 2 {
		t.Fatalf("v3 auto-create: %+v", mt)
	}
	if mt := topicsOf(c.do(named(9, false, "no-auto")).(*kmsg.MetadataResponse))["no-auto"]; mt.ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("v9 allow=false: %+v", mt)
	}
	if mt := topicsOf(c.do(named(9, true, "auto-v9")).(*kmsg.MetadataResponse))["auto-v9"]; mt.ErrorCode != 0 || len(mt.Partitions) != 2 {
		t.Fatalf("v9 allow=true: %+v", mt)
	}
	if mt := topicsOf(c.do(named(12, true, "bad/name")).(*kmsg.MetadataResponse))["bad/name"]; mt.ErrorCode != kerr.InvalidTopicException.Code {
		t.Fatalf("invalid name: %+v", mt)
	}

	// Topic IDs: looked up from v12, INVALID_REQUEST before.
	byID := func(v int16, id [16]byte) *kmsg.MetadataResponse {
		req := at(kmsg.NewPtrMetadataRequest(), v)
		rt := kmsg.NewMetadataRequestTopic()
		rt.TopicID = id
		req.Topics = []kmsg.MetadataRequestTopic{rt}
		return c.do(req).(*kmsg.MetadataResponse)
	}
	if r := byID(12, id); r.Topics[0].ErrorCode != 0 || deref(r.Topics[0].Topic) != "known" {
		t.Fatalf("v12 by id: %+v", r.Topics)
	}
	if r := byID(13, [16]byte{1, 2, 3}); r.Topics[0].ErrorCode != kerr.UnknownTopicID.Code {
		t.Fatalf("v13 unknown id: %+v", r.Topics)
	}
	if r := byID(11, id); r.Topics[0].ErrorCode != kerr.InvalidRequest.Code {
		t.Fatalf("v11 by id: %+v", r.Topics)
	}

	// auto.create.topics.enable=false: nothing is created.
	off := brokertest.New(t, brokertest.Options{Settings: map[string]string{"auto.create.topics.enable": "false"}})
	c2 := dialRaw(t, off.Addr())
	if mt := topicsOf(c2.do(named(1, true, "x")).(*kmsg.MetadataResponse))["x"]; mt.ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("auto-create disabled: %+v", mt)
	}
}

func TestProduceFetchListOffsets(t *testing.T) {
	t.Parallel()
	b := brokertest.New(t)
	c := dialRaw(t, b.Addr())
	id := createTopic(t, c, "t", 1, nil)

	const ts = 1_700_000_000_000
	var bases []int64
	for i := 0; i < 3; i++ {
		p := produce(t, c, "t", 0, -1, makeBatch(10, ts+int64(i)*1000))
		if p.ErrorCode != 0 {
			t.Fatalf("produce: %v", kerr.ErrorForCode(p.ErrorCode))
		}
		bases = append(bases, p.BaseOffset)
	}
	if bases[0] != 0 || bases[1] != 10 || bases[2] != 20 {
		t.Fatalf("base offsets %v", bases)
	}

	// Fetch by name (v12) and by ID (v13+), from the middle of a batch.
	for _, v := range []int16{4, 12, 13, 18} {
		resp := c.do(fetchReq(v, "t", id, 0, 15)).(*kmsg.FetchResponse)
		p := resp.Topics[0].Partitions[0]
		if p.ErrorCode != 0 || p.HighWatermark != 30 || p.LastStableOffset != 30 {
			t.Fatalf("v%d: %+v", v, p)
		}
		var rb kmsg.RecordBatch
		if err := rb.ReadFrom(p.RecordBatches); err != nil || rb.FirstOffset != 10 {
			t.Fatalf("v%d: first batch at %d (%v); want the batch holding 15", v, rb.FirstOffset, err)
		}
	}
	// Errors: unknown ID, out of range, fenced epoch, sessions.
	if p := c.do(fetchReq(13, "", [16]byte{9}, 0, 0)).(*kmsg.FetchResponse).Topics[0].Partitions[0]; p.ErrorCode != kerr.UnknownTopicID.Code {
		t.Fatalf("unknown id: %v", kerr.ErrorForCode(p.ErrorCode))
	}
	if p := c.do(fetchReq(12, "t", id, 0, 31)).(*kmsg.FetchResponse).Topics[0].Partitions[0]; p.ErrorCode != kerr.OffsetOutOfRange.Code {
		t.Fatalf("beyond HW: %v", kerr.ErrorForCode(p.ErrorCode))
	}
	epoch := fetchReq(12, "t", id, 0, 0)
	epoch.Topics[0].Partitions[0].CurrentLeaderEpoch = 5
	if p := c.do(epoch).(*kmsg.FetchResponse).Topics[0].Partitions[0]; p.ErrorCode != kerr.UnknownLeaderEpoch.Code {
		t.Fatalf("epoch 5: %v", kerr.ErrorForCode(p.ErrorCode))
	}
	sess := fetchReq(12, "t", id, 0, 0)
	sess.SessionID = 42
	if r := c.do(sess).(*kmsg.FetchResponse); r.ErrorCode != kerr.FetchSessionIDNotFound.Code {
		t.Fatalf("session 42: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	sess.SessionID, sess.SessionEpoch = 0, 3
	if r := c.do(sess).(*kmsg.FetchResponse); r.ErrorCode != kerr.InvalidFetchSessionEpoch.Code {
		t.Fatalf("epoch 3 without session: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	// KIP-74: a partition limit smaller than a batch still returns one.
	small := fetchReq(12, "t", id, 0, 0)
	small.Topics[0].Partitions[0].PartitionMaxBytes = 10
	if p := c.do(small).(*kmsg.FetchResponse).Topics[0].Partitions[0]; len(p.RecordBatches) == 0 {
		t.Fatal("partition_max_bytes 10 returned nothing")
	}

	list := func(v int16, tss ...int64) []kmsg.ListOffsetsResponseTopicPartition {
		req := at(kmsg.NewPtrListOffsetsRequest(), v)
		req.ReplicaID = -1
		rt := kmsg.NewListOffsetsRequestTopic()
		rt.Topic = "t"
		for _, x := range tss {
			rp := kmsg.NewListOffsetsRequestTopicPartition()
			rp.Timestamp = x
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = []kmsg.ListOffsetsRequestTopic{rt}
		return c.do(req).(*kmsg.ListOffsetsResponse).Topics[0].Partitions
	}
	tests := []struct {
		name   string
		v      int16
		ts     int64
		code   int16
		offset int64
		stamp  int64
	}{
		{"earliest", 1, -2, 0, 0, -1},
		{"latest", 1, -1, 0, 30, -1},
		{"max timestamp", 7, -3, 0, 29, ts + 2009},
		{"max timestamp before v7", 6, -3, kerr.UnsupportedVersion.Code, -1, -1},
		{"earliest local", 8, -4, 0, 0, -1},
		{"latest tiered", 9, -5, 0, -1, -1},
		{"pending upload before v11", 10, -6, kerr.UnsupportedVersion.Code, -1, -1},
		{"unknown special", 11, -7, kerr.UnsupportedVersion.Code, -1, -1},
		{"before everything", 4, 0, 0, 0, ts},
		{"exact record", 4, ts + 1003, 0, 13, ts + 1003},
		{"between records", 4, ts + 1009, 0, 19, ts + 1009},
		{"after everything", 4, ts + 5000, 0, -1, -1},
	}
	for _, tc := range tests {
		p := list(tc.v, tc.ts)[0]
		if p.ErrorCode != tc.code || (tc.code == 0 && (p.Offset != tc.offset || p.Timestamp != tc.stamp)) {
			t.Errorf("%s: got code %d offset %d ts %d; want %d %d %d", tc.name, p.ErrorCode, p.Offset, p.Timestamp, tc.code, tc.offset, tc.stamp)
		}
	}
	if ps := list(4, -1, -2); ps[0].ErrorCode != kerr.InvalidRequest.Code || ps[1].ErrorCode != kerr.InvalidRequest.Code {
		t.Errorf("duplicate partition: %+v", ps)
	}
}

// TestListOffsetsBelowLogStart: a time whose first record was deleted
// (DeleteRecords to the middle of a batch, or past whole batches of a
// segment) is answered with the first record at or after the log start
// whose timestamp is at or after it, as Kafka answers.
func TestListOffsetsBelowLogStart(t *testing.T) {
	t.Parallel()
	b := brokertest.New(t)
	c := dialRaw(t, b.Addr())
	createTopic(t, c, "t", 1, nil)
	const ts = 1_700_000_000_000
	for i := 0; i < 3; i++ { // [0, 10) at ts+0.., [10, 20) at ts+1000.., [20, 30) at ts+2000..
		if p := produce(t, c, "t", 0, -1, makeBatch(10, ts+int64(i)*1000)); p.ErrorCode != 0 {
			t.Fatalf("produce: %v", kerr.ErrorForCode(p.ErrorCode))
		}
	}
	del := at(kmsg.NewPtrDeleteRecordsRequest(), 1)
	dt := kmsg.NewDeleteRecordsRequestTopic()
	dt.Topic = "t"
	dp := kmsg.NewDeleteRecordsRequestTopicPartition()
	dp.Partition, dp.Offset = 0, 15
	dt.Partitions = append(dt.Partitions, dp)
	del.Topics = append(del.Topics, dt)
	if p := c.do(del).(*kmsg.DeleteRecordsResponse).Topics[0].Partitions[0]; p.ErrorCode != 0 || p.LowWatermark != 15 {
		t.Fatalf("DeleteRecords to 15: low watermark %d, %v", p.LowWatermark, kerr.ErrorForCode(p.ErrorCode))
	}
	for _, tc := range []struct {
		name          string
		ts            int64
		offset, stamp int64
	}{
		{"a time in a batch wholly deleted", ts + 3, 15, ts + 1005},
		{"a deleted record's time", ts + 1003, 15, ts + 1005},
		{"the log start's time", ts + 1005, 15, ts + 1005},
		{"a time after the log start", ts + 2004, 24, ts + 2004},
	} {
		req := at(kmsg.NewPtrListOffsetsRequest(), 4)
		req.ReplicaID = -1
		rt := kmsg.NewListOffsetsRequestTopic()
		rt.Topic = "t"
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Timestamp = tc.ts
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		p := c.do(req).(*kmsg.ListOffsetsResponse).Topics[0].Partitions[0]
		if p.ErrorCode != 0 || p.Offset != tc.offset || p.Timestamp != tc.stamp {
			t.Errorf("%s: code %d offset %d ts %d; want offset %d ts %d", tc.name, p.ErrorCode, p.Offset, p.Timestamp, tc.offset, tc.stamp)
		}
	}
}

// A fetch waiting for data wakes when it arrives, and Shutdown wakes it too.
func TestFetchLongPoll(t *testing.T) {
	t.Parallel()
	b := brokertest.New(t)
	c := dialRaw(t, b.Addr())
	id := createTopic(t, c, "t", 1, nil)

	req := fetchReq(12, "t", id, 0, 0)
	req.MinBytes, req.MaxWaitMillis = 1, 30_000
	corr := c.send(req)
	time.Sleep(50 * time.Millisecond) // let the fetch start waiting; correctness does not depend on it
	p2 := dialRaw(t, b.Addr())
	if r := produce(t, p2, "t", 0, 1, storagetest.MakeBatch(1, 10, time.Now().UnixMilli())); r.ErrorCode != 0 {
		t.Fatal(kerr.ErrorForCode(r.ErrorCode))
	}
	resp, err := c.recv(req, corr)
	if err != nil {
		t.Fatal(err)
	}
	if p := resp.(*kmsg.FetchResponse).Topics[0].Partitions[0]; len(p.RecordBatches) == 0 {
		t.Fatal("woke without the record")
	}

	// Shutdown answers a waiting fetch instead of waiting 30 s.
	req = fetchReq(12, "t", id, 0, 1)
	req.MinBytes, req.MaxWaitMillis = 1, 30_000
	corr = c.send(req)
	time.Sleep(50 * time.Millisecond)
	done := make(chan struct{})
	go func() { defer close(done); b.Stop() }()
	if _, err := c.recv(req, corr); err != nil {
		t.Fatalf("waiting fetch was not answered at shutdown: %v", err)
	}
	<-done
}

func TestProduceErrors(t *testing.T) {
	t.Parallel()
	b := brokertest.New(t)
	c := dialRaw(t, b.Addr())
	createTopic(t, c, "t", 1, map[string]string{"max.message.bytes": "2000"})
	now := time.Now().UnixMilli()
	good := storagetest.MakeBatch(2, 10, now)

	tests := []struct {
		name string
		recs []byte
		acks int16
		part int32
		want int16
	}{
		{"too large", storagetest.MakeBatch(1, 3000, now), 1, 0, kerr.MessageTooLarge.Code},
		{"bad crc", flip(good, 70), 1, 0, kerr.CorruptMessage.Code},
		{"truncated", good[:len(good)-3], 1, 0, kerr.InvalidRecord.Code},
		{"empty", []byte{}, 1, 0, kerr.InvalidRecord.Code},
		{"two batches", append(append([]byte(nil), good...), good...), 1, 0, kerr.InvalidRecord.Code},
		{"unknown partition", good, 1, 7, kerr.UnknownTopicOrPartition.Code},
		{"bad acks", good, 2, 0, kerr.InvalidRequiredAcks.Code},
		{"future timestamp", storagetest.MakeBatch(1, 10, now+2*3600_000), 1, 0, kerr.InvalidTimestamp.Code},
	}
	for _, tc := range tests {
		p := produce(t, c, "t", tc.part, tc.acks, append([]byte(nil), tc.recs...))
		if p.ErrorCode != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, kerr.ErrorForCode(p.ErrorCode), kerr.ErrorForCode(tc.want))
		}
	}
	// Nothing of the refused batches was stored.
	if p := produce(t, c, "t", 0, 1, append([]byte(nil), good...)); p.ErrorCode != 0 || p.BaseOffset != 0 {
		t.Fatalf("good batch after refusals: %+v", p)
	}

	// acks=0 with an error closes the connection so the client notices.
	c0 := dialRaw(t, b.Addr())
	req := at(kmsg.NewPtrProduceRequest(), 9)
	req.Acks = 0
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = flip(good, 70)
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic, rt.Partitions = "t", []kmsg.ProduceRequestTopicPartition{rp}
	req.Topics = []kmsg.ProduceRequestTopic{rt}
	c0.send(req)
	if !c0.closed() {
		t.Fatal("acks=0 produce with a corrupt batch left the connection open")
	}
}

// TestMinInsyncReplicas: as Kafka, an acks=all produce to a topic whose
// min.insync.replicas exceeds its in-sync replicas (one, the only broker)
// is refused with NOT_ENOUGH_REPLICAS and stores nothing; acks=1 is not
// affected, and lowering the config lets acks=all through again.
func TestMinInsyncReplicas(t *testing.T) {
	t.Parallel()
	b := brokertest.New(t)
	c := dialRaw(t, b.Addr())
	createTopic(t, c, "t", 1, map[string]string{"min.insync.replicas": "2"})
	good := storagetest.MakeBatch(2, 10, time.Now().UnixMilli())
	if p := produce(t, c, "t", 0, -1, append([]byte(nil), good...)); p.ErrorCode != kerr.NotEnoughReplicas.Code {
		t.Fatalf("acks=all with min.insync.replicas 2 on one broker: %v, want NOT_ENOUGH_REPLICAS", kerr.ErrorForCode(p.ErrorCode))
	}
	if p := produce(t, c, "t", 0, 1, append([]byte(nil), good...)); p.ErrorCode != 0 || p.BaseOffset != 0 {
		t.Fatalf("acks=1: %+v, want stored at offset 0 (nothing of the refused produce stored)", p)
	}
	if code := alterTopicConfig(c, "t", "min.insync.replicas", "1"); code != 0 {
		t.Fatalf("alter min.insync.replicas: %v", kerr.ErrorForCode(code))
	}
	if p := produce(t, c, "t", 0, -1, append([]byte(nil), good...)); p.ErrorCode != 0 || p.BaseOffset != 2 {
		t.Fatalf("acks=all with min.insync.replicas 1: %+v, want stored at offset 2", p)
	}
}

// makeBatch builds an uncompressed batch of n records whose timestamps are
// ts, ts+1, ... ts+n-1, with kmsg as a client would.
func makeBatch(n int, ts int64) []byte {
	var recs []byte
	for i := range n {
		r := kmsg.NewRecord()
		r.TimestampDelta64 = int64(i)
		r.OffsetDelta = int32(i)
		r.Value = []byte("value")
		r.Length = int32(len(r.AppendTo(nil)) - 1) // minus the 1-byte varint of Length 0
		recs = r.AppendTo(recs)
	}
	rb := kmsg.NewRecordBatch()
	rb.PartitionLeaderEpoch = -1
	rb.Magic = 2
	rb.LastOffsetDelta = int32(n - 1)
	rb.FirstTimestamp = ts
	rb.MaxTimestamp = ts + int64(n-1)
	rb.ProducerID, rb.ProducerEpoch, rb.FirstSequence = -1, -1, -1
	rb.NumRecords = int32(n)
	rb.Records = recs
	b := rb.AppendTo(nil)
	rb.Length = int32(len(b) - 12)
	b = rb.AppendTo(nil)
	binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli)))
	return b
}

func flip(b []byte, i int) []byte {
	out := append([]byte(nil), b...)
	out[i] ^= 0xff
	return out
}

func TestDescribeConfigs(t *testing.T) {
	t.Parallel()
	b := brokertest.New(t, brokertest.Options{Settings: map[string]string{"log.retention.ms": "1000"}})
	c := dialRaw(t, b.Addr())
	createTopic(t, c, "t", 1, map[string]string{"cleanup.policy": "compact"})

	req := at(kmsg.NewPtrDescribeConfigsRequest(), 4)
	req.IncludeSynonyms, req.IncludeDocumentation = true, true
	for _, r := range []struct {
		typ   kmsg.ConfigResourceType
		name  string
		names []string
	}{
		{kmsg.ConfigResourceTypeTopic, "t", []string{"cleanup.policy", "retention.ms", "segment.bytes", "no.such"}},
		{kmsg.ConfigResourceTypeTopic, "missing", nil},
		{kmsg.ConfigResourceTypeBroker, "1", []string{"log.retention.ms"}},
		{kmsg.ConfigResourceTypeBroker, "2", nil},
		{kmsg.ConfigResourceTypeClientMetrics, "m", nil},
	} {
		rr := kmsg.NewDescribeConfigsRequestResource()
		rr.ResourceType, rr.ResourceName, rr.ConfigNames = r.typ, r.name, r.names
		req.Resources = append(req.Resources, rr)
	}
	resp := c.do(req).(*kmsg.DescribeConfigsResponse)
	got := func(i int) map[string]kmsg.DescribeConfigsResponseResourceConfig {
		m := map[string]kmsg.DescribeConfigsResponseResourceConfig{}
		for _, cfg := range resp.Resources[i].Configs {
			m[cfg.Name] = cfg
		}
		return m
	}
	topic := got(0)
	if len(topic) != 3 {
		t.Fatalf("topic configs: %v", topic)
	}
	if e := topic["cleanup.policy"]; deref(e.Value) != "compact" || e.Source != kmsg.ConfigSourceDynamicTopicConfig {
		t.Errorf("cleanup.policy: %+v", e)
	}
	if e := topic["retention.ms"]; deref(e.Value) != "1000" || e.Source != kmsg.ConfigSourceStaticBrokerConfig || len(e.ConfigSynonyms) == 0 {
		t.Errorf("retention.ms: %+v", e)
	}
	if e := topic["segment.bytes"]; deref(e.Value) != "1073741824" || e.Source != kmsg.ConfigSourceDefaultConfig || e.Documentation == nil {
		t.Errorf("segment.bytes: %+v", e)
	}
	for i, want := range []int16{0, kerr.UnknownTopicOrPartition.Code, 0, kerr.InvalidRequest.Code, kerr.InvalidRequest.Code} {
		if resp.Resources[i].ErrorCode != want {
			t.Errorf("resource %d: %v, want %v", i, kerr.ErrorForCode(resp.Resources[i].ErrorCode), kerr.ErrorForCode(want))
		}
	}
	if e := got(2)["log.retention.ms"]; deref(e.Value) != "1000" || e.Source != kmsg.ConfigSourceStaticBrokerConfig {
		t.Errorf("broker log.retention.ms: %+v", e)
	}
}

// Requests the broker does not serve close the connection, as Kafka does,
// and the broker keeps serving everyone else.
func TestUnservedRequestsCloseTheConnection(t *testing.T) {
	t.Parallel()
	b := brokertest.New(t)
	for _, req := range []kmsg.Request{
		at(kmsg.NewPtrMetadataRequest(), 99),
		at(kmsg.NewPtrProduceRequest(), 2),
	} {
		c := dialRaw(t, b.Addr())
		c.send(req)
		if !c.closed() {
			t.Errorf("%s v%d: connection left open", kmsg.NameForKey(req.Key()), req.GetVersion())
		}
	}
	c := dialRaw(t, b.Addr())
	c.do(at(kmsg.NewPtrMetadataRequest(), 12))
	if n := b.Server().Stats().Panics.Load(); n != 0 {
		t.Fatalf("%d panics", n)
	}

}

func TestFetchWokenByTopicDeletion(t *testing.T) {
	t.Parallel()
	b := brokertest.New(t)
	c := dialRaw(t, b.Addr())
	for _, v := range []int16{12, 13} {
		id := createTopic(t, c, "doomed", 1, nil)
		req := fetchReq(v, "doomed", id, 0, 0)
		req.MinBytes, req.MaxWaitMillis = 1, 60_000
		w := dialRaw(t, b.Addr())
		corr := w.send(req)
		time.Sleep(50 * time.Millisecond) // let the fetch start waiting; correctness does not depend on it
		del := at(kmsg.NewPtrDeleteTopicsRequest(), 6)
		dt := kmsg.NewDeleteTopicsRequestTopic()
		dt.Topic = kmsg.StringPtr("doomed")
		del.Topics = append(del.Topics, dt)
		if code := c.do(del).(*kmsg.DeleteTopicsResponse).Topics[0].ErrorCode; code != 0 {
			t.Fatal(kerr.ErrorForCode(code))
		}
		start := time.Now()
		resp, err := w.recv(req, corr)
		if err != nil {
			t.Fatal(err)
		}
		want := kerr.UnknownTopicOrPartition
		if v >= 13 {
			want = kerr.UnknownTopicID
		}
		if code := resp.(*kmsg.FetchResponse).Topics[0].Partitions[0].ErrorCode; code != want.Code {
			t.Errorf("v%d: fetch of a deleted topic: %v, want %v", v, kerr.ErrorForCode(code), want)
		}
		if waited := time.Since(start); waited > 30*time.Second {
			t.Errorf("v%d: fetch answered after %v, its max_wait rather than the deletion", v, waited)
		}
	}
}

func TestCreateTopicsReplicaAssignment(t *testing.T) {
	t.Parallel()
	b := brokertest.New(t)
	c := dialRaw(t, b.Addr())
	create := func(name string, parts ...int32) (kerr.Error, string) {
		req := at(kmsg.NewPtrCreateTopicsRequest(), 7)
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = name, -1, -1
		for _, p := range parts {
			a := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
			a.Partition, a.Replicas = p, []int32{1}
			rt.ReplicaAssignment = append(rt.ReplicaAssignment, a)
		}
		req.Topics = append(req.Topics, rt)
		st := c.do(req).(*kmsg.CreateTopicsResponse).Topics[0]
		if st.ErrorCode == 0 {
			return kerr.Error{}, ""
		}
		return *kerr.ErrorForCode(st.ErrorCode).(*kerr.Error), deref(st.ErrorMessage)
	}
	for _, tc := range []struct {
		name  string
		parts []int32
		want  int16
	}{
		{"in-order", []int32{0, 1, 2}, 0},
		{"any-order", []int32{2, 0, 3, 1}, 0},
		{"duplicate", []int32{0, 1, 1}, kerr.InvalidReplicaAssignment.Code},
		{"gap", []int32{0, 2}, kerr.InvalidReplicaAssignment.Code},
		{"negative", []int32{-1}, kerr.InvalidReplicaAssignment.Code},
	} {
		got, msg := create(tc.name, tc.parts...)
		if got.Code != tc.want {
			t.Errorf("%s %v: %s (%s), want code %d", tc.name, tc.parts, got.Message, msg, tc.want)
		}
	}
	md := at(kmsg.NewPtrMetadataRequest(), 12)
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = kmsg.StringPtr("any-order")
	md.Topics = append(md.Topics, mt)
	if got := len(c.do(md).(*kmsg.MetadataResponse).Topics[0].Partitions); got != 4 {
		t.Errorf("any-order topic has %d partitions, want 4", got)
	}
}

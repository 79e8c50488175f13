package compattests

// Internal topics (issue 21, part 2): __consumer_offsets and
// __transaction_state appear in Metadata as Kafka shows them (internal,
// 50 partitions, compacted), are created when first needed (the first
// FindCoordinator of their kind, or a Metadata request naming them), refuse
// what clients may not do to them, and __consumer_offsets carries Kafka's
// offset-commit and group-metadata records, which franz-go's kmsg and kcat
// read back, in commit order.

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/streamhouse/streamhouse/broker/group"
)

const (
	itOffsets = "__consumer_offsets"
	itTxn     = "__transaction_state"
)

// itMetadata returns the all-topics Metadata answer by name.
func itMetadata(t *testing.T, cl *kgo.Client, topics ...string) map[string]kmsg.MetadataResponseTopic {
	t.Helper()
	req := kmsg.NewPtrMetadataRequest()
	if topics != nil {
		for _, n := range topics {
			rt := kmsg.NewMetadataRequestTopic()
			rt.Topic = kmsg.StringPtr(n)
			req.Topics = append(req.Topics, rt)
		}
		req.AllowAutoTopicCreation = true
	}
	resp, err := req.RequestWith(fgCtx(t), cl)
	if err != nil {
		t.Fatalf("metadata: %v", err)
	}
	out := map[string]kmsg.MetadataResponseTopic{}
	for _, mt := range resp.Topics {
		out[*mt.Topic] = mt
	}
	return out
}

// itRecord is one record of __consumer_offsets, decoded.
type itRecord struct {
	partition int32
	offset    int64
	key       []byte
	value     []byte // nil: a tombstone
}

// itCommit is an offset commit record, decoded with kmsg.
type itCommit struct {
	group, topic string
	partition    int32
	offset       int64 // -1 for a tombstone
	metadata     string
}

// itDecode decodes a record as Kafka's group coordinator wrote it: key
// version 0 or 1 an offset commit, 2 group metadata.
func itDecode(t *testing.T, r itRecord) (c *itCommit, g *kmsg.GroupMetadataValue, gname string) {
	t.Helper()
	if len(r.key) < 2 {
		t.Fatalf("record %d@%d: key of %d bytes", r.partition, r.offset, len(r.key))
	}
	switch v := int16(r.key[0])<<8 | int16(r.key[1]); v {
	case 0, 1:
		var k kmsg.OffsetCommitKey
		if err := k.ReadFrom(r.key); err != nil {
			t.Fatalf("record %d@%d: OffsetCommitKey: %v", r.partition, r.offset, err)
		}
		c = &itCommit{group: k.Group, topic: k.Topic, partition: k.Partition, offset: -1}
		if r.value != nil {
			var val kmsg.OffsetCommitValue
			if err := val.ReadFrom(r.value); err != nil {
				t.Fatalf("record %d@%d: OffsetCommitValue: %v", r.partition, r.offset, err)
			}
			c.offset, c.metadata = val.Offset, val.Metadata
		}
		return c, nil, ""
	case 2:
		var k kmsg.GroupMetadataKey
		if err := k.ReadFrom(r.key); err != nil {
			t.Fatalf("record %d@%d: GroupMetadataKey: %v", r.partition, r.offset, err)
		}
		if r.value == nil {
			return nil, nil, k.Group
		}
		var val kmsg.GroupMetadataValue
		if err := val.ReadFrom(r.value); err != nil {
			t.Fatalf("record %d@%d: GroupMetadataValue: %v", r.partition, r.offset, err)
		}
		return nil, &val, k.Group
	default:
		t.Fatalf("record %d@%d: key version %d", r.partition, r.offset, v)
		return nil, nil, ""
	}
}

// itReadFranz reads every record of one __consumer_offsets partition with a
// franz-go consumer.
func itReadFranz(t *testing.T, addr string, partition int32) []itRecord {
	t.Helper()
	adm := fgAdmin(t, addr)
	end := fgEndOffsets(t, adm, itOffsets)[partition]
	cl := fgClient(t, addr, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{itOffsets: {partition: kgo.NewOffset().AtStart()}}))
	var out []itRecord
	ctx := fgCtx(t)
	for int64(len(out)) < end {
		fs := cl.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatalf("read %s/%d: %v (%d of %d records)", itOffsets, partition, err, len(out), end)
		}
		fs.EachRecord(func(r *kgo.Record) {
			out = append(out, itRecord{partition: r.Partition, offset: r.Offset, key: r.Key, value: r.Value})
		})
	}
	return out
}

// itReadKcat reads one __consumer_offsets partition with kcat: offset, key
// and value lengths, then the raw bytes, which the lengths delimit.
func itReadKcat(t *testing.T, kcat, addr string, partition int32) []itRecord {
	t.Helper()
	out := runTool(t, kcatTimeout, nil, kcat, append([]string{"-b", addr, "-C", "-t", itOffsets, "-p", strconv.Itoa(int(partition)), "-o", "beginning", "-e", "-q",
		"-f", `%o %K %S\n%k%s`}, kcatConsumeOpts...)...)
	b := []byte(out)
	var recs []itRecord
	for len(b) > 0 {
		nl := bytes.IndexByte(b, '\n')
		if nl < 0 {
			t.Fatalf("kcat output ends in a partial header: %q", b)
		}
		var off int64
		var kl, vl int
		if _, err := fmt.Sscanf(string(b[:nl]), "%d %d %d", &off, &kl, &vl); err != nil {
			t.Fatalf("kcat header %q: %v", b[:nl], err)
		}
		b = b[nl+1:]
		r := itRecord{partition: partition, offset: off}
		if kl >= 0 {
			r.key, b = b[:kl], b[kl:]
		}
		if vl >= 0 {
			r.value, b = b[:vl], b[vl:]
		}
		recs = append(recs, r)
	}
	return recs
}

// TestInternalTopics is the list, on one broker.
func TestInternalTopics(t *testing.T) {
	t.Parallel()
	b := grBroker(t)
	addr := b.Addr()
	cl := fgClient(t, addr)
	adm := kadm.NewClient(cl)

	// A fresh broker lists neither, as a fresh Kafka does.
	if md := itMetadata(t, cl); len(md) != 0 {
		t.Fatalf("a fresh broker lists %d topics: %v", len(md), slices.Sorted(func(yield func(string) bool) {
			for n := range md {
				if !yield(n) {
					return
				}
			}
		}))
	}

	const topic, grp = "it-orders", "it-billing"
	fgCreateTopic(t, adm, topic, 3, nil)
	// Offsets committed through the group API before the topic exists
	// are there once it does: the first FindCoordinator creates it.
	raw := fgDialRaw(t, addr)
	commitRaw := func(off int64) {
		t.Helper()
		req := kmsg.NewPtrOffsetCommitRequest()
		req.Group, req.Generation = grp, -1
		rt := kmsg.NewOffsetCommitRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewOffsetCommitRequestTopicPartition()
		rp.Partition, rp.Offset, rp.Metadata = 1, off, kmsg.StringPtr(fmt.Sprintf("m%d", off))
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp := raw.do(req, 8).(*kmsg.OffsetCommitResponse)
		if e := kerr.ErrorForCode(resp.Topics[0].Partitions[0].ErrorCode); e != nil {
			t.Fatalf("commit %d: %v", off, e)
		}
	}
	commitRaw(1)
	if md := itMetadata(t, cl); len(md) != 1 {
		t.Fatalf("before any FindCoordinator the broker lists %d topics, want 1", len(md))
	}
	for _, off := range []int64{2, 3} {
		resp, err := adm.CommitOffsets(fgCtx(t), grp, kadm.OffsetsFromRecords(kgo.Record{Topic: topic, Partition: 1, Offset: off - 1}))
		if err == nil {
			err = resp.Error()
		}
		if err != nil {
			t.Fatalf("kadm commit %d: %v", off, err)
		}
	}

	// Metadata, all topics and by name: internal, Kafka's partition
	// counts; __transaction_state created by the request that names it.
	md := itMetadata(t, cl)
	if mt, ok := md[itOffsets]; !ok || !mt.IsInternal || len(mt.Partitions) != 50 || mt.ErrorCode != 0 {
		t.Fatalf("all-topics Metadata: %s %v", itOffsets, mt)
	}
	if md[topic].IsInternal {
		t.Errorf("all-topics Metadata: %s internal", topic)
	}
	byName := itMetadata(t, cl, itTxn, itOffsets)
	for _, n := range []string{itTxn, itOffsets} {
		if mt := byName[n]; !mt.IsInternal || len(mt.Partitions) != 50 || mt.ErrorCode != 0 {
			t.Errorf("Metadata of %s by name: internal %v, %d partitions, %v", n, mt.IsInternal, len(mt.Partitions), kerr.ErrorForCode(mt.ErrorCode))
		}
	}
	if _, ok := itMetadata(t, cl)[itTxn]; !ok {
		t.Error("all-topics Metadata without __transaction_state once it exists")
	}
	listed, err := adm.ListTopics(fgCtx(t))
	if err != nil || listed.Has(itOffsets) || !listed.Has(topic) {
		t.Errorf("kadm ListTopics (internal topics left out): %v, %v", listed.Names(), err)
	}
	listed, err = adm.ListTopicsWithInternal(fgCtx(t))
	if err != nil || !listed.Has(itOffsets) || !listed.Has(itTxn) {
		t.Errorf("kadm ListTopicsWithInternal: %v, %v", listed.Names(), err)
	}

	t.Run("Refused", func(t *testing.T) {
		p := kgo.ManualPartitioner()
		pc := fgClient(t, addr, kgo.RecordPartitioner(p), kgo.RecordRetries(0), kgo.ProduceRequestTimeout(5*time.Second))
		err := pc.ProduceSync(fgCtx(t), &kgo.Record{Topic: itOffsets, Partition: 0, Key: []byte("k"), Value: []byte("v")}).FirstErr()
		if !errors.Is(err, kerr.InvalidTopicException) {
			t.Errorf("produce to %s: %v, want INVALID_TOPIC_EXCEPTION", itOffsets, err)
		}
		del, err := adm.DeleteTopics(fgCtx(t), itOffsets, itTxn)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range []string{itOffsets, itTxn} {
			if r := del[n]; !errors.Is(r.Err, kerr.InvalidTopicException) {
				t.Errorf("delete %s: %v, want INVALID_TOPIC_EXCEPTION", n, r.Err)
			}
		}
		cp, err := adm.CreatePartitions(fgCtx(t), 10, itOffsets)
		if err != nil {
			t.Fatal(err)
		}
		if r := cp[itOffsets]; !errors.Is(r.Err, kerr.InvalidTopicException) {
			t.Errorf("add partitions to %s: %v, want INVALID_TOPIC_EXCEPTION", itOffsets, r.Err)
		}
		dr, err := adm.DeleteRecords(fgCtx(t), kadm.Offsets{itOffsets: {0: {At: 0}}})
		if err != nil {
			t.Fatal(err)
		}
		if r, _ := dr.Lookup(itOffsets, 0); !errors.Is(r.Err, kerr.InvalidTopicException) {
			t.Errorf("delete records of %s: %v, want INVALID_TOPIC_EXCEPTION", itOffsets, r.Err)
		}
		ct, err := adm.CreateTopics(fgCtx(t), 1, 1, nil, itOffsets)
		if err != nil {
			t.Fatal(err)
		}
		if r := ct[itOffsets]; !errors.Is(r.Err, kerr.TopicAlreadyExists) {
			t.Errorf("create %s: %v, want TOPIC_ALREADY_EXISTS", itOffsets, r.Err)
		}
		if md := itMetadata(t, cl, itOffsets)[itOffsets]; len(md.Partitions) != 50 {
			t.Errorf("%s has %d partitions after the refusals", itOffsets, len(md.Partitions))
		}
	})

	t.Run("DescribeConfigs", func(t *testing.T) {
		rcs, err := adm.DescribeTopicConfigs(fgCtx(t), itOffsets, itTxn)
		if err != nil {
			t.Fatal(err)
		}
		for _, rc := range rcs {
			if rc.Err != nil {
				t.Errorf("describe configs of %s: %v", rc.Name, rc.Err)
				continue
			}
			got := map[string]string{}
			for _, c := range rc.Configs {
				got[c.Key] = c.MaybeValue()
			}
			if got["cleanup.policy"] != "compact" || got["segment.bytes"] != "104857600" {
				t.Errorf("configs of %s: cleanup.policy %q, segment.bytes %q; want compact, 104857600", rc.Name, got["cleanup.policy"], got["segment.bytes"])
			}
		}
	})

	// A classic group: its members' commits and its membership record.
	tr := newGrTracker()
	prodCl := fgClient(t, addr, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	for p := range int32(3) {
		for i := range 5 {
			fgProduceSync(t, prodCl, &kgo.Record{Topic: topic, Partition: p, Value: fmt.Appendf(nil, "v%d", i)})
		}
	}
	const cgrp = "it-classic"
	m := grStartMember(t, addr, tr, "m1", cgrp, topic, kgo.DisableAutoCommit())
	grWaitFor(t, "the member consumed everything", func() (bool, string) {
		return tr.deliveryCount() >= 15, fmt.Sprintf("%d consumed", tr.deliveryCount())
	})
	for off := int64(1); off <= 5; off++ {
		if err := m.commit(map[string]map[int32]int64{topic: {0: off, 2: off}}); err != nil {
			t.Fatalf("member commit %d: %v", off, err)
		}
	}
	gen := m.generation()

	n := int32(50)
	t.Run("CommitsInOrder", func(t *testing.T) {
		for _, c := range []struct {
			group string
			parts []int32
			want  []int64
		}{
			{grp, []int32{1}, []int64{1, 2, 3}},
			{cgrp, []int32{0, 2}, []int64{1, 2, 3, 4, 5}},
		} {
			p := group.OffsetsPartition(c.group, n)
			var recs []itRecord
			grWaitFor(t, "the commits in "+itOffsets, func() (bool, string) {
				recs = itReadFranz(t, addr, p)
				got := itCommits(t, recs, c.group, topic, c.parts[0])
				return slices.Equal(got, c.want), fmt.Sprintf("partition %d: offsets %v", p, got)
			})
			for _, part := range c.parts {
				if got := itCommits(t, recs, c.group, topic, part); !slices.Equal(got, c.want) {
					t.Errorf("group %s, %s/%d: commits %v in %s/%d, want %v in order", c.group, topic, part, got, itOffsets, p, c.want)
				}
			}
			for _, r := range recs {
				if _, _, g := itDecode(t, r); g != "" && group.OffsetsPartition(g, n) != p {
					t.Errorf("group %s's record in partition %d, want %d", g, p, group.OffsetsPartition(g, n))
				}
			}
		}
		// The classic group's membership, as Kafka's GroupMetadataValue.
		var last *kmsg.GroupMetadataValue
		for _, r := range itReadFranz(t, addr, group.OffsetsPartition(cgrp, n)) {
			if _, g, name := itDecode(t, r); name == cgrp && g != nil {
				last = g
			}
		}
		if last == nil || last.ProtocolType != "consumer" || last.Generation != gen || len(last.Members) != 1 ||
			last.Protocol == nil || last.Members[0].MemberID != m.memberID() || len(last.Members[0].Assignment) == 0 {
			t.Errorf("the group's last GroupMetadataValue: %+v; want generation %d, member %s with its assignment", last, gen, m.memberID())
		}
	})

	t.Run("Kcat", func(t *testing.T) {
		kcat := requireTool(t, "kcat")
		list := runTool(t, kcatTimeout, nil, kcat, "-b", addr, "-L")
		for _, want := range []string{`topic "__consumer_offsets" with 50 partitions`, `topic "__transaction_state" with 50 partitions`} {
			if !strings.Contains(list, want) {
				t.Errorf("kcat -L does not show %s:\n%s", want, list)
			}
		}
		p := group.OffsetsPartition(cgrp, n)
		viaKcat := itReadKcat(t, kcat, addr, p)
		viaFranz := itReadFranz(t, addr, p)
		if len(viaKcat) != len(viaFranz) {
			t.Fatalf("kcat read %d records of %s/%d, franz-go %d", len(viaKcat), itOffsets, p, len(viaFranz))
		}
		for i := range viaKcat {
			a, b := viaKcat[i], viaFranz[i]
			if a.offset != b.offset || !bytes.Equal(a.key, b.key) || !bytes.Equal(a.value, b.value) || (a.value == nil) != (b.value == nil) {
				t.Errorf("record %d: kcat %+v, franz-go %+v", i, a, b)
			}
		}
		if got := itCommits(t, viaKcat, cgrp, topic, 0); !slices.Equal(got, []int64{1, 2, 3, 4, 5}) {
			t.Errorf("the commits kcat read: %v", got)
		}
	})

	t.Run("RegexSkipsInternal", func(t *testing.T) {
		for _, c := range []struct {
			name string
			opts []kgo.Opt
		}{
			{"classic", nil},
			{"kip848", []kgo.Opt{kgo.ServerSideBalancer(), kgo.Balancers(kgo.CooperativeStickyBalancer())}},
		} {
			t.Run(c.name, func(t *testing.T) {
				rtr := newGrTracker()
				opts := append([]kgo.Opt{kgo.ConsumeRegex()}, c.opts...)
				rm := grStartMember(t, addr, rtr, "r1", "it-regex-"+c.name, ".*", opts...)
				grWaitFor(t, "the regex member consumed "+topic, func() (bool, string) {
					return rtr.deliveryCount() >= 15, fmt.Sprintf("%d consumed; %s", rtr.deliveryCount(), rtr.errors())
				})
				t.Logf("consuming %v", rm.cl.GetConsumeTopics())
				for _, top := range rm.cl.GetConsumeTopics() {
					if strings.HasPrefix(top, "__") {
						t.Errorf("the regex consumer consumes %s", top)
					}
				}
				rm.stop()
			})
		}
	})
	m.stop()
}

// itCommits lists the offsets of group's commit records of topic/partition
// in recs, in log order (-1 for a tombstone).
func itCommits(t *testing.T, recs []itRecord, grp, topic string, partition int32) []int64 {
	t.Helper()
	var out []int64
	for _, r := range recs {
		if c, _, _ := itDecode(t, r); c != nil && c.group == grp && c.topic == topic && c.partition == partition {
			out = append(out, c.offset)
		}
	}
	return out
}

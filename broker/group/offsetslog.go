package group

// __consumer_offsets: the coordinator writes each offset commit and each
// change of a classic group's membership to the topic as Kafka's group
// coordinator does, in Kafka's record formats (OffsetCommitKey v1 and
// OffsetCommitValue v3; GroupMetadataKey v2 and GroupMetadataValue v3;
// a null value once an offset or a group is deleted), each group's records
// in the partition Kafka picks for it, so that tools that follow commits
// by reading the topic (lag monitors such as Burrow) work unchanged.
//
// The catalog stays the source of truth: the records are written after the
// catalog has the commit or the membership, without waiting for them to be
// durable, and the coordinator never reads them back. A record whose
// append fails (a full disk) is logged and skipped; a broker that stops
// between a catalog commit and its append leaves that one record out, and
// the group's next commit of the partition puts it right. The topic is
// compacted, as Kafka's is. KIP-848 groups' membership records (Kafka's
// ConsumerGroup* record types, which kmsg does not define) are not written;
// their offset commits are.

import (
	"cmp"
	"context"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode/utf16"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/streamhouse/streamhouse/batch"
	"github.com/streamhouse/streamhouse/meta"
)

// OffsetsLog is the __consumer_offsets topic as the coordinator writes it.
type OffsetsLog interface {
	// Partitions is the topic's partition count.
	Partitions() int32
	// Append appends records to the partition, stamped ts (Unix
	// milliseconds), without waiting for them to be durable.
	Append(ctx context.Context, partition int32, records []batch.KeyValue, ts int64) error
}

// OffsetsPartition is the __consumer_offsets partition of group among n, as
// Kafka picks it: the absolute value of Java's String.hashCode of the group
// id, modulo n.
func OffsetsPartition(group string, n int32) int32 {
	var h int32
	for _, u := range utf16.Encode([]rune(group)) {
		h = 31*h + int32(u)
	}
	if h == -1<<31 {
		h = 0 // Kafka's Utils.abs
	} else if h < 0 {
		h = -h
	}
	return h % n
}

// offsetRecord is an offset commit's record; o nil is the tombstone of
// the partition's offset.
func offsetRecord(group, topic string, partition int32, o *offset) batch.KeyValue {
	k := kmsg.OffsetCommitKey{Version: 1, Group: group, Topic: topic, Partition: partition}
	kv := batch.KeyValue{Key: k.AppendTo(nil)}
	if o != nil {
		v := kmsg.NewOffsetCommitValue()
		v.Version = 3
		v.Offset, v.LeaderEpoch, v.Metadata, v.CommitTimestamp = o.offset, o.leaderEpoch, o.metadata, o.commitTime.UnixMilli()
		kv.Value = v.AppendTo(nil)
	}
	return kv
}

// groupRecord is a classic group's membership record; md nil is the
// group's tombstone.
func groupRecord(name string, md *meta.GroupMetadata) batch.KeyValue {
	k := kmsg.GroupMetadataKey{Version: 2, Group: name}
	kv := batch.KeyValue{Key: k.AppendTo(nil)}
	if md == nil {
		return kv
	}
	v := kmsg.NewGroupMetadataValue()
	v.Version = 3
	v.ProtocolType, v.Generation, v.CurrentStateTimestamp = md.ProtocolType, md.Generation, md.UpdateTime.UnixMilli()
	if md.Protocol != "" {
		p := md.Protocol
		v.Protocol = &p
	}
	if md.Leader != "" {
		l := md.Leader
		v.Leader = &l
	}
	for _, m := range md.Members {
		vm := kmsg.NewGroupMetadataValueMember()
		vm.MemberID, vm.ClientID, vm.ClientHost = m.ID, m.ClientID, m.ClientHost
		if m.InstanceID != "" {
			iid := m.InstanceID
			vm.InstanceID = &iid
		}
		vm.RebalanceTimeoutMillis, vm.SessionTimeoutMillis = m.RebalanceTimeoutMs, m.SessionTimeoutMs
		vm.Subscription = []byte{}
		for _, p := range m.Protocols {
			if p.Name == md.Protocol {
				vm.Subscription = p.Metadata
			}
		}
		vm.Assignment = m.Assignment
		if vm.Assignment == nil {
			vm.Assignment = []byte{}
		}
		v.Members = append(v.Members, vm)
	}
	kv.Value = v.AppendTo(nil)
	return kv
}

// mirror appends records of groups to __consumer_offsets, each group's in
// its partition; a failure is logged and otherwise ignored (the catalog has
// them).
func (c *Coordinator) mirror(ctx context.Context, byGroup map[string][]batch.KeyValue, ts time.Time) {
	l := c.cfg.OffsetsLog
	if l == nil || len(byGroup) == 0 {
		return
	}
	n := l.Partitions()
	byPart := make(map[int32][]batch.KeyValue)
	for _, g := range slices.Sorted(maps.Keys(byGroup)) {
		p := OffsetsPartition(g, n)
		byPart[p] = append(byPart[p], byGroup[g]...)
	}
	for _, p := range slices.Sorted(maps.Keys(byPart)) {
		if err := l.Append(context.WithoutCancel(ctx), p, byPart[p], ts.UnixMilli()); err != nil {
			c.log.Log(ctx, slog.LevelWarn, "writing to __consumer_offsets failed; the catalog has the commit", "partition", p, "err", err)
		}
	}
}

// mirrorOffsets appends the records of offsets that a group committed.
func (c *Coordinator) mirrorOffsets(ctx context.Context, offsets []meta.GroupOffset) {
	if c.cfg.OffsetsLog == nil || len(offsets) == 0 {
		return
	}
	byGroup := make(map[string][]batch.KeyValue)
	var ts time.Time
	for _, o := range offsets {
		off := offset{o.Offset, o.LeaderEpoch, o.Metadata, o.CommitTime}
		byGroup[o.Group] = append(byGroup[o.Group], offsetRecord(o.Group, o.Topic, o.Partition, &off))
		if o.CommitTime.After(ts) {
			ts = o.CommitTime
		}
	}
	c.mirror(ctx, byGroup, ts)
}

// mirrorDeletes appends the tombstones of a group's deleted offsets.
func (c *Coordinator) mirrorDeletes(ctx context.Context, group string, parts []meta.TopicPartition) {
	if c.cfg.OffsetsLog == nil || len(parts) == 0 {
		return
	}
	recs := make([]batch.KeyValue, 0, len(parts))
	for _, p := range parts {
		recs = append(recs, offsetRecord(group, p.Topic, p.Partition, nil))
	}
	c.mirror(ctx, map[string][]batch.KeyValue{group: recs}, c.now())
}

// mirrorGroups appends the records of classic groups stored (puts) and
// deleted (dels).
func (c *Coordinator) mirrorGroups(ctx context.Context, puts []meta.GroupMetadata, dels []string) {
	if c.cfg.OffsetsLog == nil {
		return
	}
	byGroup := make(map[string][]batch.KeyValue)
	for _, name := range dels {
		byGroup[name] = append(byGroup[name], groupRecord(name, nil))
	}
	for i := range puts {
		if puts[i].Type == typeClassic {
			byGroup[puts[i].Group] = append(byGroup[puts[i].Group], groupRecord(puts[i].Group, &puts[i]))
		}
	}
	c.mirror(ctx, byGroup, c.now())
}

// MirrorAll appends the records of every group's offsets and classic
// membership, for a __consumer_offsets just created: it then holds what
// the catalog held before it existed. Each group's records are taken and
// appended under the group's commit lock, so that a commit of the group
// is appended after them, never before.
func (c *Coordinator) MirrorAll(ctx context.Context) {
	if c.cfg.OffsetsLog == nil {
		return
	}
	c.mu.Lock()
	all := slices.Collect(maps.Values(c.groups))
	c.mu.Unlock()
	slices.SortFunc(all, func(a, b *group) int { return strings.Compare(a.name, b.name) })
	for _, g := range all {
		g.commitMu.Lock()
		c.mu.Lock()
		var recs []batch.KeyValue
		if g.typ == typeClassic && g.state != Dead {
			md := c.metadataLocked(g)
			recs = append(recs, groupRecord(g.name, &md))
		}
		for _, k := range slices.SortedFunc(maps.Keys(g.offsets), func(a, b tp) int {
			return cmp.Or(strings.Compare(a.topic, b.topic), cmp.Compare(a.partition, b.partition))
		}) {
			o := g.offsets[k]
			recs = append(recs, offsetRecord(g.name, k.topic, k.partition, &o))
		}
		c.mu.Unlock()
		if len(recs) > 0 {
			c.mirror(ctx, map[string][]batch.KeyValue{g.name: recs}, c.now())
		}
		g.commitMu.Unlock()
	}
}

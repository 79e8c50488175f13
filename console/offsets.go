package console

// The topic views' reads of offsets and sizes, made raw with kgo's sharded
// requests instead of kadm's helpers: the partitions come from the
// Metadata the view already read (kadm's helpers ask for it again, once
// per call, which with 10,000 partitions is most of the page's time), the
// kinds of offsets are asked at once, and DescribeLogDirs' tagged field
// with a partition's bytes in object storage is read.

import (
	"context"
	"sync"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/streamhouse/streamhouse/protocol"
)

// ListOffsets' special timestamps.
const (
	tsLatest      = -1 // the high watermark
	tsEarliest    = -2 // the log start
	tsLocalStart  = -4 // EARLIEST_LOCAL_TIMESTAMP (KIP-405): the first offset on the leader's disk
	tsLastTiered  = -5 // LATEST_TIERED_TIMESTAMP (KIP-1005): the last offset in object storage, -1 when none is
	offsetUnknown = -1
)

// tp names a partition.
type tp struct {
	Topic     string
	Partition int32
}

// listedOffset is one partition's answer; Err its error code's, or that
// no broker answered for it.
type listedOffset struct {
	Offset int64
	Err    error
}

// offsetList is the answers to one timestamp; Err is the first failure of
// a whole request (a broker that did not answer), when there was one.
type offsetList struct {
	At  map[tp]listedOffset
	Err error
}

// lookup is the partition's offset, ok false when it has none.
func (l offsetList) lookup(topic string, p int32) (int64, bool) {
	o, ok := l.At[tp{topic, p}]
	if !ok || o.Err != nil {
		return 0, false
	}
	return o.Offset, true
}

// err is the partition's error, nil when it has an offset.
func (l offsetList) err(topic string, p int32) error {
	o, ok := l.At[tp{topic, p}]
	if !ok {
		if l.Err != nil {
			return l.Err
		}
		return kerr.UnknownTopicOrPartition
	}
	return o.Err
}

// listOffsets asks each partition of parts for its offset at each of
// timestamps, all timestamps at once: one ListOffsets request per
// timestamp and per broker leading some of the partitions (Kafka answers
// INVALID_REQUEST to a request naming a partition twice, so timestamps
// cannot share one). The answers are in the timestamps' order.
func listOffsets(ctx context.Context, cl *kgo.Client, parts map[string][]int32, timestamps ...int64) []offsetList {
	out := make([]offsetList, len(timestamps))
	var wg sync.WaitGroup
	for i, ts := range timestamps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i] = listOffsetsAt(ctx, cl, parts, ts)
		}()
	}
	wg.Wait()
	return out
}

func listOffsetsAt(ctx context.Context, cl *kgo.Client, parts map[string][]int32, ts int64) offsetList {
	l := offsetList{At: map[tp]listedOffset{}}
	req := kmsg.NewPtrListOffsetsRequest()
	req.ReplicaID = -1
	for topic, ps := range parts {
		if len(ps) == 0 {
			continue
		}
		rt := kmsg.NewListOffsetsRequestTopic()
		rt.Topic = topic
		for _, p := range ps {
			rp := kmsg.NewListOffsetsRequestTopicPartition()
			rp.Partition, rp.Timestamp = p, ts
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
	}
	if len(req.Topics) == 0 {
		return l
	}
	for _, shard := range cl.RequestSharded(ctx, req) {
		if shard.Err != nil {
			if l.Err == nil {
				l.Err = shard.Err
			}
			continue
		}
		resp, ok := shard.Resp.(*kmsg.ListOffsetsResponse)
		if !ok {
			continue
		}
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				l.At[tp{t.Topic, p.Partition}] = listedOffset{Offset: p.Offset, Err: kerr.ErrorForCode(p.ErrorCode)}
			}
		}
	}
	return l
}

// describePartitions asks for the offsets of parts at each of timestamps
// (listOffsets) and, at the same time, for their sizes (logDirSizes).
func describePartitions(ctx context.Context, cl *kgo.Client, parts map[string][]int32, timestamps ...int64) (offs []offsetList, sizes map[tp]partSize, sized bool) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		sizes, sized = logDirSizes(ctx, cl, parts)
	}()
	offs = listOffsets(ctx, cl, parts, timestamps...)
	<-done
	return offs, sizes, sized
}

// failed is the error of the first list no broker answered.
func failed(lists ...offsetList) error {
	for _, l := range lists {
		if l.Err != nil && len(l.At) == 0 {
			return l.Err
		}
	}
	return nil
}

// partSize is a partition's bytes on its leader's disk and, with tiered
// storage, in object storage.
type partSize struct {
	Local, Remote int64
}

// logDirSizes asks DescribeLogDirs for the sizes of parts: one request per
// broker hosting some of them. A partition's bytes in object storage are
// StreamHouse's tagged field (protocol.TagRemoteLogSize, absent when
// nothing is tiered), read as `streamctl topic describe` reads it. ok is
// false when no broker answered: sizes need DESCRIBE on the cluster, and a
// principal without it sees the offsets and not the sizes.
func logDirSizes(ctx context.Context, cl *kgo.Client, parts map[string][]int32) (sizes map[tp]partSize, ok bool) {
	sizes = map[tp]partSize{}
	req := kmsg.NewPtrDescribeLogDirsRequest()
	req.Topics = []kmsg.DescribeLogDirsRequestTopic{} // nil would describe every partition
	for topic, ps := range parts {
		if len(ps) == 0 {
			continue // an empty list describes none of them
		}
		rt := kmsg.NewDescribeLogDirsRequestTopic()
		rt.Topic, rt.Partitions = topic, ps
		req.Topics = append(req.Topics, rt)
	}
	if len(req.Topics) == 0 {
		return sizes, true
	}
	for _, shard := range cl.RequestSharded(ctx, req) {
		resp, isResp := shard.Resp.(*kmsg.DescribeLogDirsResponse)
		if shard.Err != nil || !isResp || resp.ErrorCode != 0 {
			continue
		}
		ok = true
		for _, d := range resp.Dirs {
			if d.ErrorCode != 0 {
				continue
			}
			for _, t := range d.Topics {
				for _, p := range t.Partitions {
					s := sizes[tp{t.Topic, p.Partition}]
					s.Local += p.Size
					p.UnknownTags.Each(func(tag uint32, v []byte) {
						if n, isInt := protocol.ReadInt64(v); isInt && tag == protocol.TagRemoteLogSize {
							s.Remote += n
						}
					})
					sizes[tp{t.Topic, p.Partition}] = s
				}
			}
		}
	}
	return sizes, ok
}

package main

// topic list, create, describe, delete: Metadata, CreateTopics,
// ListOffsets, DescribeConfigs and DeleteTopics through kadm; DescribeLogDirs
// (for local and remote bytes) raw, for its tagged field.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/streamhouse/streamhouse/protocol"
)

type topicSummary struct {
	Name              string `json:"name"`
	ID                string `json:"id"`
	Partitions        int    `json:"partitions"`
	ReplicationFactor int    `json:"replication_factor"`
}

func summarize(td kadm.TopicDetail) topicSummary {
	rf := 0
	if p, ok := td.Partitions[0]; ok {
		rf = len(p.Replicas)
	}
	return topicSummary{Name: td.Topic, ID: topicID(td.ID), Partitions: len(td.Partitions), ReplicationFactor: rf}
}

func topicListCmd(fs *flag.FlagSet) runFunc {
	return func(ctx context.Context, a *app, _ []string) error {
		adm, err := a.admin()
		if err != nil {
			return err
		}
		defer adm.Close()
		tds, err := adm.ListTopics(ctx)
		if err != nil {
			return fmt.Errorf("list topics: %w", err)
		}
		out := []topicSummary{}
		for _, name := range tds.Names() {
			out = append(out, summarize(tds[name]))
		}
		return a.emit(out, func(w io.Writer) {
			tw := newTable(w)
			row(tw, "TOPIC", "PARTITIONS", "REPLICATION-FACTOR", "ID")
			for _, t := range out {
				row(tw, t.Name, t.Partitions, t.ReplicationFactor, t.ID)
			}
			tw.Flush()
		})
	}
}

func topicCreateCmd(fs *flag.FlagSet) runFunc {
	partitions := fs.Int("partitions", 0, "number of partitions (required)")
	rf := fs.Int("replication-factor", -1, "replicas of each partition; -1: the broker's default.replication.factor")
	var configs kvFlag
	fs.Var(&configs, "config", "a topic config `k=v`; repeat for more")
	return func(ctx context.Context, a *app, args []string) error {
		name := args[0]
		switch {
		case !flagSet(fs, "partitions"):
			return usagef("topic create", "topic create: --partitions is required")
		case *partitions < 1:
			return usagef("topic create", "topic create: --partitions must be at least 1")
		case *rf < -1 || *rf == 0 || *rf > 32767:
			return usagef("topic create", "topic create: --replication-factor must be -1 or between 1 and 32767")
		}
		cfg, _, err := parseConfigs(configs)
		if err != nil {
			return usagef("topic create", "topic create: --config %v", err)
		}
		var kcfg map[string]*string
		if len(cfg) > 0 {
			kcfg = make(map[string]*string, len(cfg))
			for k, v := range cfg {
				kcfg[k] = kadm.StringPtr(v)
			}
		}
		adm, err := a.admin()
		if err != nil {
			return err
		}
		defer adm.Close()
		resp, err := adm.CreateTopic(ctx, int32(*partitions), int16(*rf), kcfg, name)
		if err == nil {
			err = resp.Err
		}
		switch {
		case errors.Is(err, kerr.TopicAlreadyExists):
			return fmt.Errorf("topic %q already exists", name)
		case err != nil:
			return fmt.Errorf("create topic %q: %w", name, withMessage(err, resp.ErrMessage))
		}
		out := topicSummary{Name: name, ID: topicID(resp.ID), Partitions: int(resp.NumPartitions), ReplicationFactor: int(resp.ReplicationFactor)}
		return a.emit(out, func(w io.Writer) {
			fmt.Fprintf(w, "created topic %q with %s (replication factor %d)\n", name, plural(int64(out.Partitions), "partition"), out.ReplicationFactor)
		})
	}
}

type partitionInfo struct {
	Partition      int32   `json:"partition"`
	Leader         int32   `json:"leader"`
	Replicas       []int32 `json:"replicas"`
	ISR            []int32 `json:"isr"`
	LogStartOffset int64   `json:"log_start_offset"`
	EndOffset      int64   `json:"end_offset"`
	// LocalBytes is what the broker's log directory holds of the
	// partition, RemoteBytes what object storage holds (tiered storage);
	// absent when DescribeLogDirs was refused.
	LocalBytes  *int64 `json:"local_bytes,omitempty"`
	RemoteBytes *int64 `json:"remote_bytes,omitempty"`
	Error       string `json:"error,omitempty"`
}

type topicInfo struct {
	Name              string          `json:"name"`
	ID                string          `json:"id"`
	ReplicationFactor int             `json:"replication_factor"`
	Partitions        []partitionInfo `json:"partitions"`
	Configs           []configEntry   `json:"configs"`
}

func topicDescribeCmd(fs *flag.FlagSet) runFunc {
	return func(ctx context.Context, a *app, args []string) error {
		name := args[0]
		cl, err := a.client()
		if err != nil {
			return err
		}
		adm := kadm.NewClient(cl)
		adm.SetTimeoutMillis(int32(min(a.timeout, time.Minute).Milliseconds()))
		defer adm.Close()
		td, err := lookupTopic(ctx, adm, name)
		if err != nil {
			return err
		}
		starts, ends, err := startEnd(ctx, adm, name)
		if err != nil {
			return err
		}
		local, remote := logDirSizes(ctx, cl, name, sortedKeys(td.Partitions))
		rcs, err := adm.DescribeTopicConfigs(ctx, name)
		if err != nil {
			return fmt.Errorf("describe configs of topic %q: %w", name, err)
		}
		rc, err := rcs.On(name, nil)
		if err == nil {
			err = withMessage(rc.Err, rc.ErrMessage)
		}
		if err != nil {
			return fmt.Errorf("describe configs of topic %q: %w", name, err)
		}

		out := topicInfo{Name: name, ID: topicID(td.ID), ReplicationFactor: summarize(td).ReplicationFactor, Configs: configEntries(rc.Configs)}
		for _, p := range sortedKeys(td.Partitions) {
			pd := td.Partitions[p]
			pi := partitionInfo{Partition: p, Leader: pd.Leader, Replicas: pd.Replicas, ISR: pd.ISR, LogStartOffset: starts[p], EndOffset: ends[p]}
			if n, ok := local[p]; ok {
				r := remote[p]
				pi.LocalBytes, pi.RemoteBytes = &n, &r
			}
			if pd.Err != nil {
				pi.Error = pd.Err.Error()
			}
			out.Partitions = append(out.Partitions, pi)
		}
		return a.emit(out, func(w io.Writer) {
			tw := newTable(w)
			row(tw, "TOPIC", "ID", "PARTITIONS", "REPLICATION-FACTOR")
			row(tw, out.Name, out.ID, len(out.Partitions), out.ReplicationFactor)
			tw.Flush()
			fmt.Fprintln(w)
			tw = newTable(w)
			row(tw, "PARTITION", "LEADER", "REPLICAS", "ISR", "LOG-START-OFFSET", "END-OFFSET", "LOCAL-BYTES", "REMOTE-BYTES")
			for _, p := range out.Partitions {
				row(tw, p.Partition, p.Leader, int32List(p.Replicas), int32List(p.ISR), p.LogStartOffset, p.EndOffset, optInt(p.LocalBytes), optInt(p.RemoteBytes))
			}
			tw.Flush()
			fmt.Fprintln(w)
			tw = newTable(w)
			configTable(tw, out.Configs)
			tw.Flush()
		})
	}
}

func topicDeleteCmd(fs *flag.FlagSet) runFunc {
	return func(ctx context.Context, a *app, args []string) error {
		name := args[0]
		adm, err := a.admin()
		if err != nil {
			return err
		}
		defer adm.Close()
		resp, err := adm.DeleteTopic(ctx, name)
		if err == nil {
			err = resp.Err
		}
		switch {
		case errors.Is(err, kerr.UnknownTopicOrPartition):
			return fmt.Errorf("topic %q does not exist", name)
		case err != nil:
			return fmt.Errorf("delete topic %q: %w", name, withMessage(err, resp.ErrMessage))
		}
		out := struct {
			Name    string `json:"name"`
			Deleted bool   `json:"deleted"`
		}{name, true}
		return a.emit(out, func(w io.Writer) { fmt.Fprintf(w, "deleted topic %q\n", name) })
	}
}

// lookupTopic returns a topic's metadata, or an error saying that it does
// not exist.
func lookupTopic(ctx context.Context, adm *kadm.Client, name string) (kadm.TopicDetail, error) {
	tds, err := adm.ListTopics(ctx, name)
	if err != nil {
		return kadm.TopicDetail{}, fmt.Errorf("topic %q: %w", name, err)
	}
	td, ok := tds[name]
	switch {
	case !ok || errors.Is(td.Err, kerr.UnknownTopicOrPartition):
		return kadm.TopicDetail{}, fmt.Errorf("topic %q does not exist", name)
	case td.Err != nil:
		return kadm.TopicDetail{}, fmt.Errorf("topic %q: %w", name, td.Err)
	}
	return td, nil
}

// startEnd lists the log start and end offsets of a topic's partitions.
func startEnd(ctx context.Context, adm *kadm.Client, topic string) (starts, ends map[int32]int64, err error) {
	l, err := adm.ListStartOffsets(ctx, topic)
	if starts, err = offsetsOf(topic, l, err); err != nil {
		return nil, nil, err
	}
	l, err = adm.ListEndOffsets(ctx, topic)
	if ends, err = offsetsOf(topic, l, err); err != nil {
		return nil, nil, err
	}
	return starts, ends, nil
}

// offsetsOf turns a kadm offset listing (and its error) into offsets by
// partition of one topic, failing on any error.
func offsetsOf(topic string, l kadm.ListedOffsets, err error) (map[int32]int64, error) {
	if err != nil {
		return nil, fmt.Errorf("list offsets of topic %q: %w", topic, err)
	}
	out := make(map[int32]int64, len(l[topic]))
	for p, o := range l[topic] {
		switch {
		case p == -1 && errors.Is(o.Err, kerr.UnknownTopicOrPartition):
			return nil, fmt.Errorf("topic %q does not exist", topic)
		case o.Err != nil:
			return nil, fmt.Errorf("list offsets of topic %q partition %d: %w", topic, p, o.Err)
		}
		out[p] = o.Offset
	}
	return out, nil
}

// logDirSizes returns the bytes of each partition of topic in the brokers'
// log directories and in object storage (StreamHouse's tiered storage
// reports those in a tagged field of DescribeLogDirs), from every broker
// that hosts it. Sizes are extra: a broker that refuses DescribeLogDirs
// (it needs DESCRIBE on the cluster) leaves them out, not the topic.
func logDirSizes(ctx context.Context, cl *kgo.Client, topic string, partitions []int32) (local, remote map[int32]int64) {
	req := kmsg.NewPtrDescribeLogDirsRequest()
	rt := kmsg.NewDescribeLogDirsRequestTopic()
	rt.Topic, rt.Partitions = topic, partitions
	req.Topics = []kmsg.DescribeLogDirsRequestTopic{rt}
	local, remote = map[int32]int64{}, map[int32]int64{}
	for _, shard := range cl.RequestSharded(ctx, req) {
		resp, ok := shard.Resp.(*kmsg.DescribeLogDirsResponse)
		if shard.Err != nil || !ok || resp.ErrorCode != 0 {
			continue
		}
		for _, d := range resp.Dirs {
			if d.ErrorCode != 0 {
				continue
			}
			for _, t := range d.Topics {
				if t.Topic != topic {
					continue
				}
				for _, p := range t.Partitions {
					local[p.Partition] += p.Size
					p.UnknownTags.Each(func(tag uint32, v []byte) {
						if n, ok := protocol.ReadInt64(v); ok && tag == protocol.TagRemoteLogSize {
							remote[p.Partition] += n
						}
					})
				}
			}
		}
	}
	return local, remote
}

// optInt renders an optional count, "-" when unknown.
func optInt(n *int64) string {
	if n == nil {
		return "-"
	}
	return strconv.FormatInt(*n, 10)
}

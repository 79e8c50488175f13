package main

// Share groups (KIP-932) in group describe and group reset-offsets:
// ShareGroupDescribe for the members and their assignments,
// DescribeShareGroupOffsets for each partition's share-partition start
// offset and lag, AlterShareGroupOffsets to reset them, as kafka-share-groups
// --describe and --reset-offsets do.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// describeShareGroup fills g from ShareGroupDescribe and
// DescribeShareGroupOffsets. A group that is not a share group is a
// *noGroupError.
func describeShareGroup(ctx context.Context, cl *kgo.Client, g *groupInfo) error {
	req := kmsg.NewPtrShareGroupDescribeRequest()
	req.GroupIDs = []string{g.Group}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return fmt.Errorf("describe group %q: %w", g.Group, err)
	}
	if len(resp.Groups) != 1 {
		return fmt.Errorf("describe group %q: %d groups in the answer", g.Group, len(resp.Groups))
	}
	rg := resp.Groups[0]
	err = kerr.ErrorForCode(rg.ErrorCode)
	switch {
	case errors.Is(err, kerr.GroupIDNotFound) || errors.Is(err, kerr.UnsupportedVersion) || err == nil && rg.GroupState == "Dead":
		return &noGroupError{g.Group}
	case err != nil:
		return fmt.Errorf("describe group %q: %w", g.Group, withMessage(err, deref(rg.ErrorMessage)))
	}
	g.Type, g.State, g.Protocol = "share", rg.GroupState, rg.Assignor
	// A share group's partition may have several members.
	holders := map[string]map[int32][]string{}
	for _, rm := range rg.Members {
		m := memberInfo{MemberID: rm.MemberID, ClientID: rm.ClientID, Host: rm.ClientHost, Assignment: []topicPartitions{}}
		for _, tp := range rm.Assignment.TopicPartitions {
			t := tp.Topic
			if t == "" {
				t = "(topic id " + topicID(tp.TopicID) + ")"
			}
			ps := slices.Clone(tp.Partitions)
			slices.Sort(ps)
			m.Assignment = append(m.Assignment, topicPartitions{Topic: t, Partitions: ps})
			if holders[t] == nil {
				holders[t] = map[int32][]string{}
			}
			for _, p := range ps {
				holders[t][p] = append(holders[t][p], rm.MemberID)
			}
		}
		slices.SortFunc(m.Assignment, func(a, b topicPartitions) int { return strings.Compare(a.Topic, b.Topic) })
		g.Members = append(g.Members, m)
	}

	oreq := kmsg.NewPtrDescribeShareGroupOffsetsRequest()
	og := kmsg.NewDescribeShareGroupOffsetsRequestGroup()
	og.GroupID = g.Group
	oreq.Groups = append(oreq.Groups, og)
	oresp, err := oreq.RequestWith(ctx, cl)
	if err != nil {
		return fmt.Errorf("describe offsets of group %q: %w", g.Group, err)
	}
	type part struct {
		start, lag *int64
	}
	parts := map[string]map[int32]part{}
	for _, rg := range oresp.Groups {
		if err := kerr.ErrorForCode(rg.ErrorCode); err != nil {
			return fmt.Errorf("describe offsets of group %q: %w", g.Group, withMessage(err, deref(rg.ErrorMessage)))
		}
		for _, rt := range rg.Topics {
			for _, rp := range rt.Partitions {
				if rp.ErrorCode != 0 || rp.StartOffset < 0 {
					continue
				}
				if parts[rt.Topic] == nil {
					parts[rt.Topic] = map[int32]part{}
				}
				pt := part{start: &rp.StartOffset}
				if rp.Lag >= 0 {
					pt.lag = &rp.Lag
				}
				parts[rt.Topic][rp.Partition] = pt
			}
		}
	}
	for t, ps := range holders {
		if parts[t] == nil {
			parts[t] = map[int32]part{}
		}
		for p := range ps {
			if _, ok := parts[t][p]; !ok {
				parts[t][p] = part{}
			}
		}
	}
	ends := kadm.ListedOffsets{}
	if topics := sortedKeys(parts); len(topics) > 0 {
		if ends, err = kadm.NewClient(cl).ListEndOffsets(ctx, topics...); err != nil {
			return fmt.Errorf("list end offsets: %w", err)
		}
	}
	for _, t := range sortedKeys(parts) {
		for _, p := range sortedKeys(parts[t]) {
			pt := parts[t][p]
			o := groupOffsets{Topic: t, Partition: p, Start: pt.start, Lag: pt.lag, End: -1, Member: strings.Join(holders[t][p], ",")}
			if e, ok := ends.Lookup(t, p); ok && e.Err == nil {
				o.End = e.Offset
			}
			g.Offsets = append(g.Offsets, o)
		}
	}
	return nil
}

// alterShareOffsets sets a share group's start offsets, as
// kafka-share-groups --reset-offsets --execute does.
func alterShareOffsets(ctx context.Context, adm *kadm.Client, group string, offsets kadm.Offsets) error {
	resps, err := adm.AlterShareGroupOffsets(ctx, group, offsets)
	if err == nil {
		err = resps.Error()
	}
	if err != nil {
		return fmt.Errorf("alter share group offsets of group %q: %w", group, err)
	}
	return nil
}

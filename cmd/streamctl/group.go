package main

// group list, describe, reset-offsets, delete: ListGroups, DescribeGroups
// (ConsumerGroupDescribe for KIP-848 groups, ShareGroupDescribe for share
// groups: group_share.go), OffsetFetch, ListOffsets, OffsetCommit (share
// groups: AlterShareGroupOffsets) and DeleteGroups through kadm.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// noGroupError is the error of a group that does not exist.
type noGroupError struct{ group string }

func (e *noGroupError) Error() string { return fmt.Sprintf("group %q does not exist", e.group) }

type groupSummary struct {
	Group        string `json:"group"`
	State        string `json:"state"`
	Type         string `json:"type"` // classic, consumer (KIP-848) or share (KIP-932)
	ProtocolType string `json:"protocol_type"`
}

func groupListCmd(fs *flag.FlagSet) runFunc {
	return func(ctx context.Context, a *app, _ []string) error {
		adm, err := a.admin()
		if err != nil {
			return err
		}
		defer adm.Close()
		listed, err := adm.ListGroups(ctx)
		if err != nil {
			return fmt.Errorf("list groups: %w", err)
		}
		out := []groupSummary{}
		for _, g := range listed.Sorted() {
			out = append(out, groupSummary{Group: g.Group, State: g.State, Type: g.GroupType, ProtocolType: g.ProtocolType})
		}
		return a.emit(out, func(w io.Writer) {
			tw := newTable(w)
			row(tw, "GROUP", "STATE", "TYPE", "PROTOCOL-TYPE")
			for _, g := range out {
				row(tw, g.Group, g.State, g.Type, g.ProtocolType)
			}
			tw.Flush()
		})
	}
}

type groupInfo struct {
	Group    string         `json:"group"`
	Type     string         `json:"type"` // classic, consumer (KIP-848) or share (KIP-932)
	State    string         `json:"state"`
	Protocol string         `json:"protocol"` // the assignor
	Members  []memberInfo   `json:"members"`
	Offsets  []groupOffsets `json:"offsets"`
}

type memberInfo struct {
	MemberID   string            `json:"member_id"`
	InstanceID *string           `json:"instance_id"`
	ClientID   string            `json:"client_id"`
	Host       string            `json:"host"`
	Assignment []topicPartitions `json:"assignment"`
}

type topicPartitions struct {
	Topic      string  `json:"topic"`
	Partitions []int32 `json:"partitions"`
}

type groupOffsets struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Committed *int64 `json:"committed"` // null: nothing committed
	// Start is a share group's share-partition start offset (null: the
	// group has not consumed the partition; always null for other
	// groups, which commit offsets instead).
	Start  *int64 `json:"start_offset,omitempty"`
	End    int64  `json:"end"`
	Lag    *int64 `json:"lag"`    // null: nothing committed
	Member string `json:"member"` // member id of the partition's owner, if assigned (a share group's: its holders, comma-separated)
}

func groupDescribeCmd(fs *flag.FlagSet) runFunc {
	return func(ctx context.Context, a *app, args []string) error {
		cl, err := a.client()
		if err != nil {
			return err
		}
		defer cl.Close()
		g, err := describeGroup(ctx, cl, args[0])
		if err != nil {
			return err
		}
		return a.emit(g, func(w io.Writer) {
			tw := newTable(w)
			row(tw, "GROUP", "TYPE", "STATE", "PROTOCOL", "MEMBERS")
			row(tw, g.Group, g.Type, g.State, g.Protocol, len(g.Members))
			tw.Flush()
			if len(g.Members) > 0 {
				fmt.Fprintln(w)
				tw = newTable(w)
				row(tw, "MEMBER-ID", "CLIENT-ID", "HOST", "ASSIGNMENT")
				for _, m := range g.Members {
					var as []string
					for _, tp := range m.Assignment {
						as = append(as, tp.Topic+":"+int32List(tp.Partitions))
					}
					row(tw, m.MemberID, m.ClientID, m.Host, strings.Join(as, " "))
				}
				tw.Flush()
			}
			fmt.Fprintln(w)
			tw = newTable(w)
			if g.Type == "share" {
				row(tw, "TOPIC", "PARTITION", "START-OFFSET", "END", "LAG", "MEMBER-IDS")
				for _, o := range g.Offsets {
					row(tw, o.Topic, o.Partition, orDash(o.Start), o.End, orDash(o.Lag), o.Member)
				}
			} else {
				row(tw, "TOPIC", "PARTITION", "COMMITTED", "END", "LAG", "MEMBER-ID")
				for _, o := range g.Offsets {
					row(tw, o.Topic, o.Partition, orDash(o.Committed), o.End, orDash(o.Lag), o.Member)
				}
			}
			tw.Flush()
		})
	}
}

// describeGroup gathers a group's state, members, committed offsets, end
// offsets and lag. A group that does not exist is a *noGroupError.
func describeGroup(ctx context.Context, cl *kgo.Client, group string) (groupInfo, error) {
	adm := kadm.NewClient(cl)
	g := groupInfo{Group: group, Type: "classic", Members: []memberInfo{}, Offsets: []groupOffsets{}}
	owner := map[string]map[int32]string{}
	own := func(m *memberInfo, topic string, ps []int32) {
		slices.Sort(ps)
		m.Assignment = append(m.Assignment, topicPartitions{Topic: topic, Partitions: ps})
		if owner[topic] == nil {
			owner[topic] = map[int32]string{}
		}
		for _, p := range ps {
			owner[topic][p] = m.MemberID
		}
	}

	described, err := adm.DescribeGroups(ctx, group)
	if err != nil {
		return g, fmt.Errorf("describe group %q: %w", group, err)
	}
	d := described[group]
	switch {
	case d.Err == nil && d.State != "Dead":
		g.State, g.Protocol = d.State, d.Protocol
		for _, dm := range d.Members {
			m := memberInfo{MemberID: dm.MemberID, InstanceID: dm.InstanceID, ClientID: dm.ClientID, Host: dm.ClientHost, Assignment: []topicPartitions{}}
			if ca, ok := dm.Assigned.AsConsumer(); ok {
				for _, t := range ca.Topics {
					own(&m, t.Topic, t.Partitions)
				}
			}
			g.Members = append(g.Members, m)
		}
	case d.Err == nil || errors.Is(d.Err, kerr.GroupIDNotFound):
		// Not a classic group: maybe a KIP-848 one, or a share group.
		err := describeConsumerGroup(ctx, cl, &g, own)
		if errors.As(err, new(*noGroupError)) {
			g.Members = []memberInfo{}
			if err = describeShareGroup(ctx, cl, &g); err == nil {
				return g, nil
			}
		}
		if err != nil {
			return g, err
		}
	default:
		return g, fmt.Errorf("describe group %q: %w", group, withMessage(d.Err, d.ErrMessage))
	}

	committed, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		return g, fmt.Errorf("fetch committed offsets of group %q: %w", group, err)
	}
	parts := map[string]map[int32]*int64{}
	for t, ps := range committed {
		parts[t] = map[int32]*int64{}
		for p, o := range ps {
			if o.Err == nil && o.At >= 0 {
				parts[t][p] = &o.At
			}
		}
	}
	for t, ps := range owner {
		if parts[t] == nil {
			parts[t] = map[int32]*int64{}
		}
		for p := range ps {
			if _, ok := parts[t][p]; !ok {
				parts[t][p] = nil
			}
		}
	}
	ends := kadm.ListedOffsets{}
	if topics := sortedKeys(parts); len(topics) > 0 {
		if ends, err = adm.ListEndOffsets(ctx, topics...); err != nil {
			return g, fmt.Errorf("list end offsets: %w", err)
		}
	}
	for _, t := range sortedKeys(parts) {
		for _, p := range sortedKeys(parts[t]) {
			o := groupOffsets{Topic: t, Partition: p, Committed: parts[t][p], End: -1, Member: owner[t][p]}
			if e, ok := ends.Lookup(t, p); ok && e.Err == nil {
				o.End = e.Offset
				if o.Committed != nil {
					lag := max(o.End-*o.Committed, 0)
					o.Lag = &lag
				}
			}
			g.Offsets = append(g.Offsets, o)
		}
	}
	return g, nil
}

// describeConsumerGroup fills g from ConsumerGroupDescribe (KIP-848),
// calling own for each member's assignment. The request is sent as is,
// rather than through kadm, so that assignments given by topic id alone
// are named from the metadata.
func describeConsumerGroup(ctx context.Context, cl *kgo.Client, g *groupInfo, own func(*memberInfo, string, []int32)) error {
	req := kmsg.NewPtrConsumerGroupDescribeRequest()
	req.Groups = []string{g.Group}
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
	case errors.Is(err, kerr.GroupIDNotFound) || err == nil && rg.State == "Dead":
		return &noGroupError{g.Group}
	case err != nil:
		return fmt.Errorf("describe group %q: %w", g.Group, withMessage(err, deref(rg.ErrorMessage)))
	}
	var names map[[16]byte]string
	name := func(tp kmsg.AssignmentTopicPartition) (string, error) {
		if tp.Topic != "" {
			return tp.Topic, nil
		}
		if names == nil {
			tds, err := kadm.NewClient(cl).ListTopics(ctx)
			if err != nil {
				return "", fmt.Errorf("describe group %q: name its topics: %w", g.Group, err)
			}
			names = map[[16]byte]string{}
			for _, td := range tds {
				names[td.ID] = td.Topic
			}
		}
		if n, ok := names[tp.TopicID]; ok {
			return n, nil
		}
		return "(topic id " + topicID(tp.TopicID) + ")", nil
	}
	g.Type, g.State, g.Protocol = "consumer", rg.State, rg.AssignorName
	for _, rm := range rg.Members {
		m := memberInfo{MemberID: rm.MemberID, InstanceID: rm.InstanceID, ClientID: rm.ClientID, Host: rm.ClientHost, Assignment: []topicPartitions{}}
		for _, tp := range rm.Assignment.TopicPartitions {
			t, err := name(tp)
			if err != nil {
				return err
			}
			own(&m, t, slices.Clone(tp.Partitions))
		}
		slices.SortFunc(m.Assignment, func(a, b topicPartitions) int { return strings.Compare(a.Topic, b.Topic) })
		g.Members = append(g.Members, m)
	}
	return nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

type resetResult struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Previous  *int64 `json:"previous"` // null: nothing was committed
	Offset    int64  `json:"offset"`
}

func groupResetCmd(fs *flag.FlagSet) runFunc {
	topicArg := fs.String("topic", "", "the topic whose offsets to reset: `T` (all partitions) or T:0,1")
	earliest := fs.Bool("to-earliest", false, "reset to the log start offsets")
	latest := fs.Bool("to-latest", false, "reset to the end offsets")
	toOffset := fs.Int64("to-offset", 0, "reset to this offset (kept within each partition's log start and end)")
	toDatetime := fs.String("to-datetime", "", "reset to the first offsets at or after this RFC 3339 `time` (2025-01-31T12:00:00Z)")
	return func(ctx context.Context, a *app, args []string) error {
		group := args[0]
		n := 0
		for _, f := range []string{"to-earliest", "to-latest", "to-offset", "to-datetime"} {
			if flagSet(fs, f) {
				n++
			}
		}
		if n != 1 {
			return usagef("group reset-offsets", "group reset-offsets: give exactly one of --to-earliest, --to-latest, --to-offset, --to-datetime")
		}
		if *topicArg == "" {
			return usagef("group reset-offsets", "group reset-offsets: --topic is required")
		}
		topic, only, err := parseTopicPartitions(*topicArg)
		if err != nil {
			return usagef("group reset-offsets", "group reset-offsets: --topic: %v", err)
		}
		var at time.Time
		if flagSet(fs, "to-datetime") {
			if at, err = time.Parse(time.RFC3339Nano, *toDatetime); err != nil {
				return usagef("group reset-offsets", "group reset-offsets: --to-datetime %q is not an RFC 3339 time such as 2025-01-31T12:00:00Z", *toDatetime)
			}
		}

		cl, err := a.client()
		if err != nil {
			return err
		}
		defer cl.Close()
		adm := kadm.NewClient(cl)
		// As Kafka's tool: only an inactive group's offsets are reset,
		// since live members would overwrite them with their next commit.
		g, err := describeGroup(ctx, cl, group)
		switch {
		case errors.As(err, new(*noGroupError)):
		case err != nil:
			return err
		case len(g.Members) > 0 || g.State != "Empty":
			return fmt.Errorf("group %q has %s (state %s): stop its consumers before resetting offsets", group, plural(int64(len(g.Members)), "active member"), g.State)
		}
		td, err := lookupTopic(ctx, adm, topic)
		if err != nil {
			return err
		}
		for _, p := range only {
			if _, ok := td.Partitions[p]; !ok {
				return fmt.Errorf("topic %q has no partition %d", topic, p)
			}
		}
		starts, ends, err := startEnd(ctx, adm, topic)
		if err != nil {
			return err
		}
		var target map[int32]int64
		switch {
		case *earliest:
			target = starts
		case *latest:
			target = ends
		case flagSet(fs, "to-offset"):
			target = map[int32]int64{}
			for p := range ends {
				target[p] = min(max(*toOffset, starts[p]), ends[p])
			}
		default: // --to-datetime
			l, err := adm.ListOffsetsAfterMilli(ctx, at.UnixMilli(), topic)
			if target, err = offsetsOf(topic, l, err); err != nil {
				return err
			}
			for p, o := range target {
				if o < 0 { // nothing at or after the time
					target[p] = ends[p]
				}
			}
		}

		previous := map[int32]*int64{}
		for _, o := range g.Offsets {
			if o.Topic == topic {
				previous[o.Partition] = o.Committed
				if g.Type == "share" {
					previous[o.Partition] = o.Start
				}
			}
		}
		offsets := kadm.Offsets{}
		var out []resetResult
		for _, p := range sortedKeys(target) {
			if len(only) > 0 && !slices.Contains(only, p) {
				continue
			}
			offsets.AddOffset(topic, p, target[p], -1)
			out = append(out, resetResult{Topic: topic, Partition: p, Previous: previous[p], Offset: target[p]})
		}
		if g.Type == "share" {
			// A share group has start offsets, not commits.
			if err := alterShareOffsets(ctx, adm, group, offsets); err != nil {
				return err
			}
		} else {
			resps, err := adm.CommitOffsets(ctx, group, offsets)
			if err == nil {
				err = resps.Error()
			}
			if err != nil {
				return fmt.Errorf("commit offsets of group %q: %w", group, err)
			}
		}
		return a.emit(out, func(w io.Writer) {
			tw := newTable(w)
			row(tw, "TOPIC", "PARTITION", "PREVIOUS", "NEW")
			for _, r := range out {
				row(tw, r.Topic, r.Partition, orDash(r.Previous), r.Offset)
			}
			tw.Flush()
		})
	}
}

// parseTopicPartitions parses "topic" or "topic:0,1,2".
func parseTopicPartitions(s string) (string, []int32, error) {
	topic, list, ok := strings.Cut(s, ":")
	if topic == "" {
		return "", nil, errors.New("no topic name")
	}
	if !ok {
		return topic, nil, nil
	}
	var ps []int32
	for _, f := range strings.Split(list, ",") {
		p, err := strconv.ParseInt(f, 10, 32)
		if err != nil || p < 0 {
			return "", nil, fmt.Errorf("%q is not a partition number", f)
		}
		ps = append(ps, int32(p))
	}
	return topic, ps, nil
}

func groupDeleteCmd(fs *flag.FlagSet) runFunc {
	return func(ctx context.Context, a *app, args []string) error {
		group := args[0]
		adm, err := a.admin()
		if err != nil {
			return err
		}
		defer adm.Close()
		resp, err := adm.DeleteGroup(ctx, group)
		if err == nil {
			err = resp.Err
		}
		switch {
		case errors.Is(err, kerr.GroupIDNotFound):
			return fmt.Errorf("group %q does not exist", group)
		case errors.Is(err, kerr.NonEmptyGroup):
			return fmt.Errorf("group %q has active members: stop its consumers before deleting it", group)
		case err != nil:
			return fmt.Errorf("delete group %q: %w", group, err)
		}
		out := struct {
			Group   string `json:"group"`
			Deleted bool   `json:"deleted"`
		}{group, true}
		return a.emit(out, func(w io.Writer) { fmt.Fprintf(w, "deleted group %q\n", group) })
	}
}

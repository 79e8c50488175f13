package console

// Share groups (KIP-932) in the group views: ShareGroupDescribe (kadm's
// DescribeShareGroups) for the members and their assignments,
// DescribeShareGroupOffsets for each partition's share-partition start
// offset and lag, and AlterShareGroupOffsets for the reset, as
// kafka-share-groups --describe and --reset-offsets do (and streamctl's
// group describe and reset-offsets). A share group commits no offsets:
// where a consumer group's page shows the committed offset, a share
// group's shows the start offset, and its lag is the broker's (records
// after the start offset not yet acknowledged or archived), not end minus
// start.

import (
	"context"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
)

// shareSummaries gives the members, assignor and total lag of each of the
// share groups named (one ShareGroupDescribe and one
// DescribeShareGroupOffsets for all), for the groups list. A group whose
// lag the broker does not give has none in lags.
func shareSummaries(ctx context.Context, adm *kadm.Client, groups []string, members map[string]int, assignors map[string]string) (lags map[string]int64) {
	if dg, err := adm.DescribeShareGroups(ctx, groups...); err == nil || len(dg) > 0 {
		for _, g := range dg {
			if g.Err == nil {
				members[g.GroupID] = len(g.Members)
				assignors[g.GroupID] = g.Assignor
			}
		}
	}
	lags = map[string]int64{}
	offs, err := adm.DescribeShareGroupOffsets(ctx, groups...)
	if err != nil && len(offs) == 0 {
		return lags
	}
	for _, g := range offs {
		if g.Err == nil {
			lags[g.Group] = shareLag(g.Offsets, nil)
		}
	}
	return lags
}

// shareLag sums the partitions' lags the broker gives (-1: not known),
// adding each to parts (topic/partition) when parts is not nil.
func shareLag(offs kadm.ShareOffsets, parts map[string]int64) int64 {
	var sum int64
	for t, ps := range offs {
		for p, o := range ps {
			if o.Err != nil || o.StartOffset < 0 || o.Lag < 0 {
				continue
			}
			sum += o.Lag
			if parts != nil {
				parts[partKey(t, p)] = o.Lag
			}
		}
	}
	return sum
}

// shareGroupData fills d with a share group's state, members (a
// partition may have several) and each partition's start offset, end
// offset and lag: the partitions the group has started (a start offset)
// and those assigned to its members.
func shareGroupData(ctx context.Context, adm *kadm.Client, d *groupData) error {
	d.Share = true
	dg, err := adm.DescribeShareGroups(ctx, d.Name)
	if err != nil && len(dg) == 0 {
		return err
	}
	g, ok := dg[d.Name]
	if !ok {
		return notFound("No share group %s.", d.Name)
	}
	if g.Err != nil {
		return g.Err
	}
	d.State, d.Protocol = g.GroupState, g.Assignor
	holders := map[string]map[int32][]string{}
	for _, m := range g.Members {
		mr := memberRow{ID: m.MemberID, Client: m.ClientID, Host: m.ClientHost}
		for t, ps := range m.Assignment {
			if t == "" {
				t = "(a deleted topic)" // the broker names the topics it knows
			}
			mr.Assigned = append(mr.Assigned, assignedText(t, ps))
			if holders[t] == nil {
				holders[t] = map[int32][]string{}
			}
			for p := range ps {
				holders[t][p] = append(holders[t][p], m.ClientID)
			}
		}
		slices.Sort(mr.Assigned)
		d.Members = append(d.Members, mr)
	}

	offs, err := adm.DescribeShareGroupOffsets(ctx, d.Name)
	if err != nil && len(offs) == 0 {
		return err
	}
	described := offs[d.Name]
	if described.Err != nil {
		return described.Err
	}
	rows := map[string]*offsetRow{}
	add := func(t string, p int32) *offsetRow {
		k := partKey(t, p)
		if r := rows[k]; r != nil {
			return r
		}
		r := &offsetRow{Topic: t, Partition: p, Committed: -1, End: -1, Lag: -1}
		rows[k] = r
		return r
	}
	for t, ps := range described.Offsets {
		for p, o := range ps {
			if o.Err != nil || o.StartOffset < 0 {
				continue // not started (or a topic gone)
			}
			r := add(t, p)
			r.Committed = o.StartOffset
			if o.Lag >= 0 {
				r.Lag = o.Lag
				d.TotalLag += o.Lag
			}
		}
	}
	for t, ps := range holders {
		if strings.HasPrefix(t, "(") {
			continue
		}
		for p, ms := range ps {
			slices.Sort(ms)
			add(t, p).Member = strings.Join(ms, ", ")
		}
	}
	topics := map[string]bool{}
	for _, r := range rows {
		topics[r.Topic] = true
	}
	for t := range topics {
		d.Topics = append(d.Topics, t)
	}
	slices.Sort(d.Topics)
	if len(d.Topics) > 0 {
		ends, err := adm.ListEndOffsets(ctx, d.Topics...)
		if err != nil && len(ends) == 0 {
			return err
		}
		for _, r := range rows {
			if e, ok := ends.Lookup(r.Topic, r.Partition); ok && e.Err == nil {
				r.End = e.Offset
			}
		}
	}
	for _, r := range rows {
		d.Offsets = append(d.Offsets, *r)
	}
	sortOffsets(d.Offsets)
	return nil
}

// isShareGroup reports whether name is a share group (ListGroups with the
// type filter): a reset commits a consumer group's offsets and alters a
// share group's start offsets.
func isShareGroup(ctx context.Context, adm *kadm.Client, name string) (bool, error) {
	listed, err := adm.ListGroupsByType(ctx, []string{"share"})
	if err != nil && len(listed) == 0 {
		return false, err
	}
	_, ok := listed[name]
	return ok, nil
}

// alterShareOffsets sets a share group's start offsets; the broker
// refuses (NON_EMPTY_GROUP) while the group has members, as Kafka does.
func alterShareOffsets(ctx context.Context, adm *kadm.Client, name string, os kadm.Offsets) error {
	resp, err := adm.AlterShareGroupOffsets(ctx, name, os)
	if err != nil {
		return err
	}
	return resp.Error()
}

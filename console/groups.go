package console

import (
	"context"
	"errors"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

type groupRow struct {
	Name     string
	Type     string
	State    string
	Protocol string
	Members  int
	Lag      int64 // -1: unknown
	Err      string
}

type groupsData struct {
	Pager  pager
	Groups []groupRow
	Notice string
}

// groups lists every group (one ListGroups request) and describes and
// measures the lag of the page's groups only.
func (c *Console) groups(w http.ResponseWriter, r *http.Request, st *reqState) error {
	ctx, cancel := ctx10(r)
	defer cancel()
	d := groupsData{}
	if g := r.FormValue("deleted"); g != "" {
		d.Notice = "Group " + g + " deleted."
	}
	err := st.pool.do(func(adm *kadm.Client) error {
		listed, err := adm.ListGroups(ctx)
		if err != nil && len(listed) == 0 {
			return err
		}
		var page []string
		d.Pager, page = paginate(r, "/groups", listed.Groups(), pageSize)
		if len(page) == 0 {
			return nil
		}
		var classic, consumer, share []string
		for _, g := range page {
			switch listed[g].GroupType {
			case "consumer":
				consumer = append(consumer, g)
			case "share":
				share = append(share, g)
			default:
				classic = append(classic, g)
			}
		}
		members := map[string]int{}
		protocols := map[string]string{}
		if len(classic) > 0 {
			if dg, err := adm.DescribeGroups(ctx, classic...); err == nil || len(dg) > 0 {
				for _, g := range dg {
					members[g.Group] = len(g.Members)
					protocols[g.Group] = g.Protocol
				}
			}
		}
		if len(consumer) > 0 {
			if dg, err := adm.DescribeConsumerGroups(ctx, consumer...); err == nil || len(dg) > 0 {
				for _, g := range dg {
					members[g.Group] = len(g.Members)
					protocols[g.Group] = g.AssignorName
				}
			}
		}
		lags := map[string]int64{}
		if len(share) > 0 {
			lags = shareSummaries(ctx, adm, share, members, protocols)
		}
		if len(classic)+len(consumer) > 0 {
			maps.Copy(lags, c.lags(ctx, adm, append(classic, consumer...)))
		}
		for _, g := range page {
			l := listed[g]
			row := groupRow{Name: g, Type: or(l.GroupType, "classic"), State: l.State, Protocol: protocols[g], Members: members[g], Lag: -1}
			if v, ok := lags[g]; ok {
				row.Lag = v
			}
			d.Groups = append(d.Groups, row)
		}
		return nil
	})
	if err != nil {
		return err
	}
	c.render(w, r, st, http.StatusOK, "groups", "Consumer groups", "groups", d)
	return nil
}

// lags is the total lag of each group: committed offsets (one
// OffsetFetch for all) against end offsets (one ListOffsets).
func (c *Console) lags(ctx context.Context, adm *kadm.Client, groups []string) map[string]int64 {
	fetched := adm.FetchManyOffsets(ctx, groups...)
	var topics []string
	seen := map[string]bool{}
	for _, f := range fetched {
		for t := range f.Fetched {
			if !seen[t] {
				seen[t] = true
				topics = append(topics, t)
			}
		}
	}
	out := map[string]int64{}
	if len(topics) == 0 {
		for _, f := range fetched {
			if f.Err == nil {
				out[f.Group] = 0
			}
		}
		return out
	}
	ends, err := adm.ListEndOffsets(ctx, topics...)
	if err != nil && len(ends) == 0 {
		return out
	}
	for _, f := range fetched {
		if f.Err != nil {
			continue
		}
		var sum int64
		f.Fetched.Each(func(o kadm.OffsetResponse) {
			if e, ok := ends.Lookup(o.Topic, o.Partition); ok && e.Err == nil && o.Err == nil && o.At >= 0 {
				sum += max(e.Offset-o.At, 0)
			}
		})
		out[f.Group] = sum
	}
	return out
}

type memberRow struct {
	ID, Instance, Client, Host string
	Assigned                   []string // topic: partitions
}

type offsetRow struct {
	Topic     string
	Partition int32
	Committed int64 // -1: none; a share group's share-partition start offset
	End       int64
	Lag       int64
	Member    string // a share group's: its holders, comma-separated
}

type groupData struct {
	Name     string
	Type     string
	Share    bool // a share group: start offsets, not commits
	State    string
	Protocol string
	Members  []memberRow
	Offsets  []offsetRow
	TotalLag int64
	Topics   []string
	Notice   string
	Error    string
	Reset    resetForm
}

type resetForm struct {
	Topic, Partition, To, Offset, Timestamp string
}

func (c *Console) group(w http.ResponseWriter, r *http.Request, st *reqState) error {
	d, err := c.groupData(r, st, r.PathValue("group"))
	if err != nil {
		return err
	}
	d.Notice = r.FormValue("notice")
	d.Reset.To = "earliest"
	c.render(w, r, st, http.StatusOK, "group", "Group "+d.Name, "groups", d)
	return nil
}

// groupData describes a group (DescribeGroups for a classic group,
// ConsumerGroupDescribe for a consumer one, ShareGroupDescribe for a share
// one: groups_share.go) and its offsets and lag.
func (c *Console) groupData(r *http.Request, st *reqState, name string) (*groupData, error) {
	ctx, cancel := ctx10(r)
	defer cancel()
	d := &groupData{Name: name}
	err := st.pool.do(func(adm *kadm.Client) error {
		listed, err := adm.ListGroups(ctx)
		if err != nil && len(listed) == 0 {
			return err
		}
		l, ok := listed[name]
		d.Type, d.State = or(l.GroupType, "classic"), l.State
		if ok && l.GroupType == "share" {
			return shareGroupData(ctx, adm, d)
		}
		assigned := map[string]map[int32]string{}
		switch {
		case ok && l.GroupType == "consumer":
			dg, err := adm.DescribeConsumerGroups(ctx, name)
			if err != nil && len(dg) == 0 {
				return err
			}
			g := dg[name]
			if g.Err != nil {
				return g.Err
			}
			d.State, d.Protocol = g.State, g.AssignorName
			for _, m := range g.Members {
				mr := memberRow{ID: m.MemberID, Client: m.ClientID, Host: m.ClientHost}
				if m.InstanceID != nil {
					mr.Instance = *m.InstanceID
				}
				for t, ps := range m.Assignment {
					mr.Assigned = append(mr.Assigned, assignedText(t, ps))
					for p := range ps {
						setAssigned(assigned, t, p, m.ClientID)
					}
				}
				slices.Sort(mr.Assigned)
				d.Members = append(d.Members, mr)
			}
		default:
			dg, err := adm.DescribeGroups(ctx, name)
			if err != nil && len(dg) == 0 {
				return err
			}
			g, found := dg[name]
			if found && g.Err != nil && !errors.Is(g.Err, kerr.GroupIDNotFound) {
				return g.Err
			}
			if found && g.Err == nil {
				d.State, d.Protocol = g.State, g.Protocol
				for _, m := range g.Members {
					mr := memberRow{ID: m.MemberID, Client: m.ClientID, Host: m.ClientHost}
					if m.InstanceID != nil {
						mr.Instance = *m.InstanceID
					}
					if a, ok := m.Assigned.AsConsumer(); ok {
						for _, t := range a.Topics {
							ps := map[int32]struct{}{}
							for _, p := range t.Partitions {
								ps[p] = struct{}{}
								setAssigned(assigned, t.Topic, p, m.ClientID)
							}
							mr.Assigned = append(mr.Assigned, assignedText(t.Topic, ps))
						}
					}
					slices.Sort(mr.Assigned)
					d.Members = append(d.Members, mr)
				}
			}
		}
		if !ok && len(d.Members) == 0 {
			// Not listed: perhaps offsets without a group (committed
			// by a client that assigns partitions itself).
			d.State = "(no members)"
		}
		offs, err := adm.FetchOffsets(ctx, name)
		if err != nil {
			return err
		}
		topics := map[string]bool{}
		offs.Each(func(o kadm.OffsetResponse) { topics[o.Topic] = true })
		for t := range assigned {
			topics[t] = true
		}
		for t := range topics {
			d.Topics = append(d.Topics, t)
		}
		slices.Sort(d.Topics)
		if !ok && len(d.Topics) == 0 {
			return notFound("No group %s.", name)
		}
		var ends kadm.ListedOffsets
		if len(d.Topics) > 0 {
			ends, err = adm.ListEndOffsets(ctx, d.Topics...)
			if err != nil && len(ends) == 0 {
				return err
			}
		}
		rows := map[string]*offsetRow{}
		add := func(t string, p int32) *offsetRow {
			k := partKey(t, p)
			if r := rows[k]; r != nil {
				return r
			}
			r := &offsetRow{Topic: t, Partition: p, Committed: -1, End: -1, Lag: -1}
			if e, ok := ends.Lookup(t, p); ok && e.Err == nil {
				r.End = e.Offset
			}
			rows[k] = r
			return r
		}
		offs.Each(func(o kadm.OffsetResponse) {
			if o.Err == nil {
				add(o.Topic, o.Partition).Committed = o.At
			}
		})
		for t, ps := range assigned {
			for p, m := range ps {
				add(t, p).Member = m
			}
		}
		for _, r := range rows {
			if r.Committed >= 0 && r.End >= 0 {
				r.Lag = max(r.End-r.Committed, 0)
				d.TotalLag += r.Lag
			}
			d.Offsets = append(d.Offsets, *r)
		}
		sortOffsets(d.Offsets)
		return nil
	})
	return d, err
}

func sortOffsets(rows []offsetRow) {
	slices.SortFunc(rows, func(a, b offsetRow) int {
		if c := strings.Compare(a.Topic, b.Topic); c != 0 {
			return c
		}
		return int(a.Partition - b.Partition)
	})
}

// partKey names a partition in maps and in the lag samples' JSON.
func partKey(t string, p int32) string { return t + "/" + strconv.Itoa(int(p)) }

func setAssigned(m map[string]map[int32]string, t string, p int32, member string) {
	if m[t] == nil {
		m[t] = map[int32]string{}
	}
	m[t][p] = member
}

func assignedText(t string, ps map[int32]struct{}) string {
	var nums []int
	for p := range ps {
		nums = append(nums, int(p))
	}
	slices.Sort(nums)
	var s []string
	for _, n := range nums {
		s = append(s, strconv.Itoa(n))
	}
	return t + ": " + strings.Join(s, ",")
}

// groupLag is one sample of a group's lag, for the chart the group page's
// script draws while it is open (type=share: a share group's, from
// DescribeShareGroupOffsets).
func (c *Console) groupLag(w http.ResponseWriter, r *http.Request, st *reqState) error {
	name := r.PathValue("group")
	ctx, cancel := ctx10(r)
	defer cancel()
	var total int64
	parts := map[string]int64{}
	err := st.pool.do(func(adm *kadm.Client) error {
		if r.FormValue("type") == "share" {
			offs, err := adm.DescribeShareGroupOffsets(ctx, name)
			if err != nil && len(offs) == 0 {
				return err
			}
			g := offs[name]
			if g.Err != nil {
				return g.Err
			}
			total = shareLag(g.Offsets, parts)
			return nil
		}
		offs, err := adm.FetchOffsets(ctx, name)
		if err != nil {
			return err
		}
		var topics []string
		for t := range offs {
			topics = append(topics, t)
		}
		if len(topics) == 0 {
			return nil
		}
		ends, err := adm.ListEndOffsets(ctx, topics...)
		if err != nil && len(ends) == 0 {
			return err
		}
		offs.Each(func(o kadm.OffsetResponse) {
			if e, ok := ends.Lookup(o.Topic, o.Partition); ok && e.Err == nil && o.Err == nil && o.At >= 0 {
				l := max(e.Offset-o.At, 0)
				parts[partKey(o.Topic, o.Partition)] = l
				total += l
			}
		})
		return nil
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"t": time.Now().UnixMilli(), "lag": total, "partitions": parts})
	return nil
}

type resetRow struct {
	Topic     string
	Partition int32
	Current   int64 // -1: none
	New       int64
	Err       string
}

type resetData struct {
	Group   string
	Form    resetForm
	Rows    []resetRow
	Offsets string // the new offsets, as the apply form sends them
	State   string
	Share   bool // current and new are share-partition start offsets
}

// resetPreview computes the offsets a reset would commit and shows them
// beside the current ones, with a form that applies exactly those.
func (c *Console) resetPreview(w http.ResponseWriter, r *http.Request, st *reqState) error {
	name := r.PathValue("group")
	f := resetForm{Topic: strings.TrimSpace(r.PostFormValue("topic")), Partition: strings.TrimSpace(r.PostFormValue("partition")),
		To: r.PostFormValue("to"), Offset: strings.TrimSpace(r.PostFormValue("offset")), Timestamp: strings.TrimSpace(r.PostFormValue("timestamp"))}
	g, err := c.groupData(r, st, name)
	if err != nil {
		return err
	}
	topics := g.Topics
	if f.Topic != "" {
		topics = []string{f.Topic}
	}
	if len(topics) == 0 {
		return badRequest("Group %s has no offsets yet: name a topic to reset.", name)
	}
	part := int32(-1)
	if f.Partition != "" && f.Partition != "all" {
		p, err := strconv.ParseInt(f.Partition, 10, 32)
		if err != nil || p < 0 {
			return badRequest("Partition: %q is not a partition number.", f.Partition)
		}
		part = int32(p)
	}
	var at, ts int64
	switch f.To {
	case "earliest", "latest":
	case "offset":
		if at, err = strconv.ParseInt(f.Offset, 10, 64); err != nil || at < 0 {
			return badRequest("Offset: %q is not an offset.", f.Offset)
		}
	case "timestamp":
		if ts, err = parseTimestamp(f.Timestamp); err != nil {
			return err
		}
	default:
		return badRequest("Reset to: %q is not earliest, latest, offset or timestamp.", f.To)
	}
	ctx, cancel := ctx10(r)
	defer cancel()
	d := resetData{Group: name, Form: f, State: g.State, Share: g.Share}
	current := map[string]int64{}
	for _, o := range g.Offsets {
		current[partKey(o.Topic, o.Partition)] = o.Committed
	}
	err = st.pool.do(func(adm *kadm.Client) error {
		starts, err := adm.ListStartOffsets(ctx, topics...)
		if err != nil && len(starts) == 0 {
			return err
		}
		ends, err := adm.ListEndOffsets(ctx, topics...)
		if err != nil && len(ends) == 0 {
			return err
		}
		var after kadm.ListedOffsets
		if f.To == "timestamp" {
			if after, err = adm.ListOffsetsAfterMilli(ctx, ts, topics...); err != nil && len(after) == 0 {
				return err
			}
		}
		var offsets []string
		ends.Each(func(e kadm.ListedOffset) {
			if part >= 0 && e.Partition != part {
				return
			}
			row := resetRow{Topic: e.Topic, Partition: e.Partition, Current: -1}
			if v, ok := current[partKey(e.Topic, e.Partition)]; ok {
				row.Current = v
			}
			s, _ := starts.Lookup(e.Topic, e.Partition)
			switch {
			case e.Err != nil:
				row.Err = e.Err.Error()
			case f.To == "earliest":
				row.New = s.Offset
			case f.To == "latest":
				row.New = e.Offset
			case f.To == "offset":
				// Clamped to the log, as kafka-consumer-groups does.
				row.New = min(max(at, s.Offset), e.Offset)
			case f.To == "timestamp":
				a, ok := after.Lookup(e.Topic, e.Partition)
				row.New = e.Offset
				if ok && a.Err == nil && a.Offset >= 0 {
					row.New = a.Offset
				}
			}
			if row.Err == "" {
				offsets = append(offsets, e.Topic+":"+strconv.Itoa(int(e.Partition))+":"+strconv.FormatInt(row.New, 10))
			}
			d.Rows = append(d.Rows, row)
		})
		if len(d.Rows) == 0 {
			return badRequest("Nothing to reset: topic %s has no partition %s.", strings.Join(topics, ", "), f.Partition)
		}
		slices.SortFunc(d.Rows, func(a, b resetRow) int {
			if c := strings.Compare(a.Topic, b.Topic); c != 0 {
				return c
			}
			return int(a.Partition - b.Partition)
		})
		slices.Sort(offsets)
		d.Offsets = strings.Join(offsets, ",")
		return nil
	})
	if err != nil {
		return err
	}
	c.render(w, r, st, http.StatusOK, "reset", "Reset "+name, "groups", d)
	return nil
}

// resetApply commits the offsets the preview showed, or for a share group
// sets its start offsets (AlterShareGroupOffsets). The broker refuses
// while the group has members, as Kafka does.
func (c *Console) resetApply(w http.ResponseWriter, r *http.Request, st *reqState) error {
	name := r.PathValue("group")
	var os kadm.Offsets = kadm.Offsets{}
	for _, e := range strings.Split(r.PostFormValue("offsets"), ",") {
		if e == "" {
			continue
		}
		i := strings.LastIndexByte(e, ':')
		j := strings.LastIndexByte(e[:max(i, 0)], ':')
		if i < 0 || j < 0 {
			return badRequest("offsets: %q is not topic:partition:offset", e)
		}
		p, err1 := strconv.ParseInt(e[j+1:i], 10, 32)
		o, err2 := strconv.ParseInt(e[i+1:], 10, 64)
		if err1 != nil || err2 != nil {
			return badRequest("offsets: %q is not topic:partition:offset", e)
		}
		os.Add(kadm.Offset{Topic: e[:j], Partition: int32(p), At: o, LeaderEpoch: -1})
	}
	if len(os) == 0 {
		return badRequest("No offsets to commit.")
	}
	ctx, cancel := ctx10(r)
	defer cancel()
	err := st.pool.do(func(adm *kadm.Client) error {
		share, err := isShareGroup(ctx, adm, name)
		if err != nil {
			return err
		}
		if share {
			return alterShareOffsets(ctx, adm, name, os)
		}
		resp, err := adm.CommitOffsets(ctx, name, os)
		if err != nil {
			return err
		}
		return resp.Error()
	})
	c.audit(r, st, "group.reset", name+" "+r.PostFormValue("offsets"), err)
	if err != nil {
		msg := err.Error()
		if errors.Is(err, kerr.UnknownMemberID) || errors.Is(err, kerr.RebalanceInProgress) || errors.Is(err, kerr.IllegalGeneration) || errors.Is(err, kerr.NonEmptyGroup) {
			msg = "The group has active members: stop its consumers, then reset. (" + msg + ")"
		}
		return &userError{statusOf(err), "Resetting " + name + ": " + msg}
	}
	http.Redirect(w, r, "/groups/"+url.PathEscape(name)+"?notice="+url.QueryEscape("Offsets reset."), http.StatusSeeOther)
	return nil
}

func (c *Console) deleteGroup(w http.ResponseWriter, r *http.Request, st *reqState) error {
	name := r.PathValue("group")
	if err := confirmed(r, "group", name); err != nil {
		return err
	}
	ctx, cancel := ctx10(r)
	defer cancel()
	var resp kadm.DeleteGroupResponse
	err := st.pool.do(func(adm *kadm.Client) error {
		var err error
		resp, err = adm.DeleteGroup(ctx, name)
		if err == nil {
			err = resp.Err
		}
		return err
	})
	c.audit(r, st, "group.delete", name, err)
	if err != nil {
		return &userError{statusOf(err), "Deleting group " + name + ": " + kafkaMessage(err, resp.ErrMessage)}
	}
	http.Redirect(w, r, "/groups?deleted="+url.QueryEscape(name), http.StatusSeeOther)
	return nil
}

package console

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// pageSize is the rows a list view shows at once: with 10,000 partitions
// or 1,000 groups a page stays far under a megabyte of HTML.
const pageSize = 100

// pager is a list view's position.
type pager struct {
	Page, Pages, Total int
	Query              string
	Base               string // the view's path
}

func (p pager) link(page int) string {
	v := url.Values{}
	if p.Query != "" {
		v.Set("q", p.Query)
	}
	if page > 1 {
		v.Set("page", strconv.Itoa(page))
	}
	if len(v) == 0 {
		return p.Base
	}
	return p.Base + "?" + v.Encode()
}

// Prev and Next are the neighbouring pages' links, empty at the ends.
func (p pager) Prev() string {
	if p.Page <= 1 {
		return ""
	}
	return p.link(p.Page - 1)
}

func (p pager) Next() string {
	if p.Page >= p.Pages {
		return ""
	}
	return p.link(p.Page + 1)
}

// paginate filters names by the request's q (a substring) and returns
// the request's page of them, sorted.
func paginate(r *http.Request, base string, names []string, size int) (pager, []string) {
	q := strings.TrimSpace(r.FormValue("q"))
	if q != "" {
		names = slices.DeleteFunc(names, func(n string) bool { return !strings.Contains(n, q) })
	}
	slices.Sort(names)
	return pageOf(r, base, q, names, size)
}

// pageOf returns the request's page of items, in their order.
func pageOf[T any](r *http.Request, base, q string, items []T, size int) (pager, []T) {
	p := pager{Total: len(items), Query: q, Base: base}
	p.Pages = max(1, (len(items)+size-1)/size)
	p.Page, _ = strconv.Atoi(r.FormValue("page"))
	p.Page = min(max(p.Page, 1), p.Pages)
	lo := (p.Page - 1) * size
	return p, items[min(lo, len(items)):min(lo+size, len(items))]
}

type topicRow struct {
	Name       string
	Internal   bool
	Partitions int
	Records    int64 // end - start over the partitions
	Size       int64 // bytes on the leaders' disks; -1 unknown
	Remote     int64 // bytes in object storage (tiered storage); -1 unknown
	Err        string
}

type topicsData struct {
	Pager  pager
	Topics []topicRow
	Tiered bool // a topic of the page has bytes in object storage
	Form   createForm
	Error  string
	Notice string
}

type createForm struct {
	Name, Partitions, Replication, Configs string
}

// ctx10 is the bound every view puts on its Kafka requests.
func ctx10(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), 10*time.Second)
}

func (c *Console) topics(w http.ResponseWriter, r *http.Request, st *reqState) error {
	d, err := c.topicsList(r, st)
	if err != nil {
		return err
	}
	if del := r.FormValue("deleted"); del != "" {
		d.Notice = "Topic " + del + " deleted."
	}
	d.Form.Partitions, d.Form.Replication = "-1", "-1"
	c.render(w, r, st, http.StatusOK, "topics", "Topics", "topics", d)
	return nil
}

// topicsList reads the names of every topic (one Metadata request) and
// the sizes and offsets of the page's topics only.
func (c *Console) topicsList(r *http.Request, st *reqState) (*topicsData, error) {
	ctx, cancel := ctx10(r)
	defer cancel()
	d := &topicsData{}
	err := st.pool.with(func(cl *kgo.Client) error {
		m, err := kadm.NewClient(cl).Metadata(fresh(ctx))
		if err != nil {
			return err
		}
		names := m.Topics.Names()
		var page []string
		d.Pager, page = paginate(r, "/topics", names, pageSize)
		if len(page) == 0 {
			return nil
		}
		parts := map[string][]int32{}
		for _, n := range page {
			if t := m.Topics[n]; t.Err == nil {
				for p := range t.Partitions {
					parts[n] = append(parts[n], p)
				}
			}
		}
		offs, sizes, sized := describePartitions(ctx, cl, parts, tsEarliest, tsLatest)
		starts, ends := offs[0], offs[1]
		if err := failed(offs...); err != nil && !isAuthErr(err) {
			return err
		}
		for _, name := range page {
			t := m.Topics[name]
			row := topicRow{Name: name, Internal: t.IsInternal, Partitions: len(t.Partitions), Size: -1, Remote: -1}
			if t.Err != nil {
				row.Err = t.Err.Error()
			}
			if sized {
				row.Size, row.Remote = 0, 0
			}
			for p := range t.Partitions {
				s, ok1 := starts.lookup(name, p)
				e, ok2 := ends.lookup(name, p)
				if ok1 && ok2 {
					row.Records += e - s
				}
				if z, ok := sizes[tp{name, p}]; ok {
					row.Size += z.Local
					row.Remote += z.Remote
				}
			}
			d.Tiered = d.Tiered || row.Remote > 0
			d.Topics = append(d.Topics, row)
		}
		return nil
	})
	return d, err
}

// topicRates answers the sum of the end offsets of each named topic, for
// the record rates the topics page's script computes between two
// samples.
func (c *Console) topicRates(w http.ResponseWriter, r *http.Request, st *reqState) error {
	names := r.URL.Query()["t"]
	if len(names) > pageSize {
		names = names[:pageSize]
	}
	ctx, cancel := ctx10(r)
	defer cancel()
	out := map[string]int64{}
	if len(names) > 0 {
		err := st.pool.do(func(adm *kadm.Client) error {
			ends, err := adm.ListEndOffsets(ctx, names...)
			if err != nil {
				return err
			}
			ends.Each(func(o kadm.ListedOffset) {
				if o.Err == nil {
					out[o.Topic] += o.Offset
				}
			})
			return nil
		})
		if err != nil {
			return err
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"t": time.Now().UnixMilli(), "ends": out})
	return nil
}

// createTopic: CreateTopics with the form's partitions, replication
// factor and configs; the broker's message on failure.
func (c *Console) createTopic(w http.ResponseWriter, r *http.Request, st *reqState) error {
	f := createForm{Name: strings.TrimSpace(r.PostFormValue("name")), Partitions: or(strings.TrimSpace(r.PostFormValue("partitions")), "-1"),
		Replication: or(strings.TrimSpace(r.PostFormValue("replication")), "-1"), Configs: r.PostFormValue("configs")}
	fail := func(msg string) error {
		d, err := c.topicsList(r, st)
		if err != nil {
			return err
		}
		d.Form, d.Error = f, msg
		c.render(w, r, st, http.StatusBadRequest, "topics", "Topics", "topics", d)
		return nil
	}
	parts, err := strconv.ParseInt(f.Partitions, 10, 32)
	if err != nil {
		return fail("Partitions: " + strconv.Quote(f.Partitions) + " is not a whole number.")
	}
	rf, err := strconv.ParseInt(f.Replication, 10, 16)
	if err != nil {
		return fail("Replication factor: " + strconv.Quote(f.Replication) + " is not a whole number.")
	}
	configs, err := parseConfigLines(f.Configs)
	if err != nil {
		return fail(err.Error())
	}
	ctx, cancel := ctx10(r)
	defer cancel()
	var resp kadm.CreateTopicResponse
	err = st.pool.do(func(adm *kadm.Client) error {
		resp, err = adm.CreateTopic(ctx, int32(parts), int16(rf), configs, f.Name)
		return err
	})
	if err == nil {
		err = resp.Err
	}
	c.audit(r, st, "topic.create", f.Name, err)
	if err != nil {
		return fail(kafkaMessage(err, resp.ErrMessage))
	}
	http.Redirect(w, r, "/topics/"+url.PathEscape(f.Name), http.StatusSeeOther)
	return nil
}

// parseConfigLines reads name=value lines.
func parseConfigLines(s string) (map[string]*string, error) {
	out := map[string]*string{}
	for i, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("Configs, line %d: %q is not name=value.", i+1, line)
		}
		v = strings.TrimSpace(v)
		out[strings.TrimSpace(k)] = &v
	}
	return out, nil
}

// kafkaMessage is what a user reads of a Kafka failure: the broker's
// message when it gave one, else the error code's description.
func kafkaMessage(err error, msg string) string {
	if msg != "" {
		var ke *kerr.Error
		if errors.As(err, &ke) {
			return ke.Message + ": " + msg
		}
		return msg
	}
	return err.Error()
}

func (c *Console) deleteTopic(w http.ResponseWriter, r *http.Request, st *reqState) error {
	topic := r.PathValue("topic")
	if err := confirmed(r, "topic", topic); err != nil {
		return err
	}
	ctx, cancel := ctx10(r)
	defer cancel()
	var resp kadm.DeleteTopicResponse
	err := st.pool.do(func(adm *kadm.Client) error {
		var err error
		resp, err = adm.DeleteTopic(ctx, topic)
		return err
	})
	if err == nil {
		err = resp.Err
	}
	c.audit(r, st, "topic.delete", topic, err)
	if err != nil {
		return &userError{statusOf(err), "Deleting " + topic + ": " + kafkaMessage(err, resp.ErrMessage)}
	}
	http.Redirect(w, r, "/topics?deleted="+url.QueryEscape(topic), http.StatusSeeOther)
	return nil
}

type partitionRow struct {
	Partition              int32
	Leader                 int32
	Replicas, ISR, Offline []int32
	Start, End             int64
	// LocalStart is the first offset still on the leader's disk (object
	// storage holds those below it); Tiered the last offset uploaded, -1
	// when none is or it is unknown.
	LocalStart, Tiered int64
	Size               int64 // bytes on the leader's disk; -1 unknown
	Remote             int64 // bytes in object storage; -1 unknown
	Err                string
}

type topicData struct {
	Name       string
	Internal   bool
	Pager      pager
	Partitions []partitionRow
	Count      int
	Records    int64
	Size       int64 // local bytes, -1 unknown
	// Tiered says the topic has tiered storage on (remote.storage.enable)
	// or records in object storage (its configs may not be readable by
	// the user, the offsets and sizes are): the view shows each partition's local
	// start, last offset uploaded and bytes there. Remote is those bytes
	// (-1 unknown), RemoteOnly the records only object storage holds
	// (below each partition's local start).
	Tiered     bool
	Remote     int64
	RemoteOnly int64
}

// topic: a topic's partitions (paged), their offsets, leader and sizes,
// and with tiered storage what object storage holds of each. Whatever the
// partition count, it asks one Metadata, one DescribeConfigs, one
// DescribeLogDirs per broker and one ListOffsets per kind of offset and
// broker.
func (c *Console) topic(w http.ResponseWriter, r *http.Request, st *reqState) error {
	name := r.PathValue("topic")
	ctx, cancel := ctx10(r)
	defer cancel()
	d := topicData{Name: name}
	err := st.pool.with(func(cl *kgo.Client) error {
		adm := kadm.NewClient(cl)
		m, err := adm.Metadata(fresh(ctx), name)
		if err != nil {
			return err
		}
		t, ok := m.Topics[name]
		if !ok || errors.Is(t.Err, kerr.UnknownTopicOrPartition) {
			return notFound("No topic %s.", name)
		}
		if t.Err != nil {
			return t.Err
		}
		d.Internal, d.Count = t.IsInternal, len(t.Partitions)
		all := t.Partitions.Sorted()
		d.Pager = pager{Total: len(all), Base: "/topics/" + url.PathEscape(name)}
		d.Pager.Pages = max(1, (len(all)+2*pageSize-1)/(2*pageSize))
		d.Pager.Page, _ = strconv.Atoi(r.FormValue("page"))
		d.Pager.Page = min(max(d.Pager.Page, 1), d.Pager.Pages)
		lo := (d.Pager.Page - 1) * 2 * pageSize
		page := all[min(lo, len(all)):min(lo+2*pageSize, len(all))]
		ids := make([]int32, len(all))
		for i, p := range all {
			ids[i] = p.Partition
		}
		parts := map[string][]int32{name: ids}

		// Tiered storage's offsets (KIP-405, KIP-1005) are asked only of
		// a tiered topic, or when its configs may not be read.
		enabled, known := remoteStorage(ctx, adm, name)
		kinds := []int64{tsEarliest, tsLatest}
		if enabled || !known {
			kinds = append(kinds, tsLocalStart, tsLastTiered)
		}
		offs, sizes, sized := describePartitions(ctx, cl, parts, kinds...)
		starts, ends := offs[0], offs[1]
		if err := failed(starts, ends); err != nil {
			return err
		}
		var locals, tiered offsetList
		if len(offs) > 2 {
			locals, tiered = offs[2], offs[3]
		}

		d.Size, d.Remote = -1, -1
		if sized {
			d.Size, d.Remote = 0, 0
		}
		for _, p := range all {
			s, ok1 := starts.lookup(name, p.Partition)
			e, ok2 := ends.lookup(name, p.Partition)
			if ok1 && ok2 {
				d.Records += e - s
				if ls, ok := locals.lookup(name, p.Partition); ok && ls > s {
					d.RemoteOnly += ls - s
					d.Tiered = true
				}
			}
			if o, ok := tiered.lookup(name, p.Partition); ok && o >= 0 {
				d.Tiered = true // uploaded, whether or not its configs may be read
			}
			if z, ok := sizes[tp{name, p.Partition}]; ok {
				d.Size += z.Local
				d.Remote += z.Remote
			}
		}
		d.Tiered = d.Tiered || enabled || d.Remote > 0
		for _, p := range page {
			row := partitionRow{Partition: p.Partition, Leader: p.Leader, Replicas: p.Replicas, ISR: p.ISR, Offline: p.OfflineReplicas,
				Size: -1, Remote: -1, Tiered: offsetUnknown}
			var errs []string // the offsets', when the partition's metadata has none
			if o, ok := starts.lookup(name, p.Partition); ok {
				row.Start = o
			} else {
				errs = append(errs, "start offset: "+starts.err(name, p.Partition).Error())
			}
			if o, ok := ends.lookup(name, p.Partition); ok {
				row.End = o
			} else {
				errs = append(errs, "end offset: "+ends.err(name, p.Partition).Error())
			}
			row.LocalStart = row.Start
			if o, ok := locals.lookup(name, p.Partition); ok && o >= row.Start {
				row.LocalStart = o
			}
			if o, ok := tiered.lookup(name, p.Partition); ok {
				row.Tiered = o
			}
			if z, ok := sizes[tp{name, p.Partition}]; ok {
				row.Size, row.Remote = z.Local, z.Remote
			} else if sized {
				row.Size, row.Remote = 0, 0 // its leader hosts nothing of it yet
			}
			row.Err = strings.Join(errs, "; ")
			if p.Err != nil {
				row.Err = p.Err.Error() // the offsets' errors would say it again
			}
			d.Partitions = append(d.Partitions, row)
		}
		return nil
	})
	if err != nil {
		return err
	}
	c.render(w, r, st, http.StatusOK, "topic", name, "topics", d)
	return nil
}

// remoteStorage reads the topic's remote.storage.enable; known is false
// when its configs could not be read (a principal may describe a topic
// and not its configs).
func remoteStorage(ctx context.Context, adm *kadm.Client, topic string) (enabled, known bool) {
	rcs, err := adm.DescribeTopicConfigs(ctx, topic)
	if err != nil {
		return false, false
	}
	rc, err := rcs.On(topic, nil)
	if err != nil || rc.Err != nil {
		return false, false
	}
	for _, cf := range rc.Configs {
		if cf.Key == "remote.storage.enable" {
			return cf.MaybeValue() == "true", true
		}
	}
	return false, true
}

type configRow struct {
	Name      string
	Value     string
	Null      bool
	Source    string
	Sensitive bool
	Default   bool
}

type configsData struct {
	Topic    string
	Configs  []configRow
	Error    string // the broker's refusal of the last change
	ErrorFor string // the config it concerned
	Tried    string // the value it refused
	Notice   string
}

func (c *Console) topicConfigs(w http.ResponseWriter, r *http.Request, st *reqState) error {
	d, err := c.readConfigs(r, st, r.PathValue("topic"))
	if err != nil {
		return err
	}
	if s := r.FormValue("set"); s != "" {
		d.Notice = s + " changed."
	}
	c.render(w, r, st, http.StatusOK, "configs", d.Topic+" configs", "topics", d)
	return nil
}

func (c *Console) readConfigs(r *http.Request, st *reqState, topic string) (*configsData, error) {
	ctx, cancel := ctx10(r)
	defer cancel()
	d := &configsData{Topic: topic}
	err := st.pool.do(func(adm *kadm.Client) error {
		rcs, err := adm.DescribeTopicConfigs(ctx, topic)
		if err != nil {
			return err
		}
		rc, err := rcs.On(topic, nil)
		if err != nil {
			return err
		}
		if rc.Err != nil {
			if errors.Is(rc.Err, kerr.UnknownTopicOrPartition) {
				return notFound("No topic %s.", topic)
			}
			return rc.Err
		}
		for _, cf := range rc.Configs {
			row := configRow{Name: cf.Key, Null: cf.Value == nil, Value: cf.MaybeValue(), Sensitive: cf.Sensitive,
				Source: sourceName(cf.Source)}
			row.Default = cf.Source != kmsg.ConfigSourceDynamicTopicConfig
			d.Configs = append(d.Configs, row)
		}
		slices.SortFunc(d.Configs, func(a, b configRow) int { return strings.Compare(a.Name, b.Name) })
		return nil
	})
	return d, err
}

func sourceName(s kmsg.ConfigSource) string {
	switch s {
	case kmsg.ConfigSourceDynamicTopicConfig:
		return "topic"
	case kmsg.ConfigSourceDynamicBrokerConfig:
		return "broker (dynamic)"
	case kmsg.ConfigSourceDynamicDefaultBrokerConfig:
		return "cluster default (dynamic)"
	case kmsg.ConfigSourceStaticBrokerConfig:
		return "broker (static)"
	case kmsg.ConfigSourceDefaultConfig:
		return "default"
	}
	return strings.ToLower(s.String())
}

// alterTopicConfig sets (or, with reset, deletes) one topic config with
// IncrementalAlterConfigs: the broker validates it, and its message is
// shown beside the config when it refuses.
func (c *Console) alterTopicConfig(w http.ResponseWriter, r *http.Request, st *reqState) error {
	topic := r.PathValue("topic")
	name := strings.TrimSpace(r.PostFormValue("name"))
	value := r.PostFormValue("value")
	if name == "" {
		return badRequest("Name the config to change.")
	}
	op := kadm.SetConfig
	if r.PostFormValue("reset") != "" {
		op = kadm.DeleteConfig
	}
	ctx, cancel := ctx10(r)
	defer cancel()
	var resp kadm.AlterConfigsResponse
	err := st.pool.do(func(adm *kadm.Client) error {
		ac := kadm.AlterConfig{Op: op, Name: name}
		if op == kadm.SetConfig {
			ac.Value = &value
		}
		rs, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{ac}, topic)
		if err != nil {
			return err
		}
		resp, err = rs.On(topic, nil)
		if err != nil {
			return err
		}
		return resp.Err
	})
	what := name + "=" + value
	if op == kadm.DeleteConfig {
		what = name + " (reset)"
	}
	c.audit(r, st, "topic.config", topic+" "+what, err)
	if err != nil {
		if isAuthErr(err) {
			return err
		}
		d, rerr := c.readConfigs(r, st, topic)
		if rerr != nil {
			return rerr
		}
		d.Error, d.ErrorFor, d.Tried = kafkaMessage(err, resp.ErrMessage), name, value
		c.render(w, r, st, http.StatusBadRequest, "configs", topic+" configs", "topics", d)
		return nil
	}
	http.Redirect(w, r, "/topics/"+url.PathEscape(topic)+"/configs?set="+url.QueryEscape(name), http.StatusSeeOther)
	return nil
}

// confirmed checks that a delete's form repeats the name of what it
// deletes.
func confirmed(r *http.Request, kind, name string) error {
	if r.PostFormValue("confirm") != name {
		return badRequest("To delete %s %s, type its name to confirm.", kind, name)
	}
	return nil
}

// audit logs a change made through the console.
func (c *Console) audit(r *http.Request, st *reqState, action, target string, err error) {
	if err != nil {
		c.log.Info("console change refused", "principal", st.principal(), "action", action, "target", target, "remote", r.RemoteAddr, "err", err.Error())
		return
	}
	c.log.Info("console change", "principal", st.principal(), "action", action, "target", target, "remote", r.RemoteAddr)
}

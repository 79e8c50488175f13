package console

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

const (
	previewValue = 1024 // bytes of a value's text in the list
	previewKey   = 256
	wholeInline  = 1 << 20 // a value up to this is shown whole on its page
)

var errNoMessages = &userError{http.StatusForbidden, "The message browser is turned off on this broker (console.messages.enable=false)."}

// browseQuery is the message browser's form, all of it in the URL.
type browseQuery struct {
	Topic     string
	Partition int32 // -1: all
	From      string
	Offset    int64
	Timestamp string
	Key       string
	Value     string
	Header    string
	Format    string
	Limit     int
	Budget    int64 // MiB
	Seconds   int
	Cursor    string // forward: where to go on; newest: where to go back from
	ts        int64
}

func readBrowseQuery(r *http.Request) (*browseQuery, error) {
	q := &browseQuery{Topic: r.PathValue("topic"), Partition: -1, From: or(r.FormValue("from"), "newest"),
		Timestamp: strings.TrimSpace(r.FormValue("timestamp")), Key: r.FormValue("key"), Value: r.FormValue("value"),
		Header: r.FormValue("header"), Format: or(r.FormValue("format"), fmtAuto), Cursor: r.FormValue("cursor")}
	if p := strings.TrimSpace(r.FormValue("partition")); p != "" && p != "all" {
		n, err := strconv.ParseInt(p, 10, 32)
		if err != nil || n < 0 {
			return nil, badRequest("partition: %q is not a partition number", p)
		}
		q.Partition = int32(n)
	}
	var err error
	if q.Offset, err = intParam(r, "offset", 0); err != nil {
		return nil, err
	}
	limit, err := intParam(r, "limit", defaultLimit)
	if err != nil {
		return nil, err
	}
	q.Limit = int(min(max(limit, 1), maxLimit))
	if q.Budget, err = intParam(r, "budget", defaultBudgetMiB); err != nil {
		return nil, err
	}
	q.Budget = min(max(q.Budget, 1), maxBudgetMiB)
	secs, err := intParam(r, "seconds", defaultSeconds)
	if err != nil {
		return nil, err
	}
	q.Seconds = int(min(max(secs, 1), maxSeconds))
	switch q.From {
	case "newest", "start", "offset", "timestamp":
	default:
		return nil, badRequest("from: %q is not newest, start, offset or timestamp", q.From)
	}
	switch q.Format {
	case fmtAuto, fmtText, fmtJSON, fmtHex, fmtSchema:
	default:
		return nil, badRequest("format: %q is not auto, text, json, hex or schema", q.Format)
	}
	if q.From == "timestamp" {
		if q.ts, err = parseTimestamp(q.Timestamp); err != nil {
			return nil, err
		}
	}
	return q, nil
}

// browseQuery is the message browser's query, or why there is none.
func (c *Console) browseQuery(r *http.Request) (*browseQuery, error) {
	if c.cfg.NoMessages {
		return nil, errNoMessages
	}
	return readBrowseQuery(r)
}

// parseTimestamp reads RFC 3339 (with or without seconds and zone, UTC
// when none), a date, or Unix milliseconds.
func parseTimestamp(s string) (int64, error) {
	if s == "" {
		return 0, badRequest("timestamp: empty; give a time such as 2026-01-02T15:04:05Z or Unix milliseconds")
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n, nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02 15:04:05", "2006-01-02 15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
			return t.UnixMilli(), nil
		}
	}
	return 0, badRequest("timestamp: %q is not a time such as 2026-01-02T15:04:05Z or Unix milliseconds", s)
}

func (q *browseQuery) filter() filter {
	return filter{key: []byte(q.Key), value: []byte(q.Value), header: []byte(q.Header)}
}

// url is the browser's URL for q with the given changes.
func (q *browseQuery) url(path string, set map[string]string) string {
	v := url.Values{}
	if q.Partition >= 0 {
		v.Set("partition", strconv.Itoa(int(q.Partition)))
	}
	v.Set("from", q.From)
	if q.From == "offset" {
		v.Set("offset", strconv.FormatInt(q.Offset, 10))
	}
	if q.From == "timestamp" {
		v.Set("timestamp", q.Timestamp)
	}
	for k, s := range map[string]string{"key": q.Key, "value": q.Value, "header": q.Header} {
		if s != "" {
			v.Set(k, s)
		}
	}
	if q.Format != fmtAuto {
		v.Set("format", q.Format)
	}
	if q.Limit != defaultLimit {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	if q.Budget != defaultBudgetMiB {
		v.Set("budget", strconv.FormatInt(q.Budget, 10))
	}
	if q.Seconds != defaultSeconds {
		v.Set("seconds", strconv.Itoa(q.Seconds))
	}
	for k, s := range set {
		if s == "" {
			v.Del(k)
		} else {
			v.Set(k, s)
		}
	}
	return path + "?" + v.Encode()
}

// target reads the topic's id, partitions and leaders, and its offsets,
// within 10 s.
func target(ctx context.Context, adm *kadm.Client, topic string) (scanTarget, []int32, kadm.ListedOffsets, kadm.ListedOffsets, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	t := scanTarget{topic: topic, leaders: map[int32]int32{}}
	m, err := adm.Metadata(fresh(ctx), topic)
	if err != nil {
		return t, nil, nil, nil, err
	}
	td, ok := m.Topics[topic]
	if !ok || errors.Is(td.Err, kerr.UnknownTopicOrPartition) {
		return t, nil, nil, nil, notFound("No topic %s.", topic)
	}
	if td.Err != nil {
		return t, nil, nil, nil, td.Err
	}
	t.id = td.ID
	var parts []int32
	for p, pd := range td.Partitions {
		t.leaders[p] = pd.Leader
		parts = append(parts, p)
	}
	slices.Sort(parts)
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return t, nil, nil, nil, err
	}
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return t, nil, nil, nil, err
	}
	return t, parts, starts, ends, nil
}

// msgRow is one message as a template shows it.
type msgRow struct {
	Partition int32
	Offset    int64
	Timestamp time.Time
	Key       shown
	Value     shown
	Headers   []headerShown
	Link      string
}

type headerShown struct {
	Key   string
	Value shown
}

// kept is a matched record held for display: its value cut to what the
// list shows (the whole value stays in the log).
type kept struct {
	partition       int32
	offset          int64
	ts              time.Time
	key, value      []byte
	keyLen, valLen  int
	keyNil, valNil  bool
	headers         []kgo.RecordHeader
	keyCut, valCut  bool
	schemaKeyPrefix []byte
}

// keep copies what the list needs of r: previews of key and value long
// enough for every format (hex shows a quarter of the text's bytes).
func keep(r *kgo.Record) kept {
	k := kept{partition: r.Partition, offset: r.Offset, ts: r.Timestamp, keyLen: len(r.Key), valLen: len(r.Value),
		keyNil: r.Key == nil, valNil: r.Value == nil}
	k.key, k.keyCut = prefix(r.Key, previewKey*4)
	k.value, k.valCut = prefix(r.Value, previewValue*4)
	for _, h := range r.Headers {
		v, _ := prefix(h.Value, previewKey*4)
		k.headers = append(k.headers, kgo.RecordHeader{Key: h.Key, Value: v})
	}
	return k
}

func prefix(b []byte, n int) ([]byte, bool) {
	if b == nil {
		return nil, false
	}
	if len(b) <= n {
		return bytes.Clone(b), false
	}
	return bytes.Clone(b[:n]), true
}

type messagesData struct {
	Q          *browseQuery
	Partitions []int32
	Rows       []msgRow
	Stats      scanStats
	Next       string // continues the scan; empty when it is complete
	Export     string
	Tail       string // the live tail's endpoint
	Formats    []string
}

// messages is the message browser.
func (c *Console) messages(w http.ResponseWriter, r *http.Request, st *reqState) error {
	q, err := c.browseQuery(r)
	if err != nil {
		return err
	}
	d := &messagesData{Q: q, Formats: []string{fmtAuto, fmtText, fmtJSON, fmtHex}}
	if c.cfg.Registry != nil {
		d.Formats = append(d.Formats, fmtSchema)
	}
	path := "/topics/" + url.PathEscape(q.Topic) + "/messages"
	err = st.pool.with(func(cl *kgo.Client) error {
		res, parts, next, err := c.browse(r.Context(), cl, q)
		if err != nil {
			return err
		}
		d.Partitions = parts
		d.Stats = res.stats
		for _, k := range res.kept {
			d.Rows = append(d.Rows, c.row(r, st, q, k))
		}
		if next != "" {
			d.Next = q.url(path, map[string]string{"cursor": next})
		}
		return nil
	})
	if err != nil {
		return err
	}
	d.Export = q.url(path+"/export", nil)
	d.Tail = q.url(path+"/tail", map[string]string{"cursor": ""})
	c.render(w, r, st, http.StatusOK, "messages", q.Topic+" messages", "topics", d)
	return nil
}

type browseResult struct {
	kept  []kept
	stats scanStats
}

// browse runs q: forward from the start, an offset, a timestamp or a
// cursor; or back from the end (newest) in growing windows until it has
// q.Limit matches. It returns the matches in display order, the topic's
// partitions, and the cursor that continues it (empty: nothing left).
func (c *Console) browse(ctx context.Context, cl *kgo.Client, q *browseQuery) (browseResult, []int32, string, error) {
	var res browseResult
	adm := kadm.NewClient(cl)
	t, parts, starts, ends, err := target(ctx, adm, q.Topic)
	if err != nil {
		return res, nil, "", err
	}
	selected := parts
	if q.Partition >= 0 {
		if _, ok := t.leaders[q.Partition]; !ok {
			return res, parts, "", notFound("Topic %s has no partition %d.", q.Topic, q.Partition)
		}
		selected = []int32{q.Partition}
	}
	cursor, err := parseCursor(q.Cursor)
	if err != nil {
		return res, parts, "", err
	}
	b := budget{bytes: q.Budget << 20, deadline: time.Now().Add(time.Duration(q.Seconds) * time.Second)}
	start := func(p int32) int64 { o, _ := starts.Lookup(q.Topic, p); return o.Offset }
	end := func(p int32) int64 { o, _ := ends.Lookup(q.Topic, p); return o.Offset }

	if q.From == "newest" {
		res, next, err := c.browseNewest(ctx, cl, t, q, selected, start, end, cursor, b)
		return res, parts, next, err
	}
	ranges := map[int32]*prange{}
	var from map[int32]int64
	if q.From == "timestamp" && q.Cursor == "" {
		lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		after, err := adm.ListOffsetsAfterMilli(lctx, q.ts, q.Topic)
		cancel()
		if err != nil {
			return res, parts, "", err
		}
		from = map[int32]int64{}
		after.Each(func(o kadm.ListedOffset) {
			if o.Offset >= 0 {
				from[o.Partition] = o.Offset
			} else {
				from[o.Partition] = end(o.Partition)
			}
		})
	}
	for _, p := range selected {
		s := start(p)
		switch {
		case q.Cursor != "":
			o, ok := cursor[p]
			if !ok {
				continue
			}
			s = max(s, o)
		case q.From == "offset":
			s = max(s, q.Offset)
		case q.From == "timestamp":
			if o, ok := from[p]; ok {
				s = max(s, o)
			}
		}
		ranges[p] = &prange{next: s, end: end(p)}
	}
	res.stats, err = c.scan(ctx, cl, t, ranges, q.filter(), b, func(r *kgo.Record) bool {
		res.kept = append(res.kept, keep(r))
		return len(res.kept) < q.Limit
	})
	if err != nil {
		return res, parts, "", err
	}
	sortKept(res.kept, false)
	next := map[int32]int64{}
	for p, r := range ranges {
		if r.next < r.end && r.err == nil {
			next[p] = r.next
		}
	}
	return res, parts, formatCursor(next), nil
}

// browseNewest reads back from the end: windows of offsets just below
// each partition's position, read forward, each round twice as wide,
// keeping the newest q.Limit matches, until it has q.Limit of them or the
// budget is spent. The cursor continues below what was shown.
func (c *Console) browseNewest(ctx context.Context, cl *kgo.Client, t scanTarget, q *browseQuery, selected []int32,
	start, end func(int32) int64, cursor map[int32]int64, b budget) (browseResult, string, error) {
	var res browseResult
	pos := map[int32]int64{} // read down to here
	for _, p := range selected {
		e := end(p)
		if o, ok := cursor[p]; ok {
			e = min(e, o)
		} else if q.Cursor != "" {
			continue
		}
		pos[p] = e
	}
	// The newest q.Limit matches so far, over every partition: at most
	// 2*q.Limit previews are held at once, whatever the partitions.
	var shown []kept
	dropped := map[int32]int64{} // per partition, past the newest match read but not kept
	trim := func() {
		sortKept(shown, true)
		for _, k := range shown[min(q.Limit, len(shown)):] {
			dropped[k.partition] = max(dropped[k.partition], k.offset+1)
		}
		shown = shown[:min(q.Limit, len(shown))]
	}
	window := int64(q.Limit)
	if len(selected) > 1 && q.filter().empty() {
		window = max(1, int64(q.Limit)/int64(len(selected))+1)
	}
	for {
		ranges := map[int32]*prange{}
		for p, e := range pos {
			if s := max(start(p), e-window); s < e {
				ranges[p] = &prange{next: s, end: e}
			}
		}
		if len(ranges) == 0 {
			res.stats.Complete = true
			res.stats.Stopped = "read back to the start"
			break
		}
		from := map[int32]int64{}
		for p, r := range ranges {
			from[p] = r.next
		}
		rb := b
		rb.bytes = b.bytes - res.stats.Scanned
		st, err := c.scan(ctx, cl, t, ranges, q.filter(), rb, func(r *kgo.Record) bool {
			shown = append(shown, keep(r))
			if len(shown) >= 2*q.Limit {
				trim()
			}
			return true
		})
		res.stats.Scanned += st.Scanned
		res.stats.Records += st.Records
		res.stats.Matched += st.Matched
		res.stats.Took += st.Took
		if err != nil {
			return res, "", err
		}
		if !st.Complete {
			// A budget ran out inside these windows: the next request
			// reads them again.
			res.stats.Stopped = st.Stopped
			break
		}
		for p := range ranges {
			pos[p] = from[p]
		}
		if len(shown) >= q.Limit {
			res.stats.Stopped = "enough messages"
			break
		}
		window *= 2
	}
	trim()
	res.kept = shown
	next := map[int32]int64{}
	for p, e := range pos {
		if e > start(p) {
			next[p] = e
		}
	}
	// Matches read but not shown are older than those shown: go on from
	// the newest of them in each partition.
	for p, o := range dropped {
		next[p] = max(next[p], o)
	}
	if len(next) == 0 {
		return res, "", nil
	}
	return res, formatCursor(next), nil
}

// sortKept orders records by timestamp (newest first or oldest first),
// then partition, then offset in the same direction.
func sortKept(ks []kept, newestFirst bool) {
	dir := 1
	if newestFirst {
		dir = -1
	}
	slices.SortStableFunc(ks, func(a, b kept) int {
		if c := a.ts.Compare(b.ts); c != 0 {
			return c * dir
		}
		if a.partition != b.partition {
			return int(a.partition - b.partition)
		}
		return int(a.offset-b.offset) * dir
	})
}

// row renders a kept record for the list.
func (c *Console) row(r *http.Request, st *reqState, q *browseQuery, k kept) msgRow {
	m := msgRow{Partition: k.partition, Offset: k.offset, Timestamp: k.ts,
		Link: "/topics/" + url.PathEscape(q.Topic) + "/messages/" + strconv.Itoa(int(k.partition)) + "/" + strconv.FormatInt(k.offset, 10)}
	m.Key = c.show(r, st, k.key, k.keyNil, q.Format, previewKey, !k.keyCut)
	m.Key.Size, m.Key.Cut = k.keyLen, m.Key.Cut || k.keyCut
	m.Value = c.show(r, st, k.value, k.valNil, q.Format, previewValue, !k.valCut)
	m.Value.Size, m.Value.Cut = k.valLen, m.Value.Cut || k.valCut
	for _, h := range k.headers {
		hs := c.show(r, st, h.Value, h.Value == nil, fmtAuto, previewKey, false)
		m.Headers = append(m.Headers, headerShown{Key: h.Key, Value: hs})
	}
	return m
}

// tail is the live tail's poll: one long-polling fetch (up to a second)
// from the cursor, answered as rows of HTML and the cursor to poll
// from next. Without a cursor it answers the end offsets.
func (c *Console) tail(w http.ResponseWriter, r *http.Request, st *reqState) error {
	q, err := c.browseQuery(r)
	if err != nil {
		return err
	}
	var rows []msgRow
	var cursor string
	err = st.pool.with(func(cl *kgo.Client) error {
		adm := kadm.NewClient(cl)
		t, parts, _, ends, err := target(r.Context(), adm, q.Topic)
		if err != nil {
			return err
		}
		pos, err := parseCursor(q.Cursor)
		if err != nil {
			return err
		}
		ranges := map[int32]*prange{}
		for _, p := range parts {
			if q.Partition >= 0 && p != q.Partition {
				continue
			}
			e, _ := ends.Lookup(q.Topic, p)
			o, ok := pos[p]
			if !ok {
				o = e.Offset
			}
			ranges[p] = &prange{next: o, end: math.MaxInt64}
		}
		if q.Cursor != "" {
			var ks []kept
			_, err = c.scan(r.Context(), cl, t, ranges, q.filter(), budget{bytes: 64 << 20, deadline: time.Now().Add(5 * time.Second), maxWait: time.Second},
				func(rec *kgo.Record) bool {
					ks = append(ks, keep(rec))
					return len(ks) < q.Limit
				})
			if err != nil {
				return err
			}
			sortKept(ks, true)
			for _, k := range ks {
				rows = append(rows, c.row(r, st, q, k))
			}
		}
		next := map[int32]int64{}
		for p, rg := range ranges {
			next[p] = rg.next
		}
		cursor = formatCursor(next)
		return nil
	})
	if err != nil {
		return err
	}
	t, err := c.template("messages")
	if err != nil {
		return err
	}
	var b strings.Builder
	if err := t.ExecuteTemplate(&b, "rows", rows); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"cursor": cursor, "html": b.String(), "count": len(rows)})
	return nil
}

// exported is a message as export writes it, one JSON object a line.
type exported struct {
	Topic       string           `json:"topic"`
	Partition   int32            `json:"partition"`
	Offset      int64            `json:"offset"`
	Timestamp   int64            `json:"timestamp"`
	Key         *string          `json:"key"`
	KeyBase64   []byte           `json:"keyBase64,omitempty"`
	Value       *string          `json:"value"`
	ValueBase64 []byte           `json:"valueBase64,omitempty"`
	Headers     []exportedHeader `json:"headers"`
}

type exportedHeader struct {
	Key         string  `json:"key"`
	Value       *string `json:"value"`
	ValueBase64 []byte  `json:"valueBase64,omitempty"`
}

// text puts b as a string when it is UTF-8, else as base64.
func text(b []byte) (*string, []byte) {
	if b == nil {
		return nil, nil
	}
	if utf8.Valid(b) {
		s := string(b)
		return &s, nil
	}
	return nil, b
}

// export writes the messages the browser shows for the same query as
// JSON lines, whole: it runs the query for their positions, then reads
// them again from the log, writing each as it comes.
func (c *Console) export(w http.ResponseWriter, r *http.Request, st *reqState) error {
	q, err := c.browseQuery(r)
	if err != nil {
		return err
	}
	return st.pool.with(func(cl *kgo.Client) error {
		res, _, _, err := c.browse(r.Context(), cl, q)
		if err != nil {
			return err
		}
		want := map[int32]map[int64]bool{}
		ranges := map[int32]*prange{}
		for _, k := range res.kept {
			if want[k.partition] == nil {
				want[k.partition] = map[int64]bool{}
			}
			want[k.partition][k.offset] = true
			rg := ranges[k.partition]
			if rg == nil {
				rg = &prange{next: k.offset, end: k.offset + 1}
				ranges[k.partition] = rg
			}
			rg.next, rg.end = min(rg.next, k.offset), max(rg.end, k.offset+1)
		}
		t, _, _, _, err := target(r.Context(), kadm.NewClient(cl), q.Topic)
		if err != nil {
			return err
		}
		w.Header().Set("Content-Type", "application/x-ndjson")
		w.Header().Set("Content-Disposition", `attachment; filename="`+q.Topic+`.jsonl"`)
		enc := json.NewEncoder(w)
		_, err = c.scan(r.Context(), cl, t, ranges, filter{}, budget{bytes: math.MaxInt64, deadline: time.Now().Add(time.Minute)}, func(rec *kgo.Record) bool {
			if !want[rec.Partition][rec.Offset] {
				return true
			}
			e := exported{Topic: rec.Topic, Partition: rec.Partition, Offset: rec.Offset, Timestamp: rec.Timestamp.UnixMilli(), Headers: []exportedHeader{}}
			e.Key, e.KeyBase64 = text(rec.Key)
			e.Value, e.ValueBase64 = text(rec.Value)
			for _, h := range rec.Headers {
				eh := exportedHeader{Key: h.Key}
				eh.Value, eh.ValueBase64 = text(h.Value)
				e.Headers = append(e.Headers, eh)
			}
			enc.Encode(e)
			return true
		})
		if err == nil {
			c.log.Info("console export", "principal", st.principal(), "topic", q.Topic, "messages", len(res.kept), "remote", r.RemoteAddr)
		}
		return err
	})
}

type messageData struct {
	Topic     string
	Partition int32
	Offset    int64
	Timestamp time.Time
	Key       shown
	Value     shown
	Headers   []headerShown
	Format    string
	Formats   []string
	Producer  int64
}

// message shows one message whole (a value past wholeInline as a
// download), in the format asked for.
func (c *Console) message(w http.ResponseWriter, r *http.Request, st *reqState) error {
	if c.cfg.NoMessages {
		return errNoMessages
	}
	topic := r.PathValue("topic")
	p, err1 := strconv.ParseInt(r.PathValue("partition"), 10, 32)
	o, err2 := strconv.ParseInt(r.PathValue("offset"), 10, 64)
	if err1 != nil || err2 != nil || p < 0 || o < 0 {
		return notFound("No such message.")
	}
	format := or(r.FormValue("format"), fmtAuto)
	var rec *kgo.Record
	err := st.pool.with(func(cl *kgo.Client) error {
		t, _, _, _, err := target(r.Context(), kadm.NewClient(cl), topic)
		if err != nil {
			return err
		}
		if _, ok := t.leaders[int32(p)]; !ok {
			return notFound("Topic %s has no partition %d.", topic, p)
		}
		ranges := map[int32]*prange{int32(p): {next: o, end: o + 1}}
		_, err = c.scan(r.Context(), cl, t, ranges, filter{}, budget{bytes: 256 << 20, deadline: time.Now().Add(10 * time.Second)}, func(r *kgo.Record) bool {
			rec = r
			return false
		})
		return err
	})
	if err != nil {
		return err
	}
	if rec == nil {
		return notFound("Topic %s partition %d has no message at offset %d.", topic, p, o)
	}
	switch r.FormValue("raw") {
	case "key", "value":
		b := rec.Value
		if r.FormValue("raw") == "key" {
			b = rec.Key
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Disposition", `attachment; filename="`+topic+"-"+strconv.Itoa(int(p))+"-"+strconv.FormatInt(o, 10)+"."+r.FormValue("raw")+`"`)
		w.Write(b)
		return nil
	}
	d := messageData{Topic: topic, Partition: int32(p), Offset: o, Timestamp: rec.Timestamp, Format: format,
		Formats: []string{fmtAuto, fmtText, fmtJSON, fmtHex}, Producer: rec.ProducerID}
	if c.cfg.Registry != nil {
		d.Formats = append(d.Formats, fmtSchema)
	}
	d.Key = c.show(r, st, rec.Key, rec.Key == nil, format, wholeInline, true)
	d.Value = c.show(r, st, rec.Value, rec.Value == nil, format, wholeInline, true)
	for _, h := range rec.Headers {
		d.Headers = append(d.Headers, headerShown{Key: h.Key, Value: c.show(r, st, h.Value, h.Value == nil, fmtAuto, wholeInline, false)})
	}
	c.render(w, r, st, http.StatusOK, "message", topic+" "+strconv.Itoa(int(p))+"@"+strconv.FormatInt(o, 10), "topics", d)
	return nil
}

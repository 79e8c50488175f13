package compattests

// streamctl, the CLI, against the streamhouse binary: every command in
// text and JSON output, checked against what franz-go sees on the same
// broker, and the error cases (unknown topics and groups, an unreachable or
// silent broker, bad usage, config set refused by the broker).

import (
	"context"
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamhouse/streamhouse/internal/pgtest"
)

func TestStreamctlTopics(t *testing.T) {
	t.Parallel()
	addr := ctlBroker(t)
	adm := fgAdmin(t, addr)

	out := ctl(t, addr, "topic", "create", "orders", "--partitions", "3", "--config", "retention.ms=3600000", "--config", "segment.bytes=1048576")
	if want := `created topic "orders" with 3 partitions`; !strings.Contains(out, want) {
		t.Fatalf("topic create: %q, want %q", out, want)
	}
	ev := ctlJSON[ctlTopic](t, addr, "topic", "create", "events", "--partitions", "1", "--replication-factor", "1")
	if ev.Name != "events" || ev.Partitions != 1 || ev.ReplicationFactor != 1 || ev.ID == "" {
		t.Fatalf("topic create --output json: %+v", ev)
	}

	ctlFail(t, addr, 1, []string{`topic "orders" already exists`}, "topic", "create", "orders", "--partitions", "1")
	ctlFail(t, addr, 1, []string{"INVALID_CONFIG", "retention.ms"}, "topic", "create", "bad", "--partitions", "1", "--config", "retention.ms=soon")

	list := ctlJSON[[]ctlTopic](t, addr, "topic", "list")
	if len(list) != 2 || list[0].Name != "events" || list[1].Name != "orders" || list[1].Partitions != 3 || list[1].ReplicationFactor != 1 {
		t.Fatalf("topic list --output json: %+v", list)
	}
	if list[0].ID != ev.ID {
		t.Fatalf("topic list: id of events %q, topic create said %q", list[0].ID, ev.ID)
	}
	text := ctl(t, addr, "topic", "list")
	if row := ctlTableRow(t, text, "orders"); !slices.Equal(row[:3], []string{"orders", "3", "1"}) {
		t.Fatalf("topic list: row %q", row)
	}

	// Records in partitions 0 and 1, and a log start moved by DeleteRecords.
	cl := fgClient(t, addr, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	for i := range 4 {
		fgProduceSync(t, cl, &kgo.Record{Topic: "orders", Partition: int32(i % 2), Value: fmt.Appendf(nil, "v%d", i)})
	}
	del := kadm.Offsets{}
	del.AddOffset("orders", 0, 1, -1)
	if resp, err := adm.DeleteRecords(fgCtx(t), del); err != nil || resp.Error() != nil {
		t.Fatalf("delete records: %v %v", err, resp.Error())
	}

	info := ctlJSON[ctlTopicInfo](t, addr, "topic", "describe", "orders")
	if info.Name != "orders" || info.ID != list[1].ID || info.ReplicationFactor != 1 || len(info.Partitions) != 3 {
		t.Fatalf("topic describe: %+v", info)
	}
	wantOffsets := [][2]int64{{1, 2}, {0, 2}, {0, 0}}
	for i, p := range info.Partitions {
		if p.Partition != int32(i) || p.Leader != fgNode || !slices.Equal(p.Replicas, []int32{fgNode}) || !slices.Equal(p.ISR, []int32{fgNode}) || p.Error != "" {
			t.Fatalf("topic describe: partition %d: %+v", i, p)
		}
		if got := [2]int64{p.LogStartOffset, p.EndOffset}; got != wantOffsets[i] {
			t.Fatalf("topic describe: partition %d log start and end %v, want %v", i, got, wantOffsets[i])
		}
		// Local bytes from DescribeLogDirs; nothing tiered.
		if p.LocalBytes == nil || (*p.LocalBytes > 0) != (p.EndOffset > 0) || p.RemoteBytes == nil || *p.RemoteBytes != 0 {
			t.Fatalf("topic describe: partition %d local bytes %v, remote bytes %v", i, p.LocalBytes, p.RemoteBytes)
		}
	}
	for name, want := range map[string]ctlConfig{
		"retention.ms":   {Name: "retention.ms", Value: ctlPtr("3600000"), Source: "DYNAMIC_TOPIC_CONFIG"},
		"segment.bytes":  {Name: "segment.bytes", Value: ctlPtr("1048576"), Source: "DYNAMIC_TOPIC_CONFIG"},
		"cleanup.policy": {Name: "cleanup.policy", Value: ctlPtr("delete"), Source: "DEFAULT_CONFIG"},
	} {
		if got := ctlFindConfig(t, info.Configs, name); got.Value == nil || *got.Value != *want.Value || got.Source != want.Source {
			t.Fatalf("topic describe: config %s = %v from %s, want %s from %s", name, got.Value, got.Source, *want.Value, want.Source)
		}
	}
	text = ctl(t, addr, "topic", "describe", "orders")
	if row := ctlTableRow(t, text, "0", "1"); len(row) != 8 || !slices.Equal(row[:6], []string{"0", "1", "1", "1", "1", "2"}) || row[7] != "0" {
		t.Fatalf("topic describe: partition 0 row %q", row)
	}
	if row := ctlTableRow(t, text, "retention.ms"); !slices.Equal(row, []string{"retention.ms", "3600000", "DYNAMIC_TOPIC_CONFIG"}) {
		t.Fatalf("topic describe: retention.ms row %q", row)
	}

	out = ctl(t, addr, "topic", "delete", "events")
	if want := `deleted topic "events"`; !strings.Contains(out, want) {
		t.Fatalf("topic delete: %q, want %q", out, want)
	}
	if list := ctlJSON[[]ctlTopic](t, addr, "topic", "list"); len(list) != 1 || list[0].Name != "orders" {
		t.Fatalf("topic list after delete: %+v", list)
	}
	ctlFail(t, addr, 1, []string{`topic "events" does not exist`}, "topic", "describe", "events")
	ctlFail(t, addr, 1, []string{`topic "events" does not exist`}, "topic", "delete", "events")
	ctlFail(t, addr, 1, []string{`topic "events" does not exist`}, "topic", "describe", "events", "--output", "json")
}

func TestStreamctlProduceConsume(t *testing.T) {
	t.Parallel()
	addr := ctlBroker(t)
	ctl(t, addr, "topic", "create", "p", "--partitions", "3")

	one := ctlJSON[ctlProduced](t, addr, "produce", "p", "--partition", "2", "--key", "k0", "--value", "v0")
	if one.Topic != "p" || one.Records != 1 || one.Partition == nil || *one.Partition != 2 || one.Offset == nil || *one.Offset != 0 {
		t.Fatalf("produce --value --output json: %+v", one)
	}

	// Standard input, keys before the first separator; a line without it
	// has no key, an empty line is an empty record.
	out := ctlIn(t, addr, "a=1\nb=2\n\nc=3=4\nnokey", "produce", "p", "--partition", "1", "--key-separator", "=")
	if want := "produced 5 records to p in "; !strings.HasPrefix(out, want) {
		t.Fatalf("produce from stdin: %q, want %q...", out, want)
	}
	got := fgConsumeFrom(t, addr, "p", map[int32]kgo.Offset{1: kgo.NewOffset().AtStart()}, 5)[1]
	want := []*kgo.Record{
		{Key: []byte("a"), Value: []byte("1")},
		{Key: []byte("b"), Value: []byte("2")},
		{Value: []byte{}},
		{Key: []byte("c"), Value: []byte("3=4")},
		{Value: []byte("nokey")},
	}
	for i, w := range want {
		if g := got[i]; !fgSameBytes(g.Key, w.Key) || !fgSameBytes(g.Value, w.Value) {
			t.Fatalf("record %d from stdin: key %s value %s, want key %s value %s", i, fgShow(g.Key), fgShow(g.Value), fgShow(w.Key), fgShow(w.Value))
		}
	}

	// One --key for every line: the default partitioner puts them together.
	ctlIn(t, addr, "x1\nx2\nx3\n", "produce", "p", "--key", "same")
	ends := fgEndOffsets(t, fgAdmin(t, addr), "p")
	if total := ends[0] + ends[1] + ends[2]; total != 9 {
		t.Fatalf("end offsets %v: %d records, want 9", ends, total)
	}

	// A binary value and headers, produced by franz-go.
	cl := fgClient(t, addr, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	fgProduceSync(t, cl, &kgo.Record{Topic: "p", Partition: 0, Value: []byte{0xff, 0x00, 0x01}, Headers: []kgo.RecordHeader{{Key: "h", Value: []byte("hv")}}})
	fgProduceSync(t, cl, &kgo.Record{Topic: "p", Partition: 0, Key: []byte("hk"), Value: []byte("text"), Headers: []kgo.RecordHeader{{Key: "h1", Value: []byte("1")}, {Key: "h2"}}})

	all := lines(ctl(t, addr, "consume", "p"))
	wantValues := []string{"v0", "1", "2", "", "3=4", "nokey", "x1", "x2", "x3", "\xff\x00\x01", "text"}
	if len(all) != len(wantValues)-1 { // lines() drops the empty record's line
		t.Fatalf("consume: %d lines, want %d:\n%q", len(all), len(wantValues)-1, all)
	}
	for _, v := range wantValues {
		if v != "" && !slices.Contains(all, v) {
			t.Fatalf("consume: %q missing from %q", v, all)
		}
	}

	recs := ctlJSONLines(t, ctl(t, addr, "consume", "p", "--partition", "1", "--output", "json"))
	if len(recs) != 5 {
		t.Fatalf("consume --partition 1 --output json: %d records, want 5", len(recs))
	}
	for i, r := range recs {
		w := want[i]
		if r.Topic != "p" || r.Partition != 1 || r.Offset != int64(i) || r.Timestamp <= 0 || r.Headers == nil || len(r.Headers) != 0 || r.Encoding != "" {
			t.Fatalf("consume --output json: record %d: %+v", i, r)
		}
		if (r.Key == nil) != (w.Key == nil) || r.Key != nil && *r.Key != string(w.Key) || r.Value == nil || *r.Value != string(w.Value) {
			t.Fatalf("consume --output json: record %d: key %v value %v, want %s %s", i, r.Key, r.Value, fgShow(w.Key), fgShow(w.Value))
		}
		if ts := got[i].Timestamp.UnixMilli(); r.Timestamp != ts {
			t.Fatalf("consume --output json: record %d: timestamp %d, franz-go says %d", i, r.Timestamp, ts)
		}
	}
	bin := ctlJSONLines(t, ctl(t, addr, "consume", "p", "--partition", "0", "--output", "json"))
	b64 := func(s string) *string { return ctlPtr(base64.StdEncoding.EncodeToString([]byte(s))) }
	if len(bin) != 2 {
		t.Fatalf("consume --partition 0: %d records, want 2", len(bin))
	}
	if r := bin[0]; r.Encoding != "base64" || r.Key != nil || *r.Value != *b64("\xff\x00\x01") || len(r.Headers) != 1 || r.Headers[0].Key != "h" || *r.Headers[0].Value != *b64("hv") {
		t.Fatalf("consume --output json: binary record %+v", r)
	}
	if r := bin[1]; r.Encoding != "" || *r.Key != "hk" || *r.Value != "text" || len(r.Headers) != 2 || *r.Headers[0].Value != "1" || r.Headers[1].Key != "h2" || r.Headers[1].Value != nil {
		t.Fatalf("consume --output json: record with headers %+v", r)
	}

	for _, c := range []struct {
		name string
		args []string
		want []string
	}{
		{"offset", []string{"--partition", "1", "--offset", "3"}, []string{"3=4", "nokey"}},
		{"offset past the end", []string{"--partition", "1", "--offset", "99"}, nil},
		{"offset before the end", []string{"--partition", "1", "--offset", "-2"}, []string{"3=4", "nokey"}},
		{"from beginning", []string{"--partition", "1", "--from-beginning", "--limit", "2"}, []string{"1", "2"}},
		{"limit", []string{"--partition", "1", "--limit", "1"}, []string{"1"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := lines(ctl(t, addr, append([]string{"consume", "p"}, c.args...)...)); !slices.Equal(got, c.want) {
				t.Fatalf("consume %q: %q, want %q", c.args, got, c.want)
			}
		})
	}
	if n := len(lines(ctl(t, addr, "consume", "p", "--limit", "4"))); n != 4 {
		t.Fatalf("consume --limit 4: %d records", n)
	}

	// --follow starts at the end and waits for new records: produce until
	// it has printed two and stopped (--limit).
	f := ctlStart(t, addr, "consume", "p", "--partition", "2", "--follow", "--limit", "2", "--output", "json")
	for i := 0; ; i++ {
		if done, _ := f.exited(); done {
			break
		}
		if i > 300 {
			t.Fatalf("consume --follow --limit 2: still running after %d records\nstderr:\n%s", i, f.stderr.String())
		}
		ctl(t, addr, "produce", "p", "--partition", "2", "--value", fmt.Sprintf("new%d", i))
		time.Sleep(50 * time.Millisecond)
	}
	f.wait()
	followed := ctlJSONLines(t, f.stdout.String())
	if len(followed) != 2 || followed[0].Offset < 1 || followed[1].Offset != followed[0].Offset+1 || !strings.HasPrefix(*followed[0].Value, "new") {
		t.Fatalf("consume --follow: %+v (offset 0, v0, is older than the start)", followed)
	}

	// A record the broker refuses fails the command, saying why.
	ctl(t, addr, "topic", "create", "small", "--partitions", "1", "--config", "max.message.bytes=1000")
	noise := make([]byte, 1500) // incompressible: streamctl's batches are snappy-compressed
	rand.NewChaCha8([32]byte{1}).Read(noise)
	big := base64.StdEncoding.EncodeToString(noise)
	ctlFail(t, addr, 1, []string{"MESSAGE_TOO_LARGE"}, "produce", "small", "--value", big)
	r := ctlRun(t, nil, "ok\n"+big+"\n", "--bootstrap", addr, "produce", "small")
	ctlCheckFail(t, r, 1, []string{"MESSAGE_TOO_LARGE", `records to topic "small"`}, "produce", "small")
	ctl(t, addr, "topic", "delete", "small")

	// Unknown topics and partitions; nothing is created by asking.
	ctlFail(t, addr, 1, []string{`topic "nope" does not exist`}, "produce", "nope", "--value", "x")
	ctlFail(t, addr, 1, []string{`topic "nope" does not exist`}, "consume", "nope")
	ctlFail(t, addr, 1, []string{`topic "nope" does not exist`}, "consume", "nope", "--group", "g")
	ctlFail(t, addr, 1, []string{`topic "nope" does not exist`}, "produce", "nope", "--key-separator", ":")
	ctlFail(t, addr, 1, []string{`topic "p" has no partition 7`}, "produce", "p", "--partition", "7", "--value", "x")
	ctlFail(t, addr, 1, []string{`topic "p" has no partition 7`}, "consume", "p", "--partition", "7")
	if list := ctlJSON[[]ctlTopic](t, addr, "topic", "list"); len(list) != 1 {
		t.Fatalf("topic list: %+v, want only p", list)
	}
}

func TestStreamctlGroups(t *testing.T) {
	t.Parallel()
	addr := ctlBroker(t)
	adm := fgAdmin(t, addr)
	ctl(t, addr, "topic", "create", "g", "--partitions", "2")
	// Five records in each partition, offset i written at base + i minutes.
	base := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	cl := fgClient(t, addr, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	for i := range 5 {
		for p := range int32(2) {
			fgProduceSync(t, cl, &kgo.Record{Topic: "g", Partition: p, Value: fmt.Appendf(nil, "p%d-%d", p, i), Timestamp: base.Add(time.Duration(i) * time.Minute)})
		}
	}
	committed := func(group string) [2]int64 {
		t.Helper()
		os, err := adm.FetchOffsets(fgCtx(t), group)
		if err != nil {
			t.Fatalf("fetch offsets of %s: %v", group, err)
		}
		out := [2]int64{-1, -1}
		for p := range int32(2) {
			if o, ok := os.Lookup("g", p); ok && o.Err == nil {
				out[p] = o.At
			}
		}
		return out
	}

	// consume --group commits what it printed.
	if n := len(lines(ctl(t, addr, "consume", "g", "--group", "ga", "--limit", "4"))); n != 4 {
		t.Fatalf("consume --group --limit 4: %d records", n)
	}
	if c := committed("ga"); max(c[0], 0)+max(c[1], 0) != 4 {
		t.Fatalf("after 4 records, committed %v", c)
	}
	if n := len(lines(ctl(t, addr, "consume", "g", "--group", "ga"))); n != 6 {
		t.Fatalf("consume --group after 4: %d records, want the other 6", n)
	}
	if c := committed("ga"); c != [2]int64{5, 5} {
		t.Fatalf("after all records, committed %v", c)
	}
	if n := len(lines(ctl(t, addr, "consume", "g", "--group", "ga"))); n != 0 {
		t.Fatalf("consume --group at the end: %d records", n)
	}

	groups := ctlJSON[[]ctlGroupSummary](t, addr, "group", "list")
	if len(groups) != 1 || groups[0] != (ctlGroupSummary{Group: "ga", State: "Empty", Type: "classic", ProtocolType: "consumer"}) {
		t.Fatalf("group list: %+v", groups)
	}
	if row := ctlTableRow(t, ctl(t, addr, "group", "list"), "ga"); !slices.Equal(row, []string{"ga", "Empty", "classic", "consumer"}) {
		t.Fatalf("group list: row %q", row)
	}
	ga := ctlJSON[ctlGroup](t, addr, "group", "describe", "ga")
	if ga.Group != "ga" || ga.Type != "classic" || ga.State != "Empty" || len(ga.Members) != 0 || len(ga.Offsets) != 2 {
		t.Fatalf("group describe: %+v", ga)
	}
	for p, o := range ga.Offsets {
		if o.Topic != "g" || o.Partition != int32(p) || *o.Committed != 5 || o.End != 5 || *o.Lag != 0 || o.Member != "" {
			t.Fatalf("group describe: offsets %+v", o)
		}
	}

	// reset-offsets of an empty group, each way.
	for _, c := range []struct {
		name string
		args []string
		want [2]int64
	}{
		{"earliest", []string{"--to-earliest"}, [2]int64{0, 0}},
		{"offset", []string{"--to-offset", "3"}, [2]int64{3, 3}},
		{"offset past the end", []string{"--to-offset", "99"}, [2]int64{5, 5}},
		{"one partition", []string{"--topic", "g:1", "--to-offset", "1"}, [2]int64{5, 1}},
		{"datetime", []string{"--to-datetime", base.Add(2 * time.Minute).Format(time.RFC3339Nano)}, [2]int64{2, 2}},
		{"datetime in between", []string{"--to-datetime", base.Add(150 * time.Second).UTC().Format(time.RFC3339)}, [2]int64{3, 3}},
		{"datetime after all", []string{"--to-datetime", "2999-01-01T00:00:00Z"}, [2]int64{5, 5}},
		{"earliest again", []string{"--to-earliest"}, [2]int64{0, 0}},
		{"latest", []string{"--to-latest"}, [2]int64{5, 5}},
	} {
		before := committed("ga")
		args := append([]string{"group", "reset-offsets", "ga"}, c.args...)
		if !slices.Contains(c.args, "--topic") {
			args = append(args, "--topic", "g")
		}
		res := ctlJSON[[]ctlReset](t, addr, args...)
		if got := committed("ga"); got != c.want {
			t.Fatalf("reset-offsets %s: committed %v, want %v", c.name, got, c.want)
		}
		for _, r := range res {
			if r.Topic != "g" || r.Offset != c.want[r.Partition] || r.Previous == nil || *r.Previous != before[r.Partition] {
				t.Fatalf("reset-offsets %s: printed %+v (committed before %v)", c.name, r, before)
			}
		}
	}
	ctl(t, addr, "group", "reset-offsets", "ga", "--topic", "g", "--to-earliest")
	if row := ctlTableRow(t, ctl(t, addr, "group", "describe", "ga"), "g", "1"); !slices.Equal(row, []string{"g", "1", "0", "5", "5"}) {
		t.Fatalf("group describe: lag row %q", row)
	}
	ctlFail(t, addr, 1, []string{`topic "nope" does not exist`}, "group", "reset-offsets", "ga", "--topic", "nope", "--to-earliest")

	// A live member: describe shows it, reset-offsets and delete refuse.
	f := ctlStart(t, addr, "consume", "g", "--group", "gb", "--follow")
	grWaitFor(t, "gb stable with one member", func() (bool, string) {
		state, n := grState(t, adm, "gb", "classic")
		return state == "Stable" && n == 1, fmt.Sprintf("%s, %d members", state, n)
	})
	gb := ctlJSON[ctlGroup](t, addr, "group", "describe", "gb")
	if gb.State != "Stable" || len(gb.Members) != 1 || gb.Protocol == "" {
		t.Fatalf("group describe of a live group: %+v", gb)
	}
	if m := gb.Members[0]; m.ClientID != "streamctl" || m.Host == "" || m.MemberID == "" || len(m.Assignment) != 1 || m.Assignment[0].Topic != "g" || !slices.Equal(m.Assignment[0].Partitions, []int32{0, 1}) {
		t.Fatalf("group describe: member %+v", m)
	}
	for _, o := range gb.Offsets {
		if o.Member != gb.Members[0].MemberID {
			t.Fatalf("group describe: partition %d owned by %q, want %q", o.Partition, o.Member, gb.Members[0].MemberID)
		}
	}
	if row := ctlTableRow(t, ctl(t, addr, "group", "describe", "gb"), gb.Members[0].MemberID); row[1] != "streamctl" || row[3] != "g:0,1" {
		t.Fatalf("group describe: member row %q", row)
	}
	ctlFail(t, addr, 1, []string{`group "gb" has 1 active member`, "Stable"}, "group", "reset-offsets", "gb", "--topic", "g", "--to-earliest")
	ctlFail(t, addr, 1, []string{`group "gb" has active members`}, "group", "delete", "gb")
	if c := committed("gb"); c != [2]int64{-1, -1} {
		t.Fatalf("refused reset committed %v", c)
	}

	// It prints new records; interrupted, it commits them and leaves.
	fgProduceSync(t, cl, &kgo.Record{Topic: "g", Partition: 1, Value: []byte("live")})
	grWaitFor(t, "the follower prints the new record", func() (bool, string) {
		out := f.stdout.String()
		return strings.Contains(out, "live\n"), out
	})
	f.interrupt()
	if c := committed("gb"); c != [2]int64{-1, 6} {
		t.Fatalf("after the follower stopped, committed %v, want partition 1 at 6", c)
	}
	if state, n := grState(t, adm, "gb", "classic"); state != "Empty" || n != 0 {
		t.Fatalf("after the follower stopped, gb is %s with %d members", state, n)
	}
	ctl(t, addr, "group", "reset-offsets", "gb", "--topic", "g", "--to-offset", "2")
	if c := committed("gb"); c != [2]int64{2, 2} {
		t.Fatalf("reset after the member left: committed %v", c)
	}
	if n := len(lines(ctl(t, addr, "consume", "g", "--group", "gb"))); n != 3+4 {
		t.Fatalf("consume from the reset offsets: %d records, want 7", n)
	}

	// A KIP-848 member (server-side assignment) is described through
	// ConsumerGroupDescribe, and also refuses a reset.
	kc := fgClient(t, addr, kgo.ConsumerGroup("gc"), kgo.ConsumeTopics("g"), kgo.ServerSideBalancer(), kgo.Balancers(kgo.CooperativeStickyBalancer()))
	pollCtx, stopPolling := context.WithCancel(fgCtx(t))
	polled := make(chan struct{})
	go func() {
		defer close(polled)
		for pollCtx.Err() == nil {
			kc.PollFetches(pollCtx)
		}
	}()
	t.Cleanup(func() { stopPolling(); <-polled })
	grWaitFor(t, "gc described with its member's assignment", func() (bool, string) {
		r := ctlRun(t, nil, "", "--bootstrap", addr, "group", "describe", "gc", "--output", "json")
		return r.code == 0 && strings.Contains(r.stdout, `"partitions": [`) && strings.Contains(r.stdout, `"type": "consumer"`), r.stdout + r.stderr
	})
	gc := ctlJSON[ctlGroup](t, addr, "group", "describe", "gc")
	if gc.Type != "consumer" || len(gc.Members) != 1 || len(gc.Members[0].Assignment) != 1 || !slices.Equal(gc.Members[0].Assignment[0].Partitions, []int32{0, 1}) {
		t.Fatalf("group describe of a KIP-848 group: %+v", gc)
	}
	ctlFail(t, addr, 1, []string{`group "gc" has 1 active member`}, "group", "reset-offsets", "gc", "--topic", "g", "--to-earliest")

	out := ctl(t, addr, "group", "delete", "gb")
	if want := `deleted group "gb"`; !strings.Contains(out, want) {
		t.Fatalf("group delete: %q, want %q", out, want)
	}
	ctlFail(t, addr, 1, []string{`group "gb" does not exist`}, "group", "describe", "gb")
	ctlFail(t, addr, 1, []string{`group "gb" does not exist`}, "group", "delete", "gb")
	if c := committed("gb"); c != [2]int64{-1, -1} {
		t.Fatalf("deleted group still has offsets %v", c)
	}
	// A group that does not exist yet can be given offsets, as with Kafka.
	ctl(t, addr, "group", "reset-offsets", "gd", "--topic", "g", "--to-latest")
	if c := committed("gd"); c != [2]int64{5, 6} {
		t.Fatalf("reset of a new group: committed %v", c)
	}
}

func TestStreamctlConfigAndCluster(t *testing.T) {
	t.Parallel()
	addr := ctlBroker(t)
	ctl(t, addr, "topic", "create", "c", "--partitions", "2", "--config", "retention.ms=1000")

	tc := ctlJSON[ctlResourceConfigs](t, addr, "config", "get", "topic", "c")
	if tc.Resource != "topic" || tc.Name != "c" {
		t.Fatalf("config get topic: %+v", tc)
	}
	if c := tc.config(t, "retention.ms"); *c.Value != "1000" || c.Source != "DYNAMIC_TOPIC_CONFIG" {
		t.Fatalf("config get topic: retention.ms %+v", c)
	}
	if c := tc.config(t, "max.message.bytes"); *c.Value != "1048588" || c.Source != "DEFAULT_CONFIG" {
		t.Fatalf("config get topic: max.message.bytes %+v", c)
	}
	if row := ctlTableRow(t, ctl(t, addr, "config", "get", "topic", "c"), "retention.ms"); !slices.Equal(row, []string{"retention.ms", "1000", "DYNAMIC_TOPIC_CONFIG"}) {
		t.Fatalf("config get topic: row %q", row)
	}

	bc := ctlJSON[ctlResourceConfigs](t, addr, "config", "get", "broker")
	if bc.Resource != "broker" || bc.Name != "1" {
		t.Fatalf("config get broker: %+v", bc)
	}
	if c := bc.config(t, "group.initial.rebalance.delay.ms"); *c.Value != "0" || c.Source != "STATIC_BROKER_CONFIG" {
		t.Fatalf("config get broker: group.initial.rebalance.delay.ms %+v", c)
	}
	if c := bc.config(t, "num.partitions"); *c.Value != "1" || c.Source != "DEFAULT_CONFIG" {
		t.Fatalf("config get broker: num.partitions %+v", c)
	}
	if row := ctlTableRow(t, ctl(t, addr, "config", "get", "broker", "1"), "num.partitions"); !slices.Equal(row, []string{"num.partitions", "1", "DEFAULT_CONFIG"}) {
		t.Fatalf("config get broker 1: row %q", row)
	}
	ctlFail(t, addr, 1, []string{`topic "nope" does not exist`}, "config", "get", "topic", "nope")
	ctlFail(t, addr, 1, []string{`broker "7"`}, "config", "get", "broker", "7")

	// Topic and broker configs change; a read-only one is refused and
	// nothing changes.
	ctl(t, addr, "config", "set", "topic", "c", "retention.ms=5000")
	if c := ctlJSON[ctlResourceConfigs](t, addr, "config", "get", "topic", "c").config(t, "retention.ms"); *c.Value != "5000" || c.Source != "DYNAMIC_TOPIC_CONFIG" {
		t.Fatalf("after config set, retention.ms is %+v", c)
	}
	ctl(t, addr, "config", "set", "broker", "1", "log.retention.ms=5000", "--output", "json")
	if c := ctlJSON[ctlResourceConfigs](t, addr, "config", "get", "broker").config(t, "log.retention.ms"); *c.Value != "5000" || c.Source != "DYNAMIC_BROKER_CONFIG" {
		t.Fatalf("after config set broker, log.retention.ms is %+v", c)
	}
	ctlFail(t, addr, 1, []string{"INVALID_REQUEST", "Cannot update these configs dynamically"}, "config", "set", "broker", "num.partitions=4")
	if c := ctlJSON[ctlResourceConfigs](t, addr, "config", "get", "broker").config(t, "num.partitions"); *c.Value != "1" {
		t.Fatalf("after a refused config set, num.partitions is %+v", c)
	}
	ctlFail(t, addr, 1, []string{`topic "nope" does not exist`}, "config", "set", "topic", "nope", "retention.ms=5000")

	ci := ctlJSON[ctlCluster](t, addr, "cluster", "info")
	if ci.ClusterID == "" || ci.Controller != fgNode || ci.Topics != 1 || len(ci.Brokers) != 1 || ci.Brokers[0].ID != fgNode || ci.Brokers[0].Address != addr || ci.Brokers[0].Rack != nil {
		t.Fatalf("cluster info: %+v", ci)
	}
	store := "sqlite"
	if pgtest.Enabled() {
		store = "postgres"
	}
	if ci.Catalog == nil || ci.Catalog.Store != store || ci.Catalog.Location == "" {
		t.Fatalf("cluster info: catalog %+v, want %s", ci.Catalog, store)
	}
	text := ctl(t, addr, "cluster", "info")
	if row := ctlTableRow(t, text, ci.ClusterID); !slices.Equal(row[:4], []string{ci.ClusterID, "1", "1", store}) {
		t.Fatalf("cluster info: row %q", row)
	}
	if row := ctlTableRow(t, text, "1", addr); len(row) != 3 {
		t.Fatalf("cluster info: broker row %q", row)
	}
}

func TestStreamctlConnection(t *testing.T) {
	t.Parallel()
	addr := ctlBroker(t)
	ctl(t, addr, "topic", "create", "conn", "--partitions", "1")

	// An http:// prefix (older scripts) and the environment variable.
	if r := ctlRun(t, nil, "", "--bootstrap", "http://"+addr, "topic", "list"); r.code != 0 || !strings.Contains(r.stdout, "conn") {
		t.Fatalf("--bootstrap http://%s: exit %d\n%s%s", addr, r.code, r.stdout, r.stderr)
	}
	if r := ctlRun(t, []string{"STREAMHOUSE_ADDR=" + addr}, "", "topic", "list", "--output", "json"); r.code != 0 || !strings.Contains(r.stdout, `"conn"`) {
		t.Fatalf("STREAMHOUSE_ADDR=%s: exit %d\n%s%s", addr, r.code, r.stdout, r.stderr)
	}
	if r := ctlRun(t, []string{"STREAMHOUSE_ADDR=http://" + addr + "/"}, "", "cluster", "info"); r.code != 0 {
		t.Fatalf("STREAMHOUSE_ADDR=http://%s/: exit %d\n%s", addr, r.code, r.stderr)
	}
	closed := freePort(t)
	if r := ctlRun(t, []string{"STREAMHOUSE_ADDR=" + closed}, "", "--bootstrap", addr, "topic", "list"); r.code != 0 {
		t.Fatalf("--bootstrap over STREAMHOUSE_ADDR: exit %d\n%s", r.code, r.stderr)
	}
	// Global flags before the command.
	if r := ctlRun(t, nil, "", "--output", "json", "--bootstrap", addr, "topic", "list"); r.code != 0 || !strings.HasPrefix(r.stdout, "[") {
		t.Fatalf("global flags before the command: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	// A closed port: every command says it cannot reach the broker.
	for _, args := range [][]string{
		{"topic", "list"}, {"topic", "describe", "conn"}, {"produce", "conn", "--value", "x"},
		{"consume", "conn"}, {"group", "list"}, {"config", "get", "broker"}, {"cluster", "info"},
	} {
		ctlFail(t, closed, 1, []string{"cannot reach the broker at " + closed, "connection refused"}, append(args, "--timeout", "2s")...)
	}
	r := ctlRun(t, []string{"STREAMHOUSE_ADDR=" + closed}, "", "cluster", "info")
	ctlCheckFail(t, r, 1, []string{"cannot reach the broker at " + closed}, "cluster", "info")

	// A broker that accepts connections and never answers: the error comes
	// at --timeout (1s; the 10s default would be past the bound, which is
	// only there to tell the two apart).
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { silent.Close() })
	go func() {
		var held []net.Conn
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	for _, args := range [][]string{{"topic", "list"}, {"consume", "conn"}, {"produce", "conn", "--value", "x"}} {
		r := ctlFail(t, silent.Addr().String(), 1, []string{"no answer from the broker at " + silent.Addr().String(), "within 1s"}, append(args, "--timeout", "1s")...)
		if r.took > 8*time.Second {
			t.Fatalf("streamctl %q with --timeout 1s took %v", args, r.took)
		}
	}
}

func TestStreamctlUsage(t *testing.T) {
	t.Parallel()
	unused := freePort(t) // usage errors never reach a broker
	for _, args := range [][]string{
		{"frob"},
		{"topic"},
		{"topic", "frob"},
		{"topic", "list", "extra"},
		{"topic", "list", "--bogus"},
		{"topic", "list", "--output", "xml"},
		{"topic", "list", "--timeout", "0s"},
		{"topic", "list", "--timeout", "soon"},
		{"topic", "create", "x"},
		{"topic", "create", "x", "--partitions", "0"},
		{"topic", "create", "x", "--partitions", "1", "--config", "novalue"},
		{"topic", "describe"},
		{"produce"},
		{"produce", "t", "--value", "v", "--key-separator", ":"},
		{"produce", "t", "--key", "k", "--key-separator", ":"},
		{"consume", "t", "--group", "g", "--partition", "0"},
		{"consume", "t", "--offset", "1", "--from-beginning"},
		{"consume", "t", "--limit", "-1"},
		{"group", "describe"},
		{"group", "reset-offsets", "g", "--topic", "t"},
		{"group", "reset-offsets", "g", "--to-earliest"},
		{"group", "reset-offsets", "g", "--topic", "t", "--to-earliest", "--to-latest"},
		{"group", "reset-offsets", "g", "--topic", "t", "--to-datetime", "yesterday"},
		{"group", "reset-offsets", "g", "--topic", "t:x", "--to-earliest"},
		{"config", "get", "queue", "x"},
		{"config", "get", "topic"},
		{"config", "get", "broker", "one"},
		{"config", "set", "topic", "t"},
		{"config", "set", "topic", "t", "retention.ms"},
		{"cluster", "info", "now"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			ctlFail(t, unused, 2, nil, args...)
		})
	}
	if r := ctlRun(t, nil, ""); r.code != 2 || !strings.Contains(r.stderr, "Usage: streamctl") {
		t.Fatalf("streamctl without arguments: exit %d\n%s", r.code, r.stderr)
	}
	for _, args := range [][]string{{"--help"}, {"help"}, {"-h"}, {"topic", "create", "--help"}, {"help", "consume"}, {"group", "reset-offsets", "-h"}} {
		r := ctlRun(t, nil, "", args...)
		if r.code != 0 || !strings.HasPrefix(r.stdout, "Usage: streamctl") || r.stderr != "" {
			t.Fatalf("streamctl %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
		}
	}
	if out := ctlRun(t, nil, "", "topic", "create", "--help").stdout; !strings.Contains(out, "--partitions") || !strings.Contains(out, "--bootstrap") {
		t.Fatalf("topic create --help:\n%s", out)
	}
}

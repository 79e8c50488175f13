package console_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/streamhouse/streamhouse/console"
)

// TestShareGroupView: a share group (KIP-932) is listed with its type and
// state; its page shows its member and each partition's start offset, end
// and lag, and samples its lag; its start offsets are reset through the
// preview only once it has no members; it is deleted as any group is.
func TestShareGroupView(t *testing.T) {
	s := newSite(t, console.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	adm := kadm.NewClient(s.client())
	if _, err := adm.CreateTopic(ctx, 2, 1, nil, "sq"); err != nil {
		t.Fatal(err)
	}
	// The group reads from the start (share groups start at the end by
	// default), as kafka-configs --entity-type groups sets it.
	req := kmsg.NewPtrIncrementalAlterConfigsRequest()
	res := kmsg.NewIncrementalAlterConfigsRequestResource()
	res.ResourceType, res.ResourceName = kmsg.ConfigResourceTypeGroupConfig, "sq-readers"
	cfg := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
	cfg.Name, cfg.Value = "share.auto.offset.reset", kmsg.StringPtr("earliest")
	res.Configs = append(res.Configs, cfg)
	req.Resources = append(req.Resources, res)
	if resp, err := req.RequestWith(ctx, s.client()); err != nil || resp.Resources[0].ErrorCode != 0 {
		t.Fatalf("set share.auto.offset.reset: %v %+v", err, resp)
	}
	prod := s.client(kgo.RecordPartitioner(kgo.ManualPartitioner()))
	for i := range 10 {
		if err := prod.ProduceSync(ctx, &kgo.Record{Topic: "sq", Partition: int32(i % 2), Value: []byte("v")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	member := s.client(kgo.ShareGroup("sq-readers"), kgo.ConsumeTopics("sq"), kgo.ClientID("sq-member"))
	for n := 0; n < 10; {
		fs := member.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatal(err)
		}
		fs.EachRecord(func(r *kgo.Record) { r.Ack(kgo.AckAccept) })
		n += fs.NumRecords()
	}
	if err := member.FlushAcks(ctx); err != nil {
		t.Fatal(err)
	}

	if _, body := s.get("/groups"); !strings.Contains(body, `sq-readers</a></td><td>share</td><td>Stable</td><td>simple</td><td class="num">1</td>`) {
		t.Errorf("the group list does not show the share group, its state, assignor and member:\n%s", body)
	}
	code, body := s.get("/groups/sq-readers")
	if code != http.StatusOK || !strings.Contains(body, "sq-member") || !strings.Contains(body, "sq: 0,1") || !strings.Contains(body, "Start offset") {
		t.Fatalf("group page: %d\n%s", code, body)
	}
	// Both partitions: start 5, end 5, lag 0, held by the member.
	row := regexp.MustCompile(`<td class="num">(\d)</td>\s*<td class="num">5</td><td class="num">5</td>\s*<td class="num">0</td><td class="mono">sq-member</td>`)
	if n := len(row.FindAllString(body, -1)); n != 2 {
		t.Errorf("%d partitions at start 5, end 5, lag 0, want 2:\n%s", n, body)
	}
	if code, body := s.get("/groups/sq-readers/lag?type=share"); code != http.StatusOK || !strings.Contains(body, `"lag":0`) || !strings.Contains(body, `"sq/1":0`) {
		t.Errorf("lag sample: %d %s", code, body)
	}

	tok := s.csrf("/groups/sq-readers")
	preview := func() string {
		t.Helper()
		code, body, _ := s.post("/groups/sq-readers/reset", url.Values{"csrf": {tok}, "topic": {"sq"}, "partition": {"1"}, "to": {"offset"}, "offset": {"2"}})
		if code != http.StatusOK || !strings.Contains(body, `id="apply-reset"`) {
			t.Fatalf("preview: %d\n%s", code, body)
		}
		return regexp.MustCompile(`name="offsets" value="([^"]*)"`).FindStringSubmatch(body)[1]
	}
	if offs := preview(); offs != "sq:1:2" {
		t.Errorf("preview offsets %q, want sq:1:2", offs)
	}
	if code, body, _ := s.post("/groups/sq-readers/reset/apply", url.Values{"csrf": {tok}, "offsets": {"sq:1:2"}}); code == http.StatusSeeOther || !strings.Contains(body, "active members") {
		t.Errorf("reset with a member: %d\n%s", code, body)
	}

	member.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, body := s.get("/groups/sq-readers")
		if strings.Contains(body, `id="state">Empty<`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the group is not empty 30 s after its member left:\n%s", body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if code, _, loc := s.post("/groups/sq-readers/reset/apply", url.Values{"csrf": {tok}, "offsets": {preview()}}); code != http.StatusSeeOther {
		t.Fatalf("apply: %d %s", code, loc)
	}
	offs, err := adm.DescribeShareGroupOffsets(ctx, "sq-readers")
	if err != nil {
		t.Fatal(err)
	}
	for p, want := range map[int32]int64{0: 5, 1: 2} {
		if o := offs["sq-readers"].Offsets["sq"][p]; o.StartOffset != want || o.Lag != 5-want {
			t.Errorf("partition %d after the reset: start %d lag %d, want %d and %d", p, o.StartOffset, o.Lag, want, 5-want)
		}
	}
	if _, body := s.get("/groups/sq-readers"); !regexp.MustCompile(`<td class="num">1</td>\s*<td class="num">2</td><td class="num">5</td>\s*<td class="num">3</td>`).MatchString(body) {
		t.Errorf("the page does not show partition 1 at start 2, end 5, lag 3:\n%s", body)
	}
	// Deleted as any group is.
	if code, _, loc := s.post("/groups/sq-readers/delete", url.Values{"csrf": {tok}, "confirm": {"sq-readers"}}); code != http.StatusSeeOther {
		t.Fatalf("delete: %d %s", code, loc)
	}
	if code, body := s.get("/groups/sq-readers"); code != http.StatusNotFound {
		t.Errorf("after the delete: %d\n%s", code, body)
	}
}

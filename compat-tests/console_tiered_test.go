package compattests

// The console's partitions view with tiered storage (issue 24 after issue
// 19), in a real browser against the binary with --storage=s3 on a real
// S3 server (versitygw): once segments are uploaded and have left the
// local disk, each partition's row shows its local start (ListOffsets -4),
// the last offset uploaded (-5), its bytes on disk and in the bucket, and
// they are what streamctl and kadm report; the cards add them up; the
// topic list shows what the bucket holds of each topic; a topic without
// remote.storage.enable shows none of it.
//
//	go test ./compat-tests -run ConsoleBrowserTiered

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"regexp"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamhouse/streamhouse/internal/s3test"
)

// conTieredRow is a row of the partitions view: the numbers shown, and
// the bytes behind the shown sizes.
type conTieredRow struct {
	Partition   int32
	Start, End  int64
	LocalStart  int64
	Tiered      int64 // -1: "-"
	Local       int64
	Remote      int64
	LocalShown  string
	RemoteShown string
}

// conTieredRows reads the partitions view's rows.
const conTieredRows = `JSON.stringify([...document.querySelectorAll('#partitions tbody tr')].map(tr => {
	const num = sel => { const s = tr.querySelector(sel).textContent.trim(); return s === '-' ? -1 : +s.replace(/,/g, ''); };
	return {Partition: +tr.dataset.partition, Start: num('.start'), End: num('.end'), LocalStart: num('.local-start'), Tiered: num('.tiered'),
		Local: +tr.querySelector('.local-bytes').dataset.bytes, Remote: +tr.querySelector('.remote-bytes').dataset.bytes,
		LocalShown: tr.querySelector('.local-bytes').textContent, RemoteShown: tr.querySelector('.remote-bytes').textContent};
}))`

func TestConsoleBrowserTiered(t *testing.T) {
	t.Parallel()
	br := conStartBrowser(t)
	srv := s3test.Start(t)
	bucket := srv.Bucket(t)
	httpAddr := freePort(t)
	p := startProcWith(t, binary(t), srv.Env(), t.TempDir(), "",
		"--storage=s3", "--s3-endpoint="+srv.Endpoint(), "--s3-bucket="+bucket, "--http-listen="+httpAddr,
		"--log.retention.check.interval.ms=200")
	ctx := br.tab()
	adm := fgAdmin(t, p.addr)
	fgCreateTopic(t, adm, "tiered", 2, map[string]string{"remote.storage.enable": "true", "segment.bytes": "1048576", "local.retention.bytes": "1048576"})
	fgCreateTopic(t, adm, "local", 1, map[string]string{"remote.storage.enable": "false"})
	var recs []*kgo.Record
	for i := range 6000 {
		v := make([]byte, 1000) // random: compression keeps its size
		rand.Read(v)
		recs = append(recs, &kgo.Record{Topic: "tiered", Partition: int32(i % 2), Value: v})
	}
	recs = append(recs, &kgo.Record{Topic: "local", Value: []byte("stays on disk")})
	fgProduceAll(t, fgClient(t, p.addr, kgo.RecordPartitioner(kgo.ManualPartitioner())), recs)

	// Segments close, upload and leave the local disk in the background;
	// once they have, the page shows what streamctl (sizes, offsets) and
	// kadm (ListOffsets -4 and -5) report.
	var shown, want []conTieredRow
	deadline := time.Now().Add(60 * time.Second)
	for {
		conRun(t, ctx, "the partitions", chromedp.Navigate(conURL(httpAddr, "/topics/tiered")), conAppears("#partitions.tiered"))
		shown = nil
		if err := json.Unmarshal([]byte(conEval[string](t, ctx, conTieredRows)), &shown); err != nil {
			t.Fatal(err)
		}
		want = conTieredReported(t, p.addr, adm, "tiered")
		settled := len(want) == 2
		for _, w := range want {
			settled = settled && w.Remote > 0 && w.LocalStart > w.Start && w.Tiered >= w.LocalStart-1
		}
		if settled && reflect.DeepEqual(shown, want) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 60 s the page shows\n%+v\nstreamctl and kadm report\n%+v\n%s", shown, want, tail(p.logs.String(), 3000))
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Logf("partitions: %+v", shown)

	// The cards add the rows up.
	var local, remote, only int64
	for _, r := range shown {
		local += r.Local
		remote += r.Remote
		only += r.LocalStart - r.Start
	}
	if got := conText(t, ctx, "#local-bytes"); got != conBytes(local) {
		t.Errorf("local bytes card %q, want %q", got, conBytes(local))
	}
	if got := conText(t, ctx, "#remote-bytes"); got != conBytes(remote) {
		t.Errorf("bucket card %q, want %q", got, conBytes(remote))
	}
	if got, want := conText(t, ctx, "#remote-only"), fmt.Sprintf("%s records only there", conNum(only)); got != want {
		t.Errorf("records only in the bucket %q, want %q", got, want)
	}
	conShot(t, ctx, "topic-tiered")

	// The topic list: what the bucket holds of each topic.
	conRun(t, ctx, "the topics", chromedp.Navigate(conURL(httpAddr, "/topics")), conAppears("#topics"))
	row := func(topic string) string {
		return conEval[string](t, ctx, `[...document.querySelector('#topics tr[data-topic="`+topic+`"]').cells].slice(3, 5).map(c => c.textContent).join('|')`)
	}
	if got, want := row("tiered"), conBytes(local)+"|"+conBytes(remote); got != want {
		t.Errorf("the topic list's tiered row: local|bucket %q, want %q", got, want)
	}
	if got := row("local"); !regexp.MustCompile(`^\d+ B\|-$`).MatchString(got) {
		t.Errorf("the topic list's local row: local|bucket %q, want some bytes and -", got)
	}

	// A topic without tiered storage: no tiered columns.
	conRun(t, ctx, "a local topic", chromedp.Navigate(conURL(httpAddr, "/topics/local")), conAppears("#partitions"))
	if conEval[bool](t, ctx, `document.querySelector('#partitions.tiered, #remote-bytes, #partitions .remote-bytes, #partitions .tiered') !== null`) {
		t.Errorf("a topic without remote.storage.enable shows tiered storage:\n%s", conPage(ctx))
	}
	if got := conText(t, ctx, "#partitions tbody tr .end"); got != "1" {
		t.Errorf("the local topic's end offset %q, want 1", got)
	}

	// The overview says what the bucket holds.
	resp, err := http.Get("http://" + httpAddr + "/")
	if err != nil {
		t.Fatal(err)
	}
	overview, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if m := regexp.MustCompile(`id="remote-bytes">([\d.]+) ([KM]iB)<`).FindSubmatch(overview); m == nil {
		t.Errorf("the overview does not show the bucket's bytes:\n%s", overview)
	}
	br.noDialogs(t)
}

// conTieredReported is what streamctl topic describe (offsets, local and
// remote bytes) and kadm (ListOffsets -4 and -5) report of topic's
// partitions, as the partitions view should show it.
func conTieredReported(t *testing.T, addr string, adm *kadm.Client, topic string) []conTieredRow {
	t.Helper()
	info := ctlJSON[ctlTopicInfo](t, addr, "topic", "describe", topic)
	locals, err := adm.ListLocalLogStartOffsets(fgCtx(t), topic)
	if err != nil {
		t.Fatal(err)
	}
	tiered, err := adm.ListLatestRemoteOffsets(fgCtx(t), topic)
	if err != nil {
		t.Fatal(err)
	}
	var rows []conTieredRow
	for _, p := range info.Partitions {
		if p.LocalBytes == nil || p.RemoteBytes == nil {
			t.Fatalf("streamctl shows no sizes of %s-%d", topic, p.Partition)
		}
		l, _ := locals.Lookup(topic, p.Partition)
		r, _ := tiered.Lookup(topic, p.Partition)
		if l.Err != nil || r.Err != nil {
			t.Fatalf("ListOffsets -4, -5 of %s-%d: %v, %v", topic, p.Partition, l.Err, r.Err)
		}
		rows = append(rows, conTieredRow{Partition: p.Partition, Start: p.LogStartOffset, End: p.EndOffset, LocalStart: l.Offset, Tiered: r.Offset,
			Local: *p.LocalBytes, Remote: *p.RemoteBytes, LocalShown: conBytes(*p.LocalBytes), RemoteShown: conBytes(*p.RemoteBytes)})
	}
	return rows
}

// conBytes is n as the console shows a size: B, KiB, MiB, GiB with one
// decimal.
func conBytes(n int64) string {
	if n < 1024 {
		return fmt.Sprintf("%d B", n)
	}
	f, unit := float64(n)/1024, "KiB"
	for _, u := range []string{"MiB", "GiB", "TiB"} {
		if f < 1024 {
			break
		}
		f, unit = f/1024, u
	}
	return fmt.Sprintf("%.1f %s", f, unit)
}

// conNum is n with thousands separators, as the console shows a count.
func conNum(n int64) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

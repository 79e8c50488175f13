package compattests

// The web console with a share group (KIP-932) in a real browser: a
// franz-go share consumer reads a topic; the groups list shows the group
// with type share, the group's page its member, assignment and each
// partition's start offset, end and lag; the lag chart follows the lag up
// when records come with no member and down when a member reads them;
// the start offset of a partition is reset through the preview once the
// group is empty, and the records after the new start are delivered again.
//
//	go test ./compat-tests -run ConsoleBrowserShareGroup

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestConsoleBrowserShareGroup(t *testing.T) {
	t.Parallel()
	br := conStartBrowser(t)
	b := opsStart(t, shBrokerFlags()...)
	ctx := br.tab()
	fgCreateTopic(t, fgAdmin(t, b.addr), "queue", 2, nil)
	shSetGroupConfig(t, b.addr, "queue-readers", map[string]string{"share.auto.offset.reset": "earliest"})
	prod := fgClient(t, b.addr, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	shProduce(t, prod, "queue", 2, "job", 10) // 5 in each partition
	log := newShLog()
	m := shStart(t, b.addr, "console-share", "queue-readers", []string{"queue"}, log, shMemberOpts{confirm: true})
	shWaitDistinct(t, log, 10)

	// The list: type share, its state, the server-side assignor, one member.
	conReloadUntil(t, ctx, "the share group listed", conURL(b.http, "/groups"),
		`[...document.querySelectorAll('#groups tbody tr')].some(tr => [...tr.cells].map(c => c.textContent.trim()).join('|') === 'queue-readers|share|Stable|simple|1|0')`)
	conRun(t, ctx, "open the group", conClick(`#groups a[href="/groups/queue-readers"]`), conAppears("#share-note"))

	// Its page: the member and its assignment, each partition's start
	// offset past what was acknowledged, end, lag and holder.
	conReloadUntil(t, ctx, "the member and the start offsets", conURL(b.http, "/groups/queue-readers"),
		`document.querySelector('#state').textContent === 'Stable' &&
		[...document.querySelectorAll('#members tbody tr')].some(tr => tr.cells[2].textContent === 'console-share' && tr.cells[4].textContent === 'queue: 0,1') &&
		`+conShareRows("0|5|5|0|console-share", "1|5|5|0|console-share"))
	conWaitJS(t, ctx, "lag 0 sampled", `document.querySelector('#lag-chart').dataset.last === '0'`, 10*time.Second)
	conShot(t, ctx, "share-group")

	// With no member, new records raise the lag.
	m.stop()
	shProduce(t, prod, "queue", 2, "more", 6) // 3 more in each partition
	conWaitJS(t, ctx, "lag rose to 6", `document.querySelector('#lag-chart').dataset.last === '6'`, 10*time.Second)

	// Reset partition 1's start offset to 2 through the preview.
	conReloadUntil(t, ctx, "the group empty", conURL(b.http, "/groups/queue-readers"), `document.querySelector('#state').textContent === 'Empty'`)
	conRun(t, ctx, "preview",
		conSet("#reset-topic", "queue"),
		conSet("#reset-partition", "1"),
		conSet("#reset-to", "offset"),
		conSet("#reset-offset", "2"),
		conClick("#reset-preview"),
		conAppears("#preview"),
	)
	conWaitJS(t, ctx, "preview: partition 1 from 5 to 2", `document.querySelector('#preview thead').textContent.includes('Start offset') &&
		[...document.querySelectorAll('#preview tbody tr')].map(tr => [...tr.cells].map(c => c.textContent.trim()).join('|')).join(';') === 'queue|1|5|2|-3'`, 5*time.Second)
	conRun(t, ctx, "apply", conClick("#apply-reset"), conAppears("#notice"))
	conWaitJS(t, ctx, "start offset 2, lag 6 in partition 1", conShareRows("0|5|8|3|", "1|2|8|6|"), 5*time.Second)
	conWaitJS(t, ctx, "lag 9 sampled", `document.querySelector('#lag-chart').dataset.last === '9' && document.querySelector('#lag-total').textContent === '9'`, 10*time.Second)

	// A member reads the records after the new starts: the lag falls.
	again := newShLog()
	shStart(t, b.addr, "console-share-2", "queue-readers", []string{"queue"}, again, shMemberOpts{confirm: true})
	shWaitDistinct(t, again, 9)
	conWaitJS(t, ctx, "lag fell to 0", `document.querySelector('#lag-chart').dataset.last === '0' && document.querySelector('#lag-chart .max').textContent === '9'`, 10*time.Second)
	for _, d := range again.deliveries() {
		if d.partition == 1 && d.offset < 2 || d.partition == 0 && d.offset < 5 {
			t.Errorf("after the reset, delivered %+v", d)
		}
	}
	br.noDialogs(t)
}

// conShareRows is a JavaScript expression: the group page's partitions
// table is rows, each "partition|start|end|lag|holders".
func conShareRows(rows ...string) string {
	want := ""
	for i, r := range rows {
		if i > 0 {
			want += ";"
		}
		want += r
	}
	return fmt.Sprintf(`[...document.querySelectorAll('#offsets tbody tr')].map(tr => [...tr.cells].slice(1).map(c => c.textContent.trim()).join('|')).join(';') === %q`, want)
}

// conReloadUntil loads url until expr is true on the page, for up to 15 s
// (what the page shows is read when it is served).
func conReloadUntil(t *testing.T, ctx context.Context, what, url, expr string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		conRun(t, ctx, what, chromedp.Navigate(url))
		ectx, cancel := context.WithTimeout(ctx, 5*time.Second)
		ok, err := chromedp.Run(ectx, chromedp.Evaluate[bool](expr))
		cancel()
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %s still not true after 15 s (%v)\n%s", what, expr, err, conPage(ctx))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

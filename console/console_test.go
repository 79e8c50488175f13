package console_test

import (
	"context"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamhouse/streamhouse/broker/brokertest"
	"github.com/streamhouse/streamhouse/console"
)

// site is a console over a real broker, with a browser-like client
// (cookies, no redirects followed unless asked).
type site struct {
	t    *testing.T
	b    *brokertest.Broker
	c    *console.Console
	srv  *httptest.Server
	http *http.Client
}

func newSite(t *testing.T, cfg console.Config, opts ...brokertest.Options) *site {
	t.Helper()
	b := brokertest.New(t, opts...)
	cfg.Brokers = []string{b.Addr()}
	c, err := console.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(c.Handler())
	t.Cleanup(func() { srv.Close(); c.Close() })
	jar, _ := cookiejar.New(nil)
	return &site{t: t, b: b, c: c, srv: srv, http: &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (s *site) get(path string) (int, string) {
	s.t.Helper()
	resp, err := s.http.Get(s.srv.URL + path)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

var csrfRE = regexp.MustCompile(`data-csrf="([^"]*)"`)

// csrf reads the token of the page at path.
func (s *site) csrf(path string) string {
	s.t.Helper()
	_, body := s.get(path)
	m := csrfRE.FindStringSubmatch(body)
	if m == nil {
		s.t.Fatalf("no CSRF token on %s", path)
	}
	return m[1]
}

// post sends a form the way a browser on the console's own page does.
func (s *site) post(path string, form url.Values) (int, string, string) {
	s.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, s.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", s.srv.URL)
	resp, err := s.http.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header.Get("Location")
}

func (s *site) client(opts ...kgo.Opt) *kgo.Client {
	s.t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(s.b.Addr())}, opts...)...)
	if err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(cl.Close)
	return cl
}

func TestViews(t *testing.T) {
	s := newSite(t, console.Config{})
	ctx := context.Background()
	tok := s.csrf("/topics")

	// Create a topic through the form.
	code, _, loc := s.post("/topics", url.Values{"csrf": {tok}, "name": {"orders"}, "partitions": {"3"}, "replication": {"-1"}, "configs": {"retention.ms=3600000"}})
	if code != http.StatusSeeOther || loc != "/topics/orders" {
		t.Fatalf("create: %d %s", code, loc)
	}
	// A bad config is refused with the broker's message.
	code, body, _ := s.post("/topics", url.Values{"csrf": {tok}, "name": {"bad"}, "partitions": {"1"}, "configs": {"cleanup.policy=sideways"}})
	if code != http.StatusBadRequest || !strings.Contains(body, "cleanup.policy") {
		t.Fatalf("bad create: %d\n%s", code, body)
	}

	cl := s.client()
	var recs []*kgo.Record
	for i := range 30 {
		recs = append(recs, &kgo.Record{Topic: "orders", Partition: int32(i % 3), Key: []byte("k" + string(rune('a'+i%26))),
			Value: []byte(`{"n":` + string(rune('0'+i%10)) + `}`), Headers: []kgo.RecordHeader{{Key: "trace", Value: []byte("t-" + string(rune('a'+i%26)))}}})
	}
	recs = append(recs, &kgo.Record{Topic: "orders", Key: []byte("<script>alert(1)</script>"), Value: []byte("<img src=x onerror=alert(2)>"),
		Headers: []kgo.RecordHeader{{Key: "<b>h</b>", Value: []byte("<script>x</script>")}}})
	recs = append(recs, &kgo.Record{Topic: "orders", Key: []byte("bin"), Value: []byte{0xff, 0x00, 0x01, 0x02, 0xfe}})
	recs = append(recs, &kgo.Record{Topic: "orders", Key: []byte("huge"), Value: []byte(strings.Repeat("x", 200_000) + "END")})
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}

	// Sizes come from DescribeLogDirs.
	if _, body := s.get("/topics"); !regexp.MustCompile(`<td class="num">\d+(\.\d)? KiB</td>`).MatchString(body) {
		t.Errorf("no topic size on the topic list:\n%s", body)
	}
	if _, body := s.get("/topics/orders"); strings.Contains(body, `data-bytes="-1"`) || !strings.Contains(body, `data-bytes="`) {
		t.Errorf("a partition without its size:\n%s", body)
	} else if strings.Contains(body, "Remote bytes") || strings.Contains(body, "Local start") {
		t.Errorf("a topic without tiered storage shows its columns:\n%s", body)
	}
	for _, path := range []string{"/", "/topics", "/topics/orders", "/topics/orders/configs", "/groups", "/acls", "/users", "/quotas"} {
		if code, body := s.get(path); code != http.StatusOK {
			t.Errorf("GET %s: %d\n%s", path, code, body)
		}
	}

	t.Run("browse", func(t *testing.T) {
		code, body := s.get("/topics/orders/messages?from=start&limit=500")
		if code != http.StatusOK {
			t.Fatalf("%d\n%s", code, body)
		}
		if n := strings.Count(body, `<tr class="msg"`); n != 33 {
			t.Errorf("%d rows, want 33", n)
		}
		if strings.Contains(body, "<script>alert(1)") || strings.Contains(body, "<img src=x") || strings.Contains(body, "<b>h</b>") {
			t.Errorf("a payload is not escaped")
		}
		if !strings.Contains(body, "&lt;script&gt;alert(1)&lt;/script&gt;") {
			t.Errorf("the escaped key is missing")
		}
		if !strings.Contains(body, "ff 00 01 02 fe") {
			t.Errorf("binary value not shown as hex")
		}
		if strings.Contains(body, "END") || !strings.Contains(body, "whole value") {
			t.Errorf("huge value not cut, or no way to see it whole")
		}
	})
	t.Run("filters", func(t *testing.T) {
		_, body := s.get("/topics/orders/messages?from=start&header=trace%3Dt-c")
		if n := strings.Count(body, `<tr class="msg"`); n != 2 { // i=2 and i=28
			t.Errorf("header filter: %d rows, want 2", n)
		}
		_, body = s.get("/topics/orders/messages?from=newest&value=END")
		if n := strings.Count(body, `<tr class="msg"`); n != 1 {
			t.Errorf("value filter: %d rows, want 1", n)
		}
		_, body = s.get("/topics/orders/messages?from=newest&limit=5")
		if n := strings.Count(body, `<tr class="msg"`); n != 5 || !strings.Contains(body, `id="continue"`) {
			t.Errorf("newest 5: %d rows, continue link %v", n, strings.Contains(body, `id="continue"`))
		}
	})
	t.Run("whole", func(t *testing.T) {
		_, body := s.get("/topics/orders/messages?from=newest&value=END")
		m := regexp.MustCompile(`href="(/topics/orders/messages/\d+/\d+)" class="whole"`).FindStringSubmatch(body)
		if m == nil {
			t.Fatal("no link to the whole value")
		}
		_, whole := s.get(m[1])
		if !strings.Contains(whole, "END") {
			t.Error("the message page does not show the whole value")
		}
		_, raw := s.get(m[1] + "?raw=value")
		if len(raw) != 200_003 {
			t.Errorf("raw download: %d bytes", len(raw))
		}
	})
	t.Run("export", func(t *testing.T) {
		code, body := s.get("/topics/orders/messages/export?from=start&key=bin")
		if code != http.StatusOK || !strings.Contains(body, `"valueBase64":"/wABAv4="`) {
			t.Errorf("export: %d %s", code, body)
		}
	})
	t.Run("config validation", func(t *testing.T) {
		code, body, _ := s.post("/topics/orders/configs", url.Values{"csrf": {tok}, "name": {"retention.ms"}, "value": {"soon"}})
		if code != http.StatusBadRequest || !strings.Contains(body, "retention.ms") || !strings.Contains(body, `id="error"`) {
			t.Errorf("bad value: %d\n%s", code, body)
		}
		code, _, loc := s.post("/topics/orders/configs", url.Values{"csrf": {tok}, "name": {"retention.ms"}, "value": {"7200000"}})
		if code != http.StatusSeeOther {
			t.Errorf("good value: %d %s", code, loc)
		}
	})
	t.Run("csrf", func(t *testing.T) {
		code, body, _ := s.post("/topics", url.Values{"name": {"sneaky"}})
		if code != http.StatusForbidden || !strings.Contains(body, "CSRF") {
			t.Errorf("no token: %d", code)
		}
		code, _, _ = s.post("/topics", url.Values{"csrf": {"forged"}, "name": {"sneaky"}})
		if code != http.StatusForbidden {
			t.Errorf("wrong token: %d", code)
		}
	})
	t.Run("produce", func(t *testing.T) {
		code, _, loc := s.post("/topics/orders/produce", url.Values{"csrf": {tok}, "partition": {"2"}, "key": {"form"}, "value": {"from the console"}, "headers": {"source=console"}})
		if code != http.StatusSeeOther || !strings.Contains(loc, "produced=") {
			t.Fatalf("produce: %d %s", code, loc)
		}
		_, body := s.get("/topics/orders/messages?partition=2&header=source%3Dconsole")
		if !strings.Contains(body, "from the console") {
			t.Errorf("produced message not found")
		}
	})
	t.Run("groups", func(t *testing.T) {
		adm := kadm.NewClient(cl)
		if _, err := adm.CommitOffsets(ctx, "g1", kadm.OffsetsFromRecords(kgo.Record{Topic: "orders", Partition: 0, Offset: 1})); err != nil {
			t.Fatal(err)
		}
		code, body := s.get("/groups/g1")
		if code != http.StatusOK || !strings.Contains(body, "orders") {
			t.Fatalf("group: %d\n%s", code, body)
		}
		code, body = s.get("/groups/g1/lag")
		if code != http.StatusOK || !strings.Contains(body, `"lag":`) {
			t.Fatalf("lag: %d %s", code, body)
		}
		code, body, _ = s.post("/groups/g1/reset", url.Values{"csrf": {tok}, "to": {"latest"}})
		if code != http.StatusOK || !strings.Contains(body, `id="apply-reset"`) {
			t.Fatalf("preview: %d\n%s", code, body)
		}
		offs := regexp.MustCompile(`name="offsets" value="([^"]*)"`).FindStringSubmatch(body)
		code, _, _ = s.post("/groups/g1/reset/apply", url.Values{"csrf": {tok}, "offsets": {offs[1]}})
		if code != http.StatusSeeOther {
			t.Fatalf("apply: %d", code)
		}
		fetched, err := adm.FetchOffsets(ctx, "g1")
		if err != nil {
			t.Fatal(err)
		}
		ends, _ := adm.ListEndOffsets(ctx, "orders")
		o, _ := fetched.Lookup("orders", 0)
		e, _ := ends.Lookup("orders", 0)
		if o.At != e.Offset {
			t.Errorf("after reset to latest: %d, end %d", o.At, e.Offset)
		}
	})
}

// TestConsumerGroupView: a KIP-848 group (the consumer protocol) is
// described with ConsumerGroupDescribe: its members and assignment.
func TestConsumerGroupView(t *testing.T) {
	s := newSite(t, console.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl := s.client(kgo.DefaultProduceTopic("ng-topic"), kgo.AllowAutoTopicCreation())
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("x")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	member := s.client(kgo.ConsumerGroup("ng"), kgo.ConsumeTopics("ng-topic"), kgo.ServerSideBalancer(), kgo.ClientID("ng-member"))
	for n := 0; n < 1; {
		fs := member.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatal(err)
		}
		n += fs.NumRecords()
	}
	if err := member.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatal(err)
	}
	if _, body := s.get("/groups"); !strings.Contains(body, "<td>consumer</td>") {
		t.Errorf("the group list does not say the group is of type consumer:\n%s", body)
	}
	code, body := s.get("/groups/ng")
	if code != http.StatusOK || !strings.Contains(body, "ng-member") || !strings.Contains(body, "ng-topic: 0") || !strings.Contains(body, ">consumer<") {
		t.Errorf("group page: %d\n%s", code, body)
	}
}

// TestBrowsePages: following "continue" from the end (newest first) and
// from the start, with a filter over several partitions, shows every
// matching message once.
func TestBrowsePages(t *testing.T) {
	s := newSite(t, console.Config{})
	ctx := context.Background()
	adm := kadm.NewClient(s.client())
	if _, err := adm.CreateTopic(ctx, 3, 1, nil, "paged"); err != nil {
		t.Fatal(err)
	}
	var recs []*kgo.Record
	want := map[string]bool{}
	for i := range 90 {
		v := "skip"
		if i%3 != 1 {
			v = "match"
		}
		recs = append(recs, &kgo.Record{Topic: "paged", Partition: int32(i % 3), Value: []byte(v + "-" + strconv.Itoa(i))})
	}
	cl := s.client(kgo.RecordPartitioner(kgo.ManualPartitioner()))
	res := cl.ProduceSync(ctx, recs...)
	if err := res.FirstErr(); err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if strings.HasPrefix(string(r.Record.Value), "match") {
			want[fmt.Sprintf("%d/%d", r.Record.Partition, r.Record.Offset)] = true
		}
	}
	rowRE := regexp.MustCompile(`data-partition="(\d+)" data-offset="(\d+)"`)
	nextRE := regexp.MustCompile(`<a href="([^"]+)" id="continue">`)
	for _, from := range []string{"newest", "start"} {
		got := map[string]int{}
		path := "/topics/paged/messages?from=" + from + "&value=match&limit=7"
		for pages := 0; path != ""; pages++ {
			if pages > 50 {
				t.Fatalf("%s: more than 50 pages", from)
			}
			_, body := s.get(path)
			for _, m := range rowRE.FindAllStringSubmatch(body, -1) {
				got[m[1]+"/"+m[2]]++
			}
			path = ""
			if m := nextRE.FindStringSubmatch(body); m != nil {
				path = html.UnescapeString(m[1])
			}
		}
		for k := range want {
			if got[k] != 1 {
				t.Errorf("%s: message %s shown %d times", from, k, got[k])
			}
		}
		if len(got) != len(want) {
			t.Errorf("%s: %d messages shown, want %d", from, len(got), len(want))
		}
	}
}

func TestReadOnlyAndNoMessages(t *testing.T) {
	s := newSite(t, console.Config{ReadOnly: true, NoMessages: true})
	tok := s.csrf("/topics")
	if _, body := s.get("/topics"); strings.Contains(body, `id="create-topic"`) {
		t.Error("read-only console shows the create form")
	}
	code, body, _ := s.post("/topics", url.Values{"csrf": {tok}, "name": {"x"}})
	if code != http.StatusForbidden || !strings.Contains(body, "read-only") {
		t.Errorf("create in read-only mode: %d", code)
	}
	if code, _ := s.get("/topics/x/messages"); code != http.StatusForbidden {
		t.Errorf("messages turned off: %d", code)
	}
}

// TestAdminViews: ACLs, users and quotas through their forms, and the
// deletes of a topic and a group.
func TestAdminViews(t *testing.T) {
	s := newSite(t, console.Config{}, brokertest.Options{Settings: map[string]string{
		"authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
		"super.users":           "User:ANONYMOUS",
	}})
	ctx := context.Background()
	tok := s.csrf("/acls")
	acl := url.Values{"csrf": {tok}, "principal": {"User:bob"}, "host": {"*"}, "type": {"TOPIC"}, "name": {"bob-"},
		"pattern": {"PREFIXED"}, "operation": {"READ"}, "permission": {"ALLOW"}}
	if code, body, _ := s.post("/acls", acl); code != http.StatusSeeOther {
		t.Fatalf("create ACL: %d\n%s", code, body)
	}
	if _, body := s.get("/acls"); !strings.Contains(body, "<td>User:bob</td>") || !strings.Contains(body, "<td>PREFIXED</td>") {
		t.Fatalf("ACL not listed:\n%s", body)
	}
	bad := url.Values{"csrf": {tok}, "principal": {"bob"}, "type": {"TOPIC"}, "name": {"x"}, "pattern": {"LITERAL"}, "operation": {"READ"}, "permission": {"ALLOW"}}
	if code, body, _ := s.post("/acls", bad); code != http.StatusBadRequest || !strings.Contains(body, "type:name") {
		t.Errorf("an ACL without a principal type: %d", code)
	}
	if code, _, _ := s.post("/acls/delete", acl); code != http.StatusSeeOther {
		t.Fatalf("delete ACL: %d", code)
	}
	if _, body := s.get("/acls"); strings.Contains(body, "<td>User:bob</td>") {
		t.Error("ACL still listed after its delete")
	}

	if code, body, _ := s.post("/users", url.Values{"csrf": {tok}, "name": {"carol"}, "mechanism": {"SCRAM-SHA-256"}, "password": {"pw"}}); code != http.StatusSeeOther {
		t.Fatalf("create user: %d\n%s", code, body)
	}
	if _, body := s.get("/users"); !strings.Contains(body, "<td>carol</td>") || !strings.Contains(body, "SCRAM-SHA-256") {
		t.Fatalf("user not listed:\n%s", body)
	}
	if code, _, _ := s.post("/users/delete", url.Values{"csrf": {tok}, "name": {"carol"}, "mechanism": {"SCRAM-SHA-256"}}); code != http.StatusSeeOther {
		t.Fatalf("delete user: %d", code)
	}
	if _, body := s.get("/users"); strings.Contains(body, "<td>carol</td>") {
		t.Error("user still listed after its delete")
	}

	if code, body, _ := s.post("/quotas", url.Values{"csrf": {tok}, "client-id": {"app"}, "key": {"producer_byte_rate"}, "value": {"1048576"}}); code != http.StatusSeeOther {
		t.Fatalf("set quota: %d\n%s", code, body)
	}
	if _, body := s.get("/quotas"); !strings.Contains(body, "client-id=app") || !strings.Contains(body, "producer_byte_rate") {
		t.Fatalf("quota not listed:\n%s", body)
	}
	if code, _, _ := s.post("/quotas", url.Values{"csrf": {tok}, "client-id": {"app"}, "key": {"producer_byte_rate"}, "value": {""}}); code != http.StatusSeeOther {
		t.Fatalf("remove quota: %d", code)
	}
	if _, body := s.get("/quotas"); strings.Contains(body, "client-id=app") {
		t.Error("quota still listed after its removal")
	}

	// Deletes need the name typed again.
	adm := kadm.NewClient(s.client())
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "doomed"); err != nil {
		t.Fatal(err)
	}
	if code, _, _ := s.post("/topics/doomed/delete", url.Values{"csrf": {tok}, "confirm": {"other"}}); code != http.StatusBadRequest {
		t.Errorf("delete without confirming: %d", code)
	}
	if code, _, loc := s.post("/topics/doomed/delete", url.Values{"csrf": {tok}, "confirm": {"doomed"}}); code != http.StatusSeeOther || !strings.Contains(loc, "deleted=doomed") {
		t.Errorf("delete topic: %d %s", code, loc)
	}
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "kept"); err != nil {
		t.Fatal(err)
	}
	if _, err := adm.CommitOffsets(ctx, "old-group", kadm.OffsetsFromRecords(kgo.Record{Topic: "kept", Partition: 0, Offset: 0})); err != nil {
		t.Fatal(err)
	}
	if code, body, _ := s.post("/groups/old-group/delete", url.Values{"csrf": {tok}, "confirm": {"old-group"}}); code != http.StatusSeeOther {
		t.Errorf("delete group: %d\n%s", code, body)
	}
	if code, _ := s.get("/groups/old-group"); code != http.StatusNotFound {
		t.Errorf("deleted group's page: %d", code)
	}
}

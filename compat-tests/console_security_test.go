package compattests

// The web console behind the broker's security (issue 24): with a SASL
// listener the console asks for a login, acts as that user (its ACLs decide
// what it shows and may do), keeps an HttpOnly SameSite=Strict session and
// logs each change; console.read.only and console.messages.enable.

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

func TestConsoleBrowserSecurity(t *testing.T) {
	br := conStartBrowser(t)

	t.Run("login and ACLs", func(t *testing.T) {
		httpAddr := freePort(t)
		b := startSecure(t, [][2]string{{"SASL", "SASL_PLAINTEXT"}},
			"--sasl.enabled.mechanisms=SCRAM-SHA-512",
			"--authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
			"--super.users=User:admin",
			"--add-scram=SCRAM-SHA-512=[name=admin,password=admin-secret]",
			"--add-scram=SCRAM-SHA-512=[name=alice,password=alice-secret]",
			"--http-listen="+httpAddr)
		admin := fgClient(t, b.addrs["SASL"], kgo.SASL(scram.Auth{User: "admin", Pass: "admin-secret"}.AsSha512Mechanism()))
		adm := kadm.NewClient(admin)
		fgCreateTopic(t, adm, "alice-orders", 2, nil)
		fgCreateTopic(t, adm, "payroll", 1, nil)
		fgProduceSync(t, admin, &kgo.Record{Topic: "alice-orders", Value: []byte("for alice")}, &kgo.Record{Topic: "payroll", Value: []byte("salaries")})
		acl := kadm.NewACLs().Allow("User:alice").Topics("alice-orders").Operations(kadm.OpDescribe, kadm.OpRead, kadm.OpWrite).ResourcePatternType(kadm.ACLPatternLiteral)
		if res, err := adm.CreateACLs(fgCtx(t), acl); err != nil || res[0].Err != nil {
			t.Fatalf("create ACL: %v %v", err, res)
		}

		ctx := br.tab()
		conRun(t, ctx, "the console asks for a login", chromedp.Navigate(conURL(httpAddr, "/topics")), conAppears("#login"))
		conShot(t, ctx, "login")
		conRun(t, ctx, "a wrong password",
			conSet("#username", "alice"),
			conSet("#password", "wrong"),
			conClick("#login"),
			conAppears("#error"),
		)
		if msg := conText(t, ctx, "#error"); !strings.Contains(msg, "wrong user name or password") {
			t.Errorf("login error: %q", msg)
		}
		conRun(t, ctx, "log in as alice",
			conSet("#password", "alice-secret"),
			conClick("#login"),
			conAppears("#topics"),
		)
		conWaitJS(t, ctx, "only alice's topic", `location.pathname === '/topics' && document.querySelector('#user').textContent === 'User:alice' &&
			document.querySelector('#topics').textContent.includes('alice-orders') && !document.querySelector('#topics').textContent.includes('payroll')`, 5*time.Second)
		conRun(t, ctx, "browse alice's topic", chromedp.Navigate(conURL(httpAddr, "/topics/alice-orders/messages?from=start")), conAppears("#messages"))
		conWaitJS(t, ctx, "alice reads her messages", conRowCount("messages")+" === 1", 5*time.Second)
		conRun(t, ctx, "the other topic", chromedp.Navigate(conURL(httpAddr, "/topics/payroll/messages?from=start")))
		conWaitJS(t, ctx, "payroll is refused", `!document.body.textContent.includes('salaries') && document.querySelector('#error') !== null`, 5*time.Second)
		conRun(t, ctx, "create a topic alice may not",
			chromedp.Navigate(conURL(httpAddr, "/topics")),
			conSet("#topic-name", "alice-new"),
			conClick("#create"),
		)
		conWaitJS(t, ctx, "refused", `document.querySelector('#error') !== null && document.querySelector('#topic-name') !== null`, 10*time.Second)
		if msg := conText(t, ctx, "#error"); !strings.Contains(strings.ToLower(msg), "authoriz") {
			t.Errorf("create without the ACL: %q", msg)
		}
		if ts, _ := adm.ListTopics(fgCtx(t), "alice-new"); ts.Has("alice-new") {
			t.Error("alice created a topic without the ACL")
		}
		// A change alice may make, logged with her principal.
		conRun(t, ctx, "produce as alice",
			chromedp.Navigate(conURL(httpAddr, "/topics/alice-orders/produce")),
			conSet("#produce-value", "from alice's browser"),
			conClick("#produce-send"),
			conAppears("#notice"),
		)
		deadline := time.Now().Add(5 * time.Second)
		for !strings.Contains(b.logs.String(), `msg="console change" principal=User:alice action=produce target=alice-orders`) ||
			!strings.Contains(b.logs.String(), `msg="console change refused" principal=User:alice action=topic.create target=alice-new`) {
			if time.Now().After(deadline) {
				t.Fatalf("the changes are not logged with alice's principal:\n%s", tail(b.logs.String(), 4000))
			}
			time.Sleep(50 * time.Millisecond)
		}
		// Logging out ends the session.
		conRun(t, ctx, "log out", conClick(`form[action="/logout"] button`), conAppears("#login"))
		conRun(t, ctx, "back to a page", chromedp.Navigate(conURL(httpAddr, "/topics")), conAppears("#login"))

		// The session cookie: HttpOnly, SameSite=Strict, and no login
		// from another site.
		hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }, Timeout: 20 * time.Second}
		post := func(origin string) *http.Response {
			req, _ := http.NewRequest(http.MethodPost, conURL(httpAddr, "/login"), strings.NewReader(url.Values{"username": {"alice"}, "password": {"alice-secret"}}.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Origin", origin)
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			return resp
		}
		resp := post("http://" + httpAddr)
		if resp.StatusCode != http.StatusSeeOther || len(resp.Cookies()) != 1 {
			t.Fatalf("login: %s, cookies %v", resp.Status, resp.Cookies())
		}
		if c := resp.Cookies()[0]; !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Secure {
			t.Errorf("session cookie %+v: want HttpOnly, SameSite=Strict, not Secure over plain HTTP", c)
		}
		if resp := post("http://evil.example"); resp.StatusCode != http.StatusForbidden {
			t.Errorf("a login from another site: %s", resp.Status)
		}
	})

	t.Run("read-only, messages off", func(t *testing.T) {
		b := opsStart(t, "--console.read.only=true", "--console.messages.enable=false")
		fgCreateTopic(t, fgAdmin(t, b.addr), "quiet", 1, nil)
		ctx := br.tab()
		conRun(t, ctx, "topics", chromedp.Navigate(conURL(b.http, "/topics")), conAppears("#topics"))
		conWaitJS(t, ctx, "no change offered", `document.querySelector('#create-topic') === null && document.querySelector('.badge').textContent === 'read-only'`, 5*time.Second)
		status := conEval[int](t, ctx, `fetch('/topics', {method: 'POST', headers: {'Content-Type': 'application/x-www-form-urlencoded'}, body: 'csrf=' + document.body.dataset.csrf + '&name=nope&partitions=1'}).then(r => r.status)`)
		if status != http.StatusForbidden {
			t.Errorf("a change in read-only mode, with the right token: %d, want 403", status)
		}
		if ts, _ := fgAdmin(t, b.addr).ListTopics(fgCtx(t), "nope"); ts.Has("nope") {
			t.Error("read-only console created a topic")
		}
		conRun(t, ctx, "topic", chromedp.Navigate(conURL(b.http, "/topics/quiet")), conAppears("#partitions"))
		conWaitJS(t, ctx, "no messages tab", `document.querySelector('#messages-link') === null && document.querySelector('#produce-link') === null`, time.Second)
		conRun(t, ctx, "messages", chromedp.Navigate(conURL(b.http, "/topics/quiet/messages")), conAppears("#error"))
		if msg := conText(t, ctx, "#error"); !strings.Contains(msg, "console.messages.enable=false") {
			t.Errorf("message browser off: %q", msg)
		}
	})
}

// TestConsoleSASLSSL: a broker whose only listener is SASL_SSL; the
// console logs in over TLS, trusting exactly the broker's certificate, and
// serves itself over TLS (--http-tls) with Secure cookies; a logged-in
// change without the session's CSRF token is refused.
func TestConsoleSASLSSL(t *testing.T) {
	t.Parallel()
	pki := newSecPKI(t)
	httpAddr := freePort(t)
	startSecure(t, [][2]string{{"SASL_SSL", "SASL_SSL"}},
		"--sasl.enabled.mechanisms=SCRAM-SHA-256",
		"--ssl.keystore.location="+pki.Broker,
		"--add-scram=SCRAM-SHA-256=[name=dora,password=dora-secret]",
		"--http-listen="+httpAddr, "--http-tls")
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, Timeout: 20 * time.Second, Transport: &http.Transport{TLSClientConfig: pki.tlsConfig(t, "", "")},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	base := "https://" + httpAddr
	post := func(path string, form url.Values) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, base+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", base)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	if resp := post("/login", url.Values{"username": {"dora"}, "password": {"wrong"}}); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("a wrong password: %s", resp.Status)
	}
	resp := post("/login", url.Values{"username": {"dora"}, "password": {"dora-secret"}})
	if resp.StatusCode != http.StatusSeeOther || len(resp.Cookies()) != 1 || !resp.Cookies()[0].Secure {
		t.Fatalf("login over SASL_SSL: %s, cookies %+v", resp.Status, resp.Cookies())
	}
	get, err := hc.Get(base + "/topics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(get.Body)
	get.Body.Close()
	if get.StatusCode != http.StatusOK || !strings.Contains(string(body), "User:dora") {
		t.Fatalf("topics as dora: %s\n%s", get.Status, body)
	}
	if resp := post("/topics", url.Values{"name": {"sneaky"}, "partitions": {"1"}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("a logged-in change without the CSRF token: %s", resp.Status)
	}
	tok := regexp.MustCompile(`data-csrf="([^"]+)"`).FindSubmatch(body)
	if resp := post("/topics", url.Values{"csrf": {string(tok[1])}, "name": {"allowed"}, "partitions": {"1"}}); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("a logged-in change with the token: %s", resp.Status)
	}
}

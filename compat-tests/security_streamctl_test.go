package compattests

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSecurityStreamctl follows the README's steps: a SASL_SSL broker with
// ACLs and an admin from --add-scram; streamctl, with the admin's Kafka
// client properties, creates a user, a topic and ACLs; the user produces
// where the ACLs allow and is refused elsewhere; a wrong password and a
// non-admin are refused.
func TestSecurityStreamctl(t *testing.T) {
	t.Parallel()
	sa := startSecAdmin(t, "--sasl.enabled.mechanisms=SCRAM-SHA-512,PLAIN")
	pki, addr, admin := sa.pki, sa.addr, sa.ctl
	admin([]string{"STREAMHOUSE_USER_PASSWORD=app-secret"}, "user", "set", "app", "--mechanism", "SCRAM-SHA-512")
	if out := admin(nil, "user", "list").stdout; !strings.Contains(out, "app") || !strings.Contains(out, "SCRAM-SHA-512") {
		t.Fatalf("user list:\n%s", out)
	}
	admin(nil, "topic", "create", "orders-eu", "--partitions", "2")
	admin(nil, "topic", "create", "payroll", "--partitions", "1")
	admin(nil, "acl", "create", "--allow-principal", "User:app", "--operation", "Write", "--operation", "Describe",
		"--topic", "orders", "--resource-pattern-type", "prefixed")
	if out := admin(nil, "acl", "list", "--principal", "User:app").stdout; strings.Count(out, "User:app") != 2 {
		t.Fatalf("acl list:\n%s", out)
	}
	app := func(pass string, args ...string) ctlResult {
		return ctlRun(t, []string{"STREAMHOUSE_SASL_PASSWORD=" + pass}, "", append([]string{"--bootstrap", addr, "--timeout", "5s",
			"--security-protocol", "SASL_SSL", "--sasl-mechanism", "SCRAM-SHA-512", "--sasl-username", "app", "--tls-ca", pki.CA}, args...)...)
	}
	if r := app("app-secret", "produce", "orders-eu", "--value", "v1"); r.code != 0 {
		t.Fatalf("app produces to orders-eu: %d\n%s", r.code, r.stderr)
	}
	if r := app("app-secret", "produce", "payroll", "--value", "v1"); r.code == 0 || !strings.Contains(r.stderr, "TOPIC_AUTHORIZATION_FAILED") {
		t.Fatalf("app produces to payroll: %d\n%s", r.code, r.stderr)
	}
	if r := app("app-secret", "topic", "list"); r.code != 0 || strings.Contains(r.stdout, "payroll") || !strings.Contains(r.stdout, "orders-eu") {
		t.Fatalf("app's topic list: %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := app("app-secret", "acl", "create", "--allow-principal", "User:app", "--operation", "All", "--topic", "*"); r.code == 0 {
		t.Fatal("app created an ACL")
	}
	start := time.Now()
	if r := app("wrong", "topic", "list"); r.code == 0 {
		t.Fatalf("a wrong password listed topics:\n%s", r.stdout)
	}
	t.Logf("a wrong password was refused after %v", time.Since(start).Round(time.Millisecond))
	admin(nil, "acl", "delete", "--topic", "orders", "--resource-pattern-type", "prefixed", "--allow-principal", "User:app")
	if r := app("app-secret", "produce", "orders-eu", "--value", "v2"); r.code == 0 {
		t.Fatal("app produced after its ACLs were deleted")
	}
	admin(nil, "user", "delete", "app")
	if r := app("app-secret", "topic", "list"); r.code == 0 {
		t.Fatal("a deleted user listed topics")
	}
}

// secAdmin is the README's secure broker: a SASL_SSL listener, ACLs on
// (StandardAuthorizer) and User:admin a super user with a SCRAM-SHA-512
// password, with the admin's Kafka client properties for streamctl.
type secAdmin struct {
	t     *testing.T
	pki   *secPKI
	addr  string // the SASL_SSL listener
	props string // the admin's client properties (--command-config)
}

// startSecAdmin starts the README's secure broker with the flags extra
// (its SASL mechanisms among them).
func startSecAdmin(t *testing.T, extra ...string) *secAdmin {
	t.Helper()
	pki := newSecPKI(t)
	flags := append([]string{"--ssl.keystore.location=" + pki.Broker}, extra...)
	b := startSecure(t, [][2]string{{"SASL_SSL", "SASL_SSL"}}, append(flags,
		"--authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
		"--super.users=User:admin",
		"--add-scram=SCRAM-SHA-512=[name=admin,password=admin-secret]")...)
	sa := &secAdmin{t: t, pki: pki, addr: b.addrs["SASL_SSL"], props: filepath.Join(t.TempDir(), "admin.properties")}
	os.WriteFile(sa.props, []byte(`security.protocol=SASL_SSL
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="admin-secret";
ssl.truststore.type=PEM
ssl.truststore.location=`+pki.CA+"\n"), 0o600)
	return sa
}

// ctl runs streamctl as the admin, with env added to its environment, and
// fails the test when it exits non-zero.
func (sa *secAdmin) ctl(env []string, args ...string) ctlResult {
	sa.t.Helper()
	r := ctlRun(sa.t, env, "", append([]string{"--bootstrap", sa.addr, "--timeout", "10s", "--command-config", sa.props}, args...)...)
	if r.code != 0 {
		sa.t.Fatalf("streamctl %v: exit %d\n%s", args, r.code, r.stderr)
	}
	return r
}

// TestSecurityHTTPTLS: --http-tls serves /health and /metrics over TLS
// with the broker's PEM key store; plain HTTP is refused. The metrics
// count authentications by listener, mechanism and outcome.
func TestSecurityHTTPTLS(t *testing.T) {
	t.Parallel()
	pki := newSecPKI(t)
	httpAddr := freePort(t)
	b := startSecure(t, [][2]string{{"SASL_PLAINTEXT", "SASL_PLAINTEXT"}},
		"--ssl.keystore.location="+pki.Broker, "--http-tls", "--http-listen="+httpAddr,
		"--sasl.enabled.mechanisms=PLAIN", "--add-scram=SCRAM-SHA-512=[name=alice,password=alice-secret]")
	cl := &http.Client{Transport: &http.Transport{TLSClientConfig: pki.tlsConfig(t, "", "")}, Timeout: 10 * time.Second}
	var resp *http.Response
	var err error
	for range 50 {
		if resp, err = cl.Get("https://" + httpAddr + "/health"); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("GET /health over TLS: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/health: %s", resp.Status)
	}
	if r, err := (&http.Client{Timeout: 5 * time.Second}).Get("http://" + httpAddr + "/health"); err == nil && r.StatusCode == http.StatusOK {
		t.Fatal("plain HTTP answered on the TLS listener")
	}
	// One failed and one good PLAIN authentication, then the counters.
	for _, pw := range []string{"wrong", "alice-secret"} {
		ctlRun(t, []string{"STREAMHOUSE_SASL_PASSWORD=" + pw}, "", "--bootstrap", b.addrs["SASL_PLAINTEXT"], "--timeout", "3s",
			"--security-protocol", "SASL_PLAINTEXT", "--sasl-mechanism", "PLAIN", "--sasl-username", "alice", "topic", "list")
	}
	resp, err = cl.Get("https://" + httpAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`streamhouse_authentications_total{listener="SASL_PLAINTEXT",mechanism="PLAIN",outcome="failure"}`,
		`streamhouse_authentications_total{listener="SASL_PLAINTEXT",mechanism="PLAIN",outcome="success"}`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

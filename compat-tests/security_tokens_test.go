package compattests

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// TestSecurityDelegationTokens: the binary over SASL_SSL with a secret
// key; streamctl (as the admin) creates a token for the user app (KIP-373),
// lists, renews and expires it; franz-go logs in with the token as app and
// may do what app's ACLs allow, until the token is expired.
func TestSecurityDelegationTokens(t *testing.T) {
	t.Parallel()
	sa := startSecAdmin(t, "--sasl.enabled.mechanisms=SCRAM-SHA-512,SCRAM-SHA-256", "--delegation.token.secret.key=compat-secret")
	pki, addr, props := sa.pki, sa.addr, sa.props
	admin := func(args ...string) string {
		t.Helper()
		return sa.ctl([]string{"STREAMHOUSE_USER_PASSWORD=app-secret"}, args...).stdout
	}
	admin("user", "set", "app", "--mechanism", "SCRAM-SHA-512")
	admin("topic", "create", "orders", "--partitions", "1")
	admin("topic", "create", "payroll", "--partitions", "1")
	admin("acl", "create", "--allow-principal", "User:app", "--operation", "Write", "--topic", "orders")

	type token struct {
		TokenID   string   `json:"token_id"`
		HMAC      string   `json:"hmac"`
		Owner     string   `json:"owner"`
		Requester string   `json:"requester"`
		Renewers  []string `json:"renewers"`
		Issued    string   `json:"issue_date"`
		Expiry    string   `json:"expiry_date"`
		Max       string   `json:"max_date"`
	}
	var created []token
	if err := json.Unmarshal([]byte(admin("token", "create", "--owner-principal", "User:app", "--renewer-principal", "User:ops",
		"--max-life-time-period", "3600000", "--output", "json")), &created); err != nil || len(created) != 1 {
		t.Fatalf("token create: %v %+v", err, created)
	}
	tok := created[0]
	if tok.Owner != "User:app" || tok.Requester != "User:admin" || len(tok.Renewers) != 1 || tok.Renewers[0] != "User:ops" {
		t.Fatalf("created %+v", tok)
	}
	if out := admin("token", "describe", "--owner-principal", "User:app"); !strings.Contains(out, tok.TokenID) || !strings.Contains(out, tok.HMAC) {
		t.Fatalf("token describe:\n%s", out)
	}

	mac, _ := base64.StdEncoding.DecodeString(tok.HMAC)
	client := func() *kgo.Client {
		cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DialTLSConfig(pki.tlsConfig(t, "", "")), kgo.RequestRetries(0),
			kgo.RetryTimeout(3*time.Second), kgo.SASL(scram.Auth{User: tok.TokenID, Pass: base64.StdEncoding.EncodeToString(mac), IsToken: true}.AsSha512Mechanism()))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(cl.Close)
		return cl
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	cl := client()
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "orders", Value: []byte("by token")}).FirstErr(); err != nil {
		t.Fatalf("produce as app with the token: %v", err)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "payroll", Value: []byte("x")}).FirstErr(); !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Fatalf("produce to payroll with app's token: %v", err)
	}

	// The admin requested the token: it may renew and expire it.
	var renewed struct {
		ExpiryDate string `json:"expiry_date"`
	}
	if err := json.Unmarshal([]byte(admin("token", "renew", "--hmac", tok.HMAC, "--renew-time-period", "60000", "--output", "json")), &renewed); err != nil {
		t.Fatal(err)
	}
	if exp, err := time.Parse(time.RFC3339, renewed.ExpiryDate); err != nil || exp.Before(time.Now().Add(50*time.Second)) || exp.After(time.Now().Add(70*time.Second)) {
		t.Fatalf("renewed for a minute: %q (%v)", renewed.ExpiryDate, err)
	}
	admin("token", "expire", "--hmac", tok.HMAC)
	if out := admin("token", "describe"); strings.Contains(out, tok.TokenID) {
		t.Fatalf("an expired token described:\n%s", out)
	}
	if err := client().Ping(ctx); err == nil {
		t.Fatal("logged in with an expired token")
	}
	r := ctlRun(t, nil, "", "--bootstrap", addr, "--timeout", "10s", "--command-config", props, "token", "renew", "--hmac", "bm90IGEgdG9rZW4=")
	if r.code == 0 || !strings.Contains(r.stderr, "DELEGATION_TOKEN_NOT_FOUND") {
		t.Fatalf("renew of an unknown token: %d\n%s", r.code, r.stderr)
	}
}

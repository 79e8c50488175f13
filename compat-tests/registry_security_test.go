package compattests

// The schema registry behind the broker's security: a SASL_PLAINTEXT
// broker with SCRAM users and the StandardAuthorizer; the registry serves
// over TLS with the broker's keystore, asks every request for HTTP basic
// credentials of a SCRAM user, and lets a write through only with ALTER on
// the CLUSTER. Its own Kafka client authenticates as the admin.

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"
	"github.com/twmb/franz-go/pkg/sr"
)

func TestRegistrySecurity(t *testing.T) {
	t.Parallel()
	pki := newSecPKI(t)
	srAddr := freePort(t)
	b := startSecure(t, [][2]string{{"SASL", "SASL_PLAINTEXT"}},
		"--sasl.enabled.mechanisms=SCRAM-SHA-512",
		"--ssl.keystore.location="+pki.Broker,
		"--authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
		"--super.users=User:admin",
		"--add-scram=SCRAM-SHA-512=[name=admin,password=admin-secret]",
		"--add-scram=SCRAM-SHA-512=[name=reader,password=reader-secret]",
		"--schema-registry-listen="+srAddr,
		"--schema-registry-tls",
		"--schema-registry-kafka-user=admin",
		"--schema-registry-kafka-password=admin-secret")
	url := "https://" + srAddr
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: pki.tlsConfig(t, "", "")}, Timeout: 10 * time.Second}
	do := func(user, pass, method, path, body string) (int, string, http.Header) {
		t.Helper()
		req, err := http.NewRequest(method, url+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		if body != "" {
			req.Header.Set("Content-Type", "application/vnd.schemaregistry.v1+json")
		}
		resp, err := hc.Do(req)
		if err != nil {
			return 0, err.Error(), nil
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, strings.TrimSpace(string(out)), resp.Header
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		status, out, _ := do("admin", "admin-secret", "GET", "/subjects", "")
		if status == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the registry did not answer the admin within 30s: %d %s\n%s", status, out, b.logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	schema := `{"schema":"{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\",\"type\":\"string\"}]}"}`
	code := func(out string) int {
		var e struct {
			ErrorCode int `json:"error_code"`
		}
		json.Unmarshal([]byte(out), &e)
		return e.ErrorCode
	}

	if status, _, h := do("", "", "GET", "/subjects", ""); status != 401 || !strings.HasPrefix(h.Get("WWW-Authenticate"), "Basic") {
		t.Errorf("no credentials: %d, WWW-Authenticate %q; want 401 and a Basic challenge", status, h.Get("WWW-Authenticate"))
	}
	if status, out, _ := do("reader", "wrong", "GET", "/subjects", ""); status != 401 {
		t.Errorf("a wrong password: %d %s, want 401", status, out)
	}
	if status, out, _ := do("nobody", "x", "GET", "/subjects", ""); status != 401 {
		t.Errorf("an unknown user: %d %s, want 401", status, out)
	}
	if status, out, _ := do("reader", "reader-secret", "GET", "/subjects", ""); status != 200 || out != "[]" {
		t.Errorf("the reader reads: %d %s", status, out)
	}
	if status, out, _ := do("reader", "reader-secret", "POST", "/subjects/s/versions", schema); status != 403 || code(out) != 40301 {
		t.Errorf("the reader writes without ALTER on the cluster: %d %s, want 403 and 40301", status, out)
	}
	if status, out, _ := do("admin", "admin-secret", "POST", "/subjects/s/versions", schema); status != 200 || out != `{"id":1}` {
		t.Errorf("the admin (a super user) writes: %d %s", status, out)
	}
	// Plain HTTP is not served.
	if resp, err := http.Get("http://" + srAddr + "/subjects"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Error("the TLS listener answered plain HTTP with 200")
		}
	}

	// ALTER on the cluster lets the reader write.
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.addrs["SASL"]), kgo.SASL(scram.Auth{User: "admin", Pass: "admin-secret"}.AsSha512Mechanism()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := kadm.NewClient(cl).CreateACLs(ctx, kadm.NewACLs().Allow("User:reader").AllowHosts().Clusters().
		Operations(kadm.OpAlter).ResourcePatternType(kadm.ACLPatternLiteral))
	if err == nil {
		for _, r := range res {
			err = errors.Join(err, r.Err)
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	// franz-go's registry client, with basic auth over TLS.
	rcl, err := sr.NewClient(sr.URLs(url), sr.BasicAuth("reader", "reader-secret"), sr.HTTPClient(hc))
	if err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(10 * time.Second)
	for {
		got, err := rcl.CreateSchema(ctx, "t", sr.Schema{Schema: `"string"`})
		if err == nil {
			if got.ID != 2 {
				t.Errorf("the reader registered id %d, want 2", got.ID)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the reader with ALTER on the cluster cannot write: %v", err)
		}
		time.Sleep(50 * time.Millisecond) // the ACL reaches the authorizer
	}
}

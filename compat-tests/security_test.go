package compattests

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// TestSecurityKcatSASLSSL: Debian's kcat (librdkafka 2.0.2) authenticates
// over TLS with PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512 against users made
// with --add-scram, produces and consumes; a wrong password is refused and
// the broker goes on serving.
func TestSecurityKcatSASLSSL(t *testing.T) {
	t.Parallel()
	kcat := requireTool(t, "kcat")
	pki := newSecPKI(t)
	b := startSecure(t, [][2]string{{"CLIENT", "SASL_SSL"}},
		"--ssl.keystore.location="+pki.Broker,
		"--sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512",
		"--add-scram=SCRAM-SHA-256=[name=alice,password=alice-secret]",
		"--add-scram=SCRAM-SHA-512=[name=alice,password=alice-secret,iterations=8192]",
	)
	addr := b.addrs["CLIENT"]
	conf := func(mech, pass string) []string {
		return []string{"-b", addr, "-X", "security.protocol=SASL_SSL", "-X", "sasl.mechanisms=" + mech,
			"-X", "sasl.username=alice", "-X", "sasl.password=" + pass, "-X", "ssl.ca.location=" + pki.CA}
	}
	for _, mech := range []string{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"} {
		t.Run(mech, func(t *testing.T) {
			topic := "kcat-" + strings.ToLower(mech)
			in := strings.NewReader("k1:one\nk2:two\n")
			runTool(t, 30*time.Second, in, kcat, append(conf(mech, "alice-secret"), "-P", "-t", topic, "-K:", "-X", "topic.request.required.acks=-1")...)
			out := runTool(t, 30*time.Second, nil, kcat, append(conf(mech, "alice-secret"), "-C", "-t", topic, "-e", "-K:", "-f", "%k:%s\n")...)
			if got := strings.Fields(out); len(got) != 2 || got[0] != "k1:one" || got[1] != "k2:two" {
				t.Fatalf("consumed %q", out)
			}
			// A wrong password: metadata fails, nothing is served.
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, kcat, append(conf(mech, "wrong"), "-L", "-m", "2")...)
			if out, err := cmd.CombinedOutput(); err == nil {
				t.Fatalf("kcat -L with a wrong password succeeded:\n%s", out)
			} else if !strings.Contains(string(out), "uthentication") {
				t.Logf("kcat with a wrong password: %s", out)
			}
		})
	}
	if !strings.Contains(b.logs.String(), "authentication failed") {
		t.Errorf("no failure logged:\n%s", b.logs.String())
	}
}

// TestSecurityMTLSAndACLs: an SSL listener requiring client certificates;
// the principal is the certificate's subject; ACLs decide what it may do.
// Untrusted, expired and missing certificates, a plaintext client on the
// TLS port and a TLS client on a plaintext port are refused, while the
// good client is served throughout.
func TestSecurityMTLSAndACLs(t *testing.T) {
	t.Parallel()
	pki := newSecPKI(t)
	b := startSecure(t, [][2]string{{"SECURE", "SSL"}, {"PLAIN", "PLAINTEXT"}},
		"--ssl.keystore.location="+pki.Broker,
		"--ssl.truststore.location="+pki.CA,
		"--listener.name.secure.ssl.client.auth=required",
		"--authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
		"--super.users=User:CN=admin,OU=apps",
	)
	secure := b.addrs["SECURE"]
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()

	adminCert, adminKey := pki.client(t, "admin", time.Now().Add(time.Hour))
	admin, err := kgo.NewClient(kgo.SeedBrokers(secure), kgo.DialTLSConfig(pki.tlsConfig(t, adminCert, adminKey)))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	adm := kadm.NewClient(admin)
	if _, err := adm.CreateTopic(ctx, 2, 1, nil, "app-orders"); err != nil {
		t.Fatalf("admin create topic: %v", err)
	}
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "payroll"); err != nil {
		t.Fatalf("admin create topic: %v", err)
	}
	acls := kadm.NewACLs().Allow("User:CN=app,OU=apps").Topics("app-").ResourcePatternType(kadm.ACLPatternPrefixed).
		Operations(kadm.OpWrite, kadm.OpRead)
	if res, err := adm.CreateACLs(ctx, acls); err != nil || res[0].Err != nil {
		t.Fatalf("create acls: %v %+v", err, res)
	}
	grp := kadm.NewACLs().Allow("User:CN=app,OU=apps").Groups("app-").ResourcePatternType(kadm.ACLPatternPrefixed).Operations(kadm.OpRead)
	if res, err := adm.CreateACLs(ctx, grp); err != nil || res[0].Err != nil {
		t.Fatalf("create group acls: %v %+v", err, res)
	}

	appCert, appKey := pki.client(t, "app", time.Now().Add(time.Hour))
	app, err := kgo.NewClient(kgo.SeedBrokers(secure), kgo.DialTLSConfig(pki.tlsConfig(t, appCert, appKey)),
		kgo.ConsumerGroup("app-consumers"), kgo.ConsumeTopics("app-orders"), kgo.FetchMaxWait(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	for i := range 10 {
		if err := app.ProduceSync(ctx, &kgo.Record{Topic: "app-orders", Value: fmt.Appendf(nil, "order-%d", i)}).FirstErr(); err != nil {
			t.Fatalf("produce with WRITE: %v", err)
		}
	}
	err = app.ProduceSync(ctx, &kgo.Record{Topic: "payroll", Value: []byte("x")}).FirstErr()
	if !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Fatalf("produce to a topic without ACL: %v", err)
	}
	got := 0
	for got < 10 {
		fs := app.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of 10", got)
		}
		fs.EachError(func(topic string, p int32, err error) { t.Fatalf("fetch %s/%d: %v", topic, p, err) })
		got += fs.NumRecords()
	}
	if err := app.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatalf("commit: %v", err)
	}

	// Refused handshakes.
	tryTLS := func(cfg *tls.Config, addr string) error {
		cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DialTLSConfig(cfg), kgo.RequestRetries(0), kgo.RetryTimeout(2*time.Second))
		if err != nil {
			return err
		}
		defer cl.Close()
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		return cl.Ping(pctx)
	}
	other := newSecPKI(t)
	strangerCert, strangerKey := other.client(t, "admin", time.Now().Add(time.Hour))
	expiredCert, expiredKey := pki.client(t, "expired", time.Now().Add(-time.Hour))
	for name, cfg := range map[string]*tls.Config{
		"untrusted client certificate": func() *tls.Config {
			c := pki.tlsConfig(t, strangerCert, strangerKey)
			return c
		}(),
		"expired client certificate": pki.tlsConfig(t, expiredCert, expiredKey),
		"no client certificate":      pki.tlsConfig(t, "", ""),
	} {
		if err := tryTLS(cfg, secure); err == nil {
			t.Errorf("%s: connected", name)
		}
	}
	if err := tryTLS(pki.tlsConfig(t, appCert, appKey), b.addrs["PLAIN"]); err == nil {
		t.Error("a TLS client on the plaintext listener connected")
	}
	// A plaintext client on the TLS port: no Kafka answer.
	c, err := net.DialTimeout("tcp", secure, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.Write([]byte{0, 0, 0, 10, 0, 18, 0, 0, 0, 0, 0, 1, 0, 0})
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 64)
	n, _ := c.Read(buf)
	c.Close()
	if n >= 4 && buf[0] == 0 && buf[1] == 0 {
		t.Errorf("a plaintext request on the TLS port got an answer % x", buf[:n])
	}
	// The good client is still served.
	if err := app.ProduceSync(ctx, &kgo.Record{Topic: "app-orders", Value: []byte("after")}).FirstErr(); err != nil {
		t.Fatalf("produce after the refusals: %v", err)
	}
}

// TestSecuritySCRAMUsersThroughKadm: a user created with
// AlterUserScramCredentials (kadm) authenticates at once; deleting it
// refuses the next authentication.
func TestSecuritySCRAMUsersThroughKadm(t *testing.T) {
	t.Parallel()
	b := startSecure(t, [][2]string{{"SASL_PLAINTEXT", "SASL_PLAINTEXT"}},
		"--add-scram=SCRAM-SHA-512=[name=admin,password=admin-secret]")
	addr := b.addrs["SASL_PLAINTEXT"]
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	admin, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.SASL(scram.Auth{User: "admin", Pass: "admin-secret"}.AsSha512Mechanism()))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	adm := kadm.NewClient(admin)
	res, err := adm.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{{User: "bob", Mechanism: kadm.ScramSha256, Iterations: 4096, Password: "bob-secret"}})
	if err != nil || res.Error() != nil {
		t.Fatalf("alter user scram: %v %v", err, res.Error())
	}
	described, err := adm.DescribeUserSCRAMs(ctx)
	if err != nil || len(described) != 2 || len(described["bob"].CredInfos) != 1 || described["bob"].CredInfos[0].Iterations != 4096 {
		t.Fatalf("describe: %v %+v", err, described)
	}
	ping := func(pass string) error {
		cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.SASL(scram.Auth{User: "bob", Pass: pass}.AsSha256Mechanism()), kgo.RequestRetries(0), kgo.RetryTimeout(2*time.Second))
		if err != nil {
			return err
		}
		defer cl.Close()
		return cl.Ping(ctx)
	}
	if err := ping("bob-secret"); err != nil {
		t.Fatalf("bob: %v", err)
	}
	if err := ping("bob-secreT"); err == nil {
		t.Fatal("bob with a wrong password")
	}
	if res, err := adm.AlterUserSCRAMs(ctx, []kadm.DeleteSCRAM{{User: "bob", Mechanism: kadm.ScramSha256}}, nil); err != nil || res.Error() != nil {
		t.Fatalf("delete: %v %v", err, res.Error())
	}
	if err := ping("bob-secret"); err == nil {
		t.Fatal("bob authenticated after his credential was deleted")
	}
	// Too few iterations: UNACCEPTABLE_CREDENTIAL (kadm refuses them
	// itself, so the request is sent raw).
	req := kmsg.NewPtrAlterUserSCRAMCredentialsRequest()
	up := kmsg.NewAlterUserSCRAMCredentialsRequestUpsertion()
	up.Name, up.Mechanism, up.Iterations, up.Salt, up.SaltedPassword = "carol", 1, 1000, []byte("salt"), make([]byte, 32)
	req.Upsertions = append(req.Upsertions, up)
	resp, err := req.RequestWith(ctx, admin)
	if err != nil || len(resp.Results) != 1 || resp.Results[0].ErrorCode != kerr.UnacceptableCredential.Code {
		t.Fatalf("1000 iterations: %v %+v", err, resp)
	}
}

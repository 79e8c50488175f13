package compattests

// The client matrix of issue 18: each client over SSL, mTLS and SASL_SSL
// with PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 and OAUTHBEARER (tokens signed by
// a key the test makes, its JWKS served by the test), wherever the client
// has the mechanism: produce, consume in a group and commit, and a
// transaction where the client has them. One broker serves every mode on
// three listeners.

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/oauth"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// secMatrix is the broker every client of the matrix uses.
type secMatrix struct {
	b       *secBroker
	pki     *secPKI
	issuer  *rsa.PrivateKey
	cliCert string
	cliKey  string
}

// The modes: listener and mechanism.
var secModes = []string{"ssl", "mtls", "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"}

func newSecMatrix(t *testing.T) *secMatrix {
	t.Helper()
	m := &secMatrix{pki: newSecPKI(t)}
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	m.issuer = k
	b64 := base64.RawURLEncoding
	jwks, _ := json.Marshal(map[string]any{"keys": []map[string]string{{"kty": "RSA", "kid": "k1", "alg": "RS256",
		"n": b64.EncodeToString(k.N.Bytes()), "e": b64.EncodeToString([]byte{1, 0, 1})}}})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write(jwks) }))
	t.Cleanup(srv.Close)
	m.cliCert, m.cliKey = m.pki.client(t, "app", time.Now().Add(time.Hour))
	m.b = startSecure(t, [][2]string{{"SSL", "SSL"}, {"MTLS", "SSL"}, {"SASL", "SASL_SSL"}},
		"--ssl.keystore.location="+m.pki.Broker,
		"--ssl.truststore.location="+m.pki.CA,
		"--listener.name.mtls.ssl.client.auth=required",
		"--sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512,OAUTHBEARER",
		"--sasl.oauthbearer.jwks.endpoint.url="+srv.URL,
		"--sasl.oauthbearer.expected.audience=streamhouse",
		"--add-scram=SCRAM-SHA-256=[name=alice,password=alice-secret]",
		"--add-scram=SCRAM-SHA-512=[name=alice,password=alice-secret]",
		"--fsync=false",
		"--group.initial.rebalance.delay.ms=0",
	)
	return m
}

// token is a JWT for alice, valid for an hour.
func (m *secMatrix) token(t testing.TB) string {
	b64 := base64.RawURLEncoding
	hdr, _ := json.Marshal(map[string]string{"alg": "RS256", "kid": "k1"})
	body, _ := json.Marshal(map[string]any{"sub": "alice", "aud": "streamhouse", "exp": time.Now().Add(time.Hour).Unix()})
	signing := b64.EncodeToString(hdr) + "." + b64.EncodeToString(body)
	d := sha256.Sum256([]byte(signing))
	sig, err := rsa.SignPKCS1v15(rand.Reader, m.issuer, crypto.SHA256, d[:])
	if err != nil {
		t.Fatal(err)
	}
	return signing + "." + b64.EncodeToString(sig)
}

func (m *secMatrix) addr(mode string) string {
	switch mode {
	case "ssl":
		return m.b.addrs["SSL"]
	case "mtls":
		return m.b.addrs["MTLS"]
	}
	return m.b.addrs["SASL"]
}

// kgoOpts are franz-go's options for a mode.
func (m *secMatrix) kgoOpts(t testing.TB, mode string) []kgo.Opt {
	cert := ""
	if mode == "mtls" {
		cert = m.cliCert
	}
	opts := []kgo.Opt{kgo.SeedBrokers(m.addr(mode)), kgo.DialTLSConfig(m.pki.tlsConfig(t, cert, m.cliKey))}
	var mech sasl.Mechanism
	switch mode {
	case "PLAIN":
		mech = plain.Auth{User: "alice", Pass: "alice-secret"}.AsMechanism()
	case "SCRAM-SHA-256":
		mech = scram.Auth{User: "alice", Pass: "alice-secret"}.AsSha256Mechanism()
	case "SCRAM-SHA-512":
		mech = scram.Auth{User: "alice", Pass: "alice-secret"}.AsSha512Mechanism()
	case "OAUTHBEARER":
		mech = oauth.Auth{Token: m.token(t)}.AsMechanism()
	}
	if mech != nil {
		opts = append(opts, kgo.SASL(mech))
	}
	return opts
}

func (m *secMatrix) topic(t *testing.T, client, mode string) string {
	t.Helper()
	name := strings.ToLower("sec-" + client + "-" + mode)
	cl, err := kgo.NewClient(m.kgoOpts(t, "ssl")...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := kadm.NewClient(cl).CreateTopic(fgCtx(t), 2, 1, nil, name); err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
	return name
}

func TestSecurityClientMatrix(t *testing.T) {
	t.Parallel()
	m := newSecMatrix(t)
	t.Run("franz-go", func(t *testing.T) {
		for _, mode := range secModes {
			t.Run(mode, func(t *testing.T) {
				t.Parallel()
				secFranzGo(t, m, mode)
			})
		}
	})
	t.Run("sarama", func(t *testing.T) {
		for _, mode := range secModes {
			t.Run(mode, func(t *testing.T) {
				t.Parallel()
				secSarama(t, m, mode)
			})
		}
	})
	t.Run("confluent-kafka-go", func(t *testing.T) {
		for _, mode := range secModes {
			t.Run(mode, func(t *testing.T) {
				t.Parallel()
				secConfluent(t, m, mode)
			})
		}
	})
	t.Run("kafkajs", func(t *testing.T) {
		node, _ := requireKafkajs(t)
		for _, mode := range secModes {
			t.Run(mode, func(t *testing.T) {
				t.Parallel()
				secKafkajs(t, m, node, mode)
			})
		}
	})
	t.Run("kcat", func(t *testing.T) {
		kcat := requireTool(t, "kcat")
		// Debian's librdkafka 2.0.2 is built without OIDC (no libcurl):
		// its only OAUTHBEARER token is an unsigned one, tested in
		// TestSecurityKcatOAuthUnsecured.
		for _, mode := range secModes[:5] {
			t.Run(mode, func(t *testing.T) {
				t.Parallel()
				secKcat(t, m, kcat, mode)
			})
		}
	})
}

// secFranzGo: a transaction of 10 records, then a group member reads
// them and commits.
func secFranzGo(t *testing.T, m *secMatrix, mode string) {
	topic := m.topic(t, "franz", mode)
	ctx := fgCtx(t)
	p, err := kgo.NewClient(append(m.kgoOpts(t, mode), kgo.TransactionalID("txn-franz-"+mode))...)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		p.Produce(ctx, &kgo.Record{Topic: topic, Value: fmt.Appendf(nil, "v%d", i)}, nil)
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatalf("flush: %v", err)
	}
	if err := p.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatalf("commit: %v", err)
	}
	c, err := kgo.NewClient(append(m.kgoOpts(t, mode), kgo.ConsumerGroup("g-franz-"+mode), kgo.ConsumeTopics(topic),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.DisableAutoCommit())...)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	got := 0
	for got < 10 {
		fs := c.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of 10", got)
		}
		fs.EachError(func(_ string, _ int32, err error) { t.Fatalf("fetch: %v", err) })
		got += fs.NumRecords()
	}
	if err := c.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatalf("commit offsets: %v", err)
	}
}

// saramaSCRAM adapts franz-go's SCRAM client to sarama's interface.
type saramaSCRAM struct {
	sha512 bool
	sess   sasl.Session
	first  []byte
	done   bool
}

func (s *saramaSCRAM) Begin(user, pass, _ string) error {
	a := scram.Auth{User: user, Pass: pass}
	mech := a.AsSha256Mechanism()
	if s.sha512 {
		mech = a.AsSha512Mechanism()
	}
	var err error
	s.sess, s.first, err = mech.Authenticate(context.Background(), "")
	return err
}

func (s *saramaSCRAM) Step(challenge string) (string, error) {
	if s.first != nil {
		f := s.first
		s.first = nil
		return string(f), nil
	}
	done, msg, err := s.sess.Challenge([]byte(challenge))
	s.done = done
	return string(msg), err
}

func (s *saramaSCRAM) Done() bool { return s.done }

type saramaToken string

func (t saramaToken) Token() (*sarama.AccessToken, error) {
	return &sarama.AccessToken{Token: string(t)}, nil
}

// secSarama: a transaction of 10 records, read back (read_committed) by a
// group member that commits.
func secSarama(t *testing.T, m *secMatrix, mode string) {
	topic := m.topic(t, "sarama", mode)
	c := saramaConfig(sarama.V3_6_0_0)
	cert := ""
	if mode == "mtls" {
		cert = m.cliCert
	}
	c.Net.TLS.Enable, c.Net.TLS.Config = true, m.pki.tlsConfig(t, cert, m.cliKey)
	switch mode {
	case "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER":
		c.Net.SASL.Enable, c.Net.SASL.Handshake, c.Net.SASL.Version = true, true, sarama.SASLHandshakeV1
		c.Net.SASL.Mechanism = sarama.SASLMechanism(mode)
		c.Net.SASL.User, c.Net.SASL.Password = "alice", "alice-secret"
		switch mode {
		case "SCRAM-SHA-256", "SCRAM-SHA-512":
			sha512 := mode == "SCRAM-SHA-512"
			c.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return &saramaSCRAM{sha512: sha512} }
		case "OAUTHBEARER":
			c.Net.SASL.TokenProvider = saramaToken(m.token(t))
		}
	}
	addr := m.addr(mode)
	// A transactional producer: idempotent, one request in flight.
	pc := *c
	pc.Producer.Idempotent, pc.Producer.Transaction.ID = true, "txn-sarama-"+mode
	pc.Producer.RequiredAcks, pc.Producer.Retry.Max, pc.Net.MaxOpenRequests = sarama.WaitForAll, 3, 1
	p := newSaramaSyncProducer(t, addr, &pc)
	if err := p.BeginTxn(); err != nil {
		t.Fatalf("begin: %v", err)
	}
	var msgs []*sarama.ProducerMessage
	for i := range 10 {
		msgs = append(msgs, &sarama.ProducerMessage{Topic: topic, Value: sarama.StringEncoder(fmt.Sprintf("v%d", i))})
	}
	saramaSendAll(t, p, msgs)
	if err := p.CommitTxn(); err != nil {
		t.Fatalf("commit: %v", err)
	}
	c.Consumer.Offsets.Initial = sarama.OffsetOldest
	c.Consumer.IsolationLevel = sarama.ReadCommitted
	g, err := sarama.NewConsumerGroup([]string{addr}, "g-sarama-"+mode, c)
	if err != nil {
		t.Fatalf("consumer group: %v", err)
	}
	defer g.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	h := &secSaramaHandler{want: 10, done: cancel}
	for ctx.Err() == nil {
		if err := g.Consume(ctx, []string{topic}, h); err != nil && ctx.Err() == nil {
			t.Fatalf("consume: %v", err)
		}
	}
	if h.got.Load() < 10 {
		t.Fatalf("consumed %d of 10", h.got.Load())
	}
}

type secSaramaHandler struct {
	want int64
	got  atomicInt
	done func()
}

type atomicInt struct {
	mu sync.Mutex
	n  int64
}

func (a *atomicInt) Add(d int64) int64 { a.mu.Lock(); defer a.mu.Unlock(); a.n += d; return a.n }
func (a *atomicInt) Load() int64       { a.mu.Lock(); defer a.mu.Unlock(); return a.n }

func (h *secSaramaHandler) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (h *secSaramaHandler) Cleanup(sarama.ConsumerGroupSession) error { return nil }
func (h *secSaramaHandler) ConsumeClaim(s sarama.ConsumerGroupSession, c sarama.ConsumerGroupClaim) error {
	for msg := range c.Messages() {
		s.MarkMessage(msg, "")
		if h.got.Add(1) >= h.want {
			s.Commit()
			h.done()
		}
	}
	return nil
}

// rdConfig is librdkafka's configuration for a mode.
func (m *secMatrix) rdConfig(mode string) kafka.ConfigMap {
	c := kafka.ConfigMap{"bootstrap.servers": m.addr(mode), "ssl.ca.location": m.pki.CA, "security.protocol": "SSL"}
	switch mode {
	case "mtls":
		c["ssl.certificate.location"], c["ssl.key.location"] = m.cliCert, m.cliKey
	case "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512":
		c["security.protocol"], c["sasl.mechanisms"] = "SASL_SSL", mode
		c["sasl.username"], c["sasl.password"] = "alice", "alice-secret"
	case "OAUTHBEARER":
		c["security.protocol"], c["sasl.mechanisms"] = "SASL_SSL", mode
	}
	return c
}

// rdOAuth answers librdkafka's token refresh events with a signed token.
func (m *secMatrix) rdOAuth(t *testing.T, h interface {
	SetOAuthBearerToken(kafka.OAuthBearerToken) error
}, ev kafka.Event) bool {
	if _, ok := ev.(kafka.OAuthBearerTokenRefresh); !ok {
		return false
	}
	if err := h.SetOAuthBearerToken(kafka.OAuthBearerToken{TokenValue: m.token(t), Expiration: time.Now().Add(time.Hour), Principal: "alice"}); err != nil {
		t.Errorf("set token: %v", err)
	}
	return true
}

// secConfluent: a transaction of 10 records, then a group member reads
// them (read_committed) and commits.
func secConfluent(t *testing.T, m *secMatrix, mode string) {
	topic := m.topic(t, "rd", mode)
	pc := m.rdConfig(mode)
	pc["transactional.id"] = "txn-rd-" + mode
	p, err := kafka.NewProducer(&pc)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	go func() {
		for ev := range p.Events() {
			m.rdOAuth(t, p, ev)
		}
	}()
	if mode == "OAUTHBEARER" {
		// The first token before the first request.
		p.SetOAuthBearerToken(kafka.OAuthBearerToken{TokenValue: m.token(t), Expiration: time.Now().Add(time.Hour), Principal: "alice"})
	}
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	if err := p.InitTransactions(ctx); err != nil {
		t.Fatalf("init transactions: %v", err)
	}
	if err := p.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		if err := p.Produce(&kafka.Message{TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: kafka.PartitionAny},
			Value: fmt.Appendf(nil, "v%d", i)}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.CommitTransaction(ctx); err != nil {
		t.Fatalf("commit: %v", err)
	}
	cc := m.rdConfig(mode)
	cc["group.id"], cc["auto.offset.reset"], cc["isolation.level"], cc["enable.auto.commit"] = "g-rd-"+mode, "earliest", "read_committed", false
	c, err := kafka.NewConsumer(&cc)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if mode == "OAUTHBEARER" {
		c.SetOAuthBearerToken(kafka.OAuthBearerToken{TokenValue: m.token(t), Expiration: time.Now().Add(time.Hour), Principal: "alice"})
	}
	if err := c.Subscribe(topic, nil); err != nil {
		t.Fatal(err)
	}
	got := 0
	for got < 10 && ctx.Err() == nil {
		switch ev := c.Poll(200).(type) {
		case *kafka.Message:
			got++
		case kafka.Error:
			if ev.IsFatal() {
				t.Fatalf("consumer: %v", ev)
			}
		default:
			m.rdOAuth(t, c, ev)
		}
	}
	if got < 10 {
		t.Fatalf("consumed %d of 10", got)
	}
	if _, err := c.Commit(); err != nil {
		t.Fatalf("commit offsets: %v", err)
	}
}

// secKafkajs runs testdata/kafkajs/security.js: a transaction of 10
// records, then a group member reads them and commits.
func secKafkajs(t *testing.T, m *secMatrix, node, mode string) {
	topic := m.topic(t, "js", mode)
	script, err := filepath.Abs(filepath.Join("testdata", "kafkajs", "security.js"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), kafkajsTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, script)
	cmd.Dir = filepath.Dir(script)
	env := []string{"KAFKA_BROKER=" + m.addr(mode), "KAFKA_TOPIC=" + topic, "KAFKA_MODE=" + mode, "KAFKA_SSL_CA=" + m.pki.CA}
	switch mode {
	case "mtls":
		env = append(env, "KAFKA_SSL_CERT="+m.cliCert, "KAFKA_SSL_KEY="+m.cliKey)
	case "OAUTHBEARER":
		env = append(env, "KAFKA_OAUTH_TOKEN="+m.token(t))
	}
	cmd.Env = append(os.Environ(), env...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("kafkajs %s: %v\n%s", mode, err, stderr.String())
	}
	var res struct{ Produced, Consumed int }
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &res); err != nil || res.Produced != 10 || res.Consumed != 10 {
		t.Fatalf("kafkajs %s: %s (%v)\n%s", mode, out, err, stderr.String())
	}
}

// secKcat: produce and read back with kcat (librdkafka 2.0.2).
func secKcat(t *testing.T, m *secMatrix, kcat, mode string) {
	topic := m.topic(t, "kcat", mode)
	var args []string
	for k, v := range m.rdConfig(mode) {
		if k == "bootstrap.servers" {
			args = append(args, "-b", fmt.Sprint(v))
			continue
		}
		args = append(args, "-X", fmt.Sprintf("%s=%v", k, v))
	}
	runTool(t, 30*time.Second, strings.NewReader("a\nb\nc\n"), kcat, append(args, "-P", "-t", topic)...)
	out := runTool(t, 30*time.Second, nil, kcat, append(args, "-C", "-t", topic, "-e", "-f", "%s\n")...)
	if got := strings.Fields(out); len(got) != 3 {
		t.Fatalf("consumed %q", out)
	}
}

// TestSecurityKcatOAuthUnsecured: kcat's unsigned OAUTHBEARER token
// (librdkafka's enable.sasl.oauthbearer.unsecure.jwt) is refused by a
// broker that validates tokens, and accepted only by one started with
// --oauthbearer-unsecured-dev, which says so in its log.
func TestSecurityKcatOAuthUnsecured(t *testing.T) {
	t.Parallel()
	kcat := requireTool(t, "kcat")
	pki := newSecPKI(t)
	args := func(addr string) []string {
		return []string{"-b", addr, "-X", "security.protocol=SASL_SSL", "-X", "ssl.ca.location=" + pki.CA,
			"-X", "sasl.mechanisms=OAUTHBEARER", "-X", "enable.sasl.oauthbearer.unsecure.jwt=true",
			"-X", "sasl.oauthbearer.config=principal=dev"}
	}
	dev := startSecure(t, [][2]string{{"SASL_SSL", "SASL_SSL"}}, "--ssl.keystore.location="+pki.Broker,
		"--sasl.enabled.mechanisms=OAUTHBEARER", "--oauthbearer-unsecured-dev")
	// The warning may come just after the listener answers: waited for.
	rcCheckLog(t, dev.proc, "the development setting, logged loudly", "ACCEPTS UNSIGNED TOKENS")
	runTool(t, 30*time.Second, strings.NewReader("a\n"), kcat, append(args(dev.addrs["SASL_SSL"]), "-P", "-t", "dev-topic")...)

	m := newSecMatrix(t) // validates tokens against its JWKS
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, kcat, append(args(m.addr("OAUTHBEARER")), "-L", "-m", "2")...)
	if out, err := cmd.CombinedOutput(); err == nil {
		t.Fatalf("an unsigned token was accepted by a broker that validates tokens:\n%s", out)
	}
}

// TestSecurityConfluentAdminScram: confluent-kafka-go's admin client
// (librdkafka 2.11) creates a SCRAM user, which then authenticates, and
// describes and deletes it; CreateAcls and DescribeAcls through it too.
func TestSecurityConfluentAdminScram(t *testing.T) {
	t.Parallel()
	pki := newSecPKI(t)
	b := startSecure(t, [][2]string{{"SASL_SSL", "SASL_SSL"}}, "--ssl.keystore.location="+pki.Broker,
		"--sasl.enabled.mechanisms=SCRAM-SHA-512",
		"--authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer", "--super.users=User:admin",
		"--add-scram=SCRAM-SHA-512=[name=admin,password=admin-secret]")
	conf := func(user, pass string) *kafka.ConfigMap {
		return &kafka.ConfigMap{"bootstrap.servers": b.addrs["SASL_SSL"], "security.protocol": "SASL_SSL",
			"ssl.ca.location": pki.CA, "sasl.mechanisms": "SCRAM-SHA-512", "sasl.username": user, "sasl.password": pass}
	}
	adm, err := kafka.NewAdminClient(conf("admin", "admin-secret"))
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	res, err := adm.AlterUserScramCredentials(ctx, []kafka.UserScramCredentialUpsertion{{User: "carol",
		ScramCredentialInfo: kafka.ScramCredentialInfo{Mechanism: kafka.ScramMechanismSHA512, Iterations: 8192}, Password: []byte("carol-secret")}}, nil)
	if err != nil || res.Errors["carol"].Code() != kafka.ErrNoError {
		t.Fatalf("alter: %v %v", err, res.Errors)
	}
	desc, err := adm.DescribeUserScramCredentials(ctx, []string{"carol"})
	if err != nil || len(desc.Descriptions["carol"].ScramCredentialInfos) != 1 || desc.Descriptions["carol"].ScramCredentialInfos[0].Iterations != 8192 {
		t.Fatalf("describe: %v %+v", err, desc)
	}
	acl := kafka.ACLBinding{Type: kafka.ResourceTopic, Name: "carol-", ResourcePatternType: kafka.ResourcePatternTypePrefixed,
		Principal: "User:carol", Host: "*", Operation: kafka.ACLOperationWrite, PermissionType: kafka.ACLPermissionTypeAllow}
	cr, err := adm.CreateACLs(ctx, kafka.ACLBindings{acl})
	if err != nil || cr[0].Error.Code() != kafka.ErrNoError {
		t.Fatalf("create acls: %v %+v", err, cr)
	}
	da, err := adm.DescribeACLs(ctx, kafka.ACLBindingFilter{Type: kafka.ResourceAny, ResourcePatternType: kafka.ResourcePatternTypeAny,
		Operation: kafka.ACLOperationAny, PermissionType: kafka.ACLPermissionTypeAny})
	if err != nil || len(da.ACLBindings) != 1 || da.ACLBindings[0].Principal != "User:carol" {
		t.Fatalf("describe acls: %v %+v", err, da)
	}
	p, err := kafka.NewProducer(conf("carol", "carol-secret"))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	topic := "carol-orders"
	deliveries := make(chan kafka.Event, 1)
	if err := p.Produce(&kafka.Message{TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: kafka.PartitionAny}, Value: []byte("v")}, deliveries); err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-deliveries:
		// The topic does not exist and carol may not create it: Kafka
		// refuses with TOPIC_AUTHORIZATION_FAILED or, once she may
		// write, UNKNOWN_TOPIC; either way she authenticated.
		if m, ok := ev.(*kafka.Message); ok && m.TopicPartition.Error != nil {
			if code := m.TopicPartition.Error.(kafka.Error).Code(); code == kafka.ErrAuthentication {
				t.Fatalf("carol did not authenticate: %v", m.TopicPartition.Error)
			}
		}
	case <-ctx.Done():
		t.Fatal("no delivery report")
	}
	if res, err := adm.AlterUserScramCredentials(ctx, nil, []kafka.UserScramCredentialDeletion{{User: "carol", Mechanism: kafka.ScramMechanismSHA512}}); err != nil || res.Errors["carol"].Code() != kafka.ErrNoError {
		t.Fatalf("delete: %v %v", err, res.Errors)
	}
}

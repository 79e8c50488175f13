package broker_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/oauth"

	"github.com/streamhouse/streamhouse/broker/brokertest"
)

// jwtIssuer signs RS256 tokens with a key made at run time and serves its
// JWKS over HTTP.
type jwtIssuer struct {
	key *rsa.PrivateKey
	srv *httptest.Server
}

func newJWTIssuer(t *testing.T) *jwtIssuer {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	i := &jwtIssuer{key: k}
	b64 := base64.RawURLEncoding
	jwks, _ := json.Marshal(map[string]any{"keys": []map[string]string{{"kty": "RSA", "kid": "k1", "alg": "RS256",
		"n": b64.EncodeToString(k.N.Bytes()), "e": b64.EncodeToString([]byte{1, 0, 1})}}})
	i.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write(jwks) }))
	t.Cleanup(i.srv.Close)
	return i
}

func (i *jwtIssuer) token(t *testing.T, sub string, exp time.Time) string {
	t.Helper()
	b64 := base64.RawURLEncoding
	hdr, _ := json.Marshal(map[string]string{"alg": "RS256", "kid": "k1"})
	body, _ := json.Marshal(map[string]any{"sub": sub, "aud": "streamhouse", "exp": exp.Unix()})
	signing := b64.EncodeToString(hdr) + "." + b64.EncodeToString(body)
	d := sha256.Sum256([]byte(signing))
	sig, err := rsa.SignPKCS1v15(rand.Reader, i.key, crypto.SHA256, d[:])
	if err != nil {
		t.Fatal(err)
	}
	return signing + "." + b64.EncodeToString(sig)
}

func TestOAuthBearer(t *testing.T) {
	t.Parallel()
	iss := newJWTIssuer(t)
	b := brokertest.New(t, brokertest.Options{Settings: map[string]string{
		"listeners":                                 "SASL_PLAINTEXT://127.0.0.1:0",
		"sasl.enabled.mechanisms":                   "OAUTHBEARER",
		"sasl.oauthbearer.jwks.endpoint.url":        iss.srv.URL,
		"sasl.oauthbearer.expected.audience":        "streamhouse",
		"connection.failed.authentication.delay.ms": "0",
	}})
	addr := b.ListenerAddr("SASL_PLAINTEXT")
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	// The JWKS is fetched in the background; wait until a good token
	// passes.
	ping := func(tok string) error {
		cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.SASL(oauth.Auth{Token: tok}.AsMechanism()), kgo.RequestRetries(0), kgo.RetryTimeout(time.Second))
		if err != nil {
			return err
		}
		defer cl.Close()
		pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		return cl.Ping(pctx)
	}
	var err error
	for range 50 {
		if err = ping(iss.token(t, "alice", time.Now().Add(time.Hour))); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("a good token: %v", err)
	}
	if err := ping(iss.token(t, "alice", time.Now().Add(-time.Hour))); err == nil {
		t.Fatal("an expired token authenticated")
	}
	// The session ends at the token's exp: SaslAuthenticate says so.
	c := dialRaw(t, addr)
	hs := at(kmsg.NewPtrSASLHandshakeRequest(), 1)
	hs.Mechanism = "OAUTHBEARER"
	c.do(hs)
	a := at(kmsg.NewPtrSASLAuthenticateRequest(), 2)
	a.SASLAuthBytes = []byte("n,,\x01auth=Bearer " + iss.token(t, "alice", time.Now().Add(3*time.Second)) + "\x01\x01")
	r := c.do(a).(*kmsg.SASLAuthenticateResponse)
	if r.ErrorCode != 0 || r.SessionLifetimeMillis <= 0 || r.SessionLifetimeMillis > 3000 {
		t.Fatalf("session lifetime %d, error %v", r.SessionLifetimeMillis, kerr.ErrorForCode(r.ErrorCode))
	}
}

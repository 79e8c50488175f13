package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testIssuer signs tokens with an RSA and an EC key at run time and serves
// their JWKS.
type testIssuer struct {
	rsa *rsa.PrivateKey
	ec  *ecdsa.PrivateKey
}

func newTestIssuer(t testing.TB) *testIssuer {
	t.Helper()
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ek, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	return &testIssuer{rsa: rk, ec: ek}
}

func (i *testIssuer) jwks() []byte {
	b64 := base64.RawURLEncoding
	e := []byte{1, 0, 1}
	ecb, _ := i.ec.PublicKey.Bytes() // 0x04 || X || Y
	set := map[string]any{"keys": []map[string]string{
		{"kty": "RSA", "kid": "rsa-1", "use": "sig", "alg": "RS256", "n": b64.EncodeToString(i.rsa.N.Bytes()), "e": b64.EncodeToString(e)},
		{"kty": "EC", "kid": "ec-1", "crv": "P-256", "x": b64.EncodeToString(ecb[1:33]), "y": b64.EncodeToString(ecb[33:])},
		// A symmetric key in the set must never be used.
		{"kty": "oct", "kid": "hmac-1", "k": b64.EncodeToString([]byte("shared-secret"))},
	}}
	b, _ := json.Marshal(set)
	return b
}

// sign makes a compact JWS of claims with the header's alg and kid.
func (i *testIssuer) sign(t testing.TB, alg, kid string, claims map[string]any) string {
	t.Helper()
	b64 := base64.RawURLEncoding
	hdr, _ := json.Marshal(map[string]string{"alg": alg, "kid": kid, "typ": "JWT"})
	body, _ := json.Marshal(claims)
	signing := b64.EncodeToString(hdr) + "." + b64.EncodeToString(body)
	d := sha256.Sum256([]byte(signing))
	var sig []byte
	var err error
	switch alg {
	case "RS256":
		sig, err = rsa.SignPKCS1v15(rand.Reader, i.rsa, crypto.SHA256, d[:])
	case "PS256":
		sig, err = rsa.SignPSS(rand.Reader, i.rsa, crypto.SHA256, d[:], &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
	case "ES256":
		r, s, e := ecdsa.Sign(rand.Reader, i.ec, d[:])
		err = e
		sig = append(r.FillBytes(make([]byte, 32)), s.FillBytes(make([]byte, 32))...)
	case "none":
	}
	if err != nil {
		t.Fatal(err)
	}
	return signing + "." + b64.EncodeToString(sig)
}

func TestOAuthValidate(t *testing.T) {
	t.Parallel()
	iss := newTestIssuer(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write(iss.jwks()) }))
	defer srv.Close()
	now := time.Now()
	o, err := NewOAuth(OAuthConfig{JWKSURL: srv.URL, Audience: []string{"kafka"}, Issuer: "https://idp.test",
		ClockSkew: 30 * time.Second, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	if err := o.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	good := func() map[string]any {
		return map[string]any{"sub": "alice", "aud": "kafka", "iss": "https://idp.test", "exp": now.Add(time.Hour).Unix(), "iat": now.Unix(), "scope": "produce consume"}
	}
	with := func(k string, v any) map[string]any {
		c := good()
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
		return c
	}
	// The public key in PEM-less DER, as an attacker who read the JWKS has
	// it, used as an HMAC key.
	pubDER, _ := x509.MarshalPKIXPublicKey(&iss.rsa.PublicKey)
	hmacWithPublic := func() string {
		b64 := base64.RawURLEncoding
		hdr, _ := json.Marshal(map[string]string{"alg": "HS256", "kid": "rsa-1"})
		body, _ := json.Marshal(good())
		signing := b64.EncodeToString(hdr) + "." + b64.EncodeToString(body)
		m := hmac.New(sha256.New, pubDER)
		m.Write([]byte(signing))
		return signing + "." + b64.EncodeToString(m.Sum(nil))
	}
	hmacWithOct := func() string {
		b64 := base64.RawURLEncoding
		hdr, _ := json.Marshal(map[string]string{"alg": "HS256", "kid": "hmac-1"})
		body, _ := json.Marshal(good())
		signing := b64.EncodeToString(hdr) + "." + b64.EncodeToString(body)
		m := hmac.New(sha256.New, []byte("shared-secret"))
		m.Write([]byte(signing))
		return signing + "." + b64.EncodeToString(m.Sum(nil))
	}
	other := newTestIssuer(t)
	for _, tc := range []struct {
		name  string
		token string
		ok    bool
	}{
		{"RS256", iss.sign(t, "RS256", "rsa-1", good()), true},
		{"PS256", iss.sign(t, "PS256", "rsa-1", good()), false}, // the JWKS entry says alg RS256
		{"ES256", iss.sign(t, "ES256", "ec-1", good()), true},
		{"audience in a list", iss.sign(t, "RS256", "rsa-1", with("aud", []string{"other", "kafka"})), true},
		{"within the clock skew", iss.sign(t, "RS256", "rsa-1", with("exp", now.Add(-10*time.Second).Unix())), true},
		{"alg none", iss.sign(t, "none", "rsa-1", good()), false},
		{"expired", iss.sign(t, "RS256", "rsa-1", with("exp", now.Add(-time.Minute).Unix())), false},
		{"no exp", iss.sign(t, "RS256", "rsa-1", with("exp", nil)), false},
		{"not yet valid", iss.sign(t, "RS256", "rsa-1", with("nbf", now.Add(time.Hour).Unix())), false},
		{"wrong audience", iss.sign(t, "RS256", "rsa-1", with("aud", "other")), false},
		{"no audience", iss.sign(t, "RS256", "rsa-1", with("aud", nil)), false},
		{"wrong issuer", iss.sign(t, "RS256", "rsa-1", with("iss", "https://evil.test")), false},
		{"no subject", iss.sign(t, "RS256", "rsa-1", with("sub", nil)), false},
		{"key not in the JWKS", other.sign(t, "RS256", "rsa-1", good()), false},
		{"unknown kid", iss.sign(t, "RS256", "rsa-9", good()), false},
		{"HMAC signed with the public key", hmacWithPublic(), false},
		{"HMAC with a symmetric key from the JWKS", hmacWithOct(), false},
		{"tampered payload", func() string {
			tok := iss.sign(t, "RS256", "rsa-1", good())
			b64 := base64.RawURLEncoding
			body, _ := json.Marshal(with("sub", "admin"))
			parts := splitJWS(tok)
			return parts[0] + "." + b64.EncodeToString(body) + "." + parts[2]
		}(), false},
		{"not a JWS", "abc.def", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sub, exp, err := o.Validate(t.Context(), tc.token)
			if tc.ok != (err == nil) {
				t.Fatalf("err = %v, want ok=%v", err, tc.ok)
			}
			if err != nil {
				if !errors.Is(err, ErrAuthentication) {
					t.Fatalf("%v does not wrap ErrAuthentication", err)
				}
				return
			}
			if sub != "alice" || exp.IsZero() {
				t.Fatalf("sub %q exp %v", sub, exp)
			}
		})
	}
}

func splitJWS(s string) [3]string {
	var out [3]string
	i := 0
	for j := 0; j < len(s); j++ {
		if s[j] == '.' {
			i++
			continue
		}
		out[i] += string(s[j])
	}
	return out
}

// TestOAuthFailsClosed: with no keys (the JWKS endpoint down from the
// start) every token is refused.
func TestOAuthFailsClosed(t *testing.T) {
	t.Parallel()
	iss := newTestIssuer(t)
	o, err := NewOAuth(OAuthConfig{JWKSURL: "file://" + filepath.Join(t.TempDir(), "missing.json")})
	if err != nil {
		t.Fatal(err)
	}
	if err := o.Refresh(t.Context()); err == nil {
		t.Fatal("a missing JWKS file loaded")
	}
	tok := iss.sign(t, "RS256", "rsa-1", map[string]any{"sub": "a", "exp": time.Now().Add(time.Hour).Unix()})
	if _, _, err := o.Validate(t.Context(), tok); !errors.Is(err, ErrAuthentication) {
		t.Fatalf("validated without keys: %v", err)
	}
	// The file appears: the unknown kid triggers a refresh.
	path := filepath.Join(t.TempDir(), "jwks.json")
	os.WriteFile(path, iss.jwks(), 0o600)
	o2, _ := NewOAuth(OAuthConfig{JWKSURL: "file://" + path, RefreshMissing: time.Nanosecond})
	if _, _, err := o2.Validate(t.Context(), tok); err != nil {
		t.Fatalf("after the JWKS appeared: %v", err)
	}
	if _, err := NewOAuth(OAuthConfig{JWKSURL: "x", AlgorithmsAllow: []string{"HS256"}}); err == nil {
		t.Fatal("HS256 allowed")
	}
	if _, err := NewOAuth(OAuthConfig{}); err == nil {
		t.Fatal("no JWKS URL accepted")
	}
}

func TestParseOAuthBearerInitial(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		msg, authz, tok string
		ok              bool
	}{
		{"n,,\x01auth=Bearer abc.def.ghi\x01\x01", "", "abc.def.ghi", true},
		{"n,a=alice,\x01auth=Bearer a.b.c\x01host=h\x01port=9092\x01\x01", "alice", "a.b.c", true},
		{"y,,\x01auth=Bearer a.b.c\x01\x01", "", "", false},
		{"n,,\x01auth=Basic a.b.c\x01\x01", "", "", false},
		{"n,,\x01auth=Bearer a b\x01\x01", "", "", false},
		{"n,,\x01auth=Bearer a.b.c\x01", "", "", false},
		{"n,,\x01host=h\x01\x01", "", "", false},
		{"n,,\x01auth=Bearer a\x01auth=Bearer b\x01\x01", "", "", false},
		{"", "", "", false},
	} {
		authz, tok, err := ParseOAuthBearerInitial([]byte(tc.msg))
		if tc.ok != (err == nil) || authz != tc.authz || tok != tc.tok {
			t.Errorf("%q: %q %q %v", tc.msg, authz, tok, err)
		}
	}
}

func FuzzParseOAuthBearerInitial(f *testing.F) {
	f.Add([]byte("n,,\x01auth=Bearer abc.def.ghi\x01\x01"))
	f.Add([]byte("n,a=alice,\x01auth=Bearer a.b.c\x01host=h\x01\x01"))
	f.Fuzz(func(t *testing.T, msg []byte) {
		authz, tok, err := ParseOAuthBearerInitial(msg)
		if err != nil {
			return
		}
		// What is accepted is framed as RFC 7628 frames it and carries
		// the token verbatim after "auth=Bearer ".
		m := string(msg)
		if !strings.HasPrefix(m, "n,") || !strings.HasSuffix(m, "\x01\x01") || tok == "" ||
			!strings.Contains(m, "\x01auth=Bearer "+tok+"\x01") {
			t.Fatalf("accepted %q: authz %q token %q", msg, authz, tok)
		}
		if authz != "" && !strings.HasPrefix(m, "n,a=") {
			t.Fatalf("authz %q from %q", authz, msg)
		}
	})
}

// TestOAuthUnsecured: unsigned tokens pass only with Unsecured, and their
// claims are still checked.
func TestOAuthUnsecured(t *testing.T) {
	t.Parallel()
	iss := newTestIssuer(t)
	claims := map[string]any{"sub": "dev", "exp": time.Now().Add(time.Hour).Unix()}
	unsigned := iss.sign(t, "none", "", claims)
	o, err := NewOAuth(OAuthConfig{Unsecured: true})
	if err != nil {
		t.Fatal(err)
	}
	if sub, _, err := o.Validate(t.Context(), unsigned); err != nil || sub != "dev" {
		t.Fatalf("unsecured: %q %v", sub, err)
	}
	expired := iss.sign(t, "none", "", map[string]any{"sub": "dev", "exp": time.Now().Add(-time.Hour).Unix()})
	if _, _, err := o.Validate(t.Context(), expired); err == nil {
		t.Fatal("an expired unsecured token passed")
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write(iss.jwks()) }))
	defer srv.Close()
	secured, _ := NewOAuth(OAuthConfig{JWKSURL: srv.URL})
	secured.Refresh(t.Context())
	if _, _, err := secured.Validate(t.Context(), unsigned); err == nil {
		t.Fatal("an unsigned token passed without Unsecured")
	}
}

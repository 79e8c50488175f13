package auth

import (
	"context"
	"crypto/pbkdf2"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// users is a credential store for tests.
type users map[string]map[Mechanism]Credential

func (u users) lookup(_ context.Context, user string, m Mechanism) (Credential, bool, error) {
	c, ok := u[user][m]
	return c, ok, nil
}

func newUsers(t testing.TB, pw map[string]string) users {
	t.Helper()
	u := users{}
	for name, p := range pw {
		u[name] = map[Mechanism]Credential{}
		for _, m := range []Mechanism{ScramSHA256, ScramSHA512} {
			c, err := NewRandomCredential(m, p, MinIterations)
			if err != nil {
				t.Fatal(err)
			}
			u[name][m] = c
		}
	}
	return u
}

// TestScramWithFranzGo runs the exchange against franz-go's client, an
// implementation independent of ours.
func TestScramWithFranzGo(t *testing.T) {
	t.Parallel()
	u := newUsers(t, map[string]string{"alice": "s3cret", "we,ird=name": "pw"})
	for _, m := range []Mechanism{ScramSHA256, ScramSHA512} {
		for _, tc := range []struct {
			name, user, pass string
			ok               bool
		}{
			{"right password", "alice", "s3cret", true},
			{"escaped user name", "we,ird=name", "pw", true},
			{"wrong password", "alice", "S3cret", false},
			{"unknown user", "bob", "s3cret", false},
		} {
			t.Run(m.String()+"/"+tc.name, func(t *testing.T) {
				a := scram.Auth{User: tc.user, Pass: tc.pass}
				mech := a.AsSha256Mechanism()
				if m == ScramSHA512 {
					mech = a.AsSha512Mechanism()
				}
				sess, first, err := mech.Authenticate(t.Context(), "broker")
				if err != nil {
					t.Fatal(err)
				}
				srv := NewScramServer(m, u.lookup, NewSecret())
				msg := first
				for i := 0; ; i++ {
					resp, done, err := srv.Step(t.Context(), msg)
					if err != nil {
						if tc.ok {
							t.Fatalf("server step %d: %v", i, err)
						}
						if !errors.Is(err, ErrAuthentication) {
							t.Fatalf("error %v does not wrap ErrAuthentication", err)
						}
						return
					}
					cdone, next, err := sess.Challenge(resp)
					if err != nil {
						t.Fatalf("client: %v", err)
					}
					if done {
						if !tc.ok {
							t.Fatal("authenticated with a wrong password")
						}
						if !cdone {
							t.Fatal("client not done after server-final")
						}
						if srv.User() != tc.user {
							t.Fatalf("user %q, want %q", srv.User(), tc.user)
						}
						return
					}
					msg = next
				}
			})
		}
	}
}

// client is a hand-made SCRAM client whose messages tests can spoil.
type client struct {
	m        Mechanism
	user, pw string
	gs2      string
	nonce    string
	bare     string
}

func newClient(m Mechanism, user, pw string) *client {
	c := &client{m: m, user: user, pw: pw, gs2: "n,,", nonce: "fyko+d2lbbFgONRv9qkxdawL"}
	c.bare = "n=" + EncodeSaslName(user) + ",r=" + c.nonce
	return c
}

func (c *client) first() string { return c.gs2 + c.bare }

// final computes the client-final-message for serverFirst with the given
// channel binding and nonce (the right ones when empty).
func (c *client) final(t *testing.T, serverFirst, cbind, nonce string) string {
	t.Helper()
	return c.finalTB(t, serverFirst, cbind, nonce)
}

func (c *client) finalFor(t testing.TB, serverFirst string) string {
	return c.finalTB(t, serverFirst, "", "")
}

func (c *client) finalTB(t testing.TB, serverFirst, cbind, nonce string) string {
	t.Helper()
	var salt []byte
	var iters int
	var snonce string
	for _, a := range strings.Split(serverFirst, ",") {
		switch {
		case strings.HasPrefix(a, "r="):
			snonce = a[2:]
		case strings.HasPrefix(a, "s="):
			salt, _ = base64.StdEncoding.DecodeString(a[2:])
		case strings.HasPrefix(a, "i="):
			iters, _ = strconv.Atoi(a[2:])
		}
	}
	if cbind == "" {
		cbind = base64.StdEncoding.EncodeToString([]byte(c.gs2))
	}
	if nonce == "" {
		nonce = snonce
	}
	without := "c=" + cbind + ",r=" + nonce
	salted, err := pbkdf2.Key(c.m.hash(), c.pw, salt, iters, c.m.size())
	if err != nil {
		t.Fatal(err)
	}
	clientKey := hmacSum(c.m, salted, "Client Key")
	h := c.m.hash()()
	h.Write(clientKey)
	sig := hmacSum(c.m, h.Sum(nil), c.bare+","+serverFirst+","+without)
	proof := make([]byte, len(sig))
	for i := range sig {
		proof[i] = clientKey[i] ^ sig[i]
	}
	return without + ",p=" + base64.StdEncoding.EncodeToString(proof)
}

func TestScramNegative(t *testing.T) {
	t.Parallel()
	u := newUsers(t, map[string]string{"alice": "s3cret"})
	m := ScramSHA256
	run := func(t *testing.T, c *client, spoil func(sf string, final string) string) error {
		t.Helper()
		srv := NewScramServer(m, u.lookup, NewSecret())
		sf, _, err := srv.Step(t.Context(), []byte(c.first()))
		if err != nil {
			return err
		}
		final := c.final(t, string(sf), "", "")
		if spoil != nil {
			final = spoil(string(sf), final)
		}
		resp, done, err := srv.Step(t.Context(), []byte(final))
		if err == nil && (!done || !strings.HasPrefix(string(resp), "v=")) {
			t.Fatalf("no error, yet done=%v resp=%q", done, resp)
		}
		return err
	}
	if err := run(t, newClient(m, "alice", "s3cret"), nil); err != nil {
		t.Fatalf("the unspoiled exchange fails: %v", err)
	}
	cases := []struct {
		name   string
		client func() *client
		spoil  func(sf, final string) string
	}{
		{"wrong password", func() *client { return newClient(m, "alice", "nope") }, nil},
		{"unknown user", func() *client { return newClient(m, "mallory", "s3cret") }, nil},
		{"truncated final nonce", nil, func(sf, final string) string {
			return respell(final, func(n string) string { return n[:len(n)-1] })
		}},
		{"final nonce of the client only", nil, func(sf, final string) string {
			return respell(final, func(string) string { return "fyko+d2lbbFgONRv9qkxdawL" })
		}},
		{"final nonce with extra bytes", nil, func(sf, final string) string {
			return respell(final, func(n string) string { return n + "x" })
		}},
		{"final nonce with a prefix other than the client nonce", nil, func(sf, final string) string {
			return respell(final, func(n string) string { return "x" + n })
		}},
		{"final nonce with the client nonce twice but a truncated rest", nil, func(sf, final string) string {
			return respell(final, func(n string) string { return "fyko+d2lbbFgONRv9qkxdawL" + n[:len(n)-1] })
		}},
		{"channel binding flag y instead of n", nil, func(sf, final string) string {
			return strings.Replace(final, "c=biws", "c="+base64.StdEncoding.EncodeToString([]byte("y,,")), 1)
		}},
		{"channel binding empty", nil, func(sf, final string) string {
			return strings.Replace(final, "c=biws", "c=", 1)
		}},
		{"proof truncated", nil, func(sf, final string) string {
			i := strings.LastIndex(final, ",p=")
			p, _ := base64.StdEncoding.DecodeString(final[i+3:])
			return final[:i] + ",p=" + base64.StdEncoding.EncodeToString(p[:len(p)-1])
		}},
		{"proof flipped bit", nil, func(sf, final string) string {
			i := strings.LastIndex(final, ",p=")
			p, _ := base64.StdEncoding.DecodeString(final[i+3:])
			p[0] ^= 1
			return final[:i] + ",p=" + base64.StdEncoding.EncodeToString(p)
		}},
		{"no proof", nil, func(sf, final string) string {
			return final[:strings.LastIndex(final, ",p=")]
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newClient(m, "alice", "s3cret")
			if tc.client != nil {
				c = tc.client()
			}
			err := run(t, c, tc.spoil)
			if !errors.Is(err, ErrAuthentication) {
				t.Fatalf("err = %v, want ErrAuthentication", err)
			}
		})
	}
}

// respell replaces the r= value of a client-final-message and recomputes
// nothing: the proof stays the one for the right nonce, which is what a
// client (or an attacker) that changed only the nonce would send.
func respell(final string, f func(string) string) string {
	parts := strings.Split(final, ",")
	for i, p := range parts {
		if strings.HasPrefix(p, "r=") {
			parts[i] = "r=" + f(p[2:])
		}
	}
	return strings.Join(parts, ",")
}

// TestScramLibrdkafka202DoubledNonce: librdkafka 2.0.2 (Debian's kcat)
// sends its client nonce again before the combined nonce in the final
// message, and signs that message; Kafka accepts it (it checks only that
// the final nonce ends with the combined one), so this form, and only it,
// is accepted.
func TestScramLibrdkafka202DoubledNonce(t *testing.T) {
	t.Parallel()
	u := newUsers(t, map[string]string{"alice": "s3cret"})
	c := newClient(ScramSHA256, "alice", "s3cret")
	srv := NewScramServer(ScramSHA256, u.lookup, NewSecret())
	sf, _, err := srv.Step(t.Context(), []byte(c.first()))
	if err != nil {
		t.Fatal(err)
	}
	combined := strings.TrimPrefix(strings.Split(string(sf), ",")[0], "r=")
	final := c.final(t, string(sf), "", c.nonce+combined) // signed as librdkafka signs it
	if _, done, err := srv.Step(t.Context(), []byte(final)); err != nil || !done {
		t.Fatalf("librdkafka 2.0.2's final message: done=%v err=%v", done, err)
	}
}

// TestScramReplayedProof: a proof that authenticated one connection is
// refused on another, whose server nonce differs.
func TestScramReplayedProof(t *testing.T) {
	t.Parallel()
	u := newUsers(t, map[string]string{"alice": "s3cret"})
	c := newClient(ScramSHA512, "alice", "s3cret")
	srv1 := NewScramServer(ScramSHA512, u.lookup, NewSecret())
	sf1, _, err := srv1.Step(t.Context(), []byte(c.first()))
	if err != nil {
		t.Fatal(err)
	}
	final1 := c.final(t, string(sf1), "", "")
	if _, done, err := srv1.Step(t.Context(), []byte(final1)); err != nil || !done {
		t.Fatalf("first connection: done=%v err=%v", done, err)
	}
	srv2 := NewScramServer(ScramSHA512, u.lookup, NewSecret())
	if _, _, err := srv2.Step(t.Context(), []byte(c.first())); err != nil {
		t.Fatal(err)
	}
	if _, _, err := srv2.Step(t.Context(), []byte(final1)); !errors.Is(err, ErrAuthentication) {
		t.Fatalf("replayed final message: err = %v, want ErrAuthentication", err)
	}
}

func TestScramClientFirstRefused(t *testing.T) {
	t.Parallel()
	u := newUsers(t, map[string]string{"alice": "s3cret"})
	for _, msg := range []string{
		"",
		"n",
		"n,",
		"p=tls-unique,,n=alice,r=abc",     // channel binding asked for
		"x,,n=alice,r=abc",                // bad flag
		"n,,m=ext,n=alice,r=abc",          // mandatory extension
		"n,,n=alice",                      // no nonce
		"n,,r=abc,n=alice",                // wrong order
		"n,,n=,r=abc",                     // empty user
		"n,,n=al=ice,r=abc",               // bad escape
		"n,,n=alice,r=",                   // empty nonce
		"n,,n=alice,r=a,b",                // bad extension
		"n,a=bob,n=alice,r=abc",           // authzid other than the user
		"n,b=alice,n=alice,r=abc",         // not an authzid
		"n,,n=alice,r=abc,tokenauth=true", // a token, without a token store
		"n,,n=al\x00ice,r=abc",
	} {
		srv := NewScramServer(ScramSHA256, u.lookup, NewSecret())
		if _, _, err := srv.Step(t.Context(), []byte(msg)); !errors.Is(err, ErrAuthentication) {
			t.Errorf("%q: err = %v, want ErrAuthentication", msg, err)
		}
	}
	// The authorization id may name the user itself.
	srv := NewScramServer(ScramSHA256, u.lookup, NewSecret())
	if _, _, err := srv.Step(t.Context(), []byte("n,a=alice,n=alice,r=abc")); err != nil {
		t.Errorf("authzid equal to the user: %v", err)
	}
}

// TestScramUnknownUserSalt: an unknown user gets a salt that is stable
// from one try to the next, as a real user's is, and the default
// iterations.
func TestScramUnknownUserSalt(t *testing.T) {
	t.Parallel()
	u := users{}
	secret := NewSecret()
	var firsts []string
	for range 2 {
		srv := NewScramServer(ScramSHA256, u.lookup, secret)
		sf, _, err := srv.Step(t.Context(), []byte("n,,n=ghost,r=abc"))
		if err != nil {
			t.Fatal(err)
		}
		_, rest, _ := strings.Cut(string(sf), ",")
		firsts = append(firsts, rest)
	}
	if firsts[0] != firsts[1] {
		t.Fatalf("unknown user's salt changed: %q vs %q", firsts[0], firsts[1])
	}
	if !strings.HasSuffix(firsts[0], ",i=4096") {
		t.Fatalf("server-first %q", firsts[0])
	}
}

// TestCredentialRFC7677 checks the derivation against RFC 7677's example
// (SCRAM-SHA-256, user "user", password "pencil").
func TestCredentialRFC7677(t *testing.T) {
	t.Parallel()
	salt, _ := base64.StdEncoding.DecodeString("W22ZaJ0SNY7soEsUEjb6gQ==")
	cred, err := NewCredential(ScramSHA256, "pencil", salt, 4096)
	if err != nil {
		t.Fatal(err)
	}
	u := users{"user": {ScramSHA256: cred}}
	srv := NewScramServer(ScramSHA256, u.lookup, NewSecret())
	// Fix the server nonce to the RFC's by driving the steps by hand.
	if _, _, err := srv.Step(t.Context(), []byte("n,,n=user,r=rOprNGfwEbeRWgbNEkqO")); err != nil {
		t.Fatal(err)
	}
	srv.nonce = "rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
	srv.serverFirst = "r=" + srv.nonce + ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
	resp, done, err := srv.Step(t.Context(), []byte("c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="))
	if err != nil || !done {
		t.Fatalf("done=%v err=%v", done, err)
	}
	if want := "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="; string(resp) != want {
		t.Fatalf("server-final %q, want %q", resp, want)
	}
}

// BenchmarkScramServer: the server's side of one exchange that fails at
// the proof, for a known user with a wrong password and for an unknown
// user: the two should cost the same (no timing tells a prober which
// users exist).
func BenchmarkScramServer(b *testing.B) {
	u := newUsers(b, map[string]string{"alice": "s3cret"})
	secret := NewSecret()
	for _, user := range []string{"alice", "mallory"} {
		b.Run(user, func(b *testing.B) {
			c := newClient(ScramSHA512, user, "wrong")
			srv := NewScramServer(ScramSHA512, u.lookup, secret)
			sf, _, _ := srv.Step(b.Context(), []byte(c.first()))
			final := []byte(c.finalFor(b, string(sf)))
			b.ResetTimer()
			for range b.N {
				srv := NewScramServer(ScramSHA512, u.lookup, secret)
				srv.Step(b.Context(), []byte(c.first()))
				srv.nonce = strings.TrimPrefix(strings.Split(string(sf), ",")[0], "r=")
				srv.serverFirst = string(sf)
				if _, _, err := srv.Step(b.Context(), final); err == nil {
					b.Fatal("authenticated")
				}
			}
		})
	}
}

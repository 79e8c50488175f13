package auth

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// TestTokenHMAC: Kafka's HMAC of a token (HMAC-SHA512 of the ID under the
// key), against openssl:
//
//	echo -n token-id-1 | openssl dgst -sha512 -hmac a-secret -binary | base64 -w0
func TestTokenHMAC(t *testing.T) {
	t.Parallel()
	const want = "UWjORycohuyi9cecHuZ582PHCRbfdb2uZOnVUnuhQ6DOvifR6DuaUnlVG/VnC0gU/cPBEBqATNUJuwy15SrRUg=="
	if got := TokenPassword(TokenHMAC("a-secret", "token-id-1")); got != want {
		t.Fatalf("TokenPassword(TokenHMAC) = %s, want %s", got, want)
	}
	if a, b := NewTokenID(), NewTokenID(); a == b || len(a) != 22 {
		t.Fatalf("token ids %q %q", a, b)
	}
}

// TestScramDelegationToken: franz-go's client with IsToken (the
// tokenauth=true extension) against the server with a token store: the
// token authenticates its owner; a token is never a password and a
// password never a token.
func TestScramDelegationToken(t *testing.T) {
	t.Parallel()
	const key, id = "a-secret", "tok-1"
	u := newUsers(t, map[string]string{"alice": "s3cret"})
	expiry := time.Now().Add(time.Hour).Truncate(time.Millisecond)
	tokens := func(_ context.Context, tid string, m Mechanism) (Token, bool, error) {
		if tid != id {
			return Token{}, false, nil
		}
		c, err := TokenCredential(m, key, tid)
		return Token{Credential: c, Owner: "alice", Expiry: expiry}, err == nil, err
	}
	pw := TokenPassword(TokenHMAC(key, id))
	for _, tc := range []struct {
		name, user, pass string
		isToken, ok      bool
		withTokens       bool
	}{
		{"token", id, pw, true, true, true},
		{"wrong hmac", id, TokenPassword(TokenHMAC("other-key", id)), true, false, true},
		{"unknown token", "tok-2", pw, true, false, true},
		{"token as a password", id, pw, false, false, true},
		{"password as a token", "alice", "s3cret", true, false, true},
		{"tokens disabled", id, pw, true, false, false},
	} {
		for _, m := range []Mechanism{ScramSHA256, ScramSHA512} {
			t.Run(tc.name+"/"+m.String(), func(t *testing.T) {
				a := scram.Auth{User: tc.user, Pass: tc.pass, IsToken: tc.isToken}
				mech := a.AsSha256Mechanism()
				if m == ScramSHA512 {
					mech = a.AsSha512Mechanism()
				}
				sess, msg, err := mech.Authenticate(t.Context(), "broker")
				if err != nil {
					t.Fatal(err)
				}
				srv := NewScramServer(m, u.lookup, NewSecret())
				if tc.withTokens {
					srv.WithTokens(tokens)
				}
				for {
					resp, done, err := srv.Step(t.Context(), msg)
					if err != nil {
						if tc.ok || !errors.Is(err, ErrAuthentication) {
							t.Fatalf("server: %v", err)
						}
						if srv.TokenAuth() != nil {
							t.Fatal("a failed exchange reports a token")
						}
						return
					}
					if done {
						tok := srv.TokenAuth()
						if !tc.ok || tok == nil || tok.Owner != "alice" || !tok.Expiry.Equal(expiry) || srv.User() != id {
							t.Fatalf("authenticated: ok=%v token %+v user %q", tc.ok, tok, srv.User())
						}
						if _, msg, err = sess.Challenge(resp); err != nil {
							t.Fatalf("client refused the server's final message: %v", err)
						}
						return
					}
					if _, msg, err = sess.Challenge(resp); err != nil {
						t.Fatal(err)
					}
				}
			})
		}
	}
}

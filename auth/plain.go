package auth

import (
	"context"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/subtle"
	"fmt"
	"strings"
	"unicode/utf8"
)

func validUTF8(s string) bool { return utf8.ValidString(s) }

// ParsePlain splits a SASL PLAIN message (RFC 4616): authzid NUL authcid
// NUL passwd. As Kafka's PlainSaslServer it wants exactly three fields, a
// user name and a password, and an authorization id that is empty or the
// user's own.
func ParsePlain(msg []byte) (authzid, user, password string, err error) {
	parts := strings.Split(string(msg), "\x00")
	if len(parts) != 3 {
		return "", "", "", failf("plain: expected 3 fields, got %d", len(parts))
	}
	authzid, user, password = parts[0], parts[1], parts[2]
	switch {
	case user == "":
		return "", "", "", failf("plain: user name not specified")
	case password == "":
		return "", "", "", failf("plain: password not specified for user %q", user)
	case authzid != "" && authzid != user:
		return "", "", "", failf("plain: authorization id %q differs from user %q", authzid, user)
	case !validUTF8(user) || !validUTF8(authzid):
		return "", "", "", failf("plain: user name is not UTF-8")
	}
	return authzid, user, password, nil
}

// Passwords checks a user name and password against the SCRAM credentials:
// the one user store behind SASL PLAIN and any other front door that takes
// a password (the schema registry's HTTP basic auth). A password is right
// when it derives the stored key of the user's SCRAM-SHA-512 credential, or
// of the SCRAM-SHA-256 one when the user has only that.
//
// The check costs what SCRAM's key derivation costs (4096 iterations of
// PBKDF2 at least) whether the user exists or not, and the comparison is in
// constant time, so neither the answer nor its time tells a prober which
// users exist.
type Passwords struct {
	Lookup Lookup
	// Secret makes unknown users' dummy salts; see ScramServer.
	Secret []byte
}

// Check returns nil when password is user's, an error wrapping
// ErrAuthentication when it is not (or the user is unknown), and another
// error when the lookup failed.
func (p *Passwords) Check(ctx context.Context, user, password string) error {
	if user == "" || password == "" {
		// Kafka refuses both before looking anything up; so does the
		// broker (ParsePlain). A caller that did not check still gets
		// a refusal: an empty password matches nothing.
		return failf("plain: empty user name or password")
	}
	cred, ok, err := p.Lookup(ctx, user, ScramSHA512)
	if err != nil {
		return fmt.Errorf("plain: look up credential: %w", err)
	}
	if !ok {
		if cred, ok, err = p.Lookup(ctx, user, ScramSHA256); err != nil {
			return fmt.Errorf("plain: look up credential: %w", err)
		}
	}
	if ok && (!cred.Mechanism.Valid() || len(cred.StoredKey) != cred.Mechanism.size() || cred.Iterations < 1) {
		ok = false
	}
	if !ok {
		// Spend the same time on a made-up credential.
		s := &ScramServer{mech: ScramSHA512, secret: p.Secret}
		cred = s.unknownCredential(user)
	}
	salted, err := pbkdf2.Key(cred.Mechanism.hash(), password, cred.Salt, cred.Iterations, cred.Mechanism.size())
	if err != nil {
		return failf("plain: %v", err)
	}
	clientKey := hmacSum(cred.Mechanism, salted, "Client Key")
	h := cred.Mechanism.hash()()
	h.Write(clientKey)
	match := subtle.ConstantTimeCompare(h.Sum(nil), cred.StoredKey) == 1
	if !match || !ok {
		return failf("plain: wrong password or unknown user %q", user)
	}
	return nil
}

// NewSecret returns a random server secret for unknown users' dummy salts.
// It must not be derivable from anything a client sees (the cluster id is
// public): with it a prober could compute the dummy salt and tell an
// unknown user from a real one. A broker keeps one for its life; across a
// restart an unknown user's salt changes, which only someone who watches
// the same name before and after a restart can see.
func NewSecret() []byte {
	b := make([]byte, 32)
	rand.Read(b)
	return b
}

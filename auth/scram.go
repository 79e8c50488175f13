package auth

import (
	"context"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"strings"
	"time"
)

// Mechanism is a SCRAM mechanism. Its values are the codes Kafka's
// DescribeUserScramCredentials and AlterUserScramCredentials carry.
type Mechanism int8

// The SCRAM mechanisms Kafka knows.
const (
	ScramSHA256 Mechanism = 1
	ScramSHA512 Mechanism = 2
)

// Iteration bounds, as Kafka's AlterUserScramCredentials enforces them.
const (
	MinIterations = 4096
	MaxIterations = 16384
)

// String is the SASL mechanism name.
func (m Mechanism) String() string {
	switch m {
	case ScramSHA256:
		return "SCRAM-SHA-256"
	case ScramSHA512:
		return "SCRAM-SHA-512"
	}
	return "UNKNOWN"
}

// ParseMechanism returns the mechanism named name (SCRAM-SHA-256 or
// SCRAM-SHA-512, upper case as SASL names are).
func ParseMechanism(name string) (Mechanism, bool) {
	switch name {
	case "SCRAM-SHA-256":
		return ScramSHA256, true
	case "SCRAM-SHA-512":
		return ScramSHA512, true
	}
	return 0, false
}

// Valid reports whether m is a mechanism this package implements.
func (m Mechanism) Valid() bool { return m == ScramSHA256 || m == ScramSHA512 }

func (m Mechanism) hash() func() hash.Hash {
	if m == ScramSHA512 {
		return sha512.New
	}
	return sha256.New
}

func (m Mechanism) size() int {
	if m == ScramSHA512 {
		return sha512.Size
	}
	return sha256.Size
}

// Credential is what the server keeps of a SCRAM password (RFC 5802 section
// 3): the salt, the iteration count and two keys derived from the salted
// password. The password itself is never stored, and neither key lets a
// thief authenticate: StoredKey checks a proof, ServerKey signs the
// server's answer.
type Credential struct {
	Mechanism  Mechanism
	Salt       []byte
	Iterations int
	StoredKey  []byte
	ServerKey  []byte
}

// NewCredential derives the credential of password with salt and
// iterations (AlterUserScramCredentials sends the salted password instead;
// see CredentialFromSalted).
func NewCredential(m Mechanism, password string, salt []byte, iterations int) (Credential, error) {
	if !m.Valid() {
		return Credential{}, fmt.Errorf("scram: unknown mechanism %d", m)
	}
	if iterations < 1 {
		return Credential{}, fmt.Errorf("scram: %d iterations", iterations)
	}
	salted, err := pbkdf2.Key(m.hash(), password, salt, iterations, m.size())
	if err != nil {
		return Credential{}, fmt.Errorf("scram: %w", err)
	}
	return CredentialFromSalted(m, salted, salt, iterations), nil
}

// NewRandomCredential is NewCredential with a fresh 32-byte salt.
func NewRandomCredential(m Mechanism, password string, iterations int) (Credential, error) {
	salt := make([]byte, 32)
	rand.Read(salt)
	return NewCredential(m, password, salt, iterations)
}

// CredentialFromSalted derives the credential from a salted password, as
// AlterUserScramCredentials carries it (Hi(password, salt, iterations)).
func CredentialFromSalted(m Mechanism, salted, salt []byte, iterations int) Credential {
	clientKey := hmacSum(m, salted, "Client Key")
	h := m.hash()()
	h.Write(clientKey)
	return Credential{
		Mechanism:  m,
		Salt:       append([]byte(nil), salt...),
		Iterations: iterations,
		StoredKey:  h.Sum(nil),
		ServerKey:  hmacSum(m, salted, "Server Key"),
	}
}

func hmacSum(m Mechanism, key []byte, msg string) []byte {
	mac := hmac.New(m.hash(), key)
	mac.Write([]byte(msg))
	return mac.Sum(nil)
}

// Lookup returns a user's credential for a mechanism; ok is false when the
// user has none. An error is the store failing, not the user missing.
type Lookup func(ctx context.Context, user string, m Mechanism) (c Credential, ok bool, err error)

// ErrAuthentication is every failed authentication, as the client sees it:
// the reason (wrapped in the error's text for the broker's log, never with
// a secret in it) is not the client's to know.
var ErrAuthentication = errors.New("authentication failed")

// failf wraps ErrAuthentication with the reason, for logs.
func failf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrAuthentication}, args...)...)
}

// ScramServer is the server side of one SCRAM exchange (RFC 5802 section
// 5): Step with the client-first-message returns the server-first-message;
// Step with the client-final-message returns the server-final-message and
// done. It is used by one connection and is not safe for concurrent use.
//
// Checked exactly, as the RFC requires and as Kafka's ScramSaslServer does
// or (for the channel binding) should: the gs2 header's channel-binding flag
// ("n" or "y"; "p=", channel binding, is refused: no -PLUS mechanism is
// offered), the reserved "m" attribute refused, an authorization id other
// than the user refused, the final message's channel binding equal to the
// base64 of the gs2 header the client sent first, the final nonce equal to
// the client's nonce followed by the server's, and the proof.
//
// An unknown user goes through the same steps with a credential derived
// from a per-server secret (a salt that stays the same for that name, so
// that a prober cannot tell from two tries), and fails at the proof like a
// wrong password: the client cannot tell the two apart, by answer or time.
type ScramServer struct {
	mech   Mechanism
	lookup Lookup
	secret []byte // for unknown users' credentials
	// tokens finds delegation tokens (the tokenauth extension); nil:
	// token authentication is refused.
	tokens TokenLookup
	token  *Token // the token authenticating, once found
	// tokenAuth: the client asked for a token (tokenauth=true).
	tokenAuth bool

	step            int
	gs2Header       string
	clientFirstBare string
	serverFirst     string
	nonce           string // client nonce + server nonce
	clientNonce     string
	user            string
	cred            Credential
	known           bool
}

// NewScramServer starts an exchange. secret is the server's secret for
// unknown users' made-up salts (Scram.Secret); lookup finds credentials.
func NewScramServer(m Mechanism, lookup Lookup, secret []byte) *ScramServer {
	return &ScramServer{mech: m, lookup: lookup, secret: secret}
}

// Token is what a delegation token authenticates as (Kafka's KIP-48): a
// client that sends the tokenauth=true extension gives the token's ID as
// its user name and the base64 of the token's HMAC as its password, and is
// authenticated as the token's owner until the token expires.
type Token struct {
	// Credential is the SCRAM credential of the password (the HMAC in
	// base64) for the exchange's mechanism.
	Credential Credential
	Owner      string // the owner's principal name (alice of User:alice)
	Expiry     time.Time
}

// TokenLookup returns the delegation token with id; ok is false when there
// is none or it expired. An error is the store failing.
type TokenLookup func(ctx context.Context, id string, m Mechanism) (t Token, ok bool, err error)

// WithTokens lets the exchange authenticate delegation tokens found by
// lookup (nil: the tokenauth extension is refused).
func (s *ScramServer) WithTokens(lookup TokenLookup) *ScramServer {
	s.tokens = lookup
	return s
}

// User is the authenticated user name, once Step reported done; for a
// delegation token, the token's ID (TokenAuth says whom it authenticates).
func (s *ScramServer) User() string { return s.user }

// TokenAuth returns the delegation token that authenticated the exchange,
// once Step reported done; nil for a password.
func (s *ScramServer) TokenAuth() *Token { return s.token }

// Step takes the client's next message and returns the server's answer.
// done is true with the server-final-message, after which the user is
// authenticated. Any error fails the exchange (wrapping ErrAuthentication
// unless lookup failed).
func (s *ScramServer) Step(ctx context.Context, msg []byte) (resp []byte, done bool, err error) {
	switch s.step {
	case 0:
		s.step = 1
		resp, err = s.first(ctx, string(msg))
		if err != nil {
			s.step = 3
		}
		return resp, false, err
	case 1:
		s.step = 3
		resp, err = s.final(string(msg))
		return resp, err == nil, err
	}
	return nil, false, failf("scram exchange already finished")
}

// ClientFirst is a parsed client-first-message.
type ClientFirst struct {
	GS2Header  string // "n,," or "y,," with the authorization id: what c= must encode
	AuthzID    string // decoded; empty when none
	User       string // decoded saslname
	Nonce      string
	Bare       string // client-first-message-bare, for the auth message
	Extensions map[string]string
}

// ParseClientFirst parses a client-first-message (RFC 5802 section 7):
//
//	gs2-cbind-flag "," [ "a=" saslname ] "," [ "m=" ... "," ] "n=" saslname "," "r=" nonce [ "," extensions ]
//
// The channel-binding flag must be "n" or "y": this server offers no -PLUS
// mechanism, so a client asking for channel binding ("p=") is refused, and
// "m" is refused as the RFC requires.
func ParseClientFirst(msg string) (ClientFirst, error) {
	var cf ClientFirst
	flag, rest, ok := strings.Cut(msg, ",")
	if !ok {
		return cf, failf("scram client-first-message: no gs2 header")
	}
	switch {
	case flag == "n" || flag == "y":
	case strings.HasPrefix(flag, "p="):
		return cf, failf("scram client-first-message: channel binding %q requested; not offered", flag[2:])
	default:
		return cf, failf("scram client-first-message: bad channel-binding flag %q", flag)
	}
	authz, bare, ok := strings.Cut(rest, ",")
	if !ok {
		return cf, failf("scram client-first-message: gs2 header not terminated")
	}
	if authz != "" {
		if !strings.HasPrefix(authz, "a=") {
			return cf, failf("scram client-first-message: bad authzid field")
		}
		z, err := decodeSaslName(authz[2:])
		if err != nil || z == "" {
			return cf, failf("scram client-first-message: bad authzid")
		}
		cf.AuthzID = z
	}
	cf.GS2Header = flag + "," + authz + ","
	cf.Bare = bare
	attrs := strings.Split(bare, ",")
	if len(attrs) > 0 && strings.HasPrefix(attrs[0], "m=") {
		return cf, failf("scram client-first-message: mandatory extension m= not supported")
	}
	if len(attrs) < 2 || !strings.HasPrefix(attrs[0], "n=") || !strings.HasPrefix(attrs[1], "r=") {
		return cf, failf("scram client-first-message: expected n=user,r=nonce")
	}
	user, err := decodeSaslName(attrs[0][2:])
	if err != nil || user == "" {
		return cf, failf("scram client-first-message: bad user name")
	}
	cf.User = user
	cf.Nonce = attrs[1][2:]
	if !printableNonce(cf.Nonce) {
		return cf, failf("scram client-first-message: bad nonce")
	}
	for _, a := range attrs[2:] {
		k, v, ok := strings.Cut(a, "=")
		if !ok || !attrName(k) {
			return cf, failf("scram client-first-message: bad extension")
		}
		if cf.Extensions == nil {
			cf.Extensions = make(map[string]string)
		}
		cf.Extensions[k] = v
	}
	return cf, nil
}

// attrName reports whether k is a valid extension name (Kafka's [a-z]+;
// the RFC's attr-val names are one letter, Kafka's are words such as
// tokenauth).
func attrName(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 'a' || k[i] > 'z' {
			return false
		}
	}
	return true
}

// printableNonce reports whether n is a non-empty RFC 5802 nonce: printable
// ASCII except ",".
func printableNonce(n string) bool {
	if n == "" {
		return false
	}
	for i := 0; i < len(n); i++ {
		if c := n[i]; c < 0x21 || c > 0x7e || c == ',' {
			return false
		}
	}
	return true
}

// decodeSaslName undoes the RFC 5802 escaping of "," and "=" ("=2C",
// "=3D"); any other "=" is an error, as are NUL and invalid UTF-8.
func decodeSaslName(s string) (string, error) {
	if !strings.Contains(s, "=") {
		if strings.IndexByte(s, 0) >= 0 || !validUTF8(s) {
			return "", errors.New("bad saslname")
		}
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '=' {
			b.WriteByte(s[i])
			continue
		}
		switch {
		case strings.HasPrefix(s[i:], "=2C"):
			b.WriteByte(',')
		case strings.HasPrefix(s[i:], "=3D"):
			b.WriteByte('=')
		default:
			return "", errors.New("bad saslname escape")
		}
		i += 2
	}
	out := b.String()
	if strings.IndexByte(out, 0) >= 0 || !validUTF8(out) {
		return "", errors.New("bad saslname")
	}
	return out, nil
}

// EncodeSaslName escapes "," and "=" as RFC 5802 requires in a saslname.
func EncodeSaslName(s string) string {
	return strings.NewReplacer("=", "=3D", ",", "=2C").Replace(s)
}

func (s *ScramServer) first(ctx context.Context, msg string) ([]byte, error) {
	cf, err := ParseClientFirst(msg)
	if err != nil {
		return nil, err
	}
	if cf.AuthzID != "" && cf.AuthzID != cf.User {
		return nil, failf("scram: authorization id %q differs from user %q", cf.AuthzID, cf.User)
	}
	// Kafka reads the extension as Java's Boolean.parseBoolean: "true"
	// in any case is a token, anything else a password. A token is
	// never a password and a password never a token: each is looked up
	// in its own store.
	tokenAuth := strings.EqualFold(cf.Extensions["tokenauth"], "true")
	if tokenAuth && s.tokens == nil {
		return nil, failf("scram: delegation token authentication is disabled (no delegation.token.secret.key)")
	}
	s.gs2Header, s.clientFirstBare, s.user, s.tokenAuth = cf.GS2Header, cf.Bare, cf.User, tokenAuth
	var cred Credential
	var ok bool
	if tokenAuth {
		var tok Token
		tok, ok, err = s.tokens(ctx, cf.User, s.mech)
		if ok {
			cred, s.token = tok.Credential, &tok
		}
	} else {
		cred, ok, err = s.lookup(ctx, cf.User, s.mech)
	}
	if err != nil {
		return nil, fmt.Errorf("scram: look up credential: %w", err)
	}
	if ok && (cred.Mechanism != s.mech || len(cred.StoredKey) != s.mech.size() || len(cred.ServerKey) != s.mech.size()) {
		ok = false // a damaged credential authenticates nobody
	}
	// Made up for every user, so that a known and an unknown one cost
	// the same.
	dummy := s.unknownCredential(cf.User)
	if !ok {
		cred = dummy
	}
	s.cred, s.known = cred, ok
	var sn [24]byte
	rand.Read(sn[:])
	s.clientNonce = cf.Nonce
	s.nonce = cf.Nonce + base64.RawURLEncoding.EncodeToString(sn[:])
	s.serverFirst = "r=" + s.nonce + ",s=" + base64.StdEncoding.EncodeToString(cred.Salt) + ",i=" + strconv.Itoa(cred.Iterations)
	return []byte(s.serverFirst), nil
}

// unknownCredential makes up a credential for a user without one: a salt
// that is the same at each try for the name (an attacker asking twice sees
// no difference from a real user) and keys that no password matches, all
// from one HMAC of the server's secret. first computes it for every user,
// known or not, so that both cost the same.
func (s *ScramServer) unknownCredential(user string) Credential {
	mac := hmac.New(sha512.New, s.secret)
	mac.Write([]byte{byte(s.mech)})
	mac.Write([]byte(user))
	sum := mac.Sum(nil) // 64 bytes: salt, then key material
	keys := make([]byte, 2*s.mech.size())
	for i := range keys {
		keys[i] = sum[32+i%32] ^ byte(i)
	}
	return Credential{Mechanism: s.mech, Salt: sum[:32], Iterations: MinIterations,
		StoredKey: keys[:s.mech.size()], ServerKey: keys[s.mech.size():]}
}

// LibrdkafkaDoubledNonce reports whether final is the nonce librdkafka
// (2.0.2, Debian's kcat among its users) sends in its client-final-message:
// its own nonce again in front of the combined one the server sent
// (client nonce + client nonce + server nonce), where RFC 5802 wants the
// combined nonce alone. Kafka's ScramSaslServer only checks that the final
// nonce ends with the combined one, so Kafka accepts it; StreamHouse
// accepts this one form exactly, and nothing else that merely ends right.
// The proof covers the message as sent, so it is checked all the same.
func LibrdkafkaDoubledNonce(final, clientNonce, combined string) bool {
	return len(final) == len(clientNonce)+len(combined) &&
		final[:len(clientNonce)] == clientNonce && final[len(clientNonce):] == combined
}

// ClientFinal is a parsed client-final-message.
type ClientFinal struct {
	ChannelBinding string // as sent, base64
	Nonce          string
	Proof          []byte
	WithoutProof   string // client-final-message-without-proof, for the auth message
}

// ParseClientFinal parses a client-final-message:
//
//	"c=" base64 "," "r=" nonce [ "," extensions ] "," "p=" base64
func ParseClientFinal(msg string) (ClientFinal, error) {
	var f ClientFinal
	i := strings.LastIndex(msg, ",p=")
	if i < 0 {
		return f, failf("scram client-final-message: no proof")
	}
	f.WithoutProof = msg[:i]
	// Decoded strictly and re-encoded: Go's decoder skips CR and LF,
	// which an RFC base64 value never holds.
	proof, err := base64.StdEncoding.Strict().DecodeString(msg[i+3:])
	if err != nil || len(proof) == 0 || base64.StdEncoding.EncodeToString(proof) != msg[i+3:] {
		return f, failf("scram client-final-message: bad proof encoding")
	}
	f.Proof = proof
	attrs := strings.Split(f.WithoutProof, ",")
	if len(attrs) < 2 || !strings.HasPrefix(attrs[0], "c=") || !strings.HasPrefix(attrs[1], "r=") {
		return f, failf("scram client-final-message: expected c=...,r=...")
	}
	f.ChannelBinding, f.Nonce = attrs[0][2:], attrs[1][2:]
	for _, a := range attrs[2:] {
		k, _, ok := strings.Cut(a, "=")
		if !ok || !attrName(k) {
			return f, failf("scram client-final-message: bad extension")
		}
	}
	return f, nil
}

func (s *ScramServer) final(msg string) ([]byte, error) {
	f, err := ParseClientFinal(msg)
	if err != nil {
		return nil, err
	}
	// The channel binding is the gs2 header the client sent first,
	// exactly: a client that changed its flag between the two messages
	// (a downgrade an attacker in the middle would try) fails.
	if f.ChannelBinding != base64.StdEncoding.EncodeToString([]byte(s.gs2Header)) {
		return nil, failf("scram: channel binding %q does not match the gs2 header sent first", f.ChannelBinding)
	}
	if f.Nonce != s.nonce && !LibrdkafkaDoubledNonce(f.Nonce, s.clientNonce, s.nonce) {
		return nil, failf("scram: final nonce is not the client's and the server's nonce")
	}
	if len(f.Proof) != s.mech.size() {
		return nil, failf("scram: proof of %d bytes", len(f.Proof))
	}
	authMessage := s.clientFirstBare + "," + s.serverFirst + "," + f.WithoutProof
	clientSig := hmacSum(s.mech, s.cred.StoredKey, authMessage)
	clientKey := make([]byte, len(clientSig))
	subtle.XORBytes(clientKey, f.Proof, clientSig)
	h := s.mech.hash()()
	h.Write(clientKey)
	ok := subtle.ConstantTimeCompare(h.Sum(nil), s.cred.StoredKey) == 1
	if !ok || !s.known {
		s.token = nil
		what := "user"
		if s.tokenAuth {
			what = "delegation token (or an expired one)"
		}
		if !s.known {
			return nil, failf("scram: unknown %s %q", what, s.user)
		}
		return nil, failf("scram: wrong proof for %s %q", what, s.user)
	}
	serverSig := hmacSum(s.mech, s.cred.ServerKey, authMessage)
	return []byte("v=" + base64.StdEncoding.EncodeToString(serverSig)), nil
}

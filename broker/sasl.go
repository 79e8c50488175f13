package broker

// SaslHandshake v0-v1 and SaslAuthenticate v0-v2, with the connection state
// machine of Kafka's SaslServerAuthenticator.
//
// On a SASL_PLAINTEXT or SASL_SSL listener a connection may send only
// ApiVersions and SaslHandshake until it has authenticated (SaslAuthenticate
// only after a handshake); anything else closes it, as Kafka closes it. The
// frame limit stays sasl.server.max.receive.size until then. A v0 handshake
// is followed by the mechanism's tokens as bare size-prefixed frames, not
// Kafka requests (the pre-KIP-152 form); v1 wraps them in SaslAuthenticate.
//
// A failed authentication is answered SASL_AUTHENTICATION_FAILED with a
// message that says nothing of why (wrong password, unknown user, a bad
// nonce), after connection.failed.authentication.delay.ms, and the
// connection is closed; the reason goes to the log (rate limited, never a
// secret) and the failure to the metrics.
//
// KIP-368: with connections.max.reauth.ms set, a session lasts that long
// (or until its OAUTHBEARER token expires, if sooner); SaslAuthenticate v1+
// tells the client, which re-authenticates on the same connection with a new
// SaslHandshake and SaslAuthenticate, as the same principal and mechanism. A
// connection whose session expired is closed at its next request other than
// a re-authentication (a v0 SaslAuthenticate client, which cannot be told,
// included).
//
// On a PLAINTEXT or SSL listener both requests answer ILLEGAL_SASL_STATE.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/streamhouse/streamhouse/auth"
	"github.com/streamhouse/streamhouse/meta"
)

// saslState is a connection's authentication state, owned by its reader.
type saslState struct {
	authenticated bool
	mechanism     string // of the handshake in progress, or of the session
	handshook     bool   // a handshake awaits its SaslAuthenticate
	raw           bool   // after a v0 handshake: bare tokens, not requests
	step          saslMechanism
	expiry        time.Time // session end; zero: none
	reauth        bool      // the handshake in progress re-authenticates
	changedMech   bool      // ... with another mechanism than the session's
	// token: the session authenticated with a delegation token, which
	// may not create, renew, expire or describe tokens.
	token bool
}

// saslMechanism is the server side of one exchange.
type saslMechanism interface {
	// Step takes the client's next token and returns the answer, and
	// done once authenticated.
	Step(ctx context.Context, token []byte) (resp []byte, done bool, err error)
	// User is the authenticated name; Expiry when the credential ends
	// (a token's exp; zero for passwords).
	User() string
	Expiry() time.Time
}

// OAuthValidator validates OAUTHBEARER tokens (auth.OAuth).
type OAuthValidator interface {
	// Validate returns the token's principal name and expiry, or an
	// error wrapping auth.ErrAuthentication.
	Validate(ctx context.Context, token string) (name string, expiry time.Time, err error)
}

// sessionExpired reports whether the connection's session is over.
func (c *conn) sessionExpired() bool {
	return !c.sasl.expiry.IsZero() && !c.s.now().Before(c.sasl.expiry)
}

// gate lets a request through the SASL state machine, or returns an error
// that closes the connection.
func (c *conn) gate(key int16) error {
	if !c.li.sasl {
		return nil
	}
	switch key {
	case int16(kmsg.ApiVersions), int16(kmsg.SASLHandshake):
		return nil
	case int16(kmsg.SASLAuthenticate):
		if c.sasl.handshook {
			return nil
		}
	}
	if !c.sasl.authenticated {
		return fmt.Errorf("unexpected %s request during SASL authentication", kmsg.NameForKey(key))
	}
	if c.sessionExpired() {
		return errors.New("session expired (connections.max.reauth.ms) without re-authentication")
	}
	return nil
}

func (s *Server) handleSaslHandshake(_ context.Context, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.SASLHandshakeRequest)
	resp := req.ResponseKind().(*kmsg.SASLHandshakeResponse)
	c := r.conn
	if !c.li.sasl {
		resp.ErrorCode = kerr.IllegalSaslState.Code
		return resp, nil
	}
	resp.SupportedMechanisms = slices.Clone(c.li.Mechanisms)
	if c.sasl.handshook {
		resp.ErrorCode = kerr.IllegalSaslState.Code
		c.closeAfter = true
		return resp, nil
	}
	if !slices.Contains(c.li.Mechanisms, req.Mechanism) {
		resp.ErrorCode = kerr.UnsupportedSaslMechanism.Code
		c.closeAfter = true
		s.authFailed(c, req.Mechanism, fmt.Errorf("mechanism %q not enabled", req.Mechanism))
		return resp, nil
	}
	c.sasl.reauth = c.sasl.authenticated
	c.sasl.changedMech = c.sasl.reauth && req.Mechanism != c.sasl.mechanism
	c.sasl.mechanism = req.Mechanism
	c.sasl.handshook = true
	c.sasl.raw = req.Version == 0
	c.sasl.step = s.newMechanism(req.Mechanism)
	return resp, nil
}

func (s *Server) newMechanism(name string) saslMechanism {
	switch name {
	case "PLAIN":
		return &plainMechanism{s: s}
	case "SCRAM-SHA-256", "SCRAM-SHA-512":
		m, _ := auth.ParseMechanism(name)
		srv := auth.NewScramServer(m, s.scramLookup, s.scramSecret)
		if s.tokenKey() != "" {
			srv.WithTokens(s.tokenLookup)
		}
		return &scramMechanism{srv}
	case "OAUTHBEARER":
		return &oauthMechanism{v: s.cfg.OAuthBearer}
	}
	return nil
}

// scramLookup reads a credential from the catalog at each authentication,
// so that a user changed through any broker of a cluster is seen at once.
func (s *Server) scramLookup(ctx context.Context, user string, m auth.Mechanism) (auth.Credential, bool, error) {
	sc, ok, err := s.cfg.Catalog.ScramCredential(ctx, user, int8(m))
	if err != nil || !ok {
		return auth.Credential{}, ok, err
	}
	return credentialFromMeta(sc), true, nil
}

func credentialFromMeta(sc meta.ScramCredential) auth.Credential {
	return auth.Credential{Mechanism: auth.Mechanism(sc.Mechanism), Salt: sc.Salt, Iterations: int(sc.Iterations),
		StoredKey: sc.StoredKey, ServerKey: sc.ServerKey}
}

// Passwords checks user names and passwords against the SCRAM users in the
// catalog, as SASL PLAIN does: for other front doors that take a password
// (the schema registry's HTTP basic auth).
func (s *Server) Passwords() *auth.Passwords {
	return &auth.Passwords{Lookup: s.scramLookup, Secret: s.scramSecret}
}

func (s *Server) handleSaslAuthenticate(ctx context.Context, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.SASLAuthenticateRequest)
	resp := req.ResponseKind().(*kmsg.SASLAuthenticateResponse)
	c := r.conn
	if !c.li.sasl {
		resp.ErrorCode = kerr.IllegalSaslState.Code
		msg := "SaslAuthenticate on a listener without SASL"
		resp.ErrorMessage = &msg
		return resp, nil
	}
	out, done, err := c.saslStep(ctx, req.SASLAuthBytes)
	if err != nil {
		s.delayFailure(ctx)
		resp.ErrorCode = kerr.SaslAuthenticationFailed.Code
		msg := "Authentication failed during authentication due to invalid credentials with SASL mechanism " + c.sasl.mechanism
		resp.ErrorMessage = &msg
		c.closeAfter = true
		return resp, nil
	}
	resp.SASLAuthBytes = out
	if done && req.Version >= 1 && !c.sasl.expiry.IsZero() {
		resp.SessionLifetimeMillis = max(1, c.sasl.expiry.Sub(s.now()).Milliseconds())
	}
	return resp, nil
}

// saslStep runs one token through the mechanism; on the last it
// authenticates the connection. An error fails the exchange (logged and
// counted here).
func (c *conn) saslStep(ctx context.Context, token []byte) ([]byte, bool, error) {
	s := c.s
	st := &c.sasl
	out, done, err := st.step.Step(ctx, token)
	if err == nil && done {
		principal := "User:" + st.step.User()
		switch {
		case st.changedMech:
			err = fmt.Errorf("%w: SASL mechanism changed during re-authentication", auth.ErrAuthentication)
		case st.reauth && principal != c.principal:
			err = fmt.Errorf("%w: cannot change principals during re-authentication from %s: %s", auth.ErrAuthentication, c.principal, principal)
		}
		if err == nil {
			st.authenticated, st.handshook, st.raw, st.reauth = true, false, false, false
			c.principal = principal
			st.token = false
			if sm, ok := st.step.(*scramMechanism); ok && sm.TokenAuth() != nil {
				st.token = true
			}
			st.expiry = time.Time{}
			if ms := c.li.ReauthMs; ms > 0 {
				st.expiry = s.now().Add(time.Duration(ms) * time.Millisecond)
			}
			// A token's session ends at its exp, re-authentication
			// configured or not.
			if e := st.step.Expiry(); !e.IsZero() && (st.expiry.IsZero() || e.Before(st.expiry)) {
				st.expiry = e
			}
			st.step = nil
			s.cfg.Metrics.Authentication(c.li.Name, st.mechanism, "success")
			return out, true, nil
		}
	}
	if err != nil {
		st.handshook, st.raw = false, false
		s.authFailed(c, st.mechanism, err)
		return nil, false, err
	}
	return out, false, nil
}

// authFailed logs (rate limited) and counts a failed authentication.
func (s *Server) authFailed(c *conn, mechanism string, err error) {
	s.cfg.Metrics.Authentication(c.li.Name, mechanism, "failure")
	if !errors.Is(err, auth.ErrAuthentication) {
		s.log.Error("authentication could not be checked", "remote", c.remote, "listener", c.li.Name, "mechanism", mechanism, "err", err)
		return
	}
	if n, ok := s.authLog.allow(s.now()); ok {
		s.log.Info("authentication failed", "remote", c.remote, "listener", c.li.Name, "mechanism", mechanism,
			"reason", err.Error(), "suppressed_since_last", n)
	}
}

// delayFailure waits connection.failed.authentication.delay.ms before a
// failure is answered (KIP-306), so that guessing is slow.
func (s *Server) delayFailure(ctx context.Context) {
	d := time.Duration(s.settings().ConnectionFailedAuthenticationDelayMs()) * time.Millisecond
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	case <-s.shutdown:
	}
}

// rawToken serves a bare SASL token after a v0 handshake: the answer is a
// bare size-prefixed token too. A failure closes the connection (v0 has no
// way to carry an error).
func (c *conn) rawToken(ctx context.Context, frame, out []byte) ([]byte, error) {
	resp, _, err := c.saslStep(ctx, frame)
	if err != nil {
		c.s.delayFailure(ctx)
		return out, err
	}
	out = append(out, byte(len(resp)>>24), byte(len(resp)>>16), byte(len(resp)>>8), byte(len(resp)))
	return append(out, resp...), nil
}

// rateLimit lets one event a second through and counts the rest.
type rateLimit struct {
	mu         sync.Mutex
	last       time.Time
	suppressed int
}

func (l *rateLimit) allow(now time.Time) (suppressed int, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.last) < time.Second {
		l.suppressed++
		return 0, false
	}
	n := l.suppressed
	l.last, l.suppressed = now, 0
	return n, true
}

type plainMechanism struct {
	s    *Server
	user string
}

func (m *plainMechanism) Step(ctx context.Context, token []byte) ([]byte, bool, error) {
	_, user, password, err := auth.ParsePlain(token)
	if err != nil {
		return nil, false, err
	}
	if err := m.s.Passwords().Check(ctx, user, password); err != nil {
		return nil, false, err
	}
	m.user = user
	return nil, true, nil
}

func (m *plainMechanism) User() string      { return m.user }
func (m *plainMechanism) Expiry() time.Time { return time.Time{} }

type scramMechanism struct{ *auth.ScramServer }

// User is the user authenticated; with a delegation token, its owner.
func (m *scramMechanism) User() string {
	if t := m.TokenAuth(); t != nil {
		return t.Owner
	}
	return m.ScramServer.User()
}

// Expiry is a delegation token's: the session ends with the token (Kafka's
// CREDENTIAL_LIFETIME_MS of a token-authenticated SCRAM session).
func (m *scramMechanism) Expiry() time.Time {
	if t := m.TokenAuth(); t != nil {
		return t.Expiry
	}
	return time.Time{}
}

type oauthMechanism struct {
	v      OAuthValidator
	user   string
	expiry time.Time
}

// Step takes the client's initial response (RFC 7628). A bad token fails
// at once with SASL_AUTHENTICATION_FAILED (Kafka first sends an error
// challenge and fails at the client's answer to it; clients handle both).
func (m *oauthMechanism) Step(ctx context.Context, token []byte) ([]byte, bool, error) {
	authzid, tok, err := auth.ParseOAuthBearerInitial(token)
	if err != nil {
		return nil, false, err
	}
	if m.v == nil {
		return nil, false, fmt.Errorf("%w: oauthbearer: no JWKS configured", auth.ErrAuthentication)
	}
	user, exp, err := m.v.Validate(ctx, tok)
	if err != nil {
		return nil, false, err
	}
	if authzid != "" && authzid != user {
		return nil, false, fmt.Errorf("%w: oauthbearer: authorization id %q differs from the token's principal %q", auth.ErrAuthentication, authzid, user)
	}
	m.user, m.expiry = user, exp
	return nil, true, nil
}

func (m *oauthMechanism) User() string      { return m.user }
func (m *oauthMechanism) Expiry() time.Time { return m.expiry }

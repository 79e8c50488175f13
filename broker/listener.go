package broker

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/streamhouse/streamhouse/auth"
	"github.com/streamhouse/streamhouse/config"
)

// Listener describes one of Kafka's listeners: its name, its security
// protocol and what that protocol needs.
type Listener struct {
	// Name is the listener name (PLAINTEXT, CLIENT, ...), as in
	// listeners; its per-listener settings are resolved by the caller.
	Name string
	// Protocol is PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL.
	Protocol string
	// TLS serves SSL and SASL_SSL: each handshake takes its current
	// configuration (certificates reload when their files change).
	TLS *tls.Config
	// Mechanisms are the listener's sasl.enabled.mechanisms (SASL_*).
	Mechanisms []string
	// ReauthMs is the listener's connections.max.reauth.ms: the session
	// lifetime given at authentication (KIP-368); 0: sessions do not
	// expire.
	ReauthMs int64
	// Principals maps a client certificate to its principal on an SSL
	// listener (ssl.principal.mapping.rules); nil: the subject's name.
	Principals *auth.PrincipalMapper
	// Advertised is host:port that Metadata, FindCoordinator and
	// DescribeCluster answer on this listener; empty: the server's
	// (Config.AdvertisedAddr or the first listener's address).
	Advertised string
}

// listener is a Listener being served.
type listener struct {
	Listener
	tls     *tls.Config
	sasl    bool
	advHost string
	advPort int32
}

const anonymous = "User:ANONYMOUS"

func (s *Server) newListener(li Listener) (*listener, error) {
	lc := &listener{Listener: li}
	switch li.Protocol {
	case "PLAINTEXT":
	case "SSL", "SASL_SSL":
		if li.TLS == nil {
			return nil, fmt.Errorf("broker: listener %s (%s) has no TLS configuration", li.Name, li.Protocol)
		}
		lc.tls = li.TLS
	case "SASL_PLAINTEXT":
	default:
		return nil, fmt.Errorf("broker: listener %s: unknown security protocol %q", li.Name, li.Protocol)
	}
	if li.Protocol == "SASL_PLAINTEXT" || li.Protocol == "SASL_SSL" {
		lc.sasl = true
		if len(li.Mechanisms) == 0 {
			return nil, fmt.Errorf("broker: listener %s: no SASL mechanism enabled", li.Name)
		}
		for _, m := range li.Mechanisms {
			if !slices.Contains([]string{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"}, m) {
				return nil, fmt.Errorf("broker: listener %s: SASL mechanism %s is not served", li.Name, m)
			}
			if m == "OAUTHBEARER" && s.cfg.OAuthBearer == nil {
				return nil, fmt.Errorf("broker: listener %s: OAUTHBEARER needs sasl.oauthbearer.jwks.endpoint.url", li.Name)
			}
		}
	}
	if li.Principals == nil {
		lc.Principals, _ = auth.ParsePrincipalMappingRules("DEFAULT")
	}
	if li.Advertised != "" {
		host, port, err := splitHostPort(li.Advertised)
		if err != nil {
			return nil, fmt.Errorf("broker: listener %s: advertised address: %w", li.Name, err)
		}
		lc.advHost, lc.advPort = host, port
	}
	return lc, nil
}

// advertised is the address to answer on this connection's listener.
func (c *conn) advertised() (string, int32) {
	if c.li != nil && c.li.advHost != "" {
		return c.li.advHost, c.li.advPort
	}
	return c.s.advertised()
}

// startTLS runs the TLS handshake of an SSL or SASL_SSL connection within
// the frame read timeout, and takes an SSL connection's principal from
// its client certificate. A plaintext client on a TLS port fails here.
func (c *conn) startTLS(ctx context.Context) error {
	c.principal = anonymous
	if !c.li.sasl {
		c.sasl.authenticated = true
	}
	tc, ok := c.nc.(*tls.Conn)
	if !ok {
		return nil
	}
	c.nc.SetDeadline(time.Now().Add(c.s.frameTimeout()))
	hctx, cancel := context.WithTimeout(ctx, c.s.frameTimeout())
	defer cancel()
	if err := tc.HandshakeContext(hctx); err != nil {
		return fmt.Errorf("tls handshake: %w", err)
	}
	c.nc.SetDeadline(time.Time{})
	if c.li.Protocol == "SSL" {
		if certs := tc.ConnectionState().PeerCertificates; len(certs) > 0 {
			p, err := c.li.Principals.CertificatePrincipal(certs[0])
			if err != nil {
				return err
			}
			c.principal = p
		}
	}
	return nil
}

// ListenersFromSettings builds every listener of the listeners config:
// its protocol from listener.security.protocol.map, its TLS from the ssl.*
// settings (listener.name.<name>. first), its SASL mechanisms and
// re-authentication lifetime, its principal mapping rules. The returned
// TLS values reload their certificates when the files change; onReloadErr
// is told when new files fail to load. Advertised addresses are left for
// the caller, which knows the bound ports.
func ListenersFromSettings(b *config.Broker, onReloadErr func(listener string, err error)) ([]Listener, error) {
	var out []Listener
	for _, e := range b.Listeners() {
		li := Listener{Name: e.Listener, Protocol: e.Protocol}
		get := func(name string) string { return b.ListenerString(e.Listener, name) }
		if e.Protocol == config.ProtocolSSL || e.Protocol == config.ProtocolSASLSSL {
			t, err := auth.NewTLS(auth.TLSSettings{
				KeystoreLocation:   get("ssl.keystore.location"),
				KeystoreCertChain:  get("ssl.keystore.certificate.chain"),
				KeystoreKey:        get("ssl.keystore.key"),
				KeyPassword:        get("ssl.key.password"),
				TruststoreLocation: get("ssl.truststore.location"),
				TruststoreCerts:    get("ssl.truststore.certificates"),
				ClientAuth:         get("ssl.client.auth"),
				Protocols:          b.ListenerList(e.Listener, "ssl.enabled.protocols"),
				CipherSuites:       b.ListenerList(e.Listener, "ssl.cipher.suites"),
			})
			if err != nil {
				return nil, fmt.Errorf("listener %s: %w", e.Listener, err)
			}
			name := e.Listener
			t.OnReloadError = func(err error) {
				if onReloadErr != nil {
					onReloadErr(name, err)
				}
			}
			li.TLS = t.Config()
		}
		if e.Protocol == config.ProtocolSASLPlaintext || e.Protocol == config.ProtocolSASLSSL {
			li.Mechanisms = b.ListenerList(e.Listener, "sasl.enabled.mechanisms")
			li.ReauthMs = b.ListenerLong(e.Listener, "connections.max.reauth.ms")
		}
		m, err := auth.ParsePrincipalMappingRules(get("ssl.principal.mapping.rules"))
		if err != nil {
			return nil, fmt.Errorf("listener %s: %w", e.Listener, err)
		}
		li.Principals = m
		out = append(out, li)
	}
	return out, nil
}

// AuthorizerFromSettings returns the authorizer authorizer.class.name asks
// for, with super.users and allow.everyone.if.no.acl.found; nil when none.
func AuthorizerFromSettings(b *config.Broker) *auth.Authorizer {
	if !b.AuthorizerEnabled() {
		return nil
	}
	return auth.NewAuthorizer(auth.AuthorizerConfig{
		SuperUsers:   auth.ParseSuperUsers(b.SuperUsers()),
		AllowIfNoACL: b.AllowEveryoneIfNoACL(),
	})
}

// OAuthFromSettings returns the OAUTHBEARER validator of the
// sasl.oauthbearer.* settings; nil when no JWKS endpoint is set (OAUTHBEARER
// then authenticates nobody) and unsecured is off. unsecured (a development
// setting) also accepts unsigned tokens, as Kafka's unsecured validator
// does. Its Run fetches and refreshes the keys.
func OAuthFromSettings(b *config.Broker, log *slog.Logger, unsecured bool) (*auth.OAuth, error) {
	url, _ := b.OAuthBearer("jwks.endpoint.url").(string)
	if url == "" && !unsecured {
		return nil, nil
	}
	refresh, _ := b.OAuthBearer("jwks.endpoint.refresh.ms").(int64)
	skew, _ := b.OAuthBearer("clock.skew.seconds").(int32)
	aud, _ := b.OAuthBearer("expected.audience").([]string)
	iss, _ := b.OAuthBearer("expected.issuer").(string)
	sub, _ := b.OAuthBearer("sub.claim.name").(string)
	scope, _ := b.OAuthBearer("scope.claim.name").(string)
	return auth.NewOAuth(auth.OAuthConfig{
		JWKSURL:    url,
		Refresh:    time.Duration(refresh) * time.Millisecond,
		Audience:   aud,
		Issuer:     iss,
		SubClaim:   sub,
		ScopeClaim: scope,
		ClockSkew:  time.Duration(skew) * time.Second,
		Logger:     log,
		Unsecured:  unsecured,
	})
}

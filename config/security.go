package config

import (
	"slices"
	"strings"
)

// Security protocols, as Kafka names them.
const (
	ProtocolPlaintext     = "PLAINTEXT"
	ProtocolSSL           = "SSL"
	ProtocolSASLPlaintext = "SASL_PLAINTEXT"
	ProtocolSASLSSL       = "SASL_SSL"
)

// StandardAuthorizer is the authorizer.class.name that turns ACLs on.
const StandardAuthorizer = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"

// SASL mechanisms StreamHouse serves.
var saslMechanisms = []string{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"}

// securityDefs are the security configs: listeners' protocols, TLS, SASL
// and the authorizer, sorted by name. Kafka's defaults, except where said.
var securityDefs = []Def{
	{
		Name: "allow.everyone.if.no.acl.found", Type: TypeBoolean, Default: ptr("false"), ReadOnly: true,
		Doc: `When set to true, any user can access a resource when no ACLs are found for that resource. When false, only super users may.`,
	},
	{
		// Kafka takes any class; StreamHouse has one authorizer, Kafka's
		// StandardAuthorizer semantics, turned on by its class name.
		Name: "authorizer.class.name", Type: TypeString, Default: ptr(""), ReadOnly: true,
		check: oneOf("", StandardAuthorizer),
		Doc:   `The fully qualified name of a class that implements org.apache.kafka.server.authorizer.Authorizer interface, which is used by the broker for authorization. StreamHouse takes ` + StandardAuthorizer + ` (ACLs in the catalog) or the empty string (no authorization).`,
	},
	{
		Name: "connection.failed.authentication.delay.ms", Type: TypeInt, Default: ptr("100"), ReadOnly: true,
		check: atLeast(0),
		Doc:   `Connection close delay on failed authentication: this is the time (in milliseconds) by which connection close will be delayed on authentication failure. This must be configured to be less than connections.max.idle.ms to prevent connection timeout.`,
	},
	{
		Name: "connections.max.reauth.ms", Type: TypeLong, Default: ptr("0"), ReadOnly: true,
		Doc: `When explicitly set to a positive number (the default is 0, not a positive number), a session lifetime that will not exceed the configured value will be communicated to v2.2.0 or later clients when they authenticate. The broker will disconnect any such connection that is not re-authenticated within the session lifetime and that is then subsequently used for any purpose other than re-authentication. Configuration names can optionally be prefixed with listener prefix and SASL mechanism name in lower-case. For example, listener.name.sasl_ssl.oauthbearer.connections.max.reauth.ms=3600000`,
	},
	{
		Name: "delegation.token.expiry.check.interval.ms", Type: TypeLong, Default: ptr("3600000"), ReadOnly: true,
		check: atLeast(1),
		Doc:   `Scan interval to remove expired delegation tokens.`,
	},
	{
		Name: "delegation.token.expiry.time.ms", Type: TypeLong, Default: ptr("86400000"), ReadOnly: true,
		check: atLeast(1),
		Doc:   `The token validity time in milliseconds before the token needs to be renewed. Default value 1 day.`,
	},
	{
		Name: "delegation.token.master.key", Type: TypePassword, Sensitive: true, ReadOnly: true,
		Doc: `DEPRECATED: An alias for delegation.token.secret.key, which should be used instead of this config.`,
	},
	{
		Name: "delegation.token.max.lifetime.ms", Type: TypeLong, Default: ptr("604800000"), ReadOnly: true,
		check: atLeast(1),
		Doc:   `The token has a maximum lifetime beyond which it cannot be renewed anymore. Default value 7 days.`,
	},
	{
		Name: "delegation.token.secret.key", Type: TypePassword, Sensitive: true, ReadOnly: true,
		Doc: `Secret key to generate and verify delegation tokens. The same key must be configured across all the brokers. If using Kafka with KRaft, the key must also be set across all controllers. If the key is not set or set to empty string, brokers will disable the delegation token support.`,
	},
	{
		Name: "listener.security.protocol.map", Type: TypeString,
		Default: ptr("SASL_SSL:SASL_SSL,PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT"), ReadOnly: true,
		check: func(name string, v any) error { _, err := parseProtocolMap(name, v.(string)); return err },
		Doc:   `Map between listener names and security protocols. This must be defined for the same security protocol to be usable in more than one port or IP. For example, internal and external traffic can be separated even if SSL is required for both. Concretely, the user could define listeners with names INTERNAL and EXTERNAL and this property as: INTERNAL:SSL,EXTERNAL:SSL. As shown, key and value are separated by a colon and map entries are separated by commas. Each listener name should only appear once in the map. Different security (SSL and SASL) settings can be configured for each listener by adding a normalised prefix (the listener name is lowercased) to the config name. For example, to set a different keystore for the INTERNAL listener, a config with name listener.name.internal.ssl.keystore.location would be set.`,
	},
	{
		// Kafka's default is GSSAPI (Kerberos), which StreamHouse does not
		// serve; its default is the two SCRAM mechanisms.
		Name: "sasl.enabled.mechanisms", Type: TypeList, Default: ptr("SCRAM-SHA-256,SCRAM-SHA-512"), ReadOnly: true,
		check: listOf(true, saslMechanisms...),
		Doc:   `The list of SASL mechanisms enabled in the Kafka server. The list may contain any mechanism for which a security provider is available. StreamHouse serves PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 and OAUTHBEARER; its default is SCRAM-SHA-256,SCRAM-SHA-512 (Kafka's, GSSAPI, is not served).`,
	},
	{
		Name: "sasl.oauthbearer.clock.skew.seconds", Type: TypeInt, Default: ptr("30"), ReadOnly: true,
		check: atLeast(0),
		Doc:   `The (optional) value in seconds to allow for differences between the time of the OAuth/OIDC identity provider and the broker.`,
	},
	{
		Name: "sasl.oauthbearer.expected.audience", Type: TypeList, Default: ptr(""), ReadOnly: true,
		Doc: `The (optional) comma-delimited setting for the broker to use to verify that the JWT was issued for one of the expected audiences. The JWT will be inspected for the standard OAuth "aud" claim and if this value is set, the broker will match the value from JWT's "aud" claim to see if there is an exact match. If there is no match, the broker will reject the JWT and authentication will fail.`,
	},
	{
		Name: "sasl.oauthbearer.expected.issuer", Type: TypeString, ReadOnly: true,
		Doc: `The (optional) setting for the broker to use to verify that the JWT was created by the expected issuer. The JWT will be inspected for the standard OAuth "iss" claim and if this value is set, the broker will match it exactly against what is in the JWT's "iss" claim. If there is no match, the broker will reject the JWT and authentication will fail.`,
	},
	{
		Name: "sasl.oauthbearer.jwks.endpoint.refresh.ms", Type: TypeLong, Default: ptr("3600000"), ReadOnly: true,
		check: atLeast(1),
		Doc:   `The (optional) value in milliseconds for the broker to wait between refreshing its JWKS (JSON Web Key Set) cache that contains the keys to verify the signature of the JWT.`,
	},
	{
		Name: "sasl.oauthbearer.jwks.endpoint.url", Type: TypeString, ReadOnly: true,
		Doc: `The OAuth/OIDC provider URL from which the provider's JWKS (JSON Web Key Set) can be retrieved. The URL can be HTTP(S)-based or file-based. Without it OAUTHBEARER authenticates nobody (StreamHouse fails closed).`,
	},
	{
		Name: "sasl.oauthbearer.scope.claim.name", Type: TypeString, Default: ptr("scope"), ReadOnly: true,
		Doc: `The OAuth claim for the scope is often named "scope", but this (optional) setting can provide a different name to use for the scope included in the JWT payload's claims if the OAuth/OIDC provider uses a different name for that claim.`,
	},
	{
		Name: "sasl.oauthbearer.sub.claim.name", Type: TypeString, Default: ptr("sub"), ReadOnly: true,
		Doc: `The OAuth claim for the subject is often named "sub", but this (optional) setting can provide a different name to use for the subject included in the JWT payload's claims if the OAuth/OIDC provider uses a different name for that claim.`,
	},
	{
		Name: "ssl.cipher.suites", Type: TypeList, Default: ptr(""), ReadOnly: true,
		Doc: `A list of cipher suites. This is a named combination of authentication, encryption, MAC and key exchange algorithm used to negotiate the security settings for a network connection using TLS or SSL network protocol. By default all the available cipher suites are supported. (TLS 1.3's suites are not configurable in Go and are always on.)`,
	},
	{
		Name: "ssl.client.auth", Type: TypeString, Default: ptr("none"), ReadOnly: true,
		check: oneOf("required", "requested", "none"),
		Doc:   `Configures kafka broker to request client authentication. ssl.client.auth=required: client authentication is required; requested: it is optional, a client without a certificate can still connect; none: no client authentication.`,
	},
	{
		Name: "ssl.enabled.protocols", Type: TypeList, Default: ptr("TLSv1.2,TLSv1.3"), ReadOnly: true,
		check: listOf(false, "TLSv1.2", "TLSv1.3"),
		Doc:   `The list of protocols enabled for SSL connections. The default is 'TLSv1.2,TLSv1.3'.`,
	},
	{
		Name: "ssl.key.password", Type: TypePassword, Sensitive: true, ReadOnly: true,
		Doc: `The password of the private key in the key store file or the PEM key specified in 'ssl.keystore.key'.`,
	},
	{
		Name: "ssl.keystore.certificate.chain", Type: TypePassword, Sensitive: true, ReadOnly: true,
		Doc: `Certificate chain in the format specified by 'ssl.keystore.type'. Default SSL engine factory supports only PEM format with a list of X.509 certificates`,
	},
	{
		Name: "ssl.keystore.key", Type: TypePassword, Sensitive: true, ReadOnly: true,
		Doc: `Private key in the format specified by 'ssl.keystore.type'. Default SSL engine factory supports only PEM format with PKCS#8 keys. If the key is encrypted, key password must be specified using 'ssl.key.password'`,
	},
	{
		Name: "ssl.keystore.location", Type: TypeString, ReadOnly: true,
		Doc: `The location of the key store file: for PEM, the private key and the certificate chain in one file. It is read again when it changes.`,
	},
	{
		Name: "ssl.keystore.password", Type: TypePassword, Sensitive: true, ReadOnly: true,
		Doc: `The store password for the key store file. Not used for PEM (ssl.key.password decrypts an encrypted key).`,
	},
	{
		// Kafka's default is JKS, which Go cannot read: StreamHouse takes
		// PEM only and says so when another type is named.
		Name: "ssl.keystore.type", Type: TypeString, Default: ptr("PEM"), ReadOnly: true,
		check: pemOnly,
		Doc:   `The file format of the key store file. StreamHouse reads PEM only (Kafka's default is JKS).`,
	},
	{
		Name: "ssl.principal.mapping.rules", Type: TypeString, Default: ptr("DEFAULT"), ReadOnly: true,
		Doc: `A list of rules for mapping from distinguished name from the client certificate to short name. The rules are evaluated in order and the first rule that matches a principal name is used to map it to a short name. Any later rules in the list are ignored. By default, distinguished name of the X.500 certificate will be the principal. Each rule is RULE:pattern/replacement/[LU] or DEFAULT.`,
	},
	{
		Name: "ssl.truststore.certificates", Type: TypePassword, Sensitive: true, ReadOnly: true,
		Doc: `Trusted certificates in the format specified by 'ssl.truststore.type'. Default SSL engine factory supports only PEM format with X.509 certificates.`,
	},
	{
		Name: "ssl.truststore.location", Type: TypeString, ReadOnly: true,
		Doc: `The location of the trust store file (PEM certificates). It is read again when it changes.`,
	},
	{
		Name: "ssl.truststore.type", Type: TypeString, Default: ptr("PEM"), ReadOnly: true,
		check: pemOnly,
		Doc:   `The file format of the trust store file. StreamHouse reads PEM only (Kafka's default is JKS).`,
	},
	{
		Name: "super.users", Type: TypeString, ReadOnly: true,
		Doc: `A list of principals (User:name) separated by semicolons that are allowed everything, whatever the ACLs say.`,
	},
}

func pemOnly(name string, v any) error {
	if v.(string) != "PEM" {
		return invalid(name, v.(string), "StreamHouse reads PEM key and trust stores only; convert with openssl or keytool and set "+name+"=PEM")
	}
	return nil
}

// perListener are the configs Kafka takes with a listener.name.<listener>.
// prefix as well: that listener's value.
var perListener = []string{
	"connections.max.reauth.ms", "sasl.enabled.mechanisms",
	"ssl.cipher.suites", "ssl.client.auth", "ssl.enabled.protocols", "ssl.key.password",
	"ssl.keystore.certificate.chain", "ssl.keystore.key", "ssl.keystore.location", "ssl.keystore.password",
	"ssl.keystore.type", "ssl.principal.mapping.rules", "ssl.truststore.certificates",
	"ssl.truststore.location", "ssl.truststore.type",
}

// ListenerConfigs names the configs that take a listener.name.<listener>.
// prefix, for finding them in the environment.
func ListenerConfigs() []string { return slices.Clone(perListener) }

// listenerDef returns the definition of a listener-prefixed config
// (listener.name.internal.ssl.keystore.location), named by its full name.
func listenerDef(name string) (*Def, bool) {
	rest, ok := strings.CutPrefix(name, "listener.name.")
	if !ok {
		return nil, false
	}
	listener, base, ok := strings.Cut(rest, ".")
	if !ok || listener == "" || listener != strings.ToLower(listener) || !slices.Contains(perListener, base) {
		return nil, false
	}
	d, ok := findDef(brokerDefs, base)
	if !ok {
		return nil, false
	}
	c := d.clone()
	c.Name = name
	c.ReadOnly = true
	return &c, true
}

func mergeDefs(a, b []Def) []Def {
	out := append(slices.Clone(a), b...)
	slices.SortFunc(out, func(x, y Def) int { return strings.Compare(x.Name, y.Name) })
	return out
}

var brokerDefs = mergeDefs(coreBrokerDefs[:], securityDefs)

// protocolMap is listener.security.protocol.map parsed.
type protocolMap interface {
	protocol(listener string) (string, bool)
}

type mapProtocols map[string]string

func (m mapProtocols) protocol(l string) (string, bool) { p, ok := m[l]; return p, ok }

// anyProtocol accepts every listener name, for validating listeners on
// its own.
type anyProtocol struct{}

func (anyProtocol) protocol(string) (string, bool) { return "", true }

// parseProtocolMap parses listener.security.protocol.map as Kafka does:
// NAME:PROTOCOL pairs, names upper-cased, each once.
func parseProtocolMap(name, v string) (mapProtocols, error) {
	m := mapProtocols{}
	for _, e := range strings.Split(v, ",") {
		e = strings.TrimFunc(e, isJavaSpace)
		if e == "" {
			continue
		}
		l, p, ok := strings.Cut(e, ":")
		l, p = strings.ToUpper(strings.TrimSpace(l)), strings.TrimSpace(p)
		if !ok || l == "" {
			return nil, invalidMsg(name, "Invalid map entry "+e+": expected LISTENER_NAME:SECURITY_PROTOCOL")
		}
		switch p {
		case ProtocolPlaintext, ProtocolSSL, ProtocolSASLPlaintext, ProtocolSASLSSL:
		default:
			return nil, invalidMsg(name, "No enum constant org.apache.kafka.common.security.auth.SecurityProtocol."+p)
		}
		if _, dup := m[l]; dup {
			return nil, invalidMsg(name, "Duplicate listener name "+l)
		}
		m[l] = p
	}
	return m, nil
}

// buildListeners parses listeners and advertised.listeners against
// listener.security.protocol.map.
func (b *Broker) buildListeners() error {
	pm, err := parseProtocolMap("listener.security.protocol.map", get[string](b, "listener.security.protocol.map"))
	if err != nil {
		return err
	}
	if b.listeners, err = parseEndpoints("listeners", get[string](b, "listeners"), pm); err != nil {
		return err
	}
	b.advertised = b.listeners
	if v, ok := b.vals["advertised.listeners"]; ok {
		if b.advertised, err = parseEndpoints("advertised.listeners", v.(string), pm); err != nil {
			return err
		}
		for _, a := range b.advertised {
			if !slices.ContainsFunc(b.listeners, func(e Endpoint) bool { return e.Listener == a.Listener }) {
				return invalidMsg("advertised.listeners", "advertised.listeners listener names must be equal to or a subset of the ones defined in listeners. Found "+a.Listener+".")
			}
		}
	}
	return nil
}

// Advertised returns the advertised endpoint of the listener named l (the
// listener's own when advertised.listeners leaves it out).
func (b *Broker) Advertised(l string) (Endpoint, bool) {
	for _, e := range b.advertised {
		if e.Listener == l {
			return e, true
		}
	}
	for _, e := range b.listeners {
		if e.Listener == l {
			return e, true
		}
	}
	return Endpoint{}, false
}

// ListenerValue returns the value of config name for listener l: its
// listener.name.<l>. override when set, else the broker-wide value. The
// value is typed as Kafka types the config (string, []string, int32,
// int64, bool); nil when unset with a null default.
func (b *Broker) ListenerValue(l, name string) any {
	if v, ok := b.vals["listener.name."+strings.ToLower(l)+"."+name]; ok {
		return v
	}
	return b.vals[name]
}

// ListenerString is ListenerValue for a string or password config, "" when
// unset.
func (b *Broker) ListenerString(l, name string) string {
	s, _ := b.ListenerValue(l, name).(string)
	return s
}

// ListenerList is ListenerValue for a list config.
func (b *Broker) ListenerList(l, name string) []string {
	s, _ := b.ListenerValue(l, name).([]string)
	return slices.Clone(s)
}

// ListenerLong is ListenerValue for a long config.
func (b *Broker) ListenerLong(l, name string) int64 {
	n, _ := b.ListenerValue(l, name).(int64)
	return n
}

// SuperUsers is super.users, unparsed ("User:a;User:b").
func (b *Broker) SuperUsers() string { return get[string](b, "super.users") }

// AllowEveryoneIfNoACL is allow.everyone.if.no.acl.found.
func (b *Broker) AllowEveryoneIfNoACL() bool { return get[bool](b, "allow.everyone.if.no.acl.found") }

// AuthorizerEnabled reports whether authorizer.class.name names the
// standard authorizer.
func (b *Broker) AuthorizerEnabled() bool {
	return get[string](b, "authorizer.class.name") == StandardAuthorizer
}

// ConnectionFailedAuthenticationDelayMs is
// connection.failed.authentication.delay.ms.
func (b *Broker) ConnectionFailedAuthenticationDelayMs() int32 {
	return get[int32](b, "connection.failed.authentication.delay.ms")
}

// OAuthBearer returns the sasl.oauthbearer.* settings by name.
func (b *Broker) OAuthBearer(name string) any { return b.vals["sasl.oauthbearer."+name] }

// DelegationTokenSecretKey is delegation.token.secret.key, or its deprecated
// alias delegation.token.master.key when only that is set; empty: delegation
// tokens are disabled.
func (b *Broker) DelegationTokenSecretKey() string {
	if k := get[string](b, "delegation.token.secret.key"); k != "" {
		return k
	}
	return get[string](b, "delegation.token.master.key")
}

// DelegationTokenMaxLifetimeMs is delegation.token.max.lifetime.ms.
func (b *Broker) DelegationTokenMaxLifetimeMs() int64 {
	return get[int64](b, "delegation.token.max.lifetime.ms")
}

// DelegationTokenExpiryTimeMs is delegation.token.expiry.time.ms.
func (b *Broker) DelegationTokenExpiryTimeMs() int64 {
	return get[int64](b, "delegation.token.expiry.time.ms")
}

// DelegationTokenExpiryCheckIntervalMs is
// delegation.token.expiry.check.interval.ms.
func (b *Broker) DelegationTokenExpiryCheckIntervalMs() int64 {
	return get[int64](b, "delegation.token.expiry.check.interval.ms")
}

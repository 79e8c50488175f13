package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"

	"github.com/streamhouse/streamhouse/auth"
	"github.com/streamhouse/streamhouse/broker"
	"github.com/streamhouse/streamhouse/config"
	"github.com/streamhouse/streamhouse/meta"
)

// scramUser is one --add-scram.
type scramUser struct {
	mechanism, name, password string
	iterations                int
}

// parseAddScram reads Kafka's storage-tool form:
// SCRAM-SHA-256=[name=alice,password=alice-secret] with an optional
// iterations=N (4096 when absent). A password holding "," or "]" is given
// quoted: password="a,b".
func parseAddScram(v string) (scramUser, error) {
	mech, rest, ok := strings.Cut(v, "=")
	if !ok || !strings.HasPrefix(rest, "[") || !strings.HasSuffix(rest, "]") {
		return scramUser{}, fmt.Errorf("want MECHANISM=[name=USER,password=PASSWORD], got %q", redact(v))
	}
	if _, ok := auth.ParseMechanism(mech); !ok {
		return scramUser{}, fmt.Errorf("%s is not SCRAM-SHA-256 or SCRAM-SHA-512", mech)
	}
	u := scramUser{mechanism: mech}
	body := rest[1 : len(rest)-1]
	for body != "" {
		k, after, ok := strings.Cut(body, "=")
		if !ok {
			return scramUser{}, fmt.Errorf("--add-scram %s: %q is not key=value", mech, k)
		}
		var val string
		if strings.HasPrefix(after, `"`) {
			end := strings.Index(after[1:], `"`)
			if end < 0 {
				return scramUser{}, fmt.Errorf("--add-scram %s: unterminated quote", mech)
			}
			val, body = after[1:end+1], strings.TrimPrefix(after[end+2:], ",")
		} else {
			val, body, _ = strings.Cut(after, ",")
		}
		switch k {
		case "name":
			u.name = val
		case "password":
			u.password = val
		case "iterations":
			n, err := strconv.Atoi(val)
			if err != nil {
				return scramUser{}, fmt.Errorf("--add-scram %s: iterations %q", mech, val)
			}
			u.iterations = n
		default:
			return scramUser{}, fmt.Errorf("--add-scram %s: unknown key %q (name, password, iterations)", mech, k)
		}
	}
	if u.name == "" || u.password == "" {
		return scramUser{}, fmt.Errorf("--add-scram %s: name and password are required", mech)
	}
	return u, nil
}

// redact hides a password in an --add-scram value quoted in an error.
func redact(v string) string {
	if i := strings.Index(v, "password="); i >= 0 {
		return v[:i] + "password=..."
	}
	return v
}

// addScramUsers stores the --add-scram users before the broker starts.
func addScramUsers(ctx context.Context, cat meta.ScramCredentials, users []scramUser, log *slog.Logger) error {
	for _, u := range users {
		if err := broker.BootstrapScram(ctx, cat, u.mechanism, u.name, u.password, u.iterations); err != nil {
			return fmt.Errorf("--add-scram %s %s: %w", u.mechanism, u.name, err)
		}
		log.Info("scram credential stored", "user", u.name, "mechanism", u.mechanism)
	}
	return nil
}

// set reports whether a setting was given by a flag, the environment or
// the config file.
func (o *options) set(name string) bool {
	_, ok := o.sources[name]
	return ok
}

// longhand reports whether process setting name is a shorthand whose
// broker config is set itself (so --print-config leaves the shorthand out).
func (o *options) longhand(name string) bool {
	for cfg, short := range shorthands {
		if short == name && o.set(cfg) {
			return true
		}
	}
	return false
}

// applyShorthands turns --listen and --advertised-addr into listeners and
// advertised.listeners, unless those are set themselves; both at once is
// an error.
func (o *options) applyShorthands() error {
	for cfg, short := range shorthands {
		if o.set(cfg) {
			if o.set(short) {
				return fmt.Errorf("%s and %s are both set; %s is the shorthand for %s=PLAINTEXT://HOST:PORT: set one",
					o.where(short), o.where(cfg), short, cfg)
			}
			continue
		}
		var v string
		switch short {
		case "listen":
			v = o.listen
		case "advertised-addr":
			v = o.advertisedAddr
		}
		if v != "" {
			o.settings[cfg] = "PLAINTEXT://" + v
		}
	}
	return nil
}

// listen binds every listener and fills in its advertised address:
// advertised.listeners' entry for it, with the bound port when that says 0
// and the bound host when it names none.
func listen(settings *config.Broker, listeners []broker.Listener) ([]net.Listener, error) {
	var ls []net.Listener
	for i, e := range settings.Listeners() {
		l, err := net.Listen("tcp", net.JoinHostPort(e.Host, strconv.Itoa(int(e.Port))))
		if err != nil {
			for _, l := range ls {
				l.Close()
			}
			return nil, fmt.Errorf("listener %s: %w", e.Listener, err)
		}
		ls = append(ls, l)
		bound := l.Addr().(*net.TCPAddr)
		adv, _ := settings.Advertised(e.Listener)
		host, port := adv.Host, int(adv.Port)
		if port == 0 {
			port = bound.Port
		}
		if host == "" || net.ParseIP(host) != nil && net.ParseIP(host).IsUnspecified() {
			// The broker picks its host name, as it does for one
			// listener (broker.advertisedFrom).
			host = ""
			if !bound.IP.IsUnspecified() {
				host = bound.IP.String()
			}
		}
		if host != "" {
			listeners[i].Advertised = net.JoinHostPort(host, strconv.Itoa(port))
		}
	}
	return ls, nil
}

// httpTLSConfig is the HTTP listener's TLS with the broker's ssl.*
// settings when --http-tls is on.
func (o *options) httpTLSConfig(b *config.Broker) (*tls.Config, error) {
	if !o.httpTLS {
		return nil, nil
	}
	t, err := brokerTLS(b)
	if err != nil {
		return nil, fmt.Errorf("--http-tls: %w", err)
	}
	return t, nil
}

// brokerTLS is a server TLS configuration from the broker's ssl.*
// settings, for its HTTP listeners (--http-tls, --schema-registry-tls).
func brokerTLS(b *config.Broker) (*tls.Config, error) {
	get := func(name string) string { s, _ := b.ListenerValue("", name).(string); return s }
	list := func(name string) []string { l, _ := b.ListenerValue("", name).([]string); return l }
	t, err := auth.NewTLS(auth.TLSSettings{
		KeystoreLocation:   get("ssl.keystore.location"),
		KeystoreCertChain:  get("ssl.keystore.certificate.chain"),
		KeystoreKey:        get("ssl.keystore.key"),
		KeyPassword:        get("ssl.key.password"),
		TruststoreLocation: get("ssl.truststore.location"),
		TruststoreCerts:    get("ssl.truststore.certificates"),
		ClientAuth:         get("ssl.client.auth"),
		Protocols:          list("ssl.enabled.protocols"),
		CipherSuites:       list("ssl.cipher.suites"),
	})
	if err != nil {
		return nil, err
	}
	return t.Config(), nil
}

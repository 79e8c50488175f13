package main

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/streamhouse/streamhouse/auth"
	"github.com/streamhouse/streamhouse/broker"
	"github.com/streamhouse/streamhouse/registry"
)

// schemaRegistry is the Confluent-compatible schema registry on its own
// HTTP listener (--schema-registry-listen), a Kafka client of one of this
// broker's listeners.
type schemaRegistry struct {
	reg    *registry.Registry
	srv    *http.Server
	served chan struct{}
}

// registrySetup is what the registry needs from the broker's wiring.
type registrySetup struct {
	listen    string
	tls       *tls.Config // nil: plain HTTP
	listeners []broker.Listener
	bound     []net.Listener // listeners' sockets, in the same order
	// user and password authenticate the registry's Kafka client on a
	// SASL listener (--schema-registry-kafka-user, ...-password).
	user, password string
	passwords      *auth.Passwords  // the SCRAM users, for HTTP basic auth
	authorizer     *auth.Authorizer // nil: no authorization
	metrics        prometheus.Registerer
	log            *slog.Logger
}

// startSchemaRegistry binds the registry's listener and serves it; the
// registry loads `_schemas` in the background (requests wait for it).
//
// Security follows the broker's: when a listener authenticates clients
// (SASL_*), every request needs HTTP basic credentials of a SCRAM user;
// when the broker authorizes (authorizer.class.name), a write needs ALTER
// on the CLUSTER. --schema-registry-tls serves it over TLS with the
// broker's ssl.* settings.
func startSchemaRegistry(c registrySetup) (*schemaRegistry, error) {
	kafkaAddr, opts, err := registryClient(c.listeners, c.bound, c.user, c.password)
	if err != nil {
		return nil, err
	}
	var ra *registryAuth
	if slices.ContainsFunc(c.listeners, func(l broker.Listener) bool { return strings.HasPrefix(l.Protocol, "SASL_") }) {
		ra = &registryAuth{passwords: c.passwords, seen: map[[32]byte]time.Time{}}
	}
	if c.authorizer != nil {
		if ra == nil {
			ra = &registryAuth{}
		}
		ra.authorizer = c.authorizer
	}
	cfg := registry.Config{
		Brokers:    []string{kafkaAddr},
		ClientOpts: opts,
		Logger:     c.log,
		Registerer: c.metrics,
	}
	if ra != nil {
		cfg.Auth = ra
	}
	r, err := registry.New(cfg)
	if err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", c.listen)
	if err != nil {
		r.Close()
		return nil, fmt.Errorf("%w: %w", errRegistryBind, err)
	}
	if c.tls != nil {
		l = tls.NewListener(l, c.tls)
	}
	sr := &schemaRegistry{
		reg:    r,
		srv:    &http.Server{Handler: r.Handler(), ReadHeaderTimeout: 10 * time.Second},
		served: make(chan struct{}),
	}
	go func() {
		// Retries until the broker answers; Close ends it.
		if err := r.Start(context.Background()); err != nil {
			c.log.Error("schema registry: loading _schemas failed; it answers 500", "err", err)
		}
	}()
	go func() {
		defer close(sr.served)
		if err := sr.srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			c.log.Error("schema registry listener stopped", "err", err)
		}
	}()
	c.log.Info("schema registry listening", "addr", l.Addr().String(), "tls", c.tls != nil,
		"basic_auth", ra != nil && ra.passwords != nil, "authorizer", c.authorizer != nil, "kafka", kafkaAddr)
	return sr, nil
}

// registryClient picks the listener the registry's Kafka client uses: with
// user set a SASL_PLAINTEXT one (SCRAM-SHA-512, SCRAM-SHA-256 or PLAIN, as
// it enables), else a PLAINTEXT one.
func registryClient(listeners []broker.Listener, bound []net.Listener, user, password string) (string, []kgo.Opt, error) {
	if user != "" {
		for i, l := range listeners {
			if l.Protocol != "SASL_PLAINTEXT" {
				continue
			}
			var m sasl.Mechanism
			switch {
			case slices.Contains(l.Mechanisms, "SCRAM-SHA-512"):
				m = scram.Auth{User: user, Pass: password}.AsSha512Mechanism()
			case slices.Contains(l.Mechanisms, "SCRAM-SHA-256"):
				m = scram.Auth{User: user, Pass: password}.AsSha256Mechanism()
			case slices.Contains(l.Mechanisms, "PLAIN"):
				m = plain.Auth{User: user, Pass: password}.AsMechanism()
			default:
				continue
			}
			return dialable(bound[i].Addr()), []kgo.Opt{kgo.SASL(m)}, nil
		}
	}
	for i, l := range listeners {
		if l.Protocol == "PLAINTEXT" {
			return dialable(bound[i].Addr()), nil, nil
		}
	}
	return "", nil, errNoRegistryListener
}

// errRegistryBind: the registry's address could not be bound.
var errRegistryBind = errors.New("binding the schema registry's address")

// errNoRegistryListener: no listener the registry's Kafka client can use.
var errNoRegistryListener = errors.New("the schema registry is a Kafka client of this broker and needs a PLAINTEXT listener, " +
	"or a SASL_PLAINTEXT one (SCRAM or PLAIN) with --schema-registry-kafka-user and --schema-registry-kafka-password; " +
	"a loopback listener will do (or turn it off: --schema-registry-listen=)")

// registryAuth is the registry's security hook (registry.Auth).
type registryAuth struct {
	passwords  *auth.Passwords  // nil: no authentication
	authorizer *auth.Authorizer // nil: no authorization

	// seen caches credentials checked right for a while: each check
	// derives a SCRAM key (4096 rounds of PBKDF2 or more), which would
	// cost every request milliseconds. Keyed by a hash of user and
	// password; a changed password is refused once its entry expires.
	mu   sync.Mutex
	seen map[[32]byte]time.Time
}

// basicAuthTTL is how long a checked password is trusted.
const basicAuthTTL = 30 * time.Second

func (a *registryAuth) Authorize(r *http.Request, op registry.Op) error {
	principal := "User:ANONYMOUS"
	if a.passwords != nil {
		user, pass, ok := r.BasicAuth()
		if !ok {
			return registry.ErrUnauthenticated
		}
		if err := a.check(r.Context(), user, pass); err != nil {
			return err
		}
		principal = "User:" + user
	}
	if op == registry.OpWrite && a.authorizer != nil {
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if err != nil {
			host = r.RemoteAddr
		}
		if !a.authorizer.Authorize(principal, host, auth.OpAlter, auth.ResourceCluster, auth.ClusterName) {
			return fmt.Errorf("%w: User %s is denied operation Alter on the Cluster, which writes to the schema registry need", registry.ErrForbidden, principal)
		}
	}
	return nil
}

func (a *registryAuth) check(ctx context.Context, user, pass string) error {
	key := sha256.Sum256([]byte(strconv.Quote(user) + pass))
	now := time.Now()
	a.mu.Lock()
	t, ok := a.seen[key]
	a.mu.Unlock()
	if ok && now.Sub(t) < basicAuthTTL {
		return nil
	}
	if err := a.passwords.Check(ctx, user, pass); err != nil {
		if errors.Is(err, auth.ErrAuthentication) {
			return registry.ErrUnauthenticated
		}
		return err
	}
	a.mu.Lock()
	if len(a.seen) > 10_000 {
		clear(a.seen)
	}
	a.seen[key] = now
	a.mu.Unlock()
	return nil
}

// handler is the registry's HTTP handler; nil without a registry.
func (sr *schemaRegistry) handler() http.Handler {
	if sr == nil {
		return nil
	}
	return sr.reg.Handler()
}

// close stops the listener, then the registry's Kafka client: before the
// broker shuts down, since the registry is its client.
func (sr *schemaRegistry) close(ctx context.Context) {
	if sr == nil {
		return
	}
	sr.srv.Shutdown(ctx)
	<-sr.served
	sr.reg.Close()
}

// dialable is the address a local client reaches a listener at: an
// unspecified host (0.0.0.0, ::) becomes loopback.
func dialable(a net.Addr) string {
	ta, ok := a.(*net.TCPAddr)
	if !ok || !ta.IP.IsUnspecified() {
		return a.String()
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(ta.Port))
}

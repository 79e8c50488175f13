package main

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/streamhouse/streamhouse/broker"
	"github.com/streamhouse/streamhouse/config"
	"github.com/streamhouse/streamhouse/console"
	"github.com/streamhouse/streamhouse/storage"
	"github.com/streamhouse/streamhouse/storage/fs"
)

// startConsole serves the console on the HTTP listener, or there says
// why it is off; nil when it is.
func startConsole(o *options, c consoleSetup, ops *opsServer) *console.Console {
	if !o.console {
		ops.setConsole(http.NotFoundHandler())
		return nil
	}
	con, err := newConsole(c)
	if err != nil {
		c.log.Warn("console off", "why", err.Error())
		msg := "The web console is off: " + err.Error() + "\n"
		ops.setConsole(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, msg, http.StatusNotFound)
		}))
		return nil
	}
	ops.setConsole(con.Handler())
	return con
}

// consoleSetup is what the web console needs from the broker's wiring.
type consoleSetup struct {
	settings  *config.Broker
	listeners []broker.Listener
	bound     []net.Listener      // the listeners' sockets, in the same order
	gatherer  prometheus.Gatherer // the broker's summary metrics
	disk      func() (total, free int64)
	remote    func() (remote, backlog int64) // nil: no tiered storage
	registry  http.Handler                   // the schema registry's; nil: none
	secure    bool                           // the HTTP listener serves TLS
	started   time.Time
	idle      time.Duration
	log       *slog.Logger
}

// newConsole builds the web console, a Kafka client of one of this
// broker's listeners: when a listener authenticates clients (SASL_*), a
// SASL_PLAINTEXT or SASL_SSL one with PLAIN or SCRAM, and the console asks
// its users to log in as a Kafka user; otherwise a PLAINTEXT or SSL one,
// without login. Over SSL it trusts exactly the certificate the broker
// serves.
func newConsole(c consoleSetup) (*console.Console, error) {
	addr, tlsCfg, mechs, err := consoleListener(c.listeners, c.bound)
	if err != nil {
		return nil, err
	}
	cfg := console.Config{
		Brokers:       []string{addr},
		ReadOnly:      c.settings.ConsoleReadOnly(),
		NoMessages:    !c.settings.ConsoleMessages(),
		Started:       c.started,
		SecureCookies: c.secure,
		Logger:        c.log,
		IdleClose:     c.idle,
		Stats:         statsFrom(c.gatherer, c.disk, c.remote),
	}
	if tlsCfg != nil {
		cfg.ClientOpts = []kgo.Opt{kgo.DialTLSConfig(tlsCfg)}
	}
	if mechs != nil {
		cfg.Login = func(user, pass string) sasl.Mechanism {
			switch {
			case slices.Contains(mechs, "SCRAM-SHA-512"):
				return scram.Auth{User: user, Pass: pass}.AsSha512Mechanism()
			case slices.Contains(mechs, "SCRAM-SHA-256"):
				return scram.Auth{User: user, Pass: pass}.AsSha256Mechanism()
			}
			return plain.Auth{User: user, Pass: pass}.AsMechanism()
		}
	}
	if c.registry != nil {
		cfg.Registry = &http.Client{Transport: inProcess{c.registry}, Timeout: 10 * time.Second}
		cfg.RegistryURL = "http://schema-registry.in-process"
	}
	con, err := console.New(cfg)
	if err != nil {
		return nil, err
	}
	c.log.Info("console on the HTTP listener", "kafka", addr, "login", mechs != nil, "read_only", cfg.ReadOnly,
		"messages", !cfg.NoMessages, "schema_registry", c.registry != nil)
	return con, nil
}

var errNoConsoleListener = errors.New("the console is a Kafka client of this broker and needs a PLAINTEXT or SSL listener " +
	"(without ssl.client.auth=required), or, when a listener authenticates clients, a SASL_PLAINTEXT or SASL_SSL one with PLAIN or SCRAM")

// consoleListener picks the listener the console dials: its address, the
// TLS it needs (nil: none) and, when users must log in, the listener's
// SASL mechanisms.
func consoleListener(listeners []broker.Listener, bound []net.Listener) (string, *tls.Config, []string, error) {
	loginable := func(l broker.Listener) bool {
		return slices.ContainsFunc(l.Mechanisms, func(m string) bool { return m == "PLAIN" || strings.HasPrefix(m, "SCRAM-") })
	}
	sasl := slices.ContainsFunc(listeners, func(l broker.Listener) bool { return strings.HasPrefix(l.Protocol, "SASL_") })
	order := []string{"PLAINTEXT", "SSL"}
	if sasl {
		order = []string{"SASL_PLAINTEXT", "SASL_SSL"}
	}
	for _, proto := range order {
		for i, l := range listeners {
			if l.Protocol != proto || (sasl && !loginable(l)) {
				continue
			}
			var tlsCfg *tls.Config
			if strings.HasSuffix(proto, "SSL") {
				var ok bool
				if tlsCfg, ok = pinnedTLS(l.TLS); !ok {
					continue
				}
			}
			var mechs []string
			if sasl {
				mechs = l.Mechanisms
			}
			return dialable(bound[i].Addr()), tlsCfg, mechs, nil
		}
	}
	return "", nil, nil, errNoConsoleListener
}

// pinnedTLS is a client configuration that trusts exactly the leaf
// certificate server presents (read at each handshake, so reloaded
// certificates are followed); false when server wants client
// certificates, which the console does not have.
func pinnedTLS(server *tls.Config) (*tls.Config, bool) {
	current := func() *tls.Config {
		if server.GetConfigForClient != nil {
			if c, err := server.GetConfigForClient(&tls.ClientHelloInfo{}); err == nil && c != nil {
				return c
			}
		}
		return server
	}
	if current().ClientAuth == tls.RequireAnyClientCert || current().ClientAuth == tls.RequireAndVerifyClientCert {
		return nil, false
	}
	return &tls.Config{
		InsecureSkipVerify: true, // verified below: the broker's own certificate, byte for byte
		VerifyConnection: func(cs tls.ConnectionState) error {
			c := current()
			var want []byte
			if len(c.Certificates) > 0 && len(c.Certificates[0].Certificate) > 0 {
				want = c.Certificates[0].Certificate[0]
			} else if c.GetCertificate != nil {
				if cert, err := c.GetCertificate(&tls.ClientHelloInfo{}); err == nil && len(cert.Certificate) > 0 {
					want = cert.Certificate[0]
				}
			}
			if len(cs.PeerCertificates) == 0 || want == nil || !bytes.Equal(cs.PeerCertificates[0].Raw, want) {
				return errors.New("console: the listener did not present this broker's certificate")
			}
			return nil
		},
	}, true
}

// statsFrom reads the overview's counters from the broker's summary
// metrics, and the volume's size and free space from disk.
func statsFrom(g prometheus.Gatherer, disk, remote func() (int64, int64)) func() console.Stats {
	if g == nil {
		return nil
	}
	return func() console.Stats {
		s := console.Stats{DiskTotal: -1, DiskFree: -1, RemoteBytes: -1, UploadBacklog: -1}
		if disk != nil {
			s.DiskTotal, s.DiskFree = disk()
		}
		if remote != nil {
			s.RemoteBytes, s.UploadBacklog = remote()
		}
		mfs, err := g.Gather()
		if err != nil && len(mfs) == 0 {
			return s
		}
		for _, mf := range mfs {
			var sum float64
			for _, m := range mf.GetMetric() {
				switch {
				case m.Counter != nil:
					sum += m.Counter.GetValue()
				case m.Gauge != nil:
					sum += m.Gauge.GetValue()
				}
			}
			switch mf.GetName() {
			case "streamhouse_requests_total":
				s.Requests = sum
			case "streamhouse_bytes_in_total":
				s.BytesIn = sum
			case "streamhouse_bytes_out_total":
				s.BytesOut = sum
			case "streamhouse_records_in_total":
				s.RecordsIn = sum
			case "streamhouse_records_out_total":
				s.RecordsOut = sum
			case "streamhouse_connections":
				s.Connections = sum
			}
		}
		return s
	}
}

// inProcess serves the console's schema registry requests with the
// registry's handler directly: no socket, no TLS, the same checks.
type inProcess struct{ h http.Handler }

func (t inProcess) RoundTrip(orig *http.Request) (*http.Response, error) {
	req := orig.Clone(orig.Context()) // a RoundTripper leaves the caller's request as it was
	if req.Body == nil {
		req.Body = http.NoBody
	}
	req.RemoteAddr = "127.0.0.1:0"
	req.RequestURI = req.URL.RequestURI()
	rec := &recorder{header: http.Header{}, code: http.StatusOK}
	t.h.ServeHTTP(rec, req)
	return &http.Response{StatusCode: rec.code, Status: fmt.Sprintf("%d %s", rec.code, http.StatusText(rec.code)),
		Header: rec.header, Body: io.NopCloser(&rec.body), ContentLength: int64(rec.body.Len()), Request: orig,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1}, nil
}

type recorder struct {
	header http.Header
	code   int
	wrote  bool
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(code int) {
	if !r.wrote {
		r.code, r.wrote = code, true
	}
}

func (r *recorder) Write(b []byte) (int, error) {
	r.wrote = true
	return r.body.Write(b)
}

// consoleRemote reads what tiered storage holds in the bucket and has
// still to upload; nil when data is not tiered.
func consoleRemote(data storage.Store) func() (int64, int64) {
	ts, ok := data.(interface {
		RemoteBytes() int64
		Backlog() (segments int, bytes int64)
	})
	if !ok {
		return nil
	}
	return func() (int64, int64) {
		_, backlog := ts.Backlog()
		return ts.RemoteBytes(), backlog
	}
}

// consoleDisk is the volume's size and the bytes the broker may still use
// there, for the console's overview.
func consoleDisk(store *fs.Store) func() (int64, int64) {
	read := storageMetrics(store)
	return func() (int64, int64) {
		s := read()
		return s.TotalBytes, s.FreeBytes
	}
}

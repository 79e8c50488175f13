// Package brokertest runs a real StreamHouse broker for tests, as
// net/http/httptest runs a real HTTP server: on 127.0.0.1 with an ephemeral
// port and a temporary data directory, with the same storage and catalog
// engines as the binary, stopped when the test ends.
//
//	b := brokertest.New(t)
//	cl, _ := kgo.NewClient(kgo.SeedBrokers(b.Addr()))
package brokertest

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/streamhouse/streamhouse/broker"
	"github.com/streamhouse/streamhouse/config"
	"github.com/streamhouse/streamhouse/internal/loglevel"
	"github.com/streamhouse/streamhouse/internal/pgtest"
	"github.com/streamhouse/streamhouse/meta"
	"github.com/streamhouse/streamhouse/meta/postgres"
	"github.com/streamhouse/streamhouse/meta/sqlite"
	"github.com/streamhouse/streamhouse/metrics"
	"github.com/streamhouse/streamhouse/storage"
	"github.com/streamhouse/streamhouse/storage/fs"
	"github.com/streamhouse/streamhouse/storage/fs/vfs"
	"github.com/streamhouse/streamhouse/storage/objstore"
	"github.com/streamhouse/streamhouse/storage/tiered"
)

// Options change the broker New starts.
type Options struct {
	// Dir is the data directory. Empty: a new t.TempDir().
	Dir string
	// Settings are broker configs by Kafka name, e.g.
	// "auto.create.topics.enable": "false".
	Settings map[string]string
	// Logger receives the broker's logs. Nil: logs go to t.Log when
	// STREAMHOUSE_TEST_LOG is set, and are discarded otherwise.
	Logger *slog.Logger
	// NoSync runs the storage without fsync (streamhouse --fsync=false).
	NoSync bool
	// FrameReadTimeout is broker.Config.FrameReadTimeout.
	FrameReadTimeout time.Duration
	// CatalogPath is the SQLite catalog's file. Empty: metadata.db in
	// Dir. Two brokers given one path share a catalog, as brokers
	// sharing a PostgreSQL catalog do.
	CatalogPath string
	// ScramUsers are created (both SCRAM mechanisms) before the broker
	// starts, as streamhouse --add-scram does: user name to password.
	ScramUsers map[string]string
	// OAuthBearer validates OAUTHBEARER tokens; nil: built from the
	// sasl.oauthbearer.* settings when the JWKS URL is set.
	OAuthBearer broker.OAuthValidator
	// DatabaseURL puts the catalog in PostgreSQL (meta/postgres) at that
	// connection string. Empty: SQLite, unless STREAMHOUSE_TEST_METADATA
	// is postgres, which gives each data directory a schema of its own
	// in the test database (internal/pgtest).
	DatabaseURL string
	// FS is the file system the storage works in (fs.Options.FS): nil,
	// the operating system's; vfs/errorfs injects faults.
	FS vfs.FS
	// Bucket, when set, tiers the storage to it as streamhouse
	// --storage=s3 does (storage/tiered; remote.log.storage.system.enable
	// on, so new topics are tiered), with Tiered's options (its Local,
	// Bucket, Catalog, CacheDir and Logger are the broker's).
	Bucket objstore.Store
	Tiered tiered.Options
}

// Broker is a running broker.
type Broker struct {
	t    testing.TB
	opts Options
	addr string
	// addrs are the bound addresses by listener name, when Settings
	// name listeners; kept for Restart.
	addrs map[string]string

	srv     *broker.Server
	store   *fs.Store
	tiered  *tiered.Store // with Options.Bucket
	catalog meta.Catalog
	metrics *metrics.Broker
	served  chan error
	nserved int
}

// Metrics returns the running broker's metrics (new at each start).
func (b *Broker) Metrics() *metrics.Broker { return b.metrics }

// New starts a broker and stops it when the test ends.
func New(t testing.TB, opts ...Options) *Broker {
	t.Helper()
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	if o.Dir == "" {
		o.Dir = t.TempDir()
	}
	if o.DatabaseURL == "" && o.CatalogPath == "" && pgtest.Enabled() {
		o.DatabaseURL = pgtest.URLFor(t, o.Dir)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
		if os.Getenv("STREAMHOUSE_TEST_LOG") != "" {
			o.Logger = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
		}
	}
	b := &Broker{t: t, opts: o}
	if len(o.ScramUsers) > 0 {
		// As streamhouse --add-scram: in the catalog before the
		// broker starts.
		ctx := context.Background()
		path := o.CatalogPath
		if path == "" {
			path = filepath.Join(o.Dir, "metadata.db")
		}
		cat, err := openCatalog(ctx, path, o.DatabaseURL, nil)
		if err != nil {
			t.Fatalf("brokertest: catalog: %v", err)
		}
		for user, pw := range o.ScramUsers {
			for _, m := range []string{"SCRAM-SHA-256", "SCRAM-SHA-512"} {
				if err := broker.BootstrapScram(ctx, cat, m, user, pw, 0); err != nil {
					t.Fatalf("brokertest: scram user %s: %v", user, err)
				}
			}
		}
		cat.Close()
	}
	b.start("127.0.0.1:0")
	t.Cleanup(func() { b.Stop() })
	return b
}

func (b *Broker) start(addr string) {
	t := b.t
	t.Helper()
	ctx := context.Background()
	set := map[string]string{"node.id": "1"}
	if b.opts.Bucket != nil {
		set["remote.log.storage.system.enable"] = "true"
	}
	for k, v := range b.opts.Settings {
		set[k] = v
	}
	settings, err := config.NewBroker(set)
	if err != nil {
		t.Fatalf("brokertest: settings: %v", err)
	}
	minFree, _ := settings.StorageMinFreeBytes()
	path := b.opts.CatalogPath
	if path == "" {
		path = filepath.Join(b.opts.Dir, "metadata.db")
	}
	b.catalog, err = openCatalog(ctx, path, b.opts.DatabaseURL, b.opts.Logger)
	if err != nil {
		t.Fatalf("brokertest: catalog: %v", err)
	}
	// Fresh metrics per start, as a restarted process has.
	b.metrics = metrics.New()
	b.store, err = fs.New(filepath.Join(b.opts.Dir, "storage"), fs.Options{
		Logger:             b.opts.Logger,
		NoSync:             b.opts.NoSync,
		OnFsync:            b.metrics.Fsync,
		CheckpointInterval: time.Duration(settings.LogFlushOffsetCheckpointIntervalMs()) * time.Millisecond,
		FS:                 b.opts.FS,
		// Off unless Settings sets storage.min.free.bytes: a test must not
		// depend on the free space of the machine it runs on.
		MinFreeBytes: minFree,
	})
	if err != nil {
		t.Fatalf("brokertest: store: %v", err)
	}
	var data storage.Store = b.store
	b.tiered = nil
	if b.opts.Bucket != nil {
		to := b.opts.Tiered
		to.Local, to.Bucket, to.Catalog, to.Logger = b.store, b.opts.Bucket, b.catalog, b.opts.Logger
		to.CacheDir = filepath.Join(b.opts.Dir, "remote-cache")
		if b.tiered, err = tiered.New(to); err != nil {
			t.Fatalf("brokertest: tiered store: %v", err)
		}
		data = b.tiered
	}
	var listeners []broker.Listener
	var ls []net.Listener
	if _, ok := b.opts.Settings["listeners"]; ok {
		listeners, err = broker.ListenersFromSettings(settings, nil)
		if err != nil {
			t.Fatalf("brokertest: listeners: %v", err)
		}
		if b.addrs == nil {
			b.addrs = map[string]string{}
		}
		for i, e := range settings.Listeners() {
			a := b.addrs[e.Listener]
			if a == "" {
				a = net.JoinHostPort(e.Host, fmt.Sprint(e.Port))
			}
			l, err := net.Listen("tcp", a)
			if err != nil {
				t.Fatalf("brokertest: listen %s: %v", a, err)
			}
			b.addrs[e.Listener] = l.Addr().String()
			listeners[i].Advertised = l.Addr().String()
			ls = append(ls, l)
		}
	} else {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			// The port of a restarted broker may be taken meanwhile.
			l, err = net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatalf("brokertest: listen: %v", err)
			}
		}
		ls = append(ls, l)
		listeners = append(listeners, broker.Listener{Name: "PLAINTEXT", Protocol: "PLAINTEXT"})
	}
	oauth := b.opts.OAuthBearer
	if oauth == nil {
		o, err := broker.OAuthFromSettings(settings, b.opts.Logger, false)
		if err != nil {
			t.Fatalf("brokertest: oauth: %v", err)
		}
		if o != nil {
			octx, cancel := context.WithCancel(ctx)
			go o.Run(octx)
			t.Cleanup(cancel)
			oauth = o
		}
	}
	levels := loglevel.New(slog.LevelDebug, b.opts.Logger.Handler())
	b.srv, err = broker.New(ctx, broker.Config{
		Authorizer:       broker.AuthorizerFromSettings(settings),
		OAuthBearer:      oauth,
		Settings:         settings,
		MaxRequestSize:   settings.SocketRequestMaxBytes(),
		FrameReadTimeout: b.opts.FrameReadTimeout,
		Store:            data,
		Catalog:          b.catalog,
		Logger:           levels.Logger("streamhouse.broker"),
		LogLevels:        levels,
		Metrics:          b.metrics,
	})
	if err != nil {
		for _, l := range ls {
			l.Close()
		}
		t.Fatalf("brokertest: broker: %v", err)
	}
	b.addr = ls[0].Addr().String()
	b.served = make(chan error, len(ls))
	b.nserved = len(ls)
	for i, l := range ls {
		go func() { b.served <- b.srv.ServeListener(l, listeners[i]) }()
	}
}

// ListenerAddr is the bound address of the listener named name (when
// Settings name listeners).
func (b *Broker) ListenerAddr(name string) string { return b.addrs[name] }

// openCatalog opens the SQLite catalog at path, or the PostgreSQL one at url
// when it is set.
func openCatalog(ctx context.Context, path, url string, log *slog.Logger) (meta.Catalog, error) {
	if url != "" {
		return postgres.Open(ctx, url, postgres.Options{Logger: log})
	}
	return sqlite.Open(ctx, path, sqlite.Options{Logger: log})
}

// OpenCatalog opens the catalog a broker on data directory dir runs on, as
// New does: metadata.db in dir, or with STREAMHOUSE_TEST_METADATA=postgres
// the directory's schema in the test database. It is closed when the test
// ends. For tests that build a broker.Server themselves.
func OpenCatalog(t testing.TB, dir string) meta.Catalog {
	t.Helper()
	url := ""
	if pgtest.Enabled() {
		url = pgtest.URLFor(t, dir)
	}
	c, err := openCatalog(context.Background(), filepath.Join(dir, "metadata.db"), url, nil)
	if err != nil {
		t.Fatalf("brokertest: catalog: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// Addr is the broker's host:port.
func (b *Broker) Addr() string { return b.addr }

// Dir is the broker's data directory.
func (b *Broker) Dir() string { return b.opts.Dir }

// Tiered is the tiered store, with Options.Bucket; nil otherwise.
func (b *Broker) Tiered() *tiered.Store { return b.tiered }

// Server is the running broker.Server.
func (b *Broker) Server() *broker.Server { return b.srv }

// Stop shuts the broker down gracefully. Stopping a stopped broker does
// nothing.
func (b *Broker) Stop() {
	if b.srv == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := b.srv.Shutdown(ctx); err != nil {
		b.t.Errorf("brokertest: shutdown: %v", err)
	}
	for range b.nserved {
		<-b.served
	}
	var closer interface{ Close() error } = b.store
	if b.tiered != nil {
		closer = b.tiered // closes the local store too
	}
	if err := closer.Close(); err != nil {
		b.t.Errorf("brokertest: close store: %v", err)
	}
	if err := b.catalog.Close(); err != nil {
		b.t.Errorf("brokertest: close catalog: %v", err)
	}
	b.srv = nil
}

// Restart stops the broker and starts it again on the same data directory
// and, when it is still free, the same address.
func (b *Broker) Restart() {
	b.t.Helper()
	b.Stop()
	b.start(b.addr)
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}

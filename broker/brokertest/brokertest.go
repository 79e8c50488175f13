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
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/streamhouse/streamhouse/broker"
	"github.com/streamhouse/streamhouse/config"
	"github.com/streamhouse/streamhouse/internal/loglevel"
	"github.com/streamhouse/streamhouse/meta/sqlite"
	"github.com/streamhouse/streamhouse/metrics"
	"github.com/streamhouse/streamhouse/storage/fs"
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
}

// Broker is a running broker.
type Broker struct {
	t    testing.TB
	opts Options
	addr string

	srv     *broker.Server
	store   *fs.Store
	catalog *sqlite.Catalog
	metrics *metrics.Broker
	served  chan error
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
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
		if os.Getenv("STREAMHOUSE_TEST_LOG") != "" {
			o.Logger = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
		}
	}
	b := &Broker{t: t, opts: o}
	b.start("127.0.0.1:0")
	t.Cleanup(func() { b.Stop() })
	return b
}

func (b *Broker) start(addr string) {
	t := b.t
	t.Helper()
	ctx := context.Background()
	set := map[string]string{"node.id": "1"}
	for k, v := range b.opts.Settings {
		set[k] = v
	}
	settings, err := config.NewBroker(set)
	if err != nil {
		t.Fatalf("brokertest: settings: %v", err)
	}
	path := b.opts.CatalogPath
	if path == "" {
		path = filepath.Join(b.opts.Dir, "metadata.db")
	}
	b.catalog, err = sqlite.Open(ctx, path, sqlite.Options{Logger: b.opts.Logger})
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
	})
	if err != nil {
		t.Fatalf("brokertest: store: %v", err)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		// The port of a restarted broker may be taken meanwhile.
		l, err = net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("brokertest: listen: %v", err)
		}
	}
	levels := loglevel.New(slog.LevelDebug, b.opts.Logger.Handler())
	b.srv, err = broker.New(ctx, broker.Config{
		Settings:         settings,
		MaxRequestSize:   settings.SocketRequestMaxBytes(),
		FrameReadTimeout: b.opts.FrameReadTimeout,
		Store:            b.store,
		Catalog:          b.catalog,
		Logger:           levels.Logger("streamhouse.broker"),
		LogLevels:        levels,
		Metrics:          b.metrics,
	})
	if err != nil {
		l.Close()
		t.Fatalf("brokertest: broker: %v", err)
	}
	b.addr = l.Addr().String()
	b.served = make(chan error, 1)
	go func() { b.served <- b.srv.Serve(l) }()
}

// Addr is the broker's host:port.
func (b *Broker) Addr() string { return b.addr }

// Dir is the broker's data directory.
func (b *Broker) Dir() string { return b.opts.Dir }

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
	<-b.served
	if err := b.store.Close(); err != nil {
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

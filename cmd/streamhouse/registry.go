package main

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/streamhouse/streamhouse/registry"
)

// schemaRegistry is the Confluent-compatible schema registry on its own
// HTTP listener (--schema-registry-listen), a Kafka client of this
// broker's listener.
type schemaRegistry struct {
	reg    *registry.Registry
	srv    *http.Server
	served chan struct{}
	loaded chan struct{}
}

// startSchemaRegistry binds addr and serves the registry there; it loads
// `_schemas` through kafkaAddr in the background (requests wait for it).
func startSchemaRegistry(addr string, kafkaAddr net.Addr, reg prometheus.Registerer, log *slog.Logger) (*schemaRegistry, error) {
	r, err := registry.New(registry.Config{
		Brokers:    []string{dialable(kafkaAddr)},
		Logger:     log,
		Registerer: reg,
	})
	if err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		r.Close()
		return nil, err
	}
	sr := &schemaRegistry{
		reg:    r,
		srv:    &http.Server{Handler: r.Handler(), ReadHeaderTimeout: 10 * time.Second},
		served: make(chan struct{}),
		loaded: make(chan struct{}),
	}
	go func() {
		defer close(sr.loaded)
		// Retries until the broker answers; Close ends it.
		if err := r.Start(context.Background()); err != nil {
			log.Error("schema registry: loading _schemas failed; it answers 500", "err", err)
		}
	}()
	go func() {
		defer close(sr.served)
		if err := sr.srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("schema registry listener stopped", "err", err)
		}
	}()
	log.Info("schema registry listening", "addr", l.Addr().String())
	return sr, nil
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

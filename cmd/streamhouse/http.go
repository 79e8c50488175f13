package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/streamhouse/streamhouse/metrics"
)

// opsServer is the HTTP listener for operators: /metrics (Prometheus),
// /health (the process is alive: 200, with "ok" or, while something is
// wrong that does not stop the broker, "degraded" and a line for each
// condition in the body), /ready (200 once the catalog is open, recovery is
// done and the Kafka listener accepts; 503 before, while shutting down, and
// while the catalog cannot be reached), and /debug/pprof/ when enabled.
//
// A volume below storage.min.free.bytes (or full) is such a condition: the
// broker refuses produce with a retriable error but serves everything
// else, fetches and the requests that give space back (DeleteRecords,
// topic deletion) included, so it stays ready: taking it out of a load
// balancer's rotation would cut its consumers off and the remedies with
// them, and send its producers nowhere better (README, "Disk full").
type opsServer struct {
	srv   *http.Server
	addr  string // the address it listens on
	ready atomic.Bool
	log   *slog.Logger
	// check, once set, says why the broker cannot serve what it should
	// although it runs (the catalog unreachable); nil error: ready.
	check atomic.Pointer[func() error]
	// conditions, once set, lists what is wrong, one line each; none:
	// healthy.
	conditions atomic.Pointer[func() []string]
	// console, once set, serves every other path (the web console, or
	// why it is off).
	console atomic.Pointer[http.Handler]
}

func startOps(addr string, m *metrics.Broker, withPprof bool, tlsCfg *tls.Config, log *slog.Logger) (*opsServer, error) {
	o := &opsServer{log: log}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.Registry(), promhttp.HandlerOpts{Registry: m.Registry()}))
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte(o.status("ok", "degraded")))
	})
	mux.HandleFunc("GET /ready", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if !o.ready.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte("not ready\n"))
			return
		}
		if check := o.check.Load(); check != nil {
			if err := (*check)(); err != nil {
				w.WriteHeader(http.StatusServiceUnavailable)
				fmt.Fprintf(w, "not ready: the catalog is unavailable: %v\n", err)
				return
			}
		}
		w.Write([]byte(o.status("ready", "ready, degraded")))
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if h := o.console.Load(); h != nil {
			(*h).ServeHTTP(w, r)
			return
		}
		http.Error(w, "the console starts with the broker: try again in a moment", http.StatusServiceUnavailable)
	})
	if withPprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	if tlsCfg != nil {
		l = tls.NewListener(l, tlsCfg)
	}
	o.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	o.addr = l.Addr().String()
	go func() {
		if err := o.srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("http listener stopped", "err", err)
		}
	}()
	log.Info("http listener started", "addr", l.Addr().String(), "pprof", withPprof, "tls", tlsCfg != nil)
	return o, nil
}

// setConsole makes h serve every path besides the operators' ones.
func (o *opsServer) setConsole(h http.Handler) {
	if o != nil {
		o.console.Store(&h)
	}
}

// setCheck makes /ready also ask check.
func (o *opsServer) setCheck(check func() error) {
	if o != nil {
		o.check.Store(&check)
	}
}

// status is what /health and /ready answer: ok when nothing is wrong,
// else degraded and a line for each condition.
func (o *opsServer) status(ok, degraded string) string {
	var lines []string
	if fn := o.conditions.Load(); fn != nil {
		lines = (*fn)()
	}
	if len(lines) == 0 {
		return ok + "\n"
	}
	return degraded + "\n" + strings.Join(lines, "\n") + "\n"
}

// watch makes fn the source of the conditions /health and /ready report.
func (o *opsServer) watch(fn func() []string) {
	if o != nil {
		o.conditions.Store(&fn)
	}
}

func (o *opsServer) setReady(v bool) {
	if o != nil {
		o.ready.Store(v)
	}
}

func (o *opsServer) close() {
	if o == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	o.srv.Shutdown(ctx)
}

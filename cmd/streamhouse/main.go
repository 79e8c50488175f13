// Command streamhouse runs a StreamHouse broker: the Kafka protocol on a TCP
// port over a segment log on disk and a SQLite catalog.
//
// Every setting is a flag with an environment variable beside it; a flag
// given on the command line wins over the environment, which wins over the
// default. Broker configs use Kafka's names: --num.partitions=3 or
// STREAMHOUSE_NUM_PARTITIONS=3. Run with --help for the list.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/streamhouse/streamhouse/broker"
	"github.com/streamhouse/streamhouse/config"
	"github.com/streamhouse/streamhouse/meta/sqlite"
	"github.com/streamhouse/streamhouse/metrics"
	"github.com/streamhouse/streamhouse/storage/fs"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Getenv, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, "streamhouse:", err)
		os.Exit(1)
	}
}

// options are the process-level settings; broker configs are in settings.
type options struct {
	listen         string
	advertisedAddr string
	dataDir        string
	nodeID         int
	logLevel       string
	logFormat      string
	shutdownWait   time.Duration
	fsync          bool
	httpListen     string
	pprof          bool
	settings       map[string]string
}

// envName is the environment variable of a flag: STREAMHOUSE_ and the name
// in upper case with '.' and '-' as '_'.
func envName(flagName string) string {
	r := strings.NewReplacer(".", "_", "-", "_")
	return "STREAMHOUSE_" + strings.ToUpper(r.Replace(flagName))
}

// processFlags are the names with their own flag rather than a broker
// config flag.
var processFlags = map[string]bool{"node.id": true, "listeners": true, "advertised.listeners": true, "log.dirs": true}

func parseFlags(args []string, getenv func(string) string, out io.Writer) (*options, error) {
	o := &options{settings: map[string]string{}}
	fset := flag.NewFlagSet("streamhouse", flag.ContinueOnError)
	fset.SetOutput(out)

	str := func(p *string, name, def, usage string) {
		fset.StringVar(p, name, def, usage+" (env "+envName(name)+")")
	}
	str(&o.listen, "listen", "127.0.0.1:9092", "address the Kafka listener binds, host:port")
	str(&o.advertisedAddr, "advertised-addr", "", "host:port returned to clients in Metadata; empty: the listen address")
	str(&o.dataDir, "data-dir", "./data", "directory holding metadata.db (the catalog) and storage/ (the segments)")
	fset.IntVar(&o.nodeID, "node-id", 1, "this broker's node.id (env "+envName("node-id")+")")
	str(&o.logLevel, "log-level", "info", "debug, info, warn or error")
	str(&o.logFormat, "log-format", "auto", "text, json, or auto: text on a terminal, JSON otherwise")
	fset.DurationVar(&o.shutdownWait, "shutdown-timeout", 30*time.Second, "how long SIGTERM waits for in-flight requests (env "+envName("shutdown-timeout")+")")
	str(&o.httpListen, "http-listen", "127.0.0.1:9644", "address of the HTTP listener for /metrics, /health, /ready (and /debug/pprof/); empty: off")
	fset.BoolVar(&o.pprof, "pprof", false, "serve /debug/pprof/ on the HTTP listener (env "+envName("pprof")+")")
	fset.BoolVar(&o.fsync, "fsync", true, "fsync every write before consumers see it and acks=all is answered; false trades durability on power loss for speed (env "+envName("fsync")+")")

	defs := config.BrokerDefs()
	for _, d := range defs {
		if processFlags[d.Name] {
			continue
		}
		name := d.Name
		fset.Func(name, fmt.Sprintf("Kafka broker config %s, default %s (env %s)", name, showDefault(d.Default), envName(name)), func(v string) error {
			o.settings[name] = v
			return nil
		})
	}
	fset.Usage = func() {
		fmt.Fprintf(out, "Usage: streamhouse [flags]\n\nStarts a StreamHouse broker. A flag given on the command line wins over its\nenvironment variable, which wins over the default.\n\nFlags:\n")
		fset.PrintDefaults()
	}
	if err := fset.Parse(args); err != nil {
		return nil, err
	}
	if fset.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %v", fset.Args())
	}

	// Environment variables for every flag not given on the command line.
	given := map[string]bool{}
	fset.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var envErr error
	fset.VisitAll(func(f *flag.Flag) {
		if given[f.Name] || envErr != nil {
			return
		}
		if v, ok := lookupEnv(getenv, envName(f.Name)); ok {
			if err := fset.Set(f.Name, v); err != nil {
				envErr = fmt.Errorf("%s=%q: %w", envName(f.Name), v, err)
			}
		}
	})
	if envErr != nil {
		return nil, envErr
	}
	o.settings["node.id"] = strconv.Itoa(o.nodeID)
	o.settings["listeners"] = "PLAINTEXT://" + o.listen
	if o.advertisedAddr != "" {
		o.settings["advertised.listeners"] = "PLAINTEXT://" + o.advertisedAddr
	}
	o.settings["log.dirs"] = filepath.Join(o.dataDir, "storage")
	return o, nil
}

func lookupEnv(getenv func(string) string, name string) (string, bool) {
	v := getenv(name)
	return v, v != ""
}

func showDefault(v *string) string {
	if v == nil {
		return "null"
	}
	if *v == "" {
		return `""`
	}
	return *v
}

func newLogger(o *options, w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.logLevel)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	hopts := &slog.HandlerOptions{Level: level}
	format := o.logFormat
	if format == "auto" {
		format = "json"
		if f, ok := w.(*os.File); ok {
			if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
				format = "text"
			}
		}
	}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, hopts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, hopts)), nil
	}
	return nil, fmt.Errorf("--log-format: %q is not text, json or auto", o.logFormat)
}

func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	o, err := parseFlags(args, getenv, stderr)
	if err != nil {
		return err
	}
	log, err := newLogger(o, stderr)
	if err != nil {
		return err
	}
	settings, err := config.NewBroker(o.settings)
	if err != nil {
		return err
	}

	if err := os.MkdirAll(o.dataDir, 0o755); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	unlock, err := lockDir(o.dataDir)
	if err != nil {
		return err
	}
	defer unlock()

	start := time.Now()
	m := metrics.New()
	var ops *opsServer
	if o.httpListen != "" {
		if ops, err = startOps(o.httpListen, m, o.pprof, log); err != nil {
			return fmt.Errorf("http listener: %w", err)
		}
		defer ops.close()
	}
	catalog, err := sqlite.Open(ctx, filepath.Join(o.dataDir, "metadata.db"), sqlite.Options{Logger: log})
	if err != nil {
		return err
	}
	defer catalog.Close()
	store, err := fs.New(filepath.Join(o.dataDir, "storage"), fs.Options{
		Logger:             log,
		NoSync:             !o.fsync,
		OnFsync:            m.Fsync,
		CheckpointInterval: time.Duration(settings.LogFlushOffsetCheckpointIntervalMs()) * time.Millisecond,
	})
	if err != nil {
		return err
	}
	defer store.Close()

	srv, err := broker.New(ctx, broker.Config{
		AdvertisedAddr: o.advertisedAddr,
		Settings:       settings,
		MaxRequestSize: settings.SocketRequestMaxBytes(),
		Store:          store,
		Catalog:        catalog,
		Logger:         log,
		Metrics:        m,
	})
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", o.listen)
	if err != nil {
		srv.Shutdown(ctx)
		return err
	}
	log.Info("streamhouse started", "listen", l.Addr().String(), "data_dir", o.dataDir,
		"cluster_id", srv.ClusterID(), "node_id", o.nodeID, "startup", time.Since(start).Round(time.Millisecond))

	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sigs)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	ops.setReady(true)

	select {
	case err := <-served:
		srv.Shutdown(ctx)
		return fmt.Errorf("serve: %w", err)
	case sig := <-sigs:
		log.Info("shutting down", "signal", sig.String())
	}
	ops.setReady(false)
	sctx, cancel := context.WithTimeout(ctx, o.shutdownWait)
	defer cancel()
	go func() {
		// A second signal stops waiting for in-flight requests.
		select {
		case <-sigs:
			log.Warn("second signal: closing connections now")
			cancel()
		case <-sctx.Done():
		}
	}()
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("shutdown did not finish cleanly", "err", err)
	}
	<-served
	log.Info("stopped")
	return nil
}

// lockDir takes an exclusive lock on dir so that two brokers never share a
// data directory.
func lockDir(dir string) (func(), error) {
	f, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock data dir: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("data dir %s is in use by another streamhouse process: %w", dir, err)
	}
	return func() { f.Close() }, nil
}

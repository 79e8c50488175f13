// Command streamhouse runs a StreamHouse broker: the Kafka protocol on a TCP
// port over a segment log on disk and a SQLite catalog.
//
// Every setting is a flag with an environment variable beside it, and may be
// set in a TOML config file (--config or STREAMHOUSE_CONFIG; see
// configfile.go). A flag given on the command line wins over the
// environment, which wins over the config file, which wins over the default.
// Broker configs use Kafka's names: --num.partitions=3,
// STREAMHOUSE_NUM_PARTITIONS=3, or "num.partitions" = 3 in the file's [broker]
// table. --print-config prints the effective settings as a config file and
// exits. Run with --help for the list.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/streamhouse/streamhouse/broker"
	"github.com/streamhouse/streamhouse/cluster"
	"github.com/streamhouse/streamhouse/config"
	"github.com/streamhouse/streamhouse/internal/loglevel"
	"github.com/streamhouse/streamhouse/meta/postgres"
	"github.com/streamhouse/streamhouse/metrics"
	"github.com/streamhouse/streamhouse/storage"
	"github.com/streamhouse/streamhouse/storage/fs"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
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
	frameTimeout   time.Duration
	fsync          bool
	syncMethod     string
	httpListen     string
	registryListen string
	registryTLS    bool
	registryUser   string
	registryPass   string
	pprof          bool
	metadata       string // sqlite or postgres
	databaseURL    string // with metadata postgres
	storage        string // local or s3
	s3Endpoint     string // with storage s3
	s3Bucket       string
	s3Prefix       string
	s3Region       string
	s3CacheBytes   int64
	s3UploadRate   int64 // bytes per second; 0: no limit
	s3PartBytes    int64 // eager upload parts; 0: segments uploaded whole once closed
	s3DeleteGrace  time.Duration
	// With metadata postgres and storage s3 (the cluster mode): a WAL
	// commit round at most every s3FlushInterval, sooner once
	// s3FlushBytes were appended.
	s3FlushInterval time.Duration
	s3FlushBytes    int64
	settings        map[string]string // broker configs by Kafka name
	addScram        []scramUser       // --add-scram
	httpTLS         bool
	oauthUnsecured  bool // --oauthbearer-unsecured-dev

	console     bool          // --console
	consoleIdle time.Duration // --console-idle-close

	configFile  string            // --config or STREAMHOUSE_CONFIG; empty: none
	printConfig bool              // --print-config
	sources     map[string]source // by flag name; absent: the default
	flags       *flag.FlagSet     // parsed, for --print-config
}

// envName is the environment variable of a flag: STREAMHOUSE_ and the name
// in upper case with '.' and '-' as '_'.
func envName(flagName string) string {
	r := strings.NewReplacer(".", "_", "-", "_")
	return "STREAMHOUSE_" + strings.ToUpper(r.Replace(flagName))
}

// parseFlags reads the settings from, in order of precedence, the
// command-line flags in args, the environment (getenv), the config file and
// the defaults. --help is written to out.
func parseFlags(args []string, getenv func(string) string, out io.Writer) (*options, error) {
	o := &options{settings: map[string]string{}, sources: map[string]source{}}
	fset := flag.NewFlagSet("streamhouse", flag.ContinueOnError)
	o.flags = fset
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
	fset.DurationVar(&o.frameTimeout, "frame-read-timeout", 30*time.Second, "how long a request may take to arrive once its first byte has; a client trickling bytes slower is disconnected (env "+envName("frame-read-timeout")+")")
	str(&o.httpListen, "http-listen", "127.0.0.1:9644", "address of the HTTP listener for /metrics, /health, /ready (and /debug/pprof/); empty: off")
	str(&o.registryListen, "schema-registry-listen", "127.0.0.1:8081", "address of the Confluent-compatible schema registry's HTTP listener; empty: off")
	fset.BoolVar(&o.registryTLS, "schema-registry-tls", false, "serve the schema registry over TLS with the broker's ssl.keystore.* settings (and ssl.client.auth, ssl.truststore.*) (env "+envName("schema-registry-tls")+")")
	str(&o.registryUser, "schema-registry-kafka-user", "", "the user the schema registry's Kafka client authenticates as on a SASL_PLAINTEXT listener; empty: it uses a PLAINTEXT listener")
	str(&o.registryPass, "schema-registry-kafka-password", "", "that user's password")
	fset.BoolVar(&o.pprof, "pprof", false, "serve /debug/pprof/ on the HTTP listener (env "+envName("pprof")+")")
	str(&o.metadata, "metadata", metadataSQLite, "the catalog: sqlite (a file in the data directory) or postgres (the database --database-url names)")
	fset.StringVar(&o.databaseURL, "database-url", "", "with --metadata=postgres, the PostgreSQL connection string: postgresql://user:password@host:5432/database?sslmode=..., pgx's syntax, PG* environment variables for what it leaves out (env "+envName("database-url")+" or DATABASE_URL)")
	str(&o.storage, "storage", storageLocal, "where partition data lives: local (the data directory only) or s3 (tiered: closed segments are uploaded to the bucket --s3-bucket names and read back from it; the data directory keeps the recent part, local.retention.*)")
	str(&o.s3Endpoint, "s3-endpoint", "", "with --storage=s3, the S3 API's URL: http://127.0.0.1:9000 for MinIO or versitygw; empty: AWS S3 in --s3-region (credentials from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, ~/.aws, or the instance's role; env "+envName("s3-endpoint")+" or S3_ENDPOINT)")
	fset.StringVar(&o.s3Bucket, "s3-bucket", "", "with --storage=s3, the bucket, which must exist (env "+envName("s3-bucket")+" or S3_BUCKET)")
	str(&o.s3Prefix, "s3-prefix", "", "with --storage=s3, a prefix for every object key, so that several clusters share a bucket")
	fset.StringVar(&o.s3Region, "s3-region", "", "with --storage=s3, the bucket's region; empty: us-east-1 (env "+envName("s3-region")+" or AWS_REGION)")
	fset.Int64Var(&o.s3CacheBytes, "s3-cache-bytes", 1<<30, "with --storage=s3, the most bytes of remote data kept on local disk for reads (env "+envName("s3-cache-bytes")+")")
	fset.Int64Var(&o.s3PartBytes, "s3-part-bytes", 8<<20, "with --storage=s3, the size of the parts in which a segment is uploaded as it fills (the last one sent when it closes); at least 5 MiB (S3's smallest part); 0: segments are uploaded whole once closed (env "+envName("s3-part-bytes")+")")
	fset.Int64Var(&o.s3UploadRate, "s3-upload-bytes-per-second", 0, "with --storage=s3, the most bytes per second uploaded to the bucket, all partitions together; 0: no limit (env "+envName("s3-upload-bytes-per-second")+")")
	fset.DurationVar(&o.s3DeleteGrace, "s3-delete-grace", 5*time.Minute, "with --storage=s3, how long an object retention or DeleteRecords gave up stays in the bucket (a fetch under way may still read it), and how old an object no catalog record names (an upload cut short) must be before the sweep deletes it (env "+envName("s3-delete-grace")+")")
	fset.DurationVar(&o.s3FlushInterval, "s3-flush-interval", 250*time.Millisecond, "in the cluster mode (--metadata=postgres with --storage=s3), how long appends are gathered into one object in the bucket and one catalog transaction before they are acknowledged (acks=all): the produce latency it adds, against the PUTs and transactions per second it saves (env "+envName("s3-flush-interval")+")")
	fset.Int64Var(&o.s3FlushBytes, "s3-flush-bytes", 8<<20, "in the cluster mode, a commit round starts before --s3-flush-interval once this many bytes were appended (env "+envName("s3-flush-bytes")+")")
	fset.BoolVar(&o.fsync, "fsync", true, "fsync every write before consumers see it and acks=all is answered; false trades durability on power loss for speed (env "+envName("fsync")+")")
	str(&o.syncMethod, "sync-method", "auto", "how a commit round makes its files durable: fdatasync, each file; syncfs, one syncfs(2) of the data directory's file system for a round of several files (Linux 5.8+; fewer device flushes and less kernel CPU, but it also writes back whatever else is dirty there: for a data directory on a file system of its own); auto, where syncfs reports errors: syncfs when the data directory is a mount point (a volume of its own), and otherwise for each round that finds at most 64 MiB of other programs' data dirty in the page cache; fdatasync elsewhere")
	fset.Func("add-scram", "create or replace a SCRAM user at start, as Kafka's storage tool: 'SCRAM-SHA-256=[name=admin,password=admin-secret]' (iterations=N optional; repeatable; env "+envName("add-scram")+")", func(v string) error {
		u, err := parseAddScram(v)
		if err == nil {
			o.addScram = append(o.addScram, u)
		}
		return err
	})
	fset.BoolVar(&o.oauthUnsecured, "oauthbearer-unsecured-dev", false, "DEVELOPMENT ONLY: OAUTHBEARER also accepts unsigned tokens (alg none), as Kafka's unsecured validator; anyone can then authenticate as anyone (env "+envName("oauthbearer-unsecured-dev")+")")
	fset.BoolVar(&o.httpTLS, "http-tls", false, "serve the HTTP listener over TLS with the broker's ssl.keystore.* settings (and ssl.client.auth, ssl.truststore.*) (env "+envName("http-tls")+")")
	fset.BoolVar(&o.console, "console", true, "serve the web console at the root of the HTTP listener (console.read.only and console.messages.enable limit it) (env "+envName("console")+")")
	fset.DurationVar(&o.consoleIdle, "console-idle-close", time.Minute, "how long the console keeps its Kafka client open after its last request; nothing of the console runs while nobody looks (env "+envName("console-idle-close")+")")
	str(&o.configFile, "config", "", "TOML config file: process settings as top-level keys named as their flags, Kafka broker configs in a [broker] table by their Kafka names; flags and environment variables win over it")
	fset.BoolVar(&o.printConfig, "print-config", false, "print the effective settings (flags, environment, config file, defaults) as a config file for --config, and exit")

	defs := config.BrokerDefs()
	for _, d := range defs {
		if _, ok := processOwned[d.Name]; ok {
			continue
		}
		o.brokerFlag(d)
	}
	// Per-listener configs (listener.name.<listener>.ssl.keystore.location)
	// have a flag each when given.
	for _, a := range args {
		name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if strings.HasPrefix(a, "-") && strings.HasPrefix(name, "listener.name.") && fset.Lookup(name) == nil {
			if d, ok := config.BrokerDef(name); ok {
				o.brokerFlag(d)
			}
		}
	}
	fset.Usage = func() {
		fmt.Fprint(out, `Usage: streamhouse [flags]

Starts a StreamHouse broker. Each setting is taken from the first of these
that sets it:
  1. its flag on the command line: --fsync=false, --num.partitions=3
  2. its environment variable: STREAMHOUSE_FSYNC=false, STREAMHOUSE_NUM_PARTITIONS=3
  3. the config file named by --config or STREAMHOUSE_CONFIG (TOML):
     fsync = false at the top level, "num.partitions" = 3 in its [broker] table
  4. its default
--print-config prints what that makes of every setting, as a config file.

Flags:
`)
		fset.PrintDefaults()
	}
	if err := fset.Parse(args); err != nil {
		return nil, err
	}
	if fset.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %v", fset.Args())
	}

	// Environment variables for every flag not given on the command line.
	fset.Visit(func(f *flag.Flag) { o.sources[f.Name] = srcFlag })
	var envErr error
	fset.VisitAll(func(f *flag.Flag) {
		if _, set := o.sources[f.Name]; set || envErr != nil || f.Name == "print-config" {
			return
		}
		v, ok := lookupEnv(getenv, envName(f.Name))
		if alias, has := envAliases[f.Name]; has && !ok {
			v, ok = lookupEnv(getenv, alias)
		}
		if ok {
			if err := fset.Set(f.Name, v); err != nil {
				envErr = fmt.Errorf("%s=%q: %w", envName(f.Name), v, err)
			}
			o.sources[f.Name] = srcEnv
		}
	})
	if envErr != nil {
		return nil, envErr
	}

	// The config file for every setting still unset.
	if o.configFile != "" {
		file, err := readConfigFile(o.configFile, o.where("config"))
		if err != nil {
			return nil, err
		}
		for _, name := range slices.Sorted(maps.Keys(file)) {
			if _, set := o.sources[name]; set {
				continue
			}
			if d, ok := config.BrokerDef(name); ok && fset.Lookup(name) == nil {
				o.brokerFlag(d) // a listener.name. config
			}
			if err := fset.Set(name, file[name]); err != nil {
				return nil, fmt.Errorf("config file %s: %s: %w", o.configFile, fileKey(name), err)
			}
			o.sources[name] = srcFile
		}
	}
	// Per-listener configs from the environment
	// (STREAMHOUSE_LISTENER_NAME_INTERNAL_SSL_KEYSTORE_LOCATION), for the
	// listeners however they were given; they win over the config file.
	if err := o.listenerEnv(getenv); err != nil {
		return nil, err
	}
	o.settings["node.id"] = strconv.Itoa(o.nodeID)
	if err := o.applyShorthands(); err != nil {
		return nil, err
	}
	o.settings["log.dirs"] = filepath.Join(o.dataDir, "storage")
	o.settings["streamhouse.metadata"] = o.metadata
	switch o.metadata {
	case metadataSQLite:
		if abs, err := filepath.Abs(filepath.Join(o.dataDir, "metadata.db")); err == nil {
			o.settings["streamhouse.metadata.location"] = abs
		}
	case metadataPostgres:
		o.settings["streamhouse.metadata.location"] = postgres.Describe(o.databaseURL, postgres.Options{})
	}
	switch o.storage {
	case storageLocal:
		o.settings["remote.log.storage.system.enable"] = "false"
	case storageS3:
		if o.s3Bucket == "" {
			return nil, fmt.Errorf("%s: --storage=s3 needs --s3-bucket or S3_BUCKET", o.where("storage"))
		}
		o.settings["remote.log.storage.system.enable"] = "true"
	default:
		return nil, fmt.Errorf("%s: %q is not local or s3", o.where("storage"), o.storage)
	}
	return o, nil
}

// listenerEnv sets the listener.name.<listener>. configs of the listeners
// named in listeners from their environment variables, unless a flag set
// them.
func (o *options) listenerEnv(getenv func(string) string) error {
	for _, l := range strings.Split(o.settings["listeners"], ",") {
		l, _, ok := strings.Cut(strings.TrimSpace(l), "://")
		if !ok || l == "" {
			continue
		}
		for _, base := range config.ListenerConfigs() {
			name := "listener.name." + strings.ToLower(l) + "." + base
			if o.sources[name] == srcFlag {
				continue
			}
			v, ok := lookupEnv(getenv, envName(name))
			if !ok {
				continue
			}
			if o.flags.Lookup(name) == nil {
				d, ok := config.BrokerDef(name)
				if !ok {
					continue
				}
				o.brokerFlag(d)
			}
			if err := o.flags.Set(name, v); err != nil {
				return fmt.Errorf("%s=%q: %w", envName(name), v, err)
			}
			o.sources[name] = srcEnv
		}
	}
	return nil
}

// brokerFlag defines the flag of broker config d.
func (o *options) brokerFlag(d config.Def) {
	name := d.Name
	o.flags.Func(name, fmt.Sprintf("Kafka broker config %s, default %s (env %s)", name, showDefault(d.Default), envName(name)), func(v string) error {
		o.settings[name] = v
		return nil
	})
}

// origin says where the value of flag name came from, for --print-config.
func (o *options) origin(name string) string {
	switch o.sources[name] {
	case srcFlag:
		return "flag --" + name
	case srcEnv:
		return "env " + envName(name)
	case srcFile:
		return "file " + o.configFile
	}
	return "default"
}

// where names the flag, environment variable or config-file key that set
// flag name, for an error about its value; "default" when none did.
func (o *options) where(name string) string {
	switch o.sources[name] {
	case srcFlag:
		return "--" + name
	case srcEnv:
		return envName(name)
	case srcFile:
		return "config file " + o.configFile + ": " + fileKey(name)
	}
	return "default"
}

// newBroker validates the broker configs, naming in an error the flag,
// environment variable or config-file key that set the config at fault.
func (o *options) newBroker() (*config.Broker, error) {
	b, err := config.NewBroker(o.settings)
	if err == nil {
		return b, nil
	}
	var ce *config.Error
	if !errors.As(err, &ce) {
		return nil, err
	}
	// The config at fault may be one a process setting sets, or one that
	// another config set: a topic config whose default comes from a broker
	// config (flush.ms from log.flush.interval.ms), or a broker config one
	// of its group set (log.retention.ms from log.retention.hours).
	name := ce.Name
	if p, ok := processOwned[name]; ok {
		name = p
	} else if p, ok := shorthands[name]; ok && !o.set(name) {
		name = p
	} else if _, ok := o.settings[name]; !ok {
		var synonyms []string
		if d, ok := config.BrokerDef(name); ok {
			synonyms = d.Synonyms
		} else if d, ok := config.TopicDef(name); ok {
			synonyms = d.Synonyms
		}
		for _, s := range synonyms {
			if _, ok := o.settings[s]; ok {
				name = s
				break
			}
		}
	}
	if _, set := o.sources[name]; !set {
		return nil, err
	}
	return nil, fmt.Errorf("%s: %w", o.where(name), err)
}

// envAliases are the environment variables a setting is also read from when
// its STREAMHOUSE_ one is unset: the names the product's documentation and
// common deployments use.
var envAliases = map[string]string{
	"database-url": "DATABASE_URL",
	"s3-endpoint":  "S3_ENDPOINT",
	"s3-bucket":    "S3_BUCKET",
	"s3-region":    "AWS_REGION",
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

// newLogger returns the root logger and the levels of the named loggers
// (BROKER_LOGGER): the handler lets every level through, the levels decide.
func newLogger(o *options, w io.Writer) (*slog.Logger, *loglevel.Levels, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.logLevel)); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", o.where("log-level"), err)
	}
	hopts := &slog.HandlerOptions{Level: slog.LevelDebug - 8}
	format := o.logFormat
	if format == "auto" {
		format = "json"
		if f, ok := w.(*os.File); ok {
			if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
				format = "text"
			}
		}
	}
	var h slog.Handler
	switch format {
	case "text":
		h = slog.NewTextHandler(w, hopts)
	case "json":
		// A duration reads as text does ("6ms"), not as slog's JSON
		// default, integer nanoseconds.
		hopts.ReplaceAttr = func(_ []string, a slog.Attr) slog.Attr {
			if a.Value.Kind() == slog.KindDuration {
				a.Value = slog.StringValue(a.Value.Duration().String())
			}
			return a
		}
		h = slog.NewJSONHandler(w, hopts)
	default:
		return nil, nil, fmt.Errorf("%s: %q is not text, json or auto", o.where("log-format"), o.logFormat)
	}
	levels := loglevel.New(level, h)
	return levels.Logger(loglevel.Root), levels, nil
}

// run runs the broker until SIGTERM or SIGINT, or with --print-config prints
// the effective settings to stdout and returns.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "catalog" {
		return runCatalog(ctx, args[1:], getenv, stdout, stderr)
	}
	o, err := parseFlags(args, getenv, stderr)
	if err != nil {
		return err
	}
	log, levels, err := newLogger(o, stderr)
	if err != nil {
		return err
	}
	settings, err := o.newBroker()
	if err != nil {
		return err
	}
	if o.printConfig {
		return printConfig(stdout, o, settings)
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
		tlsCfg, err := o.httpTLSConfig(settings)
		if err != nil {
			return fmt.Errorf("http listener: %w", err)
		}
		if ops, err = startOps(o.httpListen, m, o.pprof, tlsCfg, log); err != nil {
			return fmt.Errorf("http listener: %w", err)
		}
		defer ops.close()
	}
	catalog, err := openCatalog(ctx, o, levels, m)
	if err != nil {
		return err
	}
	defer catalog.Close()
	log.Info("catalog open", "metadata", o.metadata, "at", catalog.where)
	if err := addScramUsers(ctx, catalog, o.addScram, log); err != nil {
		return err
	}
	syncFS, foreignDirty, err := useSyncFS(o)
	if err != nil {
		return err
	}
	if o.fsync {
		method := "fdatasync"
		switch {
		case foreignDirty > 0:
			method = fmt.Sprintf("syncfs while other programs have at most %d MiB dirty in the page cache, fdatasync otherwise", foreignDirty>>20)
		case syncFS:
			method = "syncfs"
		}
		log.Info("storage: commit rounds make their files durable by "+method, "sync_method", o.syncMethod)
	}
	fsOpts := fs.Options{
		Logger:             levels.Logger("streamhouse.storage"),
		NoSync:             !o.fsync,
		SyncFS:             syncFS,
		SyncFSForeignDirty: foreignDirty,
		OnFsync:            m.Fsync,
		CheckpointInterval: time.Duration(settings.LogFlushOffsetCheckpointIntervalMs()) * time.Millisecond,
		MinFreeBytes:       minFreeBytes(settings),
	}
	var store *fs.Store
	var data storage.Store
	var remote storage.Store     // what the console asks about the bucket
	var lead *cluster.Leadership // the cluster mode's; nil otherwise
	if o.clustered() {
		lead = newLeadership(settings, catalog.Catalog, levels.Logger("streamhouse.cluster"))
		bucket, err := openBucket(ctx, o)
		if err != nil {
			return err
		}
		cs, err := openClusterStore(o, settings, catalog.Catalog, lead, bucket, fsOpts, m, levels)
		if err != nil {
			return err
		}
		// Closed after the leadership (deferred below, so run
		// before): the logs' last commits are made under the session.
		defer cs.wal.Close()
		store, data, remote = cs.fs, cs.wal, cs.tiered
	} else {
		if store, err = fs.New(filepath.Join(o.dataDir, "storage"), fsOpts); err != nil {
			return err
		}
		defer store.Close()
		data, remote = store, store
	}
	m.WatchStorage(storageMetrics(store))
	ops.watch(storageConditions(store))
	if o.storage == storageLocal {
		if err := checkNoRemoteData(ctx, catalog.Catalog); err != nil {
			return err
		}
	} else if !o.clustered() {
		ts, err := openTiered(ctx, o, store, catalog.Catalog, m, levels.Logger("streamhouse.tiered"))
		if err != nil {
			return err
		}
		defer ts.Close()
		data, remote = ts, ts
	}

	listeners, err := broker.ListenersFromSettings(settings, func(l string, err error) {
		log.Error("tls: new certificates did not load; serving the previous ones", "listener", l, "err", err)
	})
	if err != nil {
		return err
	}
	var oauth broker.OAuthValidator
	if o.oauthUnsecured {
		log.Warn("OAUTHBEARER ACCEPTS UNSIGNED TOKENS (--oauthbearer-unsecured-dev): anyone can authenticate as anyone; for development only, never on a network")
	}
	if ov, err := broker.OAuthFromSettings(settings, log, o.oauthUnsecured); err != nil {
		return err
	} else if ov != nil {
		octx, cancel := context.WithCancel(ctx)
		defer cancel()
		go ov.Run(octx)
		oauth = ov
	}
	authorizer := broker.AuthorizerFromSettings(settings)
	var leadership broker.Cluster
	if lead != nil {
		leadership = lead
	}
	srv, err := broker.New(ctx, broker.Config{
		Cluster:          leadership,
		Placement:        cluster.Owner,
		Authorizer:       authorizer,
		OAuthBearer:      oauth,
		AdvertisedAddr:   o.advertisedAddr,
		Settings:         settings,
		MaxRequestSize:   settings.SocketRequestMaxBytes(),
		FrameReadTimeout: o.frameTimeout,
		Store:            data,
		Catalog:          catalog.Catalog,
		Logger:           levels.Logger("streamhouse.broker"),
		LogLevels:        levels,
		Metrics:          m,
	})
	if err != nil {
		return err
	}
	ls, err := listen(settings, listeners)
	if err != nil {
		srv.Shutdown(ctx)
		return err
	}
	var addrs []string
	for i, l := range ls {
		addrs = append(addrs, listeners[i].Name+"://"+l.Addr().String())
	}
	// leave hands this broker's partitions and shards over and ends its
	// session (the cluster mode): at SIGTERM before the broker stops
	// answering, so that clients find the new leaders at once.
	leave := func() {
		if lead == nil {
			return
		}
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if err := lead.Close(cctx); err != nil {
			log.Warn("leaving the cluster failed; the others take this broker's partitions when its session expires", "err", err)
		}
	}
	if lead != nil {
		// Join the cluster as the listeners are bound: they are what
		// the others give clients. Its partitions are taken from here
		// on; Close, deferred, ends the session once the broker has
		// stopped serving and closed its logs.
		self, err := registration(settings, listeners, ls)
		if err == nil {
			err = lead.Start(ctx, self, srv)
		}
		if err != nil {
			srv.Shutdown(ctx)
			return fmt.Errorf("join the cluster: %w", err)
		}
		defer leave()
		log.Info("joined the cluster", "node_id", self.NodeID, "rack", self.Rack, "listeners", fmt.Sprint(self.Listeners))
	}
	// SIGTERM and SIGINT are caught before "streamhouse started" is
	// logged: a supervisor (or a test) that stops the broker as soon as
	// it reads the line gets a clean shutdown, not a process killed by
	// the signal's default action.
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sigs)
	// listen is the first listener's address, as before listeners: tools
	// (streambench) read it.
	log.Info("streamhouse started", "listen", ls[0].Addr().String(), "listeners", strings.Join(addrs, ","), "data_dir", o.dataDir,
		"cluster_id", srv.ClusterID(), "node_id", o.nodeID, "authorizer", settings.AuthorizerEnabled(),
		"startup", time.Since(start).Round(time.Millisecond))

	served := make(chan error, len(ls))
	for i, l := range ls {
		go func() { served <- srv.ServeListener(l, listeners[i]) }()
	}
	var sr *schemaRegistry
	if o.registryListen != "" {
		rs := registrySetup{listen: o.registryListen, listeners: listeners, bound: ls, user: o.registryUser, password: o.registryPass,
			passwords: srv.Passwords(), authorizer: authorizer, metrics: m.Registry(), log: levels.Logger("streamhouse.registry")}
		if o.registryTLS {
			if rs.tls, err = brokerTLS(settings); err == nil {
				sr, err = startSchemaRegistry(rs)
			}
		} else {
			sr, err = startSchemaRegistry(rs)
		}
		switch {
		case (errors.Is(err, errNoRegistryListener) || errors.Is(err, errRegistryBind)) && !o.set("schema-registry-listen"):
			// On by default only: a broker whose default registry
			// port is taken, or that has no listener the registry can
			// use, starts without it.
			log.Warn("schema registry off", "why", err.Error())
		case err != nil:
			srv.Shutdown(ctx)
			for range ls {
				<-served
			}
			return fmt.Errorf("schema registry listener: %w", err)
		default:
			srv.SetSchemaValidator(sr.reg)
		}
	}
	if ops != nil {
		con := startConsole(o, consoleSetup{settings: settings, listeners: listeners, bound: ls, gatherer: m.Summary(), disk: consoleDisk(store), remote: consoleRemote(remote),
			registry: sr.handler(), secure: o.httpTLS, started: start, idle: o.consoleIdle, log: levels.Logger("streamhouse.console")}, ops)
		defer con.Close()
	}
	ops.setCheck(catalog.unavailable)
	ops.setReady(true)

	select {
	case err := <-served:
		sr.close(ctx)
		srv.Shutdown(ctx)
		return fmt.Errorf("serve: %w", err)
	case sig := <-sigs:
		log.Info("shutting down", "signal", sig.String())
		if lead != nil {
			began := time.Now()
			leave()
			log.Info("left the cluster: partitions and coordinator shards handed over", "took", time.Since(began).Round(time.Millisecond))
		}
	case <-catalog.lost:
		// Another broker took the catalog while this one's claim was
		// lost: serving on would be two brokers on one catalog.
		log.Error("stopping: another broker took the catalog")
		ops.setReady(false)
		sctx, cancel := context.WithTimeout(ctx, o.shutdownWait)
		defer cancel()
		sr.close(sctx)
		srv.Shutdown(sctx)
		for range ls {
			<-served
		}
		return errors.New("another broker took the catalog while this one's claim on it was lost")
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
	sr.close(sctx)
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("shutdown did not finish cleanly", "err", err)
	}
	for range ls {
		<-served
	}
	log.Info("stopped")
	return nil
}

// autoForeignDirty is the most dirty page cache, besides the broker's own,
// under which --sync-method=auto makes a round one syncfs when the data
// directory shares its file system: at ~1 GB/s of write-back, a round
// that finds it all waits ~60 ms once.
const autoForeignDirty = 64 << 20

// useSyncFS resolves --sync-method into fs.Options' SyncFS and
// SyncFSForeignDirty: auto is syncfs where this kernel's syncfs reports
// write-back errors; unconditionally when the data directory is a mount
// point (a volume given to the broker: syncfs then writes back nothing of
// anyone else's), else for rounds that find at most autoForeignDirty of
// others' data dirty.
func useSyncFS(o *options) (bool, int64, error) {
	switch o.syncMethod {
	case "fdatasync":
		return false, 0, nil
	case "syncfs":
		return true, 0, nil
	case "auto":
		if fs.SyncFSSupported() != nil {
			return false, 0, nil
		}
		if own, err := mountPoint(o.dataDir); err == nil && own {
			return true, 0, nil
		}
		return true, autoForeignDirty, nil
	}
	return false, 0, fmt.Errorf("%s: %q is not auto, fdatasync or syncfs", o.where("sync-method"), o.syncMethod)
}

// mountPoint reports whether dir is the root of a file system: its device
// differs from its parent's (or it is /).
func mountPoint(dir string) (bool, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return false, err
	}
	parent := filepath.Dir(abs)
	if parent == abs {
		return true, nil
	}
	var st, pst syscall.Stat_t
	if err := syscall.Stat(abs, &st); err != nil {
		return false, err
	}
	if err := syscall.Stat(parent, &pst); err != nil {
		return false, err
	}
	return st.Dev != pst.Dev, nil
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

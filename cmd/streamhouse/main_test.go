package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/BurntSushi/toml"

	"github.com/streamhouse/streamhouse/config"
	"github.com/streamhouse/streamhouse/storage/fs"
)

// environ is a getenv over a map.
func environ(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// writeConfig writes a config file into a fresh temp dir and returns its
// path.
func writeConfig(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "streamhouse.toml")
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// effective is everything parseFlags decided: each process setting as its
// flag renders it, and each broker config's value and source as
// DescribeConfigs would report them.
type effective struct {
	Process map[string]string
	Broker  map[string][3]string // value, source, ok
}

func effectiveOf(t *testing.T, o *options) effective {
	t.Helper()
	b, err := o.newBroker()
	if err != nil {
		t.Fatalf("newBroker: %v", err)
	}
	e := effective{Process: map[string]string{}, Broker: map[string][3]string{}}
	for _, k := range processKeys {
		e.Process[k.name] = o.flags.Lookup(k.name).Value.String()
	}
	for _, d := range config.BrokerDefs() {
		v, src, ok := b.Value(d.Name)
		e.Broker[d.Name] = [3]string{v, src.String(), map[bool]string{true: "ok"}[ok]}
	}
	return e
}

func TestPrecedence(t *testing.T) {
	t.Parallel()
	// Each case sets a process setting (listen) and a broker config
	// (num.partitions) from some of the four sources.
	tests := []struct {
		name                       string
		flag, env, file            bool
		wantListen, wantPartitions string
		wantSource                 source
	}{
		{name: "default", wantListen: "127.0.0.1:9092", wantPartitions: "", wantSource: srcDefault},
		{name: "file", file: true, wantListen: "file:1", wantPartitions: "3", wantSource: srcFile},
		{name: "env over file", env: true, file: true, wantListen: "env:1", wantPartitions: "2", wantSource: srcEnv},
		{name: "env", env: true, wantListen: "env:1", wantPartitions: "2", wantSource: srcEnv},
		{name: "flag over env over file", flag: true, env: true, file: true, wantListen: "flag:1", wantPartitions: "1", wantSource: srcFlag},
		{name: "flag over file", flag: true, file: true, wantListen: "flag:1", wantPartitions: "1", wantSource: srcFlag},
		{name: "flag", flag: true, wantListen: "flag:1", wantPartitions: "1", wantSource: srcFlag},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var args []string
			env := map[string]string{}
			if tt.flag {
				args = append(args, "--listen=flag:1", "--num.partitions=1")
			}
			if tt.env {
				env["STREAMHOUSE_LISTEN"] = "env:1"
				env["STREAMHOUSE_NUM_PARTITIONS"] = "2"
			}
			path := ""
			if tt.file {
				path = writeConfig(t, "listen = \"file:1\"\n[broker]\n\"num.partitions\" = 3\n")
				args = append(args, "--config", path)
			}
			o, err := parseFlags(args, environ(env), io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			if o.listen != tt.wantListen {
				t.Errorf("listen = %q, want %q", o.listen, tt.wantListen)
			}
			if got := o.settings["listeners"]; got != "PLAINTEXT://"+tt.wantListen {
				t.Errorf("listeners = %q, want PLAINTEXT://%s", got, tt.wantListen)
			}
			if got := o.settings["num.partitions"]; got != tt.wantPartitions {
				t.Errorf("num.partitions = %q, want %q", got, tt.wantPartitions)
			}
			for _, name := range []string{"listen", "num.partitions"} {
				if got := o.sources[name]; got != tt.wantSource {
					t.Errorf("source of %s = %d, want %d", name, got, tt.wantSource)
				}
			}
			b, err := o.newBroker()
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]int32{"": 1, "1": 1, "2": 2, "3": 3}[tt.wantPartitions]
			if got := b.NumPartitions(); got != want {
				t.Errorf("NumPartitions() = %d, want %d", got, want)
			}
		})
	}
}

func TestConfigFileEveryProcessSetting(t *testing.T) {
	t.Parallel()
	path := writeConfig(t, `
listen = "0.0.0.0:19092"
advertised-addr = "broker.example:19092"
data-dir = "/var/lib/streamhouse"
node-id = 7
log-level = "debug"
log-format = "text"
shutdown-timeout = "1m30s"
fsync = false
http-listen = ""
pprof = true

[broker]
"auto.create.topics.enable" = false
"log.retention.ms" = 3600000
"log.cleanup.policy" = "compact,delete"
"compression.type" = "zstd"
log.segment.bytes = 1048576
`)
	o, err := parseFlags([]string{"--config", path}, environ(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	got := options{listen: o.listen, advertisedAddr: o.advertisedAddr, dataDir: o.dataDir, nodeID: o.nodeID,
		logLevel: o.logLevel, logFormat: o.logFormat, shutdownWait: o.shutdownWait, fsync: o.fsync,
		httpListen: o.httpListen, pprof: o.pprof}
	want := options{listen: "0.0.0.0:19092", advertisedAddr: "broker.example:19092", dataDir: "/var/lib/streamhouse", nodeID: 7,
		logLevel: "debug", logFormat: "text", shutdownWait: 90 * time.Second, fsync: false,
		httpListen: "", pprof: true}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("process settings = %+v, want %+v", got, want)
	}
	wantSettings := map[string]string{
		"node.id":                          "7",
		"listeners":                        "PLAINTEXT://0.0.0.0:19092",
		"advertised.listeners":             "PLAINTEXT://broker.example:19092",
		"log.dirs":                         filepath.Join("/var/lib/streamhouse", "storage"),
		"auto.create.topics.enable":        "false",
		"log.retention.ms":                 "3600000",
		"log.cleanup.policy":               "compact,delete",
		"compression.type":                 "zstd",
		"log.segment.bytes":                "1048576", // an unquoted dotted key reads as the quoted one
		"streamhouse.metadata":             "sqlite",
		"streamhouse.metadata.location":    filepath.Join("/var/lib/streamhouse", "metadata.db"),
		"remote.log.storage.system.enable": "false",
	}
	if !reflect.DeepEqual(o.settings, wantSettings) {
		t.Errorf("settings = %v, want %v", o.settings, wantSettings)
	}
	b, err := o.newBroker()
	if err != nil {
		t.Fatal(err)
	}
	if b.AutoCreateTopics() || b.LogRetentionMs() != 3600000 {
		t.Errorf("AutoCreateTopics() = %v, LogRetentionMs() = %d", b.AutoCreateTopics(), b.LogRetentionMs())
	}
}

func TestConfigFileUnknownKeys(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, file string
		want       []string // substrings of the error besides the file's path
	}{
		{"top-level typo", `lisen = "x"`, []string{"lisen: unknown key"}},
		{"underscore", `data_dir = "x"`, []string{"data_dir: unknown key", "data-dir"}},
		{"broker config at top level, unquoted", `num.partitions = 3`, []string{`"num.partitions": unknown key`, "[broker]"}},
		{"broker config at top level, quoted", `"num.partitions" = 3`, []string{`"num.partitions": unknown key`, "[broker]"}},
		{"broker typo", "[broker]\n\"num.partition\" = 3", []string{`[broker] "num.partition": unknown key`}},
		{"broker typo, unquoted", "[broker]\nnum.partition = 3", []string{`[broker] "num.partition": unknown key`}},
		{"topic config in broker", "[broker]\n\"retention.ms\" = 3", []string{`[broker] "retention.ms": unknown key`}},
		{"process name in broker", "[broker]\n\"listen\" = \"x:1\"", []string{`[broker] "listen": unknown key`}},
		{"node.id in broker", "[broker]\n\"node.id\" = 2", []string{`[broker] "node.id"`, "node-id"}},
		{"log.dirs in broker", "[broker]\n\"log.dirs\" = \"/x\"", []string{`[broker] "log.dirs"`, "data-dir"}},
		{"config in file", `config = "other.toml"`, []string{"config: unknown key"}},
		{"print-config in file", `print-config = true`, []string{"print-config: unknown key"}},
		{"other table", "[brokers]\n\"num.partitions\" = 3", []string{`"brokers.num.partitions": unknown key`}},
		{"empty table", "[brokr]", []string{"brokr: unknown key"}},
		{"empty table in broker", "[broker.num]", []string{`[broker] "num": unknown key`}},
		{"set twice", "[broker]\n\"num.partitions\" = 3\nnum.partitions = 4", []string{`[broker] "num.partitions": set twice`}},
		{"every problem", "lisen = 1\n[broker]\n\"num.partition\" = 3", []string{"lisen: unknown key", `"num.partition": unknown key`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := writeConfig(t, tt.file+"\n")
			_, err := parseFlags([]string{"--config", path}, environ(nil), io.Discard)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range append(tt.want, "config file "+path) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestConfigFileBadTypes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, file string
		args       []string
		want       string
	}{
		{name: "string setting given an integer", file: `listen = 9092`, want: "listen: want a string, got an integer"},
		{name: "integer setting given a string", file: `node-id = "1"`, want: "node-id: want an integer, got a string"},
		{name: "integer setting given a float", file: `node-id = 1.0`, want: "node-id: want an integer, got a float"},
		{name: "boolean setting given a string", file: `fsync = "false"`, want: "fsync: want a boolean"},
		{name: "duration given an integer", file: `shutdown-timeout = 30`, want: "shutdown-timeout: want a duration string"},
		{name: "duration not a duration", file: `shutdown-timeout = "30"`, want: `shutdown-timeout: "30" is not a duration`},
		{name: "overridden by a flag, still checked", file: `node-id = "1"`, args: []string{"--node-id=2"}, want: "node-id: want an integer"},
		{name: "broker not a table", file: `broker = 1`, want: "broker: want a table"},
		{name: "broker float", file: "[broker]\n\"log.retention.ms\" = 1.5", want: `[broker] "log.retention.ms": want a string, integer or boolean, got a float`},
		{name: "broker array", file: "[broker]\n\"log.cleanup.policy\" = [\"delete\"]", want: "got an array (a list is one comma-separated string)"},
		{name: "broker date", file: "[broker]\n\"log.retention.ms\" = 2024-01-01", want: "got a date-time"},
		{name: "broker boolean for an int", file: "[broker]\n\"num.partitions\" = true", want: `[broker] "num.partitions": want an integer (or a string), got a boolean`},
		{name: "broker integer for a boolean", file: "[broker]\n\"auto.create.topics.enable\" = 1", want: "want a boolean (or a string), got an integer"},
		{name: "broker integer for a string", file: "[broker]\n\"compression.type\" = 1", want: "want a string, got an integer"},
		{name: "not TOML", file: `listen = "x`, want: "line 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := writeConfig(t, tt.file+"\n")
			_, err := parseFlags(append(tt.args, "--config", path), environ(nil), io.Discard)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range []string{tt.want, "config file " + path} {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

// TestBadValueNamesItsSource checks that a value Kafka's validation (or the
// flag's parser) refuses is reported with the flag, variable or file key
// that set it.
func TestBadValueNamesItsSource(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		env  map[string]string
		file string // config-file content, "" for none
		want string // with FILE for the file's path
	}{
		{name: "broker config in file", file: "[broker]\n\"num.partitions\" = \"abc\"",
			want: `config file FILE: [broker] "num.partitions": Invalid value abc for configuration num.partitions`},
		{name: "broker config in env", env: map[string]string{"STREAMHOUSE_NUM_PARTITIONS": "abc"},
			want: "STREAMHOUSE_NUM_PARTITIONS: Invalid value abc"},
		{name: "broker config flag", args: []string{"--num.partitions=0"},
			want: "--num.partitions: Invalid value 0"},
		{name: "flag wins over a bad file value", args: []string{"--num.partitions=2"}, file: "[broker]\n\"num.partitions\" = \"abc\""},
		{name: "synonym of a topic config", file: "[broker]\n\"log.flush.interval.ms\" = -1",
			want: `config file FILE: [broker] "log.flush.interval.ms": Invalid value -1 for configuration flush.ms`},
		{name: "broker config from its group", env: map[string]string{"STREAMHOUSE_LOG_RETENTION_HOURS": "0"},
			want: "STREAMHOUSE_LOG_RETENTION_HOURS: log.retention.ms must be unlimited (-1) or, greater than or equal to 1"},
		{name: "listener from process setting", file: `listen = "0.0.0.0:99999"`,
			want: "config file FILE: listen: Unable to parse PLAINTEXT://0.0.0.0:99999"},
		{name: "node id out of range", file: "node-id = 3000000000",
			want: "config file FILE: node-id: Invalid value 3000000000 for configuration node.id"},
		{name: "log level", file: `log-level = "loud"`, want: "config file FILE: log-level:"},
		{name: "log format from env", env: map[string]string{"STREAMHOUSE_LOG_FORMAT": "xml"}, want: `STREAMHOUSE_LOG_FORMAT: "xml" is not text, json or auto`},
		{name: "storage", env: map[string]string{"STREAMHOUSE_STORAGE": "disk"}, want: `STREAMHOUSE_STORAGE: "disk" is not local or s3`},
		{name: "s3 without a bucket", args: []string{"--storage=s3"}, want: "--storage: --storage=s3 needs --s3-bucket or S3_BUCKET"},
		{name: "s3 bucket from S3_BUCKET", env: map[string]string{"STREAMHOUSE_STORAGE": "s3", "S3_BUCKET": "b", "S3_ENDPOINT": "http://127.0.0.1:1"}},
		{name: "tiered storage is the process's", file: "[broker]\n\"remote.log.storage.system.enable\" = true", want: "remote.log.storage.system.enable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			args := tt.args
			want := tt.want
			if tt.file != "" {
				path := writeConfig(t, tt.file+"\n")
				args = append(args, "--config", path)
				want = strings.ReplaceAll(want, "FILE", path)
			}
			args = append(args, "--print-config")
			err := run(context.Background(), args, environ(tt.env), io.Discard, io.Discard)
			if want == "" {
				if err != nil {
					t.Fatalf("run: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("run: error %v, want one containing %q", err, want)
			}
		})
	}
}

func TestConfigFileNamedByEnv(t *testing.T) {
	t.Parallel()
	fromEnv := writeConfig(t, `listen = "env-file:1"`)
	fromFlag := writeConfig(t, `listen = "flag-file:1"`)
	env := environ(map[string]string{"STREAMHOUSE_CONFIG": fromEnv})
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"STREAMHOUSE_CONFIG", nil, "env-file:1"},
		{"--config wins", []string{"--config", fromFlag}, "flag-file:1"},
		{"--config= turns it off", []string{"--config="}, "127.0.0.1:9092"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o, err := parseFlags(tt.args, env, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			if o.listen != tt.want {
				t.Errorf("listen = %q, want %q", o.listen, tt.want)
			}
		})
	}
}

func TestMissingConfigFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "nope.toml")
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"flag", []string{"--config", path}, nil, "config file " + path + " (from --config): file does not exist"},
		{"env", nil, map[string]string{"STREAMHOUSE_CONFIG": path}, "config file " + path + " (from STREAMHOUSE_CONFIG): file does not exist"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := parseFlags(tt.args, environ(tt.env), io.Discard)
			if !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("error %v, want os.ErrNotExist", err)
			}
			if err.Error() != tt.want {
				t.Errorf("error %q, want %q", err, tt.want)
			}
		})
	}
}

func TestPrintConfigRoundTrip(t *testing.T) {
	t.Parallel()
	odd := "/tmp/we \"ird\" \\ # dir\t\n\u00e9\x01\x7f"
	tests := []struct {
		name string
		args []string
		env  map[string]string
		file string
	}{
		{name: "defaults"},
		{
			name: "every source",
			args: []string{"--shutdown-timeout=1m30s", "--http-listen=", "--num.partitions=5", "--data-dir=" + odd},
			env: map[string]string{
				"STREAMHOUSE_LOG_LEVEL":        "debug",
				"STREAMHOUSE_PPROF":            "true",
				"STREAMHOUSE_LOG_RETENTION_MS": "3600000",
				"STREAMHOUSE_COMPRESSION_TYPE": "zstd",
				"STREAMHOUSE_NUM_PARTITIONS":   "9", // loses to the flag
			},
			file: `
advertised-addr = "broker.example:19092"
node-id = 42
fsync = false
listen = "file:1" # loses to nothing: printed as from the file
[broker]
"auto.create.topics.enable" = false
"log.cleanup.policy" = " compact , delete "
"message.max.bytes" = 1048588 # Kafka's default, set: DescribeConfigs says STATIC_BROKER_CONFIG
"log.roll.hours" = "24"
"group.initial.rebalance.delay.ms" = 0
`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			args := tt.args
			if tt.file != "" {
				args = append(args, "--config", writeConfig(t, tt.file))
			}
			o, err := parseFlags(args, environ(tt.env), io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			want := effectiveOf(t, o)

			var out bytes.Buffer
			if err := run(context.Background(), append(args, "--print-config"), environ(tt.env), &out, io.Discard); err != nil {
				t.Fatalf("run --print-config: %v", err)
			}
			printed := writeConfig(t, out.String())
			o2, err := parseFlags([]string{"--config", printed}, environ(nil), io.Discard)
			if err != nil {
				t.Fatalf("reading back:\n%s\n%v", out.String(), err)
			}
			if got := effectiveOf(t, o2); !reflect.DeepEqual(got, want) {
				t.Errorf("read back:\n%s\ngot  %v\nwant %v", out.String(), got, want)
			}

			// Printing again prints the same, but for the comments.
			var again bytes.Buffer
			if err := run(context.Background(), []string{"--config", printed, "--print-config"}, environ(nil), &again, io.Discard); err != nil {
				t.Fatal(err)
			}
			var first, second map[string]any
			if _, err := toml.Decode(out.String(), &first); err != nil {
				t.Fatal(err)
			}
			if _, err := toml.Decode(again.String(), &second); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(first, second) {
				t.Errorf("printed twice:\n%s\nthen:\n%s", out.String(), again.String())
			}
		})
	}
}

func TestPrintConfigComments(t *testing.T) {
	t.Parallel()
	path := writeConfig(t, "node-id = 3\n[broker]\n\"num.partitions\" = 1\n")
	env := environ(map[string]string{"STREAMHOUSE_LOG_LEVEL": "warn", "STREAMHOUSE_LOG_RETENTION_MS": "1000"})
	var out bytes.Buffer
	if err := run(context.Background(), []string{"--config", path, "--fsync=false", "--print-config"}, env, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	lines := map[string]string{} // key = value -> comment
	for l := range strings.Lines(out.String()) {
		if kv, comment, ok := strings.Cut(l, " # "); ok && !strings.HasPrefix(l, "#") {
			lines[strings.TrimSpace(kv)] = strings.TrimSpace(comment)
		}
	}
	for kv, comment := range map[string]string{
		`listen = "127.0.0.1:9092"`: "default",
		"node-id = 3":               "file " + path,
		`log-level = "warn"`:        "env STREAMHOUSE_LOG_LEVEL",
		"fsync = false":             "flag --fsync",
		`"num.partitions" = 1`:      "file " + path + ", Kafka's default",
		`"log.retention.ms" = 1000`: "env STREAMHOUSE_LOG_RETENTION_MS",
	} {
		if got, ok := lines[kv]; !ok || got != comment {
			t.Errorf("%s: comment %q (present: %v), want %q\n%s", kv, got, ok, comment, out.String())
		}
	}
	// Only broker configs that were set are listed.
	if strings.Contains(out.String(), "socket.request.max.bytes") || strings.Contains(out.String(), `"node.id"`) {
		t.Errorf("unset or process-owned broker config printed:\n%s", out.String())
	}
}

func TestPrintConfigStartsNothing(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	var out bytes.Buffer
	if err := run(context.Background(), []string{"--data-dir", dir, "--listen=127.0.0.1:1", "--print-config"}, environ(nil), &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("--print-config touched the data dir: %v", err)
	}
	if !strings.Contains(out.String(), `listen = "127.0.0.1:1"`) {
		t.Errorf("output:\n%s", out.String())
	}
	// STREAMHOUSE_PRINT_CONFIG is no way to ask for it: only the flag is.
	o, err := parseFlags(nil, environ(map[string]string{"STREAMHOUSE_PRINT_CONFIG": "true"}), io.Discard)
	if err != nil || o.printConfig {
		t.Errorf("STREAMHOUSE_PRINT_CONFIG: printConfig %v, err %v", o != nil && o.printConfig, err)
	}
}

func TestPrintConfigRefusesInvalidUTF8(t *testing.T) {
	t.Parallel()
	err := run(context.Background(), []string{"--data-dir=/tmp/\xff", "--print-config"}, environ(nil), io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "UTF-8") {
		t.Fatalf("run: %v, want a UTF-8 error", err)
	}
}

func TestHelpDocumentsPrecedence(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	_, err := parseFlags([]string{"--help"}, environ(nil), &out)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("err = %v, want flag.ErrHelp", err)
	}
	help := out.String()
	order := []string{"flag on the command line", "environment variable", "config file named by --config or STREAMHOUSE_CONFIG", "its default"}
	at := 0
	for _, s := range order {
		i := strings.Index(help[at:], s)
		if i < 0 {
			t.Fatalf("help does not say %q after %q:\n%s", s, help[:at], help)
		}
		at += i
	}
	for _, s := range []string{"-config", "-print-config", "[broker]"} {
		if !strings.Contains(help, s) {
			t.Errorf("help does not mention %s", s)
		}
	}
}

// TestProcessKeysAreFlags checks the config file's top-level keys against
// the flags, so that a new process flag is not forgotten in the file.
func TestProcessKeysAreFlags(t *testing.T) {
	t.Parallel()
	o, err := parseFlags(nil, environ(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var missing []string
	o.flags.VisitAll(func(f *flag.Flag) {
		// add-scram is an action at start (Kafka's storage tool), not
		// a setting a config file keeps: it holds passwords.
		if _, ok := processKind(f.Name); ok || f.Name == "config" || f.Name == "print-config" || f.Name == "add-scram" {
			return
		}
		if _, ok := config.BrokerDef(f.Name); !ok {
			missing = append(missing, f.Name)
		}
	})
	if len(missing) > 0 {
		t.Errorf("flags with no config-file key: %v", missing)
	}
	for _, k := range processKeys {
		if o.flags.Lookup(k.name) == nil {
			t.Errorf("config-file key %s has no flag", k.name)
		}
	}
}

func FuzzTOMLString(f *testing.F) {
	for _, s := range []string{"", "plain", `quote " and \ backslash`, "tab\tnewline\ncr\r", "\x00\x01\x1f\x7f", "é ü 日本", " # not a comment", `'''`, `"""`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !utf8.ValidString(s) {
			t.Skip("TOML holds UTF-8 only; printConfig refuses the rest")
		}
		var got map[string]any
		if _, err := toml.Decode("k = "+tomlString(s), &got); err != nil {
			t.Fatalf("tomlString(%q) = %s: %v", s, tomlString(s), err)
		}
		if got["k"] != s {
			t.Errorf("tomlString(%q) = %s reads back as %q", s, tomlString(s), got["k"])
		}
		got = nil
		if _, err := toml.Decode(tomlKey(s)+" = 1", &got); err != nil {
			t.Fatalf("tomlKey(%q) = %s: %v", s, tomlKey(s), err)
		}
		if _, ok := got[s]; !ok || len(got) != 1 {
			t.Errorf("tomlKey(%q) = %s reads back as %v", s, tomlKey(s), got)
		}
	})
}

// FuzzConfigFile feeds readConfigFile arbitrary files: it must return
// settings or an error naming the file, never panic, and whatever it
// accepts must be settings the flags know.
func FuzzConfigFile(f *testing.F) {
	f.Add([]byte("listen = \"127.0.0.1:9092\"\n[broker]\n\"num.partitions\" = 3\n"))
	f.Add([]byte("fsync = false\nnode-id = 7\nshutdown-timeout = \"1m\"\n"))
	f.Add([]byte("[broker]\nnum.partitions = \"x\"\n"))
	f.Add([]byte("data_dir = 1\n[brokr]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "f.toml")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		got, err := readConfigFile(path, "--config")
		if err != nil {
			if !strings.Contains(err.Error(), path) {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		for k := range got {
			if k == "" {
				t.Fatalf("empty setting name from %q", data)
			}
		}
	})
}

// TestJSONLogDurations: a duration in a JSON log line reads as in a text
// one ("6ms"), not as integer nanoseconds.
func TestJSONLogDurations(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	log, _, err := newLogger(&options{logLevel: "info", logFormat: "json"}, &b)
	if err != nil {
		t.Fatal(err)
	}
	log.Info("streamhouse started", "startup", 6*time.Millisecond)
	if !strings.Contains(b.String(), `"startup":"6ms"`) {
		t.Fatalf("log line %s, want \"startup\":\"6ms\"", b.String())
	}
}

// TestSyncMethod: --sync-method auto takes syncfs unconditionally for a
// data directory that is a mount point, and while others' dirty data is
// small for one that is not; the explicit methods are taken as given.
func TestSyncMethod(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	auto, autoForeign := false, int64(0)
	if fs.SyncFSSupported() == nil {
		auto, autoForeign = true, autoForeignDirty // a temporary directory is no mount point
	}
	for _, tc := range []struct {
		method      string
		want        bool
		wantForeign int64
		wantErr     bool
	}{
		{"fdatasync", false, 0, false},
		{"syncfs", true, 0, false},
		{"auto", auto, autoForeign, false},
		{"fsync", false, 0, true},
	} {
		got, foreign, err := useSyncFS(&options{syncMethod: tc.method, dataDir: dir})
		if got != tc.want || foreign != tc.wantForeign || (err != nil) != tc.wantErr {
			t.Errorf("--sync-method=%s: syncfs %v, foreign dirty limit %d, err %v; want %v, %d, error %v",
				tc.method, got, foreign, err, tc.want, tc.wantForeign, tc.wantErr)
		}
	}
	for _, tc := range []struct {
		dir  string
		want bool
	}{{"/", true}, {"/proc", true}, {dir, false}} {
		if got, err := mountPoint(tc.dir); err != nil || got != tc.want {
			t.Errorf("mountPoint(%s) = %v, %v; want %v", tc.dir, got, err, tc.want)
		}
	}
}

// TestPrintConfigHidesSecrets: passwords (Kafka's PASSWORD configs) are not
// printed; their lines are comments, so that --config reading the file back
// leaves them to the variable or flag that set them.
func TestPrintConfigHidesSecrets(t *testing.T) {
	t.Parallel()
	var out strings.Builder
	args := []string{"--print-config", "--ssl.keystore.password=s3cret-keystore", "--ssl.key.password=s3cret-key"}
	if err := run(context.Background(), args, environ(nil), &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "s3cret") {
		t.Fatalf("--print-config printed a password:\n%s", out.String())
	}
	for _, want := range []string{`# "ssl.keystore.password" = (hidden)`, `# "ssl.key.password" = (hidden)`} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("--print-config does not say %q:\n%s", want, out.String())
		}
	}
}

package main

// The config file (--config, or STREAMHOUSE_CONFIG) is TOML holding the same
// settings as the flags, by the same names: the process settings as
// top-level keys named as their flags, the Kafka broker configs in a [broker]
// table by their Kafka names:
//
//	listen = "0.0.0.0:9092"
//	shutdown-timeout = "1m"
//	fsync = true
//
//	[broker]
//	"num.partitions" = 3
//	"log.retention.ms" = 3600000
//
// A file value applies to a setting that neither its flag nor its environment
// variable sets. Every key must be a setting and every value of the TOML type
// the setting takes, whether or not a flag overrides it, so that a typo never
// passes silently. --print-config writes the effective settings in the same
// form (printConfig), and reading that back gives the same settings.

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/BurntSushi/toml"

	"github.com/streamhouse/streamhouse/config"
	"github.com/streamhouse/streamhouse/meta/postgres"
)

// kind is the TOML type a process setting takes in a config file.
type kind int

const (
	kindString   kind = iota
	kindInt           // an integer
	kindBool          // a boolean
	kindDuration      // a string that time.ParseDuration takes: "30s", "1m30s"
)

// processKeys are the top-level keys of a config file: the process flags, by
// flag name, in the order --print-config writes them.
var processKeys = []struct {
	name string
	kind kind
}{
	{"listen", kindString},
	{"advertised-addr", kindString},
	{"data-dir", kindString},
	{"node-id", kindInt},
	{"log-level", kindString},
	{"log-format", kindString},
	{"shutdown-timeout", kindDuration},
	{"frame-read-timeout", kindDuration},
	{"fsync", kindBool},
	{"sync-method", kindString},
	{"http-listen", kindString},
	{"schema-registry-listen", kindString},
	{"schema-registry-tls", kindBool},
	{"schema-registry-kafka-user", kindString},
	{"schema-registry-kafka-password", kindString},
	{"pprof", kindBool},
	{"http-tls", kindBool},
	{"console", kindBool},
	{"console-idle-close", kindDuration},
	{"oauthbearer-unsecured-dev", kindBool},
	{"metadata", kindString},
	{"database-url", kindString},
	{"storage", kindString},
	{"s3-endpoint", kindString},
	{"s3-bucket", kindString},
	{"s3-prefix", kindString},
	{"s3-region", kindString},
	{"s3-cache-bytes", kindInt},
	{"s3-part-bytes", kindInt},
	{"s3-upload-bytes-per-second", kindInt},
	{"s3-delete-grace", kindDuration},
	{"s3-flush-interval", kindDuration},
	{"s3-flush-bytes", kindInt},
}

func processKind(name string) (kind, bool) {
	for _, k := range processKeys {
		if k.name == name {
			return k.kind, true
		}
	}
	return 0, false
}

// processOwned are the broker configs that process settings set, each with
// the process setting (flag and top-level key) that sets it. They have no
// flag of their own, and the [broker] table may not hold them.
var processOwned = map[string]string{
	"node.id":                          "node-id",
	"log.dirs":                         "data-dir",
	"streamhouse.metadata":             "metadata",
	"streamhouse.metadata.location":    "database-url",
	"remote.log.storage.system.enable": "storage",
}

// shorthands are the broker configs a process setting may set instead:
// --listen HOST:PORT is listeners=PLAINTEXT://HOST:PORT, --advertised-addr
// the same for advertised.listeners. Setting both is an error.
var shorthands = map[string]string{
	"listeners":            "listen",
	"advertised.listeners": "advertised-addr",
}

// source is where a setting's effective value came from, in increasing
// precedence.
type source int

const (
	srcDefault source = iota
	srcFile
	srcEnv
	srcFlag
)

// fileKey is how an error or a comment names the config-file key of flag
// name: bare for a process setting, quoted in [broker] for a broker config.
func fileKey(name string) string {
	if _, ok := processKind(name); ok {
		return name
	}
	return brokerKey(name)
}

// brokerKey is how an error or a comment names the key name of [broker].
func brokerKey(name string) string { return "[broker] " + tomlString(name) }

// readConfigFile reads the config file at path and returns its settings by
// flag name, as the strings the flags take. named says what named the file
// (--config or STREAMHOUSE_CONFIG), for the error when it cannot be read.
// Every problem in the file is reported, each naming the file and the key.
func readConfigFile(path, named string) (map[string]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("config file %s (from %s): %w", path, named, os.ErrNotExist)
		}
		return nil, fmt.Errorf("config file %s (from %s): %w", path, named, err)
	}
	var doc map[string]any
	if _, err := toml.Decode(string(data), &doc); err != nil {
		return nil, fmt.Errorf("config file %s: %w", path, err)
	}
	r := fileReader{path: path, out: map[string]string{}}
	for _, key := range slices.Sorted(maps.Keys(doc)) {
		r.topLevel(key, doc[key])
	}
	if len(r.errs) > 0 {
		return nil, errors.Join(r.errs...)
	}
	return r.out, nil
}

// fileReader turns a decoded config file into flag values, collecting
// every problem it finds.
type fileReader struct {
	path string
	out  map[string]string // by flag name
	errs []error
}

func (r *fileReader) errorf(key, format string, args ...any) {
	r.errs = append(r.errs, fmt.Errorf("config file %s: %s: %s", r.path, key, fmt.Sprintf(format, args...)))
}

func (r *fileReader) topLevel(key string, v any) {
	if key == "broker" {
		table, ok := v.(map[string]any)
		if !ok {
			r.errorf(key, "want a table ([broker]) of Kafka broker configs, got %s", tomlType(v))
			return
		}
		seen := map[string]bool{}
		flatten("", table, func(name string, v any) {
			if seen[name] { // both "a.b" = 1 and a.b = 1
				r.errorf(brokerKey(name), "set twice")
				return
			}
			seen[name] = true
			r.broker(name, v)
		})
		return
	}
	k, ok := processKind(key)
	if !ok {
		r.unknown(key, v)
		return
	}
	var s string
	switch k {
	case kindString, kindDuration:
		str, ok := v.(string)
		if !ok && k == kindDuration {
			r.errorf(key, "want a duration string such as \"30s\" or \"1m30s\", got %s", tomlType(v))
			return
		}
		if !ok {
			r.errorf(key, "want a string, got %s", tomlType(v))
			return
		}
		if k == kindDuration {
			if _, err := time.ParseDuration(str); err != nil {
				r.errorf(key, "%q is not a duration such as \"30s\" or \"1m30s\"", str)
				return
			}
		}
		s = str
	case kindInt:
		n, ok := v.(int64)
		if !ok {
			r.errorf(key, "want an integer, got %s", tomlType(v))
			return
		}
		s = strconv.FormatInt(n, 10)
	case kindBool:
		b, ok := v.(bool)
		if !ok {
			r.errorf(key, "want a boolean (true or false), got %s", tomlType(v))
			return
		}
		s = strconv.FormatBool(b)
	}
	r.out[key] = s
}

// unknown reports a top-level key that is no process setting, with a hint
// where one helps.
func (r *fileReader) unknown(key string, v any) {
	hint := func(name string) string {
		if _, ok := config.BrokerDef(name); ok {
			return fmt.Sprintf(" (%s is a Kafka broker config: put it in the [broker] table, quoted: %s = ...)", name, tomlString(name))
		}
		if _, ok := processKind(strings.NewReplacer("_", "-", ".", "-").Replace(name)); ok {
			return fmt.Sprintf(" (did you mean %s?)", strings.NewReplacer("_", "-", ".", "-").Replace(name))
		}
		switch name {
		case "config":
			return " (a config file cannot name another)"
		case "print-config":
			return " (--print-config is a command-line flag only)"
		}
		return ""
	}
	if table, ok := v.(map[string]any); ok && len(table) > 0 {
		// An unquoted num.partitions = 3 is the table num; name its leaves.
		flatten(key, table, func(name string, _ any) {
			r.errorf(tomlKey(name), "unknown key%s", hint(name))
		})
		return
	}
	r.errorf(tomlKey(key), "unknown key%s", hint(key))
}

// broker takes the [broker] key name.
func (r *fileReader) broker(name string, v any) {
	key := brokerKey(name)
	if p, ok := processOwned[name]; ok {
		r.errorf(key, "set by the top-level key %s, not in [broker]", p)
		return
	}
	if _, ok := processKind(name); ok {
		r.errorf(key, "unknown key: %s is a process setting, a top-level key (before [broker])", name)
		return
	}
	d, ok := config.BrokerDef(name)
	if !ok {
		r.errorf(key, "unknown key: not a Kafka broker config StreamHouse has (streamhouse --help lists them)")
		return
	}
	numeric := d.Type == config.TypeShort || d.Type == config.TypeInt || d.Type == config.TypeLong
	switch v := v.(type) {
	case string:
		r.out[name] = v
	case int64:
		if !numeric {
			r.errorf(key, "want %s, got an integer", typeWord(d.Type))
			return
		}
		r.out[name] = strconv.FormatInt(v, 10)
	case bool:
		if d.Type != config.TypeBoolean {
			r.errorf(key, "want %s, got a boolean", typeWord(d.Type))
			return
		}
		r.out[name] = strconv.FormatBool(v)
	case []any:
		r.errorf(key, "want a string, integer or boolean, got an array (a list is one comma-separated string)")
	default:
		r.errorf(key, "want a string, integer or boolean, got %s", tomlType(v))
	}
}

// typeWord is what a config file holds for a broker config of type t.
func typeWord(t config.Type) string {
	switch t {
	case config.TypeShort, config.TypeInt, config.TypeLong:
		return "an integer (or a string)"
	case config.TypeBoolean:
		return "a boolean (or a string)"
	}
	return "a string"
}

// flatten calls fn with the dotted name of every value in table below
// prefix, in name order, so that an unquoted num.partitions = 3 (the table
// num holding partitions) reads as "num.partitions" = 3. An empty table is a
// value, so that a stray [brokr] is reported too.
func flatten(prefix string, table map[string]any, fn func(name string, v any)) {
	for _, k := range slices.Sorted(maps.Keys(table)) {
		name := k
		if prefix != "" {
			name = prefix + "." + k
		}
		if sub, ok := table[k].(map[string]any); ok && len(sub) > 0 {
			flatten(name, sub, fn)
			continue
		}
		fn(name, table[k])
	}
}

// tomlType names the TOML type of a decoded value.
func tomlType(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case int64:
		return "an integer"
	case float64:
		return "a float"
	case bool:
		return "a boolean"
	case map[string]any:
		return "a table"
	case []map[string]any:
		return "an array of tables"
	case []any:
		return "an array"
	case time.Time:
		return "a date-time"
	}
	return fmt.Sprintf("a %T", v)
}

// printConfig writes the effective settings as a config file that --config
// reads back to the same settings: every process setting, and every broker
// config set by a flag, the environment or the config file (every other one
// has Kafka's default, which the file then leaves to apply). A broker config
// set to its default is written too, since DescribeConfigs reports it as
// set (STATIC_BROKER_CONFIG). A comment after each value says where it came
// from.
func printConfig(w io.Writer, o *options, b *config.Broker) error {
	var process, broker [][2]string // key = value, comment
	for _, k := range processKeys {
		f := o.flags.Lookup(k.name)
		if f == nil {
			return fmt.Errorf("print config: no flag %s", k.name) // a programmer error, caught by the tests
		}
		if o.longhand(k.name) {
			continue // the broker config it stands for is set itself
		}
		v := f.Value.String()
		if k.name == "database-url" {
			v = postgres.Redact(v)
		}
		if k.name == "schema-registry-kafka-password" && v != "" {
			v = "[hidden]"
		}
		if k.kind == kindString || k.kind == kindDuration {
			if !utf8.ValidString(v) {
				return fmt.Errorf("print config: %s is not valid UTF-8, which TOML cannot hold", k.name)
			}
			v = tomlString(v)
		}
		process = append(process, [2]string{k.name + " = " + v, o.origin(k.name)})
	}
	for _, name := range slices.Sorted(maps.Keys(o.settings)) {
		if _, ok := processOwned[name]; ok {
			continue
		}
		if p, ok := shorthands[name]; ok && !o.set(name) {
			_ = p
			continue // written as its shorthand's top-level key
		}
		d, _ := config.BrokerDef(name) // NewBroker accepted name
		v, _, _ := b.Value(name)
		if !utf8.ValidString(v) {
			return fmt.Errorf("print config: broker config %s is not valid UTF-8, which TOML cannot hold", name)
		}
		if (d.Sensitive || d.Type == config.TypePassword) && v != "" {
			// As Kafka describes a password: not shown. The line is
			// a comment, so that --config reading the file back
			// leaves the secret to where it came from (a variable,
			// a flag), or to be written in by hand.
			broker = append(broker, [2]string{"# " + tomlString(name) + " = (hidden)", o.origin(name)})
			continue
		}
		out := tomlString(v)
		switch d.Type {
		case config.TypeShort, config.TypeInt, config.TypeLong:
			if _, err := strconv.ParseInt(v, 10, 64); err == nil {
				out = v
			}
		case config.TypeBoolean:
			if v == "true" || v == "false" {
				out = v
			}
		}
		comment := o.origin(name)
		if d.Default != nil && *d.Default == v {
			comment += ", Kafka's default"
		}
		broker = append(broker, [2]string{tomlString(name) + " = " + out, comment})
	}

	var sb strings.Builder
	sb.WriteString(`# StreamHouse settings as --print-config printed them: what a command-line
# flag, an environment variable, the config file and the defaults made of each,
# in that order of precedence. streamhouse --config reads this file back.
# Relative paths are relative to the directory streamhouse runs in.

`)
	writeAligned(&sb, process)
	sb.WriteString("\n# Kafka broker configs set by a flag, the environment or the config file;\n# every other one has Kafka's default.\n[broker]\n")
	writeAligned(&sb, broker)
	_, err := io.WriteString(w, sb.String())
	return err
}

// writeAligned writes lines with their comments in one column.
func writeAligned(sb *strings.Builder, lines [][2]string) {
	width := 0
	for _, l := range lines {
		width = max(width, utf8.RuneCountInString(l[0]))
	}
	for _, l := range lines {
		sb.WriteString(l[0])
		sb.WriteString(strings.Repeat(" ", width-utf8.RuneCountInString(l[0])))
		sb.WriteString(" # ")
		sb.WriteString(l[1])
		sb.WriteByte('\n')
	}
}

// tomlKey writes a key bare when TOML allows it, quoted otherwise.
func tomlKey(k string) string {
	if k != "" && strings.IndexFunc(k, func(r rune) bool {
		return !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' || r == '-')
	}) < 0 {
		return k
	}
	return tomlString(k)
}

// tomlString quotes s as a TOML basic string, with only TOML 1.0 escapes. s
// must be valid UTF-8.
func tomlString(s string) string {
	var sb strings.Builder
	sb.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			sb.WriteString(`\"`)
		case '\\':
			sb.WriteString(`\\`)
		case '\b':
			sb.WriteString(`\b`)
		case '\t':
			sb.WriteString(`\t`)
		case '\n':
			sb.WriteString(`\n`)
		case '\f':
			sb.WriteString(`\f`)
		case '\r':
			sb.WriteString(`\r`)
		default:
			if r < 0x20 || r == 0x7f {
				fmt.Fprintf(&sb, `\u%04X`, r)
			} else {
				sb.WriteRune(r)
			}
		}
	}
	sb.WriteByte('"')
	return sb.String()
}

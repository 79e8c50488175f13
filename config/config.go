package config

import (
	"errors"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Type is a config's data type, numbered as DescribeConfigs (v3+) numbers
// Kafka's ConfigDef.Type on the wire, so that it converts to kmsg.ConfigType
// as is.
type Type int8

// The config types, with Kafka's wire numbering.
const (
	TypeUnknown  Type = 0
	TypeBoolean  Type = 1
	TypeString   Type = 2
	TypeInt      Type = 3
	TypeShort    Type = 4
	TypeLong     Type = 5
	TypeDouble   Type = 6
	TypeList     Type = 7
	TypeClass    Type = 8
	TypePassword Type = 9
)

// String returns Kafka's name for t, as in "Not a number of type INT".
func (t Type) String() string {
	switch t {
	case TypeBoolean:
		return "BOOLEAN"
	case TypeString:
		return "STRING"
	case TypeInt:
		return "INT"
	case TypeShort:
		return "SHORT"
	case TypeLong:
		return "LONG"
	case TypeDouble:
		return "DOUBLE"
	case TypeList:
		return "LIST"
	case TypeClass:
		return "CLASS"
	case TypePassword:
		return "PASSWORD"
	}
	return "UNKNOWN"
}

// Source is where a config value comes from, numbered as DescribeConfigs
// (v1+) numbers it on the wire, so that it converts to kmsg.ConfigSource as
// is.
type Source int8

// The config sources, with Kafka's wire numbering. StreamHouse produces only
// SourceDynamicTopic, SourceStaticBroker and SourceDefault for now; the
// others exist so that a value read off the wire has a name.
const (
	SourceUnknown              Source = 0
	SourceDynamicTopic         Source = 1
	SourceDynamicBroker        Source = 2
	SourceDynamicDefaultBroker Source = 3
	SourceStaticBroker         Source = 4
	SourceDefault              Source = 5
	SourceDynamicBrokerLogger  Source = 6
	SourceClientMetrics        Source = 7
	SourceGroup                Source = 8
)

// String returns Kafka's name for s.
func (s Source) String() string {
	switch s {
	case SourceDynamicTopic:
		return "DYNAMIC_TOPIC_CONFIG"
	case SourceDynamicBroker:
		return "DYNAMIC_BROKER_CONFIG"
	case SourceDynamicDefaultBroker:
		return "DYNAMIC_DEFAULT_BROKER_CONFIG"
	case SourceStaticBroker:
		return "STATIC_BROKER_CONFIG"
	case SourceDefault:
		return "DEFAULT_CONFIG"
	case SourceDynamicBrokerLogger:
		return "DYNAMIC_BROKER_LOGGER_CONFIG"
	case SourceClientMetrics:
		return "CLIENT_METRICS_CONFIG"
	case SourceGroup:
		return "GROUP_CONFIG"
	}
	return "UNKNOWN"
}

// The sentinels every [*Error] unwraps to. The broker answers both with
// INVALID_CONFIG and the error's message, as Kafka does.
var (
	// ErrUnknown is a config name this package does not define.
	ErrUnknown = errors.New("unknown config")
	// ErrInvalid is a value Kafka's validation rejects: one that does not
	// parse as the config's type, fails its validator, conflicts with
	// another config, or is missing where Kafka requires one.
	ErrInvalid = errors.New("invalid config")
)

// Error is a rejected config. Its message is Kafka's own, so that the broker
// can pass it to the client verbatim; Kind says which sentinel it is.
type Error struct {
	Name string // the config at fault
	Kind error  // ErrUnknown or ErrInvalid
	Msg  string // Kafka's message
}

func (e *Error) Error() string { return e.Msg }

// Unwrap returns Kind, so that errors.Is(err, ErrInvalid) works.
func (e *Error) Unwrap() error { return e.Kind }

// invalid is Kafka's ConfigException(name, value, msg).
func invalid(name, value, msg string) error {
	return &Error{Name: name, Kind: ErrInvalid, Msg: "Invalid value " + value + " for configuration " + name + ": " + msg}
}

// invalidMsg is Kafka's ConfigException(msg), which names no value.
func invalidMsg(name, msg string) error {
	return &Error{Name: name, Kind: ErrInvalid, Msg: msg}
}

// Def is one config as Kafka defines it.
//
// A Def is a value: the functions of this package hand out copies, and
// changing one changes nothing else.
type Def struct {
	Name string
	Type Type
	// Default is Kafka's default as DescribeConfigs renders it. It is nil
	// when Kafka's default is null, which DescribeConfigs answers as a null
	// value: log.retention.ms (log.retention.hours applies instead), or
	// node.id, which has no default and must be set.
	Default *string
	// Doc is Kafka's documentation string, sometimes abridged; DescribeConfigs
	// v3+ returns it.
	Doc string
	// Synonyms are, for a topic config, the broker configs that supply its
	// value when the topic does not set it, most specific first (retention.ms:
	// log.retention.ms, log.retention.minutes, log.retention.hours). Some are
	// Kafka broker configs StreamHouse does not take, listed because Kafka
	// lists them. For a broker config, Synonyms is the group of broker configs
	// that set one value, itself included, in precedence order
	// (log.roll.hours: log.roll.ms, log.roll.hours), and nil when it stands
	// alone.
	Synonyms []string
	// ReadOnly is Kafka's answer to "can AlterConfigs change it?": false for
	// every topic config, false for a broker config Kafka can update
	// dynamically (read-only update mode otherwise). StreamHouse does not
	// alter broker configs yet; a broker that refuses to may still describe
	// Kafka's value.
	ReadOnly bool
	// Sensitive configs (passwords) are described with a null value.
	Sensitive bool

	required bool      // no default: NewBroker fails without it
	check    validator // Kafka's validator, run on the parsed value; may be nil
}

// Validate reports whether value is acceptable for d on its own, as Kafka's
// ConfigDef parses and validates it, with Kafka's message. Checks across
// configs (min.compaction.lag.ms against max.compaction.lag.ms, listeners
// against each other) are made by [Broker.ValidateTopic] and [NewBroker].
func (d *Def) Validate(value string) error {
	_, err := d.parse(value)
	return err
}

// parse is Kafka's ConfigDef.parseType followed by the config's validator.
// The result is a bool, int16, int32, int64, float64, string or []string,
// as the type says.
func (d *Def) parse(raw string) (any, error) {
	v, err := parseType(d.Name, d.Type, raw)
	if err != nil {
		return nil, err
	}
	if d.check != nil {
		if err := d.check(d.Name, v); err != nil {
			return nil, err
		}
	}
	return v, nil
}

// defaultValue is d's parsed default, nil for a null one. The tables'
// defaults are checked by tests, so a failure is a programmer error.
func (d *Def) defaultValue() any {
	if d.Default == nil {
		return nil
	}
	v, err := d.parse(*d.Default)
	if err != nil {
		panic("config: bad default for " + d.Name + ": " + err.Error())
	}
	return v
}

// clone returns a copy of d sharing nothing mutable with it.
func (d *Def) clone() Def {
	c := *d
	if d.Default != nil {
		s := *d.Default
		c.Default = &s
	}
	c.Synonyms = slices.Clone(d.Synonyms)
	return c
}

// ptr returns a pointer to a copy of s, for the tables' defaults.
func ptr(s string) *string { return &s }

// trimJava trims as Java's String.trim does: every char up to and including
// the space.
func trimJava(s string) string {
	return strings.TrimFunc(s, func(r rune) bool { return r <= ' ' })
}

// isJavaSpace is the \s of Java's regular expressions.
func isJavaSpace(r rune) bool {
	switch r {
	case ' ', '\t', '\n', '\v', '\f', '\r':
		return true
	}
	return false
}

// splitList splits a trimmed, non-empty LIST value as Kafka does, on the
// regular expression \s*,\s* keeping empty elements.
func splitList(s string) []string {
	parts := strings.Split(s, ",")
	for i, p := range parts {
		parts[i] = strings.TrimFunc(p, isJavaSpace)
	}
	return parts
}

// parseType converts raw as Kafka's ConfigDef.parseType converts a string,
// with its messages. The value quoted in a message is raw, untrimmed, as in
// Kafka.
func parseType(name string, t Type, raw string) (any, error) {
	s := trimJava(raw)
	notNumber := func() error { return invalid(name, raw, "Not a number of type "+t.String()) }
	switch t {
	case TypeBoolean:
		switch {
		case strings.EqualFold(s, "true"):
			return true, nil
		case strings.EqualFold(s, "false"):
			return false, nil
		}
		return nil, invalid(name, raw, "Expected value to be either true or false")
	case TypeString, TypePassword, TypeClass:
		return s, nil
	case TypeShort:
		n, err := strconv.ParseInt(s, 10, 16)
		if err != nil {
			return nil, notNumber()
		}
		return int16(n), nil
	case TypeInt:
		n, err := strconv.ParseInt(s, 10, 32)
		if err != nil {
			return nil, notNumber()
		}
		return int32(n), nil
	case TypeLong:
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, notNumber()
		}
		return n, nil
	case TypeDouble:
		f, ok := parseJavaDouble(s)
		if !ok {
			return nil, notNumber()
		}
		return f, nil
	case TypeList:
		if s == "" {
			return []string{}, nil
		}
		return splitList(s), nil
	}
	panic("config: " + name + " has no type")
}

// parseJavaDouble accepts what Java's Double.parseDouble accepts in practice:
// a decimal with optional exponent and an optional f/F/d/D suffix, NaN and
// Infinity with an optional sign. Out of range is infinity or zero, as in
// Java. Hexadecimal floats are not accepted.
func parseJavaDouble(s string) (float64, bool) {
	switch s {
	case "NaN", "+NaN", "-NaN":
		return math.NaN(), true
	case "Infinity", "+Infinity":
		return math.Inf(1), true
	case "-Infinity":
		return math.Inf(-1), true
	}
	if n := len(s); n > 1 && strings.ContainsRune("fFdD", rune(s[n-1])) {
		s = s[:n-1]
	}
	if s == "" || strings.IndexFunc(s, func(r rune) bool {
		return !(r >= '0' && r <= '9' || r == '.' || r == 'e' || r == 'E' || r == '+' || r == '-')
	}) >= 0 {
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return 0, false
	}
	return f, true
}

// javaDouble renders f as Java's Double.toString does: plain notation with
// at least one fractional digit for magnitudes in [1e-3, 1e7), computerized
// scientific notation ("1.0E-4") otherwise.
func javaDouble(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	case f == 0:
		if math.Signbit(f) {
			return "-0.0"
		}
		return "0.0"
	}
	if a := math.Abs(f); a >= 1e-3 && a < 1e7 {
		s := strconv.FormatFloat(f, 'f', -1, 64)
		if !strings.Contains(s, ".") {
			s += ".0"
		}
		return s
	}
	mant, exp, _ := strings.Cut(strconv.FormatFloat(f, 'e', -1, 64), "e")
	if !strings.Contains(mant, ".") {
		mant += ".0"
	}
	e, _ := strconv.Atoi(exp)
	return mant + "E" + strconv.Itoa(e)
}

// javaString renders a parsed value as Java's toString does, which is how
// Kafka quotes a value in an error message (a list is "[a, b]").
func javaString(v any) string {
	switch v := v.(type) {
	case bool:
		return strconv.FormatBool(v)
	case int16:
		return strconv.FormatInt(int64(v), 10)
	case int32:
		return strconv.FormatInt(int64(v), 10)
	case int64:
		return strconv.FormatInt(v, 10)
	case float64:
		return javaDouble(v)
	case string:
		return v
	case []string:
		return "[" + strings.Join(v, ", ") + "]"
	case nil:
		return "null"
	}
	panic("config: unexpected value type")
}

// render is Kafka's ConfigDef.convertToString: how DescribeConfigs shows a
// parsed value. Only a list differs from javaString.
func render(v any) string {
	if l, ok := v.([]string); ok {
		return strings.Join(l, ",")
	}
	return javaString(v)
}

// validator is Kafka's ConfigDef.Validator: it checks a parsed value and
// returns Kafka's error for it.
type validator func(name string, v any) error

// asInt64 widens an integer value for range checks.
func asInt64(v any) (int64, bool) {
	switch v := v.(type) {
	case int16:
		return int64(v), true
	case int32:
		return int64(v), true
	case int64:
		return v, true
	}
	return 0, false
}

// below and above compare as Kafka's Range does. Kafka compares
// doubleValue()s, so a NaN passes every range; so it does here.
func below(v any, min int64) bool {
	if n, ok := asInt64(v); ok {
		return n < min
	}
	return v.(float64) < float64(min)
}

func above(v any, max int64) bool {
	if n, ok := asInt64(v); ok {
		return n > max
	}
	return v.(float64) > float64(max)
}

// atLeast is Kafka's Range.atLeast.
func atLeast(min int64) validator {
	return func(name string, v any) error {
		if below(v, min) {
			return invalid(name, javaString(v), "Value must be at least "+strconv.FormatInt(min, 10))
		}
		return nil
	}
}

// between is Kafka's Range.between, bounds included.
func between(min, max int64) validator {
	return func(name string, v any) error {
		if below(v, min) {
			return invalid(name, javaString(v), "Value must be at least "+strconv.FormatInt(min, 10))
		}
		if above(v, max) {
			return invalid(name, javaString(v), "Value must be no more than "+strconv.FormatInt(max, 10))
		}
		return nil
	}
}

// oneOf is Kafka's ValidString.in: case-sensitive, as Kafka's is.
func oneOf(valid ...string) validator {
	return func(name string, v any) error {
		if s := v.(string); !slices.Contains(valid, s) {
			return invalid(name, s, "String must be one of: "+strings.Join(valid, ", "))
		}
		return nil
	}
}

// oneOfFold is Kafka's CaseInsensitiveValidString.in.
func oneOfFold(valid ...string) validator {
	return func(name string, v any) error {
		if s := v.(string); !slices.ContainsFunc(valid, func(x string) bool { return strings.EqualFold(x, s) }) {
			return invalid(name, s, "String must be one of (case insensitive): "+strings.Join(valid, ", "))
		}
		return nil
	}
}

// listOf is Kafka 4.2's ValidList (KIP-1161): optionally non-empty, no
// duplicates, no empty element, every element among valid when valid is not
// empty. The checks run in Kafka's order, so the message is Kafka's.
func listOf(emptyAllowed bool, valid ...string) validator {
	return func(name string, v any) error {
		l := v.([]string)
		if !emptyAllowed && len(l) == 0 {
			what := "any non-empty value"
			if len(valid) > 0 {
				what = "[" + strings.Join(valid, ", ") + "]"
			}
			return invalidMsg(name, "Configuration '"+name+"' must not be empty. Valid values include: "+what)
		}
		for i, s := range l {
			if slices.Contains(l[:i], s) {
				return invalidMsg(name, "Configuration '"+name+"' values must not be duplicated.")
			}
		}
		for _, s := range l {
			if s == "" {
				return invalidMsg(name, "Configuration '"+name+"' values must not be empty.")
			}
			if len(valid) > 0 && !slices.Contains(valid, s) {
				return invalid(name, s, "String must be one of: "+strings.Join(valid, ", "))
			}
		}
		return nil
	}
}

// throttledReplicas is Kafka's ThrottledReplicaListValidator: every element
// partition:broker (or empty), or the elements joined are exactly "*".
func throttledReplicas(name string, v any) error {
	l := v.([]string)
	all := true
	var joined strings.Builder
	for _, s := range l {
		s = trimJava(s)
		joined.WriteString(s)
		if s != "" && !isReplica(s) {
			all = false
		}
	}
	if all || joined.String() == "*" {
		return nil
	}
	return invalid(name, javaString(l), name+" must be the literal '*' or a list of replicas in the following format: [partitionId]:[brokerId],[partitionId]:[brokerId],...")
}

// isReplica matches [0-9]+:[0-9]+.
func isReplica(s string) bool {
	p, b, ok := strings.Cut(s, ":")
	digits := func(s string) bool {
		return s != "" && strings.IndexFunc(s, func(r rune) bool { return r < '0' || r > '9' }) < 0
	}
	return ok && digits(p) && digits(b)
}

// gzipLevel is the validator of compression.gzip.level: java.util.zip's
// levels 1 to 9, or -1 for the library default.
func gzipLevel(name string, v any) error {
	if l := v.(int32); l > 9 || (l < 1 && l != -1) {
		return invalid(name, javaString(v), "Value must be between 1 and 9 or equal to -1")
	}
	return nil
}

package config

import (
	"math"
	"testing"
)

// Kafka renders DOUBLE values with Java's Double.toString, in both
// DescribeConfigs and error messages.
func TestJavaDouble(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		f    float64
		want string
	}{
		{0.5, "0.5"},
		{1, "1.0"},
		{0, "0.0"},
		{math.Copysign(0, -1), "-0.0"},
		{-0.1, "-0.1"},
		{0.001, "0.001"},
		{0.0001, "1.0E-4"},
		{0.00012345, "1.2345E-4"},
		{9999999, "9999999.0"},
		{1e7, "1.0E7"},
		{12345678.9, "1.23456789E7"},
		{1e21, "1.0E21"},
		{math.NaN(), "NaN"},
		{math.Inf(1), "Infinity"},
		{math.Inf(-1), "-Infinity"},
	} {
		if got := javaDouble(tc.f); got != tc.want {
			t.Errorf("javaDouble(%v) = %q, want %q", tc.f, got, tc.want)
		}
	}
}

func TestParseJavaDouble(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		s    string
		ok   bool
		want float64
	}{
		{"0.5", true, 0.5},
		{"1", true, 1},
		{".5", true, 0.5},
		{"5.", true, 5},
		{"1e-3", true, 0.001},
		{"-1E2", true, -100},
		{"0.5f", true, 0.5},
		{"2D", true, 2},
		{"Infinity", true, math.Inf(1)},
		{"-Infinity", true, math.Inf(-1)},
		{"1e400", true, math.Inf(1)},
		{"", false, 0},
		{"f", false, 0},
		{"inf", false, 0},
		{"Inf", false, 0},
		{"0x1p3", false, 0},
		{"1_0", false, 0},
		{"1,5", false, 0},
		{"half", false, 0},
	} {
		got, ok := parseJavaDouble(tc.s)
		if ok != tc.ok || (ok && got != tc.want) {
			t.Errorf("parseJavaDouble(%q) = %v, %v; want %v, %v", tc.s, got, ok, tc.want, tc.ok)
		}
	}
	if f, ok := parseJavaDouble("NaN"); !ok || !math.IsNaN(f) {
		t.Errorf("parseJavaDouble(NaN) = %v, %v", f, ok)
	}
}

// Values are trimmed as Java's String.trim trims: control characters too.
func TestParseTypeTrims(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		typ  Type
		raw  string
		want string
	}{
		{TypeInt, "\x00 42\x1f", "42"},
		{TypeLong, "\t-7\n", "-7"},
		{TypeString, "  LogAppendTime\r\n", "LogAppendTime"},
		{TypeBoolean, " tRuE ", "true"},
		{TypeList, " a ,\tb,c ", "a,b,c"},
		{TypeList, " \t ", ""},
		{TypeDouble, " 1 ", "1.0"},
		{TypeShort, "32767", "32767"},
	} {
		v, err := parseType("x", tc.typ, tc.raw)
		if err != nil {
			t.Errorf("%s %q: %v", tc.typ, tc.raw, err)
			continue
		}
		if got := render(v); got != tc.want {
			t.Errorf("%s %q renders %q, want %q", tc.typ, tc.raw, got, tc.want)
		}
	}
	if _, err := parseType("x", TypeShort, "32768"); err == nil || err.Error() != "Invalid value 32768 for configuration x: Not a number of type SHORT" {
		t.Errorf("SHORT overflow: %v", err)
	}
}

// The tables must be sorted, since lookups search them by halves, and their
// defaults must parse, since defaultValue panics otherwise.
func TestTablesSortedAndValid(t *testing.T) {
	t.Parallel()
	for _, defs := range [][]Def{topicDefs[:], brokerDefs[:]} {
		for i := range defs {
			if i > 0 && defs[i-1].Name >= defs[i].Name {
				t.Errorf("%s is not after %s", defs[i].Name, defs[i-1].Name)
			}
			if defs[i].Default != nil {
				if _, err := defs[i].parse(*defs[i].Default); err != nil {
					t.Errorf("%s: %v", defs[i].Name, err)
				}
			}
			if defs[i].Type == TypeUnknown {
				t.Errorf("%s has no type", defs[i].Name)
			}
		}
	}
	// Every synonym StreamHouse lists has a known default status, so that
	// DescribeTopic lists Kafka's defaults and nothing else.
	nullDefaults := map[string]bool{
		"log.retention.ms": true, "log.retention.minutes": true, "log.roll.ms": true,
		"log.flush.interval.ms": true, "log.roll.jitter.ms": true,
	}
	for _, d := range topicDefs {
		for _, s := range d.Synonyms {
			if _, ok := brokerDefault(s); ok == nullDefaults[s] {
				t.Errorf("%s: synonym %s has default %v", d.Name, s, ok)
			}
		}
	}
}

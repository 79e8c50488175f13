package main

import (
	"flag"
	"io"
	"slices"
	"testing"
)

func TestSeedBrokers(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []string
	}{
		{"127.0.0.1:9092", []string{"127.0.0.1:9092"}},
		{"http://127.0.0.1:9093", []string{"127.0.0.1:9093"}},
		{"http://broker:9093/", []string{"broker:9093"}},
		{"broker", []string{"broker:9092"}},
		{"a:1, b:2", []string{"a:1", "b:2"}},
		{"::1", []string{"[::1]:9092"}},
		{"[::1]:9093", []string{"[::1]:9093"}},
		{"", nil},
		{"https://broker:9093", nil},
	} {
		got, err := seedBrokers(c.in)
		if c.want == nil {
			if err == nil {
				t.Errorf("seedBrokers(%q) = %q, want an error", c.in, got)
			}
			continue
		}
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("seedBrokers(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
}

func TestParseInterspersed(t *testing.T) {
	for _, c := range []struct {
		name    string
		args    []string
		pos     []string
		n       int
		configs []string
	}{
		{"flags after", []string{"t", "--partitions", "3"}, []string{"t"}, 3, nil},
		{"flags before", []string{"--partitions", "3", "t"}, []string{"t"}, 3, nil},
		{"between", []string{"a", "--config", "x=1", "b", "--config=y=2"}, []string{"a", "b"}, 0, []string{"x=1", "y=2"}},
		{"after --", []string{"--partitions", "2", "--", "--partitions", "x"}, []string{"--partitions", "x"}, 2, nil},
		{"negative value", []string{"t", "--partitions", "-5"}, []string{"t"}, -5, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			fs := flag.NewFlagSet("x", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			n := fs.Int("partitions", 0, "")
			var configs kvFlag
			fs.Var(&configs, "config", "")
			pos, err := parseInterspersed(fs, c.args)
			if err != nil || !slices.Equal(pos, c.pos) || *n != c.n || !slices.Equal(configs, c.configs) {
				t.Fatalf("parseInterspersed(%q) = %q, %v; partitions %d, configs %q", c.args, pos, err, *n, configs)
			}
		})
	}
}

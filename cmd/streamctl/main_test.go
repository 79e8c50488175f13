package main

import (
	"flag"
	"io"
	"slices"
	"testing"

	"github.com/streamhouse/streamhouse/internal/cli"
)

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
			pos, err := cli.ParseInterspersed(fs, c.args)
			if err != nil || !slices.Equal(pos, c.pos) || *n != c.n || !slices.Equal(configs, c.configs) {
				t.Fatalf("ParseInterspersed(%q) = %q, %v; partitions %d, configs %q", c.args, pos, err, *n, configs)
			}
		})
	}
}

// Package cli holds what the command-line tools (streamctl, streambench)
// share: reading the --bootstrap flag (Kafka's comma-separated host:port
// list) and flags interspersed with positional arguments.
package cli

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"strings"
)

// Seeds splits --bootstrap into host:port addresses. A leading
// http:// (which older scripts pass) is dropped, and a missing port is
// Kafka's 9092.
func Seeds(s string) ([]string, error) {
	var out []string
	for _, addr := range strings.Split(s, ",") {
		addr = strings.TrimSpace(addr)
		addr = strings.TrimPrefix(addr, "http://")
		addr = strings.TrimSuffix(addr, "/")
		if addr == "" {
			continue
		}
		if strings.Contains(addr, "://") {
			return nil, fmt.Errorf("%q: want host:port", addr)
		}
		if _, _, err := net.SplitHostPort(addr); err != nil {
			addr = net.JoinHostPort(addr, "9092")
			if _, _, err := net.SplitHostPort(addr); err != nil {
				return nil, fmt.Errorf("%q: want host:port", addr)
			}
		}
		out = append(out, addr)
	}
	if len(out) == 0 {
		return nil, errors.New("no address given")
	}
	return out, nil
}

// ParseInterspersed parses flags that may come before, between or after
// positional arguments (topic create NAME --partitions 3), as users of
// Kafka's tools expect; after "--" everything is positional. It returns
// the positional arguments.
func ParseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

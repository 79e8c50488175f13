// Package bootstrap reads the --bootstrap flag of the command-line tools
// (streamctl, streambench): Kafka's comma-separated host:port list.
package bootstrap

import (
	"errors"
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

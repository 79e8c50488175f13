// Package testport hands tests loopback addresses for a process they are
// about to start.
//
// A port taken with net.Listen("127.0.0.1:0") and closed again comes from
// the kernel's ephemeral range, the range every outgoing connection also
// draws its local port from: with many clients connecting, another test's
// connection can take the port before the process the test starts binds
// it ("address already in use"). Free hands out ports below the ephemeral
// range instead, where neither listen(":0") nor connect reach, each
// checked free by binding it, and not the same port twice in one test
// binary (until some 12,000 have been handed out).
package testport

import (
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// low is where the ports handed out start; the range ends below the
// kernel's ephemeral range.
const low = 20000

var (
	mu   sync.Mutex
	next int // the next port to try; 0 before the first call
	high int // one past the last port of the range
)

// Free returns 127.0.0.1:<port> with a port free a moment ago that no
// outgoing connection will take meanwhile.
func Free(t testing.TB) string {
	t.Helper()
	mu.Lock()
	defer mu.Unlock()
	if next == 0 {
		high = ephemeralLow()
		if high-low < 1000 {
			high = 0 // no room below the ephemeral range: the kernel picks
		} else {
			// Test binaries run side by side: each starts at its own
			// place in the range.
			next = low + rand.IntN(high-low)
		}
	}
	if high == 0 {
		return kernelPort(t)
	}
	for range high - low {
		p := next
		next++
		if next >= high {
			next = low
		}
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			continue
		}
		l.Close()
		return l.Addr().String()
	}
	return kernelPort(t)
}

// kernelPort is the fallback: a port the kernel picked.
func kernelPort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// ephemeralLow is the first port of the kernel's ephemeral range (Linux;
// IANA's 49152 elsewhere).
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 49152
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return 49152
	}
	n, err := strconv.Atoi(f[0])
	if err != nil {
		return 49152
	}
	return n
}

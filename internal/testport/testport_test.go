package testport

import (
	"net"
	"strconv"
	"testing"
)

// Ports handed out are distinct, bindable, and below the ephemeral range.
func TestFree(t *testing.T) {
	seen := map[string]bool{}
	eph := ephemeralLow()
	for range 200 {
		a := Free(t)
		if seen[a] {
			t.Fatalf("%s handed out twice", a)
		}
		seen[a] = true
		_, ps, err := net.SplitHostPort(a)
		if err != nil {
			t.Fatal(err)
		}
		p, _ := strconv.Atoi(ps)
		if eph-low >= 1000 && (p < low || p >= eph) {
			t.Fatalf("port %d outside [%d, %d)", p, low, eph)
		}
		l, err := net.Listen("tcp", a)
		if err != nil {
			t.Fatalf("%s: %v", a, err)
		}
		l.Close()
	}
}

package compattests

// Helpers for the schema registry tests (registry_*_test.go): the binary
// with --schema-registry-listen on a free loopback port.

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/streamhouse/streamhouse/registry"
)

// srBroker is the binary with its schema registry on.
type srBroker struct {
	*proc
	url string // http://host:port of the schema registry
}

// srStart starts the binary on dir (a new one when empty) with its schema
// registry on a free port, and returns once the registry answers.
func srStart(t testing.TB, dir string, extra ...string) *srBroker {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	srAddr := freePort(t)
	args := append([]string{"--schema-registry-listen", srAddr, "--fsync=false", "--group.initial.rebalance.delay.ms=0"}, extra...)
	b := &srBroker{proc: startProc(t, dir, "", args...), url: "http://" + srAddr}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(b.url + "/subjects")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return b
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the schema registry did not answer within 30s: %v\n%s", err, b.logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// newLoopbackHTTP serves reg's REST API on a loopback port for the test
// and returns its URL.
func newLoopbackHTTP(t testing.TB, reg *registry.Registry) string {
	t.Helper()
	srv := httptest.NewServer(reg.Handler())
	t.Cleanup(srv.Close)
	return srv.URL
}

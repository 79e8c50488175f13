package compattests

// Helpers for the schema registry tests (registry_*_test.go): the binary
// with --schema-registry-listen on a free loopback port.

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/sr"

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

// srStartFranzGo starts a registry broker over a directory of its own and
// returns franz-go's registry client (pkg/sr) of it, and restart, which
// stops the broker, starts it again over the same directory and returns a
// client of it: the start of the tests that register through that client
// and read back after a restart.
func srStartFranzGo(t testing.TB) (cl *sr.Client, restart func() *sr.Client) {
	t.Helper()
	dir := t.TempDir()
	var b *srBroker
	start := func() *sr.Client {
		t.Helper()
		b = srStart(t, dir)
		cl, err := sr.NewClient(sr.URLs(b.url))
		if err != nil {
			t.Fatal(err)
		}
		return cl
	}
	return start(), func() *sr.Client {
		t.Helper()
		b.stop()
		return start()
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

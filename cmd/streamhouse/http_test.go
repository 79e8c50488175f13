package main

import (
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/streamhouse/streamhouse/metrics"
)

// /health is 200 with "ok", or "degraded" and a line per condition; /ready
// stays 200 while degraded (a broker whose disk is low still serves reads
// and the requests that free space) and says so.
func TestOpsHealthReady(t *testing.T) {
	o, err := startOps("127.0.0.1:0", metrics.New(), false, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer o.close()
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get("http://" + o.addr + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/ready"); code != 503 || body != "not ready\n" {
		t.Fatalf("/ready before start: %d %q", code, body)
	}
	o.setReady(true)
	if code, body := get("/health"); code != 200 || body != "ok\n" {
		t.Fatalf("/health: %d %q", code, body)
	}
	var mu sync.Mutex
	var conds []string
	o.watch(func() []string {
		mu.Lock()
		defer mu.Unlock()
		return conds
	})
	if code, body := get("/ready"); code != 200 || body != "ready\n" {
		t.Fatalf("/ready: %d %q", code, body)
	}
	mu.Lock()
	conds = []string{"storage: disk low since ...", "storage: disk full ..."}
	mu.Unlock()
	if code, body := get("/health"); code != 200 || body != "degraded\n"+strings.Join(conds, "\n")+"\n" {
		t.Fatalf("/health while degraded: %d %q", code, body)
	}
	if code, body := get("/ready"); code != 200 || !strings.HasPrefix(body, "ready, degraded\nstorage: disk low") {
		t.Fatalf("/ready while degraded: %d %q", code, body)
	}
}

package compattests

// kafkajs with @kafkajs/confluent-schema-registry (both pinned in
// testdata/registry-kafkajs/package.json) against the binary's schema
// registry: for Avro, JSON Schema and Protobuf, testdata/registry-kafkajs/
// scenario.js registers, encodes, produces, consumes and decodes (see
// there), and prints what it saw as one JSON object.
//
// node_modules is not committed: `npm ci --prefix
// compat-tests/testdata/registry-kafkajs` installs it (.ci/run does).
// Without node or without it the test skips, and fails under
// STREAMHOUSE_COMPAT_REQUIRE=1.

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestRegistryKafkajs(t *testing.T) {
	t.Parallel()
	node := requireTool(t, "node")
	dir, err := filepath.Abs(filepath.Join("testdata", "registry-kafkajs"))
	if err != nil {
		t.Fatal(err)
	}
	for _, pkg := range []string{"kafkajs", "@kafkajs/confluent-schema-registry"} {
		if _, err := os.Stat(filepath.Join(dir, "node_modules", pkg, "package.json")); err != nil {
			msg := pkg + " is not installed; run `npm ci --prefix compat-tests/testdata/registry-kafkajs`"
			if os.Getenv("STREAMHOUSE_COMPAT_REQUIRE") == "1" {
				t.Fatalf("required (STREAMHOUSE_COMPAT_REQUIRE=1): %s", msg)
			}
			t.Skip(msg)
		}
	}
	b := srStart(t, "")
	ctx, cancel := context.WithTimeout(context.Background(), kafkajsTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "scenario.js", b.addr, b.url)
	cmd.Dir = dir
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	ls := lines(stdout.String())
	if runErr != nil || len(ls) == 0 {
		t.Fatalf("node scenario.js: %v\nstdout:\n%s\nstderr:\n%s\nbroker log:\n%s", runErr, tail(stdout.String(), 4000), tail(stderr.String(), 4000), tail(b.logs.String(), 4000))
	}
	type reading struct {
		Sensor  string  `json:"sensor"`
		Celsius float64 `json:"celsius"`
	}
	var out map[string]struct {
		ID      int       `json:"id"`
		Again   int       `json:"again"`
		Latest  int       `json:"latest"`
		IDs     []int     `json:"ids"`
		Decoded []reading `json:"decoded"`
	}
	if err := json.Unmarshal([]byte(ls[len(ls)-1]), &out); err != nil {
		t.Fatalf("%v in %q", err, ls[len(ls)-1])
	}
	want := []reading{{"s-1", 21.5}, {"s-2", -3}}
	seen := map[int]string{}
	for _, format := range []string{"avro", "json", "protobuf"} {
		r, ok := out[format]
		if !ok {
			t.Errorf("%s: no result", format)
			continue
		}
		if r.ID < 1 || r.Again != r.ID || r.Latest != r.ID {
			t.Errorf("%s: registered id %d, again %d, latest %d", format, r.ID, r.Again, r.Latest)
		}
		if other, dup := seen[r.ID]; dup {
			t.Errorf("%s and %s got the same id %d", format, other, r.ID)
		}
		seen[r.ID] = format
		for i, id := range r.IDs {
			if id != r.ID {
				t.Errorf("%s record %d carries id %d, want %d", format, i, id, r.ID)
			}
		}
		if len(r.Decoded) != len(want) || r.Decoded[0] != want[0] || r.Decoded[1] != want[1] {
			t.Errorf("%s: decoded %+v, want %+v", format, r.Decoded, want)
		}
	}
}

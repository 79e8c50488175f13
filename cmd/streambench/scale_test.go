package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamhouse/streamhouse/broker/brokertest"
)

// TestScale runs the scale mode against a broker: two rounds of a topic of
// 20 partitions, each created, produced into and deleted.
func TestScale(t *testing.T) {
	t.Parallel()
	b := brokertest.New(t, brokertest.Options{NoSync: true})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	code := run(ctx, []string{"scale", "--bootstrap", b.Addr(), "--partitions", "20", "--rounds", "2", "--timeout", "10s"}, noEnv, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, stderr.String())
	}
	var s scaleSummary
	dec := json.NewDecoder(&stdout)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil || dec.More() {
		t.Fatalf("summary: %v", err)
	}
	if s.Mode != modeScale || s.Partitions != 20 || len(s.Runs) != 2 || len(s.Brokers) != 1 || s.Brokers[0].Runs != 2 {
		t.Fatalf("summary %+v", s)
	}
	for _, r := range s.Runs {
		if r.CreateMs <= 0 || r.FirstProdMs <= 0 || r.MetadataMs <= 0 || r.Broker != b.Addr() {
			t.Errorf("run %+v", r)
		}
	}
	if e := stderr.String(); strings.Count(e, "round ") != 2 || !strings.Contains(e, "medians, 20 partitions") {
		t.Errorf("stderr %q", e)
	}
	// The topics it made are gone.
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	tds, err := kadm.NewClient(cl).ListTopics(ctx)
	if err != nil || len(tds) != 0 {
		t.Fatalf("topics left: %v, %v", tds.Names(), err)
	}
}

func TestScaleUsage(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"scale", "--partitions", "0"},
		{"scale", "--rounds", "0"},
		{"scale", "--kfake"},
		{"scale", "extra"},
		{"scale", "--timeout", "10ms"},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), args, noEnv, &stdout, &stderr); code != 2 || stdout.Len() != 0 || !strings.Contains(stderr.String(), "streambench scale: ") {
			t.Errorf("%q: exit %d, stdout %q, stderr %q", args, code, stdout.String(), stderr.String())
		}
	}
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"scale", "--help"}, noEnv, &stdout, &stderr); code != 0 || !strings.Contains(stdout.String(), "--streamhouse-bin") && !strings.Contains(stdout.String(), "-streamhouse-bin") {
		t.Errorf("--help: exit %d, %q", code, stdout.String())
	}
}

package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

func noEnv(string) string { return "" }

func TestUsageErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string // in the message
	}{
		{nil, "no mode given"},
		{[]string{"fly"}, `unknown mode "fly"`},
		{[]string{"produce", "consume", "--records", "1"}, "one mode only"},
		{[]string{"produce"}, "needs --records N or --duration D"},
		{[]string{"e2e", "--rate", "10"}, "needs --records N or --duration D"},
		{[]string{"produce", "--records", "-1"}, "--records must not be negative"},
		{[]string{"produce", "--records", "x"}, "invalid value"},
		{[]string{"produce", "--records", "1", "--acks", "2"}, "--acks must be all, 1 or 0"},
		{[]string{"produce", "--records", "1", "--rate", "10", "--pacing", "timer"}, "--pacing must be app or precise"},
		{[]string{"produce", "--records", "1", "--compression", "brotli"}, "--compression must be"},
		{[]string{"produce", "--records", "1", "--rate", "-5"}, "--rate must be"},
		{[]string{"produce", "--records", "1", "--rate", "NaN"}, "--rate must be"},
		{[]string{"produce", "--records", "1", "--producers", "0"}, "--producers must be"},
		{[]string{"produce", "--records", "1", "--acks", "1", "--idempotent"}, "--idempotent needs --acks all"},
		{[]string{"produce", "--records", "1", "--batch-bytes", "100"}, "--batch-bytes must be"},
		{[]string{"produce", "--records", "1", "--record-size", "2000000"}, "does not fit in a batch"},
		{[]string{"produce", "--records", "1", "--linger", "2m"}, "--linger must be"},
		{[]string{"produce", "--records", "1", "--partitions", "-3"}, "--partitions must be"},
		{[]string{"produce", "--records", "1", "--timeout", "10ms"}, "--timeout must be at least 1s"},
		{[]string{"produce", "--records", "1", "--consumers", "2"}, "--consumers does not apply to produce"},
		{[]string{"consume", "--rate", "100"}, "--rate does not apply to consume"},
		{[]string{"consume", "--consumers", "0"}, "--consumers must be"},
		{[]string{"e2e", "--records", "1", "--record-size", "8"}, "e2e needs --record-size of at least 16"},
		{[]string{"produce", "--records", "1", "--bootstrap", "https://x:1"}, "--bootstrap"},
		{[]string{"produce", "--records", "1", "--pid", "-1"}, "--pid must not be negative"},
		{[]string{"produce", "--no-such-flag"}, "flag provided but not defined"},
	} {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), c.args, noEnv, &stdout, &stderr)
		if code != 2 || stdout.Len() != 0 || !strings.Contains(stderr.String(), c.want) || strings.Count(stderr.String(), "\n") != 1 {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want exit 2 and one line with %q", c.args, code, stdout.String(), stderr.String(), c.want)
		}
	}
}

func TestParseArgs(t *testing.T) {
	// Flags before and after the mode; acks -1 is all; idempotence
	// follows acks unless given.
	cfg, _, err := parseArgs([]string{"--records", "10", "produce", "--acks", "-1", "--rate=5.5", "--bootstrap", "a,b:1"}, noEnv)
	if err != nil || cfg.mode != "produce" || cfg.records != 10 || cfg.acks != "all" || !cfg.idempotent || cfg.rate != 5.5 ||
		strings.Join(cfg.seeds, " ") != "a:9092 b:1" {
		t.Fatalf("parseArgs = %+v, %v", cfg, err)
	}
	cfg, _, err = parseArgs([]string{"produce", "--duration", "1s", "--acks", "1"}, noEnv)
	if err != nil || cfg.idempotent || cfg.duration != time.Second {
		t.Fatalf("acks 1: idempotent %v, %v", cfg.idempotent, err)
	}
	cfg, _, err = parseArgs([]string{"consume"}, func(k string) string { return map[string]string{addrEnv: "h:7"}[k] })
	if err != nil || cfg.seeds[0] != "h:7" || cfg.topic != "streambench" {
		t.Fatalf("consume with %s: %+v, %v", addrEnv, cfg, err)
	}

	var stdout bytes.Buffer
	if code := run(context.Background(), []string{"--help"}, noEnv, &stdout, &bytes.Buffer{}); code != 0 || !strings.Contains(stdout.String(), "--record-size") {
		t.Fatalf("--help: exit %d, %q", code, stdout.String())
	}
}

func TestBrokerUnreachable(t *testing.T) {
	var stdout, stderr bytes.Buffer
	start := time.Now()
	code := run(context.Background(), []string{"produce", "--records", "10", "--bootstrap", "127.0.0.1:1", "--timeout", "1s"}, noEnv, &stdout, &stderr)
	if code != 1 || stdout.Len() != 0 || !strings.Contains(stderr.String(), "cannot reach the broker at 127.0.0.1:1") {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, stdout.String(), stderr.String())
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("took %v with --timeout 1s", d)
	}
}

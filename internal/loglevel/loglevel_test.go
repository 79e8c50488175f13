package loglevel

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

func TestLevels(t *testing.T) {
	var buf bytes.Buffer
	l := New(slog.LevelInfo, slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug - 8}))
	root, broker := l.Logger(Root), l.Logger("broker").With("k", "v")
	broker.Debug("hidden")
	root.Info("shown root")
	if err := l.Set("broker", "debug"); err != nil {
		t.Fatal(err)
	}
	broker.Debug("shown broker")
	root.Debug("hidden root")
	if err := l.Set(Root, "OFF"); err != nil {
		t.Fatal(err)
	}
	root.Error("hidden error")
	if err := l.Reset("broker"); err != nil {
		t.Fatal(err)
	}
	broker.Error("hidden too")
	out := buf.String()
	for _, want := range []string{"shown root", "shown broker", "k=v"} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
	if strings.Contains(out, "hidden") {
		t.Errorf("a disabled record was written:\n%s", out)
	}
	if err := l.Reset(Root); err == nil {
		t.Error("Reset(root) succeeded")
	}
	if err := l.Set("nope", "INFO"); err == nil {
		t.Error("Set of an unknown logger succeeded")
	}
	if err := l.Set(Root, "LOUD"); err == nil {
		t.Error("Set of an unknown level succeeded")
	}
	if got := l.Names(); len(got) != 2 || got[0] != "broker" || got[1] != Root {
		t.Errorf("Names() = %v", got)
	}
	if n := Name(slog.LevelWarn + 1); n != "WARN" {
		t.Errorf("Name(WARN+1) = %s", n)
	}
}

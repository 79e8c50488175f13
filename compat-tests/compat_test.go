// Package compattests drives a real StreamHouse broker with real Kafka
// clients (franz-go, sarama, kcat, ...) over TCP on 127.0.0.1. Each test
// gets a fresh broker and data directory (broker/brokertest), or the real
// binary as a child process where the test is about the process (restart,
// signals).
//
// A test whose client tool is missing skips, unless
// STREAMHOUSE_COMPAT_REQUIRE=1 (as in CI), where it fails.
package compattests

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/streamhouse/streamhouse/internal/pgtest"
	"github.com/streamhouse/streamhouse/internal/testport"
)

// requireTool returns the path of a command-line client, skipping the test
// when it is missing (failing under STREAMHOUSE_COMPAT_REQUIRE=1).
func requireTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("STREAMHOUSE_COMPAT_REQUIRE") == "1" {
			t.Fatalf("%s is required (STREAMHOUSE_COMPAT_REQUIRE=1) but not installed: %v", name, err)
		}
		t.Skipf("%s not installed: %v", name, err)
	}
	return p
}

var (
	buildMu   sync.Mutex
	buildPath = map[string]string{} // by build tags
)

// binary builds cmd/streamhouse once per test process and returns its path.
func binary(t testing.TB) string {
	t.Helper()
	return binaryTags(t, "")
}

// binaryFaults builds cmd/streamhouse with -tags faults: the crash points
// and the fsync log of internal/fault, armed by STREAMHOUSE_CRASH_AT and
// STREAMHOUSE_SYNC_LOG.
func binaryFaults(t testing.TB) string {
	t.Helper()
	return binaryTags(t, "faults")
}

// TestMain runs the tests and then removes the binaries they built: each
// run of the package builds its own, which would otherwise pile up in the
// temporary directory (some 40 MiB each).
func TestMain(m *testing.M) {
	code := m.Run()
	buildMu.Lock()
	for _, p := range buildPath {
		os.RemoveAll(filepath.Dir(p))
	}
	buildMu.Unlock()
	os.Exit(code)
}

func binaryTags(t testing.TB, tags string) string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	if p, ok := buildPath[tags]; ok {
		return p
	}
	dir, err := os.MkdirTemp("", "streamhouse-bin-")
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "streamhouse")
	args := []string{"build", "-o", p}
	if tags != "" {
		args = append(args, "-tags", tags)
	}
	args = append(args, "github.com/streamhouse/streamhouse/cmd/streamhouse")
	if out, err := exec.Command("go", args...).CombinedOutput(); err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	buildPath[tags] = p
	return p
}

// proc is the streamhouse binary running as a child process.
type proc struct {
	t    testing.TB
	cmd  *exec.Cmd
	addr string
	dir  string
	done chan error
	logs *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// catalogFlags are the flags that put a broker's catalog where the test run
// asks: none for SQLite in the data directory (the default), or, with
// STREAMHOUSE_TEST_METADATA=postgres, a PostgreSQL schema of the data
// directory's own, the same at each restart.
func catalogFlags(t testing.TB, dir string) []string {
	t.Helper()
	if !pgtest.Enabled() {
		return nil
	}
	return []string{"--metadata", "postgres", "--database-url", pgtest.URLFor(t, dir)}
}

// freePort returns a loopback address with a port that was free a moment
// ago, below the range outgoing connections take their ports from.
func freePort(t testing.TB) string {
	t.Helper()
	return testport.Free(t)
}

// startProc starts the binary on dir and waits until it accepts
// connections. extra are more flags.
func startProc(t testing.TB, dir, addr string, extra ...string) *proc {
	t.Helper()
	return startProcWith(t, binary(t), nil, dir, addr, extra...)
}

// startProcWith starts the binary at bin with env added to the test's
// environment (KEY=value entries). The broker is up once its log says it
// started: a dial alone can reach another test's listener that took the
// port freePort handed out. When the port was freePort's and the broker
// found it taken, it starts again on another.
func startProcWith(t testing.TB, bin string, env []string, dir, addr string, extra ...string) *proc {
	t.Helper()
	for tries := 1; ; tries++ {
		chosen := addr
		if chosen == "" {
			chosen = freePort(t)
		}
		p, err := tryStartProc(t, bin, env, dir, chosen, extra...)
		if err == nil {
			return p
		}
		if addr != "" || tries == 3 || !strings.Contains(p.logs.String(), "address already in use") {
			t.Fatalf("%v\n%s", err, p.logs.String())
		}
	}
}

// tryStartProc starts the binary listening on addr and waits until it has
// started, or fails.
func tryStartProc(t testing.TB, bin string, env []string, dir, addr string, extra ...string) (*proc, error) {
	t.Helper()
	// Text logs, which tests search; the binary would pick JSON when
	// its output is not a terminal. The ops listener is off unless asked,
	// and so is the free-space guard (5% of the volume by default): a
	// test must not depend on the free space of the machine it runs on
	// (diskfull_*_test.go test the guard on a volume of their own).
	args := append([]string{"--listen", addr, "--data-dir", dir, "--log-format", "text", "--http-listen", "", "--schema-registry-listen", ""}, catalogFlags(t, dir)...)
	args = append(args, dfGuardArgs(extra)...)
	p := &proc{t: t, addr: addr, dir: dir, done: make(chan error, 1), logs: &syncBuffer{}}
	p.cmd = exec.Command(bin, args...)
	if env != nil {
		p.cmd.Env = append(os.Environ(), env...)
	}
	p.cmd.Stdout = p.logs
	p.cmd.Stderr = p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			p.cmd.Process.Kill()
			<-p.done
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		if strings.Contains(p.logs.String(), "streamhouse started") {
			c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
			if err == nil {
				c.Close()
				return p, nil
			}
		}
		select {
		case err := <-p.done:
			p.done <- err // for whoever waits on it next
			return p, fmt.Errorf("streamhouse exited before listening: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			return p, fmt.Errorf("streamhouse did not listen on %s within 20s", addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop sends SIGTERM and waits for a clean exit.
func (p *proc) stop() {
	p.t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		p.t.Fatal(err)
	}
	select {
	case err := <-p.done:
		if err != nil {
			p.t.Fatalf("streamhouse exited with %v after SIGTERM\n%s", err, p.logs.String())
		}
	case <-time.After(30 * time.Second):
		p.t.Fatalf("streamhouse did not exit within 30s of SIGTERM\n%s", p.logs.String())
	}
}

// runTool runs a command-line client with a timeout and returns its
// standard output; it fails the test on a non-zero exit.
func runTool(t testing.TB, timeout time.Duration, stdin io.Reader, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdin = stdin
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\nstderr:\n%s", name, strings.Join(args, " "), err, tail(stderr.String(), 4000))
	}
	return stdout.String()
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}

// lines splits output into non-empty lines.
func lines(s string) []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(s))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if l := sc.Text(); l != "" {
			out = append(out, l)
		}
	}
	return out
}

package compattests

// Helpers for streamctl_test.go: build cmd/streamctl once, run it against
// the streamhouse binary, and decode its JSON output into structs that
// mirror its field names (decoding refuses unknown fields, so a renamed
// field fails the test). Names start with ctl.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// ctlWait bounds one streamctl run; only a hang reaches it.
const ctlWait = 30 * time.Second

var (
	ctlMu   sync.Mutex
	ctlPath string
)

// ctlBinary builds cmd/streamctl once per test process and returns its
// path.
func ctlBinary(t testing.TB) string {
	t.Helper()
	ctlMu.Lock()
	defer ctlMu.Unlock()
	if ctlPath != "" {
		return ctlPath
	}
	dir, err := os.MkdirTemp("", "streamctl-bin-")
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "streamctl")
	if out, err := exec.Command("go", "build", "-o", p, "github.com/streamhouse/streamhouse/cmd/streamctl").CombinedOutput(); err != nil {
		t.Fatalf("go build cmd/streamctl: %v\n%s", err, out)
	}
	ctlPath = p
	return p
}

// ctlBroker runs the streamhouse binary on a temp dir with the group
// settings of the group tests (no initial rebalance delay).
func ctlBroker(t testing.TB) string {
	t.Helper()
	return startProc(t, t.TempDir(), "", grBrokerFlags()...).addr
}

// ctlResult is one finished streamctl run.
type ctlResult struct {
	stdout, stderr string
	code           int
	took           time.Duration
}

// ctlEnv is the test's environment without STREAMHOUSE_ADDR, plus env.
func ctlEnv(env []string) []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "STREAMHOUSE_ADDR=") {
			out = append(out, kv)
		}
	}
	return append(out, env...)
}

// ctlRun runs streamctl with args, stdin and env (KEY=value entries added
// to the test's environment without STREAMHOUSE_ADDR), whatever its exit
// code.
func ctlRun(t testing.TB, env []string, stdin string, args ...string) ctlResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), ctlWait)
	defer cancel()
	cmd := exec.CommandContext(ctx, ctlBinary(t), args...)
	cmd.Env = ctlEnv(env)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	r := ctlResult{stdout: stdout.String(), stderr: stderr.String(), took: time.Since(start)}
	var exit *exec.ExitError
	switch {
	case ctx.Err() != nil:
		t.Fatalf("streamctl %s: still running after %v\nstderr:\n%s", strings.Join(args, " "), ctlWait, tail(r.stderr, 4000))
	case errors.As(err, &exit):
		r.code = exit.ExitCode()
	case err != nil:
		t.Fatalf("streamctl %s: %v", strings.Join(args, " "), err)
	}
	return r
}

// ctl runs streamctl against the broker at addr and returns its standard
// output, failing the test unless it exits 0.
func ctl(t testing.TB, addr string, args ...string) string {
	t.Helper()
	return ctlIn(t, addr, "", args...)
}

// ctlIn is ctl with standard input.
func ctlIn(t testing.TB, addr, stdin string, args ...string) string {
	t.Helper()
	r := ctlRun(t, nil, stdin, append([]string{"--bootstrap", addr}, args...)...)
	if r.code != 0 {
		t.Fatalf("streamctl %s: exit code %d\nstderr:\n%s", strings.Join(args, " "), r.code, tail(r.stderr, 4000))
	}
	return r.stdout
}

// ctlJSON runs a command with --output json and decodes its output into a
// T, refusing fields T does not have.
func ctlJSON[T any](t testing.TB, addr string, args ...string) T {
	t.Helper()
	out := ctl(t, addr, append(args, "--output", "json")...)
	var v T
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("streamctl %s --output json: %v\n%s", strings.Join(args, " "), err, out)
	}
	return v
}

// ctlJSONLines decodes consume's one JSON object per line.
func ctlJSONLines(t testing.TB, out string) []ctlRecord {
	t.Helper()
	var recs []ctlRecord
	for _, l := range lines(out) {
		var r ctlRecord
		dec := json.NewDecoder(strings.NewReader(l))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&r); err != nil {
			t.Fatalf("consume --output json: line %q: %v", l, err)
		}
		recs = append(recs, r)
	}
	return recs
}

// ctlFail runs streamctl against addr expecting exit code want and an error
// of one line, "streamctl: ...", that contains each of contains.
func ctlFail(t testing.TB, addr string, want int, contains []string, args ...string) ctlResult {
	t.Helper()
	if addr != "" {
		args = append([]string{"--bootstrap", addr}, args...)
	}
	r := ctlRun(t, nil, "", args...)
	ctlCheckFail(t, r, want, contains, args...)
	return r
}

func ctlCheckFail(t testing.TB, r ctlResult, want int, contains []string, args ...string) {
	t.Helper()
	if r.code != want {
		t.Fatalf("streamctl %s: exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, want, r.stdout, r.stderr)
	}
	msg := strings.TrimSuffix(r.stderr, "\n")
	if strings.Contains(msg, "\n") || !strings.HasPrefix(msg, "streamctl: ") {
		t.Fatalf("streamctl %s: want one line \"streamctl: ...\" on stderr, got:\n%s", strings.Join(args, " "), r.stderr)
	}
	for _, c := range contains {
		if !strings.Contains(msg, c) {
			t.Fatalf("streamctl %s: error %q does not say %q", strings.Join(args, " "), msg, c)
		}
	}
}

// ctlBackground is a streamctl process left running (consume --follow).
type ctlBackground struct {
	t      testing.TB
	cmd    *exec.Cmd
	stdout *syncBuffer
	stderr *syncBuffer
	done   chan error
}

func ctlStart(t testing.TB, addr string, args ...string) *ctlBackground {
	t.Helper()
	b := &ctlBackground{t: t, stdout: &syncBuffer{}, stderr: &syncBuffer{}, done: make(chan error, 1)}
	b.cmd = exec.Command(ctlBinary(t), append([]string{"--bootstrap", addr}, args...)...)
	b.cmd.Env = ctlEnv(nil)
	b.cmd.Stdout, b.cmd.Stderr = b.stdout, b.stderr
	if err := b.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { b.done <- b.cmd.Wait() }()
	t.Cleanup(func() {
		if b.cmd.ProcessState == nil {
			b.cmd.Process.Kill()
			<-b.done
		}
	})
	return b
}

// exited reports whether the process has ended, and its error.
func (b *ctlBackground) exited() (bool, error) {
	select {
	case err := <-b.done:
		b.done <- err
		return true, err
	default:
		return false, nil
	}
}

// wait waits for the process to end by itself and fails the test unless it
// exits 0.
func (b *ctlBackground) wait() {
	b.t.Helper()
	select {
	case err := <-b.done:
		b.done <- err
		if err != nil {
			b.t.Fatalf("streamctl %s: %v\nstderr:\n%s", strings.Join(b.cmd.Args[1:], " "), err, b.stderr.String())
		}
	case <-time.After(ctlWait):
		b.t.Fatalf("streamctl %s: still running after %v\nstdout:\n%s\nstderr:\n%s", strings.Join(b.cmd.Args[1:], " "), ctlWait, b.stdout.String(), b.stderr.String())
	}
}

// interrupt sends SIGINT (Ctrl-C) and waits for a clean exit.
func (b *ctlBackground) interrupt() {
	b.t.Helper()
	if err := b.cmd.Process.Signal(syscall.SIGINT); err != nil {
		b.t.Fatal(err)
	}
	b.wait()
}

// The JSON output of streamctl, field for field.

type ctlTopic struct {
	Name              string `json:"name"`
	ID                string `json:"id"`
	Partitions        int    `json:"partitions"`
	ReplicationFactor int    `json:"replication_factor"`
}

type ctlConfig struct {
	Name      string  `json:"name"`
	Value     *string `json:"value"`
	Source    string  `json:"source"`
	Sensitive bool    `json:"sensitive"`
}

type ctlTopicInfo struct {
	Name              string `json:"name"`
	ID                string `json:"id"`
	ReplicationFactor int    `json:"replication_factor"`
	Partitions        []struct {
		Partition      int32   `json:"partition"`
		Leader         int32   `json:"leader"`
		Replicas       []int32 `json:"replicas"`
		ISR            []int32 `json:"isr"`
		LogStartOffset int64   `json:"log_start_offset"`
		EndOffset      int64   `json:"end_offset"`
		LocalBytes     *int64  `json:"local_bytes"`
		RemoteBytes    *int64  `json:"remote_bytes"`
		Error          string  `json:"error"`
	} `json:"partitions"`
	Configs []ctlConfig `json:"configs"`
}

type ctlResourceConfigs struct {
	Resource string      `json:"resource"`
	Name     string      `json:"name"`
	Configs  []ctlConfig `json:"configs"`
}

// config returns the named config, failing the test if it is missing.
func (rc ctlResourceConfigs) config(t testing.TB, name string) ctlConfig {
	t.Helper()
	return ctlFindConfig(t, rc.Configs, name)
}

func ctlFindConfig(t testing.TB, cs []ctlConfig, name string) ctlConfig {
	t.Helper()
	for _, c := range cs {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("config %s not listed", name)
	return ctlConfig{}
}

type ctlProduced struct {
	Topic      string  `json:"topic"`
	Records    int64   `json:"records"`
	DurationMS float64 `json:"duration_ms"`
	Partition  *int32  `json:"partition"`
	Offset     *int64  `json:"offset"`
}

type ctlHeader struct {
	Key   string  `json:"key"`
	Value *string `json:"value"`
}

type ctlRecord struct {
	Topic     string      `json:"topic"`
	Partition int32       `json:"partition"`
	Offset    int64       `json:"offset"`
	Timestamp int64       `json:"timestamp"`
	Key       *string     `json:"key"`
	Value     *string     `json:"value"`
	Headers   []ctlHeader `json:"headers"`
	Encoding  string      `json:"encoding"`
}

type ctlGroupSummary struct {
	Group        string `json:"group"`
	State        string `json:"state"`
	Type         string `json:"type"`
	ProtocolType string `json:"protocol_type"`
}

type ctlGroup struct {
	Group    string `json:"group"`
	Type     string `json:"type"`
	State    string `json:"state"`
	Protocol string `json:"protocol"`
	Members  []struct {
		MemberID   string  `json:"member_id"`
		InstanceID *string `json:"instance_id"`
		ClientID   string  `json:"client_id"`
		Host       string  `json:"host"`
		Assignment []struct {
			Topic      string  `json:"topic"`
			Partitions []int32 `json:"partitions"`
		} `json:"assignment"`
	} `json:"members"`
	Offsets []ctlGroupOffset `json:"offsets"`
}

type ctlGroupOffset struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Committed *int64 `json:"committed"`
	End       int64  `json:"end"`
	Lag       *int64 `json:"lag"`
	Member    string `json:"member"`
}

type ctlReset struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Previous  *int64 `json:"previous"`
	Offset    int64  `json:"offset"`
}

type ctlCluster struct {
	ClusterID  string `json:"cluster_id"`
	Controller int32  `json:"controller"`
	Brokers    []struct {
		ID      int32   `json:"id"`
		Address string  `json:"address"`
		Rack    *string `json:"rack"`
	} `json:"brokers"`
	Topics  int `json:"topics"`
	Catalog *struct {
		Store    string `json:"store"`
		Location string `json:"location"`
	} `json:"catalog"`
}

// ctlTableRow returns the fields of the first line of a text table whose
// first fields are prefix, failing the test if there is none.
func ctlTableRow(t testing.TB, out string, prefix ...string) []string {
	t.Helper()
	for _, l := range lines(out) {
		f := strings.Fields(l)
		if len(f) >= len(prefix) && slices.Equal(f[:len(prefix)], prefix) {
			return f
		}
	}
	t.Fatalf("no row starting with %q in:\n%s", prefix, out)
	return nil
}

// ctlPtr is a pointer to v.
func ctlPtr[T any](v T) *T { return &v }

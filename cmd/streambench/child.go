package main

// compare's brokers, each a child process on a loopback port: StreamHouse
// from its binary, and kfake from this program's hidden kfake-server mode.
// Each is its own process so that its CPU time and RSS are its own, and
// neither shares the benchmark client's.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// streamhousePkg is what --streamhouse-bin defaults to building.
const streamhousePkg = "github.com/streamhouse/streamhouse/cmd/streamhouse"

// stopWait is how long a broker has to exit after SIGTERM before it is
// killed.
const stopWait = 15 * time.Second

// tailLines is how many of a child's last lines of output are kept, to
// explain its failure.
const tailLines = 20

// child is a broker running as a child process.
type child struct {
	name string
	cmd  *exec.Cmd
	addr string        // its Kafka listener
	done chan struct{} // closed once it has exited; then err is set
	err  error         // how it exited

	mu   sync.Mutex
	tail []string // its last lines of output; guarded by mu
}

// startChild starts cmd, reads its standard output and error (merged) and
// returns once addrOf finds its listener's address in a line and the
// broker answers ApiVersions, all within timeout.
func startChild(ctx context.Context, name string, cmd *exec.Cmd, addrOf func(line string) (string, bool), timeout time.Duration) (*child, error) {
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = pw, pw
	cmd.SysProcAttr = childAttr()
	c := &child{name: name, cmd: cmd, done: make(chan struct{})}
	err = cmd.Start()
	pw.Close() // the child holds its own copy
	if err != nil {
		pr.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	found := make(chan string, 1)
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		c.read(pr, addrOf, found)
	}()
	go func() {
		c.err = cmd.Wait()
		// Its last words, for failure; a grandchild may hold the pipe.
		select {
		case <-drained:
		case <-time.After(time.Second):
		}
		close(c.done)
	}()

	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	select {
	case c.addr = <-found:
	case <-c.done:
		return nil, c.failure(fmt.Errorf("%s exited before listening: %v", name, c.err))
	case <-ctx.Done():
		c.stop()
		return nil, c.failure(fmt.Errorf("%s did not say where it listens within %s", name, timeout))
	}
	if err := c.waitReady(ctx); err != nil {
		c.stop()
		return nil, c.failure(err)
	}
	return c, nil
}

// read keeps the last lines of the child's output, sending the first
// address addrOf finds on found, until the child closes its end.
func (c *child) read(r io.ReadCloser, addrOf func(string) (string, bool), found chan<- string) {
	defer r.Close()
	br := bufio.NewReader(r)
	looking := true
	for {
		line, err := br.ReadString('\n')
		if line = strings.TrimRight(line, "\r\n"); line != "" {
			c.mu.Lock()
			c.tail = append(c.tail, line)
			if len(c.tail) > tailLines {
				c.tail = c.tail[len(c.tail)-tailLines:]
			}
			c.mu.Unlock()
			if looking {
				if addr, ok := addrOf(line); ok {
					found <- addr
					looking = false
				}
			}
		}
		if err != nil {
			return
		}
	}
}

// waitReady waits until the broker answers an ApiVersions request (kgo's
// Ping), or its process exits, or ctx ends.
func (c *child) waitReady(ctx context.Context) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.addr), kgo.DialTimeout(time.Second))
	if err != nil {
		return err
	}
	defer cl.Close()
	for {
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		err := cl.Ping(pctx)
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-c.done:
			return fmt.Errorf("%s exited before answering ApiVersions: %v", c.name, c.err)
		case <-ctx.Done():
			return fmt.Errorf("%s at %s did not answer ApiVersions: %w", c.name, c.addr, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// failure adds the child's last lines of output to err.
func (c *child) failure(err error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.tail) == 0 {
		return err
	}
	return fmt.Errorf("%w; its last output: %s", err, strings.Join(c.tail, " | "))
}

// exited reports whether the child has exited.
func (c *child) exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM, kills the child if it has not exited within
// stopWait, and returns how it exited: an error unless it exited cleanly
// on SIGTERM.
func (c *child) stop() error {
	if !c.exited() {
		_ = c.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-c.done:
		case <-time.After(stopWait):
			_ = c.cmd.Process.Kill()
			<-c.done
			return c.failure(fmt.Errorf("%s did not exit within %s of SIGTERM; killed", c.name, stopWait))
		}
	}
	if c.err != nil {
		return c.failure(fmt.Errorf("%s: %w", c.name, c.err))
	}
	return nil
}

// pid is the child's process id.
func (c *child) pid() int { return c.cmd.Process.Pid }

// startStreamhouse starts bin on a loopback port over dataDir, with
// fsync on or off, its HTTP listener off, and its log in JSON, where the
// "streamhouse started" line gives the port.
func startStreamhouse(ctx context.Context, name, bin, dataDir string, fsync bool, timeout time.Duration) (*child, error) {
	cmd := exec.Command(bin,
		"--listen", "127.0.0.1:0",
		"--data-dir", dataDir,
		"--fsync="+strconv.FormatBool(fsync),
		"--http-listen=",
		"--schema-registry-listen=",
		"--log-format", "json",
		"--log-level", "info",
	)
	cmd.Env = withoutStreamhouseEnv(os.Environ())
	return startChild(ctx, name, cmd, streamhouseAddr, timeout)
}

// withoutStreamhouseEnv drops the STREAMHOUSE_ variables (a config file,
// broker configs) from env, so that every run starts the broker alike.
func withoutStreamhouseEnv(env []string) []string {
	var out []string
	for _, kv := range env {
		if !strings.HasPrefix(kv, "STREAMHOUSE_") {
			out = append(out, kv)
		}
	}
	return out
}

// streamhouseAddr finds the listener in streamhouse's JSON start line.
func streamhouseAddr(line string) (string, bool) {
	var l struct {
		Msg    string `json:"msg"`
		Listen string `json:"listen"`
	}
	if json.Unmarshal([]byte(line), &l) != nil || l.Msg != "streamhouse started" || l.Listen == "" {
		return "", false
	}
	return l.Listen, true
}

// kfakeListening prefixes the line kfake-server prints when it listens.
const kfakeListening = "kfake listening on "

// startKfake runs self (this program) in kfake-server mode.
func startKfake(ctx context.Context, name, self string, timeout time.Duration) (*child, error) {
	cmd := exec.Command(self, modeKfakeServer)
	return startChild(ctx, name, cmd, kfakeAddr, timeout)
}

// kfakeAddr finds the listener in kfake-server's line.
func kfakeAddr(line string) (string, bool) {
	addr, ok := strings.CutPrefix(line, kfakeListening)
	if !ok {
		return "", false
	}
	return addr, true
}

// kfakeServer is the kfake-server mode: a one-broker kfake cluster on a
// loopback port (--port; 0: any) until ctx ends (SIGTERM). It starts with
// no topics: compare creates them as it does on StreamHouse.
func kfakeServer(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet(modeKfakeServer, flag.ContinueOnError)
	fs.SetOutput(stderr)
	port := fs.Int("port", 0, "the port on 127.0.0.1 (0: any)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(*port))
	if err != nil {
		fmt.Fprintf(stderr, "streambench: kfake: %v\n", err)
		return 1
	}
	defer c.Close()
	fmt.Fprintln(stdout, kfakeListening+c.ListenAddrs()[0])
	<-ctx.Done()
	return 0
}

// buildStreamhouse builds the streamhouse binary into dir with the go
// command, which works from within this module's source tree.
func buildStreamhouse(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "streamhouse")
	out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, streamhousePkg).CombinedOutput()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			err = errors.New(oneLine(strings.TrimSpace(string(out))))
		}
		return "", fmt.Errorf("go build %s: %w (run from the StreamHouse source tree, or give --streamhouse-bin)", streamhousePkg, err)
	}
	return bin, nil
}

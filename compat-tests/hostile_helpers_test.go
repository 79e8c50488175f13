package compattests

// The connection storm of TestHostileClients comes from another process: this
// test binary run again with STREAMHOUSE_HOSTILE_DIAL set, in which
// TestHostileDialer opens the connections. The broker's ends are then the
// only descriptors the storm costs the test process (20,000 here, both ends
// of 10,000 connections, would be its whole limit).
//
// The dialer reports on standard output, one line per step:
//
//	dialer: opened <n> failed <n> in <time> [first error]   every dial done, all at once
//	dialer: served <n> failed <n> in <time> [first error]   an ApiVersions answered on each, all still open
//
// and closes everything and exits when its standard input closes.

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// hostileConns is how many connections the dialer opens at once.
const hostileConns = 10_000

// hostileDialer is the dialer process, seen from the test.
type hostileDialer struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan string
	done   chan error
	stderr *syncBuffer
}

// startHostileDialer starts the dialer against addr for n connections.
func startHostileDialer(t *testing.T, addr string, n int) *hostileDialer {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	d := &hostileDialer{lines: make(chan string, 16), done: make(chan error, 1), stderr: &syncBuffer{}}
	d.cmd = exec.Command(exe, "-test.run=^TestHostileDialer$")
	d.cmd.Env = append(os.Environ(), "STREAMHOUSE_HOSTILE_DIAL="+addr, "STREAMHOUSE_HOSTILE_CONNS="+strconv.Itoa(n))
	d.cmd.Stderr = d.stderr
	if d.stdin, err = d.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	out, err := d.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if line, ok := strings.CutPrefix(sc.Text(), "dialer: "); ok {
				d.lines <- line
			}
		}
		close(d.lines)
		d.done <- d.cmd.Wait()
	}()
	t.Cleanup(func() {
		if d.cmd.ProcessState == nil {
			d.cmd.Process.Kill()
		}
	})
	return d
}

// expect waits (at most 90 s) for the dialer's line for step and fails
// unless it reports want successes and no failure.
func (d *hostileDialer) expect(t *testing.T, step string, want int) {
	t.Helper()
	timeout := time.After(90 * time.Second)
	for {
		select {
		case line, ok := <-d.lines:
			if !ok {
				t.Fatalf("the dialer exited before %q: %v\n%s", step, <-d.done, tail(d.stderr.String(), 4000))
			}
			rest, ok := strings.CutPrefix(line, step+" ")
			if !ok {
				continue
			}
			var got, failed int
			if _, err := fmt.Sscanf(rest, "%d failed %d", &got, &failed); err != nil {
				t.Fatalf("dialer: %q: %v", line, err)
			}
			if got != want || failed != 0 {
				t.Fatalf("dialer: %s (want %d and none failed)", line, want)
			}
			t.Logf("dialer: %s", line)
			return
		case <-timeout:
			t.Fatalf("no %q from the dialer within 90 s\n%s", step, tail(d.stderr.String(), 4000))
		}
	}
}

// finish closes the dialer's standard input, so that it closes its
// connections, and waits (at most 30 s) for it to exit.
func (d *hostileDialer) finish(t *testing.T) {
	t.Helper()
	d.stdin.Close()
	for range d.lines {
	}
	select {
	case err := <-d.done:
		if err != nil {
			t.Fatalf("dialer: %v\n%s", err, tail(d.stderr.String(), 4000))
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the dialer did not exit within 30 s of its input closing")
	}
}

// TestHostileDialer is the dialer process; in a test run of its own (no
// STREAMHOUSE_HOSTILE_DIAL) it does nothing.
func TestHostileDialer(t *testing.T) {
	addr := os.Getenv("STREAMHOUSE_HOSTILE_DIAL")
	if addr == "" {
		return
	}
	n, err := strconv.Atoi(os.Getenv("STREAMHOUSE_HOSTILE_CONNS"))
	if err != nil {
		t.Fatal(err)
	}

	// Every dial at once: the goroutines wait for one signal.
	conns := make([]net.Conn, n)
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	}()
	var wg sync.WaitGroup
	dialed := &dialerTally{}
	startc := make(chan struct{})
	for i := range conns {
		wg.Go(func() {
			<-startc
			c, err := net.DialTimeout("tcp", addr, 60*time.Second)
			if err != nil {
				dialed.fail(err)
				return
			}
			conns[i] = c
		})
	}
	start := time.Now()
	close(startc)
	wg.Wait()
	dialed.report("opened", n, time.Since(start))
	if dialed.failed.Load() > 0 {
		return
	}

	// An ApiVersions on each, a few hundred at a time, all kept open.
	served := &dialerTally{}
	start = time.Now()
	sem := make(chan struct{}, 200)
	for _, c := range conns {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			req := kmsg.NewPtrApiVersionsRequest()
			req.Version = 3
			req.ClientSoftwareName, req.ClientSoftwareVersion = "hostile", "1"
			if err := rawRoundTrip(c, req); err != nil {
				served.fail(err)
			}
		})
	}
	wg.Wait()
	served.report("served", n, time.Since(start))

	// Hold everything until the test is done with it (bounded, should the
	// test die without closing the pipe).
	exited := make(chan struct{})
	go func() {
		io.Copy(io.Discard, os.Stdin)
		close(exited)
	}()
	select {
	case <-exited:
	case <-time.After(5 * time.Minute):
	}
}

// dialerTally counts a step's failures and keeps the first.
type dialerTally struct {
	failed atomic.Int64
	first  atomic.Value
}

func (d *dialerTally) fail(err error) {
	if d.failed.Add(1) == 1 {
		d.first.Store(err)
	}
}

// report prints the step's line for the test to read.
func (d *dialerTally) report(step string, n int, took time.Duration) {
	f := d.failed.Load()
	line := fmt.Sprintf("dialer: %s %d failed %d in %v", step, n-int(f), f, took.Round(time.Millisecond))
	if e := d.first.Load(); e != nil {
		line += fmt.Sprintf(" (first: %v)", e)
	}
	fmt.Println(line)
}

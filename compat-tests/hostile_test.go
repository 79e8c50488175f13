package compattests

// Hostile clients (the performance-and-limits issue), beside the malformed
// requests of TestBadInput: a TLS ClientHello on the plaintext port, a
// frame trickled one byte at a time, and 10,000 connections opened at once
// by another process (hostile_helpers_test.go), each served while all are
// open. A canary produces throughout without an error; each hostile
// connection is closed within a second of what gives it away (the slow
// sender: of the frame timeout); the heap in use (the broker runs in this
// process) is at most 16 MiB larger once the cases are over; nothing
// panics.

import (
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/streamhouse/streamhouse/broker/brokertest"
)

func heapInuse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// warmGoroutines has n goroutines alive at once, then lets them end.
func warmGoroutines(n int) {
	var wg sync.WaitGroup
	release := make(chan struct{})
	for range n {
		wg.Go(func() { <-release })
	}
	close(release)
	wg.Wait()
}

func TestHostileClients(t *testing.T) {
	b := brokertest.New(t, brokertest.Options{FrameReadTimeout: time.Second})
	addr := b.Addr()
	fgCreateTopic(t, fgAdmin(t, addr), "hostile-canary", 1, nil)
	can := badStartCanary(t, addr, "hostile-canary")
	can.waitProgress(t)
	// The runtime keeps every goroutine descriptor it has allocated, for
	// reuse: the storm's 20,000 goroutines (two per connection) would add
	// 10 MiB to the heap for good. Allocating them before the baseline
	// leaves the growth to what the broker itself keeps.
	warmGoroutines(2*hostileConns + 1000)
	before := heapInuse()

	closedWithin := func(t *testing.T, c net.Conn, d time.Duration) {
		t.Helper()
		c.SetReadDeadline(time.Now().Add(d))
		n, err := c.Read(make([]byte, 64))
		if ne, ok := err.(net.Error); n > 0 || err == nil || ok && ne.Timeout() {
			t.Fatalf("connection not closed within %v (read %d bytes, %v)", d, n, err)
		}
	}

	t.Run("TLS ClientHello", func(t *testing.T) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		// A TLS 1.2 record header and the start of a ClientHello: read as
		// a size, 0x16030100 is far above socket.request.max.bytes.
		c.Write([]byte{0x16, 0x03, 0x01, 0x00, 0xc8, 0x01, 0x00, 0x00, 0xc4, 0x03, 0x03})
		closedWithin(t, c, time.Second)
		can.waitProgress(t)
	})

	t.Run("one byte per second", func(t *testing.T) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		frame := badEncode(kmsg.NewPtrApiVersionsRequest(), 1)
		start := time.Now()
		done := make(chan struct{})
		go func() {
			defer close(done)
			for i := range frame {
				if _, err := c.Write(frame[i : i+1]); err != nil {
					return
				}
				time.Sleep(time.Second)
				if time.Since(start) > 5*time.Second {
					return // bounded: the broker should have closed long before
				}
			}
		}()
		closedWithin(t, c, 3*time.Second)
		if el := time.Since(start); el > 2500*time.Millisecond {
			t.Fatalf("the trickling connection was closed after %v; the frame timeout is 1 s", el)
		}
		c.Close()
		<-done
		can.waitProgress(t)
	})

	t.Run("10,000 connections at once from another process", func(t *testing.T) {
		// Another process dials, so that this one's descriptors hold only
		// the broker's ends; each connection answers an ApiVersions while
		// all are open.
		d := startHostileDialer(t, addr, hostileConns)
		d.expect(t, "opened", hostileConns)
		can.waitProgress(t)
		d.expect(t, "served", hostileConns)
		if open := b.Server().Stats().Connections.Load(); open < hostileConns {
			t.Fatalf("the broker holds %d connections, want at least %d", open, hostileConns)
		}
		can.waitProgress(t)
		d.finish(t)
		// The broker closes its ends as their EOFs arrive.
		deadline := time.Now().Add(30 * time.Second)
		for b.Server().Stats().Connections.Load() > 100 {
			if time.Now().After(deadline) {
				t.Fatalf("%d connections still open 30 s after the dialer exited", b.Server().Stats().Connections.Load())
			}
			time.Sleep(10 * time.Millisecond)
		}
		can.waitProgress(t)
	})

	// Let the broker notice the closed connections before measuring.
	time.Sleep(200 * time.Millisecond)
	after := heapInuse()
	grew := int64(after) - int64(before)
	t.Logf("heap in use (broker and test): %d MiB before the cases, %d MiB after (%+d KiB)", before>>20, after>>20, grew>>10)
	if grew > 16<<20 {
		t.Errorf("broker heap grew by %d MiB across the hostile cases", grew>>20)
	}
	can.finish(t)
	if p := b.Server().Stats().Panics.Load(); p != 0 {
		t.Fatalf("%d panics", p)
	}
}

// TestHostileFileDescriptors: a broker out of file descriptors keeps
// running. The binary runs with a limit of 256 and 600 connections arrive:
// those it cannot accept wait in the listen backlog, as they do past
// max.connections, and each is served once earlier ones close.
func TestHostileFileDescriptors(t *testing.T) {
	const limit, n = 256, 600
	wrapper := filepath.Join(t.TempDir(), "streamhouse-fdlimit")
	script := fmt.Sprintf("#!/bin/sh\nulimit -n %d || exit 1\nexec %q \"$@\"\n", limit, binary(t))
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	p := startProcWith(t, wrapper, nil, t.TempDir(), "")

	// Every connection sends an ApiVersions at once (the kernel queues it
	// on a connection not yet accepted). Those answered hold on until all
	// n are open, so that the broker runs out, then close, which frees a
	// descriptor for one that waits.
	answered := make(chan error, n)
	release := make(chan struct{})
	for range n {
		c, err := net.DialTimeout("tcp", p.addr, 10*time.Second)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		t.Cleanup(func() { c.Close() })
		go func() {
			defer c.Close()
			req := kmsg.NewPtrApiVersionsRequest()
			req.Version = 3
			req.ClientSoftwareName, req.ClientSoftwareVersion = "fdlimit", "1"
			c.SetDeadline(time.Now().Add(60 * time.Second))
			if _, err := c.Write(badEncode(req, 1)); err != nil {
				answered <- err
				return
			}
			var sz [4]byte
			_, err := io.ReadFull(c, sz[:])
			answered <- err
			<-release
		}()
	}
	// Held open, they are more than the broker can accept.
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(p.logs.String(), "accept failed; retrying"); {
		if time.Now().After(deadline) {
			t.Fatalf("the broker did not run out of descriptors with %d connections open\n%s", n, tail(p.logs.String(), 4000))
		}
		time.Sleep(10 * time.Millisecond)
	}
	close(release)
	for i := range n {
		select {
		case err := <-answered:
			if err != nil {
				t.Fatalf("connection %d of %d: %v\n%s", i+1, n, err, tail(p.logs.String(), 4000))
			}
		case err := <-p.done:
			t.Fatalf("the broker exited with %d of %d connections answered: %v\n%s", i, n, err, tail(p.logs.String(), 4000))
		}
	}
	if err := firstApiVersions(p, 10*time.Second); err != nil {
		t.Fatal(err)
	}
}

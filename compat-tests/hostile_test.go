package compattests

// Hostile clients (the performance-and-limits issue), beside the malformed
// requests of TestBadInput: a TLS ClientHello on the plaintext port, a
// frame trickled one byte at a time, and thousands of connections opened
// at once. A canary produces throughout without an error; each hostile
// connection is closed within a second of what gives it away (the slow
// sender: of the frame timeout); the broker's heap grows by at most
// 16 MiB; nothing panics.

import (
	"net"
	"runtime"
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

func TestHostileClients(t *testing.T) {
	b := brokertest.New(t, brokertest.Options{FrameReadTimeout: time.Second})
	addr := b.Addr()
	fgCreateTopic(t, fgAdmin(t, addr), "hostile-canary", 1, nil)
	can := badStartCanary(t, addr, "hostile-canary")
	can.waitProgress(t)
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

	t.Run("thousands of connections at once", func(t *testing.T) {
		const n = 4000 // two descriptors each in this process (client and broker); the limit here is 20,000
		conns := make([]net.Conn, n)
		var wg sync.WaitGroup
		var mu sync.Mutex
		failed := 0
		for i := range n {
			wg.Go(func() {
				c, err := net.DialTimeout("tcp", addr, 10*time.Second)
				if err != nil {
					mu.Lock()
					failed++
					mu.Unlock()
					return
				}
				conns[i] = c
			})
		}
		wg.Wait()
		if failed > 0 {
			t.Fatalf("%d of %d connections failed to open", failed, n)
		}
		can.waitProgress(t)
		// Each answers a request while all are open.
		for _, i := range []int{0, n / 2, n - 1} {
			c := &badConn{t: t, nc: conns[i]}
			req := kmsg.NewPtrApiVersionsRequest()
			req.Version = 3
			req.ClientSoftwareName, req.ClientSoftwareVersion = "hostile", "1"
			if resp := c.roundTrip(req).(*kmsg.ApiVersionsResponse); resp.ErrorCode != 0 {
				t.Fatalf("ApiVersions on connection %d: %d", i, resp.ErrorCode)
			}
		}
		for _, c := range conns {
			c.Close()
		}
		can.waitProgress(t)
	})

	// Let the broker notice the closed connections before measuring.
	time.Sleep(200 * time.Millisecond)
	if grew := int64(heapInuse()) - int64(before); grew > 16<<20 {
		t.Errorf("broker heap grew by %d MiB across the hostile cases", grew>>20)
	}
	can.finish(t)
	if p := b.Server().Stats().Panics.Load(); p != 0 {
		t.Fatalf("%d panics", p)
	}
}

package broker_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/streamhouse/streamhouse/broker/brokertest"
	"github.com/streamhouse/streamhouse/storage/storagetest"
)

// closedWithin reports whether the broker closes c within d.
func closedWithin(c net.Conn, d time.Duration) bool {
	c.SetReadDeadline(time.Now().Add(d))
	_, err := c.Read(make([]byte, 1))
	var ne net.Error
	return err != nil && !(errors.As(err, &ne) && ne.Timeout())
}

func TestConnectionLimits(t *testing.T) {
	t.Parallel()
	t.Run("PerIP", func(t *testing.T) {
		t.Parallel()
		b := brokertest.New(t, brokertest.Options{Settings: map[string]string{"max.connections.per.ip": "2"}})
		c1, c2 := dialRaw(t, b.Addr()), dialRaw(t, b.Addr())
		c1.do(at(kmsg.NewPtrApiVersionsRequest(), 3))
		c2.do(at(kmsg.NewPtrApiVersionsRequest(), 3))
		c3, err := net.Dial("tcp", b.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer c3.Close()
		if !closedWithin(c3, 2*time.Second) {
			t.Fatal("a third connection from the same address was kept")
		}
		c1.c.Close()
		// A slot is free again (the broker notices the close first).
		deadline := time.Now().Add(5 * time.Second)
		for {
			c4 := dialRaw(t, b.Addr())
			if !closedWithin(c4.c, 100*time.Millisecond) {
				c4.do(at(kmsg.NewPtrApiVersionsRequest(), 3))
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("no slot after a connection closed")
			}
		}
	})
	t.Run("MaxConnections", func(t *testing.T) {
		t.Parallel()
		b := brokertest.New(t, brokertest.Options{Settings: map[string]string{"max.connections": "1"}})
		c1 := dialRaw(t, b.Addr())
		c1.do(at(kmsg.NewPtrApiVersionsRequest(), 3))
		c2, err := net.Dial("tcp", b.Addr()) // waits in the backlog
		if err != nil {
			t.Fatal(err)
		}
		defer c2.Close()
		frame := rawFrame(at(kmsg.NewPtrApiVersionsRequest(), 3), 1)
		if _, err := c2.Write(frame); err != nil {
			t.Fatal(err)
		}
		c2.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		if n, _ := c2.Read(make([]byte, 4)); n > 0 {
			t.Fatal("a connection beyond max.connections was served")
		}
		c1.c.Close()
		c2.SetReadDeadline(time.Now().Add(5 * time.Second))
		var sz [4]byte
		if _, err := c2.Read(sz[:]); err != nil {
			t.Fatalf("the waiting connection was not served after a slot freed: %v", err)
		}
	})
	t.Run("Idle", func(t *testing.T) {
		t.Parallel()
		b := brokertest.New(t, brokertest.Options{Settings: map[string]string{"connections.max.idle.ms": "200"}})
		c := dialRaw(t, b.Addr())
		c.do(at(kmsg.NewPtrApiVersionsRequest(), 3))
		if !closedWithin(c.c, 3*time.Second) {
			t.Fatal("an idle connection was kept past connections.max.idle.ms")
		}
	})
	t.Run("SlowSender", func(t *testing.T) {
		t.Parallel()
		b := brokertest.New(t, brokertest.Options{FrameReadTimeout: 200 * time.Millisecond})
		c, err := net.Dial("tcp", b.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		frame := rawFrame(at(kmsg.NewPtrApiVersionsRequest(), 3), 1)
		c.Write(frame[:6]) // the size and two bytes, then nothing
		if !closedWithin(c, 3*time.Second) {
			t.Fatal("a frame trickling in was waited for past the frame timeout")
		}
	})
	t.Run("FirstFrame", func(t *testing.T) {
		t.Parallel()
		b := brokertest.New(t, brokertest.Options{Settings: map[string]string{"sasl.server.max.receive.size": "1000"}})
		c, err := net.Dial("tcp", b.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		var big bytes.Buffer
		binary.Write(&big, binary.BigEndian, int32(2000))
		big.Write(make([]byte, 2000))
		c.Write(big.Bytes())
		if !closedWithin(c, 3*time.Second) {
			t.Fatal("a first frame above sasl.server.max.receive.size was accepted")
		}
		// After a first request, frames up to socket.request.max.bytes.
		rc := dialRaw(t, b.Addr())
		rc.do(at(kmsg.NewPtrApiVersionsRequest(), 3))
		md := at(kmsg.NewPtrMetadataRequest(), 12)
		for i := range 200 {
			rt := kmsg.NewMetadataRequestTopic()
			name := "padding-topic-name-" + string(rune('a'+i%26)) + "-" + time.Now().Format("150405.000000")
			rt.Topic = &name
			md.Topics = append(md.Topics, rt)
		}
		md.AllowAutoTopicCreation = false
		rc.do(md) // above 1000 bytes
	})
}

// With queued.max.request.bytes far below what clients send at once,
// requests wait their turn and every one is served.
func TestQueuedMaxRequestBytes(t *testing.T) {
	t.Parallel()
	b := brokertest.New(t, brokertest.Options{Settings: map[string]string{"queued.max.request.bytes": "3000"}})
	admin := dialRaw(t, b.Addr())
	createTopic(t, admin, "q", 1, nil)
	errs := make(chan error, 8)
	for range 8 {
		go func() {
			c := dialRaw(t, b.Addr())
			for range 5 {
				if r := produce(t, c, "q", 0, -1, storagetest.MakeBatch(1, 2000, time.Now().UnixMilli())); r.ErrorCode != 0 {
					errs <- kerrFor(r.ErrorCode)
					return
				}
			}
			errs <- nil
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

func kerrFor(code int16) error { return kerr.ErrorForCode(code) }

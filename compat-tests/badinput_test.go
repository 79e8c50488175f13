package compattests

// TestBadInput sends malformed and hostile requests over raw TCP, each on a
// connection of its own, while a well-behaved franz-go producer keeps
// writing to the same broker. Every case asserts what Apache Kafka does:
// either a specific error code in the response, or that the broker closes
// the connection without answering. After all cases the broker is still
// serving, no panic was recovered, and the canary producer saw no error and
// can read back every record it wrote.
//
// Requests are built with kmsg and framed by hand (see badEncode), so that
// the bytes on the wire are exactly what the case says.

import (
	"cmp"
	"context"
	byteorder "encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/streamhouse/streamhouse/broker/brokertest"
	"github.com/streamhouse/streamhouse/codec"
	"github.com/streamhouse/streamhouse/storage/storagetest"
)

// badWait bounds every read and write on a raw connection. Closed-connection
// checks wait for EOF up to this long; no case asserts how fast it comes.
const badWait = 5 * time.Second

// Kafka error codes the cases expect.
const (
	badCodeNone                    = 0
	badCodeCorruptMessage          = 2
	badCodeUnknownTopicOrPartition = 3
	badCodeInvalidTopic            = 17
	badCodeInvalidRequiredAcks     = 21
	badCodeUnsupportedVersion      = 35
	badCodeUnsupportedCompression  = 76
	badCodeInvalidRecord           = 87
)

// badCheckCode compares a Kafka error code with Kafka's answer (want).
func badCheckCode(t *testing.T, what string, got, want int16) {
	t.Helper()
	if got != want {
		t.Errorf("%s: error %d, want %d (Kafka's answer)", what, got, want)
	}
}

// badConn is one client connection speaking the Kafka protocol by hand.
type badConn struct {
	t    *testing.T
	nc   net.Conn
	corr int32
	// wait, when set, replaces badWait for reading a response: a
	// request the broker takes long over (TestCompressionBomb).
	wait time.Duration
}

func badDial(t *testing.T, addr string) *badConn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, badWait)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { nc.Close() })
	return &badConn{t: t, nc: nc, corr: 100}
}

// badFrame frames a request: size, api key, version, correlation id, client
// id, an empty tagged-field section when flexibleHeader (request header v2),
// then body.
func badFrame(key, version int16, corr int32, flexibleHeader bool, body []byte) []byte {
	const clientID = "badinput"
	b := make([]byte, 4, 64+len(body))
	b = byteorder.BigEndian.AppendUint16(b, uint16(key))
	b = byteorder.BigEndian.AppendUint16(b, uint16(version))
	b = byteorder.BigEndian.AppendUint32(b, uint32(corr))
	b = byteorder.BigEndian.AppendUint16(b, uint16(len(clientID)))
	b = append(b, clientID...)
	if flexibleHeader {
		b = append(b, 0)
	}
	b = append(b, body...)
	byteorder.BigEndian.PutUint32(b, uint32(len(b)-4))
	return b
}

// badEncode frames req at its version, as a client would.
func badEncode(req kmsg.Request, corr int32) []byte {
	return badFrame(req.Key(), req.GetVersion(), corr, req.IsFlexible(), req.AppendTo(nil))
}

func (c *badConn) write(b []byte) {
	c.t.Helper()
	c.nc.SetWriteDeadline(time.Now().Add(badWait))
	if _, err := c.nc.Write(b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// readFrame reads one response frame and returns it without its size.
func (c *badConn) readFrame() ([]byte, error) {
	c.nc.SetReadDeadline(time.Now().Add(cmp.Or(c.wait, badWait)))
	var sz [4]byte
	if _, err := io.ReadFull(c.nc, sz[:]); err != nil {
		return nil, err
	}
	n := int32(byteorder.BigEndian.Uint32(sz[:]))
	if n < 4 || n > 64<<20 {
		return nil, fmt.Errorf("response size %d", n)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(c.nc, b); err != nil {
		return nil, err
	}
	return b, nil
}

// readResponse reads the response to a request of key and version with
// correlation id corr, and returns its body (after the response header).
func (c *badConn) readResponse(key, version int16, flexible bool, corr int32) []byte {
	c.t.Helper()
	b, err := c.readFrame()
	if err != nil {
		c.t.Fatalf("read response to key %d v%d: %v", key, version, err)
	}
	if got := int32(byteorder.BigEndian.Uint32(b)); got != corr {
		c.t.Fatalf("response correlation id %d, want %d", got, corr)
	}
	b = b[4:]
	// Response header v1 (a tagged-field section) for flexible versions,
	// except ApiVersions, whose response header is always v0.
	if flexible && key != int16(kmsg.ApiVersions) {
		if len(b) == 0 || b[0] != 0 {
			c.t.Fatalf("flexible response header: want an empty tagged-field section, got % x", b[:min(len(b), 8)])
		}
		b = b[1:]
	}
	return b
}

// roundTrip sends req and decodes its response.
func (c *badConn) roundTrip(req kmsg.Request) kmsg.Response {
	c.t.Helper()
	c.corr++
	c.write(badEncode(req, c.corr))
	body := c.readResponse(req.Key(), req.GetVersion(), req.IsFlexible(), c.corr)
	resp := req.ResponseKind()
	resp.SetVersion(req.GetVersion())
	if err := resp.ReadFrom(body); err != nil {
		c.t.Fatalf("decode %s v%d response: %v", kmsg.NameForKey(req.Key()), req.GetVersion(), err)
	}
	return resp
}

// expectClosed asserts that the broker closes the connection without
// sending anything: a read returns EOF (or a reset) before badWait.
func (c *badConn) expectClosed() {
	c.t.Helper()
	c.nc.SetReadDeadline(time.Now().Add(badWait))
	buf := make([]byte, 512)
	n, err := c.nc.Read(buf)
	var ne net.Error
	switch {
	case n > 0:
		c.t.Errorf("broker answered % x...; want the connection closed without an answer", buf[:min(n, 32)])
	case errors.Is(err, io.EOF), errors.Is(err, syscall.ECONNRESET):
	case errors.As(err, &ne) && ne.Timeout():
		c.t.Errorf("connection still open after %v; Kafka closes it", badWait)
	default:
		c.t.Errorf("read: %v; want EOF", err)
	}
}

// closeWrite half-closes the connection: the broker reads EOF.
func (c *badConn) closeWrite() {
	c.t.Helper()
	if err := c.nc.(*net.TCPConn).CloseWrite(); err != nil {
		c.t.Fatalf("close write: %v", err)
	}
}

var badCastagnoli = crc32.MakeTable(crc32.Castagnoli)

// badFixCRC recomputes a batch's CRC-32C (bytes 21 to the end) after an edit.
func badFixCRC(b []byte) []byte {
	byteorder.BigEndian.PutUint32(b[17:], crc32.Checksum(b[21:], badCastagnoli))
	return b
}

// badZstdBatch returns a valid batch of n records whose records section is
// zstd-compressed.
func badZstdBatch(t *testing.T, n int) []byte {
	t.Helper()
	plain := storagetest.MakeBatch(n, 20, time.Now().UnixMilli())
	var cs codec.Codecs
	z, err := cs.Compress(4, nil, plain[61:])
	if err != nil {
		t.Fatalf("zstd: %v", err)
	}
	b := append(plain[:61:61], z...)
	byteorder.BigEndian.PutUint32(b[8:], uint32(len(b)-12))
	byteorder.BigEndian.PutUint16(b[21:], 4) // attributes: zstd
	return badFixCRC(b)
}

// badCanary is a well-behaved producer that keeps writing while the bad input
// arrives on other connections. Any produce error, and any failed read,
// failed write or dropped connection on its client, counts as an error.
type badCanary struct {
	addr  string
	topic string
	cl    *kgo.Client

	closing  atomic.Bool
	acked    atomic.Int64
	mu       sync.Mutex // guards values, errs
	values   []string
	errs     []string
	stop     chan struct{}
	finished chan struct{}
}

func (c *badCanary) fail(format string, args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.errs = append(c.errs, fmt.Sprintf(format, args...))
}

func (c *badCanary) OnBrokerDisconnect(meta kgo.BrokerMetadata, _ net.Conn) {
	if !c.closing.Load() {
		c.fail("connection to broker %d dropped", meta.NodeID)
	}
}

func (c *badCanary) OnBrokerRead(_ kgo.BrokerMetadata, key int16, _ int, _, _ time.Duration, err error) {
	if err != nil && !c.closing.Load() {
		c.fail("reading %s response: %v", kmsg.NameForKey(key), err)
	}
}

func (c *badCanary) OnBrokerWrite(_ kgo.BrokerMetadata, key int16, _ int, _, _ time.Duration, err error) {
	if err != nil && !c.closing.Load() {
		c.fail("writing %s request: %v", kmsg.NameForKey(key), err)
	}
}

func badStartCanary(t *testing.T, addr, topic string) *badCanary {
	t.Helper()
	c := &badCanary{addr: addr, topic: topic, stop: make(chan struct{}), finished: make(chan struct{})}
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(addr),
		kgo.DefaultProduceTopic(topic),
		kgo.DisableIdempotentWrite(),
		kgo.RecordRetries(1), // an error is an error, not a silent retry
		kgo.WithHooks(c),
	)
	if err != nil {
		t.Fatal(err)
	}
	c.cl = cl
	go c.run()
	t.Cleanup(func() { c.shutdown() })
	return c
}

func (c *badCanary) run() {
	defer close(c.finished)
	for i := 0; ; i++ {
		select {
		case <-c.stop:
			return
		default:
		}
		v := fmt.Sprintf("canary-%06d", i)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := c.cl.ProduceSync(ctx, &kgo.Record{Value: []byte(v)}).FirstErr()
		cancel()
		if err != nil {
			c.fail("produce %s: %v", v, err)
			continue
		}
		c.mu.Lock()
		c.values = append(c.values, v)
		c.mu.Unlock()
		c.acked.Add(1)
	}
}

func (c *badCanary) shutdown() {
	select {
	case <-c.stop:
	default:
		close(c.stop)
	}
	<-c.finished
	c.closing.Store(true)
	c.cl.Close()
}

// waitProgress waits until the canary has had one more record acknowledged:
// the broker still serves well-behaved clients after the case.
func (c *badCanary) waitProgress(t *testing.T) {
	t.Helper()
	n := c.acked.Load()
	deadline := time.Now().Add(15 * time.Second)
	for c.acked.Load() <= n {
		if time.Now().After(deadline) {
			t.Fatalf("canary producer made no progress for 15s (errors: %v)", c.errors())
		}
		time.Sleep(time.Millisecond)
	}
}

func (c *badCanary) errors() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.errs...)
}

// finish stops the canary, checks it saw no error and reads back every
// record it produced, in order, once each.
func (c *badCanary) finish(t *testing.T) {
	t.Helper()
	c.shutdown()
	if errs := c.errors(); len(errs) > 0 {
		t.Errorf("canary producer saw %d errors: %s", len(errs), strings.Join(errs, "; "))
	}
	c.mu.Lock()
	want := append([]string(nil), c.values...)
	c.mu.Unlock()
	if len(want) == 0 {
		t.Fatal("canary produced nothing")
	}
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(c.addr),
		kgo.ConsumeTopics(c.topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(100*time.Millisecond),
	)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var got []*kgo.Record
	for len(got) < len(want) {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("canary: read back %d of %d records: %v", len(got), len(want), ctx.Err())
		}
		fs.EachError(func(topic string, p int32, err error) {
			t.Errorf("canary fetch %s-%d: %v", topic, p, err)
		})
		got = append(got, fs.Records()...)
	}
	if len(got) != len(want) {
		t.Errorf("canary: read %d records, produced %d", len(got), len(want))
	}
	for i := range min(len(got), len(want)) {
		if string(got[i].Value) != want[i] || got[i].Offset != int64(i) {
			t.Fatalf("canary record %d: offset %d value %q, want offset %d value %q", i, got[i].Offset, got[i].Value, i, want[i])
		}
	}
	t.Logf("canary: %d records produced during the cases, all read back", len(want))
}

// badTotalAlloc is the bytes the process has allocated since it started.
func badTotalAlloc() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.TotalAlloc
}

func TestBadInput(t *testing.T) {
	b := brokertest.New(t)
	addr := b.Addr()
	ctx := context.Background()

	admCl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer admCl.Close()
	adm := kadm.NewClient(admCl)
	const target, canaryTopic = "badinput", "badinput-canary"
	for _, topic := range []string{target, canaryTopic} {
		r, err := adm.CreateTopic(ctx, 1, 1, nil, topic)
		if err == nil {
			err = r.Err
		}
		if err != nil {
			t.Fatalf("create topic %s: %v", topic, err)
		}
	}
	highWatermark := func(t *testing.T) int64 {
		t.Helper()
		offs, err := adm.ListEndOffsets(ctx, target)
		if err != nil {
			t.Fatal(err)
		}
		o, ok := offs.Lookup(target, 0)
		if !ok || o.Err != nil {
			t.Fatalf("end offset of %s-0: %v %v", target, ok, o.Err)
		}
		return o.Offset
	}
	// The high watermark moves once a batch is fsynced, which acks 0 and
	// 1 do not wait for: wait briefly for want, and return what it is.
	waitHighWatermark := func(t *testing.T, want int64) int64 {
		t.Helper()
		got := highWatermark(t)
		for deadline := time.Now().Add(5 * time.Second); got != want && time.Now().Before(deadline); {
			time.Sleep(5 * time.Millisecond)
			got = highWatermark(t)
		}
		return got
	}

	can := badStartCanary(t, addr, canaryTopic)
	can.waitProgress(t)

	// A normal ApiVersions answer: what the v99 case is compared with.
	advertised := func() map[int16][2]int16 {
		c := badDial(t, addr)
		req := kmsg.NewPtrApiVersionsRequest()
		req.Version = 3
		req.ClientSoftwareName, req.ClientSoftwareVersion = "badinput", "1.0"
		resp := c.roundTrip(req).(*kmsg.ApiVersionsResponse)
		if resp.ErrorCode != 0 {
			t.Fatalf("ApiVersions v3: error %d", resp.ErrorCode)
		}
		m := make(map[int16][2]int16)
		for _, k := range resp.ApiKeys {
			m[k.ApiKey] = [2]int16{k.MinVersion, k.MaxVersion}
		}
		return m
	}()

	t.Run("frames", func(t *testing.T) {
		apiVersionsV0 := badEncode(&kmsg.ApiVersionsRequest{Version: 0}, 1)
		metadataV1 := func() []byte {
			req := kmsg.NewPtrMetadataRequest()
			req.Version = 1
			return req.AppendTo(nil)
		}()
		for _, tc := range []struct {
			name string
			// send writes the case's bytes to the connection.
			send func(c *badConn)
			// maxAlloc, when set, bounds what the process may allocate
			// while the broker handles the case.
			maxAlloc uint64
		}{
			{
				// Kafka refuses sizes above socket.request.max.bytes
				// before allocating, and closes the connection.
				name: "size 2GiB",
				send: func(c *badConn) {
					b := byteorder.BigEndian.AppendUint32(nil, 0x7fffffff)
					c.write(append(b, apiVersionsV0[4:]...))
				},
				maxAlloc: 256 << 20,
			},
			{
				// Allowed by the limit but never sent: the broker must
				// not allocate what the prefix claims, and closes when
				// the client does.
				name: "size 64MiB then client closes",
				send: func(c *badConn) {
					b := byteorder.BigEndian.AppendUint32(nil, 64<<20)
					b = append(b, apiVersionsV0[4:]...)
					c.write(append(b, make([]byte, 1024)...))
					c.closeWrite()
				},
				maxAlloc: 32 << 20,
			},
			{
				name: "size larger than sent then client closes",
				send: func(c *badConn) {
					b := byteorder.BigEndian.AppendUint32(nil, 1000)
					c.write(append(b, apiVersionsV0[4:]...))
					c.closeWrite()
				},
			},
			{
				name: "size prefix cut short",
				send: func(c *badConn) {
					c.write([]byte{0, 0})
					c.closeWrite()
				},
			},
			{
				name: "size -1",
				send: func(c *badConn) { c.write(append([]byte{0xff, 0xff, 0xff, 0xff}, apiVersionsV0[4:]...)) },
			},
			{
				name: "size -2^31",
				send: func(c *badConn) { c.write(append([]byte{0x80, 0, 0, 0}, apiVersionsV0[4:]...)) },
			},
			{
				name: "size 0",
				send: func(c *badConn) { c.write([]byte{0, 0, 0, 0}) },
			},
			{
				// api key, version and half a correlation id.
				name: "header truncated",
				send: func(c *badConn) { c.write([]byte{0, 0, 0, 6, 0, 18, 0, 0, 0, 0}) },
			},
			{
				// The client id claims 100 bytes; the frame ends.
				name: "client id longer than the frame",
				send: func(c *badConn) {
					c.write([]byte{0, 0, 0, 10, 0, 18, 0, 0, 0, 0, 0, 7, 0, 100})
				},
			},
			{
				// Metadata v12 uses request header v2. The byte after
				// the client id, its tagged-field count, says 5 and
				// the frame ends.
				name: "header tagged fields cut short",
				send: func(c *badConn) { c.write(badFrame(3, 12, 7, false, []byte{5})) },
			},
			{
				// Kafka: InvalidRequestException, connection closed.
				name: "unknown api key 9999",
				send: func(c *badConn) { c.write(badFrame(9999, 0, 7, false, nil)) },
			},
			{
				// Kafka closes a connection that sends a version it
				// does not serve, except for ApiVersions (below).
				name: "Metadata v99",
				send: func(c *badConn) { c.write(badFrame(3, 99, 7, true, []byte{1, 0, 0, 0})) },
			},
			{
				// An array claims 2^31-1 topics in a 4-byte body.
				name: "array count beyond the frame",
				send: func(c *badConn) {
					body := byteorder.BigEndian.AppendUint32(nil, 0x7fffffff)
					c.write(badFrame(3, 1, 7, false, body))
				},
			},
			{
				// A valid Metadata v1 request with one topic, whose
				// array count then says a million.
				name: "array count beyond the frame after a valid prefix",
				send: func(c *badConn) {
					req := kmsg.NewPtrMetadataRequest()
					req.Version = 1
					req.Topics = []kmsg.MetadataRequestTopic{{Topic: kmsg.StringPtr("x")}}
					body := req.AppendTo(nil)
					byteorder.BigEndian.PutUint32(body, 1_000_000)
					c.write(badFrame(3, 1, 7, false, body))
				},
			},
			{
				name: "produce partitions count beyond the frame",
				send: func(c *badConn) {
					// transactional id null, acks 1, timeout, one
					// topic "t", then 2^31-1 partitions.
					body := []byte{0xff, 0xff, 0, 1, 0, 0, 0x27, 0x10, 0, 0, 0, 1, 0, 1, 't', 0x7f, 0xff, 0xff, 0xff}
					c.write(badFrame(0, 7, 7, false, body))
				},
			},
			{
				name: "request body cut short",
				send: func(c *badConn) {
					c.write(badFrame(3, 1, 7, false, metadataV1[:2]))
				},
			},
		} {
			t.Run(tc.name, func(t *testing.T) {
				c := badDial(t, addr)
				before := badTotalAlloc()
				tc.send(c)
				c.expectClosed()
				if tc.maxAlloc > 0 {
					if d := badTotalAlloc() - before; d > tc.maxAlloc {
						t.Errorf("the process allocated %d MiB while the broker handled the case; want under %d MiB", d>>20, tc.maxAlloc>>20)
					}
				}
				can.waitProgress(t)
			})
		}
	})

	t.Run("ApiVersions v99", func(t *testing.T) {
		// KIP-511: a v0-format answer (response header v0, no throttle
		// time) with UNSUPPORTED_VERSION and the ApiVersions range the
		// broker serves, so that the client retries with a version it
		// knows; the connection stays open. The request is framed as a
		// client sends a version it believes flexible.
		c := badDial(t, addr)
		req := kmsg.NewPtrApiVersionsRequest()
		req.Version = 3
		req.ClientSoftwareName, req.ClientSoftwareVersion = "badinput", "1.0"
		c.write(badFrame(18, 99, 42, true, req.AppendTo(nil)))
		body := c.readResponse(18, 0, false, 42)
		resp := kmsg.NewPtrApiVersionsResponse()
		resp.Version = 0
		if err := resp.ReadFrom(body); err != nil {
			t.Fatalf("decode v0 response: %v", err)
		}
		if want := 2 + 4 + 6*len(resp.ApiKeys); len(body) != want {
			t.Errorf("response body is %d bytes; a v0 body with %d keys is %d", len(body), len(resp.ApiKeys), want)
		}
		if resp.ErrorCode != badCodeUnsupportedVersion {
			t.Errorf("error %d, want %d UNSUPPORTED_VERSION", resp.ErrorCode, badCodeUnsupportedVersion)
		}
		var sawSelf bool
		for _, k := range resp.ApiKeys {
			adv, ok := advertised[k.ApiKey]
			if !ok || adv != [2]int16{k.MinVersion, k.MaxVersion} {
				t.Errorf("key %d: v%d-v%d, but ApiVersions v3 advertises %v (present: %v)", k.ApiKey, k.MinVersion, k.MaxVersion, adv, ok)
			}
			sawSelf = sawSelf || k.ApiKey == 18
		}
		if !sawSelf {
			t.Errorf("the answer lacks the ApiVersions range (key 18): %+v", resp.ApiKeys)
		}
		if len(resp.ApiKeys) != 1 {
			// Kafka (ApiVersionsRequest.getErrorResponse) sends only
			// the ApiVersions entry.
			t.Errorf("%d api keys in the UNSUPPORTED_VERSION answer; Kafka sends only ApiVersions' own range", len(resp.ApiKeys))
		}
		// The connection stays open: the retry is answered.
		again := c.roundTrip(req).(*kmsg.ApiVersionsResponse)
		if again.ErrorCode != 0 || len(again.ApiKeys) != len(advertised) {
			t.Errorf("retry at v3 on the same connection: error %d, %d keys", again.ErrorCode, len(again.ApiKeys))
		}
		can.waitProgress(t)
	})

	t.Run("produce", func(t *testing.T) {
		ts := time.Now().UnixMilli()
		valid := func() []byte { return storagetest.MakeBatch(3, 20, ts) }
		set32 := func(b []byte, off int, v uint32) []byte {
			byteorder.BigEndian.PutUint32(b[off:], v)
			return b
		}
		const (
			offLastOffsetDelta = 23
			offRecordCount     = 57
		)
		for _, tc := range []struct {
			name    string
			version int16
			acks    int16
			records []byte
			want    int16
			stored  int64 // records the case appends
			topic   string
			part    int32
		}{
			{
				// The control: the raw path stores a good batch.
				name: "valid batch", version: 7, acks: 1, records: valid(), want: badCodeNone, stored: 3,
			},
			{
				name: "valid zstd batch v7", version: 7, acks: -1, records: badZstdBatch(t, 3), want: badCodeNone, stored: 3,
			},
			{
				name: "CRC mismatch", version: 9, acks: -1,
				records: func() []byte { b := valid(); b[70] ^= 0x01; return b }(),
				want:    badCodeCorruptMessage,
			},
			{
				name: "CRC mismatch v7", version: 7, acks: 1,
				records: func() []byte { b := valid(); b[17] ^= 0xff; return b }(),
				want:    badCodeCorruptMessage,
			},
			{
				// ProduceRequest.validateRecords: "Produce requests
				// with version N are only allowed to contain record
				// batches with magic version 2" (InvalidRecordException).
				name: "magic 1", version: 9, acks: 1,
				records: func() []byte { b := valid(); b[16] = 1; return b }(),
				want:    badCodeInvalidRecord,
			},
			{
				// ByteBufferLogInputStream.nextBatchSize: "Invalid
				// magic found in record" (CorruptRecordException).
				name: "magic 3", version: 9, acks: 1,
				records: func() []byte { b := valid(); b[16] = 3; return b }(),
				want:    badCodeCorruptMessage,
			},
			{
				// LogValidator.validateBatch: "Inconsistent batch
				// offset range [0, 2] and count of records 5".
				name: "record count 5 for 3 records", version: 9, acks: 1,
				records: badFixCRC(set32(valid(), offRecordCount, 5)),
				want:    badCodeInvalidRecord,
			},
			{
				// Count and lastOffsetDelta agree on 4; 3 records:
				// DefaultRecordBatch's iterator, "Incorrect declared
				// batch size, premature EOF reached".
				name: "record count 4 and last offset delta 3 for 3 records", version: 9, acks: 1,
				records: badFixCRC(set32(set32(valid(), offRecordCount, 4), offLastOffsetDelta, 3)),
				want:    badCodeInvalidRecord,
			},
			{
				// "Incorrect declared batch size, records still
				// remaining in file".
				name: "record count 2 and last offset delta 1 for 3 records", version: 7, acks: 1,
				records: badFixCRC(set32(set32(valid(), offRecordCount, 2), offLastOffsetDelta, 1)),
				want:    badCodeInvalidRecord,
			},
			{
				// UnifiedLog.analyzeAndValidateRecords: "The baseOffset
				// of the record batch in the append to ... should be
				// 0". The CRC does not cover the base offset.
				name: "base offset 5", version: 9, acks: 1,
				records: func() []byte { b := valid(); byteorder.BigEndian.PutUint64(b, 5); return b }(),
				want:    badCodeInvalidRecord,
			},
			{
				// ProduceRequest.validateRecords:
				// UnsupportedCompressionTypeException before v7.
				name: "zstd on produce v3", version: 3, acks: 1, records: badZstdBatch(t, 3), want: badCodeUnsupportedCompression,
			},
			{
				name: "acks 2", version: 9, acks: 2, records: valid(), want: badCodeInvalidRequiredAcks,
			},
			{
				name: "unknown partition", version: 9, acks: 1, records: valid(), part: 7, want: badCodeUnknownTopicOrPartition,
			},
			{
				// Produce never creates topics.
				name: "unknown topic", version: 7, acks: 1, records: valid(), topic: "badinput-nosuch", want: badCodeUnknownTopicOrPartition,
			},
			{
				name: "acks -2", version: 7, acks: -2, records: valid(), want: badCodeInvalidRequiredAcks,
			},
			{
				// The batch length says more than is there: Kafka's
				// batch iterator finds no complete batch, and
				// validateRecords answers "must have at least one
				// record batch per partition".
				name: "batch cut short", version: 9, acks: 1,
				records: valid()[:80],
				want:    badCodeInvalidRecord,
			},
			{
				name: "no batch", version: 9, acks: 1,
				records: []byte{},
				want:    badCodeInvalidRecord,
			},
		} {
			t.Run(tc.name, func(t *testing.T) {
				hw := highWatermark(t)
				c := badDial(t, addr)
				req := kmsg.NewPtrProduceRequest()
				req.Version, req.Acks, req.TimeoutMillis = tc.version, tc.acks, 10_000
				rt := kmsg.NewProduceRequestTopic()
				rt.Topic = target
				if tc.topic != "" {
					rt.Topic = tc.topic
				}
				rp := kmsg.NewProduceRequestTopicPartition()
				rp.Partition, rp.Records = tc.part, tc.records
				rt.Partitions = append(rt.Partitions, rp)
				req.Topics = append(req.Topics, rt)
				resp := c.roundTrip(req).(*kmsg.ProduceResponse)
				if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
					t.Fatalf("response: %+v", resp)
				}
				p := resp.Topics[0].Partitions[0]
				msg := ""
				if p.ErrorMessage != nil {
					msg = *p.ErrorMessage
				}
				t.Logf("error %d %q", p.ErrorCode, msg)
				badCheckCode(t, "partition error", p.ErrorCode, tc.want)
				if tc.want == badCodeNone && p.BaseOffset != hw {
					t.Errorf("base offset %d, want %d", p.BaseOffset, hw)
				}
				if got := waitHighWatermark(t, hw+tc.stored); got != hw+tc.stored {
					t.Errorf("high watermark %d -> %d, want %d", hw, got, hw+tc.stored)
				}
				can.waitProgress(t)
			})
		}

		t.Run("acks 0", func(t *testing.T) {
			// No answer; the next request on the connection is
			// answered with its own correlation id.
			hw := highWatermark(t)
			c := badDial(t, addr)
			req := kmsg.NewPtrProduceRequest()
			req.Version, req.Acks, req.TimeoutMillis = 9, 0, 10_000
			req.Topics = []kmsg.ProduceRequestTopic{{Topic: target, Partitions: []kmsg.ProduceRequestTopicPartition{{Partition: 0, Records: valid()}}}}
			c.write(badEncode(req, 5))
			av := c.roundTrip(&kmsg.ApiVersionsRequest{Version: 0}).(*kmsg.ApiVersionsResponse)
			if av.ErrorCode != 0 {
				t.Errorf("ApiVersions after the produce: error %d", av.ErrorCode)
			}
			if got := waitHighWatermark(t, hw+3); got != hw+3 {
				t.Errorf("high watermark %d -> %d, want %d", hw, got, hw+3)
			}
			can.waitProgress(t)
		})

		t.Run("acks 0 with a CRC mismatch", func(t *testing.T) {
			// Kafka answers nothing to acks=0, so it closes the
			// connection when a partition fails: the client notices.
			hw := highWatermark(t)
			c := badDial(t, addr)
			b := valid()
			b[70] ^= 0x01
			req := kmsg.NewPtrProduceRequest()
			req.Version, req.Acks, req.TimeoutMillis = 9, 0, 10_000
			req.Topics = []kmsg.ProduceRequestTopic{{Topic: target, Partitions: []kmsg.ProduceRequestTopicPartition{{Partition: 0, Records: b}}}}
			c.write(badEncode(req, 5))
			c.expectClosed()
			if got := highWatermark(t); got != hw {
				t.Errorf("high watermark %d -> %d, want unchanged", hw, got)
			}
			can.waitProgress(t)
		})
	})

	invalidNames := []string{"bad name!", "bad/name", ".", "..", strings.Repeat("a", 250), ""}

	t.Run("Metadata invalid topic", func(t *testing.T) {
		for _, version := range []int16{1, 4, 12} {
			t.Run(fmt.Sprintf("v%d", version), func(t *testing.T) {
				c := badDial(t, addr)
				req := kmsg.NewPtrMetadataRequest()
				req.Version = version
				req.AllowAutoTopicCreation = true
				for _, n := range invalidNames {
					rt := kmsg.NewMetadataRequestTopic()
					rt.Topic = kmsg.StringPtr(n)
					req.Topics = append(req.Topics, rt)
				}
				resp := c.roundTrip(req).(*kmsg.MetadataResponse)
				got := make(map[string]int16)
				for _, rt := range resp.Topics {
					if rt.Topic != nil {
						got[*rt.Topic] = rt.ErrorCode
					}
				}
				for _, n := range invalidNames {
					code, ok := got[n]
					if !ok {
						t.Errorf("topic %.20q missing from the answer", n)
						continue
					}
					badCheckCode(t, fmt.Sprintf("topic %.20q", n), code, badCodeInvalidTopic)
				}
				can.waitProgress(t)
			})
		}
	})

	t.Run("CreateTopics invalid topic", func(t *testing.T) {
		for _, version := range []int16{2, 7} {
			t.Run(fmt.Sprintf("v%d", version), func(t *testing.T) {
				c := badDial(t, addr)
				req := kmsg.NewPtrCreateTopicsRequest()
				req.Version, req.TimeoutMillis = version, 10_000
				for _, n := range invalidNames {
					rt := kmsg.NewCreateTopicsRequestTopic()
					rt.Topic, rt.NumPartitions, rt.ReplicationFactor = n, 1, 1
					req.Topics = append(req.Topics, rt)
				}
				resp := c.roundTrip(req).(*kmsg.CreateTopicsResponse)
				if len(resp.Topics) != len(invalidNames) {
					t.Fatalf("%d topics answered, want %d", len(resp.Topics), len(invalidNames))
				}
				for i, rt := range resp.Topics {
					if rt.Topic != invalidNames[i] {
						t.Errorf("answer %d is for %.20q, want %.20q", i, rt.Topic, invalidNames[i])
					}
					badCheckCode(t, fmt.Sprintf("topic %.20q", rt.Topic), rt.ErrorCode, badCodeInvalidTopic)
				}
				can.waitProgress(t)
			})
		}
		// Nothing was created.
		topics, err := adm.ListTopics(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range invalidNames {
			if topics.Has(n) {
				t.Errorf("invalid topic %.20q exists", n)
			}
		}
	})

	// The broker is still up and serving, nothing panicked, and the
	// canary wrote and reads back every record.
	if _, err := adm.BrokerMetadata(ctx); err != nil {
		t.Errorf("metadata after the cases: %v", err)
	}
	if n := b.Server().Stats().Panics.Load(); n != 0 {
		t.Errorf("the broker recovered %d panics", n)
	}
	can.finish(t)
}

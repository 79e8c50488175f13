package broker

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/streamhouse/streamhouse/protocol"
)

// Buffers above these sizes are dropped after a request rather than kept for
// the life of the connection.
const (
	keepFrameBuf = 1 << 20
	keepOutBuf   = 4 << 20
)

// ioBufSize is the size of each connection's read and write buffers, which
// an idle connection keeps too: at 64 KiB each, an idle connection held
// 132 KiB of heap, against the 32 KiB issue 8 allows. Frames and answers
// larger than a buffer bypass it, so it only gathers small pipelined
// requests and answers into fewer system calls; produce and fetch
// throughput measured the same at 4 KiB (compat-tests BenchmarkLoad,
// BenchmarkProduce1KiB6Partitions).
const ioBufSize = 4 << 10

// conn is one client connection. Requests are read and handled one at a
// time, in order, and answered in order, as Kafka does (it mutes a
// connection while a request is in flight). The one overlap: a produce
// that waits for its fsync (request.after) hands its response to the
// connection's writer goroutine, and the reader goes on with the next
// request if that is a produce as well; anything else waits until the
// writer has answered everything before it. A handler is done with the
// frame when it returns, so the frame buffer is reused and record bytes are
// never copied.
type conn struct {
	s  *Server
	nc net.Conn
	br *bufio.Reader
	bw *bufio.Writer // the reader's until a response is deferred, then the writer's until it drains

	// Deferred responses, answered in order by the writer goroutine.
	deferred chan deferredResp
	pmu      sync.Mutex
	pending  int        // responses handed to the writer and not yet written
	drained  *sync.Cond // signalled when pending drops to 0
	werr     error      // the writer's write error, guarded by pmu

	remote string
	// stopping is set by Shutdown; the read loop exits before reading the
	// next request.
	stopping atomic.Bool

	// Set from ApiVersions v3+, for logs.
	clientSoftware string
	// mutedUntil is when the connection may read again after a quota
	// throttled its client; owned by the reader.
	mutedUntil time.Time
	ip         string // the client's address, for max.connections.per.ip
	held       int64  // bytes of queued.max.request.bytes the request in hand holds
	served     bool   // a request was answered: the full frame limit applies

	li   *listener // the listener the connection arrived on
	cork *corkConn // under a TLS connection (cork.go); nil otherwise
	// principal is who the connection is ("User:alice"): User:ANONYMOUS
	// until authenticated, and for PLAINTEXT listeners; owned by the
	// reader.
	principal string
	sasl      saslState // owned by the reader
	// closeAfter makes the reader close the connection once the
	// response in hand is written (a failed authentication).
	closeAfter bool
}

// muteFor stops reading from the client for d (called by the reader's
// handlers).
func (c *conn) muteFor(d time.Duration) {
	if until := time.Now().Add(d); until.After(c.mutedUntil) {
		c.mutedUntil = until
	}
}

// maxDeferred is how many produce responses may wait for their fsync on
// one connection before the reader stops reading.
const maxDeferred = 8

func newConn(s *Server, nc net.Conn, li *listener) *conn {
	var cork *corkConn
	if li.tls != nil {
		// No I/O until the handshake in serve.
		cork = &corkConn{Conn: nc, pool: &s.corkBufs}
		nc = tls.Server(cork, li.tls)
	}
	c := &conn{
		s:        s,
		li:       li,
		nc:       nc,
		br:       bufio.NewReaderSize(nc, ioBufSize),
		bw:       bufio.NewWriterSize(nc, ioBufSize),
		remote:   nc.RemoteAddr().String(),
		cork:     cork,
		deferred: make(chan deferredResp, maxDeferred),
	}
	c.drained = sync.NewCond(&c.pmu)
	return c
}

// writeDeferred is the writer goroutine: it waits for each deferred
// response's after and writes it, in order.
func (c *conn) writeDeferred(ctx context.Context, done chan<- struct{}) {
	defer close(done)
	var out []byte
	for d := range c.deferred {
		ok := c.runAfter(ctx, d.after)
		d.req.observe(c.s, !ok)
		if !ok {
			if d.held > 0 {
				c.s.queued.release(d.held)
			}
			c.pmu.Lock()
			if c.werr == nil {
				c.werr = errors.New("panic in a deferred handler")
				c.nc.Close()
			}
			c.pending--
			if c.pending == 0 {
				c.drained.Broadcast()
			}
			c.pmu.Unlock()
			continue
		}
		d.req.finish(d.resp)
		d.resp.SetVersion(d.version)
		out = c.s.appendResponse(out[:0], d.corr, d.resp)
		d.req.done()
		if d.held > 0 {
			c.s.queued.release(d.held) // the answer no longer needs the request
		}
		c.pmu.Lock()
		err := c.werr
		c.pmu.Unlock()
		if err == nil {
			if err = c.writeLarge(out); err == nil && len(c.deferred) == 0 {
				err = c.bw.Flush()
			}
		}
		c.pmu.Lock()
		if err != nil && c.werr == nil {
			c.werr = err
			c.nc.Close() // the reader sees it and ends
		}
		c.pending--
		if c.pending == 0 {
			c.drained.Broadcast()
		}
		c.pmu.Unlock()
		if cap(out) > keepOutBuf {
			c.s.putOut(out)
			out = nil
		}
	}
}

// runAfter runs a deferred handler's tail; a panic there is treated as one
// in a handler (logged, counted, the connection closed) and reported false.
func (c *conn) runAfter(ctx context.Context, after func(context.Context)) (ok bool) {
	defer func() {
		if v := recover(); v != nil {
			c.s.stats.Panics.Add(1)
			c.s.cfg.Metrics.Panic()
			c.s.log.Error("panic serving connection; closing it", "remote", c.remote,
				"client", c.clientSoftware, "panic", v, "stack", string(debug.Stack()))
			ok = false
		}
	}()
	after(ctx)
	return true
}

// drain waits until the writer has answered every deferred response, and
// returns its write error if it had one.
func (c *conn) drain() error {
	c.pmu.Lock()
	defer c.pmu.Unlock()
	for c.pending > 0 {
		c.drained.Wait()
	}
	return c.werr
}

// stopReading makes the connection finish the request in hand and close.
// An idle connection blocked reading closes at once.
func (c *conn) stopReading() {
	c.stopping.Store(true)
	c.nc.SetReadDeadline(time.Now())
}

// request is what a handler gets.
type request struct {
	conn   *conn
	header protocol.Header
	kreq   kmsg.Request
	// after, when a handler sets it, runs before the response is written
	// and may change it; the connection goes on reading meanwhile (see
	// conn). It must not touch the request's bytes.
	after func(ctx context.Context)
	// failed is set by handlers that answered some partition with an
	// error code, for the metrics.
	failed bool
	start  time.Time
	// release, when a handler sets it, runs once the response is encoded
	// (or dropped): the fetch handler returns its pooled buffer.
	release func()
	// waited is how long the handler waited for data (a fetch's long
	// poll): not request time for request_percentage, as Kafka does not
	// count time in purgatory.
	waited time.Duration
	// post, when authorization set it, completes the response with what
	// the handler was not given (denied topics' errors), once the
	// response is final.
	post func(kmsg.Response)
}

// finish runs the request's post on its final response.
func (r *request) finish(resp kmsg.Response) {
	if r.post != nil {
		r.post(resp)
		r.post = nil
	}
}

// observe records the request in the metrics once its response is ready.
func (r *request) observe(s *Server, closing bool) {
	s.cfg.Metrics.Request(kmsg.NameForKey(r.header.Key), r.header.Version, time.Since(r.start), r.failed || closing)
}

// deferredResp is a response whose handler set request.after.
type deferredResp struct {
	corr    int32
	version int16
	resp    kmsg.Response
	after   func(ctx context.Context)
	req     *request
	held    int64 // queued.max.request.bytes taken by the request
}

// handler serves one API. It returns the response, or nil for none (a
// produce with acks=0), or an error to close the connection.
type handler func(ctx context.Context, r *request) (kmsg.Response, error)

func (c *conn) serve() {
	s := c.s
	s.stats.Connections.Add(1)
	s.cfg.Metrics.Connection(1)
	ctx, cancel := context.WithCancel(context.Background())
	defer func() {
		if v := recover(); v != nil {
			s.stats.Panics.Add(1)
			s.cfg.Metrics.Panic()
			s.log.Error("panic serving connection; closing it", "remote", c.remote,
				"client", c.clientSoftware, "panic", v, "stack", string(debug.Stack()))
		}
		cancel()
		c.nc.Close()
		s.groups.ConnClosed(c) // its share sessions' records go back
		s.stats.Connections.Add(-1)
		s.cfg.Metrics.Connection(-1)
		s.forgetConn(c)
	}()
	if s.isClosed() {
		return
	}
	if err := c.startTLS(ctx); err != nil {
		s.log.Info("closing connection", "remote", c.remote, "listener", c.li.Name, "err", err)
		return
	}

	// The writer goroutine starts with the first deferred answer: a
	// connection that never produces with acks=all (an idle one, a
	// consumer) costs one goroutine, not two.
	var wdone chan struct{}
	defer func() {
		close(c.deferred)
		if wdone != nil {
			<-wdone
		}
	}()

	var frame, out []byte
	for !c.stopping.Load() {
		if d := time.Until(c.mutedUntil); d > 0 {
			// A quota throttled the client: read nothing more from it
			// until the throttle time is over (KIP-219).
			if c.br.Buffered() == 0 && c.bw.Buffered() > 0 && c.drain() == nil {
				c.bw.Flush()
			}
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
			case <-s.shutdown:
				t.Stop()
			}
		}
		var err error
		frame, err = c.readFrame(ctx, frame)
		if err != nil {
			c.release()
			c.drain()
			c.readFailed(err)
			return
		}
		c.served = true
		// Only a produce may overtake the writer's answers.
		if key, ok := protocol.FrameKey(frame); !ok || key != int16(kmsg.Produce) {
			if err := c.drain(); err != nil {
				c.logClose("write failed", err)
				return
			}
		}
		c.pmu.Lock()
		busy := c.pending > 0
		c.pmu.Unlock()
		var d *deferredResp
		out, d, err = c.handle(ctx, frame, out[:0], busy)
		if err != nil {
			c.release()
			c.drain()
			c.logClose("closing connection", err)
			return
		}
		if d != nil {
			if !busy && c.bw.Buffered() > 0 {
				// Answers the reader wrote go out before the writer
				// owns bw.
				if err := c.bw.Flush(); err != nil {
					c.logClose("write failed", err)
					return
				}
			}
			c.pmu.Lock()
			c.pending++
			c.pmu.Unlock()
			d.held, c.held = c.held, 0 // the writer releases it
			if wdone == nil {
				wdone = make(chan struct{})
				go c.writeDeferred(ctx, wdone)
			}
			c.deferred <- *d
			continue
		}
		if len(out) > 0 {
			if err := c.writeLarge(out); err != nil {
				c.logClose("write failed", err)
				return
			}
		}
		if c.closeAfter {
			// A failed authentication: answered, then closed.
			c.bw.Flush()
			c.release()
			return
		}
		// Flush when no further request is already waiting, so that
		// pipelined requests share one write.
		if c.br.Buffered() == 0 && c.bw.Buffered() > 0 {
			if err := c.bw.Flush(); err != nil {
				c.release()
				c.logClose("write failed", err)
				return
			}
		}
		c.release()
		if cap(frame) > keepFrameBuf {
			frame = nil
		}
		if cap(out) > keepOutBuf {
			s.putOut(out)
			out = nil
		}
	}
	if err := c.drain(); err == nil {
		c.bw.Flush()
	}
}

// readFrame reads the next request frame. The connection may sit idle
// between requests for connections.max.idle.ms; once a frame has begun it
// must arrive whole within Config.FrameReadTimeout (a client trickling
// bytes is cut off). Before the first request is answered a frame may be
// at most sasl.server.max.receive.size, as before authentication in Kafka.
func (c *conn) readFrame(ctx context.Context, buf []byte) ([]byte, error) {
	s := c.s
	set := s.settings()
	if c.br.Buffered() == 0 {
		if idle := time.Duration(set.ConnectionsMaxIdleMs()) * time.Millisecond; idle > 0 {
			c.deadline(time.Now().Add(idle))
			if _, err := c.br.Peek(1); err != nil {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() && !c.stopping.Load() {
					return buf[:0], errIdle
				}
				return buf[:0], err
			}
		}
	}
	c.deadline(time.Now().Add(s.frameTimeout()))
	limit := s.cfg.MaxRequestSize
	if !c.served || !c.sasl.authenticated || c.sasl.raw {
		limit = min(limit, set.SaslServerMaxReceiveSize())
	}
	if s.queued != nil {
		// queued.max.request.bytes: take the request's size from the
		// budget before reading its body (see byteBudget).
		hdr, err := c.br.Peek(4)
		if err != nil {
			return buf[:0], err
		}
		if n := int32(binary.BigEndian.Uint32(hdr)); n > 0 && n <= limit {
			if !s.queued.acquire(ctx, int64(n), s.shutdown) {
				return buf[:0], io.EOF
			}
			c.held = int64(n)
		}
	}
	return protocol.ReadFrame(c.br, limit, buf)
}

// release gives the current request's bytes back to the budget.
func (c *conn) release() {
	if c.held > 0 {
		c.s.queued.release(c.held)
		c.held = 0
	}
}

// deadline sets the read deadline, unless Shutdown set its own meanwhile.
func (c *conn) deadline(t time.Time) {
	c.nc.SetReadDeadline(t)
	if c.stopping.Load() {
		c.nc.SetReadDeadline(time.Now())
	}
}

// errIdle is a connection closed for connections.max.idle.ms.
var errIdle = errors.New("idle for connections.max.idle.ms")

func (c *conn) readFailed(err error) {
	var ne net.Error
	switch {
	case isEOF(err):
	case errors.Is(err, errIdle):
		c.s.log.Debug("closing idle connection", "remote", c.remote, "client", c.clientSoftware)
	case c.stopping.Load() && errors.As(err, &ne) && ne.Timeout():
	default:
		c.logClose("bad request frame", err)
	}
}

func (c *conn) logClose(msg string, err error) {
	if isEOF(err) {
		return
	}
	c.s.log.Info(msg, "remote", c.remote, "client", c.clientSoftware, "err", err)
}

// handle parses one frame, runs its handler and appends the framed response
// (if any) to out, or returns it deferred when the handler set
// request.after, or when busy (the writer holds earlier answers; a
// response without after then goes through the writer too, in order).
func (c *conn) handle(ctx context.Context, frame, out []byte, busy bool) ([]byte, *deferredResp, error) {
	s := c.s
	if c.sasl.raw {
		out, err := c.rawToken(ctx, frame, out)
		return out, nil, err
	}
	h, kreq, err := protocol.ParseRequest(frame, s.table)
	if err == nil {
		err = c.gate(h.Key)
	}
	if err != nil {
		var uv *protocol.UnsupportedVersionError
		if errors.As(err, &uv) && h.Key == int16(kmsg.ApiVersions) {
			// KIP-511: answer in the v0 format with the versions
			// of ApiVersions we serve, as Kafka does, so the client
			// retries with one of them.
			resp := kmsg.NewPtrApiVersionsResponse()
			resp.Version = 0
			resp.ErrorCode = kerrUnsupportedVersion
			k := kmsg.NewApiVersionsResponseApiKey()
			k.ApiKey, k.MinVersion, k.MaxVersion = h.Key, uv.Min, uv.Max
			resp.ApiKeys = []kmsg.ApiVersionsResponseApiKey{k}
			return protocol.AppendResponse(out, h.CorrelationID, resp), nil, nil
		}
		return out, nil, err
	}
	s.stats.Requests.Add(1)
	fn := s.handlers[h.Key] // present: ParseRequest checked the table
	r := &request{conn: c, header: h, kreq: kreq, start: time.Now()}
	var resp kmsg.Response
	if resp = s.authorize(ctx, r); resp == nil {
		resp, err = fn(ctx, r)
	}
	if err != nil {
		r.observe(s, true)
		return out, nil, fmt.Errorf("%s v%d: %w", kmsg.NameForKey(h.Key), h.Version, err)
	}
	if resp == nil {
		r.observe(s, false)
		return out, nil, nil
	}
	s.throttleRequestTime(r, resp)
	if r.after != nil || busy {
		after := r.after
		if after == nil {
			after = func(context.Context) {}
		}
		return out, &deferredResp{corr: h.CorrelationID, version: h.Version, resp: resp, after: after, req: r}, nil
	}
	r.observe(s, false)
	r.finish(resp)
	resp.SetVersion(h.Version)
	out = s.appendResponse(out, h.CorrelationID, resp)
	r.done()
	return out, nil, nil
}

// appendResponse encodes resp after out. A fetch response, whose records
// may be tens of MiB, first gets room for all of it in one step, from a
// pool of large buffers, rather than growing out by doubling: each
// doubling would allocate, zero and copy again.
func (s *Server) appendResponse(out []byte, corr int32, resp kmsg.Response) []byte {
	if fr, ok := resp.(*kmsg.FetchResponse); ok {
		if need := len(out) + fetchEncodedBound(fr); need > cap(out) && need > keepOutBuf {
			out = s.growOut(out, need)
		}
	}
	return protocol.AppendResponse(out, corr, resp)
}

// fetchEncodedBound is an upper bound of a fetch response's encoded size:
// its record bytes and generous room for every other field.
func fetchEncodedBound(fr *kmsg.FetchResponse) int {
	n := 1024
	for i := range fr.Topics {
		t := &fr.Topics[i]
		n += 64 + len(t.Topic)
		for j := range t.Partitions {
			p := &t.Partitions[j]
			n += 128 + 24*len(p.AbortedTransactions) + len(p.RecordBatches)
		}
	}
	return n
}

// growOut returns out's bytes in a buffer of capacity need or more, taken
// from the pool when one there is large enough.
func (s *Server) growOut(out []byte, need int) []byte {
	var nb []byte
	if bp, _ := s.outBufs.Get().(*[]byte); bp != nil && cap(*bp) >= need {
		nb = append((*bp)[:0], out...)
	} else {
		if bp != nil {
			s.outBufs.Put(bp)
		}
		nb = append(make([]byte, 0, need), out...)
	}
	s.putOut(out)
	return nb
}

// putOut gives a large response buffer back for reuse.
func (s *Server) putOut(b []byte) {
	if cap(b) > keepOutBuf && cap(b) <= maxPooledFetchBuf {
		b = b[:0]
		s.outBufs.Put(&b)
	}
}

// done runs the request's release, once its response is encoded.
func (r *request) done() {
	if r.release != nil {
		r.release()
		r.release = nil
	}
}

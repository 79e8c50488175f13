package broker

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"runtime/debug"
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
	ioBufSize    = 64 << 10
)

// conn is one client connection. Requests are read, handled and answered
// one at a time, in order, as Kafka does (it mutes a connection while a
// request is in flight); reading the next frame overlaps with nothing, so
// the frame buffer can be reused and record bytes never copied.
type conn struct {
	s  *Server
	nc net.Conn
	br *bufio.Reader
	bw *bufio.Writer

	remote string
	// stopping is set by Shutdown; the read loop exits before reading the
	// next request.
	stopping atomic.Bool

	// Set from ApiVersions v3+, for logs.
	clientSoftware string
}

func newConn(s *Server, nc net.Conn) *conn {
	return &conn{
		s:      s,
		nc:     nc,
		br:     bufio.NewReaderSize(nc, ioBufSize),
		bw:     bufio.NewWriterSize(nc, ioBufSize),
		remote: nc.RemoteAddr().String(),
	}
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
}

// handler serves one API. It returns the response, or nil for none (a
// produce with acks=0), or an error to close the connection.
type handler func(ctx context.Context, r *request) (kmsg.Response, error)

func (c *conn) serve() {
	s := c.s
	s.stats.Connections.Add(1)
	ctx, cancel := context.WithCancel(context.Background())
	defer func() {
		if v := recover(); v != nil {
			s.stats.Panics.Add(1)
			s.log.Error("panic serving connection; closing it", "remote", c.remote,
				"client", c.clientSoftware, "panic", v, "stack", string(debug.Stack()))
		}
		cancel()
		c.nc.Close()
		s.stats.Connections.Add(-1)
		s.forgetConn(c)
	}()
	if s.isClosed() {
		return
	}

	var frame, out []byte
	for !c.stopping.Load() {
		var err error
		frame, err = protocol.ReadFrame(c.br, s.cfg.MaxRequestSize, frame)
		if err != nil {
			c.readFailed(err)
			return
		}
		out, err = c.handle(ctx, frame, out[:0])
		if err != nil {
			c.logClose("closing connection", err)
			return
		}
		if len(out) > 0 {
			if _, err := c.bw.Write(out); err != nil {
				c.logClose("write failed", err)
				return
			}
		}
		// Flush when no further request is already waiting, so that
		// pipelined requests share one write.
		if c.br.Buffered() == 0 && c.bw.Buffered() > 0 {
			if err := c.bw.Flush(); err != nil {
				c.logClose("write failed", err)
				return
			}
		}
		if cap(frame) > keepFrameBuf {
			frame = nil
		}
		if cap(out) > keepOutBuf {
			out = nil
		}
	}
	c.bw.Flush()
}

func (c *conn) readFailed(err error) {
	var ne net.Error
	switch {
	case isEOF(err):
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
// (if any) to out.
func (c *conn) handle(ctx context.Context, frame, out []byte) ([]byte, error) {
	s := c.s
	h, kreq, err := protocol.ParseRequest(frame, s.table)
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
			return protocol.AppendResponse(out, h.CorrelationID, resp), nil
		}
		return out, err
	}
	s.stats.Requests.Add(1)
	fn := s.handlers[h.Key] // present: ParseRequest checked the table
	resp, err := fn(ctx, &request{conn: c, header: h, kreq: kreq})
	if err != nil {
		return out, fmt.Errorf("%s v%d: %w", kmsg.NameForKey(h.Key), h.Version, err)
	}
	if resp == nil {
		return out, nil
	}
	resp.SetVersion(h.Version)
	return protocol.AppendResponse(out, h.CorrelationID, resp), nil
}

package broker_test

import (
	"bufio"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// rawConn speaks the Kafka protocol at exactly the version each request
// carries, with no negotiation, so a test can ask what a client of any
// version would.
type rawConn struct {
	t    testing.TB
	c    net.Conn
	br   *bufio.Reader
	corr int32
}

func dialRaw(t testing.TB, addr string) *rawConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawConn{t: t, c: c, br: bufio.NewReader(c)}
}

// send writes req (at its version) and returns the correlation id.
func (r *rawConn) send(req kmsg.Request) int32 {
	r.t.Helper()
	r.corr++
	b := rawFrame(req, r.corr)
	r.c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := r.c.Write(b); err != nil {
		r.t.Fatalf("write: %v", err)
	}
	return r.corr
}

// recv reads the response to req.
func (r *rawConn) recv(req kmsg.Request, corr int32) (kmsg.Response, error) {
	r.c.SetReadDeadline(time.Now().Add(30 * time.Second))
	var sz [4]byte
	if _, err := io.ReadFull(r.br, sz[:]); err != nil {
		return nil, err
	}
	body := make([]byte, binary.BigEndian.Uint32(sz[:]))
	if _, err := io.ReadFull(r.br, body); err != nil {
		return nil, err
	}
	if got := int32(binary.BigEndian.Uint32(body)); got != corr {
		return nil, errors.New("correlation id mismatch")
	}
	body = body[4:]
	resp := req.ResponseKind()
	if resp.IsFlexible() && resp.Key() != int16(kmsg.ApiVersions) {
		body = body[1:]
	}
	return resp, resp.ReadFrom(body)
}

// do sends req and returns its response, failing the test on any error.
func (r *rawConn) do(req kmsg.Request) kmsg.Response {
	r.t.Helper()
	resp, err := r.recv(req, r.send(req))
	if err != nil {
		r.t.Fatalf("%s v%d: %v", kmsg.NameForKey(req.Key()), req.GetVersion(), err)
	}
	return resp
}

// closed reports whether the broker closed the connection (a read ends in
// EOF or reset rather than data).
func (r *rawConn) closed() bool {
	r.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	var b [1]byte
	_, err := r.br.Read(b[:])
	var ne net.Error
	return err != nil && !(errors.As(err, &ne) && ne.Timeout())
}

func at[T kmsg.Request](req T, v int16) T {
	req.SetVersion(v)
	return req
}

// rawFrame encodes req as a request frame with client id "test".
func rawFrame(req kmsg.Request, corr int32) []byte {
	b := make([]byte, 4, 256)
	b = binary.BigEndian.AppendUint16(b, uint16(req.Key()))
	b = binary.BigEndian.AppendUint16(b, uint16(req.GetVersion()))
	b = binary.BigEndian.AppendUint32(b, uint32(corr))
	b = binary.BigEndian.AppendUint16(b, 4)
	b = append(b, "test"...)
	if req.IsFlexible() {
		b = append(b, 0)
	}
	b = req.AppendTo(b)
	binary.BigEndian.PutUint32(b, uint32(len(b)-4))
	return b
}

package s3test

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync/atomic"
	"testing"
)

// Faults are the shares of requests a Proxy answers itself instead of
// forwarding them, each drawn independently per request in this order: a
// connection reset (after reading part of the request's body, as a
// connection cut mid-upload), a request held unanswered (a server that
// stopped answering: the request is held until its client gives up, or
// until the next SetFaults, which resets its connection, as a network
// coming back does), 503 SlowDown (S3's throttling answer) and 500
// InternalError. The zero value forwards everything.
type Faults struct {
	Reset         float64
	Hang          float64
	SlowDown      float64
	InternalError float64
	// Methods limits the faults to requests of these HTTP methods (GET,
	// PUT, HEAD, DELETE...); empty: every request.
	Methods []string
}

// Proxy is an HTTP proxy in front of a Server that injects the faults of
// an S3 service under strain. It speaks no S3 itself: a request it does
// not fault goes to the server as it came, its Host header included
// (SigV4 signs it, so the client is configured with the proxy's endpoint
// and the server checks the signature against the same host), and the
// server's answer comes back as it was.
type Proxy struct {
	t      testing.TB
	l      net.Listener
	srv    *http.Server
	rp     *httputil.ReverseProxy
	faults atomic.Pointer[Faults]
	// release is closed by the next SetFaults: the held requests end.
	release atomic.Pointer[chan struct{}]

	requests atomic.Int64
	injected atomic.Int64
}

// NewProxy starts a proxy to s on a loopback port, closed when the test
// ends. It forwards everything until SetFaults says otherwise.
func (s *Server) NewProxy(t testing.TB) *Proxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	target := &url.URL{Scheme: "http", Host: s.addr}
	p := &Proxy{t: t, l: l}
	p.faults.Store(&Faults{})
	release := make(chan struct{})
	p.release.Store(&release)
	p.rp = &httputil.ReverseProxy{
		Director: func(r *http.Request) {
			r.URL.Scheme, r.URL.Host = target.Scheme, target.Host
			// r.Host (the Host header the client signed) is
			// left as it came; no X-Forwarded-For is added.
			r.Header["X-Forwarded-For"] = nil
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			// The server is down: as a load balancer in front of
			// it would answer.
			w.WriteHeader(http.StatusBadGateway)
		},
	}
	p.srv = &http.Server{Handler: http.HandlerFunc(p.serve)}
	go p.srv.Serve(l)
	t.Cleanup(func() { p.srv.Close() })
	return p
}

// Endpoint is the proxy's URL, for the client in place of the server's.
func (p *Proxy) Endpoint() string { return "http://" + p.l.Addr().String() }

// SetFaults replaces the faults injected from now on, and resets the
// connections of the requests held until now.
func (p *Proxy) SetFaults(f Faults) {
	p.faults.Store(&f)
	release := make(chan struct{})
	close(*p.release.Swap(&release))
}

// Counts returns the requests the proxy received and how many of them it
// faulted.
func (p *Proxy) Counts() (requests, injected int64) {
	return p.requests.Load(), p.injected.Load()
}

func (p *Proxy) serve(w http.ResponseWriter, r *http.Request) {
	p.requests.Add(1)
	release := *p.release.Load() // before the faults: a SetFaults between ends a hold at once
	f := p.faults.Load()
	if !f.applies(r.Method) {
		p.rp.ServeHTTP(w, r)
		return
	}
	switch {
	case rand.Float64() < f.Reset:
		p.injected.Add(1)
		p.reset(w, r)
	case rand.Float64() < f.Hang:
		p.injected.Add(1)
		select {
		case <-r.Context().Done(): // the client gave up, or the proxy closed
		case <-release:
		}
		p.reset(w, r)
	case rand.Float64() < f.SlowDown:
		p.injected.Add(1)
		p.answer(w, r, http.StatusServiceUnavailable, "SlowDown", "Please reduce your request rate.")
	case rand.Float64() < f.InternalError:
		p.injected.Add(1)
		p.answer(w, r, http.StatusInternalServerError, "InternalError", "We encountered an internal error. Please try again.")
	default:
		p.rp.ServeHTTP(w, r)
	}
}

func (f *Faults) applies(method string) bool {
	if f.Reset == 0 && f.Hang == 0 && f.SlowDown == 0 && f.InternalError == 0 {
		return false
	}
	if len(f.Methods) == 0 {
		return true
	}
	for _, m := range f.Methods {
		if m == method {
			return true
		}
	}
	return false
}

// answer reads the request's body and answers with an S3 error document
// (none for HEAD, as S3).
func (p *Proxy) answer(w http.ResponseWriter, r *http.Request, status int, code, msg string) {
	io.Copy(io.Discard, r.Body)
	w.Header().Set("Retry-After", "1")
	if r.Method == http.MethodHead {
		w.WriteHeader(status)
		return
	}
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?>`+"\n"+
		`<Error><Code>%s</Code><Message>%s</Message><Resource>%s</Resource><RequestId>s3test-proxy</RequestId></Error>`,
		code, msg, r.URL.Path)
}

// reset reads part of the request's body (up to half of what it
// announced) and closes the connection with a TCP reset.
func (p *Proxy) reset(w http.ResponseWriter, r *http.Request) {
	if r.ContentLength > 0 {
		io.CopyN(io.Discard, r.Body, r.ContentLength/2)
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic("s3test: the proxy's ResponseWriter cannot be hijacked")
	}
	c, _, err := hj.Hijack()
	if err != nil {
		return
	}
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetLinger(0) // RST, not FIN
	}
	c.Close()
}

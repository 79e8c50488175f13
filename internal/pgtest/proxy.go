package pgtest

import (
	"bytes"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// Proxy forwards TCP connections to the test database and injects the
// faults a network and a database restart cause: every connection cut at
// once (Cut), new ones refused (Refuse) as while PostgreSQL is down, traffic
// silently dropped in both directions (Blackhole) as when the network
// partitions, and a COMMIT whose answer is lost (LoseCommits). It is the
// one fake in these tests: it injects faults, it speaks no protocol.
type Proxy struct {
	l      net.Listener
	target string

	mu      sync.Mutex // guards conns, refuse
	conns   map[net.Conn]struct{}
	refuse  bool
	holes   atomic.Bool  // Blackhole
	commits atomic.Int32 // COMMITs whose answer is still to be lost
	lost    atomic.Int32 // answers lost so far
}

// NewProxy starts a proxy to the test database, closed when the test ends.
func NewProxy(t testing.TB) *Proxy {
	t.Helper()
	Require(t)
	cfg, err := pgconn.ParseConfig(AdminURL())
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{l: l, target: net.JoinHostPort(cfg.Host, itoa(int(cfg.Port))), conns: map[net.Conn]struct{}{}}
	go p.accept()
	t.Cleanup(func() { l.Close(); p.Cut() })
	return p
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

// Addr is the proxy's host:port.
func (p *Proxy) Addr() string { return p.l.Addr().String() }

// URL returns a connection string for a new schema (Schema), through the
// proxy.
func (p *Proxy) URL(t testing.TB) string {
	t.Helper()
	return p.Through(t, URL(t))
}

// Through returns the test database's connection string u with the proxy's
// address in place of the database's.
func (p *Proxy) Through(t testing.TB, u string) string {
	t.Helper()
	parsed, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	parsed.Host = p.Addr()
	return parsed.String()
}

// Cut closes every connection through the proxy.
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.Close()
		delete(p.conns, c)
	}
}

// Refuse makes the proxy refuse new connections (v true) or accept them
// again.
func (p *Proxy) Refuse(v bool) {
	p.mu.Lock()
	p.refuse = v
	p.mu.Unlock()
}

// Blackhole makes the proxy drop every byte both ways (v true), with the
// connections left open, or forward them again.
func (p *Proxy) Blackhole(v bool) { p.holes.Store(v) }

// LoseCommits arms the proxy to lose the answer of the next n COMMITs: the
// server receives each, its answer is dropped, and the connection is cut.
func (p *Proxy) LoseCommits(n int) { p.commits.Store(int32(n)) }

// Lost is how many COMMIT answers the proxy has lost.
func (p *Proxy) Lost() int { return int(p.lost.Load()) }

func (p *Proxy) accept() {
	for {
		c, err := p.l.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		refuse := p.refuse
		p.mu.Unlock()
		if refuse {
			c.Close()
			continue
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns[c], p.conns[s] = struct{}{}, struct{}{}
		p.mu.Unlock()
		var mute atomic.Bool
		go p.pipe(s, c, true, &mute)
		go p.pipe(c, s, false, &mute)
	}
}

// pipe copies src to dst. From the client (toServer), it looks for a
// simple-query COMMIT and, when armed, stops relaying the server's answers
// (mute), forwards the COMMIT, and cuts the pair once the server has had
// time to commit.
func (p *Proxy) pipe(dst, src net.Conn, toServer bool, mute *atomic.Bool) {
	defer func() { dst.Close(); src.Close() }()
	buf := make([]byte, 64<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && !p.holes.Load() {
			armed := toServer && p.commits.Load() > 0 && bytes.Contains(bytes.ToLower(buf[:n]), []byte("commit\x00"))
			if armed {
				p.commits.Add(-1)
				p.lost.Add(1)
				mute.Store(true)
			}
			if !(!toServer && mute.Load()) {
				if _, werr := dst.Write(buf[:n]); werr != nil {
					return
				}
			}
			if armed {
				time.Sleep(50 * time.Millisecond)
				return
			}
		}
		if err != nil {
			return
		}
	}
}

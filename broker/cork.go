package broker

import (
	"net"
	"sync"
)

// corkConn sits under a TLS connection and, while corked, gathers the
// records that crypto/tls writes one system call each (16 KiB each, so 64
// calls for a 1 MiB fetch answer) into one buffer written at uncork or
// every corkFlush bytes. The buffer is taken from a pool for the one large
// answer and given back, so an idle connection holds none.
type corkConn struct {
	net.Conn
	pool *sync.Pool

	mu     sync.Mutex // guards corked, buf, err: crypto/tls may write an alert from the reader
	corked bool
	buf    *[]byte
	err    error
}

// corkFlush is how much a corked connection gathers before it writes.
const corkFlush = 256 << 10

// corkMin is the smallest answer worth corking for.
const corkMin = 64 << 10

func (c *corkConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.corked {
		return c.Conn.Write(p)
	}
	if c.err != nil {
		return 0, c.err
	}
	if c.buf == nil {
		c.buf, _ = c.pool.Get().(*[]byte)
		if c.buf == nil {
			b := make([]byte, 0, corkFlush+32<<10)
			c.buf = &b
		}
	}
	*c.buf = append(*c.buf, p...)
	if len(*c.buf) >= corkFlush {
		c.flushLocked()
	}
	return len(p), c.err
}

func (c *corkConn) flushLocked() {
	if c.buf == nil {
		return
	}
	if len(*c.buf) > 0 && c.err == nil {
		_, c.err = c.Conn.Write(*c.buf)
	}
	*c.buf = (*c.buf)[:0]
}

func (c *corkConn) cork() {
	c.mu.Lock()
	c.corked = true
	c.mu.Unlock()
}

// uncork writes what was gathered and returns the buffer to the pool.
func (c *corkConn) uncork() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.flushLocked()
	if c.buf != nil {
		c.pool.Put(c.buf)
		c.buf = nil
	}
	c.corked = false
	err := c.err
	c.err = nil
	return err
}

// writeLarge writes out through bw, corking the TLS connection's records
// into few system calls when out is large.
func (c *conn) writeLarge(out []byte) error {
	if c.cork == nil || len(out) < corkMin {
		_, err := c.bw.Write(out)
		return err
	}
	c.cork.cork()
	_, err := c.bw.Write(out)
	if uerr := c.cork.uncork(); err == nil {
		err = uerr
	}
	return err
}

package console

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// clientPool holds one Kafka client, made on first use and closed after
// idle without one, so that a console nobody looks at keeps no connection
// open and sends no request (a kgo client refreshes metadata on its own
// while it lives).
type clientPool struct {
	opts []kgo.Opt
	idle time.Duration

	mu    sync.Mutex
	cl    *kgo.Client // guarded by mu; nil: closed
	users int         // requests using cl now; guarded by mu
	timer *time.Timer // closes cl after idle; guarded by mu
	gen   int         // counts clients made, so a stale timer closes nothing; guarded by mu
}

func newClientPool(opts []kgo.Opt, idle time.Duration) *clientPool {
	return &clientPool{opts: opts, idle: idle}
}

// acquire returns the client, making it when there is none; release it
// with release.
func (p *clientPool) acquire() (*kgo.Client, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.timer != nil {
		p.timer.Stop()
		p.timer = nil
	}
	if p.cl == nil {
		cl, err := kgo.NewClient(p.opts...)
		if err != nil {
			return nil, err
		}
		p.cl = cl
		p.gen++
	}
	p.users++
	return p.cl, nil
}

func (p *clientPool) release() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.users--
	if p.users > 0 || p.cl == nil {
		return
	}
	gen := p.gen
	p.timer = time.AfterFunc(p.idle, func() {
		p.mu.Lock()
		if p.users > 0 || p.gen != gen || p.cl == nil {
			p.mu.Unlock()
			return
		}
		cl := p.cl
		p.cl, p.timer = nil, nil
		p.mu.Unlock()
		cl.Close()
	})
}

// close closes the client now; a later acquire makes a new one.
func (p *clientPool) close() {
	p.mu.Lock()
	cl := p.cl
	p.cl = nil
	if p.timer != nil {
		p.timer.Stop()
		p.timer = nil
	}
	p.mu.Unlock()
	if cl != nil {
		cl.Close()
	}
}

// open reports whether a client is open now (for tests of idleness).
func (p *clientPool) open() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cl != nil
}

// do runs fn with an admin client over the pool's client.
func (p *clientPool) do(fn func(adm *kadm.Client) error) error {
	cl, err := p.acquire()
	if err != nil {
		return err
	}
	defer p.release()
	return fn(kadm.NewClient(cl))
}

// with runs fn with the pool's client.
func (p *clientPool) with(fn func(cl *kgo.Client) error) error {
	cl, err := p.acquire()
	if err != nil {
		return err
	}
	defer p.release()
	return fn(cl)
}

// isAuthErr reports whether err is an authorization failure.
func isAuthErr(err error) bool {
	var ae *kadm.AuthError
	if errors.As(err, &ae) {
		return true
	}
	for _, e := range []error{kerr.TopicAuthorizationFailed, kerr.GroupAuthorizationFailed, kerr.ClusterAuthorizationFailed,
		kerr.TransactionalIDAuthorizationFailed, kerr.DelegationTokenAuthorizationFailed, kerr.SaslAuthenticationFailed} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// fresh makes kadm ask the broker for metadata instead of answering from
// the client's cache: a console shows what is there now, and a topic the
// user may not describe, once in the cache, would fail every later
// listing.
func fresh(ctx context.Context) context.Context { return kadm.WithAuthorizedOps(ctx) }

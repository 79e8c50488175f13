// Package cluster is the cluster mode's membership, leases and placement:
// who is in the cluster and who owns what, answered from the catalog
// (meta.Members and meta.Leases, judged by the catalog's clock). The broker
// asks it; it never reaches into the broker. It imports meta (the
// interfaces) only.
package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/streamhouse/streamhouse/meta"
)

// Catalog is what the cluster needs of the catalog.
type Catalog interface {
	meta.Members
	meta.Leases
}

// Options configures a Member.
type Options struct {
	Catalog Catalog
	// Self is this broker: node id, rack, advertised listeners.
	Self meta.BrokerRegistration
	// SessionTimeout is how long the session lasts without a renewal
	// (Kafka's broker.session.timeout.ms, default 9 s); Heartbeat how
	// often it is renewed (broker.heartbeat.interval.ms, default 2 s).
	SessionTimeout time.Duration
	Heartbeat      time.Duration
	Logger         *slog.Logger
	// Now is the local monotonic clock the member measures its own
	// session's end by (never compared with the catalog's); nil:
	// time.Now.
	Now func() time.Time
}

// Member is this broker's membership: its registered session, renewed in
// the background until Leave, and the live brokers as of the last renewal.
type Member struct {
	opts  Options
	log   *slog.Logger
	epoch int64

	mu sync.Mutex // guards validUntil, live, lostErr
	// validUntil is when the session surely still stands by the
	// catalog's clock: the send time of the last successful renewal plus
	// the timeout (the catalog counts from when it received it, later).
	validUntil time.Time
	live       []meta.BrokerRegistration
	lostErr    error

	lost chan struct{} // closed when the session is lost
	stop chan struct{}
	done chan struct{}
}

// Join registers this broker and starts renewing its session. A node id
// whose previous session is still live (this broker's previous life, killed)
// is waited for, up to one session timeout past its expiry, as Kafka's
// controller refuses a duplicate registration until the old one expires.
func Join(ctx context.Context, opts Options) (*Member, error) {
	if opts.SessionTimeout <= 0 {
		opts.SessionTimeout = 9 * time.Second
	}
	if opts.Heartbeat <= 0 {
		opts.Heartbeat = 2 * time.Second
	}
	if opts.Heartbeat >= opts.SessionTimeout {
		return nil, fmt.Errorf("cluster: heartbeat %v must be shorter than the session timeout %v", opts.Heartbeat, opts.SessionTimeout)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	m := &Member{opts: opts, log: opts.Logger, lost: make(chan struct{}), stop: make(chan struct{}), done: make(chan struct{})}
	deadline := opts.Now().Add(2 * opts.SessionTimeout)
	warned := false
	for {
		sent := opts.Now()
		epoch, err := opts.Catalog.RegisterBroker(ctx, opts.Self, opts.SessionTimeout)
		if err == nil {
			m.epoch = epoch
			m.validUntil = sent.Add(opts.SessionTimeout)
			break
		}
		if !errors.Is(err, meta.ErrNodeInUse) || opts.Now().After(deadline) {
			return nil, fmt.Errorf("cluster: register node %d: %w", opts.Self.NodeID, err)
		}
		if !warned {
			m.log.Warn("node id registered by a live session (this broker's previous run, or another broker with the same --node-id); waiting for it to expire",
				"node_id", opts.Self.NodeID, "session_timeout", opts.SessionTimeout)
			warned = true
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(opts.Heartbeat / 2):
		}
	}
	if live, err := opts.Catalog.LiveBrokers(ctx); err == nil {
		m.live = live
	}
	m.log.Info("joined the cluster", "node_id", opts.Self.NodeID, "epoch", m.epoch, "session_timeout", opts.SessionTimeout)
	go m.renew()
	return m, nil
}

// NodeID is this broker's node id; Epoch its session's epoch.
func (m *Member) NodeID() int32 { return m.opts.Self.NodeID }

// Epoch is the session's epoch.
func (m *Member) Epoch() int64 { return m.epoch }

// Valid reports whether the session surely still stands: a broker must not
// acknowledge a write once it does not (the catalog's conditions refuse
// what it would commit anyway).
func (m *Member) Valid() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.lostErr == nil && m.opts.Now().Before(m.validUntil)
}

// Lost is closed when the session is lost: expired without a renewal, or
// replaced. The broker stops serving its partitions and joins again.
func (m *Member) Lost() <-chan struct{} { return m.lost }

// Err says why the session was lost; nil while it stands.
func (m *Member) Err() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.lostErr
}

// Live returns the live brokers as of the last renewal, by node id.
func (m *Member) Live() []meta.BrokerRegistration {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.live
}

// Leave stops the renewals and ends the session, freeing this broker's
// leases at once (a clean stop).
func (m *Member) Leave(ctx context.Context) error {
	select {
	case <-m.stop:
	default:
		close(m.stop)
	}
	<-m.done
	if m.Err() != nil {
		return nil
	}
	return m.opts.Catalog.DeregisterBroker(ctx, m.opts.Self.NodeID, m.epoch)
}

// renew renews the session every Heartbeat and reads the live brokers,
// until Leave or the session's loss.
func (m *Member) renew() {
	defer close(m.done)
	tick := time.NewTicker(m.opts.Heartbeat)
	defer tick.Stop()
	failing := false
	for {
		select {
		case <-m.stop:
			return
		case <-tick.C:
		}
		sent := m.opts.Now()
		// A renewal may take up to half the session: one slower than
		// the heartbeat (a loaded database) still keeps the session,
		// whose validity counts from the send time anyway; only one
		// that cannot be done in time loses it.
		ctx, cancel := context.WithTimeout(context.Background(), max(m.opts.Heartbeat, m.opts.SessionTimeout/2))
		err := m.opts.Catalog.RenewBroker(ctx, m.opts.Self.NodeID, m.epoch, m.opts.SessionTimeout)
		var live []meta.BrokerRegistration
		if err == nil {
			live, _ = m.opts.Catalog.LiveBrokers(ctx)
		}
		cancel()
		switch {
		case err == nil:
			m.mu.Lock()
			m.validUntil = sent.Add(m.opts.SessionTimeout)
			if live != nil {
				m.live = live
			}
			m.mu.Unlock()
			if failing {
				m.log.Info("session renewed again", "node_id", m.opts.Self.NodeID)
				failing = false
			}
		case errors.Is(err, meta.ErrSessionLost):
			m.mu.Lock()
			m.lostErr = err
			m.mu.Unlock()
			m.log.Error("SESSION LOST: this broker's session in the cluster expired or was replaced; it stops serving its partitions",
				"node_id", m.opts.Self.NodeID, "epoch", m.epoch, "err", err)
			close(m.lost)
			return
		default:
			if !failing {
				m.log.Warn("renewing the session failed; retrying (writes stop being acknowledged when it expires)",
					"node_id", m.opts.Self.NodeID, "err", err)
				failing = true
			}
		}
	}
}

package cluster

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/streamhouse/streamhouse/meta"
)

// Holder is the broker as the leadership drives it: what there is to lead,
// and what to do when this broker takes a lease or gives one up.
type Holder interface {
	// LeaseKeys lists every lease the cluster has: each partition of
	// each topic and each coordinator shard.
	LeaseKeys() []meta.LeaseKey
	// LeaseAcquired: this broker holds l now.
	LeaseAcquired(l meta.Lease)
	// LeaseReleasing: this broker gives key up (a handover, the
	// session's loss, or a topic deleted). It must stop serving it and
	// finish what it accepted before it returns: the lease is released
	// after, and commits under it fail from then on.
	LeaseReleasing(ctx context.Context, key meta.LeaseKey)
}

// LeadershipOptions configures a Leadership.
type LeadershipOptions struct {
	// Member configures the membership (Self is given to Start).
	Member Options
	// Interval is how often the live brokers and the leases are read
	// again and this broker's leases balanced (zero: 500 ms): a dead
	// broker's leases are taken within one session timeout and one
	// Interval of its last renewal.
	Interval time.Duration
}

// Leadership is this broker's leases: it keeps, among the live brokers,
// the leases Owner gives this broker, takes them as they fall free (a dead
// broker's, once its session expired), gives up those Owner gives another
// (a broker that joined takes its share), and after its session's loss
// gives up everything and joins again. The broker asks it who leads what
// (Holds, Leader, Brokers); the WAL asks Lease before each commit.
type Leadership struct {
	opts LeadershipOptions
	log  *slog.Logger

	mu sync.Mutex // guards every field below
	// member is the session (nil before Start, and while joining again).
	member *Member
	holder Holder
	// held are this broker's leases under member's session; releasing
	// those being given up (the WAL may still commit under them, the
	// broker no longer serves them).
	held      map[meta.LeaseKey]meta.Lease
	releasing map[meta.LeaseKey]bool
	// table is every live lease as last read; live the live brokers.
	table map[meta.LeaseKey]meta.Lease
	live  []meta.BrokerRegistration
	// liveCount is how many brokers live counts with this one
	// (LiveCount), stored with live (setLiveLocked) and read without mu.
	liveCount atomic.Int32

	wake chan struct{} // cap 1
	stop chan struct{}
	done chan struct{}
}

// NewLeadership returns a Leadership; Start joins the cluster.
func NewLeadership(opts LeadershipOptions) *Leadership {
	if opts.Interval <= 0 {
		opts.Interval = 500 * time.Millisecond
	}
	if opts.Member.Logger == nil {
		opts.Member.Logger = slog.New(slog.DiscardHandler)
	}
	l := &Leadership{opts: opts, log: opts.Member.Logger,
		held: map[meta.LeaseKey]meta.Lease{}, releasing: map[meta.LeaseKey]bool{}, table: map[meta.LeaseKey]meta.Lease{},
		wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	l.liveCount.Store(1) // this broker, before any read
	return l
}

// Start joins the cluster as self (Join: it waits for a previous session
// of the node id to expire), takes the free leases Owner gives it, and
// starts balancing the leases h lists.
func (l *Leadership) Start(ctx context.Context, self meta.BrokerRegistration, h Holder) error {
	l.opts.Member.Self = self
	m, err := Join(ctx, l.opts.Member)
	if err != nil {
		return err
	}
	l.mu.Lock()
	l.member, l.holder = m, h
	l.setLiveLocked(m.Live())
	l.mu.Unlock()
	// The first round before Start returns: a broker that starts takes
	// the free leases it should hold (all of them, alone) before it
	// answers its first client, rather than send it LEADER_NOT_AVAILABLE.
	l.balance(ctx, m)
	go l.run()
	return nil
}

// NodeID is this broker's node id.
func (l *Leadership) NodeID() int32 { return l.opts.Member.Self.NodeID }

// Holds returns the leader epoch of key when this broker holds it and
// serves it: its session surely stands and it is not giving it up.
func (l *Leadership) Holds(key meta.LeaseKey) (int32, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	ls, ok := l.held[key]
	if !ok || l.releasing[key] || l.member == nil || !l.member.Valid() {
		return -1, false
	}
	return ls.Epoch, true
}

// Lease is what the WAL commits under: this broker's session epoch and the
// lease's epoch while it holds key, giving it up included (its last
// commits), and its session surely stands.
func (l *Leadership) Lease(key meta.LeaseKey) (int64, int32, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	ls, ok := l.held[key]
	if !ok || l.member == nil || !l.member.Valid() {
		return 0, -1, false
	}
	return ls.HolderEpoch, ls.Epoch, true
}

// Leader returns who leads key and at which epoch, as this broker knows:
// itself for what it holds while its session surely stands, the others
// as of the last read (at most an Interval old). False when nobody does,
// and for what this broker holds while it cannot vouch for its session
// (cut off from the catalog, its leases may be another's by now): naming
// itself there sent clients back to it, to be refused
// (NOT_LEADER_OR_FOLLOWER), for as long as it stayed cut off, while
// another broker had taken its partitions over (the chaos test: 12 s).
func (l *Leadership) Leader(key meta.LeaseKey) (int32, int32, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	self := l.opts.Member.Self.NodeID
	if ls, ok := l.held[key]; ok && !l.releasing[key] {
		if l.member == nil || !l.member.Valid() {
			return -1, -1, false
		}
		return self, ls.Epoch, true
	}
	if ls, ok := l.table[key]; ok && ls.Holder != self {
		return ls.Holder, ls.Epoch, true
	}
	return -1, -1, false
}

// Brokers returns the live brokers as of the last read, by node id; this
// broker among them while its session stands.
func (l *Leadership) Brokers() []meta.BrokerRegistration {
	l.mu.Lock()
	defer l.mu.Unlock()
	self := l.opts.Member.Self
	out := slices.Clone(l.live)
	if l.member != nil && !slices.ContainsFunc(out, func(b meta.BrokerRegistration) bool { return b.NodeID == self.NodeID }) {
		out = append(out, self)
		slices.SortFunc(out, func(a, b meta.BrokerRegistration) int { return int(a.NodeID) - int(b.NodeID) })
	}
	return out
}

// LiveCount is how many live brokers there are as of the last read, this
// one counted whether or not its session stands (it may be being
// renewed): the node ids of Brokers with this broker's. It takes no lock
// and allocates nothing, for the produce path (min.insync.replicas).
func (l *Leadership) LiveCount() int { return int(l.liveCount.Load()) }

// setLiveLocked records live as the live brokers, and their count with
// this broker for LiveCount; l.mu is held.
func (l *Leadership) setLiveLocked(live []meta.BrokerRegistration) {
	l.live = live
	self := l.opts.Member.Self.NodeID
	n := len(live)
	if !slices.ContainsFunc(live, func(b meta.BrokerRegistration) bool { return b.NodeID == self }) {
		n++
	}
	l.liveCount.Store(int32(n))
}

// Wake balances the leases now rather than at the next Interval (a topic
// was created).
func (l *Leadership) Wake() {
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// Close hands every lease over, as Kafka's controlled shutdown moves
// leadership before a broker stops: it stops balancing, gives each lease
// up through the holder (LeaseReleasing: the broker stops serving it,
// answering NOT_LEADER_OR_FOLLOWER, and its last commits are made under
// the session), then ends the session (Leave), which frees every lease at
// once for the others to take. The broker may go on answering requests
// meanwhile, and stops after.
func (l *Leadership) Close(ctx context.Context) error {
	l.mu.Lock()
	started := l.holder != nil
	l.mu.Unlock()
	select {
	case <-l.stop:
		return nil
	default:
		close(l.stop)
	}
	if !started {
		return nil
	}
	<-l.done
	l.mu.Lock()
	m, h := l.member, l.holder
	keys := make([]meta.LeaseKey, 0, len(l.held))
	for k := range l.held {
		keys = append(keys, k)
		l.releasing[k] = true
	}
	l.mu.Unlock()
	if m != nil {
		parallel(len(keys), func(i int) { h.LeaseReleasing(ctx, keys[i]) })
	}
	l.mu.Lock()
	l.member = nil
	clear(l.held)
	clear(l.releasing)
	l.mu.Unlock()
	if m == nil {
		return nil
	}
	return m.Leave(ctx)
}

// run balances the leases every Interval, and joins again after the
// session's loss, until Close.
func (l *Leadership) run() {
	defer close(l.done)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-l.stop:
			cancel()
		case <-l.done:
		}
	}()
	tick := time.NewTicker(l.opts.Interval)
	defer tick.Stop()
	for {
		l.mu.Lock()
		m := l.member
		l.mu.Unlock()
		var lost <-chan struct{}
		if m != nil {
			lost = m.Lost()
			l.balance(ctx, m)
		} else {
			l.rejoin(ctx)
		}
		select {
		case <-l.stop:
			return
		case <-lost:
			l.dropAll(ctx, m)
		case <-tick.C:
		case <-l.wake:
		}
	}
}

// dropAll gives up every lease after the session's loss: the catalog freed
// them already; the broker stops serving them.
func (l *Leadership) dropAll(ctx context.Context, m *Member) {
	l.mu.Lock()
	if l.member != m {
		l.mu.Unlock()
		return
	}
	l.member = nil
	keys := make([]meta.LeaseKey, 0, len(l.held))
	for k := range l.held {
		keys = append(keys, k)
		l.releasing[k] = true
	}
	h := l.holder
	l.mu.Unlock()
	l.log.Error("session lost: giving up every lease and joining the cluster again", "leases", len(keys), "err", m.Err())
	parallel(len(keys), func(i int) { h.LeaseReleasing(ctx, keys[i]) })
	l.mu.Lock()
	clear(l.held)
	clear(l.releasing)
	l.mu.Unlock()
	m.Leave(ctx) // stops its renewals; the session is gone already
}

// rejoin registers a new session after a loss; a failure is tried again at
// the next round.
func (l *Leadership) rejoin(ctx context.Context) {
	m, err := Join(ctx, l.opts.Member)
	if err != nil {
		if ctx.Err() == nil {
			l.log.Warn("joining the cluster again failed; retrying", "err", err)
		}
		return
	}
	l.mu.Lock()
	l.member = m
	l.setLiveLocked(m.Live())
	l.mu.Unlock()
	l.Wake()
}

// acquireWorkers bounds the lease calls of one round made at once, well
// below the catalog's pool (8 connections), so that the session's renewal
// and the broker's requests are not queued behind a round that takes
// hundreds of leases (a broker joining, or joining again after a lost
// session: the chaos test saw renewals starve and sessions lost in a loop
// at 8); releases all run at once (each waits for its log's last commit
// round, which they share).
const acquireWorkers = 3

// balance reads the live brokers and the leases, then takes the leases
// Owner gives this broker that are free and gives up those it gives
// another.
func (l *Leadership) balance(ctx context.Context, m *Member) {
	live, err := l.opts.Member.Catalog.LiveBrokers(ctx)
	var leases []meta.Lease
	if err == nil {
		leases, err = l.opts.Member.Catalog.Leases(ctx)
	}
	if err != nil {
		if ctx.Err() == nil {
			l.log.Log(ctx, meta.LogLevel(err, slog.LevelWarn), "reading the cluster's brokers and leases failed; retrying", "err", err)
		}
		return
	}
	self := l.opts.Member.Self.NodeID
	table := make(map[meta.LeaseKey]meta.Lease, len(leases))
	for _, ls := range leases {
		table[ls.Key] = ls
	}
	ids := make([]int32, 0, len(live)+1)
	for _, b := range live {
		ids = append(ids, b.NodeID)
	}
	if !slices.Contains(ids, self) {
		ids = append(ids, self) // registered after the read, or renewing
	}
	l.mu.Lock()
	if l.member != m {
		l.mu.Unlock()
		return
	}
	l.table = table
	l.setLiveLocked(live)
	h := l.holder
	l.mu.Unlock()

	keys := h.LeaseKeys()
	want := make(map[meta.LeaseKey]bool, len(keys))
	var take []meta.LeaseKey
	for _, k := range keys {
		if Owner(k, ids) != self {
			continue
		}
		want[k] = true
		if _, held := l.heldLease(k); held {
			continue
		}
		if ls, ok := table[k]; ok && ls.Holder != self {
			continue // its holder gives it up, or its session expires
		}
		take = append(take, k)
	}
	var give []meta.LeaseKey
	l.mu.Lock()
	for k := range l.held {
		if !want[k] && !l.releasing[k] {
			give = append(give, k)
			l.releasing[k] = true
		}
	}
	l.mu.Unlock()

	parallel(len(give), func(i int) { l.release(ctx, m, h, give[i]) })
	var lost bool
	var mu sync.Mutex
	parallelN(len(take), acquireWorkers, func(i int) {
		k := take[i]
		ls, err := l.opts.Member.Catalog.AcquireLease(ctx, k, self, m.Epoch())
		switch {
		case err == nil:
		case errors.Is(err, meta.ErrConflict):
			return // still held by a live session: later
		case errors.Is(err, meta.ErrSessionLost):
			mu.Lock()
			lost = true
			mu.Unlock()
			return
		default:
			if ctx.Err() == nil {
				l.log.Log(ctx, meta.LogLevel(err, slog.LevelWarn), "taking a lease failed; retrying", "lease", k.String(), "err", err)
			}
			return
		}
		l.mu.Lock()
		if l.member != m {
			l.mu.Unlock()
			return
		}
		l.held[k] = ls
		l.mu.Unlock()
		l.log.Debug("lease taken", "lease", k.String(), "epoch", ls.Epoch)
		h.LeaseAcquired(ls)
	})
	if lost {
		l.log.Warn("the catalog says this broker's session is gone; it is lost at the next renewal")
	}
}

// heldLease returns this broker's lease of k.
func (l *Leadership) heldLease(k meta.LeaseKey) (meta.Lease, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	ls, ok := l.held[k]
	return ls, ok
}

// release gives k up: the broker stops serving it and finishes its
// commits, then the catalog frees it.
func (l *Leadership) release(ctx context.Context, m *Member, h Holder, k meta.LeaseKey) {
	h.LeaseReleasing(ctx, k)
	l.mu.Lock()
	ls, ok := l.held[k]
	delete(l.held, k)
	delete(l.releasing, k)
	l.mu.Unlock()
	if !ok {
		return
	}
	if err := l.opts.Member.Catalog.ReleaseLease(ctx, k, m.NodeID(), ls.Epoch); err != nil && ctx.Err() == nil {
		// It stays held in the catalog until the session ends: the
		// broker Owner gives it to waits until then.
		l.log.Warn("releasing a lease failed", "lease", k.String(), "err", err)
	}
	l.log.Debug("lease given up", "lease", k.String(), "epoch", ls.Epoch)
}

// parallel calls fn(i) for each i in [0, n) at once and waits.
func parallel(n int, fn func(i int)) { parallelN(n, n, fn) }

// parallelN calls fn(i) for each i in [0, n), workers at a time, and waits.
func parallelN(n, workers int, fn func(i int)) {
	if n == 0 {
		return
	}
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(n, workers) {
		wg.Go(func() {
			for i := range next {
				fn(i)
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
}

package cluster_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/streamhouse/streamhouse/cluster"
	"github.com/streamhouse/streamhouse/meta"
)

// broker is what a leadership drives in these tests: the keys it lists and
// the leases it was told it holds, checked as a broker would rely on them.
type broker struct {
	t    *testing.T
	keys []meta.LeaseKey

	mu       sync.Mutex
	held     map[meta.LeaseKey]int32
	released int // LeaseReleasing calls
	l        *cluster.Leadership
}

func (b *broker) LeaseKeys() []meta.LeaseKey { return b.keys }

func (b *broker) LeaseAcquired(l meta.Lease) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.held[l.Key] = l.Epoch
}

func (b *broker) LeaseReleasing(ctx context.Context, k meta.LeaseKey) {
	if _, ok := b.l.Holds(k); ok {
		b.t.Errorf("LeaseReleasing(%v) while Holds still says it is served", k)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.held, k)
	b.released++
}

func (b *broker) releases() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.released
}

func (b *broker) holds() map[meta.LeaseKey]int32 {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make(map[meta.LeaseKey]int32, len(b.held))
	for k, e := range b.held {
		out[k] = e
	}
	return out
}

// failing is a catalog a test can cut off: every call fails while cut, as
// for a broker frozen or cut off from the database.
type failing struct {
	cluster.Catalog
	cut atomic.Bool
}

var errCut = errors.New("cut off")

func (f *failing) RenewBroker(ctx context.Context, node int32, epoch int64, ttl time.Duration) error {
	if f.cut.Load() {
		return errCut
	}
	return f.Catalog.RenewBroker(ctx, node, epoch, ttl)
}

func (f *failing) LiveBrokers(ctx context.Context) ([]meta.BrokerRegistration, error) {
	if f.cut.Load() {
		return nil, errCut
	}
	return f.Catalog.LiveBrokers(ctx)
}

func (f *failing) Leases(ctx context.Context) ([]meta.Lease, error) {
	if f.cut.Load() {
		return nil, errCut
	}
	return f.Catalog.Leases(ctx)
}

func (f *failing) AcquireLease(ctx context.Context, key meta.LeaseKey, node int32, se int64) (meta.Lease, error) {
	if f.cut.Load() {
		return meta.Lease{}, errCut
	}
	return f.Catalog.AcquireLease(ctx, key, node, se)
}

type node struct {
	*broker
	cat *failing
}

func startNode(t *testing.T, c cluster.Catalog, id int32, keys []meta.LeaseKey) *node {
	t.Helper()
	f := &failing{Catalog: c}
	l := cluster.NewLeadership(cluster.LeadershipOptions{
		Member:   cluster.Options{Catalog: f, SessionTimeout: 600 * time.Millisecond, Heartbeat: 100 * time.Millisecond},
		Interval: 50 * time.Millisecond,
	})
	b := &broker{t: t, keys: keys, held: map[meta.LeaseKey]int32{}, l: l}
	if err := l.Start(t.Context(), self(id), b); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close(context.Background()) })
	return &node{broker: b, cat: f}
}

// waitBalanced waits until each key is held by exactly the node Owner
// gives it among ids, as the holders and every Leader answer say.
func waitBalanced(t *testing.T, keys []meta.LeaseKey, nodes map[int32]*node, ids []int32) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := balanced(keys, nodes, ids)
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("leases not balanced over %v after 10 s: %v", ids, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func balanced(keys []meta.LeaseKey, nodes map[int32]*node, ids []int32) error {
	holds := map[int32]map[meta.LeaseKey]int32{}
	for id, n := range nodes {
		holds[id] = n.holds()
	}
	for _, k := range keys {
		owner := cluster.Owner(k, ids)
		for id, h := range holds {
			_, has := h[k]
			if has != (id == owner) {
				return fmt.Errorf("lease %v: node %d holds it %v, its owner is %d", k, id, has, owner)
			}
		}
		for id, n := range nodes {
			if !contains(ids, id) {
				continue
			}
			if leader, _, ok := n.l.Leader(k); !ok || leader != owner {
				return fmt.Errorf("node %d says %v is led by %d (%v), its owner is %d", id, k, leader, ok, owner)
			}
		}
	}
	return nil
}

func contains(ids []int32, id int32) bool {
	for _, i := range ids {
		if i == id {
			return true
		}
	}
	return false
}

// TestLeadership: brokers split the leases by Owner; one that joins takes
// its share, handed over by the others; one frozen past its session has its
// leases taken by the others at higher epochs, and when it comes back it
// finds its session lost, gives everything up, joins again and takes its
// share back.
func TestLeadership(t *testing.T) {
	t.Parallel()
	c := openCatalog(t)
	keys := keys(24)
	keys = append(keys, meta.LeaseKey{Kind: meta.LeaseGroupShard, Partition: 0}, meta.LeaseKey{Kind: meta.LeaseGroupShard, Partition: 1})
	nodes := map[int32]*node{1: startNode(t, c, 1, keys), 2: startNode(t, c, 2, keys)}
	waitBalanced(t, keys, nodes, []int32{1, 2})

	nodes[3] = startNode(t, c, 3, keys)
	waitBalanced(t, keys, nodes, []int32{1, 2, 3})
	if r := nodes[1].releases() + nodes[2].releases(); r == 0 {
		t.Fatal("node 3 joined but nothing was handed over")
	}
	if b := nodes[1].l.Brokers(); len(b) != 3 {
		t.Fatalf("Brokers = %+v, want 3", b)
	}
	checkLiveCount(t, nodes[1].l, 3)

	before := nodes[3].holds()
	nodes[3].cat.cut.Store(true)
	waitBalanced(t, keys, map[int32]*node{1: nodes[1], 2: nodes[2]}, []int32{1, 2})
	// Node 1 took a share of node 3's leases: it read node 3 gone.
	checkLiveCount(t, nodes[1].l, 2)
	for k, e := range before {
		_, epoch, _ := nodes[1].l.Leader(k)
		if epoch <= e {
			t.Fatalf("lease %v taken over at epoch %d, was %d at node 3", k, epoch, e)
		}
	}
	// Node 3's session is surely gone by its own clock: it serves
	// nothing, and the WAL commits nothing under it.
	for k := range before {
		if _, ok := nodes[3].l.Holds(k); ok {
			t.Fatalf("node 3, cut off past its session, still holds %v", k)
		}
		if _, _, ok := nodes[3].l.Lease(k); ok {
			t.Fatalf("node 3, cut off past its session, still commits under %v", k)
		}
	}

	nodes[3].cat.cut.Store(false)
	waitBalanced(t, keys, nodes, []int32{1, 2, 3})
}

// checkLiveCount checks that l counts want live brokers, as many as the
// node ids of its Brokers with its own (what the broker's liveNodes
// lists).
func checkLiveCount(t *testing.T, l *cluster.Leadership, want int) {
	t.Helper()
	ids := []int32{l.NodeID()}
	for _, b := range l.Brokers() {
		if !contains(ids, b.NodeID) {
			ids = append(ids, b.NodeID)
		}
	}
	if n := l.LiveCount(); n != want || n != len(ids) {
		t.Fatalf("LiveCount = %d, want %d, the brokers with this one: %v", n, want, ids)
	}
}

// TestLiveCountAllocs: a Leadership not started yet counts this broker
// alone, as the broker's liveNodes does, and counting allocates nothing
// (the produce path asks it for every acks=all partition).
func TestLiveCountAllocs(t *testing.T) {
	l := cluster.NewLeadership(cluster.LeadershipOptions{})
	if n := l.LiveCount(); n != 1 {
		t.Fatalf("LiveCount before Start = %d, want 1", n)
	}
	if a := testing.AllocsPerRun(100, func() { _ = l.LiveCount() }); a != 0 {
		t.Fatalf("LiveCount allocates %v times", a)
	}
}

// TestLeadershipClose: a broker that stops frees its leases at once for
// the others.
func TestLeadershipClose(t *testing.T) {
	t.Parallel()
	c := openCatalog(t)
	keys := keys(12)
	a, b := startNode(t, c, 1, keys), startNode(t, c, 2, keys)
	waitBalanced(t, keys, map[int32]*node{1: a, 2: b}, []int32{1, 2})
	start := time.Now()
	if err := b.l.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	waitBalanced(t, keys, map[int32]*node{1: a}, []int32{1})
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Logf("handover after Close took %v (the session timeout is 600 ms)", d)
	}
}

package broker

// Partition leadership: who leads what, and at which leader epoch.
//
// A single broker (Config.Cluster nil) leads every partition at epoch 0.
// In the cluster mode Config.Cluster (cmd wires cluster.Leadership to it)
// says which partitions this broker holds the lease of, at which epoch, and
// who leads the others; the broker serves only what it holds, opening a
// partition's log (rebuilt from the bucket) when it takes the lease and
// closing it when it gives it up. A request for a partition led elsewhere
// is answered as Kafka answers it (KIP-320): FENCED_LEADER_EPOCH or
// UNKNOWN_LEADER_EPOCH when the client's current leader epoch is older or
// newer than the lease's, else NOT_LEADER_OR_FOLLOWER, which sends the
// client to Metadata; Metadata gives each partition's leader and epoch,
// and LEADER_NOT_AVAILABLE for one nobody holds.

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/streamhouse/streamhouse/meta"
	"github.com/streamhouse/streamhouse/storage"
)

// Cluster is the cluster mode's leadership as the broker asks it.
type Cluster interface {
	// Holds returns the leader epoch of key while this broker holds and
	// serves it.
	Holds(key meta.LeaseKey) (epoch int32, ok bool)
	// Lease returns this broker's session epoch and key's leader epoch
	// while it holds key, giving it up included: what writes fenced by
	// the lease carry (meta.Fence).
	Lease(key meta.LeaseKey) (sessionEpoch int64, epoch int32, ok bool)
	// Leader returns who leads key and at which epoch, as this broker
	// knows it; false when nobody does.
	Leader(key meta.LeaseKey) (node, epoch int32, ok bool)
	// Brokers lists the live brokers, by node id.
	Brokers() []meta.BrokerRegistration
	// LiveCount is how many live brokers there are, this one counted
	// whether or not Brokers lists it (len(liveNodes())), read without
	// allocating: the produce path asks it (enoughInsync).
	LiveCount() int
	// Wake makes the leadership look at the leases now (a topic was
	// created or grew).
	Wake()
}

// key is the partition's lease.
func (p *partition) key() meta.LeaseKey {
	return meta.LeaseKey{Kind: meta.LeasePartition, TopicID: p.src.id, Partition: p.index}
}

// clustered reports whether the broker runs in the cluster mode.
func (s *Server) clustered() bool { return s.cfg.Cluster != nil }

// leaderEpochOf is the epoch this broker leads p at (0 for a single
// broker), and false when it does not lead it.
func (s *Server) leaderEpochOf(p *partition) (int32, bool) {
	if s.cfg.Cluster == nil {
		return leaderEpoch, true
	}
	return s.cfg.Cluster.Holds(p.key())
}

// checkLeader is Kafka's check of a request for p that names the leader
// epoch the client knows (current; -1: none) against the partition's: nil
// when this broker leads p and the epochs agree, else the error to answer.
func (s *Server) checkLeader(p *partition, current int32) error {
	epoch, lead := s.leaderEpochOf(p)
	known := lead
	if !lead {
		_, epoch, known = s.cfg.Cluster.Leader(p.key())
	}
	switch {
	case !known:
		// Nobody leads it yet (its leader died and the lease is not
		// taken again yet): the client retries after Metadata.
		return kerr.NotLeaderForPartition
	case current >= 0 && current < epoch:
		return kerr.FencedLeaderEpoch
	case current > epoch:
		return kerr.UnknownLeaderEpoch
	case !lead:
		return kerr.NotLeaderForPartition
	}
	return nil
}

// LeaseKeys lists every partition's lease (cluster.Holder).
func (s *Server) LeaseKeys() []meta.LeaseKey {
	keys := s.shardKeys()
	for _, t := range s.topics.all() {
		for _, p := range t.parts {
			keys = append(keys, p.key())
		}
	}
	return keys
}

// background runs f in a goroutine Shutdown waits for (s.bg), and reports
// whether it did: not once the server is closed.
func (s *Server) background(f func()) bool {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return false
	}
	s.bg.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.bg.Done()
		f()
	}()
	return true
}

// LeaseAcquired opens the partition's log in the background: it is rebuilt
// from the bucket, so that the first request after a takeover finds it
// ready (cluster.Holder).
func (s *Server) LeaseAcquired(l meta.Lease) {
	if l.Key.Kind != meta.LeasePartition {
		s.shardAcquired(l.Key)
		return
	}
	p := s.leasedPartition(l.Key)
	if p == nil {
		return
	}
	s.background(func() {
		// A failed open (the bucket or the catalog failing while the
		// log is rebuilt) is tried again with backoff while this
		// broker leads the partition, so that it is ready when the
		// next request comes rather than rebuilt under it.
		for wait := 200 * time.Millisecond; ; wait = min(2*wait, 5*time.Second) {
			_, err := p.get(s.base)
			if err == nil || s.base.Err() != nil || errors.Is(err, storage.ErrNotLeader) || errors.Is(err, storage.ErrClosed) || errors.Is(err, storage.ErrCorrupt) {
				return
			}
			s.log.Error("opening a partition taken over failed; trying again", "topic", p.src.name, "partition", p.index, "in", wait, "err", err)
			select {
			case <-s.base.Done():
				return
			case <-time.After(wait):
			}
		}
	})
}

// LeaseReleasing stops serving the partition and closes its log
// (cluster.Holder): a commit round under way finishes; an acks=all wait for
// batches no round committed fails (storage.ErrClosed, answered
// NOT_LEADER_OR_FOLLOWER) and the client retries at the new leader. The partition
// opens again when this broker takes its lease again.
func (s *Server) LeaseReleasing(ctx context.Context, key meta.LeaseKey) {
	if key.Kind != meta.LeasePartition {
		s.shardReleasing(ctx, key)
		return
	}
	p := s.leasedPartition(key)
	if p == nil {
		return
	}
	if err := p.release(); err != nil {
		s.log.Warn("closing a partition given up failed", "topic", p.src.name, "partition", p.index, "err", err)
	}
}

// leasedPartition returns the partition of a partition lease, nil when its
// topic is gone or the lease is not a partition's.
func (s *Server) leasedPartition(key meta.LeaseKey) *partition {
	if key.Kind != meta.LeasePartition {
		return nil
	}
	t := s.topics.getID(key.TopicID)
	if t == nil {
		return nil
	}
	return t.partition(key.Partition)
}

// release closes the log if it is open and lets it open again later (a
// lease given up), unlike close.
func (p *partition) release() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := p.st.Load()
	if st == nil || st.closed {
		return nil
	}
	p.st.Store(nil)
	if st.log == nil {
		return nil
	}
	if err := st.log.Close(); err != nil && !errors.Is(err, storage.ErrClosed) {
		return err
	}
	return nil
}

// staler is a log that must be opened again before it serves more (a
// commit of the cluster mode's WAL failed: it may hold what was never
// committed).
type staler interface{ Stale() bool }

// reopenStale closes st's log and opens it again when it is stale.
func (p *partition) reopenStale(ctx context.Context, st *partState) (*partState, error) {
	p.mu.Lock()
	if p.st.Load() == st {
		p.st.Store(nil)
		if st.log != nil {
			st.log.Close()
		}
	}
	p.mu.Unlock()
	return p.open(ctx)
}

// liveNodes lists the node ids of the live brokers, this one among them
// (its session may be being renewed): this broker alone for a single
// broker.
func (s *Server) liveNodes() []int32 {
	if s.cfg.Cluster == nil {
		return []int32{s.nodeID}
	}
	bs := s.cfg.Cluster.Brokers()
	nodes := make([]int32, 0, len(bs)+1)
	for _, b := range bs {
		nodes = append(nodes, b.NodeID)
	}
	if !slices.Contains(nodes, s.nodeID) {
		nodes = append(nodes, s.nodeID)
	}
	return nodes
}

// replicasOf is what Metadata gives as the replicas of the partition of
// key in the cluster mode: its leader, then up to n-1 other live brokers
// in the order the placement would give the partition to them if the ones
// before left. Every live broker can take a partition over, as it is
// rebuilt from the bucket; the leader's successors are the ones that
// would.
func (s *Server) replicasOf(key meta.LeaseKey, leader int32, live []int32, n int) []int32 {
	out := make([]int32, 1, min(n, len(live)+1))
	out[0] = leader
	rest := slices.DeleteFunc(slices.Clone(live), func(node int32) bool { return node == leader })
	if s.cfg.Placement == nil {
		slices.Sort(rest)
	}
	for len(out) < n && len(rest) > 0 {
		i := 0
		if s.cfg.Placement != nil {
			i = max(0, slices.Index(rest, s.cfg.Placement(key, rest)))
		}
		out = append(out, rest[i])
		rest = slices.Delete(rest, i, i+1)
	}
	return out
}

// brokerAddr is a broker as Metadata, DescribeCluster and FindCoordinator
// give it.
type brokerAddr struct {
	node int32
	host string
	port int32
	rack *string
}

// brokers lists the brokers a client on c's listener can reach: this one
// alone for a single broker; in the cluster mode every live broker with an
// advertised listener of the connection's listener name (Kafka leaves out
// a broker without it), by node id.
func (s *Server) brokers(c *conn) []brokerAddr {
	host, port := c.advertised()
	self := brokerAddr{node: s.nodeID, host: host, port: port}
	if s.cfg.Cluster == nil {
		return []brokerAddr{self}
	}
	name := ""
	if c.li != nil {
		name = c.li.Name
	}
	var out []brokerAddr
	for _, b := range s.cfg.Cluster.Brokers() {
		if b.NodeID == s.nodeID {
			if b.Rack != "" {
				self.rack = &b.Rack
			}
			out = append(out, self)
			continue
		}
		for _, l := range b.Listeners {
			if l.Name == name || name == "" {
				ba := brokerAddr{node: b.NodeID, host: l.Host, port: l.Port}
				if b.Rack != "" {
					ba.rack = &b.Rack
				}
				out = append(out, ba)
				break
			}
		}
	}
	if !slices.ContainsFunc(out, func(b brokerAddr) bool { return b.node == s.nodeID }) {
		// Its session is being renewed or joined again: it still
		// answers.
		out = append(out, self)
		slices.SortFunc(out, func(a, b brokerAddr) int { return int(a.node) - int(b.node) })
	}
	return out
}

// brokerOf returns the address of node for c's listener.
func (s *Server) brokerOf(c *conn, node int32) (brokerAddr, bool) {
	for _, b := range s.brokers(c) {
		if b.node == node {
			return b, true
		}
	}
	return brokerAddr{}, false
}

// controllerID is the node id Metadata and DescribeCluster name as the
// controller: this broker alone; in the cluster mode, where the catalog
// plays the controller, the lowest live node id, so that every broker
// names the same one.
func (s *Server) controllerID(bs []brokerAddr) int32 {
	if len(bs) == 0 {
		return s.nodeID
	}
	return bs[0].node
}

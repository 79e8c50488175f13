package group

// Share partitions in the cluster mode (Config.ShareFence set). As in
// Kafka, a share group's state of a partition (acquisition locks, delivery
// counts, the share-partition start offset) is held by the partition's
// leader, whatever broker coordinates the group: ShareFetch and
// ShareAcknowledge of a partition this broker does not lead answer
// NOT_LEADER_OR_FOLLOWER, and the client looks for its leader. The group's
// membership (heartbeats, assignments) stays with its coordinator.
//
// A leader keeps its share partitions per group in c.leading (groups that
// hold share partitions only; c.groups' share groups then hold members
// only). A state is taken up under the lease this broker holds then
// (sharePart.fence), and its first use reads what the catalog stores of it
// (ShareState): a new leader goes on where the last stored state left, so
// an acknowledged record is never delivered again and a record acquired
// and not acknowledged (stored available) is. Each write of it is fenced
// by that lease (PutShareStatesFenced): a deposed leader stores nothing
// more, the acknowledgements waiting for the write answer
// NOT_LEADER_OR_FOLLOWER, and the state is dropped. A state taken up under
// another lease than the one held now (the partition lost and taken again)
// is dropped and read again.
//
// Resets by the coordinator (AlterShareGroupOffsets,
// DeleteShareGroupOffsets, DeleteGroups; allowed while the group has no
// members) are written to the catalog under the group's shard lease at
// the next state epoch (a deletion as a state reset to nothing, StartOffset
// -1), and the catalog leaves out a leader's later write at an older
// epoch; a leader drops a group's idle states (stored, none acquired) when
// a share session of the group opens there with no other open, so that it
// reads them again.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/streamhouse/streamhouse/meta"
)

// clustered reports whether share partitions are held by their leaders.
func (c *Coordinator) clustered() bool { return c.cfg.ShareFence != nil }

// shareHosts lists the groups that hold share partitions (and offsets):
// c.groups, and in the cluster mode c.leading. Caller holds c.mu.
func (c *Coordinator) shareHosts() []*group {
	out := make([]*group, 0, len(c.groups)+len(c.leading))
	for _, g := range c.groups {
		out = append(out, g)
	}
	for _, g := range c.leading {
		out = append(out, g)
	}
	return out
}

// shareHostLocked returns the group that holds name's share partitions on
// this broker; nil when none does. Caller holds c.mu.
func (c *Coordinator) shareHostLocked(name string) *group {
	if c.clustered() {
		return c.leading[name]
	}
	return c.groups[name]
}

// leadingLocked returns the holder of name's share partitions this broker
// leads, creating it. Caller holds c.mu.
func (c *Coordinator) leadingLocked(name string) *group {
	g := c.leading[name]
	if g == nil {
		g = newGroup(name, c.now())
		g.typ = typeShare
		c.leading[name] = g
	}
	return g
}

// leaderFence is the lease under which this broker leads pk: the zero
// fence for a single broker; NOT_LEADER_OR_FOLLOWER when another broker
// leads it.
func (c *Coordinator) leaderFence(pk sharePK) (meta.Fence, *kerr.Error) {
	if !c.clustered() {
		return meta.Fence{}, nil
	}
	f, ok := c.cfg.ShareFence(pk.topicID, pk.partition)
	if !ok {
		return f, kerr.NotLeaderForPartition
	}
	return f, nil
}

// leaderPartLocked is sharePartLocked under fence f: a state taken up
// under another lease is dropped first, and a new one is read from the
// catalog at its first use (loadShare). Caller holds c.mu.
func (c *Coordinator) leaderPartLocked(g *group, pk sharePK, f meta.Fence) *sharePart {
	if !c.clustered() {
		return c.sharePartLocked(g, pk)
	}
	if sp := g.shares[pk]; sp != nil {
		sp.mu.Lock()
		same := sp.fence == f && !sp.dropped
		sp.mu.Unlock()
		if same {
			return sp
		}
		c.dropPartLocked(g, pk, sp)
	}
	sp := &sharePart{group: g.name, topicID: pk.topicID, partition: pk.partition, fence: f, needLoad: c.cfg.ShareStates != nil}
	g.shares[pk] = sp
	return sp
}

// dropPartLocked forgets sp, leaving the catalog's state of it as it is.
// Caller holds c.mu.
func (c *Coordinator) dropPartLocked(g *group, pk sharePK, sp *sharePart) {
	sp.mu.Lock()
	sp.dropped = true
	if sp.lockTimer != nil {
		sp.lockTimer.Stop()
		sp.lockTimer, sp.lockAt = nil, time.Time{}
	}
	sp.mu.Unlock()
	if g.shares[pk] == sp {
		delete(g.shares, pk)
	}
}

// loadShare reads sp's stored state at its first use (the cluster mode);
// KAFKA_STORAGE_ERROR when the catalog cannot be read (the next fetch
// tries again).
func (c *Coordinator) loadShare(ctx context.Context, sp *sharePart) *kerr.Error {
	sp.mu.Lock()
	need := sp.needLoad
	sp.mu.Unlock()
	if !need {
		return nil
	}
	st, ok, err := c.cfg.ShareStates.ShareState(ctx, sp.key())
	if err != nil {
		c.log.Log(ctx, meta.LogLevel(err, slog.LevelWarn), "reading a share partition's state failed", "group", sp.group, "partition", sp.partition, "err", err)
		return kerr.KafkaStorageError
	}
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if sp.needLoad {
		sp.needLoad = false
		if ok {
			sp.loadLocked(st)
		}
	}
	return nil
}

// retireIdleLocked drops g's share partitions that are stored and have no
// records acquired, so that they are read again from the catalog (which a
// reset by the coordinator may have changed) at their next use. Called as
// a share session of the group opens with no other open on this broker.
// Caller holds c.mu.
func (c *Coordinator) retireIdleLocked(g *group) {
	if !c.clustered() {
		return
	}
	for pk, sp := range g.shares {
		sp.mu.Lock()
		idle := sp.written >= sp.seq && sp.acquired == 0 && !sp.needLoad
		sp.mu.Unlock()
		if idle {
			c.dropPartLocked(g, pk, sp)
		}
	}
}

// groupSessionsLocked counts the open share sessions of group on this
// broker. Caller holds c.mu.
func (c *Coordinator) groupSessionsLocked(group string) int {
	n := 0
	for k := range c.sessions {
		if k.group == group {
			n++
		}
	}
	return n
}

// shareWrite is one share partition's write in a writer's round.
type shareWrite struct {
	sp    *sharePart
	seq   uint64
	state *meta.ShareState        // stored
	del   *meta.SharePartitionKey // or deleted
}

// storeShares writes the rounds' share partition states: in one call for
// a single broker; in the cluster mode one call per lease, the leases at
// once (a catalog may share a transaction among them). It returns the
// partitions whose lease was lost (not stored) and the first other error.
func (c *Coordinator) storeShares(ctx context.Context, writes []shareWrite) (map[*sharePart]bool, error) {
	type call struct {
		states  []meta.ShareState
		deletes []meta.SharePartitionKey
		sps     []*sharePart
	}
	calls := map[meta.Fence]*call{}
	for _, w := range writes {
		var f meta.Fence
		if c.clustered() {
			f = w.sp.fence
		}
		k := calls[f]
		if k == nil {
			k = &call{}
			calls[f] = k
		}
		if w.state != nil {
			k.states = append(k.states, *w.state)
		} else {
			k.deletes = append(k.deletes, *w.del)
		}
		k.sps = append(k.sps, w.sp)
	}
	if !c.clustered() {
		var err error
		for _, k := range calls {
			err = c.cfg.ShareStates.PutShareStates(ctx, k.states, k.deletes)
		}
		return nil, err
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	fenced := map[*sharePart]bool{}
	var first error
	for f, k := range calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := c.cfg.ShareStates.PutShareStatesFenced(ctx, f, k.states, k.deletes)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case errors.Is(err, meta.ErrFenced):
				for _, sp := range k.sps {
					fenced[sp] = true
				}
			case err != nil && first == nil:
				first = err
			}
		}()
	}
	wg.Wait()
	return fenced, first
}

// coordinatorFence is the lease group's coordinator writes under (the
// cluster mode's resets of share states).
func (c *Coordinator) coordinatorFence(group string) (meta.Fence, error) {
	if c.cfg.Fence == nil {
		return meta.Fence{}, fmt.Errorf("group %q: no coordinator lease: %w", group, meta.ErrFenced)
	}
	f, ok := c.cfg.Fence(group)
	if !ok {
		return f, fmt.Errorf("group %q: its coordinator shard is not held here: %w", group, meta.ErrFenced)
	}
	return f, nil
}

// storedShares returns the catalog's share states of group, by partition
// (the cluster mode's coordinator, which holds none itself).
func (c *Coordinator) storedShares(ctx context.Context, group string) (map[sharePK]meta.ShareState, error) {
	all, err := c.cfg.ShareStates.ShareStates(ctx)
	if err != nil {
		return nil, err
	}
	out := map[sharePK]meta.ShareState{}
	for _, s := range all {
		if s.Group == group {
			out[sharePK{s.TopicID, s.Partition}] = s
		}
	}
	return out, nil
}

// resetShares writes, as group's coordinator, states and deletes of its
// share partitions to the catalog (the cluster mode's resets): nil, or the
// Kafka error to answer.
func (c *Coordinator) resetShares(ctx context.Context, group string, states []meta.ShareState, deletes []meta.SharePartitionKey) *kerr.Error {
	if len(states) == 0 && len(deletes) == 0 {
		return nil
	}
	f, err := c.coordinatorFence(group)
	if err == nil {
		err = c.cfg.ShareStates.PutShareStatesFenced(ctx, f, states, deletes)
	}
	switch {
	case errors.Is(err, meta.ErrFenced):
		return kerr.NotCoordinator
	case err != nil:
		c.log.Log(ctx, meta.LogLevel(err, slog.LevelError), "resetting share partitions' states failed", "group", group, "err", err)
		return kerr.KafkaStorageError
	}
	// This broker's own states of them, if it leads some, are read again.
	c.mu.Lock()
	if g := c.leading[group]; g != nil {
		for _, s := range states {
			pk := sharePK{s.TopicID, s.Partition}
			if sp := g.shares[pk]; sp != nil {
				c.dropPartLocked(g, pk, sp)
			}
		}
		for _, d := range deletes {
			pk := sharePK{d.TopicID, d.Partition}
			if sp := g.shares[pk]; sp != nil {
				c.dropPartLocked(g, pk, sp)
			}
		}
	}
	c.mu.Unlock()
	return nil
}

// deleteStoredShares deletes, as group's coordinator, the catalog's
// states of its partitions of the topics in topics (all when nil).
func (c *Coordinator) deleteStoredShares(ctx context.Context, group string, topics map[[16]byte]bool) *kerr.Error {
	stored, err := c.storedShares(ctx, group)
	if err != nil {
		c.log.Log(ctx, meta.LogLevel(err, slog.LevelError), "reading share partitions' states failed", "group", group, "err", err)
		return kerr.KafkaStorageError
	}
	// Reset to nothing at the next state epoch rather than deleted, so
	// that a leader's write of what it held before cannot bring the
	// state back (meta.ShareStates leaves out writes at older epochs).
	var resets []meta.ShareState
	for pk, st := range stored {
		if (topics == nil || topics[pk.topicID]) && st.StartOffset >= 0 {
			resets = append(resets, meta.ShareState{Group: group, TopicID: pk.topicID, Partition: pk.partition, StateEpoch: st.StateEpoch + 1, StartOffset: -1})
		}
	}
	return c.resetShares(ctx, group, resets, nil)
}

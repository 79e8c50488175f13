package group

// Membership in the catalog (meta.Groups), so that a broker that starts
// again knows its groups and their members carry on without a rebalance,
// as Kafka's coordinator does when it loads __consumer_offsets.
//
// Every change of a group's membership state (a member joins, leaves or
// expires, a generation or epoch moves, an assignment is handed out) marks
// the group dirty under c.mu (touchLocked) and wakes the writer: one
// goroutine that takes every dirty group, snapshots each under c.mu, and
// stores them in one PutGroups call (deleted groups with DeleteGroups
// first), so concurrent changes share a catalog commit. Each change has a
// sequence number per group; a group's written number says what is
// durable. An answer that tells a client a state it must find again after
// a restart (a SyncGroup's assignment, a KIP-848 heartbeat's epoch and
// partitions, a deleted group) waits until that state is durable (durable);
// other answers do not wait, as in Kafka, where a JoinGroup's new
// generation is stored only with the leader's assignment.
//
// A write that fails is retried a second later; the answers waiting for it
// get COORDINATOR_NOT_AVAILABLE, which clients retry.
//
// Loading (loadLocked): a classic group stored Stable is Stable again with
// its generation, leader and assignments, and each member's session timer
// starts at the load; one stored while a rebalance ran is loaded preparing
// a rebalance (its joins were lost with the connections) with the rebalance
// timer running; one without members is Empty. KIP-848 members keep their
// epochs, assignments and pending revocations, with their session (and
// revocation) timers started at the load. A member that does not come back
// is removed when its timer fires, as Kafka removes it.

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"regexp"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/streamhouse/streamhouse/meta"
)

// writeTimeout bounds one round of the writer.
const writeTimeout = 10 * time.Second

// retryDelay is how long the writer waits after a failed round.
const retryDelay = time.Second

// persistence is the writer's state. Guarded by Coordinator.mu, except the
// channels, which are set once in New.
type persistence struct {
	dirty map[*group]struct{}
	// dirtyShare are the share partitions to store; guarded by smu
	// alone, which is taken last of all the locks.
	smu        sync.Mutex
	dirtyShare map[*sharePart]struct{}
	// round is closed at the end of the writer's round running now (or
	// of the next one), and replaced.
	round chan struct{}

	wake chan struct{} // cap 1: the writer has work
	stop chan struct{} // closed by Close: write what is dirty and end
	done chan struct{} // closed when the writer has ended
}

// touchLocked records a change of g's membership state and returns its
// sequence number. Caller holds c.mu.
func (c *Coordinator) touchLocked(g *group) uint64 {
	if c.cfg.Groups == nil || g.gone {
		return 0
	}
	g.seq++
	c.p.dirty[g] = struct{}{}
	select {
	case c.p.wake <- struct{}{}:
	default:
	}
	return g.seq
}

// touchShareLocked records a change of sp's state and returns its sequence
// number. Caller holds sp.mu.
func (c *Coordinator) touchShareLocked(sp *sharePart) uint64 {
	if c.cfg.ShareStates == nil {
		return 0
	}
	sp.seq++
	c.p.smu.Lock()
	c.p.dirtyShare[sp] = struct{}{}
	c.p.smu.Unlock()
	select {
	case c.p.wake <- struct{}{}:
	default:
	}
	return sp.seq
}

// durableShare is durable for a share partition's state.
func (c *Coordinator) durableShare(ctx context.Context, sp *sharePart, seq uint64) *kerr.Error {
	for {
		// The round first, then the check: a write that lands after
		// the check closes the round taken.
		c.mu.Lock()
		round := c.p.round
		c.mu.Unlock()
		sp.mu.Lock()
		written, failed := sp.written, sp.failed
		sp.mu.Unlock()
		sp.mu.Lock()
		lost := sp.fenced >= seq
		sp.mu.Unlock()
		switch {
		case c.cfg.ShareStates == nil || written >= seq:
			return nil
		case lost:
			return kerr.NotLeaderForPartition
		case failed >= seq:
			return kerr.KafkaStorageError
		}
		select {
		case <-round:
		case <-c.p.done:
			sp.mu.Lock()
			ok := sp.written >= seq
			sp.mu.Unlock()
			if ok {
				return nil
			}
			return errCoordinatorNotAvailable
		case <-ctx.Done():
			return errCoordinatorNotAvailable
		}
	}
}

// durable waits until g's state is durable up to seq: nil once it is, the
// write's error if the write of that state failed, COORDINATOR_NOT_AVAILABLE
// if the coordinator closed first, ctx's error if ctx ends.
func (c *Coordinator) durable(ctx context.Context, g *group, seq uint64) *kerr.Error {
	for {
		c.mu.Lock()
		if c.cfg.Groups == nil || g.written >= seq {
			c.mu.Unlock()
			return nil
		}
		if g.fenced >= seq {
			c.mu.Unlock()
			return errNotCoordinator
		}
		if g.failed >= seq {
			c.mu.Unlock()
			return errCoordinatorNotAvailable
		}
		round := c.p.round
		c.mu.Unlock()
		select {
		case <-round:
		case <-c.p.done:
			c.mu.Lock()
			ok := g.written >= seq
			c.mu.Unlock()
			if ok {
				return nil
			}
			return errCoordinatorNotAvailable
		case <-ctx.Done():
			return errCoordinatorNotAvailable
		}
	}
}

// durableLocked is durable for the state g has now; the caller holds c.mu
// and gets it back held.
func (c *Coordinator) durableLocked(ctx context.Context, g *group) *kerr.Error {
	if c.cfg.Groups == nil || g.written >= g.seq {
		return nil
	}
	seq := g.seq
	c.mu.Unlock()
	defer c.mu.Lock()
	return c.durable(ctx, g, seq)
}

// writeLoop is the writer: a round for each wake-up until Close, then a last
// round for what is still dirty.
func (c *Coordinator) writeLoop() {
	defer close(c.p.done)
	var retry <-chan time.Time
	for {
		select {
		case <-c.p.wake:
		case <-retry:
		case <-c.p.stop:
			c.writeRound()
			return
		}
		retry = nil
		if !c.writeRound() {
			retry = time.After(retryDelay)
		}
	}
}

// writeRound stores every dirty group and reports whether it succeeded.
func (c *Coordinator) writeRound() bool {
	c.p.smu.Lock()
	shares := make([]*sharePart, 0, len(c.p.dirtyShare))
	for sp := range c.p.dirtyShare {
		shares = append(shares, sp)
	}
	clear(c.p.dirtyShare)
	c.p.smu.Unlock()
	c.mu.Lock()
	if len(c.p.dirty) == 0 && len(shares) == 0 {
		c.mu.Unlock()
		return true
	}
	var puts []meta.GroupMetadata
	var dels, classicDels []string
	seqs := make(map[*group]uint64, len(c.p.dirty))
	var tombs map[*group]bool // groups whose classic record gets a tombstone
	for g := range c.p.dirty {
		seqs[g] = g.seq
		switch {
		case g.state == Dead:
			dels = append(dels, g.name)
			if g.typ == typeClassic {
				classicDels = append(classicDels, g.name)
			}
		case g.typ != "":
			puts = append(puts, c.metadataLocked(g))
			if g.upgraded && g.typ == typeConsumer {
				// __consumer_offsets forgets its classic record.
				classicDels = append(classicDels, g.name)
				g.upgraded = false
				if tombs == nil {
					tombs = make(map[*group]bool)
				}
				tombs[g] = true
			}
		}
	}
	clear(c.p.dirty)
	c.mu.Unlock()
	var writes []shareWrite
	shareSeqs := make(map[*sharePart]uint64, len(shares))
	now := c.now()
	for _, sp := range shares {
		sp.mu.Lock()
		shareSeqs[sp] = sp.seq
		switch {
		case sp.deleted:
			k := sp.key()
			writes = append(writes, shareWrite{sp: sp, del: &k})
		case sp.loaded:
			st := sp.stateLocked(now)
			writes = append(writes, shareWrite{sp: sp, state: &st})
		}
		sp.mu.Unlock()
	}

	ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
	defer cancel()
	fenced, err := c.storeGroups(ctx, puts, dels)
	var lostShares map[*sharePart]bool
	if err == nil && len(writes) > 0 {
		lostShares, err = c.storeShares(ctx, writes)
	}
	for sp, seq := range shareSeqs {
		sp.mu.Lock()
		switch {
		case lostShares[sp]:
			// The partition's lease is lost: the new leader's
			// state stands; this one is dropped (below).
			sp.failed, sp.fenced = max(sp.failed, seq), max(sp.fenced, seq)
		case err == nil:
			sp.written = max(sp.written, seq)
		default:
			sp.failed = max(sp.failed, seq)
		}
		sp.mu.Unlock()
		if err != nil && !lostShares[sp] {
			c.p.smu.Lock()
			c.p.dirtyShare[sp] = struct{}{}
			c.p.smu.Unlock()
		}
	}
	if len(lostShares) > 0 {
		c.log.Warn("storing share partitions' states was fenced: this broker no longer leads them", "partitions", len(lostShares))
		c.mu.Lock()
		for sp := range lostShares {
			if g := c.leading[sp.group]; g != nil {
				c.dropPartLocked(g, sharePK{sp.topicID, sp.partition}, sp)
			}
		}
		c.mu.Unlock()
	}

	c.mu.Lock()
	for g, seq := range seqs {
		switch {
		case fenced[g.name]:
			// This broker lost the group's shard: the new
			// coordinator's rows stand, and the group goes when the
			// shard is given up here (Abandon).
			g.failed, g.fenced = max(g.failed, seq), max(g.fenced, seq)
		case err == nil:
			g.written = max(g.written, seq)
		default:
			g.failed = max(g.failed, seq)
			c.p.dirty[g] = struct{}{}
			g.upgraded = g.upgraded || tombs[g]
		}
	}
	// A waiter whose change came after this round's snapshot waits on
	// for the next round: its group is dirty again, the writer awake.
	close(c.p.round)
	c.p.round = make(chan struct{})
	c.mu.Unlock()
	if err != nil {
		c.log.Log(ctx, meta.LogLevel(err, slog.LevelError), "storing groups' membership failed; retrying", "groups", len(seqs), "err", err)
		return false
	}
	if len(fenced) > 0 {
		c.log.Warn("storing groups' membership was fenced: this broker no longer holds their coordinator shard", "groups", len(fenced))
		puts = slices.DeleteFunc(puts, func(md meta.GroupMetadata) bool { return fenced[md.Group] })
		classicDels = slices.DeleteFunc(classicDels, func(name string) bool { return fenced[name] })
	}
	c.mirrorGroups(ctx, puts, classicDels)
	return true
}

// storeGroups deletes dels and stores puts (a group deleted and created
// again under its name is in both: the delete goes first). With
// Config.Fence, each shard's groups are written under its lease, the
// shards at once (a catalog may share one transaction among them): it
// returns the groups whose shard's lease was lost, which are not stored,
// and the first other error.
func (c *Coordinator) storeGroups(ctx context.Context, puts []meta.GroupMetadata, dels []string) (map[string]bool, error) {
	if c.cfg.Fence == nil {
		if len(dels) > 0 {
			if err := c.cfg.Groups.DeleteGroups(ctx, dels); err != nil {
				return nil, err
			}
		}
		if len(puts) > 0 {
			return nil, c.cfg.Groups.PutGroups(ctx, puts)
		}
		return nil, nil
	}
	type shard struct {
		puts []meta.GroupMetadata
		dels []string
	}
	shards := map[meta.Fence]*shard{}
	fenced := map[string]bool{}
	of := func(name string) *shard {
		f, ok := c.cfg.Fence(name)
		if !ok {
			fenced[name] = true
			return nil
		}
		sh := shards[f]
		if sh == nil {
			sh = &shard{}
			shards[f] = sh
		}
		return sh
	}
	for _, name := range dels {
		if sh := of(name); sh != nil {
			sh.dels = append(sh.dels, name)
		}
	}
	for _, md := range puts {
		if sh := of(md.Group); sh != nil {
			sh.puts = append(sh.puts, md)
		}
	}
	var mu sync.Mutex
	var first error
	var wg sync.WaitGroup
	for f, sh := range shards {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			if len(sh.dels) > 0 {
				err = c.cfg.Groups.DeleteGroupsFenced(ctx, f, sh.dels)
			}
			if err == nil && len(sh.puts) > 0 {
				err = c.cfg.Groups.PutGroupsFenced(ctx, f, sh.puts)
			}
			mu.Lock()
			defer mu.Unlock()
			switch {
			case errors.Is(err, meta.ErrFenced):
				for _, name := range sh.dels {
					fenced[name] = true
				}
				for _, md := range sh.puts {
					fenced[md.Group] = true
				}
			case err != nil && first == nil:
				first = err
			}
		}()
	}
	wg.Wait()
	return fenced, first
}

// metadataLocked is g's state as the catalog stores it.
func (c *Coordinator) metadataLocked(g *group) meta.GroupMetadata {
	md := meta.GroupMetadata{Group: g.name, Type: g.typ, UpdateTime: c.now().Truncate(time.Millisecond)}
	switch g.typ {
	case typeClassic:
		md.State = g.state.String()
		md.ProtocolType, md.Protocol, md.Generation, md.Leader = g.protocolType, g.protocol, g.generation, g.leader
		for _, id := range slices.Sorted(maps.Keys(g.members)) {
			m := g.members[id]
			gm := meta.GroupMember{
				ID: m.id, InstanceID: m.instanceID, ClientID: m.clientID, ClientHost: m.clientHost,
				SessionTimeoutMs:   int32(m.sessionTimeout.Milliseconds()),
				RebalanceTimeoutMs: int32(m.rebalanceTimeout.Milliseconds()),
				ProtocolType:       m.protocolType, Assignment: m.assignment,
			}
			for _, p := range m.protocols {
				gm.Protocols = append(gm.Protocols, meta.GroupProtocol{Name: p.name, Metadata: p.metadata})
			}
			md.Members = append(md.Members, gm)
		}
	case typeShare:
		md.State = g.shareStateLocked()
		md.Epoch, md.AssignmentEpoch, md.Assignor, md.SubscriptionHash = g.epoch, g.assignEpoch, "simple", []byte(g.topicSig)
		for _, id := range slices.Sorted(maps.Keys(g.smembers)) {
			m := g.smembers[id]
			md.Members = append(md.Members, meta.GroupMember{
				ID: m.id, ClientID: m.clientID, ClientHost: m.clientHost, RackID: m.rackID,
				Epoch: m.epoch, PreviousEpoch: m.prevEpoch,
				SubscribedTopics: slices.Clone(m.names), Assigned: m.assigned.toMeta(),
			})
		}
	case typeConsumer:
		md.State = g.consumerStateLocked()
		md.Epoch, md.AssignmentEpoch, md.Assignor, md.SubscriptionHash = g.epoch, g.assignEpoch, g.assignor, []byte(g.topicSig)
		for _, id := range slices.Sorted(maps.Keys(g.cmembers)) {
			sm := g.cmembers[id].stored()
			sm.SubscribedTopics = slices.Clone(sm.SubscribedTopics)
			md.Members = append(md.Members, sm)
		}
	}
	return md
}

func (a assignment) toMeta() []meta.GroupPartitions {
	var out []meta.GroupPartitions
	for _, id := range a.ids() {
		out = append(out, meta.GroupPartitions{TopicID: id, Partitions: slices.Clone(a[id])})
	}
	return out
}

func fromMeta(ps []meta.GroupPartitions) assignment {
	a := make(assignment, len(ps))
	for _, p := range ps {
		if len(p.Partitions) > 0 {
			a[p.TopicID] = slices.Clone(p.Partitions)
		}
	}
	return a
}

// loadLocked rebuilds a stored group, its timers started now. Caller holds
// c.mu.
func (c *Coordinator) loadLocked(md meta.GroupMetadata) {
	g := c.groups[md.Group]
	if g == nil {
		g = c.newGroupLocked(md.Group)
	}
	switch md.Type {
	case typeClassic:
		g.typ = typeClassic
		g.protocolType, g.protocol, g.generation, g.leader = md.ProtocolType, md.Protocol, md.Generation, md.Leader
		for _, sm := range md.Members {
			m := &member{
				id: sm.ID, instanceID: sm.InstanceID, clientID: sm.ClientID, clientHost: sm.ClientHost,
				sessionTimeout:   time.Duration(sm.SessionTimeoutMs) * time.Millisecond,
				rebalanceTimeout: time.Duration(sm.RebalanceTimeoutMs) * time.Millisecond,
				protocolType:     sm.ProtocolType, assignment: sm.Assignment,
			}
			for _, p := range sm.Protocols {
				m.protocols = append(m.protocols, protocol{p.Name, p.Metadata})
			}
			g.members[m.id] = m
			if m.instanceID != "" {
				g.static[m.instanceID] = m.id
			}
		}
		switch {
		case len(g.members) == 0:
			g.state, g.leader = Empty, ""
			g.emptySince = md.UpdateTime
		case md.State == Stable.String():
			g.state = Stable
		default:
			// The joins and syncs of the rebalance went with the
			// connections: the members rejoin (their heartbeats
			// say REBALANCE_IN_PROGRESS) or go when it times out.
			g.state = PreparingRebalance
			for _, m := range g.members {
				m.assignment = nil
			}
			g.joinTimer = c.afterFunc(g.maxRebalanceTimeoutLocked(), func() { c.joinTimeout(g) })
		}
		for _, m := range g.members {
			c.heartbeatLocked(g, m)
		}
	case typeConsumer:
		g.typ = typeConsumer
		g.cmembers = make(map[string]*cmember, len(md.Members))
		g.epoch, g.assignEpoch, g.assignor, g.topicSig = md.Epoch, md.AssignmentEpoch, md.Assignor, string(md.SubscriptionHash)
		for _, sm := range md.Members {
			m := &cmember{
				id: sm.ID, instanceID: sm.InstanceID, rackID: sm.RackID, clientID: sm.ClientID, clientHost: sm.ClientHost,
				epoch: sm.Epoch, prevEpoch: sm.PreviousEpoch,
				rebalanceTimeout: time.Duration(sm.RebalanceTimeoutMs) * time.Millisecond,
				names:            sm.SubscribedTopics, regex: sm.SubscribedRegex, assignor: sm.ServerAssignor,
				assigned: fromMeta(sm.Assigned), revoking: fromMeta(sm.Revoking), target: fromMeta(sm.Target),
			}
			if m.regex != "" {
				// Compiled when it was stored: it compiles again.
				m.re, _ = regexp.Compile("^(?:" + m.regex + ")$")
			}
			if sm.ProtocolType != "" && len(sm.Protocols) > 0 {
				m.classic = &classicMeta{session: time.Duration(sm.SessionTimeoutMs) * time.Millisecond}
				for _, p := range sm.Protocols {
					m.classic.protocols = append(m.classic.protocols, protocol{p.Name, p.Metadata})
				}
			}
			g.cmembers[m.id] = m
			c.consumerHeartbeatLocked(g, m)
			if len(m.revoking) > 0 {
				c.revocationTimerLocked(g, m)
			}
		}
		if len(g.cmembers) == 0 {
			g.emptySince = md.UpdateTime
		}
	case typeShare:
		g.typ = typeShare
		g.epoch, g.assignEpoch, g.topicSig = md.Epoch, md.AssignmentEpoch, string(md.SubscriptionHash)
		timeout := c.shareConfig(md.Group).SessionTimeout
		for _, sm := range md.Members {
			m := &smember{
				id: sm.ID, rackID: sm.RackID, clientID: sm.ClientID, clientHost: sm.ClientHost,
				epoch: sm.Epoch, prevEpoch: sm.PreviousEpoch, names: sm.SubscribedTopics, assigned: fromMeta(sm.Assigned),
			}
			g.smembers[m.id] = m
			c.shareHeartbeatLocked(g, m, timeout)
		}
		if len(g.smembers) == 0 {
			g.emptySince = md.UpdateTime
		}
	default:
		c.log.Warn("stored group of an unknown type ignored", "group", md.Group, "type", md.Type)
		return
	}
	// What was loaded is what is stored.
	g.seq, g.written = 1, 1
}

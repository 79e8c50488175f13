// Package group is the group coordinator: Kafka's classic consumer group
// protocol (JoinGroup, SyncGroup, Heartbeat, LeaveGroup) with its state
// machine, KIP-848 consumer groups with server-side assignment
// (ConsumerGroupHeartbeat, ConsumerGroupDescribe; consumer.go), and
// committed offsets (OffsetCommit, OffsetFetch, OffsetDelete) kept in
// memory and written through to the catalog. It knows nothing of
// connections: the broker hands it decoded requests with the client's id
// and host and writes back the responses it returns.
//
// States, as Kafka's ClassicGroupState:
//
//	Empty                no members; may hold committed offsets
//	PreparingRebalance   waiting for members to (re)join
//	CompletingRebalance  joined; waiting for the leader's SyncGroup
//	Stable               assignments handed out; heartbeats keep members
//	Dead                 removed (deleted, or expired with no offsets)
//
// One mutex guards all groups; JoinGroup and SyncGroup wait for the
// rebalance outside it, on a channel per member. Timers (session, rebalance,
// initial delay) run their callbacks under the same mutex.
package group

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/streamhouse/streamhouse/batch"
	"github.com/streamhouse/streamhouse/meta"
)

// State is a classic group's state.
type State int8

const (
	Empty State = iota
	PreparingRebalance
	CompletingRebalance
	Stable
	Dead
)

// String is the state's name as Kafka reports it (DescribeGroups,
// ListGroups).
func (s State) String() string {
	switch s {
	case Empty:
		return "Empty"
	case PreparingRebalance:
		return "PreparingRebalance"
	case CompletingRebalance:
		return "CompletingRebalance"
	case Stable:
		return "Stable"
	default:
		return "Dead"
	}
}

// Topics is what the coordinator needs to know of the broker's topics.
type Topics interface {
	// PartitionExists reports whether the topic has that partition.
	PartitionExists(topic string, partition int32) bool
	// TopicName returns the name of the topic with that ID.
	TopicName(id [16]byte) (string, bool)
	// TopicID returns the ID of the named topic.
	TopicID(name string) ([16]byte, bool)
	// Partitions returns the named topic's ID and partition count.
	Partitions(name string) (id [16]byte, n int32, ok bool)
	// Names returns every topic's name, for regex subscriptions.
	Names() []string
}

// Config is what a Coordinator is built from.
type Config struct {
	// Store persists committed offsets.
	Store meta.Offsets
	// Groups persists groups' membership (persist.go); nil keeps it in
	// memory only.
	Groups meta.Groups
	// OffsetsLog, when set, gets Kafka's records of every commit and
	// classic group change (__consumer_offsets; offsetslog.go).
	OffsetsLog OffsetsLog
	// ShareLogs reads partitions for share groups' fetches; nil serves
	// no share fetches. ShareStates persists share partitions' states
	// (nil: memory only). ShareConfig gives a share group's configs
	// (nil: Kafka's defaults).
	ShareLogs   ShareLogs
	ShareStates meta.ShareStates
	// GroupConfigs stores groups' configs (groupconfigs.go); nil keeps
	// them in memory only. ResolveShare makes a share group's configs of
	// its explicit ones and the broker's defaults (nil: Kafka's
	// defaults, the explicit ones ignored).
	GroupConfigs meta.GroupConfigs
	ResolveShare func(explicit map[string]string) ShareConfig
	// ShareMaxSize, SharePartitionMaxRecordLocks and ShareMaxSessions
	// are group.share.max.size, group.share.partition.max.record.locks
	// and group.share.max.share.sessions.
	ShareMaxSize, SharePartitionMaxRecordLocks, ShareMaxSessions int
	// Topics answers which partitions exist.
	Topics Topics
	// InitialRebalanceDelay is group.initial.rebalance.delay.ms: how long
	// the first rebalance of an empty group waits for more members.
	InitialRebalanceDelay time.Duration
	// MinSessionTimeout and MaxSessionTimeout are
	// group.min.session.timeout.ms and group.max.session.timeout.ms.
	MinSessionTimeout, MaxSessionTimeout time.Duration
	// MaxSize is group.max.size.
	MaxSize int
	// OffsetsRetention is offsets.retention.minutes: offsets of a group
	// that has been empty this long, and not committed for as long, go.
	OffsetsRetention time.Duration
	// OffsetMetadataMaxBytes is offset.metadata.max.bytes.
	OffsetMetadataMaxBytes int
	// ConsumerHeartbeatInterval and ConsumerSessionTimeout are
	// group.consumer.heartbeat.interval.ms and
	// group.consumer.session.timeout.ms (KIP-848 groups).
	ConsumerHeartbeatInterval, ConsumerSessionTimeout time.Duration
	// MigrationPolicy is group.consumer.migration.policy: which online
	// conversions of a group with members between the classic and the
	// consumer protocol are allowed (migrate.go). Empty: bidirectional,
	// Kafka's default.
	MigrationPolicy string
	// PendingTxnOffset reports whether an open transaction holds an
	// offset of the group's partition that is not committed yet
	// (OffsetFetch's require_stable). Nil: none ever is.
	PendingTxnOffset func(group, topic string, partition int32) bool
	// Owns, when set, says which groups this coordinator coordinates
	// (the cluster mode: those of the shards its broker holds); New
	// loads only those, Adopt and Abandon (shards.go) follow the
	// shards. Nil: every group.
	Owns func(group string) bool
	// ShareFence, when set (the cluster mode), gives the lease of a
	// partition this broker leads, false for one it does not: share
	// fetches and acknowledgements of a partition are served by its
	// leader only (NOT_LEADER_OR_FOLLOWER elsewhere), which holds the
	// share groups' states of it, loads them from ShareStates when it
	// first serves them, and stores them fenced by that lease.
	ShareFence func(topicID [16]byte, partition int32) (meta.Fence, bool)
	// Fence, when set, gives the lease group's offsets are committed
	// under (the cluster mode: its shard's, as this broker holds it), and
	// false when this broker holds it no more: commits then go through
	// Store.CommitOffsetsFenced, so that a coordinator that lost its
	// shard (paused, or cut off while another took it) stores nothing
	// and answers NOT_COORDINATOR. Nil: unfenced.
	Fence  func(group string) (meta.Fence, bool)
	Logger *slog.Logger
	// Clock is the broker's clock, the coordinator's timers included.
	// Nil: SystemClock. Now, when set, is used for timestamps instead of
	// Clock's.
	Clock Clock
	Now   func() time.Time
}

// Coordinator holds every group. Build it with New.
type Coordinator struct {
	cfg   Config
	log   *slog.Logger
	now   func() time.Time
	clock Clock

	mu       sync.Mutex
	groups   map[string]*group
	sessions map[sessKey]*shareSession
	// connSessions are the share sessions of each connection.
	connSessions map[any]map[sessKey]struct{}
	// leading holds, in the cluster mode (Config.ShareFence set), the
	// share partitions this broker leads, per share group, whatever
	// broker coordinates the group (leadshare.go); c.groups' share groups
	// then hold members only.
	leading map[string]*group
	closed  bool
	p       persistence

	// wakeCh is closed (and replaced) when share records become
	// available again; wakeMu guards it and is taken last.
	wakeMu sync.Mutex
	wakeCh chan struct{}

	// confs is the groups' configs (groupconfigs.go), guarded by confMu
	// (taken last, as wakeMu).
	confMu sync.Mutex
	confs  map[string]groupConf
}

type tp struct {
	topic     string
	partition int32
}

type offset struct {
	offset      int64
	leaderEpoch int32
	metadata    string
	commitTime  time.Time
}

// group is one consumer group. Guarded by Coordinator.mu, except commitMu.
type group struct {
	name         string
	state        State
	protocolType string
	protocol     string // chosen at the last completed join
	generation   int32
	leader       string
	members      map[string]*member
	static       map[string]string // group.instance.id -> member id
	pending      map[string]*timer // member ids handed out with MEMBER_ID_REQUIRED
	joinTimer    *timer            // rebalance or initial delay
	joinDeadline time.Time         // end of the initial delay's extension
	offsets      map[tp]offset
	emptySince   time.Time

	// typ is "classic" or "consumer" (KIP-848) once a member joined;
	// empty for a group that only holds offsets.
	typ         string
	epoch       int32 // KIP-848 group epoch
	assignEpoch int32 // epoch of the current target assignment
	assignor    string
	cmembers    map[string]*cmember
	topicSig    string // subscribed topics' IDs and sizes at the last target computation
	// upgraded is set when the group turned from classic to consumer
	// (migrate.go), until its next write: its classic record in
	// __consumer_offsets gets a tombstone then.
	upgraded bool

	// Share groups (typ "share"): members, and the partitions' states
	// (sharepart.go).
	smembers map[string]*smember
	shares   map[sharePK]*sharePart

	// seq counts changes of the membership state, written says up to
	// which the catalog holds, failed up to which a write failed
	// (persist.go).
	seq, written, failed uint64
	// fenced is up to which a write was fenced (the shard's lease lost):
	// its waiters answer NOT_COORDINATOR, and it is not tried again.
	fenced uint64

	// gone is set when the coordinator gave the group up (Abandon):
	// nothing more of it is stored.
	gone bool

	// commitMu orders a group's commits: validate, write to the store,
	// update offsets, so that the store and memory agree.
	commitMu sync.Mutex
}

type member struct {
	id               string
	instanceID       string
	clientID         string
	clientHost       string
	sessionTimeout   time.Duration
	rebalanceTimeout time.Duration
	protocolType     string
	protocols        []protocol
	assignment       []byte

	join    chan joinResult // a JoinGroup waiting for the rebalance
	sync    chan syncResult // a SyncGroup waiting for the leader
	session *timer
	isNew   bool // joined in the running rebalance, not yet through a generation
}

type protocol struct {
	name     string
	metadata []byte
}

// New returns a Coordinator and loads the groups that have committed
// offsets or stored membership from the store. Close stops it.
func New(ctx context.Context, cfg Config) (*Coordinator, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Clock == nil {
		cfg.Clock = SystemClock{}
	}
	if cfg.Now == nil {
		cfg.Now = cfg.Clock.Now
	}
	if cfg.MaxSize <= 0 {
		cfg.MaxSize = 1 << 31
	}
	if cfg.OffsetMetadataMaxBytes <= 0 {
		cfg.OffsetMetadataMaxBytes = 4096
	}
	if cfg.ConsumerHeartbeatInterval <= 0 {
		cfg.ConsumerHeartbeatInterval = 5 * time.Second
	}
	if cfg.ConsumerSessionTimeout <= 0 {
		cfg.ConsumerSessionTimeout = 45 * time.Second
	}
	if cfg.ResolveShare == nil {
		cfg.ResolveShare = func(map[string]string) ShareConfig { return defaultShareConfig("") }
	}
	if cfg.ShareMaxSize <= 0 {
		cfg.ShareMaxSize = 200
	}
	if cfg.SharePartitionMaxRecordLocks <= 0 {
		cfg.SharePartitionMaxRecordLocks = 2000
	}
	if cfg.ShareMaxSessions <= 0 {
		cfg.ShareMaxSessions = 2000
	}
	c := &Coordinator{cfg: cfg, log: cfg.Logger, now: cfg.Now, clock: cfg.Clock, groups: make(map[string]*group)}
	c.sessions = make(map[sessKey]*shareSession)
	c.connSessions = make(map[any]map[sessKey]struct{})
	c.leading = make(map[string]*group)
	c.confs = make(map[string]groupConf)
	if cfg.GroupConfigs != nil {
		all, err := cfg.GroupConfigs.GroupConfigs(ctx)
		if err != nil {
			return nil, fmt.Errorf("group: load group configs: %w", err)
		}
		for name, sc := range all {
			c.confs[name] = groupConf{explicit: sc.Configs, version: sc.Version, share: cfg.ResolveShare(sc.Configs)}
		}
	}
	c.wakeCh = make(chan struct{})
	c.p = persistence{
		dirtyShare: make(map[*sharePart]struct{}),
		dirty:      make(map[*group]struct{}),
		round:      make(chan struct{}),
		wake:       make(chan struct{}, 1),
		stop:       make(chan struct{}),
		done:       make(chan struct{}),
	}
	names, err := cfg.Store.OffsetGroups(ctx)
	if err != nil {
		return nil, fmt.Errorf("group: load: %w", err)
	}
	for _, name := range names {
		if !c.owns(name) {
			continue
		}
		offs, err := cfg.Store.GroupOffsets(ctx, name)
		if err != nil {
			return nil, fmt.Errorf("group: load %s: %w", name, err)
		}
		g := c.newGroupLocked(name)
		for _, o := range offs {
			g.offsets[tp{o.Topic, o.Partition}] = offset{o.Offset, o.LeaderEpoch, o.Metadata, o.CommitTime}
		}
	}
	if cfg.Groups == nil {
		close(c.p.done)
		return c, nil
	}
	stored, err := cfg.Groups.Groups(ctx)
	if err != nil {
		return nil, fmt.Errorf("group: load membership: %w", err)
	}
	var shares []meta.ShareState
	if cfg.ShareStates != nil && cfg.ShareFence == nil {
		// (In the cluster mode a partition's leader loads its states
		// when it first serves them.)
		if shares, err = cfg.ShareStates.ShareStates(ctx); err != nil {
			return nil, fmt.Errorf("group: load share states: %w", err)
		}
	}
	c.mu.Lock()
	for _, md := range stored {
		if c.owns(md.Group) {
			c.loadLocked(md)
		}
	}
	for _, s := range shares {
		if !c.owns(s.Group) {
			continue
		}
		if g := c.shareGroupLocked(s.Group); g != nil {
			sp := c.sharePartLocked(g, sharePK{s.TopicID, s.Partition})
			sp.loadLocked(s)
		}
	}
	c.mu.Unlock()
	if len(stored) > 0 {
		c.log.Info("loaded groups' membership", "groups", len(stored))
	}
	go c.writeLoop()
	return c, nil
}

// Close stops the timers, answers waiting joins and syncs with
// COORDINATOR_NOT_AVAILABLE, so that clients look for the coordinator again
// (after a restart), and stores the membership not yet stored. Calling it
// again does nothing.
func (c *Coordinator) Close() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closeLocked()
	c.mu.Unlock()
	if c.cfg.Groups != nil {
		close(c.p.stop)
		<-c.p.done
	}
}

func (c *Coordinator) closeLocked() {
	c.closed = true
	for _, g := range c.groups {
		c.stopGroupLocked(g, errCoordinatorNotAvailable)
	}
	for _, g := range c.leading {
		c.stopGroupLocked(g, errCoordinatorNotAvailable)
	}
}

// stopGroupLocked stops g's timers and answers its waiting joins and
// syncs with e. Caller holds c.mu.
func (c *Coordinator) stopGroupLocked(g *group, e *kerr.Error) {
	if g.joinTimer != nil {
		g.joinTimer.Stop()
	}
	for _, t := range g.pending {
		t.Stop()
	}
	for _, m := range g.cmembers {
		m.stopTimers()
	}
	for _, m := range g.smembers {
		if m.session != nil {
			m.session.Stop()
		}
	}
	for _, sp := range g.shares {
		sp.mu.Lock()
		if sp.lockTimer != nil {
			sp.lockTimer.Stop()
		}
		sp.mu.Unlock()
	}
	for _, m := range g.members {
		if m.session != nil {
			m.session.Stop()
		}
		if m.join != nil {
			m.join <- joinResult{err: e}
			m.join = nil
		}
		if m.sync != nil {
			m.sync <- syncResult{err: e}
			m.sync = nil
		}
	}
}

func (c *Coordinator) newGroupLocked(name string) *group {
	g := newGroup(name, c.now())
	c.groups[name] = g
	return g
}

func newGroup(name string, now time.Time) *group {
	return &group{
		name:       name,
		members:    make(map[string]*member),
		static:     make(map[string]string),
		pending:    make(map[string]*timer),
		offsets:    make(map[tp]offset),
		smembers:   make(map[string]*smember),
		shares:     make(map[sharePK]*sharePart),
		emptySince: now,
	}
}

// newMemberID is Kafka's: the client id, a dash and a random UUID.
func newMemberID(clientID string) string {
	var b [16]byte
	rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return fmt.Sprintf("%s-%s-%s-%s-%s-%s", clientID, h[0:8], h[8:12], h[12:16], h[16:20], h[20:32])
}

// EachCommit calls fn for every committed offset of every group, for the
// metrics. fn must not call the coordinator.
func (c *Coordinator) EachCommit(fn func(group, topic string, partition int32, offset int64)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for name, g := range c.groups {
		for k, o := range g.offsets {
			fn(name, k.topic, k.partition, o.offset)
		}
	}
}

// empty reports whether the group has no members of any kind.
func (g *group) empty() bool {
	return len(g.members) == 0 && len(g.cmembers) == 0 && len(g.smembers) == 0
}

// DeleteTopic forgets every group's offsets of a deleted topic (the catalog
// removed them with the topic).
func (c *Coordinator) DeleteTopic(topic string, id [16]byte) {
	gone := make(map[string][]batch.KeyValue)
	c.mu.Lock()
	for _, g := range c.shareHosts() {
		for k := range g.offsets {
			if k.topic == topic {
				delete(g.offsets, k)
				gone[g.name] = append(gone[g.name], offsetRecord(g.name, k.topic, k.partition, nil))
			}
		}
		// Share groups' states of its partitions go too.
		for pk, sp := range g.shares {
			if pk.topicID == id {
				sp.mu.Lock()
				sp.deleted, sp.loaded, sp.recs, sp.acquired = true, false, nil, 0
				c.touchShareLocked(sp)
				sp.mu.Unlock()
				delete(g.shares, pk)
			}
		}
	}
	c.mu.Unlock()
	c.mirror(context.Background(), gone, c.now())
}

package meta

import (
	"context"
	"time"
)

// The group types GroupMetadata.Type names, as Kafka's ListGroups does.
const (
	GroupClassic  = "classic"  // JoinGroup/SyncGroup
	GroupConsumer = "consumer" // KIP-848, ConsumerGroupHeartbeat
	GroupShare    = "share"    // KIP-932, ShareGroupHeartbeat
)

// GroupMetadata is one group's membership as its coordinator stores it
// (Kafka's GroupMetadata records in __consumer_offsets, and for KIP-848 and
// share groups its group, member and assignment records), so that a broker
// that starts again knows its groups' members and their assignments and
// the members carry on without a rebalance. Committed offsets are stored
// apart (Offsets).
type GroupMetadata struct {
	Group string
	// Type is GroupClassic, GroupConsumer or GroupShare.
	Type string
	// State is the group's state when it was stored, as Kafka names it
	// (classic: Empty, PreparingRebalance, CompletingRebalance, Stable;
	// others: their own). The coordinator decides what a loaded state
	// becomes.
	State string

	// Classic groups: the protocol type ("consumer", "connect", ...),
	// the protocol chosen at the last completed join, the generation and
	// the leader's member id.
	ProtocolType string `json:",omitempty"`
	Protocol     string `json:",omitempty"`
	Generation   int32  `json:",omitempty"`
	Leader       string `json:",omitempty"`

	// KIP-848 and share groups: the group epoch, the epoch of the target
	// assignment, the assignor that computed it, and what the
	// coordinator knew of the subscribed topics then (opaque to the
	// catalog: Kafka's metadata hash), so that a change made while the
	// broker was down is noticed.
	Epoch            int32  `json:",omitempty"`
	AssignmentEpoch  int32  `json:",omitempty"`
	Assignor         string `json:",omitempty"`
	SubscriptionHash []byte `json:",omitempty"`

	// Members, ordered by ID.
	Members []GroupMember `json:",omitempty"`
	// UpdateTime is when the state was stored; the coordinator stamps
	// it, to the millisecond.
	UpdateTime time.Time
}

// GroupMember is one member of a stored group.
type GroupMember struct {
	ID         string
	InstanceID string `json:",omitempty"` // group.instance.id, static membership
	ClientID   string `json:",omitempty"`
	ClientHost string `json:",omitempty"`
	RackID     string `json:",omitempty"`
	// SessionTimeoutMs and RebalanceTimeoutMs are the member's own
	// (classic members name them at JoinGroup; KIP-848 members their
	// rebalance timeout).
	SessionTimeoutMs   int32 `json:",omitempty"`
	RebalanceTimeoutMs int32 `json:",omitempty"`

	// Classic: the member's protocol type, the protocols it supports
	// with their metadata (its subscription), in its order of
	// preference, and the assignment the leader gave it.
	ProtocolType string          `json:",omitempty"`
	Protocols    []GroupProtocol `json:",omitempty"`
	Assignment   []byte          `json:",omitempty"`

	// KIP-848 and share members: the member epoch and the one before
	// it, the subscription (topic names sorted, or a regular
	// expression), the server assignor it asked for, and its
	// partitions: those it was told it owns, those it must release
	// first, and its target.
	Epoch            int32             `json:",omitempty"`
	PreviousEpoch    int32             `json:",omitempty"`
	SubscribedTopics []string          `json:",omitempty"`
	SubscribedRegex  string            `json:",omitempty"`
	ServerAssignor   string            `json:",omitempty"`
	Assigned         []GroupPartitions `json:",omitempty"`
	Revoking         []GroupPartitions `json:",omitempty"`
	Target           []GroupPartitions `json:",omitempty"`
}

// GroupProtocol is one protocol a classic member supports.
type GroupProtocol struct {
	Name     string
	Metadata []byte
}

// GroupPartitions is some partitions of one topic, by topic ID, in
// ascending order.
type GroupPartitions struct {
	TopicID    TopicID
	Partitions []int32
}

// Groups stores groups' membership. A group's metadata has one writer, its
// coordinator, as its offsets do, so it is not versioned: each write
// replaces the group's whole state.
type Groups interface {
	// PutGroups stores each group's metadata, replacing what was stored
	// for it (a later one in groups replaces an earlier one of the same
	// group), in one transaction, durable when it returns.
	PutGroups(ctx context.Context, groups []GroupMetadata) error
	// PutGroupsFenced is PutGroups by the holder of fence, the lease of
	// the groups' coordinator shard (the cluster mode): ErrFenced, and
	// nothing stored, once the lease is not the holder's any more, so
	// that a deposed coordinator never overwrites the new one's rows.
	// Concurrent calls may share a transaction; one fenced call never
	// fails the others.
	PutGroupsFenced(ctx context.Context, fence Fence, groups []GroupMetadata) error
	// Groups returns every stored group's metadata, ordered by group
	// (bytewise).
	Groups(ctx context.Context) ([]GroupMetadata, error)
	// DeleteGroups removes the stored metadata of these groups, in one
	// transaction; ones not stored are ignored. Their offsets stay
	// (DeleteGroupOffsets removes those).
	DeleteGroups(ctx context.Context, groups []string) error
	// DeleteGroupsFenced is DeleteGroups by the holder of fence:
	// ErrFenced, and nothing deleted, once the lease is lost.
	DeleteGroupsFenced(ctx context.Context, fence Fence, groups []string) error
}

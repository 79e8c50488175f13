package meta

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Cluster membership and leases: what brokers sharing one catalog (the
// cluster mode, PostgreSQL and S3) agree on through it. Every time is the
// catalog's: a session expires by the database's clock, never by comparing
// two machines' clocks.

// ErrSessionLost is RenewBroker's answer, and a lease call's, when the
// broker's session expired or was replaced: the broker must stop
// acknowledging writes at once and register again.
var ErrSessionLost = errors.New("meta: broker session lost")

// ErrNodeInUse is RegisterBroker's answer while another session of that
// node id is live: two brokers started with one --node-id.
var ErrNodeInUse = errors.New("meta: node id in use by a live broker")

// BrokerRegistration is a broker in the cluster: who it is and where
// clients reach it.
type BrokerRegistration struct {
	NodeID int32
	// Epoch tells a registration from the one before it for the same
	// node id (a restarted broker): new at each RegisterBroker, higher
	// than every earlier one of the node.
	Epoch     int64
	Rack      string // broker.rack; empty: none
	Listeners []BrokerListener
	// Registered is when the session started, by the catalog's clock.
	Registered time.Time
}

// BrokerListener is one of a broker's advertised listeners.
type BrokerListener struct {
	Name             string // PLAINTEXT, SASL_SSL, or a listener name of its own
	Host             string
	Port             int32
	SecurityProtocol string
}

// Members is cluster membership: each broker registers with a session it
// renews; one whose renewals stop drops out when its session expires.
type Members interface {
	// RegisterBroker starts a session of ttl for b.NodeID and returns the
	// registration's epoch. A node id whose previous session is still
	// live (another process, or this one's previous life) is
	// ErrNodeInUse until that session ends or expires.
	RegisterBroker(ctx context.Context, b BrokerRegistration, ttl time.Duration) (epoch int64, err error)
	// RenewBroker extends the session of node at epoch to ttl from now.
	// ErrSessionLost when it expired, ended or was replaced.
	RenewBroker(ctx context.Context, node int32, epoch int64, ttl time.Duration) error
	// DeregisterBroker ends the session (a clean stop): the broker's
	// leases are free at once. Ending one already gone is not an error.
	DeregisterBroker(ctx context.Context, node int32, epoch int64) error
	// LiveBrokers lists the brokers whose session is live, by node id.
	LiveBrokers(ctx context.Context) ([]BrokerRegistration, error)
}

// LeaseKind says what a lease is of.
type LeaseKind int16

// The kinds of lease.
const (
	// LeasePartition leads a partition (TopicID, Partition).
	LeasePartition LeaseKind = 1
	// LeaseGroupShard coordinates the groups that map to shard Partition
	// (a partition of __consumer_offsets, in Kafka's terms).
	LeaseGroupShard LeaseKind = 2
	// LeaseTxnShard coordinates the transactional ids that map to shard
	// Partition (a partition of __transaction_state).
	LeaseTxnShard LeaseKind = 3
)

// LeaseKey names a lease: a partition by topic ID and index, or a
// coordinator shard by index (TopicID zero).
type LeaseKey struct {
	Kind      LeaseKind
	TopicID   TopicID
	Partition int32
}

// String names the lease in messages: "of partition <id>-3".
func (k LeaseKey) String() string {
	switch k.Kind {
	case LeasePartition:
		return fmt.Sprintf("of partition %s-%d", k.TopicID, k.Partition)
	case LeaseGroupShard:
		return fmt.Sprintf("of group shard %d", k.Partition)
	case LeaseTxnShard:
		return fmt.Sprintf("of transaction shard %d", k.Partition)
	}
	return fmt.Sprintf("of kind %d %s-%d", k.Kind, k.TopicID, k.Partition)
}

// Lease is who holds a partition or shard. A lease lasts while its
// holder's session does: renewing the session renews every lease of the
// broker, and a session that expires or ends frees them all.
type Lease struct {
	Key LeaseKey
	// Holder is the holding broker's node id and session epoch.
	Holder      int32
	HolderEpoch int64
	// Epoch is the leader epoch: one more at each change of holder, so
	// that what a deposed holder does can be told from the new one's.
	Epoch int32
}

// Fence is a lease as its holder acts under it: a write fenced by it is
// stored only while node holds Key at Epoch in session SessionEpoch and
// that session is live by the catalog's clock, so that a broker that lost
// a lease (paused past its session, or cut off while another took it over)
// can no longer write as its holder.
type Fence struct {
	Key          LeaseKey
	Node         int32
	SessionEpoch int64
	Epoch        int32
}

// ErrFenced: a fenced write's lease is no longer its holder's; nothing was
// stored.
var ErrFenced = errors.New("meta: lease lost: write fenced")

// Leases are the partitions and coordinator shards brokers hold.
type Leases interface {
	// AcquireLease makes node (at session epoch) the holder of key when
	// nobody holds it, its holder's session is gone, or node holds it
	// already at that session; a change of holder raises the epoch. The
	// lease is returned either way. Held by another live session:
	// ErrConflict, with that holder's lease. A session of node that is
	// not live: ErrSessionLost. A catalog may also answer ErrConflict
	// while another transaction locks the lease (a commit under it in
	// flight) rather than wait for it: the caller tries again later.
	AcquireLease(ctx context.Context, key LeaseKey, node int32, sessionEpoch int64) (Lease, error)
	// ReleaseLease gives the lease up (a handover) if node holds it at
	// that leader epoch; the epoch stays, for the next holder to raise.
	ReleaseLease(ctx context.Context, key LeaseKey, node int32, epoch int32) error
	// Leases lists the leases whose holder's session is live.
	Leases(ctx context.Context) ([]Lease, error)
}

// Membership is what a cluster's brokers share besides the catalog proper.
type Membership interface {
	Members
	Leases
}

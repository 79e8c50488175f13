// Package meta defines the catalog: the broker's state that changes rarely
// and must survive restarts (cluster identity, topics and their configs,
// consumer groups' committed offsets; later producer ids, users and ACLs).
//
// The catalog is never on the hot path: the broker caches what it reads and
// goes to the catalog only when something changes. Implementations:
// meta/sqlite (embedded, the default) and, for scale-out, meta/postgres. Both
// pass the conformance suite in meta/metatest.
//
// The Catalog is composed of narrow interfaces so that a package that needs
// only topics asks only for Topics.
//
// Every method that takes a context checks it first: called with a context
// that is already done, it changes nothing and returns an error wrapping
// ctx.Err(), so that a request its client has abandoned is not applied.
//
// # Many writers
//
// Several brokers may share one catalog (meta/postgres). Rows that two
// brokers could change at once (topics, dynamic broker configs, client
// quotas, transactions) carry a Version that counts their writes: 1 once
// created, one more for each change that succeeds. A write names the version
// it was computed from and is applied only if the row still has it;
// otherwise it changes nothing and fails with ErrConflict, and the caller
// reads the row again and decides. No write ever silently replaces another
// broker's. Committed offsets are not versioned: a group's offsets have one
// writer, its coordinator.
//
// Changes to topics, broker configs and client quotas are also recorded in a
// change feed (Changes), in commit order, so that a broker can follow
// changes made through another broker.
//
// # Failures
//
// A catalog that cannot be reached (a database down, restarting, or cut
// off) fails with an error wrapping ErrUnavailable, within the caller's
// context deadline. A write that fails so was not applied, unless the error
// also wraps ErrOutcomeUnknown: then the catalog could not find out whether
// its commit landed, and the caller must read before it trusts what it
// cached.
package meta

import (
	"context"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Sentinel errors. Implementations wrap them; callers test with errors.Is.
var (
	// ErrTopicExists: a topic of that name exists already.
	ErrTopicExists = errors.New("meta: topic already exists")
	// ErrTopicIDExists: a topic with that ID exists already.
	ErrTopicIDExists = errors.New("meta: topic id already exists")
	// ErrTopicNotFound: no topic of that name or ID.
	ErrTopicNotFound = errors.New("meta: topic not found")
	// ErrSchemaTooNew: the catalog was written by a newer StreamHouse.
	ErrSchemaTooNew = errors.New("meta: catalog schema is newer than this binary")
	// ErrClosed: the catalog was closed.
	ErrClosed = errors.New("meta: closed")
	// ErrConflict: a conditional write found the row at another version
	// than the one it was computed from (another writer got there first),
	// or found it created already. Nothing was written.
	ErrConflict = errors.New("meta: conflicting concurrent change")
	// ErrUnavailable: the catalog could not be reached. Retriable.
	ErrUnavailable = errors.New("meta: catalog unavailable")
	// ErrOutcomeUnknown: a write may or may not have been applied: its
	// commit was sent but the answer was lost and the catalog could not
	// find out in time (then wrapped with ErrUnavailable too), or the
	// caller's context ended while the write was under way.
	ErrOutcomeUnknown = errors.New("meta: outcome of the write unknown")
	// ErrChangesPruned: the change feed no longer holds every change after
	// the version asked for; the caller reads everything again.
	ErrChangesPruned = errors.New("meta: change feed pruned past that version")
)

// LogLevel is the level to log a failed catalog call at: Debug when the
// catalog is unavailable, since the catalog logs the outage itself, once
// when it starts and once when it ends, and a line per request would
// bury them; level otherwise.
func LogLevel(err error, level slog.Level) slog.Level {
	if errors.Is(err, ErrUnavailable) {
		return slog.LevelDebug
	}
	return level
}

// TopicID is a topic's 16-byte UUID, as Kafka's protocol carries it.
type TopicID [16]byte

// String returns the ID as 32 lower-case hex digits, the key the change
// feed gives topics.
func (id TopicID) String() string { return hex.EncodeToString(id[:]) }

// EntityKey is a client quota entity's key in the change feed: its parts
// sorted by type, each "type=name" or "type" for the default, joined by
// '&' with '=', '&' and '%' in names escaped as in a URL query.
func EntityKey(entity []QuotaEntityPart) string {
	parts := slices.Clone(entity)
	slices.SortFunc(parts, func(a, b QuotaEntityPart) int { return strings.Compare(a.Type, b.Type) })
	var b strings.Builder
	for i, p := range parts {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(url.QueryEscape(p.Type))
		if p.Name != nil {
			b.WriteByte('=')
			b.WriteString(url.QueryEscape(*p.Name))
		}
	}
	return b.String()
}

// Topic is one topic as the catalog keeps it.
type Topic struct {
	Name       string
	ID         TopicID
	Partitions int32
	// ReplicationFactor is the one asked at creation (the cluster mode
	// lists that many replicas in Metadata; a single broker is always
	// 1); 0 for a topic created before it was kept.
	ReplicationFactor int16
	// Configs holds the topic-level configs that were set explicitly
	// (Kafka's TOPIC_CONFIG source), by Kafka name. Defaults are not
	// stored. Topic and Topics return a non-nil map, empty when none
	// were set, and a map of the caller's own: changing it changes
	// nothing in the catalog.
	Configs map[string]string
	// CreatedAt is kept to the millisecond, as Kafka keeps timestamps.
	// CreateTopic stamps it from the catalog's clock when it is zero.
	CreatedAt time.Time
	// Version counts the topic's writes: 1 once created, one more for
	// each SetTopicConfigs or SetPartitions. CreateTopic ignores it.
	Version int64
}

// Topics stores topics. Changes are keyed by topic ID and conditional on
// the topic's Version: a topic deleted and created again under the same
// name is another topic, and a change computed from a stale read fails
// with ErrConflict instead of undoing a newer one.
type Topics interface {
	// CreateTopic stores t at version 1. It returns ErrTopicExists when
	// the name is taken and ErrTopicIDExists when the ID is.
	CreateTopic(ctx context.Context, t Topic) error
	// DeleteTopic removes the topic, its configs and every group's
	// offsets of it, if it is at version. ErrTopicNotFound when no topic
	// has the ID, ErrConflict when it is at another version.
	DeleteTopic(ctx context.Context, id TopicID, version int64) error
	// Topic returns the topic of that name.
	Topic(ctx context.Context, name string) (Topic, error)
	// TopicByID returns the topic with that ID.
	TopicByID(ctx context.Context, id TopicID) (Topic, error)
	// Topics returns every topic, ordered by name bytewise (as
	// sort.Strings orders them, not by a locale's collation).
	Topics(ctx context.Context) ([]Topic, error)
	// SetTopicConfigs replaces the explicit configs of the topic at
	// version with configs (a config absent from configs is removed; nil
	// or empty removes all) and moves it to version+1. ErrTopicNotFound
	// or ErrConflict as DeleteTopic.
	SetTopicConfigs(ctx context.Context, id TopicID, version int64, configs map[string]string) error
	// SetPartitions changes the partition count of the topic at version
	// and moves it to version+1. ErrTopicNotFound or ErrConflict as
	// DeleteTopic.
	SetPartitions(ctx context.Context, id TopicID, version int64, partitions int32) error
}

// Cluster stores the cluster's identity and its producer id counter.
type Cluster interface {
	// ClusterID returns the cluster id, generating and storing a new one
	// (22 characters of URL-safe base64, as Kafka's) on first use.
	ClusterID(ctx context.Context) (string, error)
	// AllocateProducerIDs reserves n producer ids (n > 0) and returns the
	// first: [first, first+n) is never returned again, by this catalog or
	// after a restart, and is durable when it returns. Ids start at 0
	// and stay below 2^63.
	AllocateProducerIDs(ctx context.Context, n int64) (first int64, err error)
}

// GroupOffset is an offset a consumer group committed for one partition
// (Kafka's OffsetCommit), as the group coordinator stores it.
type GroupOffset struct {
	Group     string
	Topic     string
	Partition int32
	Offset    int64
	// LeaderEpoch is the leader epoch of the committed record; -1 when
	// the client did not say.
	LeaderEpoch int32
	// Metadata is the client's free-form string; empty when none.
	Metadata string
	// CommitTime is kept to the millisecond; CommitOffsets stamps it from
	// the catalog's clock when it is zero.
	CommitTime time.Time
}

// Offsets stores consumer groups' committed offsets. The coordinator keeps
// them in memory and writes through; what the catalog returns is what
// survives a restart.
type Offsets interface {
	// CommitOffsets stores offsets, in one transaction, each replacing
	// the commit of the same group, topic and partition (a later one in
	// offsets replaces an earlier one). They are durable when it
	// returns. Offsets of groups and topics that do not exist are stored
	// all the same: the coordinator decides what may be committed.
	CommitOffsets(ctx context.Context, offsets []GroupOffset) error
	// CommitOffsetsFenced is CommitOffsets by the holder of fence, the
	// lease of the groups' coordinator shard (the cluster mode):
	// ErrFenced, and nothing stored, once the lease is not the
	// holder's any more.
	CommitOffsetsFenced(ctx context.Context, fence Fence, offsets []GroupOffset) error
	// GroupOffsets returns the group's offsets ordered by topic (bytewise)
	// and partition; none (and no error) for a group without any.
	GroupOffsets(ctx context.Context, group string) ([]GroupOffset, error)
	// OffsetGroups returns the groups that have offsets, ordered bytewise.
	OffsetGroups(ctx context.Context) ([]string, error)
	// DeleteOffsets removes the group's offsets of the given partitions;
	// ones it does not have are ignored.
	DeleteOffsets(ctx context.Context, group string, parts []TopicPartition) error
	// DeleteOffsetsFenced is DeleteOffsets by the holder of fence, the
	// lease of the group's coordinator shard: ErrFenced, and nothing
	// deleted, once the lease is not the holder's any more.
	DeleteOffsetsFenced(ctx context.Context, fence Fence, group string, parts []TopicPartition) error
	// DeleteGroupOffsets removes every offset of the group.
	DeleteGroupOffsets(ctx context.Context, group string) error
	// DeleteGroupOffsetsFenced is DeleteGroupOffsets by the holder of
	// fence: ErrFenced, and nothing deleted, once the lease is lost.
	DeleteGroupOffsetsFenced(ctx context.Context, fence Fence, group string) error
}

// ScopeConfigs is one scope's dynamic broker configs and their version:
// how many times SetBrokerConfigs changed them, 0 for a scope never set.
type ScopeConfigs struct {
	Configs map[string]string
	Version int64
}

// BrokerConfigs stores dynamic broker configs (Kafka's IncrementalAlterConfigs
// on a broker resource): per scope, "" for the cluster-wide defaults or a
// broker's node id.
type BrokerConfigs interface {
	// BrokerConfigs returns every scope ever set, with its configs (a
	// non-nil map, empty once all were removed) and version.
	BrokerConfigs(ctx context.Context) (map[string]ScopeConfigs, error)
	// SetBrokerConfigs replaces the configs of scope with configs (nil or
	// empty removes them all), durably, if the scope is at version (0 for
	// a scope never set), and moves it to version+1. ErrConflict
	// otherwise.
	SetBrokerConfigs(ctx context.Context, scope string, version int64, configs map[string]string) error
}

// QuotaEntityPart is one component of a client quota entity: a type
// ("user", "client-id" or "ip") and a name, nil for the type's default.
type QuotaEntityPart struct {
	Type string
	Name *string
}

// ClientQuota is the quota values (producer_byte_rate, ...) set for one
// entity.
type ClientQuota struct {
	Entity []QuotaEntityPart // sorted by type
	Values map[string]float64
	// Version counts the entity's writes: 0 for an entity without values,
	// one more for each SetClientQuota. An entity whose values were all
	// removed is gone, and starts again at 0.
	Version int64
}

// ClientQuotas stores client quotas (Kafka's AlterClientQuotas).
type ClientQuotas interface {
	// ClientQuotas returns every entity that has values.
	ClientQuotas(ctx context.Context) ([]ClientQuota, error)
	// SetClientQuota replaces the values of q.Entity with q.Values (empty
	// removes the entity), durably, if the entity is at q.Version (0: it
	// has none). ErrConflict otherwise.
	SetClientQuota(ctx context.Context, q ClientQuota) error
}

// Transaction is a transactional id's state as the transaction coordinator
// keeps it (Kafka's TransactionMetadata in __transaction_state).
type Transaction struct {
	ID            string // transactional.id
	ProducerID    int64
	ProducerEpoch int16
	// LastProducerID and LastProducerEpoch are the pair before the last
	// bump (KIP-360): a client retrying InitProducerId with them is the
	// same client, not a zombie. -1 when none.
	LastProducerID    int64
	LastProducerEpoch int16
	// NextProducerID is the id a transaction-version-2 end moves to when
	// its epoch bump exhausts ProducerID's epochs; 0 otherwise (a next id
	// is allocated after ProducerID, so it is never 0).
	NextProducerID int64 `json:",omitempty"`
	TimeoutMs      int32
	// State is one of Kafka's: Empty, Ongoing, PrepareCommit,
	// PrepareAbort, CompleteCommit, CompleteAbort, PrepareEpochFence.
	State      string
	Partitions []TopicPartition // in the transaction, in the order added
	Groups     []string         // AddOffsetsToTxn
	// Offsets are TxnOffsetCommit offsets waiting for the transaction's
	// end: committed with a commit, dropped with an abort.
	Offsets []GroupOffset
	// StartTime is when the first partition or group was added (the
	// timeout counts from it); zero when none.
	StartTime  time.Time
	UpdateTime time.Time
	// Version counts the id's writes: 0 for an id not stored, one more for
	// each PutTransaction.
	Version int64 `json:"-"`
}

// Transactions stores the transaction coordinator's state.
type Transactions interface {
	// PutTransaction stores t, replacing the state of the same ID if it is
	// at t.Version (0: none is stored), and commits offsets (those of a
	// transaction that commits) in the same catalog transaction: both or
	// neither, durable when it returns. The stored state is at
	// t.Version+1. ErrConflict when the ID is at another version.
	PutTransaction(ctx context.Context, t Transaction, offsets []GroupOffset) error
	// PutTransactionFenced is PutTransaction by the holder of fence, the
	// lease of the id's coordinator shard (the cluster mode): ErrFenced,
	// and nothing stored, once the lease is not the holder's any more.
	PutTransactionFenced(ctx context.Context, fence Fence, t Transaction, offsets []GroupOffset) error
	// Transaction returns the state of id, and false when none is stored.
	Transaction(ctx context.Context, id string) (Transaction, bool, error)
	// Transactions returns every stored transaction, ordered by ID.
	Transactions(ctx context.Context) ([]Transaction, error)
	// DeleteTransaction removes the state of id if it is at version; a
	// missing one is no error, one at another version ErrConflict.
	DeleteTransaction(ctx context.Context, id string, version int64) error
	// PutTxnMarkers records that the end markers of id's transaction as
	// stored at version (a PrepareCommit or PrepareAbort) are durable in
	// parts, and records a ChangeTxnMarkers change keyed by id, in one
	// catalog transaction; with no parts it records the change only.
	// ErrConflict when id is not at version. The records belong to the
	// state stored at version: PutTransaction and DeleteTransaction of
	// id forget them.
	//
	// In the cluster mode a partition's leader writes the markers of a
	// transaction another broker coordinates: the change wakes the
	// leaders (a coordinator asking for its markers) and the coordinator
	// (a leader answering).
	PutTxnMarkers(ctx context.Context, id string, version int64, parts []TopicPartition) error
	// TxnMarkers returns the partitions recorded for id at version,
	// ordered by topic and partition.
	TxnMarkers(ctx context.Context, id string, version int64) ([]TopicPartition, error)
}

// TopicPartition names one partition.
type TopicPartition struct {
	Topic     string
	Partition int32
}

// ChangeKind says what a Change changed.
type ChangeKind string

// The kinds of change the feed records.
const (
	// ChangeTopic: a topic was created, deleted, or its configs or
	// partition count changed. Key is its ID (TopicID.String).
	ChangeTopic ChangeKind = "topic"
	// ChangeBrokerConfigs: a scope's dynamic broker configs. Key is the
	// scope.
	ChangeBrokerConfigs ChangeKind = "broker-configs"
	// ChangeClientQuota: an entity's client quotas. Key is the entity in
	// the form EntityKey gives.
	ChangeClientQuota ChangeKind = "client-quota"
	// ChangeScramCredentials: users' SCRAM credentials were altered. Key
	// is empty.
	ChangeScramCredentials ChangeKind = "scram-credentials"
	// ChangeTxnMarkers: a transaction's end markers were asked for or
	// recorded (PutTxnMarkers). Key is the transactional id.
	ChangeTxnMarkers ChangeKind = "txn-markers"
	// ChangeGroupConfigs: a group's configs (SetGroupConfigs). Key is the
	// group.
	ChangeGroupConfigs ChangeKind = "group-configs"
)

// Change is one committed change, as the feed records it.
type Change struct {
	// Seq orders changes: each committed change has a higher Seq than
	// every change committed before it.
	Seq  int64
	Kind ChangeKind
	Key  string
}

// Changes is the catalog's change feed: what was created, changed or
// deleted, in commit order, so that a broker sharing the catalog with
// others follows their changes. A follower reads what changed since the
// last Seq it saw and reads those rows again.
type Changes interface {
	// Changes returns up to limit changes committed after seq, in Seq
	// order: none when nothing changed since. A feed that kept no record
	// of some change after seq fails with ErrChangesPruned; the caller
	// then reads everything again, from the Seq LastChange gives.
	Changes(ctx context.Context, after int64, limit int) ([]Change, error)
	// LastChange returns the Seq of the latest committed change, 0 for
	// none. A follower that starts reads it before it reads the rows.
	LastChange(ctx context.Context) (int64, error)
	// WaitChange returns when changes after seq may have been committed,
	// when ctx is done, or after at most a second: callers read Changes
	// again whichever it was.
	WaitChange(ctx context.Context, after int64)
}

// Catalog is everything the broker stores in the catalog. DeleteTopic also
// removes every group's offsets of that topic, as Kafka's coordinator does
// when a topic goes.
type Catalog interface {
	Cluster
	Topics
	Offsets
	Groups
	ShareStates
	GroupConfigs
	Transactions
	BrokerConfigs
	ClientQuotas
	ScramCredentials
	ACLs
	DelegationTokens
	Changes
	Snapshots
	RemoteSegments
	Members
	Leases
	WAL
	// Close waits for calls in flight and releases the catalog. After
	// Close every method returns ErrClosed; calling Close again returns
	// nil.
	Close() error
}

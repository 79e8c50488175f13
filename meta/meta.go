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
package meta

import (
	"context"
	"errors"
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
)

// TopicID is a topic's 16-byte UUID, as Kafka's protocol carries it.
type TopicID [16]byte

// Topic is one topic as the catalog keeps it.
type Topic struct {
	Name       string
	ID         TopicID
	Partitions int32
	// Configs holds the topic-level configs that were set explicitly
	// (Kafka's TOPIC_CONFIG source), by Kafka name. Defaults are not
	// stored. Topic and Topics return a non-nil map, empty when none
	// were set, and a map of the caller's own: changing it changes
	// nothing in the catalog.
	Configs map[string]string
	// CreatedAt is kept to the millisecond, as Kafka keeps timestamps.
	// CreateTopic stamps it from the catalog's clock when it is zero.
	CreatedAt time.Time
}

// Topics stores topics.
type Topics interface {
	// CreateTopic stores t. It returns ErrTopicExists when the name is
	// taken and ErrTopicIDExists when the ID is.
	CreateTopic(ctx context.Context, t Topic) error
	// DeleteTopic removes the topic and its configs.
	DeleteTopic(ctx context.Context, name string) error
	// Topic returns the topic of that name.
	Topic(ctx context.Context, name string) (Topic, error)
	// Topics returns every topic, ordered by name bytewise (as
	// sort.Strings orders them, not by a locale's collation).
	Topics(ctx context.Context) ([]Topic, error)
	// SetTopicConfigs replaces the topic's explicit configs with configs:
	// a config absent from configs is removed (nil or empty removes all).
	SetTopicConfigs(ctx context.Context, name string, configs map[string]string) error
	// SetPartitions changes the topic's partition count.
	SetPartitions(ctx context.Context, name string, partitions int32) error
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
	// GroupOffsets returns the group's offsets ordered by topic (bytewise)
	// and partition; none (and no error) for a group without any.
	GroupOffsets(ctx context.Context, group string) ([]GroupOffset, error)
	// OffsetGroups returns the groups that have offsets, ordered bytewise.
	OffsetGroups(ctx context.Context) ([]string, error)
	// DeleteOffsets removes the group's offsets of the given partitions;
	// ones it does not have are ignored.
	DeleteOffsets(ctx context.Context, group string, parts []TopicPartition) error
	// DeleteGroupOffsets removes every offset of the group.
	DeleteGroupOffsets(ctx context.Context, group string) error
}

// BrokerConfigs stores dynamic broker configs (Kafka's IncrementalAlterConfigs
// on a broker resource): per scope, "" for the cluster-wide defaults or a
// broker's node id.
type BrokerConfigs interface {
	// BrokerConfigs returns every scope's configs; scopes without any are
	// absent.
	BrokerConfigs(ctx context.Context) (map[string]map[string]string, error)
	// SetBrokerConfigs replaces the configs of scope with configs (nil or
	// empty removes them all), durably.
	SetBrokerConfigs(ctx context.Context, scope string, configs map[string]string) error
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
}

// ClientQuotas stores client quotas (Kafka's AlterClientQuotas).
type ClientQuotas interface {
	// ClientQuotas returns every entity's values.
	ClientQuotas(ctx context.Context) ([]ClientQuota, error)
	// SetClientQuota replaces the values of q.Entity with q.Values (empty
	// removes the entity), durably.
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
}

// Transactions stores the transaction coordinator's state.
type Transactions interface {
	// PutTransaction stores t, replacing the state of the same ID, and
	// commits offsets (those of a transaction that commits) in the same
	// catalog transaction: both or neither, durable when it returns.
	PutTransaction(ctx context.Context, t Transaction, offsets []GroupOffset) error
	// Transactions returns every stored transaction, ordered by ID.
	Transactions(ctx context.Context) ([]Transaction, error)
	// DeleteTransaction removes the state of id; a missing one is no
	// error.
	DeleteTransaction(ctx context.Context, id string) error
}

// TopicPartition names one partition.
type TopicPartition struct {
	Topic     string
	Partition int32
}

// Catalog is everything the broker stores in the catalog. DeleteTopic also
// removes every group's offsets of that topic, as Kafka's coordinator does
// when a topic goes.
type Catalog interface {
	Cluster
	Topics
	Offsets
	Transactions
	BrokerConfigs
	ClientQuotas
	ScramCredentials
	ACLs
	// Close waits for calls in flight and releases the catalog. After
	// Close every method returns ErrClosed; calling Close again returns
	// nil.
	Close() error
}

package meta

import (
	"context"
	"time"
)

// The delivery states a share partition's record batch is stored in
// (Kafka's RecordState: ACQUIRED records are stored AVAILABLE, since the
// acquisition lock does not survive the broker).
const (
	ShareAvailable    int8 = 0
	ShareAcknowledged int8 = 2
	ShareArchived     int8 = 4
)

// ShareState is a share group's state of one partition (KIP-932; Kafka's
// ShareSnapshot in __share_group_state): the share-partition start offset
// below which every record is done with, and the delivery state of the
// records after it that are in flight.
type ShareState struct {
	Group     string
	TopicID   TopicID
	Partition int32
	// StateEpoch counts resets of the partition's state
	// (AlterShareGroupOffsets, DeleteShareGroupOffsets): a write at an
	// older one is not stored.
	StateEpoch int32
	// StartOffset is the share-partition start offset (SPSO); -1 for a
	// state reset to nothing (the cluster mode's DeleteShareGroupOffsets
	// and group deletion keep the epoch that way, so that an older
	// write cannot come back): the partition starts again by
	// share.auto.offset.reset.
	StartOffset int64
	// Batches are the in-flight records at and after StartOffset whose
	// state is known, by FirstOffset, not overlapping; records after the
	// last one have never been delivered.
	Batches []ShareBatch `json:",omitempty"`
	// UpdateTime is when the state was stored, to the millisecond;
	// PutShareStates stamps it when zero.
	UpdateTime time.Time
}

// ShareBatch is records [FirstOffset, LastOffset] in one delivery state.
type ShareBatch struct {
	FirstOffset, LastOffset int64
	// State is ShareAvailable, ShareAcknowledged or ShareArchived.
	State int8
	// DeliveryCount is how many times the records were delivered.
	DeliveryCount int16
}

// SharePartitionKey names one share group's partition.
type SharePartitionKey struct {
	Group     string
	TopicID   TopicID
	Partition int32
}

// ShareStates stores share groups' partition states. A partition's state
// has one writer, the partition's leader (with a single broker, the
// broker), so they are not versioned.
type ShareStates interface {
	// PutShareStates stores each partition's state, replacing what was
	// stored for it (a later one in states replaces an earlier one of the
	// same partition), and deletes the states of deletes, in one
	// transaction, durable when it returns. A state whose StateEpoch is
	// below the stored one's is left out: the partition was reset since
	// (AlterShareGroupOffsets, by the group's coordinator, while its
	// leader may still write what it held before).
	PutShareStates(ctx context.Context, states []ShareState, deletes []SharePartitionKey) error
	// PutShareStatesFenced is PutShareStates by the holder of fence (the
	// cluster mode: the lease of the partitions' leader, or of the
	// group's coordinator shard for a reset): ErrFenced, and nothing
	// stored, once the lease is not the holder's any more. Concurrent
	// calls may share a transaction; one fenced call never fails the
	// others.
	PutShareStatesFenced(ctx context.Context, fence Fence, states []ShareState, deletes []SharePartitionKey) error
	// ShareStates returns every stored state, ordered by group
	// (bytewise), topic ID and partition.
	ShareStates(ctx context.Context) ([]ShareState, error)
	// ShareState returns one partition's stored state; false when none
	// is stored.
	ShareState(ctx context.Context, key SharePartitionKey) (ShareState, bool, error)
}

// GroupConfigs stores groups' dynamic configs (Kafka's GROUP config
// resource: share.auto.offset.reset, ...), which exist whether the group
// does or not.
type GroupConfigs interface {
	// GroupConfigs returns every group ever configured, with its configs
	// (a non-nil map, empty once all were removed) and version.
	GroupConfigs(ctx context.Context) (map[string]ScopeConfigs, error)
	// SetGroupConfigs replaces the configs of group with configs (nil or
	// empty removes them all), durably, if the group's configs are at
	// version (0 for a group never configured), and moves them to
	// version+1. ErrConflict otherwise.
	SetGroupConfigs(ctx context.Context, group string, version int64, configs map[string]string) error
}

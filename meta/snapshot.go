package meta

import (
	"context"
	"errors"
)

// ErrNotEmpty: Import found the catalog holding something already.
var ErrNotEmpty = errors.New("meta: catalog not empty")

// Snapshot is everything a catalog holds, as Export reads it in one
// consistent view: what `streamhouse catalog copy` moves from one catalog to
// another, cluster id, topic ids and versions included. The change feed is
// not part of it: a broker that starts reads the catalog whole.
type Snapshot struct {
	ClusterID string // "" when none was generated yet
	// NextProducerID is the first producer id never handed out.
	NextProducerID int64
	Topics         []Topic         // by name
	Offsets        []GroupOffset   // by group, topic, partition
	Groups         []GroupMetadata // by group
	// ShareStates are share groups' partition states, by group, topic ID
	// and partition; GroupConfigs groups' configs, with their versions.
	ShareStates      []ShareState
	GroupConfigs     map[string]ScopeConfigs
	Transactions     []Transaction // by ID, with their versions
	BrokerConfigs    map[string]ScopeConfigs
	ClientQuotas     []ClientQuota // by entity, with their versions
	ScramCredentials []ScramCredential
	ACLs             []ACL
	DelegationTokens []DelegationToken // by ID
	// RemoteSegments are tiered storage's, by topic ID, partition, base
	// offset and ID; RemoteLogStarts its partitions' log starts.
	RemoteSegments  []RemoteSegment
	RemoteLogStarts []RemoteLogStart
}

// RemoteLogStart is one partition's log start offset as tiered storage
// keeps it.
type RemoteLogStart struct {
	TopicID   TopicID
	Partition int32
	Offset    int64
}

// Snapshots exports and imports a catalog whole.
type Snapshots interface {
	// Export reads everything the catalog holds, in one read
	// transaction.
	Export(ctx context.Context) (Snapshot, error)
	// Import writes s into an empty catalog, in one transaction: all of
	// it or nothing. A catalog that holds anything (a cluster id
	// included) fails with ErrNotEmpty and is left as it is.
	Import(ctx context.Context, s Snapshot) error
}

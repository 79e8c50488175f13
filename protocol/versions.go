package protocol

import (
	"slices"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// VersionRange is the range of versions of one API the broker implements.
type VersionRange struct {
	Key      int16
	Min, Max int16
}

// Implemented lists every API the broker serves and the versions it
// implements: from Kafka 4.2's lowest supported version (or lower) to the
// highest kmsg knows. ApiVersions answers are generated from it, and the
// broker checks at construction that it has a handler for each entry and
// none besides, so nothing is advertised that is not implemented.
//
// It returns a new slice on each call; there is no mutable package state.
func Implemented() []VersionRange {
	return []VersionRange{
		{Key: int16(kmsg.Produce), Min: 3, Max: 13},
		{Key: int16(kmsg.Fetch), Min: 4, Max: 18},
		{Key: int16(kmsg.ListOffsets), Min: 1, Max: 11},
		{Key: int16(kmsg.Metadata), Min: 0, Max: 13},
		{Key: int16(kmsg.OffsetCommit), Min: 0, Max: 10},
		{Key: int16(kmsg.OffsetFetch), Min: 0, Max: 10},
		{Key: int16(kmsg.FindCoordinator), Min: 0, Max: 6},
		{Key: int16(kmsg.JoinGroup), Min: 0, Max: 9},
		{Key: int16(kmsg.Heartbeat), Min: 0, Max: 4},
		{Key: int16(kmsg.LeaveGroup), Min: 0, Max: 5},
		{Key: int16(kmsg.SyncGroup), Min: 0, Max: 5},
		{Key: int16(kmsg.DescribeGroups), Min: 0, Max: 6},
		{Key: int16(kmsg.ListGroups), Min: 0, Max: 5},
		{Key: int16(kmsg.ApiVersions), Min: 0, Max: 5},
		{Key: int16(kmsg.CreateTopics), Min: 2, Max: 7},
		{Key: int16(kmsg.DeleteTopics), Min: 1, Max: 6},
		{Key: int16(kmsg.DeleteRecords), Min: 0, Max: 2},
		{Key: int16(kmsg.DescribeConfigs), Min: 0, Max: 4},
		{Key: int16(kmsg.DeleteGroups), Min: 0, Max: 3},
		{Key: int16(kmsg.OffsetDelete), Min: 0, Max: 0},
		{Key: int16(kmsg.ConsumerGroupHeartbeat), Min: 0, Max: 1},
		{Key: int16(kmsg.ConsumerGroupDescribe), Min: 0, Max: 1},
		// Share groups: Kafka 4.2 serves v1 of the first four (v0 was
		// 4.0's early access), kmsg knows ShareFetch and
		// ShareAcknowledge up to v2 (KIP-1222).
		{Key: int16(kmsg.ShareGroupHeartbeat), Min: 1, Max: 1},
		{Key: int16(kmsg.ShareGroupDescribe), Min: 1, Max: 1},
		{Key: int16(kmsg.ShareFetch), Min: 1, Max: 2},
		{Key: int16(kmsg.ShareAcknowledge), Min: 1, Max: 2},
		{Key: int16(kmsg.DescribeShareGroupOffsets), Min: 0, Max: 1},
		{Key: int16(kmsg.AlterShareGroupOffsets), Min: 0, Max: 0},
		{Key: int16(kmsg.DeleteShareGroupOffsets), Min: 0, Max: 0},
		{Key: int16(kmsg.InitProducerID), Min: 0, Max: 5},
		{Key: int16(kmsg.AddPartitionsToTxn), Min: 0, Max: 5},
		{Key: int16(kmsg.AddOffsetsToTxn), Min: 0, Max: 4},
		{Key: int16(kmsg.EndTxn), Min: 0, Max: 5},
		{Key: int16(kmsg.TxnOffsetCommit), Min: 0, Max: 6},
		{Key: int16(kmsg.DescribeProducers), Min: 0, Max: 0},
		{Key: int16(kmsg.DescribeTransactions), Min: 0, Max: 0},
		{Key: int16(kmsg.ListTransactions), Min: 0, Max: 2},
		{Key: int16(kmsg.CreatePartitions), Min: 0, Max: 3},
		{Key: int16(kmsg.DescribeCluster), Min: 0, Max: 2},
		{Key: int16(kmsg.OffsetForLeaderEpoch), Min: 0, Max: 4},
		{Key: int16(kmsg.ElectLeaders), Min: 0, Max: 2},
		{Key: int16(kmsg.AlterPartitionAssignments), Min: 0, Max: 1},
		{Key: int16(kmsg.ListPartitionReassignments), Min: 0, Max: 0},
		{Key: int16(kmsg.DescribeLogDirs), Min: 0, Max: 5},
		{Key: int16(kmsg.AlterConfigs), Min: 0, Max: 2},
		{Key: int16(kmsg.IncrementalAlterConfigs), Min: 0, Max: 1},
		{Key: int16(kmsg.DescribeClientQuotas), Min: 0, Max: 1},
		{Key: int16(kmsg.AlterClientQuotas), Min: 0, Max: 1},
		{Key: int16(kmsg.SASLHandshake), Min: 0, Max: 1},
		{Key: int16(kmsg.SASLAuthenticate), Min: 0, Max: 2},
		{Key: int16(kmsg.DescribeACLs), Min: 1, Max: 3},
		{Key: int16(kmsg.CreateACLs), Min: 1, Max: 3},
		{Key: int16(kmsg.DeleteACLs), Min: 1, Max: 3},
		{Key: int16(kmsg.DescribeUserSCRAMCredentials), Min: 0, Max: 0},
		{Key: int16(kmsg.AlterUserSCRAMCredentials), Min: 0, Max: 0},
		// Kafka 4 serves v1+ (KIP-896 removed v0).
		{Key: int16(kmsg.CreateDelegationToken), Min: 1, Max: 3},
		{Key: int16(kmsg.RenewDelegationToken), Min: 1, Max: 2},
		{Key: int16(kmsg.ExpireDelegationToken), Min: 1, Max: 2},
		{Key: int16(kmsg.DescribeDelegationToken), Min: 1, Max: 3},
	}
}

// Table answers which versions of which API the broker serves. Build it
// with NewTable; it is read-only afterwards and safe for concurrent use.
type Table struct {
	ranges []VersionRange // sorted by key
	byKey  map[int16]VersionRange
}

// NewTable builds a table from ranges (normally Implemented()). Max is
// clamped to what kmsg can encode.
func NewTable(ranges []VersionRange) *Table {
	t := &Table{byKey: make(map[int16]VersionRange, len(ranges))}
	for _, r := range ranges {
		if req := kmsg.RequestForKey(r.Key); req != nil && r.Max > req.MaxVersion() {
			r.Max = req.MaxVersion()
		}
		t.byKey[r.Key] = r
		t.ranges = append(t.ranges, r)
	}
	slices.SortFunc(t.ranges, func(a, b VersionRange) int { return int(a.Key) - int(b.Key) })
	return t
}

// Supports reports whether version of the API key is served.
func (t *Table) Supports(key, version int16) bool {
	r, ok := t.byKey[key]
	return ok && version >= r.Min && version <= r.Max
}

// Range returns the served range of key.
func (t *Table) Range(key int16) (VersionRange, bool) {
	r, ok := t.byKey[key]
	return r, ok
}

// Ranges returns the served ranges, sorted by key.
func (t *Table) Ranges() []VersionRange { return slices.Clone(t.ranges) }

// FillApiVersions sets the ApiKeys of an ApiVersions response from the
// table.
func (t *Table) FillApiVersions(resp *kmsg.ApiVersionsResponse) {
	resp.ApiKeys = resp.ApiKeys[:0]
	for _, r := range t.ranges {
		k := kmsg.NewApiVersionsResponseApiKey()
		k.ApiKey, k.MinVersion, k.MaxVersion = r.Key, r.Min, r.Max
		resp.ApiKeys = append(resp.ApiKeys, k)
	}
}

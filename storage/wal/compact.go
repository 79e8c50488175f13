package wal

import (
	"context"
	"errors"
	"fmt"

	"github.com/streamhouse/streamhouse/meta"
	"github.com/streamhouse/streamhouse/storage"
)

// remoteCompacter is a tiered log's cleaner of its remote segments
// (storage/tiered's CompactRemote).
type remoteCompacter interface {
	CompactRemote(ctx context.Context, p storage.CompactPolicy, f meta.Fence) (storage.CompactResult, error)
}

// Compact is the cluster mode's compaction: the partition's data is in the
// bucket (its local log holds what this leader wrote since it took the
// partition over), so the tiered log's remote segments are cleaned, and
// the cleaned ones swapped in under the partition's lease as this broker
// holds it now: a broker that lost the lease meanwhile swaps nothing
// (meta.ErrFenced). What is not uploaded yet is cleaned once it is.
func (l *Log) Compact(ctx context.Context, p storage.CompactPolicy) (storage.CompactResult, error) {
	rc, ok := l.Log.(remoteCompacter)
	if !ok {
		return storage.CompactResult{}, fmt.Errorf("wal: compact %s-%d: the log is not tiered", l.ps.part.Topic, l.ps.part.Partition)
	}
	if l.Stale() {
		return storage.CompactResult{}, fmt.Errorf("wal: compact %s-%d: %w", l.ps.part.Topic, l.ps.part.Partition, ErrNotLeader)
	}
	part := l.ps.part
	sessionEpoch, leaderEpoch, ok := l.w.opts.Leader.Lease(part)
	if !ok {
		return storage.CompactResult{}, fmt.Errorf("wal: compact %s-%d: %w", part.Topic, part.Partition, ErrNotLeader)
	}
	f := meta.Fence{
		Key:  meta.LeaseKey{Kind: meta.LeasePartition, TopicID: part.TopicID, Partition: part.Partition},
		Node: l.w.opts.Leader.NodeID(), SessionEpoch: sessionEpoch, Epoch: leaderEpoch,
	}
	res, err := rc.CompactRemote(ctx, p, f)
	if errors.Is(err, meta.ErrFenced) {
		err = fmt.Errorf("wal: compact %s-%d: %w: %w", part.Topic, part.Partition, ErrNotLeader, err)
	}
	return res, err
}

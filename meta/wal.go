package meta

import (
	"context"
	"time"
)

// WALBatch is a run of one partition's batches in a WAL object: the cluster
// mode's unit of durability. A leader writes the appends of all its
// partitions since its last flush into one object in the bucket, then
// commits their coordinates in one catalog transaction before it
// acknowledges any of them.
type WALBatch struct {
	TopicID   TopicID
	Partition int32
	// LeaderEpoch is the partition lease's epoch the leader appended
	// under: the commit holds only while it is still the lease's.
	LeaderEpoch int32
	// BaseOffset and NextOffset bound the batches: [BaseOffset,
	// NextOffset).
	BaseOffset int64
	NextOffset int64
	// Object is the WAL object's key; Position and Size the bytes of
	// these batches in it.
	Object   string
	Position int64
	Size     int64
	// MaxTimestamp is the batches' largest timestamp.
	MaxTimestamp int64
}

// WAL is the catalog's record of the cluster mode's WAL objects: per
// partition, the committed end offset and the committed runs of batches
// not yet consolidated into segments.
type WAL interface {
	// CommitWAL commits the batches of one WAL object in one
	// transaction: each one whose partition's lease node holds, at that
	// session epoch and at the batch's LeaderEpoch, with the session
	// live, and whose BaseOffset is the partition's committed end. The
	// others are not committed: failed lists their indexes in batches
	// (their partitions are another leader's now, or their ends moved).
	CommitWAL(ctx context.Context, node int32, sessionEpoch int64, batches []WALBatch) (failed []int, err error)
	// WALEnd returns the partition's committed end: the offset its next
	// commit must start at (0 when nothing was ever committed).
	WALEnd(ctx context.Context, id TopicID, partition int32) (int64, error)
	// SetWALEnd moves the partition's committed end up to offset when it
	// is below (a partition whose log starts later: restored, or moved
	// up by DeleteRecords): lower values change nothing.
	SetWALEnd(ctx context.Context, id TopicID, partition int32, offset int64) error
	// WALBatches returns the partition's committed runs that end after
	// offset from, by offset.
	WALBatches(ctx context.Context, id TopicID, partition int32, from int64) ([]WALBatch, error)
	// TrimWAL forgets the partition's runs wholly below offset (they are
	// in segments now, or deleted).
	TrimWAL(ctx context.Context, id TopicID, partition int32, below int64) error
	// DeleteWAL forgets the partition: its runs and its end (the
	// partition's log was deleted).
	DeleteWAL(ctx context.Context, id TopicID, partition int32) error
	// UnreferencedWALObjects returns WAL objects no committed run names
	// any more, and that were first committed before olderThan: their
	// objects may go.
	UnreferencedWALObjects(ctx context.Context, olderThan time.Time) ([]string, error)
	// ForgetWALObjects drops those objects' records (their objects are
	// deleted).
	ForgetWALObjects(ctx context.Context, objects []string) error
}

package meta

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// RemoteSegment is one log segment copied to object storage, as the
// catalog records it once its objects are all uploaded (Kafka's
// RemoteLogSegmentMetadata). Its objects are named by topic ID, partition,
// base offset and ID (storage/tiered), so that an upload retried after a
// failure never overwrites a recorded one.
type RemoteSegment struct {
	TopicID   TopicID
	Partition int32
	// ID is the upload's random name, unique among the partition's.
	ID string
	// BaseOffset is the segment's first offset and EndOffset the one
	// after its last: it holds [BaseOffset, EndOffset).
	BaseOffset, EndOffset int64
	// MaxTimestamp is the largest timestamp of its batches, for
	// retention.ms and timestamp lookups.
	MaxTimestamp int64
	// Size is the bytes of its log object.
	Size int64
	// Checksum is the SHA-256 of its log object, hex.
	Checksum string
	// CreatedAt is when it was recorded.
	CreatedAt time.Time
	// Deleting is set once retention (or DeleteRecords, or a topic's
	// deletion) gave the segment up: it is no longer read, and its
	// objects go after a grace period, then the record.
	Deleting bool
	// DeletingSince is when Deleting was set.
	DeletingSince time.Time
	// LeaderEpochs are the leader epochs of its batches (Kafka's
	// segmentLeaderEpochs, the segment's leader-epoch checkpoint); empty
	// for segments recorded before they were kept.
	LeaderEpochs LeaderEpochs
}

// EpochStart is where a leader epoch's batches start.
type EpochStart struct {
	Epoch       int32
	StartOffset int64
}

// LeaderEpochs are a segment's leader epochs: the epoch of its first batch
// at its base offset, then each epoch that starts within it at its first
// batch's offset, in offset order; encoded as the catalogs store them,
// "epoch:offset" entries separated by commas, so that RemoteSegment stays
// comparable.
type LeaderEpochs string

// NewLeaderEpochs encodes epochs.
func NewLeaderEpochs(epochs []EpochStart) LeaderEpochs {
	var b []byte
	for i, e := range epochs {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, int64(e.Epoch), 10)
		b = append(b, ':')
		b = strconv.AppendInt(b, e.StartOffset, 10)
	}
	return LeaderEpochs(b)
}

// Entries decodes the epochs.
func (le LeaderEpochs) Entries() ([]EpochStart, error) {
	if le == "" {
		return nil, nil
	}
	var out []EpochStart
	for entry := range strings.SplitSeq(string(le), ",") {
		epoch, offset, ok := strings.Cut(entry, ":")
		e, err1 := strconv.ParseInt(epoch, 10, 32)
		o, err2 := strconv.ParseInt(offset, 10, 64)
		if !ok || err1 != nil || err2 != nil {
			return nil, fmt.Errorf("leader epochs %q: bad entry %q", string(le), entry)
		}
		out = append(out, EpochStart{Epoch: int32(e), StartOffset: o})
	}
	return out, nil
}

// RemoteSegments stores the remote segment metadata of tiered storage.
type RemoteSegments interface {
	// AddRemoteSegment records s (its objects already uploaded).
	// Recording one whose ID is recorded already is ErrConflict.
	AddRemoteSegment(ctx context.Context, s RemoteSegment) error
	// RemoteSegments returns the partition's segments, deleting ones
	// included, by base offset (then ID).
	RemoteSegments(ctx context.Context, id TopicID, partition int32) ([]RemoteSegment, error)
	// RemotePartitions returns every partition that has segments.
	RemotePartitions(ctx context.Context) ([]RemotePartition, error)
	// MarkRemoteSegmentsDeleting marks the partition's segments with
	// these IDs Deleting (missing ones are ignored).
	MarkRemoteSegmentsDeleting(ctx context.Context, id TopicID, partition int32, ids []string) error
	// DeleteRemoteSegments removes the records of these IDs (their
	// objects are gone).
	DeleteRemoteSegments(ctx context.Context, id TopicID, partition int32, ids []string) error
	// RemoteLogStart returns the partition's log start offset as tiered
	// storage keeps it (DeleteRecords and retention move it), and false
	// when none is stored.
	RemoteLogStart(ctx context.Context, id TopicID, partition int32) (int64, bool, error)
	// SetRemoteLogStart stores it; it only ever moves up (a lower value
	// changes nothing).
	SetRemoteLogStart(ctx context.Context, id TopicID, partition int32, offset int64) error
	// ReplaceRemoteSegments swaps segments for copies that hold less (the
	// cluster mode's compaction): in one transaction fenced by f (the
	// partition's lease: ErrFenced once its holder lost it, so that a
	// deposed leader's cleaner can change nothing), it records add and
	// marks the partition's segments with the IDs old Deleting (no
	// longer read; their objects go after the grace period, as
	// retention's do). Each of old must be recorded and not Deleting,
	// and no ID of add recorded (retention or another cleaner got there
	// first): ErrConflict otherwise. Nothing changes on an error.
	ReplaceRemoteSegments(ctx context.Context, f Fence, id TopicID, partition int32, old []string, add []RemoteSegment) error
}

// RemotePartition names a partition by topic ID.
type RemotePartition struct {
	TopicID   TopicID
	Partition int32
}

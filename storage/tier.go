package storage

import (
	"context"
	"io"
)

// What tiered storage (storage/tiered) needs of the local engine it wraps:
// the Log of such an engine implements Segmented.

// SegmentInfo is one closed segment of a local log: every batch in it is
// below the high watermark (durable), and it is no longer appended to.
type SegmentInfo struct {
	// Base is its first offset and Next the one after its last batch.
	Base, Next int64
	// Size is its bytes.
	Size int64
	// MaxTimestamp is the largest timestamp of its batches.
	MaxTimestamp int64
}

// SegmentData is a closed segment's content, read for an upload: the
// batches and the segment's sparse offset and time indexes in their file
// encodings (Kafka's .index and .timeindex).
type SegmentData struct {
	Info      SegmentInfo
	Log       io.ReaderAt
	Index     []byte
	TimeIndex []byte
	// Release lets the segment go (retention may remove it afterwards).
	Release func()
}

// Segmented is a Log whose closed segments tiered storage can copy to
// object storage and then remove locally.
type Segmented interface {
	// ClosedSegments returns the closed segments, oldest first.
	ClosedSegments() []SegmentInfo
	// ActiveSegment returns the segment being appended to (its Next is
	// the log's next offset; it may hold batches above the high
	// watermark).
	ActiveSegment() SegmentInfo
	// ActiveData opens the active segment for reading while it is still
	// appended to: Info.Base is its base, Info.Size how many of its
	// bytes are below the high watermark (durable, never rewritten while
	// the segment lives: appends go after them), Log reads them. Index
	// and TimeIndex are nil; Release lets it go.
	ActiveData() (SegmentData, error)
	// SegmentData opens the closed segment that starts at base for
	// reading; ErrNotFound when there is none (retention removed it).
	SegmentData(base int64) (SegmentData, error)
	// RetainBelow is Retain over the segments wholly below limit only:
	// tiered storage's local retention, which never removes a segment
	// not yet copied (limit is where the copies end).
	RetainBelow(ctx context.Context, p RetentionPolicy, limit int64) (int, error)
}

// EpochEnder is a log that answers OffsetsForLeaderEpoch from what it
// knows of its batches' leader epochs, those only object storage holds
// included (tiered storage keeps each remote segment's epochs in the
// catalog).
type EpochEnder interface {
	// EndOffsetForEpoch returns, as Kafka's leader-epoch cache does, the
	// largest leader epoch at or below epoch that the log's batches have
	// (epoch itself when none below it has any) and the offset where the
	// first batch of a later epoch starts: the log's next offset when no
	// batch has a later epoch.
	EndOffsetForEpoch(ctx context.Context, epoch int32) (int32, int64, error)
}

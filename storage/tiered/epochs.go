package tiered

import (
	"context"
	"errors"
	"fmt"

	"github.com/streamhouse/streamhouse/batch"
	"github.com/streamhouse/streamhouse/storage"
)

var _ storage.EpochEnder = (*Log)(nil)

// EndOffsetForEpoch answers OffsetsForLeaderEpoch (storage.EpochEnder)
// from the batches' leader epochs, as Kafka's leader-epoch cache does: the
// largest epoch at or below epoch that has batches (epoch when none has),
// and the offset of the first batch of a later epoch (the next offset when
// none). What only the bucket holds is answered from the epochs each remote
// segment's record carries (KIP-405's segment leader epochs), without a
// GET; the rest (the local log, and segments recorded before epochs were
// kept) from its batches, found by a binary search over offsets (epochs
// never go down along a log), which reads a few batches.
func (l *Log) EndOffsetForEpoch(ctx context.Context, epoch int32) (int32, int64, error) {
	start, next := l.LogStartOffset(), l.NextOffset()
	floor := int32(-1) // the last epoch at or below epoch seen so far
	from := start      // below it, every batch's epoch is at or below epoch
	for _, s := range l.remote.live() {
		if s.EndOffset <= from {
			continue
		}
		epochs, err := s.LeaderEpochs.Entries()
		if len(epochs) == 0 || err != nil || s.BaseOffset > from {
			break // read from here
		}
		for _, e := range epochs {
			if e.Epoch > epoch {
				return floorOr(floor, epoch), max(e.StartOffset, from), nil
			}
			floor = e.Epoch
		}
		from = s.EndOffset
	}
	if from >= next {
		return floorOr(floor, epoch), next, nil
	}
	// The last batch first: when its epoch is at or below epoch (the
	// common case: a consumer checking a position in the current
	// epoch's predecessor with nothing appended since), no search.
	h, ok, err := l.batchAt(ctx, next-1)
	if err != nil {
		return 0, 0, err
	}
	if ok && h.PartitionLeaderEpoch <= epoch {
		return h.PartitionLeaderEpoch, next, nil
	}
	// The smallest offset o in [from, next) whose batch (the first
	// ending past o) has a later epoch; hiBase is that batch's base.
	lo, hi, hiBase := from, next, next
	for lo < hi {
		mid := lo + (hi-lo)/2
		h, ok, err := l.batchAt(ctx, mid)
		if err != nil {
			return 0, 0, err
		}
		if !ok || h.PartitionLeaderEpoch > epoch {
			hi, hiBase = mid, next
			if ok {
				hiBase = h.BaseOffset
			}
			continue
		}
		floor, lo = h.PartitionLeaderEpoch, h.NextOffset()
	}
	end := max(hiBase, from)
	if end > from {
		// The epoch of the batch before the end.
		h, ok, err := l.batchAt(ctx, end-1)
		if err != nil {
			return 0, 0, err
		}
		if ok && h.PartitionLeaderEpoch <= epoch {
			floor = h.PartitionLeaderEpoch
		}
	}
	return floorOr(floor, epoch), end, nil
}

func floorOr(floor, epoch int32) int32 {
	if floor < 0 {
		return epoch
	}
	return floor
}

// batchAt returns the header of the batch holding offset (or the first
// after it), and false when there is none.
func (l *Log) batchAt(ctx context.Context, offset int64) (batch.Header, bool, error) {
	b, err := l.Read(ctx, offset, 1, true, nil)
	if errors.Is(err, storage.ErrOffsetOutOfRange) {
		return batch.Header{}, false, nil
	}
	if err != nil {
		return batch.Header{}, false, fmt.Errorf("tiered: %s-%d: leader epoch at %d: %w", l.part.Topic, l.part.Partition, offset, err)
	}
	if len(b) < batch.HeaderSize {
		return batch.Header{}, false, nil
	}
	h, err := batch.ReadHeader(b)
	if err != nil {
		return batch.Header{}, false, fmt.Errorf("tiered: %s-%d: leader epoch at %d: %w: %w", l.part.Topic, l.part.Partition, offset, storage.ErrCorrupt, err)
	}
	return h, true, nil
}

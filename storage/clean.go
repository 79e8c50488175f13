package storage

import (
	"context"
	"fmt"

	"github.com/streamhouse/streamhouse/batch"
)

// BatchCleaner is the record-level half of log compaction (Kafka's
// LogCleaner: its offset map filled from the dirty section, then filterTo),
// shared by the engines that clean segments: storage/fs over its local
// segments, storage/tiered over those in object storage. An engine plans
// a pass (which segments, the dirty part, the aborted transactions, the
// producers' last batches), indexes the dirty segments' keys
// (IndexSegments, which calls IndexKeys over each of their batches), then
// calls Filter over each batch of the segments it rewrites; it writes and
// swaps the segments itself.
//
// What stays of a batch (Filter): a record whose key's latest offset is its
// own or unknown; a tombstone (null value) only while its batch's max
// timestamp is younger than delete.retention.ms; a record without a key or
// in an aborted transaction never. A batch keeps its base offset,
// lastOffsetDelta and producer fields, so offsets never move; a batch left
// with no record goes, unless it is its producer's last, which stays empty
// so that the producer's sequence survives, or the caller says it must
// stay (the last of a segment, so that the segment still ends where the
// next begins). Control batches (transaction markers) stay.
//
// A BatchCleaner is one pass's, used by one goroutine.
type BatchCleaner struct {
	Policy CompactPolicy
	// Keys maps each key of the dirty part to its latest offset.
	Keys *KeyIndex
	// Aborted are the aborted transactions that may hold batches of the
	// segments cleaned, by producer id.
	Aborted map[int64][]AbortedTxn
	// LastBatch maps a producer id to the last offset of its last batch:
	// that batch stays, empty if need be.
	LastBatch map[int64]int64

	plain, comp, section []byte // decompressed and recompressed records sections; kept records
}

// IsAborted reports whether h belongs to an aborted transaction.
func (c *BatchCleaner) IsAborted(h *batch.Header) bool {
	if !h.Transactional() || h.Control() {
		return false
	}
	for _, a := range c.Aborted[h.ProducerID] {
		if a.FirstOffset <= h.BaseOffset && h.BaseOffset < a.LastOffset {
			return true
		}
	}
	return false
}

// Records calls fn with each record of batch b and its offset, until fn
// returns false.
func (c *BatchCleaner) Records(b []byte, h *batch.Header, fn func(r batch.Record, off int64) bool) error {
	section := batch.RecordsSection(b, h)
	if h.Codec() != batch.CodecNone {
		var err error
		c.plain, err = c.Policy.Codecs.Decompress(int8(h.Codec()), c.plain[:0], section, c.Policy.MaxBatchBytes)
		if err != nil {
			return fmt.Errorf("batch at offset %d: %w", h.BaseOffset, err)
		}
		section = c.plain
	}
	err := batch.Records(section, func(r batch.Record) bool {
		return fn(r, h.BaseOffset+int64(r.OffsetDelta))
	})
	if err != nil {
		return fmt.Errorf("batch at offset %d: %w", h.BaseOffset, err)
	}
	return nil
}

// IndexKeys puts the keys of batch b's records at or past firstDirty into
// Keys, and reports false when Keys is full (the batch was not indexed
// whole). Control batches and aborted transactions' batches hold no
// values.
func (c *BatchCleaner) IndexKeys(b []byte, h *batch.Header, firstDirty int64) (bool, error) {
	if h.Control() || h.LastOffset() < firstDirty || c.IsAborted(h) {
		return true, nil
	}
	ok := true
	err := c.Records(b, h, func(r batch.Record, off int64) bool {
		if r.Key != nil && !c.Keys.Put(r.Key, off) {
			ok = false
		}
		return ok
	})
	return ok, err
}

// IndexSegments puts the keys of the dirty segments segs (in offset order)
// into c.Keys, as far as it holds whole segments, and returns how many it
// indexed whole: len(segs), or n < len(segs) when c.Keys filled up in
// segs[n], which the pass then leaves for the next. (A generic function,
// not a method: methods take no type parameters.) batches is the engine's
// per-segment iterator (a local segment file's, a remote segment
// object's): it calls fn with each batch of a segment in order, checked,
// and returns fn's first error as it is. A batch whose records do not
// decode fails the pass, its error prefixed with name ("fs: compact
// <dir>").
func IndexSegments[S any](ctx context.Context, c *BatchCleaner, segs []S, firstDirty int64, name string,
	batches func(ctx context.Context, s S, fn func(b []byte, h *batch.Header) error) error) (int, error) {
	for i, s := range segs {
		full := false
		err := batches(ctx, s, func(b []byte, h *batch.Header) error {
			if full {
				return nil
			}
			ok, err := c.IndexKeys(b, h, firstDirty)
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			full = !ok
			return nil
		})
		if err != nil {
			return 0, err
		}
		if full {
			return i, nil
		}
	}
	return len(segs), nil
}

// keep decides a record's fate.
func (c *BatchCleaner) keep(r *batch.Record, off int64, h *batch.Header) bool {
	if r.Key == nil {
		return false
	}
	if latest, ok := c.Keys.Get(r.Key); ok && off < latest {
		return false
	}
	if r.Value == nil && c.Policy.Now.UnixMilli()-h.MaxTimestamp > c.Policy.DeleteRetentionMs {
		return false
	}
	return true
}

// Filter appends to dst what stays of batch b and returns it, with the
// records read and kept; last says the batch stays, empty if need be.
func (c *BatchCleaner) Filter(dst, b []byte, h *batch.Header, last bool) (out []byte, read, kept int32, err error) {
	if h.Control() {
		return append(dst, b...), 0, 0, nil
	}
	c.section = c.section[:0]
	if !c.IsAborted(h) {
		err := c.Records(b, h, func(r batch.Record, off int64) bool {
			read++
			if c.keep(&r, off, h) {
				kept++
				c.section = append(c.section, r.Encoded()...)
			}
			return true
		})
		if err != nil {
			return dst, 0, 0, err
		}
	} else {
		read = h.RecordCount
	}
	switch {
	case kept == read:
		dst = append(dst, b...)
	case kept > 0 && h.Codec() == batch.CodecNone:
		dst = batch.AppendRebuilt(dst, b, kept, batch.CodecNone, c.section)
	case kept > 0:
		c.comp, err = c.Policy.Codecs.Compress(int8(h.Codec()), c.comp[:0], c.section)
		if err != nil {
			return dst, 0, 0, fmt.Errorf("batch at offset %d: %w", h.BaseOffset, err)
		}
		dst = batch.AppendRebuilt(dst, b, kept, h.Codec(), c.comp)
	case last || h.ProducerID >= 0 && c.LastBatch[h.ProducerID] == h.LastOffset():
		// Kept, empty: the producer's last batch, or one the caller
		// needs.
		dst = batch.AppendRebuilt(dst, b, 0, batch.CodecNone, nil)
	}
	return dst, read, kept, nil
}

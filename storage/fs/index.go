package fs

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/streamhouse/streamhouse/batch"
)

// The in-memory indexes are kept in their on-disk encoding, so that writing
// an index file is one write of the slice and nothing is converted on the
// way in or out. A lookup decodes the few entries a binary search touches.
const (
	indexEntrySize     = 8  // relative offset uint32, position uint32
	timeIndexEntrySize = 12 // timestamp int64, relative offset uint32

	// maxSpan bounds the offsets one segment may hold: relative offsets are
	// uint32 on disk and, as in Kafka, kept within int32.
	maxSpan = math.MaxInt32
)

// errIndex is why an index file was not trusted. It never leaves the
// package: a bad index is rebuilt, not reported.
var errIndex = errors.New("inconsistent index")

func appendIndexEntry(idx []byte, rel, pos uint32) []byte {
	idx = binary.BigEndian.AppendUint32(idx, rel)
	return binary.BigEndian.AppendUint32(idx, pos)
}

func indexEntry(idx []byte, i int) (rel, pos uint32) {
	e := idx[i*indexEntrySize : (i+1)*indexEntrySize]
	return binary.BigEndian.Uint32(e), binary.BigEndian.Uint32(e[4:])
}

func appendTimeEntry(tidx []byte, ts int64, rel uint32) []byte {
	tidx = binary.BigEndian.AppendUint64(tidx, uint64(ts))
	return binary.BigEndian.AppendUint32(tidx, rel)
}

func timeEntry(tidx []byte, i int) (ts int64, rel uint32) {
	e := tidx[i*timeIndexEntrySize : (i+1)*timeIndexEntrySize]
	return int64(binary.BigEndian.Uint64(e)), binary.BigEndian.Uint32(e[8:])
}

// lookupIndex returns the greatest entry whose relative offset is <= rel.
// With no such entry it returns (0, 0): the segment's first batch, which
// never has an entry of its own, starts at position 0 with relative offset 0.
func lookupIndex(idx []byte, rel uint32) (entryRel, pos uint32) {
	lo, hi := 0, len(idx)/indexEntrySize
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if r, _ := indexEntry(idx, m); r <= rel {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo == 0 {
		return 0, 0
	}
	return indexEntry(idx, lo-1)
}

// lookupTime returns the relative offset of the greatest entry whose
// timestamp is < ts. Every batch up to that offset has a max timestamp below
// ts (an entry records the running maximum), so a search for ts may start
// there. ok is false when no entry qualifies: search from the segment start.
func lookupTime(tidx []byte, ts int64) (rel uint32, ok bool) {
	lo, hi := 0, len(tidx)/timeIndexEntrySize
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if t, _ := timeEntry(tidx, m); t < ts {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo == 0 {
		return 0, false
	}
	_, rel = timeEntry(tidx, lo-1)
	return rel, true
}

// lastTimeEntry returns the newest time index entry; ok is false when there
// is none.
func lastTimeEntry(tidx []byte) (ts int64, rel uint32, ok bool) {
	n := len(tidx) / timeIndexEntrySize
	if n == 0 {
		return 0, 0, false
	}
	ts, rel = timeEntry(tidx, n-1)
	return ts, rel, true
}

// checkIndex reports whether idx can be the offset index of a segment file
// of size bytes that holds relative offsets [0, span): whole entries, both
// fields strictly increasing, every position leaving room for a batch header
// before the end of the file. It cannot tell that a position is a batch
// boundary; the loader checks the last entry against the file for that.
func checkIndex(idx []byte, size, span int64) error {
	if len(idx)%indexEntrySize != 0 {
		return fmt.Errorf("%w: %d bytes is not a whole number of entries", errIndex, len(idx))
	}
	var prevRel, prevPos int64 = -1, -1
	for i := range len(idx) / indexEntrySize {
		r, p := indexEntry(idx, i)
		rel, pos := int64(r), int64(p)
		switch {
		case rel <= prevRel || pos <= prevPos:
			return fmt.Errorf("%w: entry %d (%d, %d) does not follow (%d, %d)", errIndex, i, rel, pos, prevRel, prevPos)
		case rel >= span:
			return fmt.Errorf("%w: entry %d: relative offset %d past the segment's %d offsets", errIndex, i, rel, span)
		case pos+batch.HeaderSize > size:
			return fmt.Errorf("%w: entry %d: position %d past the segment's %d bytes", errIndex, i, pos, size)
		}
		prevRel, prevPos = rel, pos
	}
	return nil
}

// checkTimeIndex reports whether tidx can be the time index of a segment
// that holds relative offsets [0, span): whole entries, timestamps strictly
// increasing (an entry is only added when the maximum grows), offsets never
// decreasing.
func checkTimeIndex(tidx []byte, span int64) error {
	if len(tidx)%timeIndexEntrySize != 0 {
		return fmt.Errorf("%w: %d bytes is not a whole number of time entries", errIndex, len(tidx))
	}
	for i := range len(tidx) / timeIndexEntrySize {
		ts, r := timeEntry(tidx, i)
		rel := int64(r)
		if rel >= span {
			return fmt.Errorf("%w: time entry %d: relative offset %d past the segment's %d offsets", errIndex, i, rel, span)
		}
		if i == 0 {
			continue
		}
		pts, prel := timeEntry(tidx, i-1)
		if ts <= pts || r < prel {
			return fmt.Errorf("%w: time entry %d (%d, %d) does not follow (%d, %d)", errIndex, i, ts, rel, pts, prel)
		}
	}
	return nil
}

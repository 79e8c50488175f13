package fs

import (
	"context"
	"fmt"
	"io"

	"github.com/streamhouse/streamhouse/storage"
)

var _ storage.Segmented = (*Log)(nil)

// ClosedSegments implements storage.Segmented: every segment but the active
// one, when it is wholly below the high watermark.
func (l *Log) ClosedSegments() []storage.SegmentInfo {
	l.state.RLock()
	defer l.state.RUnlock()
	hw := l.hw.Load()
	var out []storage.SegmentInfo
	for _, s := range l.segs[:max(0, len(l.segs)-1)] {
		if s.next > hw || s.size == 0 {
			break
		}
		out = append(out, storage.SegmentInfo{Base: s.base, Next: s.next, Size: s.size, MaxTimestamp: s.maxTS})
	}
	return out
}

// ActiveSegment implements storage.Segmented.
func (l *Log) ActiveSegment() storage.SegmentInfo {
	l.state.RLock()
	defer l.state.RUnlock()
	s := l.segs[len(l.segs)-1]
	return storage.SegmentInfo{Base: s.base, Next: s.next, Size: s.size, MaxTimestamp: s.maxTS}
}

// ActiveData implements storage.Segmented: the bytes of the active segment
// a reader may read (readableEndLocked: below the high watermark). The
// file is read without state held, as every read: the bytes below the
// high watermark do not change while the segment lives, and a segment
// removed meanwhile (DeleteRecords, a heal) fails the read.
func (l *Log) ActiveData() (storage.SegmentData, error) {
	l.state.RLock()
	defer l.state.RUnlock()
	if l.closed {
		return storage.SegmentData{}, fmt.Errorf("fs: %s: %w", l.dir, storage.ErrClosed)
	}
	s := l.segs[len(l.segs)-1]
	n := l.readableEndLocked(s)
	return storage.SegmentData{
		Info:    storage.SegmentInfo{Base: s.base, Next: min(s.next, l.hw.Load()), Size: n, MaxTimestamp: s.maxTS},
		Log:     io.NewSectionReader(s.f, 0, n),
		Release: func() {},
	}, nil
}

// SegmentData implements storage.Segmented. The segment's indexes are
// copied from memory (the authoritative ones: index files are hints); its
// batches are read from the open file. Retention below what tiered storage
// has copied (RetainBelow) never removes a segment it is reading; only
// DeleteRecords past it could, and then the read fails and the segment is
// below the log start anyway.
func (l *Log) SegmentData(base int64) (storage.SegmentData, error) {
	l.state.RLock()
	defer l.state.RUnlock()
	for _, s := range l.segs[:max(0, len(l.segs)-1)] {
		if s.base != base {
			continue
		}
		if s.next > l.hw.Load() {
			break
		}
		return storage.SegmentData{
			Info:      storage.SegmentInfo{Base: s.base, Next: s.next, Size: s.size, MaxTimestamp: s.maxTS},
			Log:       io.NewSectionReader(s.f, 0, s.size),
			Index:     append([]byte(nil), s.index...),
			TimeIndex: append([]byte(nil), s.tindex...),
			Release:   func() {},
		}, nil
	}
	return storage.SegmentData{}, fmt.Errorf("fs: %s has no closed segment at %d: %w", l.dir, base, storage.ErrNotFound)
}

// RetainBelow implements storage.Segmented: Retain, over the segments
// wholly below limit only.
func (l *Log) RetainBelow(ctx context.Context, p storage.RetentionPolicy, limit int64) (int, error) {
	return l.retain(ctx, p, limit)
}

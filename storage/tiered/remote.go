package tiered

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/streamhouse/streamhouse/meta"
	"github.com/streamhouse/streamhouse/storage"
)

// remote is what a partition holds in object storage, as this broker
// knows it: the live (not Deleting) segments the catalog records, by base
// offset, and the log start tiered storage keeps.
type remote struct {
	mu    sync.RWMutex
	segs  []meta.RemoteSegment // live, by base offset
	start int64                // the catalog's remote log start; 0 when none
	bytes int64                // of segs
	// aborted caches segments' aborted transactions (.txnindex objects),
	// by upload ID, once read.
	aborted map[string][]storage.AbortedTxn
}

// loadRemote reads a partition's remote state from the catalog.
func (st *Store) loadRemote(ctx context.Context, p storage.Partition) (*remote, error) {
	segs, err := st.opts.Catalog.RemoteSegments(ctx, p.TopicID, p.Partition)
	if err != nil {
		return nil, fmt.Errorf("tiered: open %s-%d: %w", p.Topic, p.Partition, err)
	}
	start, _, err := st.opts.Catalog.RemoteLogStart(ctx, p.TopicID, p.Partition)
	if err != nil {
		return nil, fmt.Errorf("tiered: open %s-%d: %w", p.Topic, p.Partition, err)
	}
	r := &remote{start: start, aborted: map[string][]storage.AbortedTxn{}}
	for _, s := range segs {
		if !s.Deleting && s.EndOffset > start {
			r.segs = append(r.segs, s)
		}
	}
	// By base offset, and for one base the widest (then the first
	// recorded) first: a segment another covers is a copy of batches it
	// holds too (a crash between an upload and the giving up of the one
	// it superseded), and goes.
	slices.SortFunc(r.segs, func(a, b meta.RemoteSegment) int {
		return cmp.Or(cmp.Compare(a.BaseOffset, b.BaseOffset), cmp.Compare(b.EndOffset, a.EndOffset), a.CreatedAt.Compare(b.CreatedAt))
	})
	var covered []string
	keep := r.segs[:0]
	for _, s := range r.segs {
		if n := len(keep); n > 0 && s.EndOffset <= keep[n-1].EndOffset {
			covered = append(covered, s.ID)
			continue
		}
		keep = append(keep, s)
	}
	r.segs = keep
	for _, s := range r.segs {
		r.bytes += s.Size
	}
	if len(covered) > 0 {
		if err := st.opts.Catalog.MarkRemoteSegmentsDeleting(ctx, p.TopicID, p.Partition, covered); err != nil {
			st.log.Warn("giving up remote segments others cover failed", "topic", p.Topic, "partition", p.Partition, "err", err)
		}
	}
	return r, nil
}

// end is the offset after the last remote segment (or the remote log start,
// when that is higher): where uploads continue and a new local log starts.
func (r *remote) end() int64 {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.endLocked()
}

func (r *remote) endLocked() int64 {
	if n := len(r.segs); n > 0 {
		return max(r.segs[n-1].EndOffset, r.start)
	}
	return r.start
}

// first returns the first readable remote offset, and false when nothing is
// readable remotely.
func (r *remote) first() (int64, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if len(r.segs) == 0 {
		return 0, false
	}
	return max(r.segs[0].BaseOffset, r.start), true
}

// find returns the live segment holding offset.
func (r *remote) find(offset int64) (meta.RemoteSegment, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if offset < r.start {
		return meta.RemoteSegment{}, false
	}
	i, _ := slices.BinarySearchFunc(r.segs, offset, func(s meta.RemoteSegment, o int64) int {
		switch {
		case s.EndOffset <= o:
			return -1
		case s.BaseOffset > o:
			return 1
		}
		return 0
	})
	if i < len(r.segs) && r.segs[i].BaseOffset <= offset && offset < r.segs[i].EndOffset {
		return r.segs[i], true
	}
	return meta.RemoteSegment{}, false
}

// live returns a copy of the live segments.
func (r *remote) live() []meta.RemoteSegment {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return slices.Clone(r.segs)
}

// size is the bytes of the live segments.
func (r *remote) size() int64 {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.bytes
}

// add appends a segment just recorded, and returns the live segments it
// supersedes: those it covers (a local segment uploaded again whole after
// it took appends past what an earlier upload of it held).
func (r *remote) add(s meta.RemoteSegment, aborted []storage.AbortedTxn) []meta.RemoteSegment {
	r.mu.Lock()
	defer r.mu.Unlock()
	var gone []meta.RemoteSegment
	keep := r.segs[:0]
	for _, o := range r.segs {
		if o.BaseOffset >= s.BaseOffset && o.EndOffset <= s.EndOffset {
			gone = append(gone, o)
			delete(r.aborted, o.ID)
			r.bytes -= o.Size
			continue
		}
		keep = append(keep, o)
	}
	r.segs = append(keep, s)
	r.bytes += s.Size
	r.aborted[s.ID] = aborted
	return gone
}

// moveStart moves the remote log start up to start and drops the segments
// wholly below it, returning them.
func (r *remote) moveStart(start int64) []meta.RemoteSegment {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.start = max(r.start, start)
	n := 0
	for n < len(r.segs) && r.segs[n].EndOffset <= r.start {
		n++
	}
	dead := slices.Clone(r.segs[:n])
	r.segs = slices.Delete(r.segs, 0, n)
	for _, s := range dead {
		delete(r.aborted, s.ID)
		r.bytes -= s.Size
	}
	return dead
}

package tiered

import (
	"context"
	"encoding/hex"
	"errors"
	"maps"
	"strconv"
	"strings"
	"time"

	"github.com/streamhouse/streamhouse/internal/fault"
	"github.com/streamhouse/streamhouse/meta"
	"github.com/streamhouse/streamhouse/storage/objstore"
)

// sweepLoop sweeps every half grace period (at least every 10 s, at most
// every 5 minutes) until Close; the first time at most 30 s after start,
// not at once: the start (every log opening, reading its remote segments
// from the catalog) is not made to share the catalog with it.
func (st *Store) sweepLoop() {
	defer st.bg.Done()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { <-st.stop; cancel() }()
	every := min(max(st.opts.Grace/2, 10*time.Second), 5*time.Minute)
	if st.opts.Grace < 20*time.Second {
		every = max(st.opts.Grace/2, 100*time.Millisecond) // tests
	}
	t := time.NewTimer(min(every, 30*time.Second))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := st.Sweep(ctx); err != nil && ctx.Err() == nil {
			st.log.Warn("sweeping object storage failed; retrying at the next sweep", "err", err)
		}
		t.Reset(every)
	}
}

// Sweep removes what is past its grace period: the objects of segments
// given up (their records marked Deleting), then those records; objects
// no record names (an upload whose record never landed); and incomplete
// multipart uploads no one here is completing (sweepMultipart).
//
// It lists the bucket's segment objects first, all of them (one listing of
// each of the 16 key ranges topic IDs start in: the cluster mode's WAL
// objects, under wal/, are not listed), so that it finds orphans wherever
// they are: also of a partition with no record left and no log open here
// (a topic deleted while its first upload was under way, or a broker that
// crashed mid-upload and no longer leads the partition), which a sweep of
// the catalog's partitions and the open logs alone never visited.
func (st *Store) Sweep(ctx context.Context) error {
	objects := map[meta.RemotePartition][]objstore.Object{}
	for _, c := range "0123456789abcdef" {
		err := st.opts.Bucket.List(ctx, string(c), func(o objstore.Object) error {
			if p, ok := partitionOf(o.Key); ok {
				objects[p] = append(objects[p], o)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	parts, err := st.opts.Catalog.RemotePartitions(ctx)
	if err != nil {
		return err
	}
	seen := map[meta.RemotePartition]bool{}
	var errs []error
	sweep := func(p meta.RemotePartition) {
		if !seen[p] {
			seen[p] = true
			errs = append(errs, st.sweepPartition(ctx, p, objects[p]))
		}
	}
	for _, p := range parts {
		sweep(p)
	}
	for p := range objects {
		sweep(p)
	}
	errs = append(errs, st.sweepMultipart(ctx))
	return errors.Join(errs...)
}

// sweepMultipart aborts the incomplete multipart uploads of segment
// objects that are not under way in this process and started longer than
// the grace period ago: a crashed broker's, or one whose abort failed. In
// the cluster mode that may be another broker's upload still under way:
// its owner then uploads the segment whole. The uploads are listed before
// those under way are looked at: an upload is registered before it is
// created and stays registered until it is completed or aborted, so one
// listed and not registered then is one no one will complete.
func (st *Store) sweepMultipart(ctx context.Context) error {
	m, ok := st.opts.Bucket.(objstore.Multipart)
	if !ok {
		return nil
	}
	var ups []objstore.Upload
	err := m.ListMultipart(ctx, "", func(u objstore.Upload) error {
		if _, ok := partitionOf(u.Key); ok {
			ups = append(ups, u)
		}
		return nil
	})
	if err != nil {
		return err
	}
	st.mu.Lock()
	uploading := maps.Clone(st.uploading)
	st.mu.Unlock()
	now := st.now()
	for _, u := range ups {
		id, ok := uploadOf(u.Key)
		if !ok || uploading[id] || now.Sub(u.Initiated) < st.opts.Grace {
			continue
		}
		start := time.Now()
		err := m.AbortMultipart(ctx, u.Key, u.ID)
		if errors.Is(err, objstore.ErrNotFound) {
			err = nil // completed or aborted meanwhile
		}
		st.observe("delete", start, 0, err)
		if err != nil {
			return err
		}
		fault.Crash("tier-delete")
	}
	return nil
}

// partitionOf returns the partition of a segment object's key
// (<topic-id hex>/<partition>/<base>-<id>.<ext>), and false for a key of
// another shape.
func partitionOf(key string) (meta.RemotePartition, bool) {
	topic, rest, ok := strings.Cut(key, "/")
	if !ok || len(topic) != 32 {
		return meta.RemotePartition{}, false
	}
	part, name, ok := strings.Cut(rest, "/")
	if !ok || strings.Contains(name, "/") {
		return meta.RemotePartition{}, false
	}
	var p meta.RemotePartition
	if _, err := hex.Decode(p.TopicID[:], []byte(topic)); err != nil {
		return meta.RemotePartition{}, false
	}
	n, err := strconv.ParseInt(part, 10, 32)
	if err != nil || n < 0 {
		return meta.RemotePartition{}, false
	}
	p.Partition = int32(n)
	return p, true
}

// sweepPartition sweeps one partition, whose objects (listed before) are
// objects.
func (st *Store) sweepPartition(ctx context.Context, p meta.RemotePartition, objects []objstore.Object) error {
	// The objects first (listed by Sweep), then the uploads under way,
	// then the records. An upload records its segment before it stops
	// being under way, so an object listed belongs to an upload still
	// under way next, or recorded in what is read after, or cut short
	// (only then an orphan). Taking the uploads under way before the
	// records are read and listing after would miss an upload that
	// begins in between and records its segment after the read: its
	// objects are new, but the store dates them by its own clock, which
	// may run behind (skew; a Last-Modified cut to the second; S3 dates a
	// multipart object by its start), so they could look older than the
	// grace period.
	st.mu.Lock()
	uploading := maps.Clone(st.uploading)
	st.mu.Unlock()
	segs, err := st.opts.Catalog.RemoteSegments(ctx, p.TopicID, p.Partition)
	if err != nil {
		return err
	}
	start, _, err := st.opts.Catalog.RemoteLogStart(ctx, p.TopicID, p.Partition)
	if err != nil {
		return err
	}
	now := st.now()
	known := map[string]bool{}
	var below []string // live records wholly below the log start: give them up
	var gone []string  // Deleting records past the grace period: their objects go
	for _, s := range segs {
		known[s.ID] = true
		switch {
		case !s.Deleting && s.EndOffset <= start:
			below = append(below, s.ID)
		case s.Deleting && now.Sub(s.DeletingSince) >= st.opts.Grace:
			gone = append(gone, s.ID)
		}
	}
	if len(below) > 0 {
		if err := st.opts.Catalog.MarkRemoteSegmentsDeleting(ctx, p.TopicID, p.Partition, below); err != nil {
			return err
		}
	}
	// The objects of gone segments, and those no record names once they
	// are older than the grace period.
	var remove []string
	goneSet := map[string]bool{}
	for _, id := range gone {
		goneSet[id] = true
	}
	for _, o := range objects {
		id, ok := uploadOf(o.Key)
		switch {
		case !ok:
		case goneSet[id]:
			remove = append(remove, o.Key)
		case !known[id] && !uploading[id] && now.Sub(o.Modified) >= st.opts.Grace:
			remove = append(remove, o.Key)
		}
	}
	for _, key := range remove {
		st.cache.evict(key)
		st.sizes.Delete(key)
		start := time.Now()
		err := st.opts.Bucket.Delete(ctx, key)
		st.observe("delete", start, 0, err)
		if err != nil {
			return err
		}
		fault.Crash("tier-delete")
	}
	if len(gone) > 0 {
		return st.opts.Catalog.DeleteRemoteSegments(ctx, p.TopicID, p.Partition, gone)
	}
	return nil
}

// uploadOf returns the upload ID in an object's key
// (<topic>/<partition>/<base>-<id>.<ext>).
func uploadOf(key string) (string, bool) {
	name := key[strings.LastIndexByte(key, '/')+1:]
	dash := strings.IndexByte(name, '-')
	dot := strings.LastIndexByte(name, '.')
	if dash < 0 || dot < dash {
		return "", false
	}
	return name[dash+1 : dot], true
}

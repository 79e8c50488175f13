package tiered_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/streamhouse/streamhouse/batch"
	"github.com/streamhouse/streamhouse/meta"
	"github.com/streamhouse/streamhouse/storage"
	"github.com/streamhouse/streamhouse/storage/fs"
	"github.com/streamhouse/streamhouse/storage/storagetest"
	"github.com/streamhouse/streamhouse/storage/tiered"
)

// noEpochsCatalog hides the remote segments' leader epochs, as a catalog
// whose segments were recorded before they were kept.
type noEpochsCatalog struct{ tiered.Catalog }

func (c noEpochsCatalog) RemoteSegments(ctx context.Context, id meta.TopicID, partition int32) ([]meta.RemoteSegment, error) {
	segs, err := c.Catalog.RemoteSegments(ctx, id, partition)
	for i := range segs {
		segs[i].LeaderEpochs = ""
	}
	return segs, err
}

// TestLeaderEpochs: each uploaded segment's leader epochs are recorded
// with it, and EndOffsetForEpoch answers as Kafka's leader-epoch cache for
// every epoch: with the local copies there, with only the bucket holding
// the older segments (answered from the records, without a GET), from an
// empty data directory (the catalog and bucket kept, as a new leader of
// the cluster mode starts), and from segments recorded without epochs
// (read from the bucket).
func TestLeaderEpochs(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	st := e.open(t, e.dir, allTiered)
	l, err := st.Open(t.Context(), part, storage.LogConfig{SegmentBytes: 4096})
	if err != nil {
		t.Fatal(err)
	}
	// Epochs 1, 1, 3 and 6 in runs of batches of 2 records (epochs 0, 2, 4
	// and 5 have none), some runs shorter than a segment, some longer.
	type run struct {
		epoch   int32
		batches int
	}
	runs := []run{{1, 25}, {3, 3}, {6, 40}}
	type span struct {
		base, next int64
		epoch      int32
	}
	var spans []span
	now := time.Now().UnixMilli()
	for _, r := range runs {
		for range r.batches {
			b := storagetest.MakeBatch(2, 100, now)
			batch.SetPartitionLeaderEpoch(b, r.epoch)
			base, err := l.Append(t.Context(), b)
			if err != nil {
				t.Fatal(err)
			}
			spans = append(spans, span{base, base + 2, r.epoch})
		}
	}
	if err := l.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	next := spans[len(spans)-1].next
	// want is Kafka's answer, from every batch.
	want := func(epoch int32) (int32, int64) {
		floor, end := int32(-1), next
		for _, s := range spans {
			if s.epoch > epoch {
				end = s.base
				break
			}
			floor = s.epoch
		}
		if floor < 0 {
			floor = epoch
		}
		return floor, end
	}
	check := func(stage string, l storage.Log, noGets bool) {
		t.Helper()
		ee := l.(storage.EpochEnder)
		for epoch := int32(0); epoch <= 7; epoch++ {
			_, gets := e.bucket.Counts()
			got, end, err := ee.EndOffsetForEpoch(t.Context(), epoch)
			if err != nil {
				t.Fatalf("%s: epoch %d: %v", stage, epoch, err)
			}
			if wantEpoch, wantEnd := want(epoch); got != wantEpoch || end != wantEnd {
				t.Errorf("%s: EndOffsetForEpoch(%d) = %d, %d; want %d, %d", stage, epoch, got, end, wantEpoch, wantEnd)
			}
			if _, after := e.bucket.Counts(); noGets && after != gets && end < l.(*tiered.Log).LocalLogStartOffset() {
				t.Errorf("%s: epoch %d, answered below the local log start, made %d GETs", stage, epoch, after-gets)
			}
		}
	}
	check("local", l, false)
	waitClosedUploaded(t, l)
	segs, err := e.cat.RemoteSegments(t.Context(), part.TopicID, part.Partition)
	if err != nil || len(segs) < 3 {
		t.Fatalf("remote segments: %d, %v", len(segs), err)
	}
	for _, s := range segs {
		if e, err := s.LeaderEpochs.Entries(); err != nil || len(e) == 0 || e[0].StartOffset != s.BaseOffset {
			t.Fatalf("segment [%d, %d) recorded with leader epochs %v", s.BaseOffset, s.EndOffset, s.LeaderEpochs)
		}
	}
	t.Logf("%d segments uploaded; the local log starts at %d, the log ends at %d", len(segs), l.(*tiered.Log).LocalLogStartOffset(), next)
	check("remote", l, true)
	l.Close()
	st.Close()

	// A new data directory: what the bucket holds, the active segment
	// lost. The epochs are the records'.
	next = l.(*tiered.Log).RemoteEnd()
	for len(spans) > 0 && spans[len(spans)-1].next > next {
		spans = spans[:len(spans)-1]
	}
	st = e.open(t, t.TempDir(), allTiered)
	l2, err := st.Open(t.Context(), part, storage.LogConfig{SegmentBytes: 4096})
	if err != nil {
		t.Fatal(err)
	}
	check("restored", l2, true)
	l2.Close()
	st.Close()

	// Segments recorded without epochs: read from the bucket.
	e.store = nil
	cat := noEpochsCatalog{e.cat}
	st, err = tiered.New(tiered.Options{Local: openLocal(t, t.TempDir()), Bucket: e.bucket, Catalog: cat, CacheDir: t.TempDir(),
		UploadInterval: 20 * time.Millisecond, ForceRemote: allTiered})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	l3, err := st.Open(t.Context(), part, storage.LogConfig{SegmentBytes: 4096})
	if err != nil {
		t.Fatal(err)
	}
	defer l3.Close()
	check("no epochs recorded", l3, false)
}

// openLocal opens a local store in dir.
func openLocal(t *testing.T, dir string) storage.Store {
	t.Helper()
	local, err := fs.New(filepath.Join(dir, "storage"), fs.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return local
}

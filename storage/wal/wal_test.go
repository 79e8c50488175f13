package wal_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/streamhouse/streamhouse/batch"
	"github.com/streamhouse/streamhouse/meta"
	"github.com/streamhouse/streamhouse/meta/sqlite"
	"github.com/streamhouse/streamhouse/storage"
	"github.com/streamhouse/streamhouse/storage/fs"
	"github.com/streamhouse/streamhouse/storage/objstore"
	"github.com/streamhouse/streamhouse/storage/storagetest"
	"github.com/streamhouse/streamhouse/storage/tiered"
	"github.com/streamhouse/streamhouse/storage/wal"
)

// leader is a broker's leases as the WAL sees them: acquired from the
// catalog, one session.
type leader struct {
	node  int32
	cat   meta.Catalog
	epoch int64

	mu     sync.Mutex
	leases map[[2]any]int32
}

func newLeader(t testing.TB, cat meta.Catalog, node int32) *leader {
	t.Helper()
	e, err := cat.RegisterBroker(t.Context(), meta.BrokerRegistration{NodeID: node}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	return &leader{node: node, cat: cat, epoch: e, leases: map[[2]any]int32{}}
}

func (l *leader) NodeID() int32 { return l.node }

// Live: the tests' brokers see only themselves as live.
func (l *leader) Live(node int32) bool { return node == l.node }

func (l *leader) Lease(p storage.Partition) (int64, int32, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.leases[[2]any{p.TopicID, p.Partition}]
	return l.epoch, e, ok
}

// take acquires p's lease in the catalog.
func (l *leader) take(t testing.TB, p storage.Partition) error {
	t.Helper()
	ls, err := l.cat.AcquireLease(t.Context(), meta.LeaseKey{Kind: meta.LeasePartition, TopicID: p.TopicID, Partition: p.Partition}, l.node, l.epoch)
	if err != nil {
		return err
	}
	l.mu.Lock()
	l.leases[[2]any{p.TopicID, p.Partition}] = ls.Epoch
	l.mu.Unlock()
	return nil
}

// broker is one broker's WAL store over its own data directory, sharing
// the catalog file and the bucket with the others.
type broker struct {
	*wal.Store
	leader *leader
}

type cluster struct {
	catPath string
	bucket  *objstore.Memory
	// walCatalog, when set, wraps the catalog the WAL commits through
	// (faults).
	walCatalog func(meta.Catalog) wal.Catalog
}

func newCluster(t testing.TB) *cluster {
	return &cluster{catPath: filepath.Join(t.TempDir(), "metadata.db"), bucket: objstore.NewMemory()}
}

func (c *cluster) catalog(t testing.TB) meta.Catalog {
	t.Helper()
	cat, err := sqlite.Open(t.Context(), c.catPath, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cat.Close() })
	return cat
}

// start opens a broker: a catalog handle, fs with the WAL's commit hook,
// tiered storage (every log tiered, 1 byte kept locally past uploads).
func (c *cluster) start(t testing.TB, node int32, now func() time.Time) *broker {
	t.Helper()
	cat := c.catalog(t)
	b := &broker{leader: newLeader(t, cat, node)}
	var w *wal.Store
	local, err := fs.New(t.TempDir(), fs.Options{Now: now, CommitInterval: time.Millisecond,
		Commit: func(ctx context.Context, as []fs.Appended) []error { return w.Commit(ctx, as) }})
	if err != nil {
		t.Fatal(err)
	}
	st, err := tiered.New(tiered.Options{Local: local, Bucket: c.bucket, Catalog: cat, CacheDir: t.TempDir(), Now: now,
		UploadInterval: 10 * time.Millisecond, Grace: 100 * time.Millisecond,
		ForceRemote: &storage.RemoteConfig{Enable: true, LocalRetentionMs: -1, LocalRetentionBytes: 1}})
	if err != nil {
		t.Fatal(err)
	}
	var wcat wal.Catalog = cat
	if c.walCatalog != nil {
		wcat = c.walCatalog(cat)
	}
	w, err = wal.New(wal.Options{Local: st, Bucket: c.bucket, Catalog: wcat, Leader: b.leader,
		Grace: 100 * time.Millisecond, ConsolidateInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	b.Store = w
	return b
}

var part = storage.Partition{Topic: "t", TopicID: meta.TopicID{9, 9}, Partition: 0}

func appendN(t *testing.T, l storage.Log, n int, tag int64) [][]byte {
	t.Helper()
	var out [][]byte
	for i := range n {
		b := storagetest.MakeBatch(2, 50, tag*1000+int64(i))
		if _, err := l.Append(t.Context(), b); err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// readAll reads the log from its start to its high watermark, batch by
// batch, as base offsets and sizes.
func readAll(t *testing.T, l storage.Log) []int64 {
	t.Helper()
	var bases []int64
	for off := l.LogStartOffset(); off < l.HighWatermark(); {
		b, err := l.Read(t.Context(), off, 1<<20, true, nil)
		if err != nil || len(b) == 0 {
			t.Fatalf("read at %d (hw %d): %d bytes, %v", off, l.HighWatermark(), len(b), err)
		}
		for len(b) > 0 {
			h, err := batch.ReadHeader(b)
			if err != nil {
				t.Fatal(err)
			}
			if h.NextOffset() > off {
				bases = append(bases, h.BaseOffset)
				off = h.NextOffset()
			}
			b = b[h.Size():]
		}
	}
	return bases
}

// TestFailover: broker 1 commits; it stops (its log closed uncleanly, as
// if killed) and broker 2 takes the partition over: it serves every
// committed batch at its offset and goes on after them. Broker 1, a
// zombie still holding its old log, can append but commits nothing.
func TestFailover(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	b1 := c.start(t, 1, time.Now)
	defer b1.Close()
	if err := b1.leader.take(t, part); err != nil {
		t.Fatal(err)
	}
	l1, err := b1.Open(t.Context(), part, storage.LogConfig{SegmentBytes: 4096})
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, l1, 40, 1)
	if err := l1.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	if hw := l1.HighWatermark(); hw != 80 {
		t.Fatalf("high watermark %d, want 80", hw)
	}
	want := readAll(t, l1)

	// Broker 1's lease moves to broker 2 (its session ended).
	b2 := c.start(t, 2, time.Now)
	defer b2.Close()
	if err := b1.leader.cat.DeregisterBroker(t.Context(), 1, b1.leader.epoch); err != nil {
		t.Fatal(err)
	}
	if err := b2.leader.take(t, part); err != nil {
		t.Fatal(err)
	}
	l2, err := b2.Open(t.Context(), part, storage.LogConfig{SegmentBytes: 4096})
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	if got := readAll(t, l2); len(got) != len(want) || l2.NextOffset() != 80 {
		t.Fatalf("broker 2 reads %d batches up to %d, want %d up to 80", len(got), l2.NextOffset(), len(want))
	}
	// The zombie appends; its commit fails; its acks=all wait fails.
	appendN(t, l1, 1, 2)
	if err := l1.Sync(t.Context()); err == nil {
		t.Fatal("the deposed leader's commit succeeded")
	}
	if _, err := l1.Append(t.Context(), storagetest.MakeBatch(1, 10, 1)); !errors.Is(err, wal.ErrNotLeader) {
		t.Fatalf("the deposed leader's next append: %v, want %v", err, wal.ErrNotLeader)
	}
	l1.Close()
	// Broker 2 goes on at 80.
	appendN(t, l2, 5, 3)
	if err := l2.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	if l2.HighWatermark() != 90 {
		t.Fatalf("broker 2's high watermark %d, want 90", l2.HighWatermark())
	}
	end, err := c.catalog(t).WALEnd(t.Context(), part.TopicID, 0)
	if err != nil || end != 90 {
		t.Fatalf("committed end %d, %v; want 90", end, err)
	}
}

// TestConsolidation: closed segments go to the bucket as tiered segments,
// the runs below them leave the catalog, and WAL objects no run names are
// deleted; a broker that takes over reads it all back.
func TestConsolidation(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	b1 := c.start(t, 1, time.Now)
	if err := b1.leader.take(t, part); err != nil {
		t.Fatal(err)
	}
	l1, err := b1.Open(t.Context(), part, storage.LogConfig{SegmentBytes: 2048})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		appendN(t, l1, 5, int64(i))
		if err := l1.Sync(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	want := readAll(t, l1)
	cat := c.catalog(t)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := l1.Retain(t.Context(), storage.RetentionPolicy{Now: time.Now(), Ms: -1, Bytes: -1}); err != nil {
			t.Fatal(err)
		}
		runs, err := cat.WALBatches(t.Context(), part.TopicID, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		objects := 0
		c.bucket.List(t.Context(), "wal/", func(objstore.Object) error { objects++; return nil })
		if len(runs) <= 3 && objects <= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 10 s: %d runs in the catalog, %d WAL objects; want the consolidated ones gone", len(runs), objects)
		}
		time.Sleep(20 * time.Millisecond)
	}
	l1.Close()
	b1.Close()
	if err := cat.DeregisterBroker(t.Context(), 1, b1.leader.epoch); err != nil {
		t.Fatal(err)
	}
	b2 := c.start(t, 2, time.Now)
	defer b2.Close()
	if err := b2.leader.take(t, part); err != nil {
		t.Fatal(err)
	}
	l2, err := b2.Open(t.Context(), part, storage.LogConfig{SegmentBytes: 2048})
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	got := readAll(t, l2)
	if len(got) != len(want) {
		t.Fatalf("after consolidation and a takeover: %d batches, want %d", len(got), len(want))
	}
}

// TestConformance: the storage suite over the WAL, every partition led by
// the one broker.
func TestConformance(t *testing.T) {
	t.Parallel()
	storagetest.Run(t, func(t *testing.T, envt storagetest.Env) storage.Store {
		c := newCluster(t)
		b := c.start(t, 1, envt.Now)
		return grantAll{b}
	})
}

// grantAll takes each partition's lease as it opens (with a topic ID of
// its own, as the broker gives one).
type grantAll struct{ *broker }

func withID(p storage.Partition) storage.Partition {
	if p.TopicID == (meta.TopicID{}) {
		sum := sha256.Sum256([]byte(p.Topic))
		copy(p.TopicID[:], sum[:16])
	}
	return p
}

func (g grantAll) Open(ctx context.Context, p storage.Partition, cfg storage.LogConfig) (storage.Log, error) {
	p = withID(p)
	if _, _, ok := g.leader.Lease(p); !ok {
		ls, err := g.leader.cat.AcquireLease(ctx, meta.LeaseKey{Kind: meta.LeasePartition, TopicID: p.TopicID, Partition: p.Partition}, g.leader.node, g.leader.epoch)
		if err != nil {
			return nil, err
		}
		g.leader.mu.Lock()
		g.leader.leases[[2]any{p.TopicID, p.Partition}] = ls.Epoch
		g.leader.mu.Unlock()
	}
	return g.broker.Open(ctx, p, cfg)
}

func (g grantAll) Delete(ctx context.Context, p storage.Partition) error {
	return g.broker.Delete(ctx, withID(p))
}

// TestCommitBelowTheEnd: a run below the committed end is taken as
// committed only while Open restores the log. Any other (a local log gone
// back below what the catalog holds) fails and makes the partition stale,
// instead of being acknowledged for offsets the catalog holds other
// records at.
func TestCommitBelowTheEnd(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	b := c.start(t, 1, time.Now)
	defer b.Close()
	if err := b.leader.take(t, part); err != nil {
		t.Fatal(err)
	}
	l, err := b.Open(t.Context(), part, storage.LogConfig{SegmentBytes: 4096})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	appendN(t, l, 5, 1)
	if err := l.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	errs := b.Commit(t.Context(), []fs.Appended{{Partition: part, Base: 2, Next: 4, Data: storagetest.MakeBatch(2, 50, 9)}})
	if len(errs) != 1 || !errors.Is(errs[0], storage.ErrNotLeader) {
		t.Fatalf("a run at 2-4 below the committed end 10: %v, want ErrNotLeader", errs)
	}
	if !l.(interface{ Stale() bool }).Stale() {
		t.Fatal("the partition is not stale after a run below its committed end")
	}
}

// TestTakeoverThroughBucketFaults: broker 1 commits a run per round, 60
// rounds; then the bucket fails 40% of reads and writes (503s, as S3's
// SlowDown). Broker 2 takes the partition over all the same: a rebuild
// tries each failed read again instead of failing, and a round's upload
// is tried again instead of failing the round (which would make the
// partition stale and rebuild it again).
func TestTakeoverThroughBucketFaults(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	b1 := c.start(t, 1, time.Now)
	defer b1.Close()
	if err := b1.leader.take(t, part); err != nil {
		t.Fatal(err)
	}
	l1, err := b1.Open(t.Context(), part, storage.LogConfig{SegmentBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 60 {
		appendN(t, l1, 1, int64(i))
		if err := l1.Sync(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	want := readAll(t, l1)
	l1.Close()

	var faulted atomic.Int64
	c.bucket.SetFault(func(op, key string) (time.Duration, error) {
		if (op == "get" || op == "put") && rand.Float64() < 0.4 {
			faulted.Add(1)
			return 0, objstore.ErrUnavailable
		}
		return 0, nil
	})
	b2 := c.start(t, 2, time.Now)
	defer b2.Close()
	if err := b1.leader.cat.DeregisterBroker(t.Context(), 1, b1.leader.epoch); err != nil {
		t.Fatal(err)
	}
	if err := b2.leader.take(t, part); err != nil {
		t.Fatal(err)
	}
	l2, err := b2.Open(t.Context(), part, storage.LogConfig{SegmentBytes: 1 << 20})
	if err != nil {
		t.Fatalf("taking over while the bucket fails 40%% of reads: %v", err)
	}
	defer l2.Close()
	if got := readAll(t, l2); !slices.Equal(got, want) || l2.NextOffset() != 120 {
		t.Fatalf("broker 2 reads batches at %v up to %d, want %v up to 120", got, l2.NextOffset(), want)
	}
	for i := range 10 {
		appendN(t, l2, 1, int64(100+i))
		if err := l2.Sync(t.Context()); err != nil {
			t.Fatalf("a round while the bucket fails 40%% of uploads: %v", err)
		}
	}
	if faulted.Load() == 0 {
		t.Fatal("no fault injected")
	}
	t.Logf("%d bucket calls faulted", faulted.Load())
}

// outageCatalog fails the first fails CommitWAL calls as a catalog that
// cannot be reached does.
type outageCatalog struct {
	meta.Catalog
	fails atomic.Int32
	calls atomic.Int32
}

func (c *outageCatalog) CommitWAL(ctx context.Context, node int32, sessionEpoch int64, batches []meta.WALBatch) ([]int, error) {
	c.calls.Add(1)
	if c.fails.Add(-1) >= 0 {
		return nil, fmt.Errorf("commit: %w: connection refused", meta.ErrUnavailable)
	}
	return c.Catalog.CommitWAL(ctx, node, sessionEpoch, batches)
}

// TestCommitThroughCatalogOutage: a round whose commit cannot reach the
// catalog (PostgreSQL restarting) is tried again while the broker holds
// the lease, and is acknowledged once the catalog is back: the partition
// does not go stale (which would rebuild it from the bucket).
func TestCommitThroughCatalogOutage(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	oc := &outageCatalog{}
	c.walCatalog = func(cat meta.Catalog) wal.Catalog { oc.Catalog = cat; return oc }
	b := c.start(t, 1, time.Now)
	defer b.Close()
	if err := b.leader.take(t, part); err != nil {
		t.Fatal(err)
	}
	l, err := b.Open(t.Context(), part, storage.LogConfig{SegmentBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	appendN(t, l, 3, 1)
	if err := l.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	oc.fails.Store(3)
	appendN(t, l, 3, 2)
	if err := l.Sync(t.Context()); err != nil {
		t.Fatalf("a round through a short catalog outage: %v", err)
	}
	if st, ok := l.(interface{ Stale() bool }); !ok || st.Stale() {
		t.Fatal("the partition went stale")
	}
	if n := oc.calls.Load(); n < 5 {
		t.Fatalf("%d commit calls, want the failed ones tried again", n)
	}
	end, err := c.catalog(t).WALEnd(t.Context(), part.TopicID, 0)
	if err != nil || end != 12 {
		t.Fatalf("committed end %d, %v; want 12", end, err)
	}
}

package tiered_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/streamhouse/streamhouse/batch"
	"github.com/streamhouse/streamhouse/meta"
	"github.com/streamhouse/streamhouse/storage"
	"github.com/streamhouse/streamhouse/storage/fs"
	"github.com/streamhouse/streamhouse/storage/objstore"
	"github.com/streamhouse/streamhouse/storage/storagetest"
	"github.com/streamhouse/streamhouse/storage/tiered"
)

// clusterTiered is the cluster mode's tiering: everything uploaded, local
// copies kept (the leader's cache) until the cleaner replaces them.
var clusterTiered = &storage.RemoteConfig{Enable: true, LocalRetentionMs: -1, LocalRetentionBytes: -1}

// openCluster opens a tiered store as the cluster mode's: everything
// tiered, local copies kept, and a grace period longer than the test.
func openCluster(t *testing.T, e *env, dir string) *tiered.Store {
	t.Helper()
	local, err := fs.New(filepath.Join(dir, "storage"), fs.Options{})
	if err != nil {
		t.Fatal(err)
	}
	st, err := tiered.New(tiered.Options{
		Local: local, Bucket: e.bucket, Catalog: e.cat,
		CacheDir: filepath.Join(dir, "remote-cache"), CacheBytes: 64 << 20,
		UploadInterval: 20 * time.Millisecond, Grace: time.Minute, ForceRemote: clusterTiered,
	})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// lead registers broker 1 in e's catalog and has it take part's lease.
func lead(t *testing.T, e *env) meta.Fence {
	t.Helper()
	epoch, err := e.cat.RegisterBroker(t.Context(), meta.BrokerRegistration{NodeID: 1, Listeners: []meta.BrokerListener{{Name: "PLAINTEXT", Host: "127.0.0.1", Port: 9092, SecurityProtocol: "PLAINTEXT"}}}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	key := meta.LeaseKey{Kind: meta.LeasePartition, TopicID: part.TopicID, Partition: part.Partition}
	l, err := e.cat.AcquireLease(t.Context(), key, 1, epoch)
	if err != nil {
		t.Fatal(err)
	}
	return meta.Fence{Key: key, Node: 1, SessionEpoch: epoch, Epoch: l.Epoch}
}

// withProducer sets b's producer fields and attributes, and its CRC.
func withProducer(b []byte, pid int64, epoch int16, seq int32, attrs int16) []byte {
	be := binary.BigEndian
	be.PutUint64(b[43:], uint64(pid))
	be.PutUint16(b[51:], uint16(epoch))
	be.PutUint32(b[53:], uint32(seq))
	be.PutUint16(b[21:], uint16(attrs))
	be.PutUint32(b[17:], crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli)))
	return b
}

type keyed struct {
	offset     int64
	key, value string
	tombstone  bool
}

// records reads the log from its start: every record, by offset.
func records(t *testing.T, l storage.Log) []keyed {
	t.Helper()
	var out []keyed
	last := int64(-1)
	for _, b := range readAll(t, l) {
		h, err := batch.Parse(b)
		if err != nil {
			t.Fatal(err)
		}
		if h.Control() {
			continue
		}
		err = batch.Records(batch.RecordsSection(b, &h), func(r batch.Record) bool {
			off := h.BaseOffset + int64(r.OffsetDelta)
			if off <= last {
				t.Fatalf("offset %d after %d", off, last)
			}
			last = off
			out = append(out, keyed{off, string(r.Key), string(r.Value), r.Value == nil})
			return true
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func remotePolicy(now time.Time) storage.CompactPolicy {
	return storage.CompactPolicy{
		Now: now, DeleteRetentionMs: time.Minute.Milliseconds(), MinCleanableRatio: 0.5,
		MaxLagMs: math.MaxInt64, MaxKeys: 1 << 16, MaxBatchBytes: 1 << 20,
	}
}

// waitRemote waits until every closed local segment is uploaded.
func waitRemote(t *testing.T, l storage.Log) {
	t.Helper()
	tl := l.(*tiered.Log)
	deadline := time.Now().Add(60 * time.Second) // a bound for a stuck upload
	for {
		if n, _ := tl.UploadBacklog(); n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("uploads stuck")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestCompactRemote: the cluster mode's cleaner rewrites the uploaded
// segments so that each key keeps its latest value, expired tombstones and
// aborted records go, offsets stay; the leader's local copies go so that
// its reads see the cleaned log; a new leader (an empty data directory)
// reads the same; a deposed leader's pass swaps nothing.
func TestCompactRemote(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	f := lead(t, e)
	st := openCluster(t, e, e.dir)
	cfg := storage.LogConfig{SegmentBytes: 2048}
	l, err := st.Open(t.Context(), part, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	now := time.Now()
	app := func(b []byte) int64 {
		t.Helper()
		off, err := l.Append(ctx, b)
		if err != nil {
			t.Fatal(err)
		}
		return off
	}
	kv := func(k, v string) storagetest.KV { return storagetest.KV{Key: []byte(k), Value: []byte(v)} }
	latest := map[string]string{}
	// An aborted transaction's value for k0, and a tombstone old enough
	// to go (and one too young to).
	app(withProducer(storagetest.MakeKeyedBatch(now.UnixMilli(), kv("k0", "aborted")), 7, 0, 0, batch.AttrTransactional))
	app(batch.MakeControl(batch.ControlAbort, 7, 0, 0, now.UnixMilli()))
	app(storagetest.MakeKeyedBatch(now.UnixMilli(), kv("gone", "x")))
	app(storagetest.MakeKeyedBatch(now.Add(-time.Hour).UnixMilli(), storagetest.KV{Key: []byte("gone")}))
	app(storagetest.MakeKeyedBatch(now.UnixMilli(), kv("young", "x")))
	app(storagetest.MakeKeyedBatch(now.UnixMilli(), storagetest.KV{Key: []byte("young")}))
	for i := range 300 {
		k, v := fmt.Sprintf("k%d", i%10), fmt.Sprintf("v%d", i)
		app(storagetest.MakeKeyedBatch(now.UnixMilli(), kv(k, v)))
		latest[k] = v
	}
	if err := l.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	waitRemote(t, l)
	tl := l.(*tiered.Log)
	before := records(t, l)

	res, err := tl.CompactRemote(ctx, remotePolicy(now), f)
	if err != nil {
		t.Fatal(err)
	}
	if res.CleanedTo <= 0 || res.RecordsKept >= res.RecordsRead || res.BytesAfter >= res.BytesBefore {
		t.Fatalf("pass result %+v: nothing cleaned", res)
	}
	if tl.LocalLogStartOffset() < res.CleanedTo {
		t.Fatalf("local log starts at %d, below the cleaned %d: the leader reads uncleaned copies", tl.LocalLogStartOffset(), res.CleanedTo)
	}
	check := func(got []keyed) {
		t.Helper()
		seen := map[string]bool{}
		last := map[string]keyed{}
		for _, r := range got {
			if r.value == "aborted" {
				t.Fatalf("aborted record at %d survived", r.offset)
			}
			if r.key == "gone" && r.tombstone {
				t.Fatalf("expired tombstone at %d survived", r.offset)
			}
			if r.offset < res.CleanedTo {
				if seen[r.key] {
					t.Fatalf("key %s twice below the cleaned offset %d", r.key, res.CleanedTo)
				}
				seen[r.key] = true
			}
			last[r.key] = r
		}
		for k, v := range latest {
			if last[k].value != v {
				t.Fatalf("key %s: latest value %q, want %q", k, last[k].value, v)
			}
		}
		if !last["young"].tombstone {
			t.Fatalf("the young tombstone went: %+v", last["young"])
		}
		// Offsets stay: every record read is one written at that offset.
		at := map[int64]keyed{}
		for _, r := range before {
			at[r.offset] = r
		}
		for _, r := range got {
			if at[r.offset] != r {
				t.Fatalf("record %+v was %+v before cleaning", r, at[r.offset])
			}
		}
	}
	after := records(t, l)
	check(after)
	t.Logf("first pass: %+v; %d records read back, %d before", res, len(after), len(before))
	if len(after) >= len(before) {
		t.Fatalf("%d records after cleaning, %d before", len(after), len(before))
	}
	segs, err := e.cat.RemoteSegments(ctx, part.TopicID, part.Partition)
	if err != nil {
		t.Fatal(err)
	}
	// Below the cleaned offset only the cleaner's segments are live (the
	// old ones are Deleting, or gone already past the test's grace).
	cleaned := 0
	for _, s := range segs {
		switch {
		case s.Deleting:
		case strings.HasPrefix(s.ID, "clean"):
			cleaned++
			// Recorded with its batches' leader epochs (one here),
			// as an uploaded segment is: OffsetsForLeaderEpoch
			// answers without reading it.
			if epochs, err := s.LeaderEpochs.Entries(); err != nil || len(epochs) != 1 || epochs[0].StartOffset < s.BaseOffset {
				t.Fatalf("cleaned segment %+v: leader epochs %v, %v", s, epochs, err)
			}
		case s.BaseOffset < res.CleanedTo:
			t.Fatalf("segment %+v below the cleaned offset %d is still live", s, res.CleanedTo)
		}
	}
	if cleaned == 0 {
		t.Fatalf("catalog after the pass: no cleaned segment: %+v", segs)
	}
	// A second pass finds nothing dirty enough.
	if res2, err := tl.CompactRemote(ctx, remotePolicy(now), f); err != nil || res2.Segments != 0 {
		t.Fatalf("second pass: %+v, %v", res2, err)
	}

	// A deposed leader: more dirty data, a pass under an old fence.
	for i := range 300 {
		app(storagetest.MakeKeyedBatch(now.UnixMilli(), kv(fmt.Sprintf("k%d", i%10), fmt.Sprintf("w%d", i))))
		latest[fmt.Sprintf("k%d", i%10)] = fmt.Sprintf("w%d", i)
	}
	if err := l.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	waitRemote(t, l)
	// The live segments (the sweep removes Deleting records meanwhile,
	// once past the test's grace).
	live := func() []meta.RemoteSegment {
		t.Helper()
		segs, err := e.cat.RemoteSegments(ctx, part.TopicID, part.Partition)
		if err != nil {
			t.Fatal(err)
		}
		return slices.DeleteFunc(segs, func(s meta.RemoteSegment) bool { return s.Deleting })
	}
	segsBefore := live()
	stale := f
	stale.Epoch++
	if _, err := tl.CompactRemote(ctx, remotePolicy(now), stale); !errors.Is(err, meta.ErrFenced) {
		t.Fatalf("pass under a lost lease: err = %v, want %v", err, meta.ErrFenced)
	}
	segsAfter := live()
	if !slices.Equal(segsAfter, segsBefore) {
		t.Fatalf("a fenced pass changed the catalog:\n%+v\nwas\n%+v", segsAfter, segsBefore)
	}
	recorded := map[string]bool{}
	for _, s := range segsAfter {
		recorded[s.ID] = true
	}
	err = e.bucket.List(ctx, "", func(o objstore.Object) error {
		if i := strings.Index(o.Key, "-clean"); i >= 0 && !recorded[strings.TrimSuffix(o.Key[i+1:], path.Ext(o.Key))] {
			return fmt.Errorf("object %s of the fenced pass left behind", o.Key)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	before = records(t, l)
	res, err = tl.CompactRemote(ctx, remotePolicy(now), f)
	if err != nil {
		t.Fatal(err)
	}
	final := records(t, l)
	check(final)
	t.Logf("third pass: %+v; %d records read back, %d before", res, len(final), len(before))
	end := tl.RemoteEnd()
	l.Close()
	st.Close()

	// A new leader: an empty data directory, the catalog and bucket kept.
	st = openCluster(t, e, t.TempDir())
	defer st.Close()
	l, err = st.Open(ctx, part, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	got := records(t, l)
	want := slices.DeleteFunc(final, func(r keyed) bool { return r.offset >= end })
	if !slices.Equal(got, want) {
		t.Fatalf("a new leader reads %d records, the old one %d below the remote end %d", len(got), len(want), end)
	}
}

// TestCompactRemoteBounds: min.compaction.lag.ms keeps young segments out
// of a pass, and an open transaction stops it at the segment before its
// first offset (the last stable offset), as in storage/fs.
func TestCompactRemoteBounds(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	f := lead(t, e)
	st := openCluster(t, e, e.dir)
	defer st.Close()
	l, err := st.Open(t.Context(), part, storage.LogConfig{SegmentBytes: 2048})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ctx := t.Context()
	now := time.Now()
	app := func(b []byte) int64 {
		t.Helper()
		off, err := l.Append(ctx, b)
		if err != nil {
			t.Fatal(err)
		}
		return off
	}
	rounds := func(n int) {
		for i := range n {
			app(storagetest.MakeKeyedBatch(now.UnixMilli(), storagetest.KV{Key: []byte(fmt.Sprintf("k%d", i%5)), Value: []byte(fmt.Sprint(i))}))
		}
	}
	rounds(100)
	open := app(withProducer(storagetest.MakeKeyedBatch(now.UnixMilli(), storagetest.KV{Key: []byte("k0"), Value: []byte("open")}), 9, 0, 0, batch.AttrTransactional))
	rounds(100)
	if err := l.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	waitRemote(t, l)
	tl := l.(*tiered.Log)
	if lso := l.LastStableOffset(); lso != open {
		t.Fatalf("last stable offset %d, want the open transaction's %d", lso, open)
	}

	young := remotePolicy(now)
	young.MinLagMs = time.Hour.Milliseconds()
	if res, err := tl.CompactRemote(ctx, young, f); err != nil || res.Segments != 0 {
		t.Fatalf("a pass over segments younger than min.compaction.lag.ms: %+v, %v", res, err)
	}
	before := records(t, l)
	res, err := tl.CompactRemote(ctx, remotePolicy(now), f)
	if err != nil {
		t.Fatal(err)
	}
	if res.CleanedTo == 0 || res.CleanedTo > open {
		t.Fatalf("cleaned to %d, want past 0 and not past the open transaction at %d", res.CleanedTo, open)
	}
	var from []keyed
	for _, r := range before {
		if r.offset >= res.CleanedTo {
			from = append(from, r)
		}
	}
	after := records(t, l)
	if !slices.Equal(after[len(after)-len(from):], from) {
		t.Fatalf("records from the cleaned offset %d changed", res.CleanedTo)
	}
	if len(after) >= len(before) {
		t.Fatalf("%d records after the pass, %d before", len(after), len(before))
	}
}

package broker_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/streamhouse/streamhouse/broker/brokertest"
	"github.com/streamhouse/streamhouse/internal/pgtest"
	"github.com/streamhouse/streamhouse/storage"
	"github.com/streamhouse/streamhouse/storage/storagetest"
)

// A topic's creation is its catalog commit: the answer waits for no log
// (here one is held from opening), whose directories and files follow.
// What a deletion cut short left under the name is gone first. A crash
// right after the answer (the data directory as it stands, copied) leaves
// the topic with every partition, each served from offset 0.
func TestCreateTopicLazily(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	b := brokertest.New(t, brokertest.Options{Dir: dir})
	c := dialRaw(t, b.Addr())
	now := time.Now().UnixMilli()
	createTopic(t, c, "old", 4, nil)
	if r := produce(t, c, "old", 2, -1, storagetest.MakeBatch(3, 10, now)); r.ErrorCode != 0 {
		t.Fatalf("produce to old-2: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	b.Stop()
	// A topic "wide" deleted from the catalog, its partition 2 still on
	// disk: a deletion cut short.
	storageDir := filepath.Join(dir, "storage")
	if err := os.CopyFS(filepath.Join(storageDir, "wide", "2"), os.DirFS(filepath.Join(storageDir, "old", "2"))); err != nil {
		t.Fatal(err)
	}

	st := &gateStore{held: storage.Partition{Topic: "wide", Partition: 3}, gate: make(chan struct{}), cfgs: map[int32]storage.LogConfig{}}
	addr, _ := serveStore(t, dir, func(fst storage.Store) storage.Store {
		st.Store = fst
		return st
	})
	c = dialRaw(t, addr)
	createTopic(t, c, "wide", 8, nil) // while wide-3 cannot open
	crashed := t.TempDir()
	if err := os.CopyFS(crashed, os.DirFS(dir)); err != nil {
		t.Fatal(err)
	}
	for _, p := range []int32{2, 5} {
		if r := produce(t, c, "wide", p, -1, storagetest.MakeBatch(1, 10, now)); r.ErrorCode != 0 || r.BaseOffset != 0 {
			t.Fatalf("produce to wide-%d: %v at %d, want offset 0", p, kerr.ErrorForCode(r.ErrorCode), r.BaseOffset)
		}
	}
	close(st.gate)
	if r := produce(t, c, "wide", 3, -1, storagetest.MakeBatch(1, 10, now)); r.ErrorCode != 0 || r.BaseOffset != 0 {
		t.Fatalf("produce to wide-3: %v at %d, want offset 0", kerr.ErrorForCode(r.ErrorCode), r.BaseOffset)
	}

	// The broker after a crash right after the creation's answer. On a
	// PostgreSQL catalog (STREAMHOUSE_TEST_METADATA=postgres) the catalog
	// is not in the data directory: the copy starts on the original's.
	opts := brokertest.Options{Dir: crashed}
	if pgtest.Enabled() {
		opts.DatabaseURL = pgtest.URLFor(t, dir)
	}
	b2 := brokertest.New(t, opts)
	c2 := dialRaw(t, b2.Addr())
	md := c2.do(at(kmsg.NewPtrMetadataRequest(), 12)).(*kmsg.MetadataResponse)
	var parts []kmsg.MetadataResponseTopicPartition
	for _, mt := range md.Topics {
		if deref(mt.Topic) == "wide" {
			parts = mt.Partitions
		}
	}
	if len(parts) != 8 {
		t.Fatalf("after the crash, wide has %d partitions in the metadata, want 8", len(parts))
	}
	for p := range int32(8) {
		if parts[p].ErrorCode != 0 {
			t.Fatalf("after the crash, wide-%d: %v", p, kerr.ErrorForCode(parts[p].ErrorCode))
		}
		if r := produce(t, c2, "wide", p, -1, storagetest.MakeBatch(1, 10, now)); r.ErrorCode != 0 || r.BaseOffset != 0 {
			t.Fatalf("after the crash, produce to wide-%d: %v at %d, want offset 0", p, kerr.ErrorForCode(r.ErrorCode), r.BaseOffset)
		}
	}
}

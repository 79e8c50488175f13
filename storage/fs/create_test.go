package fs

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/streamhouse/streamhouse/storage"
	"github.com/streamhouse/streamhouse/storage/storagetest"
)

// Partitions lists the partition directories of a topic, whether their
// logs are open or not, and nothing for a topic without any.
func TestPartitionsListed(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	st, err := New(dir, Options{NoNursery: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, p := range []storage.Partition{{Topic: "t", Partition: 0}, {Topic: "t", Partition: 3}, {Topic: "t", Partition: 10}, {Topic: "u", Partition: 1}} {
		l, err := st.Open(t.Context(), p, storage.LogConfig{})
		if err != nil {
			t.Fatal(err)
		}
		if p.Partition != 3 {
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Not a partition's name: left out.
	for _, name := range []string{"x", "07", "-1"} {
		if err := os.Mkdir(filepath.Join(dir, "t", name), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for topic, want := range map[string][]int32{"t": {0, 3, 10}, "u": {1}, "none": nil, "..": nil} {
		got, err := st.Partitions(topic)
		slices.Sort(got)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("Partitions(%q) = %v, %v; want %v", topic, got, err, want)
		}
	}
}

// A log opened in a directory Open made (initEmpty, no recovery) is the log
// recovery would make of it: at InitialOffset, its first append durable
// with its directories, found again after a crash.
func TestNewPartitionAsRecovered(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	st, err := New(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	p := storage.Partition{Topic: "new", Partition: 0}
	l, err := st.Open(t.Context(), p, storage.LogConfig{InitialOffset: 42})
	if err != nil {
		t.Fatal(err)
	}
	if got := l.NextOffset(); got != 42 {
		t.Fatalf("a new log at InitialOffset 42 ends at %d", got)
	}
	base, err := l.Append(t.Context(), storagetest.MakeBatch(2, 10, 1))
	if err != nil || base != 42 {
		t.Fatalf("append: %d, %v", base, err)
	}
	if err := l.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	// A crash: the log abandoned, the store not closed.
	l.(*Log).abandon()
	st2, err := New(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st2.Close()
	l2, err := st2.Open(t.Context(), p, storage.LogConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	if got := l2.HighWatermark(); got != 44 {
		t.Fatalf("after the crash the log ends at %d, want 44", got)
	}
}

// BenchmarkCreatePartitions: opening 2,000 partitions that do not exist
// yet (a new topic's, as its first requests open them), 16 at a time as
// the broker's Metadata does; off the clock they are closed (empty: they
// write nothing) and deleted.
//
//	go test ./storage/fs -run '^$' -bench CreatePartitions -benchtime 5x -count 5
func BenchmarkCreatePartitions(b *testing.B) {
	const n = 2000
	st, err := New(b.TempDir(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	for i := range b.N {
		topic := fmt.Sprintf("new%d", i)
		logs := make([]storage.Log, n)
		errs := make([]error, n)
		work := make(chan int)
		done := make(chan struct{})
		for range 16 {
			go func() {
				for p := range work {
					logs[p], errs[p] = st.Open(b.Context(), storage.Partition{Topic: topic, Partition: int32(p)}, storage.LogConfig{})
				}
				done <- struct{}{}
			}()
		}
		for p := range n {
			work <- p
		}
		close(work)
		for range 16 {
			<-done
		}
		b.StopTimer()
		for p, l := range logs {
			if errs[p] != nil {
				b.Fatal(errs[p])
			}
			if err := l.Close(); err != nil {
				b.Fatal(err)
			}
			if err := st.Delete(b.Context(), storage.Partition{Topic: topic, Partition: int32(p)}); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*n), "µs/partition")
}

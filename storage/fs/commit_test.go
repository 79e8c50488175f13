package fs

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/streamhouse/streamhouse/batch"
	"github.com/streamhouse/streamhouse/storage"
	"github.com/streamhouse/streamhouse/storage/storagetest"
)

// committed is an Options.Commit that records what it was given and
// refuses what fail says.
type committed struct {
	mu     sync.Mutex
	rounds [][]Appended
	fail   func(a Appended) error
}

func (c *committed) commit(_ context.Context, as []Appended) []error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rounds = append(c.rounds, as)
	errs := make([]error, len(as))
	for i, a := range as {
		if c.fail != nil {
			errs[i] = c.fail(a)
		}
	}
	return errs
}

// TestCommitHook: under Options.Commit each round hands over every log's
// new batches, exactly once and contiguous across rounds and segment
// rolls; the high watermark moves only after it; a refused commit fails
// the acks=all wait and the log heals.
func TestCommitHook(t *testing.T) {
	t.Parallel()
	c := &committed{}
	st, err := New(t.TempDir(), Options{Commit: c.commit, CommitInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	p0, p1 := storage.Partition{Topic: "t", Partition: 0}, storage.Partition{Topic: "t", Partition: 1}
	cfg := storage.LogConfig{SegmentBytes: 2048}
	l0, err := st.Open(t.Context(), p0, cfg)
	if err != nil {
		t.Fatal(err)
	}
	l1, err := st.Open(t.Context(), p1, cfg)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 30 {
		b := storagetest.MakeBatch(3, 100, int64(i))
		if _, err := l0.Append(t.Context(), b); err != nil {
			t.Fatal(err)
		}
		if i%10 == 9 {
			if err := l0.Sync(t.Context()); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := l1.Append(t.Context(), storagetest.MakeBatch(1, 10, int64(i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := l1.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	if l0.HighWatermark() != 90 || l1.HighWatermark() != 30 {
		t.Fatalf("high watermarks %d, %d; want 90, 30", l0.HighWatermark(), l1.HighWatermark())
	}
	all, err := l0.Read(t.Context(), 0, 1<<20, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	for len(all) < 30*int(len(storagetest.MakeBatch(3, 100, 0))) {
		more, err := l0.Read(t.Context(), lastNextOf(all), 1<<20, true, nil)
		if err != nil || len(more) == 0 {
			break
		}
		all = append(all, more...)
	}
	want0 := all
	c.mu.Lock()
	var got0 []byte
	next := map[int32]int64{}
	for _, r := range c.rounds {
		seen := map[int32]bool{}
		for _, a := range r {
			if seen[a.Partition.Partition] {
				t.Fatalf("partition %d twice in one round", a.Partition.Partition)
			}
			seen[a.Partition.Partition] = true
			if a.Base != next[a.Partition.Partition] {
				t.Fatalf("partition %d: a round from %d, want %d", a.Partition.Partition, a.Base, next[a.Partition.Partition])
			}
			if _, err := batch.Check(a.Data[:batchLen(a.Data)]); err != nil {
				t.Fatalf("partition %d: round data does not start with a batch: %v", a.Partition.Partition, err)
			}
			next[a.Partition.Partition] = a.Next
			if a.Partition.Partition == 0 {
				got0 = append(got0, a.Data...)
			}
		}
	}
	c.mu.Unlock()
	if !bytes.Equal(got0, want0) || next[0] != 90 || next[1] != 30 {
		t.Fatalf("committed %d bytes of partition 0 up to %d (want %d bytes, 90), partition 1 up to %d", len(got0), next[0], len(want0), next[1])
	}

	// A refused commit: the wait fails, nothing is published, the log
	// heals and takes appends again.
	refuse := errors.New("lease lost")
	c.mu.Lock()
	c.fail = func(a Appended) error {
		if a.Partition.Partition == 0 {
			return refuse
		}
		return nil
	}
	c.mu.Unlock()
	if _, err := l0.Append(t.Context(), storagetest.MakeBatch(1, 10, 99)); err != nil {
		t.Fatal(err)
	}
	if err := l0.Sync(t.Context()); err == nil {
		t.Fatal("Sync of a refused commit succeeded")
	}
	if l0.HighWatermark() != 90 {
		t.Fatalf("high watermark %d after a refused commit, want 90", l0.HighWatermark())
	}
	c.mu.Lock()
	c.fail = nil
	c.mu.Unlock()
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := l0.Append(t.Context(), storagetest.MakeBatch(1, 10, 100))
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the log did not heal: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := l0.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
}

func batchLen(b []byte) int {
	h, err := batch.ReadHeader(b)
	if err != nil {
		return len(b)
	}
	return int(h.Size())
}

func lastNextOf(b []byte) int64 {
	var next int64
	for len(b) > 0 {
		h, err := batch.ReadHeader(b)
		if err != nil {
			return next
		}
		next = h.NextOffset()
		b = b[h.Size():]
	}
	return next
}

// TestCommitBytes: a round starts before its CommitInterval once
// CommitBytes were appended (the cluster mode's size trigger): with an
// interval of an hour, rounds after the first come from the bytes alone.
func TestCommitBytes(t *testing.T) {
	t.Parallel()
	c := &committed{}
	st, err := New(t.TempDir(), Options{Commit: c.commit, CommitInterval: time.Hour, CommitBytes: 1000})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	l, err := st.Open(t.Context(), storage.Partition{Topic: "t", Partition: 0}, storage.LogConfig{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, err := l.Append(t.Context(), storagetest.MakeBatch(10, 200, int64(i))); err != nil {
			t.Fatal(err)
		}
		// The guard is for a broken trigger: the wait would be an hour.
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		err := l.Sync(ctx)
		cancel()
		if err != nil {
			t.Fatalf("round %d: %v", i, err)
		}
	}
	if l.HighWatermark() != 30 {
		t.Fatalf("high watermark %d, want 30", l.HighWatermark())
	}
}

// TestCommitCloseUncommitted: under Options.Commit, durable means
// committed. An acks=all wait for batches no round handed to the Commit
// hook fails when the log is closed under it (a cluster broker giving a
// partition up), instead of being answered as durable: Close fsyncs the
// local files, and that is not a commit.
func TestCommitCloseUncommitted(t *testing.T) {
	t.Parallel()
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	c := &committed{}
	hook := func(ctx context.Context, as []Appended) []error {
		once.Do(func() { close(entered); <-release })
		return c.commit(ctx, as)
	}
	st, err := New(t.TempDir(), Options{Commit: hook, CommitInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	l, err := st.Open(t.Context(), storage.Partition{Topic: "t", Partition: 0}, storage.LogConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(t.Context(), storagetest.MakeBatch(3, 10, 0)); err != nil {
		t.Fatal(err)
	}
	first := make(chan error, 1)
	go func() { first <- l.SyncTo(t.Context(), 3) }()
	<-entered // round 1 holds offsets 0-2 in the hook
	if _, err := l.Append(t.Context(), storagetest.MakeBatch(3, 10, 1)); err != nil {
		t.Fatal(err)
	}
	second := make(chan error, 1)
	go func() { second <- l.SyncTo(t.Context(), 6) }()
	for {
		st.commit.mu.Lock()
		n := st.commit.waiting
		st.commit.mu.Unlock()
		if n == 2 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	closed := make(chan error, 1)
	go func() { closed <- l.Close() }()
	<-closed
	close(release)
	if err := <-first; err != nil {
		t.Fatalf("the wait for offsets 0-2, committed: %v", err)
	}
	err = <-second
	c.mu.Lock()
	handed := int64(0)
	for _, r := range c.rounds {
		for _, a := range r {
			handed = max(handed, a.Next)
		}
	}
	c.mu.Unlock()
	if err == nil && handed < 6 {
		t.Fatalf("the wait for offsets 3-5 succeeded, but the Commit hook was given offsets below %d only", handed)
	}
}

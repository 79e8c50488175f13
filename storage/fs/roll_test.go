package fs

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/streamhouse/streamhouse/storage"
	"github.com/streamhouse/streamhouse/storage/storagetest"
)

// TestRollDoesNotWaitForCheckpoint: a roll does not wait, holding the
// appender lock, for a checkpoint being written (whose writer holds ckptMu
// across its fsyncs). The lock it holds is one every commit round takes, so
// waiting there stalled the acknowledgements of every partition behind one
// partition's checkpoint. The rolled segments' index files follow from the
// checkpoint writer.
func TestRollDoesNotWaitForCheckpoint(t *testing.T) {
	t.Parallel()
	st, err := New(t.TempDir(), Options{NoNursery: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	cfg := storage.LogConfig{SegmentBytes: 2000, IndexIntervalBytes: 100}
	a := openLog(t, st, storage.Partition{Topic: "t", Partition: 0}, cfg)
	b := openLog(t, st, storage.Partition{Topic: "t", Partition: 1}, cfg)

	// A checkpoint of a is being written.
	a.ckptMu.Lock()
	held := true
	defer func() {
		if held {
			a.ckptMu.Unlock()
		}
	}()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- func() error {
			// Enough to roll a several times, each append acknowledged.
			for range 12 {
				if _, err := a.Append(ctx, storagetest.MakeBatch(5, 100, 1)); err != nil {
					return err
				}
				if err := a.SyncTo(ctx, a.NextOffset()); err != nil {
					return err
				}
			}
			// And another partition's append, in a round that takes
			// a's lock too if a has anything to sync.
			if _, err := a.Append(ctx, storagetest.MakeBatch(1, 10, 1)); err != nil {
				return err
			}
			if _, err := b.Append(ctx, storagetest.MakeBatch(1, 10, 1)); err != nil {
				return err
			}
			return b.SyncTo(ctx, b.NextOffset())
		}()
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("appends and their commit rounds while a checkpoint of a held ckptMu: %v", err)
		}
	case <-time.After(time.Minute):
		// The bound turns a hang into a failure; it is not an
		// assertion about speed.
		t.Fatal("appends and commit rounds waited for a checkpoint of a")
	}
	a.state.RLock()
	segs := append([]*segment(nil), a.segs...)
	a.state.RUnlock()
	if len(segs) < 3 {
		t.Fatalf("a has %d segments; the test wants rolls", len(segs))
	}
	held = false
	a.ckptMu.Unlock()

	// The checkpoint writer writes the rolled segments' index files.
	deadline := time.Now().Add(time.Minute)
	for _, s := range segs[:len(segs)-1] {
		for {
			_, err := os.Stat(s.sidePath(extIndex))
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("segment %d's index file: %v", s.base, err)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

package compattests

// Durability and recovery: the binary stopped (SIGTERM) or killed
// (SIGKILL), its segment, index and temporary files damaged as a crash, a
// bad disk or an interrupted write would leave them, and started again on
// the same data directory. Each time the broker must start, serve every
// valid batch, never serve garbage, continue the offsets, and say in its
// log what it did. Records are produced with franz-go, acks=all, one batch
// per partition per round (rcProducer), so the tests know where each batch
// lies in the files.

import (
	"bytes"
	enc "encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// rcParts is the number of partitions of the corruption tests' topics.
const rcParts = 3

// rcRounds runs n rounds of pr over partitions 0..parts-1, each batch of
// one to three records of about valueSize bytes.
func rcRounds(pr *rcProducer, parts int32, n, valueSize int) {
	pr.t.Helper()
	for range n {
		counts := map[int32]int{}
		for p := range parts {
			counts[p] = 1 + (pr.seq+int(p))%3
		}
		pr.round(counts, valueSize)
	}
}

// rcStart starts the binary on a new data directory, creates topic with
// parts partitions (and configs), and returns a producer for it whose
// timestamps start a minute ago.
func rcStart(t *testing.T, topic string, parts int32, configs map[string]string, extra ...string) (string, *proc, *rcProducer) {
	t.Helper()
	dir := t.TempDir()
	p := startProc(t, dir, "", extra...)
	fgCreateTopic(t, fgAdmin(t, p.addr), topic, parts, configs)
	return dir, p, rcNewProducer(t, p.addr, topic, time.Now().Add(-time.Minute).Truncate(time.Millisecond))
}

// rcLastBatch returns the last segment of a partition and its last batch's
// bytes and place.
func rcLastBatch(t *testing.T, partDir string) (rcSegment, rcFileBatch, []byte) {
	t.Helper()
	segs := rcSegments(t, partDir)
	if len(segs) == 0 {
		t.Fatalf("test setup: no segment in %s", partDir)
	}
	seg := segs[len(segs)-1]
	bs := rcWalkSegment(t, seg)
	if len(bs) == 0 {
		t.Fatalf("test setup: the last segment %s is empty", seg.path)
	}
	b := bs[len(bs)-1]
	data, err := os.ReadFile(seg.path)
	if err != nil {
		t.Fatal(err)
	}
	return seg, b, slices.Clone(data[b.pos : b.pos+b.size])
}

// rcNextBatchCopy is a copy of batch raw as the next append would have
// written it: base offset next.
func rcNextBatchCopy(raw []byte, next int64) []byte {
	c := slices.Clone(raw)
	enc.BigEndian.PutUint64(c, uint64(next))
	return c
}

// TestRecoveryTornTail kills the broker (after a clean stop and start, so
// that a checkpoint exists below the tail) and leaves a torn append at the
// end of two partitions' last segments: the first 30 bytes of a batch in
// partition 0, a whole batch but its last 7 bytes in partition 1. The
// broker must start, serve every acknowledged record and no garbage, cut
// the torn bytes (saying so: "truncat"), and give the next records the
// offsets that follow.
func TestRecoveryTornTail(t *testing.T) {
	t.Parallel()
	const topic = "torn"
	dir, p, pr := rcStart(t, topic, rcParts, nil)
	rcRounds(pr, rcParts, 8, 300)
	p.stop()
	p = startProc(t, dir, "")
	pr.connect(p.addr)
	rcRounds(pr, rcParts, 4, 300)
	rcKill(t, p)
	pr.checkLayout(dir)

	for part, cut := range map[int32]func(int) int{
		0: func(int) int { return 30 },
		1: func(n int) int { return n - 7 },
	} {
		seg, b, raw := rcLastBatch(t, rcPartDir(dir, topic, part))
		torn := rcNextBatchCopy(raw, b.last+1)
		rcAppendFile(t, seg.path, torn[:cut(len(torn))])
	}

	p = startProc(t, dir, "")
	rcCheckServed(t, p.addr, topic, rcParts, pr.recs)
	rcCheckLog(t, p, "the torn tail was cut off", "truncat")
	pr.connect(p.addr)
	rcRounds(pr, rcParts, 2, 300) // fails unless the offsets continue
	rcCheckServed(t, p.addr, topic, rcParts, pr.recs)
}

// TestRecoveryTrailingZeros kills the broker and appends 4 KiB of zeros to
// the last segment of partitions 0 and 2, as a file system may leave after
// a crash (the size grew, the data did not land). The broker must start,
// serve every record, cut the zeros ("truncat") and continue the offsets.
func TestRecoveryTrailingZeros(t *testing.T) {
	t.Parallel()
	const topic = "zeros"
	dir, p, pr := rcStart(t, topic, rcParts, nil)
	rcRounds(pr, rcParts, 10, 300)
	rcKill(t, p)
	pr.checkLayout(dir)

	for _, part := range []int32{0, 2} {
		segs := rcSegments(t, rcPartDir(dir, topic, part))
		rcAppendFile(t, segs[len(segs)-1].path, make([]byte, 4096))
	}

	p = startProc(t, dir, "")
	rcCheckServed(t, p.addr, topic, rcParts, pr.recs)
	rcCheckLog(t, p, "the zeros were cut off", "truncat")
	pr.connect(p.addr)
	rcRounds(pr, rcParts, 2, 300)
	rcCheckServed(t, p.addr, topic, rcParts, pr.recs)
}

// TestRecoveryCorruptLastBatch stops the broker cleanly, starts it, produces
// one more batch per partition and kills the broker at once, so that the
// last batches lie above the recovery point of the checkpoint (written at
// the clean stop, and next only after log.flush.offset.checkpoint.interval.ms,
// a minute by default). One bit of partition 0's last batch is flipped. The
// broker must treat it as a torn tail: cut that batch off ("truncat"), serve
// everything before it and no garbage, and give the next record of
// partition 0 the cut batch's offsets. The other partitions keep their last
// batch.
func TestRecoveryCorruptLastBatch(t *testing.T) {
	t.Parallel()
	const topic = "lastbit"
	dir, p, pr := rcStart(t, topic, rcParts, nil)
	rcRounds(pr, rcParts, 8, 300)
	p.stop()
	p = startProc(t, dir, "")
	pr.connect(p.addr)
	rcRounds(pr, rcParts, 1, 300)
	rcKill(t, p)
	pr.checkLayout(dir)

	seg, b, _ := rcLastBatch(t, rcPartDir(dir, topic, 0))
	rcFlipBit(t, seg.path, b.pos+rcHeaderSize+(b.size-rcHeaderSize)/2, 0x10)
	pr.recs[0] = pr.recs[0][:b.base]
	pr.batches[0] = pr.batches[0][:len(pr.batches[0])-1]

	p = startProc(t, dir, "")
	rcCheckServed(t, p.addr, topic, rcParts, pr.recs)
	rcCheckLog(t, p, "the corrupt last batch was cut off", "truncat")
	pr.connect(p.addr)
	rcRounds(pr, rcParts, 2, 300)
	rcCheckServed(t, p.addr, topic, rcParts, pr.recs)
}

// TestRecoveryCorruptBelowCheckpoint stops the broker cleanly (so the
// checkpoint's recovery point is the end of every log) and flips one bit in
// the records of partition 1's third batch. Data below the recovery point
// is known to have been durable: damage there is corruption, never a torn
// tail, and must not be cut off silently. The broker must start; partition
// 1 must go offline, at the latest when a fetch reaches the damaged batch:
// Fetch and Produce answer KAFKA_STORAGE_ERROR, no fetch ever serves the
// damaged batch (nor garbage), the segment file keeps its size, and the log
// has an ERROR line about the corruption. Partitions 0 and 2 serve and take
// records as before.
func TestRecoveryCorruptBelowCheckpoint(t *testing.T) {
	t.Parallel()
	const topic = "rotten"
	const damaged = int32(1)
	dir, p, pr := rcStart(t, topic, rcParts, nil)
	// About 15 KB per partition: past index.interval.bytes, so the offset
	// index has entries beyond the damaged batch.
	rcRounds(pr, rcParts, 12, 600)
	p.stop()
	pr.checkLayout(dir)

	segs := rcSegments(t, rcPartDir(dir, topic, damaged))
	bad := rcWalkSegment(t, segs[0])[2]
	rcFlipBit(t, segs[0].path, bad.pos+rcHeaderSize+(bad.size-rcHeaderSize)/2, 0x10)
	size := rcFileSize(t, segs[0].path)

	p = startProc(t, dir, "")

	// The damaged partition: valid batches before the damage, then
	// KAFKA_STORAGE_ERROR, and from then on nothing else.
	r := fgDialRaw(t, p.addr)
	offset, detected := int64(0), false
	for i := 0; i < 100 && !detected; i++ {
		f := rcFetch(r, topic, damaged, offset, 1<<20)
		switch {
		case f.code == kerr.KafkaStorageError.Code:
			detected = true
		case f.code != 0:
			t.Fatalf("fetch %s-%d at %d: %v, want records before the damaged batch [%d, %d] or KAFKA_STORAGE_ERROR",
				topic, damaged, offset, kerr.ErrorForCode(f.code), bad.base, bad.last)
		case len(f.batches) == 0:
			t.Fatalf("fetch %s-%d at %d: no records and no error (high watermark %d); the damaged batch [%d, %d] must answer KAFKA_STORAGE_ERROR",
				topic, damaged, offset, f.hw, bad.base, bad.last)
		}
		at := offset
		for _, b := range f.batches {
			if b.err != nil {
				t.Fatalf("fetch %s-%d at %d: served garbage (the damaged batch holds [%d, %d]): %v", topic, damaged, at, bad.base, bad.last, b.err)
			}
			if b.last >= bad.base {
				t.Fatalf("fetch %s-%d at %d: served the batch [%d, %d], at or after the damaged batch [%d, %d]; want KAFKA_STORAGE_ERROR",
					topic, damaged, at, b.base, b.last, bad.base, bad.last)
			}
			offset = b.last + 1
		}
	}
	if !detected {
		t.Fatalf("fetch %s-%d: no KAFKA_STORAGE_ERROR after 100 fetches", topic, damaged)
	}
	if f := rcFetch(r, topic, damaged, 0, 1<<20); f.code != kerr.KafkaStorageError.Code || len(f.batches) > 0 {
		t.Errorf("fetch %s-%d at 0 once the corruption was found: %v with %d batches, want KAFKA_STORAGE_ERROR (the partition is offline)",
			topic, damaged, kerr.ErrorForCode(f.code), len(f.batches))
	}
	if got := r.produce(9, topic, [16]byte{}, damaged, fgBatch(time.Now().UnixMilli(), []byte("after the damage"))); got.ErrorCode != kerr.KafkaStorageError.Code {
		t.Errorf("produce to %s-%d once the corruption was found: %v (base offset %d), want KAFKA_STORAGE_ERROR",
			topic, damaged, kerr.ErrorForCode(got.ErrorCode), got.BaseOffset)
	}
	if got := rcFileSize(t, segs[0].path); got != size {
		t.Errorf("%s: %d bytes after the start, %d before: corruption below the recovery point must not be cut off", segs[0].path, got, size)
	}
	rcCheckLog(t, p, "a loud line about the corruption", "level=ERROR", "corrupt")

	// Metadata now reports the partition as Kafka does after a log
	// directory failure (as it does for damage found when a log opens):
	// no leader, its replica offline; the others as before.
	cl, err := kgo.NewClient(kgo.SeedBrokers(p.addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	md, err := kadm.NewClient(cl).Metadata(t.Context(), topic)
	if err != nil {
		t.Fatal(err)
	}
	for part, pd := range md.Topics[topic].Partitions {
		if part == damaged {
			if !errors.Is(pd.Err, kerr.LeaderNotAvailable) || pd.Leader != -1 || !slices.Equal(pd.OfflineReplicas, []int32{1}) {
				t.Errorf("metadata of %s-%d once the corruption was found: err %v, leader %d, offline %v; want LEADER_NOT_AVAILABLE, -1, [1]",
					topic, part, pd.Err, pd.Leader, pd.OfflineReplicas)
			}
		} else if pd.Err != nil || pd.Leader != 1 || len(pd.OfflineReplicas) != 0 {
			t.Errorf("metadata of %s-%d: err %v, leader %d, offline %v; want it served by 1", topic, part, pd.Err, pd.Leader, pd.OfflineReplicas)
		}
	}

	// The other partitions serve as before and take new records.
	want := map[int32][]*kgo.Record{0: pr.recs[0], 2: pr.recs[2]}
	for _, part := range []int32{0, 2} {
		bs := rcFetchAll(t, p.addr, topic, part)
		if n := int64(len(pr.recs[part])); len(bs) == 0 || bs[len(bs)-1].last != n-1 {
			t.Errorf("%s-%d: raw fetches do not end at offset %d", topic, part, n-1)
		}
	}
	from := map[int32]kgo.Offset{0: kgo.NewOffset().AtStart(), 2: kgo.NewOffset().AtStart()}
	fgCheckConsumed(t, want, fgConsumeFrom(t, p.addr, topic, from, len(want[0])+len(want[2])), nil)
	pr.connect(p.addr)
	pr.round(map[int32]int{0: 2, 2: 1}, 300)
}

// TestRecoveryIndexes stops the broker cleanly and damages the index files
// of a topic whose partition 0 has three segments: deleted (.index and
// .timeindex), overwritten with garbage (.index), or cut in the middle of
// an entry (.timeindex). The broker must start, say it rebuilds the
// indexes ("rebuild"), serve every record, answer lookups by time as before
// (ListOffsets by timestamp and max timestamp), and continue the offsets.
func TestRecoveryIndexes(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name   string
		damage func(t *testing.T, path string) // each index file of the topic
	}{
		{"missing", func(t *testing.T, path string) {
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
		}},
		{"garbage-index", func(t *testing.T, path string) {
			if !strings.HasSuffix(path, ".index") {
				return
			}
			n := (max(rcFileSize(t, path), 64) + 7) &^ 7 // whole entries of garbage
			rng := rand.New(rand.NewPCG(uint64(n), 7))
			g := make([]byte, n)
			for i := range g {
				g[i] = byte(rng.Uint32())
			}
			if err := os.WriteFile(path, g, 0o644); err != nil {
				t.Fatal(err)
			}
		}},
		{"truncated-timeindex", func(t *testing.T, path string) {
			if !strings.HasSuffix(path, ".timeindex") {
				return
			}
			if n := rcFileSize(t, path); n >= 12 {
				if err := os.Truncate(path, n-5); err != nil {
					t.Fatal(err)
				}
			}
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			const topic = "indexed"
			dir, p, pr := rcStart(t, topic, 2, map[string]string{"segment.bytes": "1048576"})
			// Partition 0: 24 batches of one 100 KB record, three
			// segments; partition 1: small batches, one segment.
			for range 24 {
				pr.round(map[int32]int{0: 1}, 100_000)
				pr.round(map[int32]int{1: 1 + pr.seq%3}, 200)
			}
			p.stop()
			pr.checkLayout(dir)
			if n := len(rcSegments(t, rcPartDir(dir, topic, 0))); n < 3 {
				t.Fatalf("test setup: partition 0 has %d segments, want 3 or more", n)
			}

			var damaged int
			for part := range int32(2) {
				pd := rcPartDir(dir, topic, part)
				for _, ext := range []string{"*.index", "*.timeindex"} {
					files, err := filepath.Glob(filepath.Join(pd, ext))
					if err != nil {
						t.Fatal(err)
					}
					for _, f := range files {
						before, _ := os.ReadFile(f)
						c.damage(t, f)
						if after, err := os.ReadFile(f); err != nil || !bytes.Equal(before, after) {
							damaged++
						}
					}
				}
			}
			if damaged == 0 {
				t.Fatalf("test setup: no index file to damage in %s", dir)
			}

			p = startProc(t, dir, "")
			rcCheckServed(t, p.addr, topic, 2, pr.recs)
			fgCheckTimes(t, fgAdmin(t, p.addr), topic, pr.recs)
			rcCheckLog(t, p, "the indexes are rebuilt", "rebuild")
			pr.connect(p.addr)
			pr.round(map[int32]int{0: 1, 1: 2}, 5_000)
			rcCheckServed(t, p.addr, topic, 2, pr.recs)
		})
	}
}

// TestRecoveryLeftoverTempFiles stops the broker cleanly and leaves, in
// every partition directory, the temporary files of an interrupted index
// write (00000000000000000000.index.tmp) and checkpoint write
// (checkpoint.tmp), as a crash between write and rename would. The broker
// must remove them when it starts (saying "leftover"), never take their
// contents for data, and serve every record.
func TestRecoveryLeftoverTempFiles(t *testing.T) {
	t.Parallel()
	const topic = "leftovers"
	dir, p, pr := rcStart(t, topic, rcParts, nil)
	rcRounds(pr, rcParts, 5, 300)
	p.stop()

	var planted []string
	for part := range int32(rcParts) {
		pd := rcPartDir(dir, topic, part)
		for name, data := range map[string][]byte{
			"00000000000000000000.index.tmp": bytes.Repeat([]byte{0, 0, 0, 9, 0, 0, 0, 1}, 8),
			// A checkpoint (storage/fs's format) whose rename never
			// happened, with a log start offset the log never had: it
			// must not be read.
			"checkpoint.tmp": []byte("streamhouse-checkpoint 1\nrecovery-point 0 0 0\nlog-start-offset 7\n"),
		} {
			f := filepath.Join(pd, name)
			if err := os.WriteFile(f, data, 0o644); err != nil {
				t.Fatal(err)
			}
			planted = append(planted, f)
		}
	}

	p = startProc(t, dir, "")
	rcEventually(t, 5*time.Second, "the leftover temporary files removed at the start", func() (bool, string) {
		var left []string
		for _, f := range planted {
			if _, err := os.Stat(f); !os.IsNotExist(err) {
				left = append(left, f)
			}
		}
		return len(left) == 0, fmt.Sprintf("still there: %v", left)
	})
	rcCheckLog(t, p, "the leftover files removed", "leftover")
	rcCheckServed(t, p.addr, topic, rcParts, pr.recs)
	pr.connect(p.addr)
	rcRounds(pr, rcParts, 1, 300)
}

// TestCleanShutdownFiles checks the bookkeeping recovery relies on: with
// --log.flush.offset.checkpoint.interval.ms=300 each partition directory
// gets a checkpoint file while the broker runs; SIGTERM leaves the
// clean-shutdown marker storage/.clean-shutdown (and checkpoints, and no
// .tmp files); a start removes the marker, so that a SIGKILL afterwards
// leaves none; and the data survives all of it.
func TestCleanShutdownFiles(t *testing.T) {
	t.Parallel()
	const topic = "bookkept"
	flag := "--log.flush.offset.checkpoint.interval.ms=300"
	dir, p, pr := rcStart(t, topic, 2, nil, flag)
	marker := filepath.Join(dir, "storage", ".clean-shutdown")
	rcRounds(pr, 2, 4, 300)

	checkpoints := func() (bool, string) {
		var missing []string
		for part := range int32(2) {
			f := filepath.Join(rcPartDir(dir, topic, part), "checkpoint")
			if _, err := os.Stat(f); err != nil {
				missing = append(missing, f)
			}
		}
		return len(missing) == 0, "missing: " + strings.Join(missing, ", ")
	}
	rcEventually(t, 10*time.Second, "a checkpoint file in every partition directory while running", checkpoints)
	if _, err := os.Stat(marker); !os.IsNotExist(err) {
		t.Errorf("%s exists while the broker runs (stat: %v); the start must remove it", marker, err)
	}

	p.stop()
	if _, err := os.Stat(marker); err != nil {
		t.Errorf("after SIGTERM: no clean-shutdown marker: %v", err)
	}
	if ok, state := checkpoints(); !ok {
		t.Errorf("after SIGTERM: %s", state)
	}
	tmps, err := filepath.Glob(filepath.Join(dir, "storage", topic, "*", "*.tmp"))
	if err != nil {
		t.Fatal(err)
	}
	if len(tmps) > 0 {
		t.Errorf("after SIGTERM: temporary files left: %v", tmps)
	}

	p = startProc(t, dir, "", flag)
	rcEventually(t, 5*time.Second, "the clean-shutdown marker removed at the start", func() (bool, string) {
		_, err := os.Stat(marker)
		return os.IsNotExist(err), fmt.Sprintf("stat %s: %v", marker, err)
	})
	pr.connect(p.addr)
	rcRounds(pr, 2, 2, 300)
	rcKill(t, p)
	if _, err := os.Stat(marker); !os.IsNotExist(err) {
		t.Errorf("after SIGKILL: a clean-shutdown marker exists (stat: %v)", err)
	}
	p = startProc(t, dir, "", flag)
	rcCheckServed(t, p.addr, topic, 2, pr.recs)
}

package compattests

// Log compaction (cleanup.policy=compact), driven by franz-go against the
// binary: 100,000 updates over 1,000 keys, every tenth a tombstone, on a
// topic with 1 MiB segments. Once the cleaner (log.cleaner.backoff.ms=100)
// has run, a full read has exactly one record per live key, its latest
// value, and no deleted key (delete.retention.ms=0); offsets only increase;
// the segments on disk shrank. With a broker built with -tags faults killed
// in the middle of a swap, the restarted broker finishes or forgets the
// swap and the same holds.

import (
	"context"
	enc "encoding/binary"
	"errors"
	"fmt"
	"maps"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

const (
	cpUpdates = 100_000
	cpKeys    = 1_000
	cpTopic   = "compacted"
	// cpRollKey is produced once after segment.ms, to roll the segment
	// holding the last update so the cleaner may take it.
	cpRollKey = "zz-roll"
)

var cpConfigs = map[string]string{
	"cleanup.policy":            "compact",
	"segment.bytes":             "1048576",
	"segment.ms":                "3000",
	"min.cleanable.dirty.ratio": "0.01",
	"delete.retention.ms":       "0",
}

const cpCleanerFlag = "--log.cleaner.backoff.ms=100"

// cpProduce produces the updates and returns each key's latest value (nil:
// deleted).
func cpProduce(t *testing.T, addr string) map[string][]byte {
	t.Helper()
	cl := fgClient(t, addr, kgo.DefaultProduceTopic(cpTopic), kgo.ProducerLinger(5*time.Millisecond))
	latest := make(map[string][]byte, cpKeys)
	recs := make([]*kgo.Record, 0, cpUpdates)
	for i := range cpUpdates {
		k := fmt.Sprintf("key-%04d", (i*7919)%cpKeys)
		var v []byte
		if (i/cpKeys)%10 != 9 || i%3 != 0 {
			v = fmt.Appendf(nil, "update %06d of %s %0100d", i, k, i)
		}
		latest[k] = v
		recs = append(recs, &kgo.Record{Key: []byte(k), Value: v})
	}
	fgProduceAll(t, cl, recs)
	// Past segment.ms, one more record rolls the segment with the last
	// update (a segment rolls on the append that finds it too old).
	time.Sleep(3100 * time.Millisecond)
	fgProduceSync(t, cl, &kgo.Record{Key: []byte(cpRollKey), Value: []byte("roll")})
	latest[cpRollKey] = []byte("roll")
	return latest
}

// cpRead reads the partition from the start to its end offset and returns
// the records, checking that offsets increase.
func cpRead(t *testing.T, addr string) []*kgo.Record {
	t.Helper()
	adm := fgAdmin(t, addr)
	end := fgEndOffsets(t, adm, cpTopic)[0]
	cl := fgClient(t, addr, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{cpTopic: {0: kgo.NewOffset().AtStart()}}))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out []*kgo.Record
	last := int64(-1)
	for last < end-1 {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("read to offset %d: at %d after %d records: %v", end, last, len(out), err)
		}
		for _, e := range fs.Errors() {
			t.Fatalf("fetch: %v", e.Err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset <= last {
				t.Fatalf("offset %d after %d", r.Offset, last)
			}
			last = r.Offset
			out = append(out, r)
		})
	}
	return out
}

// cpCheck checks that recs hold exactly one record per live key, with its
// latest value, and nothing else.
func cpCheck(t *testing.T, recs []*kgo.Record, latest map[string][]byte) {
	t.Helper()
	seen := map[string]bool{}
	for _, r := range recs {
		k := string(r.Key)
		want, ok := latest[k]
		switch {
		case !ok:
			t.Fatalf("record with unknown key %q at %d", k, r.Offset)
		case seen[k]:
			t.Fatalf("key %s twice (again at offset %d)", k, r.Offset)
		case want == nil:
			t.Fatalf("deleted key %s at offset %d (value %q)", k, r.Offset, r.Value)
		case string(r.Value) != string(want):
			t.Fatalf("key %s at %d: %q, want its latest %q", k, r.Offset, r.Value, want)
		}
		seen[k] = true
	}
	live := 0
	for _, v := range latest {
		if v != nil {
			live++
		}
	}
	if len(seen) != live {
		t.Fatalf("%d live keys read, want %d", len(seen), live)
	}
}

// cpWaitClean waits until the partition's segments hold one record per
// key, then until the broker serves them so, and checks what it serves.
//
// The files on disk are counted only when no swap is under way: the
// cleaner removes a group's old files before it renames the cleaned one
// over the first, so a count in between misses the group's records (see
// cpRecordsOnDisk). The broker serves the cleaned segment only after the
// swap's directory fsync (cleanGroup installs it then); until then reads
// come from the old segments' open files, whose duplicates are still
// there. Every read made while waiting must still end with each live
// key's latest value: a consumer may see the superseded values compaction
// has not removed yet, never miss the latest or see an older one after it.
// (A deleted key's tombstone may go, delete.retention.ms being 0, while a
// read that saw an older value of the key is under way: as in Kafka, such
// a read may end with that value.)
func cpWaitClean(t *testing.T, addr, dir string, latest map[string][]byte) {
	t.Helper()
	pd := rcPartDir(dir, cpTopic, 0)
	liveKeys := map[string][]byte{}
	for k, v := range latest {
		if v != nil {
			liveKeys[k] = v
		}
	}
	live := len(liveKeys)
	rcEventually(t, 60*time.Second, "the log compacted to one record per live key", func() (bool, string) {
		n, settled := cpRecordsOnDisk(t, pd)
		return settled && n <= live, fmt.Sprintf("%d records on disk (no swap under way: %v), %d live keys", n, settled, live)
	})
	var recs []*kgo.Record
	rcEventually(t, 30*time.Second, "the broker serving one record per live key", func() (bool, string) {
		recs = cpRead(t, addr)
		cpCheckLatest(t, recs, liveKeys)
		return len(recs) <= live, fmt.Sprintf("%d records read, %d live keys", len(recs), live)
	})
	cpCheck(t, recs, latest)
}

func TestCompaction(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := startProc(t, dir, "", cpCleanerFlag)
	fgCreateTopic(t, fgAdmin(t, p.addr), cpTopic, 1, cpConfigs)
	latest := cpProduce(t, p.addr)
	// What was produced, before the cleaner finished: some 15 MB.
	const produced = cpUpdates * 120
	cpWaitClean(t, p.addr, dir, latest)
	size := rtSegmentBytes(rcSegments(t, rcPartDir(dir, cpTopic, 0)))
	if size > produced/10 {
		t.Fatalf("%d bytes of segments left of about %d produced", size, produced)
	}
	t.Logf("segments on disk: %d bytes, %d files", size, len(rcSegments(t, rcPartDir(dir, cpTopic, 0))))
	cpCheckKcat(t, p.addr, cpRead(t, p.addr))

	// New updates after cleaning are read after the cleaned ones, and are
	// cleaned in turn.
	cl := fgClient(t, p.addr, kgo.DefaultProduceTopic(cpTopic))
	for i := range 5 {
		k := fmt.Sprintf("key-%04d", i)
		v := fmt.Appendf(nil, "late %d", i)
		fgProduceSync(t, cl, &kgo.Record{Key: []byte(k), Value: v})
		latest[k] = v
	}
	cpCheckLatest(t, cpRead(t, p.addr), latest)

	p.stop()
	p = startProc(t, dir, "", cpCleanerFlag)
	cpCheckLatest(t, cpRead(t, p.addr), latest)
}

// cpCheckLatest checks what a consumer that keeps the last value per key
// ends with: latest, whatever duplicates the uncleaned head still has.
func cpCheckLatest(t *testing.T, recs []*kgo.Record, latest map[string][]byte) {
	t.Helper()
	final := map[string][]byte{}
	for _, r := range recs {
		final[string(r.Key)] = r.Value
	}
	for k, v := range latest {
		if got, ok := final[k]; v != nil && (!ok || string(got) != string(v)) || v == nil && ok && got != nil {
			t.Fatalf("key %s: last value read %q, want %q", k, got, v)
		}
	}
}

// TestCompactionCrash kills the broker (built with -tags faults) at the
// cleaner's crash points: after a cleaned segment was written and fsynced
// but before it was renamed for the swap (clean-before-swap), and in the
// middle of the swap, with the old segments' files partly removed
// (clean-swap). The restarted broker must serve every key's latest value,
// and finish cleaning.
func TestCompactionCrash(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ point, recovered string }{
		{"clean-before-swap:3", "removed leftover temporary file"},
		{"clean-swap:2", "finished swapping in a cleaned segment"},
	} {
		point := tc.point
		t.Run(point, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			p := startProcWith(t, binaryFaults(t), []string{"STREAMHOUSE_CRASH_AT=" + point}, dir, "", cpCleanerFlag)
			// Produced as a delete topic, then made compacted: the
			// cleaner starts on the whole log at once, not during the
			// produce.
			adm := fgAdmin(t, p.addr)
			cfgs := maps.Clone(cpConfigs)
			cfgs["cleanup.policy"], cfgs["retention.ms"] = "delete", "-1"
			fgCreateTopic(t, adm, cpTopic, 1, cfgs)
			latest := cpProduce(t, p.addr)
			compact := "compact"
			if _, err := adm.AlterTopicConfigs(fgCtx(t), []kadm.AlterConfig{{Name: "cleanup.policy", Value: &compact}}, cpTopic); err != nil {
				t.Fatal(err)
			}
			select {
			case <-p.done:
			case <-time.After(60 * time.Second):
				t.Fatalf("the broker did not reach crash point %s within 60s\n%s", point, tail(p.logs.String(), 3000))
			}
			if !rcLogHas(p, "crash point") {
				t.Fatalf("the broker exited without reaching %s\n%s", point, tail(p.logs.String(), 3000))
			}
			p = startProc(t, dir, "", cpCleanerFlag)
			rcCheckLog(t, p, "the interrupted clean dealt with at startup", tc.recovered)
			cpCheckLatest(t, cpRead(t, p.addr), latest)
			cpWaitClean(t, p.addr, dir, latest)
		})
	}
}

// cpRecordsOnDisk counts the records in a partition's segment files,
// checking each batch's CRC and that offsets increase (compaction leaves
// gaps, never overlaps). settled is false when the count may be wrong
// because the cleaner changed the files under it: a swap file was there
// (a swap is under way: the group's old files may be partly removed, its
// cleaned segment not yet renamed in), or the directory's files (names,
// inodes, sizes) differed after the count from before it.
func cpRecordsOnDisk(t *testing.T, dir string) (n int, settled bool) {
	t.Helper()
	before := cpFiles(t, dir)
	next := int64(0)
	for _, seg := range rcSegments(t, dir) {
		data, err := os.ReadFile(seg.path)
		if errors.Is(err, os.ErrNotExist) {
			// The cleaner removed it since the listing.
			return n, false
		}
		if err != nil {
			t.Fatal(err)
		}
		for pos := 0; pos < len(data); {
			b := data[pos:]
			size := 12 + int(int32(enc.BigEndian.Uint32(b[8:])))
			if len(b) < rcHeaderSize || size < rcHeaderSize || size > len(b) {
				t.Fatalf("%s: bad batch at position %d", seg.path, pos)
			}
			if err := rcCheckBatch(b[:size]); err != nil {
				t.Fatalf("%s: batch at position %d: %v", seg.path, pos, err)
			}
			base := int64(enc.BigEndian.Uint64(b))
			if base < next || base < seg.base {
				t.Fatalf("%s: batch at position %d has base offset %d, after %d", seg.path, pos, base, next)
			}
			next = base + int64(int32(enc.BigEndian.Uint32(b[23:]))) + 1
			n += int(int32(enc.BigEndian.Uint32(b[57:])))
			pos += size
		}
	}
	return n, !strings.Contains(before, ".swap ") && before == cpFiles(t, dir)
}

// cpFiles describes the files of dir: name, inode and size of each.
func cpFiles(t *testing.T, dir string) string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("list %s: %v", dir, err)
	}
	var b strings.Builder
	for _, e := range es {
		fi, err := e.Info()
		if errors.Is(err, os.ErrNotExist) {
			fmt.Fprintf(&b, "%s gone\n", e.Name())
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		var ino uint64
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			ino = st.Ino
		}
		fmt.Fprintf(&b, "%s %d %d\n", e.Name(), ino, fi.Size())
	}
	return b.String()
}

// cpCheckKcat reads the compacted partition with kcat (librdkafka, CRCs
// checked), which must step over the offsets compaction removed and print
// the same records as franz-go read.
func cpCheckKcat(t *testing.T, addr string, want []*kgo.Record) {
	t.Helper()
	kcat := requireTool(t, "kcat")
	out := runTool(t, kcatTimeout, nil, kcat, "-b", addr, "-C", "-q", "-e", "-t", cpTopic, "-p", "0", "-o", "beginning",
		"-f", "%o|%k|%s\n", "-X", "check.crcs=true")
	got := lines(out)
	if len(got) != len(want) {
		t.Fatalf("kcat read %d records of the compacted partition, franz-go %d", len(got), len(want))
	}
	for i, r := range want {
		if w := fmt.Sprintf("%d|%s|%s", r.Offset, r.Key, r.Value); got[i] != w {
			t.Fatalf("kcat record %d: %q, franz-go read %q", i, got[i], w)
		}
	}
}

// TestCompactionMaxLag: KIP-354. With max.compaction.lag.ms=1000 and
// segment.ms at its default (7 days), the active segment still rolls once
// its first record is a second old, and the cleaner then removes the
// superseded value: no record escapes compaction for longer than the lag.
func TestCompactionMaxLag(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := startProc(t, dir, "", cpCleanerFlag)
	fgCreateTopic(t, fgAdmin(t, p.addr), "lagged", 1, map[string]string{
		"cleanup.policy":        "compact",
		"max.compaction.lag.ms": "1000",
	})
	cl := fgClient(t, p.addr, kgo.DefaultProduceTopic("lagged"))
	fgProduceSync(t, cl, &kgo.Record{Key: []byte("k"), Value: []byte("v1")}, &kgo.Record{Key: []byte("k"), Value: []byte("v2")})
	time.Sleep(1100 * time.Millisecond)
	fgProduceSync(t, cl, &kgo.Record{Key: []byte("other"), Value: []byte("x")})
	pd := rcPartDir(dir, "lagged", 0)
	rcEventually(t, 20*time.Second, "the superseded value removed", func() (bool, string) {
		n, settled := cpRecordsOnDisk(t, pd)
		return settled && n == 2, fmt.Sprintf("%d records on disk in %d segments (no swap under way: %v)", n, len(rcSegments(t, pd)), settled)
	})
}

package compattests

// Retention and DeleteRecords, driven by franz-go and kadm against the
// binary: time retention (retention.ms) and size retention
// (retention.bytes) delete whole closed segments and move the log start
// offset to a segment boundary; DeleteRecords moves it to exactly the
// requested offset, persists it, and deletes the segments wholly below it.
// Below the log start offset, fetches get OFFSET_OUT_OF_RANGE (kgo
// consumers reset to the start); from it on, every record is intact. The
// broker runs retention every 200ms (log.retention.check.interval.ms).

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// rtCheckFlag makes retention run often enough for the tests to wait on.
const rtCheckFlag = "--log.retention.check.interval.ms=200"

// rtStartOffsets lists the log start offset of every partition of topic.
func rtStartOffsets(t testing.TB, adm *kadm.Client, topic string) map[int32]int64 {
	t.Helper()
	l, err := adm.ListStartOffsets(fgCtx(t), topic)
	return fgListed(t, topic, l, err)
}

// rtCheckTrimmed checks a partition whose log starts at start > 0 and ends
// at end, holding recs (all the records ever produced to it, by offset):
// raw fetches below start get OFFSET_OUT_OF_RANGE (and no records); a raw
// fetch at start returns the batch holding start first, with the log
// start offset and high watermark; a
// kgo consumer told to start at 0 resets and gets exactly the records from
// start on.
func rtCheckTrimmed(t *testing.T, addr, topic string, part int32, start, end int64, recs []*kgo.Record) {
	t.Helper()
	r := fgDialRaw(t, addr)
	for _, o := range slices.Compact([]int64{0, start / 2, start - 1}) {
		f := rcFetch(r, topic, part, o, 1<<20)
		// Kafka answers -1 for the log start offset with this error, so
		// only the code is checked.
		if f.code != kerr.OffsetOutOfRange.Code || len(f.batches) > 0 {
			t.Errorf("fetch %s-%d at %d (log start %d): %v with %d batches, want OFFSET_OUT_OF_RANGE",
				topic, part, o, start, kerr.ErrorForCode(f.code), len(f.batches))
		}
	}
	switch f := rcFetch(r, topic, part, start, 1<<20); {
	case f.code != 0:
		t.Errorf("fetch %s-%d at the log start %d: %v", topic, part, start, kerr.ErrorForCode(f.code))
	case len(f.batches) == 0:
		t.Errorf("fetch %s-%d at the log start %d: no batch", topic, part, start)
	case f.batches[0].err != nil:
		t.Errorf("fetch %s-%d at the log start %d: served garbage: %v", topic, part, start, f.batches[0].err)
	case f.batches[0].base > start || f.batches[0].last < start:
		t.Errorf("fetch %s-%d at the log start %d: first batch holds [%d, %d]", topic, part, start, f.batches[0].base, f.batches[0].last)
	case f.lso != start || f.hw != end:
		t.Errorf("fetch %s-%d: log start %d, high watermark %d; want %d, %d", topic, part, f.lso, f.hw, start, end)
	}
	if t.Failed() {
		t.FailNow()
	}
	want := map[int32][]*kgo.Record{part: recs[start:end]}
	got := fgConsumeFrom(t, addr, topic, map[int32]kgo.Offset{part: kgo.NewOffset().At(0)}, int(end-start))
	fgCheckConsumed(t, want, got, map[int32]int64{part: start})
}

// rtSegmentBytes is the total size of a partition's .log files.
func rtSegmentBytes(segs []rcSegment) int64 {
	var n int64
	for _, s := range segs {
		n += s.size
	}
	return n
}

// rtBases lists the base offsets of segments.
func rtBases(segs []rcSegment) []int64 {
	var out []int64
	for _, s := range segs {
		out = append(out, s.base)
	}
	return out
}

// TestRetentionTime gives a topic 1 MiB segments and no time limit,
// produces about 4 MiB to partition 0 (records stamped now) and three
// small batches to partition 1, then sets retention.ms=2000 (an
// incremental AlterConfigs, which retention follows without a restart).
// Once the records are older than two
// seconds, every closed segment of partition 0 must be deleted from disk
// and its log start offset moved to the base of the active segment (a
// segment boundary above 0); the active segments of both partitions, whose
// records are as old, must stay. Everything from the log start on is
// served intact, fetches below it get OFFSET_OUT_OF_RANGE, and new records
// continue the offsets.
func TestRetentionTime(t *testing.T) {
	t.Parallel()
	const topic = "expiring"
	dir := t.TempDir()
	p := startProc(t, dir, "", rtCheckFlag)
	adm := fgAdmin(t, p.addr)
	// Created without a time limit, and given retention.ms=2000 once the
	// setup is done: producing 4 MiB can take longer than 2 s on a loaded
	// machine, and retention would then delete segments before the setup
	// is checked.
	fgCreateTopic(t, adm, topic, 2, map[string]string{"segment.bytes": "1048576", "retention.ms": "-1"})
	pr := rcNewProducer(t, p.addr, topic, time.Time{})
	for i := range 20 {
		counts := map[int32]int{0: 4}
		if i < 3 {
			counts[1] = 2
		}
		pr.round(counts, 50_000)
	}
	pd := rcPartDir(dir, topic, 0)
	segs := rcSegments(t, pd)
	if len(segs) < 3 {
		t.Fatalf("test setup: partition 0 has segments %v, want 3 or more", rtBases(segs))
	}
	active := segs[len(segs)-1].base
	end := map[int32]int64{0: int64(len(pr.recs[0])), 1: int64(len(pr.recs[1]))}
	if s := rtStartOffsets(t, adm, topic); s[0] != 0 || s[1] != 0 {
		t.Fatalf("log starts %v without a time limit, want 0 and 0", s)
	}
	retention := "2000"
	if res, err := adm.AlterTopicConfigs(fgCtx(t), []kadm.AlterConfig{{Name: "retention.ms", Value: &retention}}, topic); err != nil || res[0].Err != nil {
		t.Fatalf("set retention.ms=2000: %+v %v", res, err)
	}

	rcEventually(t, 20*time.Second, "partition 0's log start at the active segment's base "+fmt.Sprint(active), func() (bool, string) {
		s := rtStartOffsets(t, adm, topic)
		return s[0] == active, fmt.Sprintf("log starts %v; segments on disk %v", s, rtBases(rcSegments(t, pd)))
	})
	// Retention runs a few more times: nothing else may go.
	time.Sleep(time.Second)
	if s := rtStartOffsets(t, adm, topic); s[0] != active || s[1] != 0 {
		t.Errorf("log starts %v a second later, want partition 0 at %d (its active segment stays) and partition 1 at 0", s, active)
	}
	if e := fgEndOffsets(t, adm, topic); e[0] != end[0] || e[1] != end[1] {
		t.Errorf("end offsets %v after retention, want %v", e, end)
	}
	if got := rtBases(rcSegments(t, pd)); !slices.Equal(got, []int64{active}) {
		t.Errorf("partition 0's segments on disk: %v, want the active one alone, [%d]", got, active)
	}
	if got := rtBases(rcSegments(t, rcPartDir(dir, topic, 1))); !slices.Equal(got, []int64{0}) {
		t.Errorf("partition 1's segments on disk: %v, want its active segment, [0]", got)
	}
	rcEventually(t, 5*time.Second, "the files of deleted segments gone from disk", func() (bool, string) {
		left := rcFilesBelow(t, pd, active)
		return len(left) == 0, fmt.Sprintf("left: %v", left)
	})

	rtCheckTrimmed(t, p.addr, topic, 0, active, end[0], pr.recs[0])
	fgCheckConsumed(t, map[int32][]*kgo.Record{1: pr.recs[1]}, fgConsumeFrom(t, p.addr, topic, map[int32]kgo.Offset{1: kgo.NewOffset().AtStart()}, len(pr.recs[1])), nil)
	pr.round(map[int32]int{0: 2, 1: 1}, 1_000)
}

// TestRetentionBytes gives a topic retention.bytes=2 MiB (no time limit)
// and 1 MiB segments, and produces about 5 MiB. Retention must delete the
// oldest closed segments until the partition holds at most retention.bytes
// plus one segment, and, as Kafka, no more than it must: a segment goes only
// while what is left is still retention.bytes or more. The log start offset
// is the base of the oldest segment left, the deleted segments' files are
// gone, fetches below the start get OFFSET_OUT_OF_RANGE, and every record
// from the start on is intact.
func TestRetentionBytes(t *testing.T) {
	t.Parallel()
	const (
		topic     = "capped"
		retention = 2 << 20
		segment   = 1 << 20
	)
	dir := t.TempDir()
	p := startProc(t, dir, "", rtCheckFlag)
	adm := fgAdmin(t, p.addr)
	fgCreateTopic(t, adm, topic, 1, map[string]string{
		"segment.bytes":   fmt.Sprint(segment),
		"retention.bytes": fmt.Sprint(retention),
		"retention.ms":    "-1",
	})
	pr := rcNewProducer(t, p.addr, topic, time.Time{})
	for range 25 {
		pr.round(map[int32]int{0: 4}, 50_000)
	}
	end := int64(len(pr.recs[0]))
	pd := rcPartDir(dir, topic, 0)

	rcEventually(t, 20*time.Second, fmt.Sprintf("segments of at most retention.bytes + segment.bytes (%d) in all", retention+segment), func() (bool, string) {
		segs := rcSegments(t, pd)
		n := rtSegmentBytes(segs)
		return n <= retention+segment, fmt.Sprintf("%d bytes in segments %v", n, rtBases(segs))
	})
	time.Sleep(time.Second) // retention runs a few more times
	segs := rcSegments(t, pd)
	if n := rtSegmentBytes(segs); n < retention || n > retention+segment {
		t.Errorf("%d bytes in segments %v; want between retention.bytes (%d: Kafka deletes a segment only while the rest is at least that) and retention.bytes + segment.bytes (%d)",
			n, rtBases(segs), retention, retention+segment)
	}
	start := rtStartOffsets(t, adm, topic)[0]
	if start <= 0 || start != segs[0].base {
		t.Fatalf("log start %d, want the base of the oldest segment left (segments %v), above 0", start, rtBases(segs))
	}
	if left := rcFilesBelow(t, pd, start); len(left) > 0 {
		t.Errorf("files of deleted segments left on disk: %v", left)
	}
	if e := fgEndOffsets(t, adm, topic)[0]; e != end {
		t.Errorf("end offset %d after retention, want %d", e, end)
	}
	rtCheckTrimmed(t, p.addr, topic, 0, start, end, pr.recs[0])
	pr.round(map[int32]int{0: 1}, 1_000)
}

// rtDeleteRecords deletes the records of topic below offset in one
// partition with kadm and returns the partition's answer.
func rtDeleteRecords(t *testing.T, adm *kadm.Client, topic string, part int32, offset int64) kadm.DeleteRecordsResponse {
	t.Helper()
	resps, err := adm.DeleteRecords(fgCtx(t), kadm.OffsetsList{{Topic: topic, Partition: part, At: offset}}.Offsets())
	if err != nil {
		t.Fatalf("delete records of %s-%d below %d: %v", topic, part, offset, err)
	}
	r, err := resps.On(topic, part, nil)
	if err != nil {
		t.Fatalf("delete records of %s-%d below %d: no answer for the partition: %v", topic, part, offset, err)
	}
	return r
}

// rtDeleteRecordsRaw sends DeleteRecords for one partition at the highest
// version both sides know, with no client-side checks, and returns the
// partition's error code.
func rtDeleteRecordsRaw(t *testing.T, r *fgRaw, topic string, part int32, offset int64) int16 {
	t.Helper()
	req := kmsg.NewPtrDeleteRecordsRequest()
	req.TimeoutMillis = 10_000
	rt := kmsg.NewDeleteRecordsRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewDeleteRecordsRequestTopicPartition()
	rp.Partition, rp.Offset = part, offset
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	v := rcMaxVersion(t, r, int16(kmsg.DeleteRecords), req.MaxVersion())
	resp := r.do(req, v).(*kmsg.DeleteRecordsResponse)
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("delete records v%d of %s-%d: answer has %d topics, want one with one partition", v, topic, part, len(resp.Topics))
	}
	return resp.Topics[0].Partitions[0].ErrorCode
}

// TestDeleteRecords produces about 4 MiB to partition 0 of a topic with
// 1 MiB segments, in batches of five records, and deletes the records
// below an offset in the middle of a batch of the third segment. The log
// start offset must become exactly that offset (not a segment boundary):
// the answer's low watermark and ListOffsets say so, fetches below it get
// OFFSET_OUT_OF_RANGE, a fetch at it returns the batch holding it, a kgo
// consumer from the start gets that record first, and the two segments
// wholly below it are deleted while the third stays. Deleting below an
// older offset changes nothing; above the high watermark is
// OFFSET_OUT_OF_RANGE; offset -1 means the high watermark (partition 1);
// an unknown topic or partition is UNKNOWN_TOPIC_OR_PARTITION. All of it
// survives SIGKILL and a restart.
func TestDeleteRecords(t *testing.T) {
	t.Parallel()
	const topic = "trimmed"
	dir := t.TempDir()
	p := startProc(t, dir, "", rtCheckFlag)
	adm := fgAdmin(t, p.addr)
	fgCreateTopic(t, adm, topic, 2, map[string]string{"segment.bytes": "1048576"})
	pr := rcNewProducer(t, p.addr, topic, time.Now().Add(-time.Minute).Truncate(time.Millisecond))
	for i := range 20 {
		counts := map[int32]int{0: 5}
		if i < 4 {
			counts[1] = 2
		}
		pr.round(counts, 40_000)
	}
	end := map[int32]int64{0: int64(len(pr.recs[0])), 1: int64(len(pr.recs[1]))}

	pd := rcPartDir(dir, topic, 0)
	segs := rcSegments(t, pd)
	if len(segs) < 4 {
		t.Fatalf("test setup: partition 0 has segments %v, want 4 or more", rtBases(segs))
	}
	// x is in the middle of a batch of the third segment, not its first:
	// the second batch, or a later one when kgo split a round's batch
	// (rarely, a round's 5 records go out as 1 + 4).
	third := rcWalkSegment(t, segs[2])
	mid := slices.IndexFunc(third, func(b rcFileBatch) bool { return b.last-b.base >= 2 && b.base > third[0].base })
	if mid < 0 {
		t.Fatalf("test setup: the third segment holds batches %v, want one of three records or more after its first", third)
	}
	x := third[mid].base + 1

	if r := rtDeleteRecords(t, adm, topic, 0, x); r.Err != nil || r.LowWatermark != x {
		t.Fatalf("delete records of %s-0 below %d: %v, low watermark %d; want no error and %d", topic, x, r.Err, r.LowWatermark, x)
	}
	if s := rtStartOffsets(t, adm, topic); s[0] != x || s[1] != 0 {
		t.Fatalf("log starts %v after deleting below %d in partition 0, want [%d 0]", s, x, x)
	}
	rtCheckTrimmed(t, p.addr, topic, 0, x, end[0], pr.recs[0])
	rcEventually(t, 10*time.Second, "the segments wholly below the new log start deleted", func() (bool, string) {
		left := rcFilesBelow(t, pd, segs[2].base)
		return len(left) == 0, fmt.Sprintf("left: %v", left)
	})
	if got := rtBases(rcSegments(t, pd)); !slices.Equal(got, rtBases(segs[2:])) {
		t.Errorf("segments on disk %v, want %v: only the segments wholly below %d go", got, rtBases(segs[2:]), x)
	}

	// Below the log start: nothing moves. Above the high watermark:
	// OFFSET_OUT_OF_RANGE, nothing moves.
	if r := rtDeleteRecords(t, adm, topic, 0, x-3); r.Err != nil || r.LowWatermark != x {
		t.Errorf("delete records of %s-0 below %d, under the log start %d: %v, low watermark %d; want no error and %d", topic, x-3, x, r.Err, r.LowWatermark, x)
	}
	if r := rtDeleteRecords(t, adm, topic, 0, end[0]+5); !fgIsErr(r.Err, kerr.OffsetOutOfRange) {
		t.Errorf("delete records of %s-0 below %d, above the high watermark %d: %v, want OFFSET_OUT_OF_RANGE", topic, end[0]+5, end[0], r.Err)
	}
	if s := rtStartOffsets(t, adm, topic); s[0] != x {
		t.Errorf("log start of %s-0 is %d after the refused deletes, want %d", topic, s[0], x)
	}

	// -1: everything up to the high watermark.
	if r := rtDeleteRecords(t, adm, topic, 1, -1); r.Err != nil || r.LowWatermark != end[1] {
		t.Errorf("delete records of %s-1 below -1 (the high watermark %d): %v, low watermark %d", topic, end[1], r.Err, r.LowWatermark)
	}
	if s := rtStartOffsets(t, adm, topic); s[1] != end[1] {
		t.Errorf("log start of %s-1 is %d after deleting below -1, want the high watermark %d", topic, s[1], end[1])
	}
	r := fgDialRaw(t, p.addr)
	if f := rcFetch(r, topic, 1, end[1]-1, 1<<20); f.code != kerr.OffsetOutOfRange.Code {
		t.Errorf("fetch %s-1 at %d, below the log start %d: %v, want OFFSET_OUT_OF_RANGE", topic, end[1]-1, end[1], kerr.ErrorForCode(f.code))
	}

	// Unknown topic or partition.
	for _, c := range []struct {
		topic string
		part  int32
	}{{"no-such-topic", 0}, {topic, 7}} {
		if code := rtDeleteRecordsRaw(t, r, c.topic, c.part, 0); code != kerr.UnknownTopicOrPartition.Code {
			t.Errorf("delete records of %s-%d: %v, want UNKNOWN_TOPIC_OR_PARTITION", c.topic, c.part, kerr.ErrorForCode(code))
		}
	}

	// The new log starts survive a crash.
	rcKill(t, p)
	p = startProc(t, dir, "", rtCheckFlag)
	adm = fgAdmin(t, p.addr)
	if s := rtStartOffsets(t, adm, topic); s[0] != x || s[1] != end[1] {
		t.Fatalf("after SIGKILL and a restart: log starts %v, want [%d %d]", s, x, end[1])
	}
	if e := fgEndOffsets(t, adm, topic); e[0] != end[0] || e[1] != end[1] {
		t.Errorf("after SIGKILL and a restart: end offsets %v, want %v", e, end)
	}
	rtCheckTrimmed(t, p.addr, topic, 0, x, end[0], pr.recs[0])
	if left := rcFilesBelow(t, pd, segs[2].base); len(left) > 0 {
		t.Errorf("after SIGKILL and a restart: files of deleted segments are back: %v", left)
	}

	// Partition 1 continues at its high watermark, from an empty log.
	pr.connect(p.addr)
	pr.round(map[int32]int{1: 3}, 100)
	rtCheckTrimmed(t, p.addr, topic, 1, end[1], end[1]+3, pr.recs[1])
}

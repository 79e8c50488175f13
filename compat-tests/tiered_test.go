package compattests

// Tiered storage (issue 19) shown with the real binary on --storage=s3 and
// a real S3 server (versitygw, internal/s3test): a log many times its
// local bound read back whole by kcat and franz-go, across a restart and
// a disaster recovery; and the Kafka behaviour of tiered topics
// (retention over both tiers, DeleteRecords, ListOffsets -4, compacted
// topics, tiering turned on and off). The faults (the server killed, 503s,
// kill -9 at the crash points) are in tiered_faults_test.go.

import (
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/streamhouse/streamhouse/internal/pgtest"
	"github.com/streamhouse/streamhouse/internal/s3test"
)

// TestTieredLargeLog produces a log many times local.retention.bytes (4
// MiB) in 1 MiB segments to one partition: the partition's directory stays
// within a few segments, the bucket holds the rest, and kcat (checking
// CRCs) and franz-go read every record from offset 0 with its key, value
// and offset; again after a restart; and again after the data directory's
// storage/ and remote-cache/ are deleted (disaster recovery: the catalog
// kept), where everything uploaded is served and produce continues at the
// end of it.
//
// The figure is 200 MB; the default pass produces 48 MB (each
// stage reads the whole log twice, which at 200 MB takes minutes of a
// 2-core CI) and STREAMHOUSE_SOAK=1 produces 200 MB. A smaller log runs
// the same stages on a PostgreSQL catalog.
func TestTieredLargeLog(t *testing.T) {
	t.Parallel()
	if pgtest.Enabled() {
		t.Skip("runs its PostgreSQL case in the default pass")
	}
	size := int64(48 << 20)
	if crashSoak() {
		size = 200 << 20
	}
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		tierLargeLog(t, size, nil)
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		tierLargeLog(t, 12<<20, []string{"--metadata", "postgres", "--database-url", pgtest.URL(t)})
	})
}

func tierLargeLog(t *testing.T, size int64, catalog []string) {
	kcat := requireTool(t, "kcat")
	srv := s3test.Start(t)
	b := newTierBroker(t, srv, catalog...)
	b.start()
	const topic = "large"
	const localRetention = 4 << 20
	id := fgCreateTopic(t, fgAdmin(t, b.addr), topic, 1, map[string]string{
		"segment.bytes":         strconv.Itoa(tierSegment),
		"local.retention.bytes": strconv.Itoa(localRetention),
	}).ID
	dir := b.partitionDir(topic, 0)

	// Produce, watching the partition's directory.
	n := tierRecordsFor(size)
	var peak atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			peak.Store(max(peak.Load(), tierDirBytes(t, dir)))
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	})
	began := time.Now()
	tierProduce(t, tierProducer(t, b.addr), topic, 0, n, time.Time{})
	produced := time.Since(began)
	local := b.waitUploaded(topic, 0)
	uploaded := time.Since(began) - produced
	close(stop)
	wg.Wait()
	t.Logf("%d records (%d MB) produced in %v, the uploads done %v later; local log start %d; peak of the partition directory %d bytes",
		n, size>>20, produced.Round(time.Millisecond), uploaded.Round(time.Millisecond), local, peak.Load())

	// Once the uploads caught up, the local directory is within
	// local.retention.bytes, the active segment and one more (a segment
	// may have closed since the last retention check), indexes included.
	// (While a producer outruns the uploads, it holds what awaits upload
	// besides: local retention never removes a segment not uploaded.)
	bound := int64(localRetention + 2*tierSegment + tierSegment/2)
	tierEventually(t, tierWait, "the partition directory within its bound", func() bool { return tierDirBytes(t, dir) <= bound },
		func() string { return fmt.Sprintf("%d bytes, above %d", tierDirBytes(t, dir), bound) })
	// The bucket holds the rest: the segments from offset 0 to the local
	// log start at least, and the metric says as much.
	objs := b.objects(hex.EncodeToString(id[:]))
	logBytes, bases := tierLogBytes(objs)
	if len(bases) == 0 || bases[0] != 0 {
		t.Fatalf("the bucket's segments start at %v, want 0: %v", bases[:min(len(bases), 3)], tierSegments(objs))
	}
	if want := tierBytes(0, local); logBytes < want {
		t.Errorf("the bucket holds %d bytes of segments, less than the %d bytes of keys and values below the local log start %d", logBytes, want, local)
	}
	if m := b.metric("streamhouse_remote_log_size_bytes"); int64(m) != logBytes {
		t.Errorf("streamhouse_remote_log_size_bytes is %v, the bucket's live segments hold %d", m, logBytes)
	}
	t.Logf("bucket: %d segments, %d bytes", len(bases), logBytes)

	read := func(stage string, end int64) {
		t.Helper()
		cl := fgClient(t, b.addr)
		if s := tierListOffset(t, cl, topic, 0, -2); s != 0 {
			t.Fatalf("%s: log start %d, want 0", stage, s)
		}
		if hw := tierListOffset(t, cl, topic, 0, -1); hw != end {
			t.Fatalf("%s: high watermark %d, want %d", stage, hw, end)
		}
		began := time.Now()
		tierReadKcat(t, kcat, b.addr, topic, 0, end)
		kc := time.Since(began)
		began = time.Now()
		tierReadKgo(t, b.addr, topic, 0, end)
		t.Logf("%s: kcat read %d records in %v, franz-go in %v", stage, end, kc.Round(time.Millisecond), time.Since(began).Round(time.Millisecond))
	}
	read("after produce", n)

	b.stop()
	b.start()
	read("after a restart", n)

	// Disaster recovery: the local data is lost, the catalog is not.
	// What was uploaded (every closed segment) is served; the active
	// segment, only ever local, is gone, and produce continues where the
	// bucket ends.
	active := tierActiveBase(t, dir)
	b.stop()
	for _, d := range []string{"storage", "remote-cache"} {
		if err := os.RemoveAll(filepath.Join(b.dir, d)); err != nil {
			t.Fatal(err)
		}
	}
	b.start()
	cl := fgClient(t, b.addr)
	if slices.Contains(catalog, "postgres") {
		// PostgreSQL and S3 is the cluster mode (cluster_test.go):
		// the active segment's records are in the bucket's WAL
		// objects too, and nothing is lost.
		active = n
	}
	if hw := tierListOffset(t, cl, topic, 0, -1); hw != active {
		t.Fatalf("after the data directory was lost: high watermark %d, want %d (the end of the last uploaded segment)", hw, active)
	}
	tierProduce(t, tierProducer(t, b.addr), topic, active, active+100, time.Time{})
	read("after disaster recovery", active+100)
}

// tierActiveBase is the base offset of the last segment of a partition's
// directory (its active one): the name of its newest .log file.
func tierActiveBase(t testing.TB, dir string) int64 {
	t.Helper()
	logs, err := filepath.Glob(filepath.Join(dir, "*.log"))
	if err != nil || len(logs) == 0 {
		t.Fatalf("no segment in %s: %v", dir, err)
	}
	slices.Sort(logs)
	base, err := strconv.ParseInt(strings.TrimSuffix(filepath.Base(logs[len(logs)-1]), ".log"), 10, 64)
	if err != nil {
		t.Fatalf("segment %s: %v", logs[len(logs)-1], err)
	}
	return base
}

// TestTieredKafka shows the Kafka behaviour of tiered topics on one broker
// and bucket, a topic per case: retention.bytes and retention.ms over
// both tiers, DeleteRecords below the local log start, ListOffsets -4
// (EARLIEST_LOCAL_TIMESTAMP) beside -2 and timestamp lookups in either
// tier, compacted topics refused, and tiering turned on for a topic with
// data and off again.
func TestTieredKafka(t *testing.T) {
	t.Parallel()
	if pgtest.Enabled() {
		t.Skip("the catalog is not what it tests; runs in the default pass")
	}
	srv := s3test.Start(t)
	b := newTierBroker(t, srv)
	b.start()
	adm := fgAdmin(t, b.addr)
	// 1 MiB segments and 1 MiB locally: 5 MiB put 3 or 4 segments in the
	// bucket only.
	cfg := func(kv ...string) map[string]string {
		m := map[string]string{"segment.bytes": strconv.Itoa(tierSegment), "local.retention.bytes": strconv.Itoa(tierSegment)}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	n := tierRecordsFor(5 << 20)

	t.Run("RetentionBytes", func(t *testing.T) {
		t.Parallel()
		const topic = "retention-bytes"
		id := fgCreateTopic(t, adm, topic, 1, cfg()).ID
		tierProduce(t, tierProducer(t, b.addr), topic, 0, n, time.Time{})
		b.waitUploaded(topic, 0)
		// retention.bytes over the whole log: the oldest remote
		// segments go, the log start moves, at least retention.bytes
		// stay (partly remote still).
		const keep = 3 << 20
		tierAlter(t, adm, topic, "retention.bytes", strconv.Itoa(keep))
		start := b.waitLogStart(topic, id, 0)
		cl := fgClient(t, b.addr)
		if local := tierListOffset(t, cl, topic, 0, -4); local <= start {
			t.Errorf("local log start %d not above the log start %d: nothing remote kept", local, start)
		}
		if kept := tierBytes(start, n); kept < keep-tierSegment {
			t.Errorf("log start %d keeps %d bytes of records, below retention.bytes %d less a segment", start, kept, keep)
		}
		if code := tierFetchCode(t, b.addr, topic, start-1); code != kerr.OffsetOutOfRange.Code {
			t.Errorf("fetch below the log start %d: %v, want OFFSET_OUT_OF_RANGE", start, kerr.ErrorForCode(code))
		}
		tierReadKgo(t, b.addr, topic, start, n)
	})

	t.Run("RetentionMs", func(t *testing.T) {
		t.Parallel()
		const topic = "retention-ms"
		id := fgCreateTopic(t, adm, topic, 1, cfg()).ID
		// Two hours old, then new: once uploaded (the old ones remote
		// only), retention.ms of an hour removes the old segments.
		old := n / 2
		cl := tierProducer(t, b.addr)
		tierProduce(t, cl, topic, 0, old, time.Now().Add(-2*time.Hour))
		tierProduce(t, cl, topic, old, n, time.Time{})
		b.waitUploaded(topic, old)
		tierAlter(t, adm, topic, "retention.ms", strconv.Itoa(int(time.Hour/time.Millisecond)))
		start := b.waitLogStart(topic, id, 0)
		// Every segment wholly old goes; the one holding the first new
		// record stays.
		if start > old || tierBytes(start, old) > tierSegment {
			t.Errorf("log start %d: want the base of the segment holding offset %d (the first new record)", start, old)
		}
		tierReadKgo(t, b.addr, topic, start, n)
	})

	t.Run("RetentionInfinite", func(t *testing.T) {
		t.Parallel()
		// Retention that outgrows the disk, the reason for tiered
		// storage: retention.ms and retention.bytes -1 keep
		// everything, in the bucket; local.retention.bytes still
		// bounds the local copy.
		const topic = "retention-infinite"
		fgCreateTopic(t, adm, topic, 1, cfg("retention.ms", "-1", "retention.bytes", "-1"))
		tierProduce(t, tierProducer(t, b.addr), topic, 0, n, time.Time{})
		b.waitUploaded(topic, 0)
		if s := tierListOffset(t, fgClient(t, b.addr), topic, 0, -2); s != 0 {
			t.Errorf("log start %d, want 0", s)
		}
		tierReadKgo(t, b.addr, topic, 0, n)
	})

	t.Run("DeleteRecordsListOffsets", func(t *testing.T) {
		t.Parallel()
		const topic = "delete-records"
		id := fgCreateTopic(t, adm, topic, 1, cfg()).ID
		base := time.Now().Add(-time.Hour).Truncate(time.Second)
		tierProduce(t, tierProducer(t, b.addr), topic, 0, n, base)
		local := b.waitUploaded(topic, 0)
		cl := fgClient(t, b.addr)
		for _, c := range []struct {
			name string
			ts   int64
			want int64
		}{
			{"-2 (earliest)", -2, 0},
			{"-4 (earliest local)", -4, local},
			{"-1 (latest)", -1, n},
			{"a time in the remote tier", tierTime(base, local/3).UnixMilli(), local / 3},
			{"a time in the local tier", tierTime(base, (local+n)/2).UnixMilli(), (local + n) / 2},
		} {
			if got := tierListOffset(t, cl, topic, 0, c.ts); got != c.want {
				t.Errorf("ListOffsets at %s: %d, want %d", c.name, got, c.want)
			}
		}
		// -4 is v8's: older versions get UNSUPPORTED_VERSION.
		req := kmsg.NewPtrListOffsetsRequest()
		req.ReplicaID = -1
		rt := kmsg.NewListOffsetsRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Partition, rp.Timestamp, rp.CurrentLeaderEpoch = 0, -4, -1
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		if code := fgDialRaw(t, b.addr).do(req, 7).(*kmsg.ListOffsetsResponse).Topics[0].Partitions[0].ErrorCode; code != kerr.UnsupportedVersion.Code {
			t.Errorf("ListOffsets v7 at -4: %v, want UNSUPPORTED_VERSION", kerr.ErrorForCode(code))
		}

		// DeleteRecords below the local log start, inside a remote
		// segment.
		del := local / 2
		offs := kadm.Offsets{}
		offs.Add(kadm.Offset{Topic: topic, Partition: 0, At: del, LeaderEpoch: -1})
		resp, err := adm.DeleteRecords(fgCtx(t), offs)
		if err != nil {
			t.Fatal(err)
		}
		if r, _ := resp.Lookup(topic, 0); r.Err != nil || r.LowWatermark != del {
			t.Fatalf("DeleteRecords below %d: low watermark %d, %v", del, r.LowWatermark, r.Err)
		}
		if got := tierListOffset(t, cl, topic, 0, -2); got != del {
			t.Errorf("log start after DeleteRecords below %d: %d", del, got)
		}
		if got := tierListOffset(t, cl, topic, 0, -4); got != local {
			t.Errorf("local log start after DeleteRecords below %d: %d, want %d as before", del, got, local)
		}
		if got := tierListOffset(t, cl, topic, 0, tierTime(base, del/2).UnixMilli()); got != del {
			t.Errorf("ListOffsets at the time of offset %d, deleted: %d, want the log start %d", del/2, got, del)
		}
		if code := tierFetchCode(t, b.addr, topic, del-1); code != kerr.OffsetOutOfRange.Code {
			t.Errorf("fetch below the log start %d: %v, want OFFSET_OUT_OF_RANGE", del, kerr.ErrorForCode(code))
		}
		tierReadKgo(t, b.addr, topic, del, n)
		b.waitBucketFrom(id, del)
	})

	t.Run("Compacted", func(t *testing.T) {
		t.Parallel()
		invalid := func(what string, err error) {
			t.Helper()
			if !errors.Is(err, kerr.InvalidConfig) {
				t.Errorf("%s: %v, want INVALID_CONFIG", what, err)
			}
		}
		for _, policy := range []string{"compact", "compact,delete"} {
			_, err := adm.CreateTopic(fgCtx(t), 1, 1, map[string]*string{"cleanup.policy": kadm.StringPtr(policy), "remote.storage.enable": kadm.StringPtr("true")}, "compacted-tiered")
			invalid("create cleanup.policy="+policy+" with remote.storage.enable=true", err)
		}
		// Compacted topics are created untiered on a tiered broker.
		fgCreateTopic(t, adm, "compacted", 1, map[string]string{"cleanup.policy": "compact"})
		if v := tierConfig(t, adm, "compacted", "remote.storage.enable"); v != "false" {
			t.Errorf("a compacted topic's remote.storage.enable: %q, want false", v)
		}
		invalid("alter a compacted topic remote.storage.enable=true", tierTryAlter(t, adm, "compacted", "remote.storage.enable", "true"))
		// Other topics are tiered by default, and cannot be compacted.
		fgCreateTopic(t, adm, "tiered", 1, nil)
		if v := tierConfig(t, adm, "tiered", "remote.storage.enable"); v != "true" {
			t.Errorf("a new topic's remote.storage.enable on --storage=s3: %q, want true", v)
		}
		invalid("alter a tiered topic cleanup.policy=compact", tierTryAlter(t, adm, "tiered", "cleanup.policy", "compact"))
		invalid("alter a tiered topic local.retention.bytes above retention.bytes",
			tierTryAlter(t, adm, "tiered", "retention.bytes", "1048576", "local.retention.bytes", "2097152"))
		if v := tierConfig(t, adm, "tiered", "cleanup.policy"); v != "delete" {
			t.Errorf("cleanup.policy after the refused alter: %q", v)
		}
	})

	t.Run("EnableLater", func(t *testing.T) {
		t.Parallel()
		const topic = "enable-later"
		id := fgCreateTopic(t, adm, topic, 1, cfg("remote.storage.enable", "false")).ID
		tierProduce(t, tierProducer(t, b.addr), topic, 0, n, time.Time{})
		// Untiered: nothing goes to the bucket, local.retention.bytes
		// does not apply. Three retention checks and upload rounds
		// show it.
		time.Sleep(1500 * time.Millisecond)
		cl := fgClient(t, b.addr)
		if objs := b.objects(hex.EncodeToString(id[:])); len(objs) > 0 {
			t.Fatalf("an untiered topic has %d objects in the bucket", len(objs))
		}
		if local := tierListOffset(t, cl, topic, 0, -4); local != 0 {
			t.Fatalf("an untiered topic's local log start is %d, want 0", local)
		}
		// Turned on: its closed segments go up, their local copies go.
		tierAlter(t, adm, topic, "remote.storage.enable", "true")
		local := b.waitUploaded(topic, 0)
		if _, bases := tierLogBytes(b.objects(hex.EncodeToString(id[:]))); len(bases) == 0 || bases[0] != 0 {
			t.Errorf("the bucket's segments after tiering was turned on start at %v, want 0", bases)
		}
		if s := tierListOffset(t, cl, topic, 0, -2); s != 0 {
			t.Errorf("log start %d, want 0 (local log start %d)", s, local)
		}
		tierReadKgo(t, b.addr, topic, 0, n)
		tierReadKcat(t, requireTool(t, "kcat"), b.addr, topic, 0, n)
	})

	t.Run("Disable", func(t *testing.T) {
		t.Parallel()
		const topic = "disable"
		id := fgCreateTopic(t, adm, topic, 1, cfg()).ID
		tierProduce(t, tierProducer(t, b.addr), topic, 0, n, time.Time{})
		local := b.waitUploaded(topic, 0)
		// Off without giving the remote data up is refused (KIP-950).
		err := tierTryAlter(t, adm, topic, "remote.storage.enable", "false")
		if !errors.Is(err, kerr.InvalidConfig) || !strings.Contains(err.Error(), "remote.log.delete.on.disable") {
			t.Errorf("remote.storage.enable=false alone: %v, want INVALID_CONFIG naming remote.log.delete.on.disable", err)
		}
		// With remote.log.delete.on.disable the remote data goes: the
		// log starts at the local log start.
		tierAlter(t, adm, topic, "remote.storage.enable", "false", "remote.log.delete.on.disable", "true")
		start := b.waitLogStart(topic, id, 0)
		if start != local {
			t.Errorf("log start after tiering was turned off: %d, want the local log start %d", start, local)
		}
		if code := tierFetchCode(t, b.addr, topic, 0); code != kerr.OffsetOutOfRange.Code {
			t.Errorf("fetch at 0 after the remote data went: %v, want OFFSET_OUT_OF_RANGE", kerr.ErrorForCode(code))
		}
		tierReadKgo(t, b.addr, topic, local, n)
	})
}

// TestTieredLocalRefused: a broker started with --storage=local on a
// catalog that records data in a bucket refuses to start, saying why and
// what to do; once tiering is turned off on the topic (the remote data
// given up), it starts and serves the local data.
func TestTieredLocalRefused(t *testing.T) {
	t.Parallel()
	if pgtest.Enabled() {
		t.Skip("the catalog is not what it tests; runs in the default pass")
	}
	srv := s3test.Start(t)
	b := newTierBroker(t, srv)
	b.start()
	const topic = "refused"
	adm := fgAdmin(t, b.addr)
	id := fgCreateTopic(t, adm, topic, 1, map[string]string{"segment.bytes": strconv.Itoa(tierSegment), "local.retention.bytes": strconv.Itoa(tierSegment)}).ID
	n := tierRecordsFor(3 << 20)
	tierProduce(t, tierProducer(t, b.addr), topic, 0, n, time.Time{})
	local := b.waitUploaded(topic, 0)
	b.stop()

	p, err := tryStartProc(t, b.bin, b.env, b.dir, b.addr, "--storage=local")
	if err == nil {
		t.Fatalf("a --storage=local broker started on a catalog with data in a bucket\n%s", p.logs.String())
	}
	if out := p.logs.String(); !strings.Contains(out, "the catalog records data of 1 partitions in object storage") || !strings.Contains(out, "--storage=s3") {
		t.Fatalf("the refusal does not say why:\n%s", out)
	}

	b.start()
	tierAlter(t, fgAdmin(t, b.addr), topic, "remote.storage.enable", "false", "remote.log.delete.on.disable", "true")
	b.waitLogStart(topic, id, 0)
	b.stop()
	lp := startProcWith(t, b.bin, b.env, b.dir, b.addr, "--storage=local")
	if s := tierListOffset(t, fgClient(t, lp.addr), topic, 0, -2); s != local {
		t.Errorf("log start on the local broker: %d, want %d", s, local)
	}
	tierReadKgo(t, lp.addr, topic, local, n)
}

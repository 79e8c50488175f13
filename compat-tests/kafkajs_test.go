package compattests

// kafkajs (the Node.js client, pinned in testdata/kafkajs/package.json)
// against the streamhouse binary. Each scenario of
// testdata/kafkajs/scenarios.js runs in its own node process against a
// fresh broker and prints what it observed as one JSON object, which the
// test checks: admin calls, producing with and without gzip and
// idempotently, consumer groups (reading back, resuming from committed
// offsets, two members sharing a topic), transactions (commit, abort,
// sendOffsets, read_committed) and records that survive a restart.
//
// kafkajs 2.2.4 knows each API up to an old version and takes the highest
// both sides serve: here Produce v7, Fetch v11, ListOffsets v3, Metadata v6,
// CreateTopics v3, DeleteTopics v1, DescribeConfigs v2, FindCoordinator v2,
// JoinGroup v5, SyncGroup v3, Heartbeat v3, LeaveGroup v3, OffsetCommit v5,
// OffsetFetch v4, InitProducerId v1, AddPartitionsToTxn v1, AddOffsetsToTxn
// v1, EndTxn v1 and TxnOffsetCommit v1. Every one of them is within the
// versions Kafka 4.2 serves, and every scenario passes unchanged.
//
// node_modules is not committed: `npm ci --prefix
// compat-tests/testdata/kafkajs` installs it (.ci/run does). Without node
// or without it the test skips, and fails under
// STREAMHOUSE_COMPAT_REQUIRE=1.

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// kafkajsTimeout bounds one node process; the scenarios bound each of
// their waits at 30 s, so they fail with a description first.
const kafkajsTimeout = 60 * time.Second

// requireKafkajs returns the paths of node and of the scenario script,
// skipping the test when node or the installed kafkajs is missing (failing
// under STREAMHOUSE_COMPAT_REQUIRE=1, as requireTool does).
func requireKafkajs(t *testing.T) (node, script string) {
	t.Helper()
	node = requireTool(t, "node")
	dir, err := filepath.Abs(filepath.Join("testdata", "kafkajs"))
	if err != nil {
		t.Fatal(err)
	}
	missing := func(why string) {
		t.Helper()
		msg := why + "; run `npm ci --prefix compat-tests/testdata/kafkajs`"
		if os.Getenv("STREAMHOUSE_COMPAT_REQUIRE") == "1" {
			t.Fatalf("kafkajs is required (STREAMHOUSE_COMPAT_REQUIRE=1): %s", msg)
		}
		t.Skip(msg)
	}
	var pinned, installed struct {
		Version      string            `json:"version"`
		Dependencies map[string]string `json:"dependencies"`
	}
	readJSON := func(path string, v any) bool {
		b, err := os.ReadFile(path)
		if err != nil {
			return false
		}
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		return true
	}
	if !readJSON(filepath.Join(dir, "package.json"), &pinned) {
		t.Fatalf("%s/package.json is missing", dir)
	}
	if !readJSON(filepath.Join(dir, "node_modules", "kafkajs", "package.json"), &installed) {
		missing("kafkajs is not installed in " + filepath.Join(dir, "node_modules"))
	}
	if want := pinned.Dependencies["kafkajs"]; installed.Version != want {
		missing("node_modules holds kafkajs " + installed.Version + ", package.json pins " + want)
	}
	return node, filepath.Join(dir, "scenarios.js")
}

// runKafkajs runs one scenario against the broker at addr and decodes the
// JSON object it prints last into out. A failing scenario fails the test
// with node's standard error and the broker's log.
func runKafkajs(t *testing.T, node, script string, p *proc, scenario string, out any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), kafkajsTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, script, scenario)
	cmd.Dir = filepath.Dir(script)
	cmd.Env = append(os.Environ(), "KAFKA_BROKER="+p.addr)
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	if ctx.Err() != nil {
		err = errors.Join(err, ctx.Err())
	}
	if err != nil {
		t.Fatalf("kafkajs scenario %s: %v after %v\nnode stderr:\n%s\nstdout:\n%s\nbroker log:\n%s",
			scenario, err, time.Since(start).Round(time.Millisecond), tail(stderr.String(), 6000), tail(stdout.String(), 2000), tail(p.logs.String(), 4000))
	}
	ls := lines(stdout.String())
	if len(ls) == 0 {
		t.Fatalf("kafkajs scenario %s printed nothing\nnode stderr:\n%s", scenario, tail(stderr.String(), 6000))
	}
	if err := json.Unmarshal([]byte(ls[len(ls)-1]), out); err != nil {
		t.Fatalf("kafkajs scenario %s: %v in %q", scenario, err, ls[len(ls)-1])
	}
	t.Logf("kafkajs scenario %s: %v", scenario, time.Since(start).Round(time.Millisecond))
}

// kjsNoProblems reports the record mismatches a scenario found.
func kjsNoProblems(t *testing.T, what string, problems []string) {
	t.Helper()
	if len(problems) > 0 {
		t.Errorf("%s:\n  %s", what, strings.Join(problems, "\n  "))
	}
}

// kjsOffsets are offsets by partition, as the scenarios print them.
type kjsOffsets map[int32]int64

func (o kjsOffsets) sum() int64 {
	var n int64
	for _, v := range o {
		n += v
	}
	return n
}

// TestKafkajs runs every scenario, each on a broker of its own.
func TestKafkajs(t *testing.T) {
	t.Parallel()
	node, script := requireKafkajs(t)
	broker := func(t *testing.T) *proc {
		t.Helper()
		return startProc(t, t.TempDir(), "")
	}

	// createTopics (a second time: false, as kafkajs reports an existing
	// topic), listTopics, fetchTopicMetadata, describeCluster,
	// describeConfigs, fetchTopicOffsets and deleteTopics.
	t.Run("Admin", func(t *testing.T) {
		t.Parallel()
		p := broker(t)
		var out struct {
			Created, CreatedAgain bool
			Listed                []string
			Metadata              []struct {
				Name       string
				Partitions []struct {
					ID, Leader int32
					Replicas   []int32
					ISR        []int32
					Error      int16
				}
			}
			Cluster struct {
				Brokers    []string
				Controller int32
			}
			Configs map[string]struct {
				Value     string
				IsDefault bool
			}
			Offsets []struct {
				Partition int32
				Low, High string
			}
			ListedAfterDelete []string
		}
		runKafkajs(t, node, script, p, "admin", &out)
		if !out.Created || out.CreatedAgain {
			t.Errorf("createTopics: %v, then %v for the existing topic; want true, then false", out.Created, out.CreatedAgain)
		}
		if !slices.Contains(out.Listed, "js-admin") || !slices.Contains(out.Listed, "js-doomed") {
			t.Errorf("listTopics: %v, want js-admin and js-doomed", out.Listed)
		}
		if !slices.Equal(out.Cluster.Brokers, []string{p.addr}) {
			t.Errorf("describeCluster brokers %v, want [%s]", out.Cluster.Brokers, p.addr)
		}
		if len(out.Metadata) != 1 || out.Metadata[0].Name != "js-admin" || len(out.Metadata[0].Partitions) != 3 {
			t.Fatalf("fetchTopicMetadata: %+v, want js-admin with 3 partitions", out.Metadata)
		}
		for i, pm := range out.Metadata[0].Partitions {
			id := out.Cluster.Controller
			if pm.ID != int32(i) || pm.Leader != id || !slices.Equal(pm.Replicas, []int32{id}) || !slices.Equal(pm.ISR, []int32{id}) || pm.Error != 0 {
				t.Errorf("partition %d metadata %+v, want leader, replicas and isr the broker %d, no error", i, pm, id)
			}
		}
		if c := out.Configs["retention.ms"]; c.Value != "3600000" || c.IsDefault {
			t.Errorf("describeConfigs retention.ms = %+v, want 3600000 set at creation", c)
		}
		if c := out.Configs["cleanup.policy"]; c.Value != "delete" || !c.IsDefault {
			t.Errorf("describeConfigs cleanup.policy = %+v, want the default delete", c)
		}
		if len(out.Offsets) != 3 {
			t.Errorf("fetchTopicOffsets: %+v, want 3 partitions", out.Offsets)
		}
		for _, o := range out.Offsets {
			if o.Low != "0" || o.High != "0" {
				t.Errorf("fetchTopicOffsets partition %d: low %s high %s, want 0 and 0", o.Partition, o.Low, o.High)
			}
		}
		if !slices.Contains(out.ListedAfterDelete, "js-admin") || slices.Contains(out.ListedAfterDelete, "js-doomed") {
			t.Errorf("listTopics after deleteTopics js-doomed: %v", out.ListedAfterDelete)
		}
	})

	// 500 records uncompressed and 500 gzipped (acks -1), 200 from an
	// idempotent producer, keyed, with headers, over 3 partitions; a group
	// reads all back and commits them; a new consumer of the group gets
	// only the 30 produced after, from the committed offsets.
	t.Run("ProduceConsume", func(t *testing.T) {
		t.Parallel()
		p := broker(t)
		type round struct {
			Received     int
			ByPartition  kjsOffsets
			Problems     []string
			FirstOffsets kjsOffsets
		}
		var out struct {
			AckErrors, Sent   int
			Ends, Committed   kjsOffsets
			Ends2, Committed2 kjsOffsets
			First, Second     round
		}
		runKafkajs(t, node, script, p, "produce", &out)
		if out.AckErrors != 0 {
			t.Errorf("%d produce acknowledgements with an error", out.AckErrors)
		}
		if out.Sent != 1200 || out.Ends.sum() != 1200 || len(out.Ends) != 3 {
			t.Errorf("sent %d, end offsets %v; want 1200 records over 3 partitions", out.Sent, out.Ends)
		}
		if out.First.Received != 1200 {
			t.Errorf("the group's first consumer received %d records, want 1200", out.First.Received)
		}
		kjsNoProblems(t, "records read back", out.First.Problems)
		if !maps.Equal(out.First.ByPartition, out.Ends) {
			t.Errorf("records by partition %v, end offsets %v", out.First.ByPartition, out.Ends)
		}
		if !maps.Equal(out.Committed, out.Ends) {
			t.Errorf("fetchOffsets after the first consumer: %v, want the end offsets %v", out.Committed, out.Ends)
		}
		if out.Second.Received != 30 {
			t.Errorf("the restarted consumer received %d records, want the 30 new ones", out.Second.Received)
		}
		kjsNoProblems(t, "records read by the restarted consumer", out.Second.Problems)
		for part, first := range out.Second.FirstOffsets {
			if first != out.Committed[part] {
				t.Errorf("the restarted consumer began partition %d at %d, want the committed %d", part, first, out.Committed[part])
			}
		}
		if !maps.Equal(out.Committed2, out.Ends2) || out.Ends2.sum() != 1230 {
			t.Errorf("fetchOffsets after the restarted consumer: %v, end offsets %v (want equal, 1230 records)", out.Committed2, out.Ends2)
		}
	})

	// Two members of one group: the second joining makes the group
	// rebalance, the partitions split, and each record produced after is
	// read exactly once, by the member holding its partition.
	t.Run("GroupShare", func(t *testing.T) {
		t.Parallel()
		p := broker(t)
		var out struct {
			AJoinsAlone, AJoins int
			Assignments         struct{ A, B []int32 }
			Split               struct{ A, B int }
			Problems, Outside   []string
			Committed, Ends     kjsOffsets
		}
		runKafkajs(t, node, script, p, "groups", &out)
		all := slices.Sorted(slices.Values(append(slices.Clone(out.Assignments.A), out.Assignments.B...)))
		if len(out.Assignments.A) == 0 || len(out.Assignments.B) == 0 || !slices.Equal(all, []int32{0, 1, 2}) {
			t.Errorf("assignments a %v b %v, want the 3 partitions split", out.Assignments.A, out.Assignments.B)
		}
		if out.AJoinsAlone != 1 || out.AJoins < 2 {
			t.Errorf("member a joined %d times alone and %d in all; want 1 and a rejoin at the rebalance", out.AJoinsAlone, out.AJoins)
		}
		if out.Split.A == 0 || out.Split.B == 0 || out.Split.A+out.Split.B != 300 {
			t.Errorf("records after the rebalance: a %d, b %d; want 300 shared", out.Split.A, out.Split.B)
		}
		kjsNoProblems(t, "records after the rebalance", out.Problems)
		kjsNoProblems(t, "records from partitions not assigned", out.Outside)
		if !maps.Equal(out.Committed, out.Ends) || out.Ends.sum() != 390 {
			t.Errorf("fetchOffsets %v, end offsets %v; want equal, 390 records", out.Committed, out.Ends)
		}
	})

	// A transactional producer commits, aborts (a gzipped batch among the
	// aborted), and commits with sendOffsets; read_committed sees the 40
	// committed records, read_uncommitted all 60.
	t.Run("Transactions", func(t *testing.T) {
		t.Parallel()
		p := broker(t)
		type read struct {
			Received int
			Problems []string
		}
		var out struct {
			TxnOffsets                     kjsOffsets
			ReadCommitted, ReadUncommitted read
		}
		runKafkajs(t, node, script, p, "transactions", &out)
		if !maps.Equal(out.TxnOffsets, kjsOffsets{0: 7}) {
			t.Errorf("offsets committed by sendOffsets: %v, want partition 0 at 7", out.TxnOffsets)
		}
		if out.ReadCommitted.Received != 40 {
			t.Errorf("read_committed received %d records, want the 40 committed", out.ReadCommitted.Received)
		}
		kjsNoProblems(t, "read_committed", out.ReadCommitted.Problems)
		if out.ReadUncommitted.Received != 60 {
			t.Errorf("read_uncommitted received %d records, want all 60", out.ReadUncommitted.Received)
		}
		kjsNoProblems(t, "read_uncommitted", out.ReadUncommitted.Problems)
	})

	// 300 records and a group's offsets, the broker stopped with SIGTERM
	// and started again on the same directory and port: kafkajs reads the
	// records back, and the group resumes at its offsets.
	t.Run("Restart", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		p := startProc(t, dir, "")
		var before struct {
			Ends     kjsOffsets
			Received int
		}
		runKafkajs(t, node, script, p, "restart-before", &before)
		if before.Received != 300 || before.Ends.sum() != 300 {
			t.Fatalf("before the restart: received %d, end offsets %v; want 300", before.Received, before.Ends)
		}
		p.stop()
		p = startProc(t, dir, p.addr)
		var after struct {
			Listed           []string
			Ends, Committed  kjsOffsets
			Received         int
			Problems         []string
			OldGroupReceived int
		}
		runKafkajs(t, node, script, p, "restart-after", &after)
		if !slices.Contains(after.Listed, "js-restart") {
			t.Errorf("listTopics after the restart: %v", after.Listed)
		}
		if !maps.Equal(after.Ends, before.Ends) || !maps.Equal(after.Committed, before.Ends) {
			t.Errorf("after the restart: end offsets %v, committed %v; want %v for both", after.Ends, after.Committed, before.Ends)
		}
		if after.Received != 300 {
			t.Errorf("a new group received %d records after the restart, want 300", after.Received)
		}
		kjsNoProblems(t, "records after the restart", after.Problems)
		if after.OldGroupReceived != 0 {
			t.Errorf("the committed group received %d records after the restart, want none", after.OldGroupReceived)
		}
	})
}

package compattests

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamhouse/streamhouse/internal/pgtest"
)

// TestCatalogCopyToPostgres moves a broker's catalog from SQLite to
// PostgreSQL as the README says: records produced, a group's commits, a
// transaction left open; `streamhouse catalog copy` while the broker runs
// is refused, after it stops copies and verifies, and again finds the copy
// done; the broker started on PostgreSQL with the same data directory
// serves the same cluster, topics and records, the group resumes at its
// commit, and the open transaction commits.
func TestCatalogCopyToPostgres(t *testing.T) {
	t.Parallel()
	if pgtest.Enabled() {
		t.Skip("runs on PostgreSQL in the default pass already")
	}
	url := pgtest.URL(t)
	bin := binary(t)
	dir := t.TempDir()
	// This test moves the catalog itself: the first broker is on SQLite
	// whatever STREAMHOUSE_TEST_METADATA says (the last --metadata wins).
	p := startProcWith(t, bin, nil, dir, "", "--metadata", "sqlite")
	const topic = "copied"
	adm := fgAdmin(t, p.addr)
	fgCreateTopic(t, adm, topic, 2, map[string]string{"retention.ms": "3600000"})
	ctx := fgCtx(t)
	pr := fgClient(t, p.addr, kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	for i := range 10 {
		if err := pr.ProduceSync(ctx, &kgo.Record{Partition: int32(i % 2), Value: fmt.Appendf(nil, "v%d", i)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	offs := kadm.Offsets{}
	offs.Add(kadm.Offset{Topic: topic, Partition: 0, At: 3, LeaderEpoch: -1})
	offs.Add(kadm.Offset{Topic: topic, Partition: 1, At: 2, LeaderEpoch: -1})
	if resp, err := adm.CommitOffsets(ctx, "copy-group", offs); err != nil || resp.Error() != nil {
		t.Fatalf("commit: %v %v", err, resp.Error())
	}
	tx := fgClient(t, p.addr, kgo.TransactionalID("copy-txn"), kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), restartDialer())
	if err := tx.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := tx.ProduceSync(ctx, &kgo.Record{Partition: 0, Value: []byte("in-txn")}).FirstErr(); err != nil {
		t.Fatal(err)
	}

	copyCmd := func() (string, error) {
		out, err := exec.Command(bin, "catalog", "copy", "--from", "sqlite:"+dir, "--to", url).CombinedOutput()
		return string(out), err
	}
	if out, err := copyCmd(); err == nil || !strings.Contains(out, "in use") {
		t.Fatalf("copy while the broker runs: %v\n%s", err, out)
	}
	p.stop()
	out, err := copyCmd()
	if err != nil || !strings.Contains(out, "verified") {
		t.Fatalf("copy: %v\n%s", err, out)
	}
	if strings.Contains(out, "streamhouse:streamhouse@") {
		t.Errorf("the copy's output shows the password:\n%s", out)
	}
	t.Logf("catalog copy:\n%s", out)
	if out, err := copyCmd(); err != nil || !strings.Contains(out, "already holds this catalog") {
		t.Fatalf("copy again: %v\n%s", err, out)
	}

	p = startProcWith(t, bin, nil, dir, p.addr, "--metadata", "postgres", "--database-url", url)
	if !strings.Contains(p.logs.String(), "metadata=postgres") {
		t.Fatalf("the restarted broker is not on PostgreSQL:\n%s", p.logs.String())
	}
	if err := tx.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatalf("committing the transaction left open across the move: %v", err)
	}
	got := fgConsume(t, p.addr, topic, 2, 11, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	if len(got[0]) != 6 || len(got[1]) != 5 || string(got[0][5].Value) != "in-txn" {
		t.Fatalf("records after the move: partition 0 %d, partition 1 %d", len(got[0]), len(got[1]))
	}
	adm = fgAdmin(t, p.addr)
	fetched, err := adm.FetchOffsets(ctx, "copy-group")
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := fetched.Lookup(topic, 0); o.At != 3 {
		t.Errorf("group offset of partition 0 after the move: %d, want 3", o.At)
	}
	if o, _ := fetched.Lookup(topic, 1); o.At != 2 {
		t.Errorf("group offset of partition 1 after the move: %d, want 2", o.At)
	}
}

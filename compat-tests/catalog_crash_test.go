package compattests

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamhouse/streamhouse/internal/pgtest"
)

// TestCatalogCrashBeforeAnswer kills the broker (kill -9, a fault build's
// crash point) after a CreateTopics, an OffsetCommit or an EndTxn succeeded
// in its PostgreSQL catalog and before the answer left: after a restart
// what the earlier calls were told is there, and so is what the cut call
// wrote (the answer, not the write, was lost).
func TestCatalogCrashBeforeAnswer(t *testing.T) {
	t.Parallel()
	if pgtest.Enabled() {
		t.Skip("runs on PostgreSQL in the default pass already")
	}
	tests := []struct {
		name string
		// crash is the catalog-answer hit to crash at: the third
		// call, after the topic's creation where there is one.
		crash int
		run   func(t *testing.T, addr string) // three calls
		check func(t *testing.T, addr string)
	}{
		{"CreateTopics", 3, func(t *testing.T, addr string) {
			adm := fgAdmin(t, addr)
			for i := range 3 {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				_, err := adm.CreateTopic(ctx, 1, 1, nil, fmt.Sprintf("created-%d", i))
				cancel()
				if i < 2 && err != nil {
					t.Fatalf("create %d: %v", i, err)
				}
			}
		}, func(t *testing.T, addr string) {
			topics, err := fgAdmin(t, addr).ListTopics(fgCtx(t))
			if err != nil {
				t.Fatal(err)
			}
			for i := range 3 {
				if !topics.Has(fmt.Sprintf("created-%d", i)) {
					t.Errorf("created-%d missing after the restart: %v", i, topics.Names())
				}
			}
		}},
		{"OffsetCommit", 4, func(t *testing.T, addr string) {
			adm := fgAdmin(t, addr)
			fgCreateTopic(t, adm, "committed", 1, nil)
			for i := range 3 {
				offs := kadm.Offsets{}
				offs.Add(kadm.Offset{Topic: "committed", Partition: 0, At: int64(i + 1), LeaderEpoch: -1})
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				resp, err := adm.CommitOffsets(ctx, "crash-group", offs)
				cancel()
				if i < 2 && (err != nil || resp.Error() != nil) {
					t.Fatalf("commit %d: %v %v", i+1, err, resp.Error())
				}
			}
		}, func(t *testing.T, addr string) {
			fetched, err := fgAdmin(t, addr).FetchOffsets(fgCtx(t), "crash-group")
			if err != nil {
				t.Fatal(err)
			}
			if o, _ := fetched.Lookup("committed", 0); o.At != 3 {
				t.Errorf("committed offset after the restart: %d, want 3 (the commit whose answer was cut)", o.At)
			}
		}},
		{"EndTxn", 4, func(t *testing.T, addr string) {
			fgCreateTopic(t, fgAdmin(t, addr), "txns", 1, nil)
			cl := fgClient(t, addr, kgo.TransactionalID("crash-txn"), kgo.DefaultProduceTopic("txns"))
			ctx := fgCtx(t)
			for i := range 3 {
				if err := cl.BeginTransaction(); err != nil {
					t.Fatal(err)
				}
				if err := cl.ProduceSync(ctx, &kgo.Record{Value: fmt.Appendf(nil, "txn-%d", i)}).FirstErr(); err != nil {
					t.Fatal(err)
				}
				ectx, cancel := context.WithTimeout(ctx, 5*time.Second)
				err := cl.EndTransaction(ectx, kgo.TryCommit)
				cancel()
				if i < 2 && err != nil {
					t.Fatalf("commit %d: %v", i, err)
				}
			}
		}, func(t *testing.T, addr string) {
			got := fgConsume(t, addr, "txns", 1, 3, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
			var vals []string
			for _, r := range got[0] {
				vals = append(vals, string(r.Value))
			}
			if !slices.Equal(vals, []string{"txn-0", "txn-1", "txn-2"}) {
				t.Errorf("read_committed after the restart: %q, want the three transactions, the last one's answer cut", vals)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			url := pgtest.URL(t)
			b := newCrashBroker(t, binaryFaults(t))
			pgFlags := []string{"--metadata", "postgres", "--database-url", url}
			if err := b.start([]string{fmt.Sprintf("STREAMHOUSE_CRASH_AT=catalog-answer:%d", tt.crash)}, pgFlags...); err != nil {
				t.Fatal(err)
			}
			tt.run(t, b.addr)
			if exited, _ := b.runFor(fgWait); !exited {
				t.Fatalf("the broker did not reach its crash point:\n%s", b.lastLogs())
			}
			if !strings.Contains(b.lastLogs(), "crash point catalog-answer reached") {
				t.Fatalf("the broker exited without reaching the crash point:\n%s", b.lastLogs())
			}
			if err := b.start(nil, pgFlags...); err != nil {
				t.Fatal(err)
			}
			tt.check(t, b.addr)
		})
	}
}

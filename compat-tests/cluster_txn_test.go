package compattests

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestClusterTransactions: franz-go transactional producers over a 3-broker
// cluster, each transaction spanning partitions led by every broker and
// coordinated by one of them: a read_committed consumer sees exactly the
// committed records, in order, and no transaction is left open (the
// last stable offset of each partition reaches its end). Then sarama and
// librdkafka transactional producers on the same cluster.
func TestClusterTransactions(t *testing.T) {
	c := newClusterEnv(t) // not parallel: 3 brokers hold ~30 of PostgreSQL's 100 connections
	for node := 1; node <= 3; node++ {
		c.start(node)
	}
	ctx := fgCtx(t)
	const topic, parts = "cluster-txn", int32(12)
	adm := fgAdmin(t, c.brokers[1].addr)
	fgCreateTopic(t, adm, topic, parts, nil)
	// The partitions' leases are spread over the brokers once the
	// brokers that joined last took their shares (rendezvous hashing:
	// 12 partitions are on at least 2 of 3 brokers but for a chance of
	// 3 in 3^12).
	t.Logf("leaders: %v", clusterSettled(t, adm, topic, parts, 2))

	// The replication factor asked at creation is kept: a topic of
	// factor 2 lists 2 replicas, the leader first.
	if r, err := adm.CreateTopic(ctx, 3, 2, nil, "cluster-rf2"); err != nil || r.Err != nil {
		t.Fatalf("create a topic of replication factor 2: %v %v", err, r.Err)
	}
	clusterSettled(t, adm, "cluster-rf2", 3, 1)
	md, err := adm.Metadata(ctx, "cluster-rf2")
	if err != nil {
		t.Fatal(err)
	}
	for p, pd := range md.Topics["cluster-rf2"].Partitions {
		if len(pd.Replicas) != 2 || pd.Replicas[0] != pd.Leader || pd.Replicas[1] == pd.Leader {
			t.Errorf("cluster-rf2 partition %d: leader %d, replicas %v; want 2, the leader first", p, pd.Leader, pd.Replicas)
		}
	}

	// Transactional ids whose coordinators are on different brokers:
	// 4 producers, 6 transactions each, every third aborted.
	const producers, txns, perPart = 4, 6, 2
	var mu sync.Mutex
	committed := map[int32][]string{}
	var wg sync.WaitGroup
	errs := make(chan error, producers)
	for i := range producers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl, err := kgo.NewClient(kgo.SeedBrokers(c.brokers[i%3+1].addr), kgo.TransactionalID(fmt.Sprintf("cluster-txn-%d", i)),
				kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()),
				kgo.TransactionTimeout(30*time.Second), kgo.RetryTimeout(fgWait))
			if err != nil {
				errs <- err
				return
			}
			defer cl.Close()
			for n := range txns {
				if err := cl.BeginTransaction(); err != nil {
					errs <- fmt.Errorf("producer %d: begin: %w", i, err)
					return
				}
				var vals []*kgo.Record
				for p := range parts {
					for k := range perPart {
						vals = append(vals, &kgo.Record{Partition: p, Value: fmt.Appendf(nil, "p%d-t%d-r%d", i, n, k)})
					}
				}
				if err := cl.ProduceSync(ctx, vals...).FirstErr(); err != nil {
					errs <- fmt.Errorf("producer %d txn %d: produce: %w", i, n, err)
					return
				}
				commit := kgo.TryCommit
				if n%3 == 2 {
					commit = kgo.TryAbort
				}
				if err := cl.EndTransaction(ctx, commit); err != nil {
					errs <- fmt.Errorf("producer %d txn %d: end (%v): %w", i, n, commit, err)
					return
				}
				if commit == kgo.TryCommit {
					mu.Lock()
					for _, r := range vals {
						committed[r.Partition] = append(committed[r.Partition], string(r.Value))
					}
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	// Every transaction ended in every partition: the last stable offset
	// (read_committed ListOffsets) is the end offset.
	ends := fgEndOffsets(t, adm, topic)
	for deadline := time.Now().Add(fgWait); ; {
		l, err := adm.ListCommittedOffsets(ctx, topic) // read_committed: the last stable offsets
		if stable := fgListed(t, topic, l, err); maps.Equal(stable, ends) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("last stable offsets never reached the end offsets %v: a transaction was left open", ends)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Each broker lists (and describes) the transactional ids it
	// coordinates, and only those: each id once, by its coordinator, in
	// its last state (the sixth transaction aborted).
	var ids []string
	for i := range producers {
		ids = append(ids, fmt.Sprintf("cluster-txn-%d", i))
	}
	coords := adm.FindTxnCoordinators(ctx, ids...)
	listed, err := adm.ListTransactions(ctx, nil, nil)
	if err != nil {
		t.Fatalf("ListTransactions: %v", err)
	}
	described, err := adm.DescribeTransactions(ctx, ids...)
	if err != nil {
		t.Fatalf("DescribeTransactions: %v", err)
	}
	for _, id := range ids {
		l, d := listed[id], described[id]
		if l.State != "CompleteAbort" || l.Coordinator != coords[id].NodeID || d.Err != nil || d.State != "CompleteAbort" || d.Coordinator != coords[id].NodeID {
			t.Errorf("%s: listed %+v, described %+v; want CompleteAbort by its coordinator %d", id, l, d, coords[id].NodeID)
		}
	}
	defer clusterTxnClients(t, c, 3) // after the franz-go checks, on the same cluster
	want := 0
	for _, v := range committed {
		want += len(v)
	}
	// Read until want records came and then a little longer, to see
	// any that should not be there.
	cl := fgClient(t, c.brokers[2].addr, kgo.ConsumeTopics(topic), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	got := map[int32][]string{}
	n := 0
	deadline, quiet := time.Now().Add(fgWait), time.Time{}
	for time.Now().Before(deadline) && (quiet.IsZero() || time.Now().Before(quiet)) {
		pctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		fs := cl.PollFetches(pctx)
		cancel()
		fs.EachRecord(func(r *kgo.Record) {
			got[r.Partition] = append(got[r.Partition], string(r.Value))
			n++
		})
		if n >= want && quiet.IsZero() {
			quiet = time.Now().Add(time.Second)
		}
	}
	for p := range parts {
		vals := got[p]
		// Each producer's records keep their order; producers interleave.
		if !sameMultiset(vals, committed[p]) {
			t.Errorf("partition %d: read_committed read %d records %v\nwant the %d committed %v\nits log:\n%s",
				p, len(vals), vals, len(committed[p]), committed[p], tcDump(t, c.brokers[2].addr, topic, p, ends[p]))
		}
	}
}

// clusterTxnClients runs the other clients' transaction scenario
// (transactions_clients_test.go: commit, abort, commit over 2 partitions)
// through broker node of c, with sarama and librdkafka.
func clusterTxnClients(t *testing.T, c *clusterEnv, node int) {
	addr := c.brokers[node].addr
	adm := fgAdmin(t, addr)
	for _, client := range []string{"sarama", "librdkafka"} {
		t.Run(client, func(t *testing.T) {
			topic := "cluster-txn-" + client
			fgCreateTopic(t, adm, topic, tcPartitions, nil)
			txnID := topic + "-producer"
			// A new topic's partitions answer LEADER_NOT_AVAILABLE until
			// their leases are taken (sarama gives up after 5 retries
			// 100 ms apart), and may move once.
			leaders := clusterSettled(t, adm, topic, tcPartitions, 1)
			tc := adm.FindTxnCoordinators(fgCtx(t), txnID)
			t.Logf("transaction coordinator %d, leaders %v", tc[txnID].NodeID, leaders)
			if client == "sarama" {
				tcSarama(t, addr, sarama.MaxVersion, topic, txnID)
			} else {
				tcLibrdkafka(t, addr, topic, txnID)
			}
		})
	}
}

// TestClusterTransactionsEOS: franz-go's GroupTransactSession over a
// 3-broker cluster, consuming one topic and producing another with its
// offsets committed in each transaction: the group's coordinator, the
// transactional ids' coordinators and the partitions' leaders are
// different brokers, and each input comes out exactly once.
func TestClusterTransactionsEOS(t *testing.T) {
	c := newClusterEnv(t) // not parallel: 3 brokers hold ~30 of PostgreSQL's 100 connections
	for node := 1; node <= 3; node++ {
		c.start(node)
	}
	ctx := fgCtx(t)
	const in, out, parts, group = "cluster-eos-in", "cluster-eos-out", int32(6), "cluster-eos"
	addr := c.brokers[1].addr
	adm := fgAdmin(t, addr)
	fgCreateTopic(t, adm, in, parts, nil)
	fgCreateTopic(t, adm, out, parts, nil)
	inputs := eosInput(t, addr, in, 1200, 0)
	commits, aborts := eosRun(t, addr, in, out, group, 2, 3, nil)
	// Who coordinated what, for the log: the test is about these being
	// different brokers.
	var coord []string
	for k, v := range adm.FindGroupCoordinators(ctx, group) {
		coord = append(coord, fmt.Sprintf("group %s: %d", k, v.NodeID))
	}
	for k, v := range adm.FindTxnCoordinators(ctx, group+"-worker-0", group+"-worker-1") {
		coord = append(coord, fmt.Sprintf("transactional id %s: %d", k, v.NodeID))
	}
	leaders, _ := clusterLeaders(ctx, adm, out)
	t.Logf("%d transactions committed, %d aborted; coordinators %v; leaders of %s %v", commits, aborts, coord, out, leaders)
	eosCheck(t, addr, out, parts, inputs)
}

// clusterSettled waits until each of topic's parts partitions has a
// leader, on at least nodes brokers, the same in two Metadata answers a
// second apart, and returns the leaders.
func clusterSettled(t *testing.T, adm *kadm.Client, topic string, parts int32, nodes int) map[int32]int32 {
	t.Helper()
	var prev map[int32]int32
	for deadline := time.Now().Add(fgWait); ; {
		leaders, err := clusterLeaders(fgCtx(t), adm, topic)
		on := map[int32]bool{}
		for _, l := range leaders {
			on[l] = true
		}
		if err == nil && len(leaders) == int(parts) && len(on) >= nodes && maps.Equal(leaders, prev) {
			return leaders
		}
		prev = leaders
		if time.Now().After(deadline) {
			t.Fatalf("%s's partitions' leaders never settled: %v, %v", topic, leaders, err)
		}
		time.Sleep(time.Second)
	}
}

// sameMultiset reports whether a and b hold the same strings, counted.
func sameMultiset(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

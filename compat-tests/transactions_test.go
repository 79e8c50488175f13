package compattests

// Transactions (the exactly-once issue): franz-go's GroupTransactSession
// consumes topic A, produces a transform to topic B and commits its offsets
// in one transaction, aborting every few; a read_committed consumer of B
// sees every input exactly once and nothing aborted.

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kversion"

	"github.com/streamhouse/streamhouse/broker/brokertest"
)

// eosRun runs workers GroupTransactSessions over in -> out until every
// input is committed. Every abortEvery-th transaction of each worker is
// aborted. It returns how many transactions committed and aborted.
func eosRun(t *testing.T, addr, in, out, group string, workers, abortEvery int, during func(), extra ...kgo.Opt) (commits, aborts int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*fgWait)
	defer cancel()
	var committed, aborted atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	done := make(chan struct{})
	for w := range workers {
		sess, err := kgo.NewGroupTransactSession(append([]kgo.Opt{
			kgo.SeedBrokers(addr),
			kgo.TransactionalID(fmt.Sprintf("%s-worker-%d", group, w)),
			kgo.TransactionTimeout(20 * time.Second),
			kgo.ConsumerGroup(group),
			kgo.ConsumeTopics(in),
			kgo.FetchIsolationLevel(kgo.ReadCommitted()),
			kgo.RequireStableFetchOffsets(),
			kgo.RecordPartitioner(kgo.ManualPartitioner()),
			kgo.FetchMaxWait(200 * time.Millisecond),
			kgo.RetryBackoffFn(func(int) time.Duration { return 20 * time.Millisecond }),
		}, extra...)...)
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			defer sess.Close()
			txns := 0
			for {
				select {
				case <-done:
					return
				case <-ctx.Done():
					errs <- fmt.Errorf("worker %d: %v", w, ctx.Err())
					return
				default:
				}
				pctx, pcancel := context.WithTimeout(ctx, 500*time.Millisecond)
				fs := sess.PollRecords(pctx, 100)
				pcancel()
				if fs.IsClientClosed() {
					return
				}
				var recs []*kgo.Record
				fs.EachRecord(func(r *kgo.Record) { recs = append(recs, r) })
				if len(recs) == 0 {
					continue
				}
				if err := sess.Begin(); err != nil {
					errs <- fmt.Errorf("worker %d: begin: %v", w, err)
					return
				}
				var perr atomic.Value
				for _, r := range recs {
					sess.Produce(ctx, &kgo.Record{Topic: out, Partition: r.Partition, Key: r.Key, Value: append([]byte("out-"), r.Value...)},
						func(_ *kgo.Record, err error) {
							if err != nil {
								perr.CompareAndSwap(nil, err)
							}
						})
				}
				txns++
				try := kgo.TryCommit
				if abortEvery > 0 && txns%abortEvery == 0 || perr.Load() != nil {
					try = kgo.TryAbort
				}
				ok, err := sess.End(ctx, try)
				for retries := 0; err != nil && ctx.Err() == nil && retries < 20; retries++ {
					// A rebalance or a restart. When the EndTxn itself
					// failed (the broker was killed under it), its
					// outcome is unknown and the transaction stays
					// open in the client: franz-go documents a retry
					// with TryAbort, which fences whatever the broker
					// still holds. Either way the records come back.
					t.Logf("worker %d: end: %v; aborting", w, err)
					time.Sleep(50 * time.Millisecond)
					_, err = sess.End(ctx, kgo.TryAbort)
				}
				switch {
				case err != nil:
					t.Logf("worker %d: end: %v", w, err)
				case ok:
					committed.Add(1)
				default:
					aborted.Add(1)
				}
			}
		})
	}
	// Done when the group committed the end of every input partition.
	adm := fgAdmin(t, addr)
	for {
		if during != nil {
			during()
		}
		offs, err := adm.FetchOffsets(ctx, group)
		ends, err2 := adm.ListEndOffsets(ctx, in)
		if err == nil && err2 == nil {
			caught := true
			ends.Each(func(e kadm.ListedOffset) {
				o, ok := offs.Lookup(in, e.Partition)
				if !ok || o.At < e.Offset {
					caught = false
				}
			})
			if caught {
				break
			}
		}
		select {
		case err := <-errs:
			t.Fatal(err)
		case <-ctx.Done():
			t.Fatalf("the group did not commit every input within the time: %v %v", err, err2)
		case <-time.After(50 * time.Millisecond):
		}
	}
	close(done)
	wg.Wait()
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
	return committed.Load(), aborted.Load()
}

// eosInput produces n records to in, spread over its partitions, and
// returns their values.
func eosInput(t *testing.T, addr, in string, n int, from int) []string {
	t.Helper()
	var recs []*kgo.Record
	var values []string
	for i := from; i < from+n; i++ {
		v := fmt.Sprintf("in-%05d", i)
		values = append(values, v)
		recs = append(recs, &kgo.Record{Topic: in, Key: []byte(v), Value: []byte(v)})
	}
	fgProduceAll(t, fgClient(t, addr), recs)
	return values
}

// eosCheck reads out read_committed and checks that it holds "out-" + each
// input exactly once.
func eosCheck(t *testing.T, addr, out string, partitions int32, inputs []string) {
	t.Helper()
	got := fgConsume(t, addr, out, partitions, len(inputs), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	count := map[string]int{}
	for _, rs := range got {
		for _, r := range rs {
			count[string(r.Value)]++
		}
	}
	var missing, dup []string
	for _, v := range inputs {
		switch count["out-"+v] {
		case 0:
			missing = append(missing, v)
		case 1:
		default:
			dup = append(dup, v)
		}
		delete(count, "out-"+v)
	}
	var stray []string
	for v := range count {
		stray = append(stray, v)
	}
	slices.Sort(stray)
	if len(missing)+len(dup)+len(stray) > 0 {
		t.Fatalf("read_committed output: %d missing %v, %d twice %v, %d not from the input %v",
			len(missing), head(missing), len(dup), head(dup), len(stray), head(stray))
	}
}

// txnVersions are the two transaction protocols franz-go speaks: version 2
// (KIP-890 part 2, which the broker advertises) and version 1, which a
// client capped at Kafka 3.9's request versions uses.
var txnVersions = []struct {
	name string
	opts []kgo.Opt
}{
	{"v2", nil},
	{"v1", []kgo.Opt{kgo.MaxVersions(kversion.V3_9_0())}},
}

func TestTransactionsGroupSession(t *testing.T) {
	t.Parallel()
	for _, tv := range txnVersions {
		t.Run(tv.name, func(t *testing.T) {
			t.Parallel()
			b := grBroker(t)
			addr := b.Addr()
			const in, out, parts, n = "eos-in", "eos-out", 3, 2000
			adm := fgAdmin(t, addr)
			fgCreateTopic(t, adm, in, parts, nil)
			fgCreateTopic(t, adm, out, parts, nil)
			inputs := eosInput(t, addr, in, n, 0)
			commits, aborts := eosRun(t, addr, in, out, "eos-group", 2, 3, nil, tv.opts...)
			t.Logf("%d transactions committed, %d aborted", commits, aborts)
			if aborts == 0 {
				t.Fatal("no transaction was aborted: the test did not test aborts")
			}
			eosCheck(t, addr, out, parts, inputs)

			// read_uncommitted sees the aborted copies too.
			ends, err := adm.ListEndOffsets(fgCtx(t), out)
			if err != nil {
				t.Fatal(err)
			}
			total := int64(0)
			ends.Each(func(e kadm.ListedOffset) { total += e.Offset })
			if total <= int64(n) {
				t.Fatalf("the output holds %d offsets for %d inputs: aborted records (and markers) should add to them", total, n)
			}
		})
	}
}

// TestTransactionsAcrossCrash: the same consume-transform-produce with the
// broker (a child process) killed with SIGKILL and restarted mid-run,
// several times: still every input exactly once in the read_committed
// output.
func TestTransactionsAcrossCrash(t *testing.T) {
	t.Parallel()
	for _, tv := range txnVersions {
		t.Run(tv.name, func(t *testing.T) {
			t.Parallel()
			b := newCrashBroker(t, binary(t))
			if err := b.start(nil, grBrokerFlags()...); err != nil {
				t.Fatal(err)
			}
			addr := b.addr
			const in, out, parts, n = "eos-crash-in", "eos-crash-out", 3, 12000
			adm := fgAdmin(t, addr)
			fgCreateTopic(t, adm, in, parts, nil)
			fgCreateTopic(t, adm, out, parts, nil)
			inputs := eosInput(t, addr, in, n, 0)
			kills := 0
			next := time.Now().Add(100 * time.Millisecond)
			during := func() {
				if kills == 3 || time.Now().Before(next) {
					return
				}
				if _, err := b.runFor(0); err != nil {
					t.Fatal(err)
				}
				kills++
				if err := b.start(nil, grBrokerFlags()...); err != nil {
					t.Fatal(err)
				}
				next = time.Now().Add(400 * time.Millisecond)
			}
			commits, aborts := eosRun(t, addr, in, out, "eos-crash-group", 2, 4, during, append(tv.opts, restartDialer())...)
			t.Logf("%d kills; %d transactions committed, %d aborted", kills, commits, aborts)
			if kills == 0 {
				t.Fatal("the run ended before the broker was killed")
			}
			eosCheck(t, addr, out, parts, inputs)
		})
	}
}

// TestTransactionsFencing: a second producer with the same transactional id
// fences the first: the first's open transaction is aborted, its next
// request fails, and only the second's records are committed.
func TestTransactionsFencing(t *testing.T) {
	t.Parallel()
	b := grBroker(t)
	addr := b.Addr()
	const topic = "eos-fence"
	fgCreateTopic(t, fgAdmin(t, addr), topic, 1, nil)
	txnClient := func() *kgo.Client {
		return fgClient(t, addr, kgo.TransactionalID("fenced-id"), kgo.TransactionTimeout(20*time.Second))
	}
	ctx := fgCtx(t)
	first := txnClient()
	if err := first.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := first.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("zombie")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	second := txnClient()
	if err := second.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := second.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("winner")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	// The zombie cannot write or commit any more.
	zerr := first.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("zombie again")}).FirstErr()
	cerr := first.EndTransaction(ctx, kgo.TryCommit)
	if zerr == nil || cerr == nil {
		t.Fatalf("the fenced producer could still produce (%v) or commit (%v)", zerr, cerr)
	}
	t.Logf("fenced producer: produce %v; commit %v", zerr, cerr)
	if err := second.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	got := fgConsume(t, addr, topic, 1, 1, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	if v := string(got[0][0].Value); v != "winner" {
		t.Fatalf("read_committed sees %q first, want winner", v)
	}
	// Nothing else committed: the end of the stable part is right after
	// the winner's marker.
	ends, err := fgAdmin(t, addr).ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	o, _ := ends.Lookup(topic, 0)
	if o.Offset < 3 {
		t.Fatalf("end offset %d: want the zombie's record, its abort marker, the winner's record and marker", o.Offset)
	}
}

// TestTransactionsAdmin: kadm's ListTransactions, DescribeTransactions and
// DescribeProducers show an open transaction and its producer.
func TestTransactionsAdmin(t *testing.T) {
	t.Parallel()
	b := grBroker(t)
	addr := b.Addr()
	const topic = "eos-admin"
	adm := fgAdmin(t, addr)
	fgCreateTopic(t, adm, topic, 2, nil)
	ctx := fgCtx(t)
	cl := fgClient(t, addr, kgo.TransactionalID("admin-txn"), kgo.TransactionTimeout(30*time.Second),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Partition: 1, Value: []byte("open")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	listed, err := adm.ListTransactions(ctx, nil, []string{"Ongoing"})
	if err != nil {
		t.Fatal(err)
	}
	lt, ok := listed["admin-txn"]
	if !ok || lt.State != "Ongoing" || len(listed) != 1 {
		t.Fatalf("ListTransactions(Ongoing) = %+v", listed)
	}
	if byPattern, err := adm.ListTransactionsByTxPattern(ctx, nil, nil, "^admin-"); err != nil || len(byPattern) != 1 {
		t.Fatalf("ListTransactionsByTxPattern = %+v, %v", byPattern, err)
	}
	described, err := adm.DescribeTransactions(ctx, "admin-txn", "missing")
	if err != nil {
		t.Fatal(err)
	}
	dt := described["admin-txn"]
	if dt.Err != nil || dt.State != "Ongoing" || dt.ProducerID != lt.ProducerID || dt.TimeoutMillis != 30000 || dt.StartTimestamp <= 0 {
		t.Fatalf("DescribeTransactions = %+v", dt)
	}
	if ps := dt.Topics[topic]; len(ps) != 1 {
		t.Fatalf("described partitions %v, want %s-1", dt.Topics, topic)
	}
	if described["missing"].Err == nil {
		t.Fatal("an unknown transactional id was described")
	}
	prods, err := adm.DescribeProducers(ctx, kadm.TopicsSet{topic: {1: {}}})
	if err != nil {
		t.Fatal(err)
	}
	var found []kadm.DescribedProducer
	prods.EachProducer(func(p kadm.DescribedProducer) { found = append(found, p) })
	if len(found) != 1 || found[0].ProducerID != lt.ProducerID || found[0].CurrentTxnStartOffset != 0 || found[0].LastSequence != 0 {
		t.Fatalf("DescribeProducers = %+v", found)
	}
	if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	described, err = adm.DescribeTransactions(ctx, "admin-txn")
	if err != nil || described["admin-txn"].State != "CompleteCommit" {
		t.Fatalf("after commit: %+v, %v", described, err)
	}
}

// TestTransactionsEndAcrossCrash: the broker (built with -tags faults) is
// killed after a transaction's end is decided and stored and one marker
// written (crash point txn-marker). The restarted broker finishes the end:
// a commit's records become readable to read_committed consumers in every
// partition, an abort's never do.
func TestTransactionsEndAcrossCrash(t *testing.T) {
	t.Parallel()
	for _, commit := range []bool{true, false} {
		name := "abort"
		if commit {
			name = "commit"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b := newCrashBroker(t, binaryFaults(t))
			if err := b.start([]string{"STREAMHOUSE_CRASH_AT=txn-marker:1"}, grBrokerFlags()...); err != nil {
				t.Fatal(err)
			}
			const topic, parts = "eos-end-crash", 3
			fgCreateTopic(t, fgAdmin(t, b.addr), topic, parts, nil)
			cl := fgClient(t, b.addr, kgo.TransactionalID("end-crash-"+name), kgo.TransactionTimeout(60*time.Second),
				kgo.RecordPartitioner(kgo.ManualPartitioner()), restartDialer())
			ctx := fgCtx(t)
			if err := cl.BeginTransaction(); err != nil {
				t.Fatal(err)
			}
			var recs []*kgo.Record
			for p := range int32(parts) {
				recs = append(recs, &kgo.Record{Topic: topic, Partition: p, Value: fmt.Appendf(nil, "%s-%d", name, p)})
			}
			if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
				t.Fatal(err)
			}
			ended := make(chan error, 1)
			go func() { ended <- cl.EndTransaction(ctx, kgo.TransactionEndTry(commit)) }()
			if exited, _ := b.runFor(fgWait); !exited {
				t.Fatalf("the broker did not reach its crash point:\n%s", b.lastLogs())
			}
			if err := b.start(nil, grBrokerFlags()...); err != nil {
				t.Fatal(err)
			}
			err := <-ended
			t.Logf("EndTransaction across the crash: %v", err)
			if !strings.Contains(b.p.logs.String(), "finished a transaction a restart interrupted") {
				t.Errorf("the restarted broker did not report finishing the transaction:\n%s", b.p.logs.String())
			}
			if !commit {
				if err != nil {
					// The abort's outcome is unknown to the client,
					// which keeps the transaction open: franz-go
					// documents a retry with TryAbort.
					if err := cl.EndTransaction(ctx, kgo.TryAbort); err != nil {
						t.Fatalf("EndTransaction(TryAbort) after the failed end: %v", err)
					}
				}
				// The abort is final: a later transaction's commit
				// shows only its own record.
				if err := cl.BeginTransaction(); err != nil {
					t.Fatal(err)
				}
				if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Partition: 0, Value: []byte("after")}).FirstErr(); err != nil {
					t.Fatal(err)
				}
				if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
					t.Fatal(err)
				}
				got := fgConsume(t, b.addr, topic, parts, 1, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
				if len(got[0]) != 1 || string(got[0][0].Value) != "after" {
					t.Fatalf("read_committed after the aborted transaction: %v", got)
				}
				return
			}
			got := fgConsume(t, b.addr, topic, parts, parts, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
			for p := range int32(parts) {
				if len(got[p]) != 1 || string(got[p][0].Value) != fmt.Sprintf("commit-%d", p) {
					t.Fatalf("partition %d read_committed: %v", p, got[p])
				}
			}
		})
	}
}

// TestTransactionsTimeout: a transaction left open past its
// transaction.timeout.ms is aborted by the broker, which fences its
// producer: read_committed consumers move past it, and the producer's
// commit fails.
func TestTransactionsTimeout(t *testing.T) {
	t.Parallel()
	b := brokertest.New(t, brokertest.Options{Settings: map[string]string{
		"transaction.abort.timed.out.transaction.cleanup.interval.ms": "50",
	}})
	addr := b.Addr()
	const topic = "eos-timeout"
	adm := fgAdmin(t, addr)
	fgCreateTopic(t, adm, topic, 1, nil)
	ctx := fgCtx(t)
	cl := fgClient(t, addr, kgo.TransactionalID("slow"), kgo.TransactionTimeout(time.Second))
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	// The broker's timer starts when the produce adds the partition,
	// before ProduceSync returns: begun is taken before it, so that a slow
	// answer does not make the abort look early.
	begun := time.Now()
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("too slow")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	for {
		ends, err := adm.ListEndOffsets(ctx, topic)
		if err != nil {
			t.Fatal(err)
		}
		stable, err := adm.ListCommittedOffsets(ctx, topic)
		if err != nil {
			t.Fatal(err)
		}
		e, _ := ends.Lookup(topic, 0)
		s, _ := stable.Lookup(topic, 0)
		if s.Offset == e.Offset && e.Offset == 2 { // the record and its abort marker
			break
		}
		if time.Since(begun) > fgWait {
			t.Fatalf("the open transaction was not aborted: end %d, last stable %d", e.Offset, s.Offset)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if el := time.Since(begun); el < 900*time.Millisecond {
		t.Fatalf("aborted after %v, before its 1 s timeout", el)
	}
	if err := cl.EndTransaction(ctx, kgo.TryCommit); err == nil {
		t.Fatal("the producer committed a transaction the broker aborted")
	}
	described, err := adm.DescribeTransactions(ctx, "slow")
	if err != nil || described["slow"].State != "CompleteAbort" || described["slow"].ProducerEpoch < 1 {
		t.Fatalf("after the timeout: %+v, %v", described, err)
	}
}

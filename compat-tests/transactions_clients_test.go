package compattests

// Transactions with the other clients (the exactly-once issue): a sarama
// and a librdkafka transactional producer commit a transaction, abort one
// and commit another; read_committed consumers (franz-go, and the same
// client's own) see exactly the committed records, each once, in order,
// and a read_uncommitted consumer sees the aborted ones too.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamhouse/streamhouse/broker/brokertest"
)

// tcPhase is one transaction of the scenario: n records, then a commit or
// an abort.
type tcPhase struct {
	tag    string
	n      int
	commit bool
}

// tcPhases: commit, abort, commit. Every transaction writes to every
// partition of a two-partition topic.
var tcPhases = []tcPhase{
	{"c1", 20, true},
	{"a", 15, false},
	{"c2", 25, true},
}

const tcPartitions = 2

// tcValue is the value of record i of a phase; it goes to partition
// i % tcPartitions.
func tcValue(client string, ph tcPhase, i int) (int32, string) {
	return int32(i % tcPartitions), fmt.Sprintf("%s-%s-%d", client, ph.tag, i)
}

// tcExpected returns, by partition in produce order, the values of the
// committed transactions and of all of them.
func tcExpected(client string) (committed, all map[int32][]string) {
	committed, all = map[int32][]string{}, map[int32][]string{}
	for _, ph := range tcPhases {
		for i := range ph.n {
			p, v := tcValue(client, ph, i)
			all[p] = append(all[p], v)
			if ph.commit {
				committed[p] = append(committed[p], v)
			}
		}
	}
	return committed, all
}

func tcCount(m map[int32][]string) int {
	n := 0
	for _, vs := range m {
		n += len(vs)
	}
	return n
}

// tcCheck reads topic with franz-go, read_committed and read_uncommitted,
// and checks the values against committed and all; it checks that every
// record is transactional and that the high watermark and the last stable
// offset of each partition are past every record and one control record
// per transaction. It returns the offsets read_committed saw, by value.
func tcCheck(t *testing.T, addr, topic string, committed, all map[int32][]string) map[string]int64 {
	t.Helper()
	offsets := map[string]int64{}
	rc := fgConsume(t, addr, topic, tcPartitions, tcCount(committed), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	for p := range int32(tcPartitions) {
		var vs []string
		for _, r := range rc[p] {
			if r.ProducerID < 0 || !r.Attrs.IsTransactional() {
				t.Fatalf("read_committed partition %d offset %d: producer id %d, transactional %v", p, r.Offset, r.ProducerID, r.Attrs.IsTransactional())
			}
			vs = append(vs, string(r.Value))
			offsets[string(r.Value)] = r.Offset
		}
		if !slices.Equal(vs, committed[p]) {
			t.Fatalf("read_committed partition %d: %d values %q, want %d %q", p, len(vs), vs, len(committed[p]), committed[p])
		}
	}
	ru := fgConsume(t, addr, topic, tcPartitions, tcCount(all))
	for p := range int32(tcPartitions) {
		var vs []string
		for _, r := range ru[p] {
			vs = append(vs, string(r.Value))
		}
		if !slices.Equal(vs, all[p]) {
			t.Fatalf("read_uncommitted partition %d: %d values %q, want %d %q", p, len(vs), vs, len(all[p]), all[p])
		}
	}
	adm := fgAdmin(t, addr)
	ends, err := adm.ListEndOffsets(fgCtx(t), topic)
	hwm := fgListed(t, topic, ends, err)
	stable, err := adm.ListCommittedOffsets(fgCtx(t), topic)
	lso := fgListed(t, topic, stable, err)
	for p := range int32(tcPartitions) {
		want := int64(len(all[p]) + len(tcPhases))
		if hwm[p] != want || lso[p] != want {
			t.Fatalf("partition %d: high watermark %d, last stable offset %d; want both %d (%d records and %d markers)",
				p, hwm[p], lso[p], want, len(all[p]), len(tcPhases))
		}
	}
	return offsets
}

// tcCheckOpen checks, while transaction k of tcPhases is open with all
// its records written, that the last stable offset of each partition is
// where the transaction starts and the high watermark past its records.
func tcCheckOpen(t *testing.T, addr, topic string, k int) {
	t.Helper()
	before, in := map[int32]int64{}, map[int32]int64{}
	for j, ph := range tcPhases[:k+1] {
		for i := range ph.n {
			p, _ := tcValue("", ph, i)
			if j < k {
				before[p]++
			} else {
				in[p]++
			}
		}
	}
	adm := fgAdmin(t, addr)
	ends, err := adm.ListEndOffsets(fgCtx(t), topic)
	hwm := fgListed(t, topic, ends, err)
	stable, err := adm.ListCommittedOffsets(fgCtx(t), topic)
	lso := fgListed(t, topic, stable, err)
	for p := range int32(tcPartitions) {
		start := before[p] + int64(k) // one marker per earlier transaction
		if lso[p] != start || hwm[p] != start+in[p] {
			t.Fatalf("transaction %s open: partition %d has last stable offset %d and high watermark %d; want %d and %d; its log:\n%s",
				tcPhases[k].tag, p, lso[p], hwm[p], start, start+in[p], tcDump(t, addr, topic, p, hwm[p]))
		}
	}
}

// tcDump lists partition p's records below end, control records
// included, read_uncommitted: for a failure's message.
func tcDump(t *testing.T, addr, topic string, p int32, end int64) string {
	cl := fgClient(t, addr, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {p: kgo.NewOffset().AtStart()}}),
		kgo.KeepControlRecords(), kgo.FetchIsolationLevel(kgo.ReadUncommitted()))
	var b strings.Builder
	ctx, cancel := context.WithTimeout(fgCtx(t), 10*time.Second)
	defer cancel()
	for next := int64(0); next < end && ctx.Err() == nil; {
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
			kind := "data"
			if r.Attrs.IsControl() {
				kind = fmt.Sprintf("control %x", r.Key)
			}
			fmt.Fprintf(&b, "  %d: %s producer %d epoch %d %q at %s\n", r.Offset, kind, r.ProducerID, r.ProducerEpoch, r.Value, r.Timestamp.Format("15:04:05.000"))
			next = r.Offset + 1
		})
	}
	return b.String()
}

// tcCheckOwn checks what a client's own read_committed consumer got (values
// and offsets by partition) against committed and the offsets franz-go saw.
func tcCheckOwn(t *testing.T, who string, values map[int32][]string, offs map[int32][]int64, committed map[int32][]string, fgOffsets map[string]int64) {
	t.Helper()
	for p := range int32(tcPartitions) {
		if !slices.Equal(values[p], committed[p]) {
			t.Fatalf("%s read_committed partition %d: %d values %q, want %d %q", who, p, len(values[p]), values[p], len(committed[p]), committed[p])
		}
		for i, v := range values[p] {
			if offs[p][i] != fgOffsets[v] {
				t.Fatalf("%s read_committed partition %d: %s at offset %d, franz-go saw it at %d", who, p, v, offs[p][i], fgOffsets[v])
			}
		}
	}
}

func TestTransactionsSarama(t *testing.T) {
	t.Parallel()
	forEachSaramaVersion(t, func(t *testing.T, v sarama.KafkaVersion) {
		b := brokertest.New(t)
		topic := saramaTopicName("txn-sarama", v.String())
		fgCreateTopic(t, fgAdmin(t, b.Addr()), topic, tcPartitions, nil)
		tcSarama(t, b.Addr(), v, topic, "txn-sarama-"+v.String())
	})
}

// tcSarama runs the scenario with a sarama producer of transactional id
// txnID, through addr, into topic (tcPartitions partitions).
func tcSarama(t *testing.T, addr string, v sarama.KafkaVersion, topic, txnID string) {
	t.Helper()
	c := saramaConfig(v)
	c.Producer.Idempotent = true
	c.Producer.Transaction.ID = txnID
	c.Producer.RequiredAcks = sarama.WaitForAll
	c.Producer.Retry.Max = 5 // sarama requires retries with idempotence
	c.Net.MaxOpenRequests = 1
	c.Producer.Partitioner = sarama.NewManualPartitioner
	p := newSaramaSyncProducer(t, addr, c)
	if !p.IsTransactional() {
		t.Fatal("the sarama producer is not transactional")
	}
	for k, ph := range tcPhases {
		if err := p.BeginTxn(); err != nil {
			t.Fatalf("%s: BeginTxn: %v", ph.tag, err)
		}
		var msgs []*sarama.ProducerMessage
		for i := range ph.n {
			part, val := tcValue("sarama", ph, i)
			msgs = append(msgs, &sarama.ProducerMessage{Topic: topic, Partition: part, Value: sarama.StringEncoder(val)})
		}
		saramaSendAll(t, p, msgs)
		tcCheckOpen(t, addr, topic, k)
		if ph.commit {
			if err := p.CommitTxn(); err != nil {
				t.Fatalf("%s: CommitTxn: %v (status %v)", ph.tag, err, p.TxnStatus())
			}
		} else if err := p.AbortTxn(); err != nil {
			t.Fatalf("%s: AbortTxn: %v (status %v)", ph.tag, err, p.TxnStatus())
		}
		if st := p.TxnStatus(); st&sarama.ProducerTxnFlagReady == 0 || st&sarama.ProducerTxnFlagInError != 0 {
			t.Fatalf("%s: transaction status %v after the end", ph.tag, st)
		}
	}

	committed, all := tcExpected("sarama")
	fgOffsets := tcCheck(t, addr, topic, committed, all)

	cc := saramaConfig(v)
	cc.Consumer.IsolationLevel = sarama.ReadCommitted
	co := newSaramaConsumer(t, addr, cc)
	values, offs := map[int32][]string{}, map[int32][]int64{}
	for part := range int32(tcPartitions) {
		for _, m := range saramaConsume(t, co, topic, part, sarama.OffsetOldest, len(committed[part])) {
			values[part] = append(values[part], string(m.Value))
			offs[part] = append(offs[part], m.Offset)
		}
	}
	tcCheckOwn(t, "sarama", values, offs, committed, fgOffsets)
}

func TestTransactionsLibrdkafka(t *testing.T) {
	t.Parallel()
	b := brokertest.New(t)
	const topic = "txn-librdkafka"
	fgCreateTopic(t, fgAdmin(t, b.Addr()), topic, tcPartitions, nil)
	tcLibrdkafka(t, b.Addr(), topic, "txn-librdkafka")
}

// tcLibrdkafka runs the scenario with a librdkafka producer of
// transactional id txnID, through addr, into topic (tcPartitions
// partitions).
func tcLibrdkafka(t *testing.T, addr, topic, txnID string) {
	t.Helper()
	_, version := kafka.LibraryVersion()
	t.Logf("librdkafka %s", version)

	p, err := kafka.NewProducer(&kafka.ConfigMap{
		"bootstrap.servers":      addr,
		"client.id":              "streamhouse-compat-librdkafka",
		"transactional.id":       txnID,
		"transaction.timeout.ms": 60000,
		"enable.idempotence":     true,
		"linger.ms":              5,
		"broker.address.family":  "v4",
		"log_level":              4,
	})
	if err != nil {
		t.Fatalf("kafka.NewProducer: %v", err)
	}
	// Errors reported outside the deliveries (a fatal idempotence error,
	// a broker down) are logged when the test ends.
	var evMu sync.Mutex
	var events []string
	evDone := make(chan struct{})
	go func() {
		defer close(evDone)
		for ev := range p.Events() {
			evMu.Lock()
			events = append(events, fmt.Sprintf("%T %v", ev, ev))
			evMu.Unlock()
		}
	}()
	defer func() {
		p.Close()
		<-evDone
		for _, e := range events {
			t.Logf("librdkafka producer event: %s", e)
		}
	}()

	ctx, cancel := context.WithTimeout(context.Background(), fgWait)
	defer cancel()
	if err := p.InitTransactions(ctx); err != nil {
		t.Fatalf("InitTransactions: %v", tcRdErr(err))
	}
	tp := topic
	for k, ph := range tcPhases {
		if err := p.BeginTransaction(); err != nil {
			t.Fatalf("%s: BeginTransaction: %v", ph.tag, tcRdErr(err))
		}
		deliveries := make(chan kafka.Event, ph.n)
		for i := range ph.n {
			part, val := tcValue("librdkafka", ph, i)
			err := p.Produce(&kafka.Message{TopicPartition: kafka.TopicPartition{Topic: &tp, Partition: part}, Value: []byte(val)}, deliveries)
			if err != nil {
				t.Fatalf("%s: produce: %v", ph.tag, tcRdErr(err))
			}
		}
		for range ph.n {
			select {
			case ev := <-deliveries:
				m, ok := ev.(*kafka.Message)
				if !ok {
					t.Fatalf("%s: unexpected delivery event %v", ph.tag, ev)
				}
				if m.TopicPartition.Error != nil {
					t.Fatalf("%s: delivery of %s: %v", ph.tag, m.Value, tcRdErr(m.TopicPartition.Error))
				}
			case <-ctx.Done():
				t.Fatalf("%s: deliveries did not arrive", ph.tag)
			}
		}
		tcCheckOpen(t, addr, topic, k)
		if ph.commit {
			err = p.CommitTransaction(ctx)
		} else {
			err = p.AbortTransaction(ctx)
		}
		if err != nil {
			t.Fatalf("%s: end transaction (commit %v): %v", ph.tag, ph.commit, tcRdErr(err))
		}
	}

	committed, all := tcExpected("librdkafka")
	fgOffsets := tcCheck(t, addr, topic, committed, all)

	co, err := kafka.NewConsumer(&kafka.ConfigMap{
		"bootstrap.servers":     addr,
		"client.id":             "streamhouse-compat-librdkafka",
		"group.id":              txnID + "-reader",
		"enable.auto.commit":    false,
		"isolation.level":       "read_committed",
		"fetch.wait.max.ms":     100,
		"broker.address.family": "v4",
		"log_level":             4,
	})
	if err != nil {
		t.Fatalf("kafka.NewConsumer: %v", err)
	}
	defer co.Close()
	var tps []kafka.TopicPartition
	for part := range int32(tcPartitions) {
		tps = append(tps, kafka.TopicPartition{Topic: &tp, Partition: part, Offset: kafka.OffsetBeginning})
	}
	if err := co.Assign(tps); err != nil {
		t.Fatalf("Assign: %v", err)
	}
	values, offs := map[int32][]string{}, map[int32][]int64{}
	want := tcCount(committed)
	deadline := time.Now().Add(fgWait)
	for got := 0; got < want; {
		if time.Now().After(deadline) {
			t.Fatalf("librdkafka read_committed: %d of %d messages within %v: %q", got, want, fgWait, values)
		}
		m, err := co.ReadMessage(200 * time.Millisecond)
		if err != nil {
			var ke kafka.Error
			if errors.As(err, &ke) && ke.Code() == kafka.ErrTimedOut {
				continue
			}
			t.Fatalf("librdkafka read_committed after %d of %d messages: %v", got, want, tcRdErr(err))
		}
		part := m.TopicPartition.Partition
		values[part] = append(values[part], string(m.Value))
		offs[part] = append(offs[part], int64(m.TopicPartition.Offset))
		got++
	}
	tcCheckOwn(t, "librdkafka", values, offs, committed, fgOffsets)
}

// tcRdErr describes a librdkafka error with its code and flags.
func tcRdErr(err error) string {
	var ke kafka.Error
	if !errors.As(err, &ke) {
		return err.Error()
	}
	return fmt.Sprintf("%v (code %d %s, fatal %v, retriable %v, abortable %v)",
		ke, ke.Code(), ke.Code().String(), ke.IsFatal(), ke.IsRetriable(), ke.TxnRequiresAbort())
}

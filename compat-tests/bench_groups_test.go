package compattests

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamhouse/streamhouse/broker/brokertest"
)

// BenchmarkOffsetCommit: OffsetCommit requests of 10 partitions each from
// 10 groups at once (simple commits, as consumers that assign partitions
// themselves send), each answered after the offsets are durable in the
// catalog.
//
//	go test ./compat-tests -run x -bench OffsetCommit -benchtime 10000x
func BenchmarkOffsetCommit(b *testing.B) {
	br := brokertest.New(b)
	adm := fgAdmin(b, br.Addr())
	fgCreateTopic(b, adm, "committed", 10, nil)
	const groups = 10
	var clients []*kadm.Client
	for range groups {
		cl, err := kgo.NewClient(kgo.SeedBrokers(br.Addr()))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(cl.Close)
		clients = append(clients, kadm.NewClient(cl))
	}
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, groups)
	for g := range groups {
		wg.Go(func() {
			n := b.N / groups
			if g < b.N%groups {
				n++
			}
			for i := range n {
				var offs kadm.Offsets
				for p := range int32(10) {
					offs.AddOffset("committed", p, int64(i), -1)
				}
				resp, err := clients[g].CommitOffsets(context.Background(), fmt.Sprintf("bench-%d", g), offs)
				if err == nil {
					err = resp.Error()
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	el := time.Since(start)
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/el.Seconds(), "commits/s")
}

// BenchmarkRebalance10x100: 10 members of one group over a 100-partition
// topic; a rebalance starts when the last member joins, and the time
// reported is from that member's start to every member holding its
// partitions (each of the 100 assigned once), against the clients'
// heartbeat interval of 500 ms.
//
//	go test ./compat-tests -run x -bench Rebalance -benchtime 5x
func BenchmarkRebalance10x100(b *testing.B) {
	br := brokertest.New(b, brokertest.Options{Settings: map[string]string{"group.initial.rebalance.delay.ms": "0"}})
	adm := fgAdmin(b, br.Addr())
	fgCreateTopic(b, adm, "wide100", 100, nil)
	var total time.Duration
	for i := range b.N {
		group := fmt.Sprintf("rebalance-%d", i)
		var mu sync.Mutex
		owned := make(map[int]map[int32]bool)
		count := func() int {
			mu.Lock()
			defer mu.Unlock()
			n := 0
			for _, ps := range owned {
				n += len(ps)
			}
			return n
		}
		var members []*kgo.Client
		start := func(k int) {
			cl, err := kgo.NewClient(kgo.SeedBrokers(br.Addr()), kgo.ConsumerGroup(group), kgo.ConsumeTopics("wide100"),
				kgo.HeartbeatInterval(500*time.Millisecond), kgo.SessionTimeout(6*time.Second),
				kgo.Balancers(kgo.RangeBalancer()),
				kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, a map[string][]int32) {
					mu.Lock()
					defer mu.Unlock()
					owned[k] = map[int32]bool{}
					for _, p := range a["wide100"] {
						owned[k][p] = true
					}
				}),
				kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, _ map[string][]int32) {
					mu.Lock()
					defer mu.Unlock()
					delete(owned, k)
				}))
			if err != nil {
				b.Fatal(err)
			}
			members = append(members, cl)
			go func() {
				for !cl.PollFetches(context.Background()).IsClientClosed() {
				}
			}()
		}
		b.StopTimer()
		for k := range 9 {
			start(k)
		}
		for count() != 100 {
			time.Sleep(5 * time.Millisecond)
		}
		b.StartTimer()
		t0 := time.Now()
		start(9)
		for {
			mu.Lock()
			done := len(owned) == 10
			mu.Unlock()
			if done && count() == 100 {
				break
			}
			time.Sleep(time.Millisecond)
		}
		total += time.Since(t0)
		b.StopTimer()
		for _, cl := range members {
			cl.Close()
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/rebalance")
}

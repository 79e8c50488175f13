package cluster_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/streamhouse/streamhouse/cluster"
	"github.com/streamhouse/streamhouse/meta"
	"github.com/streamhouse/streamhouse/meta/sqlite"
)

func keys(n int) []meta.LeaseKey {
	id := meta.TopicID{7, 7, 7}
	out := make([]meta.LeaseKey, n)
	for i := range out {
		out[i] = meta.LeaseKey{Kind: meta.LeasePartition, TopicID: id, Partition: int32(i)}
	}
	return out
}

// TestOwnerSpreadsAndMovesLittle: leases spread about evenly; a broker that
// joins takes only leases that become its own (read backwards: one that
// leaves gives away only its own).
func TestOwnerSpreadsAndMovesLittle(t *testing.T) {
	t.Parallel()
	ks := keys(3000)
	three, four := []int32{1, 2, 3}, []int32{1, 2, 3, 4}
	count := map[int32]int{}
	for _, k := range ks {
		count[cluster.Owner(k, three)]++
	}
	for _, n := range three {
		if c := count[n]; c < 800 || c > 1200 {
			t.Errorf("node %d owns %d of 3000 leases among 3 brokers, want about 1000: %v", n, c, count)
		}
	}
	moved := 0
	for _, k := range ks {
		before, after := cluster.Owner(k, three), cluster.Owner(k, four)
		if before != after {
			moved++
			if after != 4 {
				t.Fatalf("lease %v moved from %d to %d when node 4 joined", k, before, after)
			}
		}
	}
	if moved < 600 || moved > 900 {
		t.Errorf("%d of 3000 leases moved to the new node, want about 750", moved)
	}
	if got := cluster.Owner(ks[0], nil); got != -1 {
		t.Fatalf("Owner among no brokers = %d, want -1", got)
	}
	// The order the node ids come in does not matter.
	if cluster.Owner(ks[5], []int32{3, 1, 2}) != cluster.Owner(ks[5], three) {
		t.Fatal("Owner depends on the order of the node ids")
	}
}

func openCatalog(t *testing.T) *sqlite.Catalog {
	t.Helper()
	c, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "metadata.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func self(node int32) meta.BrokerRegistration {
	return meta.BrokerRegistration{NodeID: node, Listeners: []meta.BrokerListener{{Name: "PLAINTEXT", Host: "127.0.0.1", Port: 9092, SecurityProtocol: "PLAINTEXT"}}}
}

// TestMember: a member renews its session, sees the others, and frees its
// node id when it leaves; a second broker with its node id waits for the
// first's session to end.
func TestMember(t *testing.T) {
	t.Parallel()
	c := openCatalog(t)
	ctx := t.Context()
	opts := func(node int32) cluster.Options {
		return cluster.Options{Catalog: c, Self: self(node), SessionTimeout: 600 * time.Millisecond, Heartbeat: 100 * time.Millisecond}
	}
	a, err := cluster.Join(ctx, opts(1))
	if err != nil {
		t.Fatal(err)
	}
	b, err := cluster.Join(ctx, opts(2))
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second) // past the first session timeout: renewed
	if !a.Valid() || !b.Valid() {
		t.Fatal("a renewed session is not valid")
	}
	if live := a.Live(); len(live) != 2 {
		t.Fatalf("Live = %+v, want brokers 1 and 2", live)
	}
	// Another broker with node id 1 waits until 1 leaves.
	joined := make(chan error, 1)
	go func() {
		m, err := cluster.Join(ctx, opts(1))
		if err == nil {
			defer m.Leave(context.Background())
		}
		joined <- err
	}()
	select {
	case err := <-joined:
		t.Fatalf("a second broker with node id 1 joined while the first was live: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	if err := a.Leave(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-joined; err != nil {
		t.Fatalf("joining after the first left: %v", err)
	}
	if err := b.Leave(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestMemberLost: a session taken over (here: ended behind the member's
// back) is lost: Lost closes, Valid is false.
func TestMemberLost(t *testing.T) {
	t.Parallel()
	c := openCatalog(t)
	m, err := cluster.Join(t.Context(), cluster.Options{Catalog: c, Self: self(1), SessionTimeout: 600 * time.Millisecond, Heartbeat: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.DeregisterBroker(t.Context(), 1, m.Epoch()); err != nil {
		t.Fatal(err)
	}
	select {
	case <-m.Lost():
	case <-time.After(5 * time.Second):
		t.Fatal("the member did not notice its session was gone")
	}
	if m.Valid() || !errors.Is(m.Err(), meta.ErrSessionLost) {
		t.Fatalf("after the loss: Valid %v, Err %v", m.Valid(), m.Err())
	}
	if err := m.Leave(t.Context()); err != nil {
		t.Fatal(err)
	}
}

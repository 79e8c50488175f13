package metatest

import (
	"errors"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/streamhouse/streamhouse/meta"
)

// The session times of these cases: short, since PostgreSQL's clock cannot
// be moved; a case waits past expiry by sleeping.
const (
	sessionTTL  = 400 * time.Millisecond
	longSession = time.Minute
)

func registration(node int32) meta.BrokerRegistration {
	return meta.BrokerRegistration{NodeID: node, Rack: "rack-a", Listeners: []meta.BrokerListener{
		{Name: "PLAINTEXT", Host: "127.0.0.1", Port: 9090 + node, SecurityProtocol: "PLAINTEXT"},
		{Name: "SASL_SSL", Host: "broker.example", Port: 9190 + node, SecurityProtocol: "SASL_SSL"},
	}}
}

func testMembers(t *testing.T, open func(t *testing.T) meta.Catalog) {
	ctx := t.Context()
	c := open(t)
	if live, err := c.LiveBrokers(ctx); err != nil || len(live) != 0 {
		t.Fatalf("LiveBrokers of a new catalog = %+v, %v", live, err)
	}
	e1, err := c.RegisterBroker(ctx, registration(1), longSession)
	if err != nil {
		t.Fatal(err)
	}
	e2, err := c.RegisterBroker(ctx, registration(2), longSession)
	if err != nil || e2 <= e1 {
		t.Fatalf("RegisterBroker(2) = %d, %v; want an epoch above %d", e2, err, e1)
	}
	if _, err := c.RegisterBroker(ctx, registration(1), longSession); !errors.Is(err, meta.ErrNodeInUse) {
		t.Fatalf("RegisterBroker of a live node id: err = %v, want %v", err, meta.ErrNodeInUse)
	}
	live, err := c.LiveBrokers(ctx)
	if err != nil || len(live) != 2 || live[0].NodeID != 1 || live[1].NodeID != 2 || live[0].Epoch != e1 {
		t.Fatalf("LiveBrokers = %+v, %v", live, err)
	}
	want := registration(1)
	if got := live[0]; got.Rack != want.Rack || !slices.Equal(got.Listeners, want.Listeners) || got.Registered.IsZero() {
		t.Fatalf("LiveBrokers[0] = %+v, want %+v", got, want)
	}
	if err := c.RenewBroker(ctx, 1, e1, longSession); err != nil {
		t.Fatal(err)
	}
	if err := c.RenewBroker(ctx, 1, e1+100, longSession); !errors.Is(err, meta.ErrSessionLost) {
		t.Fatalf("RenewBroker of another epoch: err = %v, want %v", err, meta.ErrSessionLost)
	}
	// A clean stop ends the session; the node registers again, later.
	if err := c.DeregisterBroker(ctx, 1, e1); err != nil {
		t.Fatal(err)
	}
	if err := c.DeregisterBroker(ctx, 1, e1); err != nil {
		t.Fatalf("DeregisterBroker again: %v", err)
	}
	if err := c.RenewBroker(ctx, 1, e1, longSession); !errors.Is(err, meta.ErrSessionLost) {
		t.Fatalf("RenewBroker after Deregister: err = %v, want %v", err, meta.ErrSessionLost)
	}
	if live, err := c.LiveBrokers(ctx); err != nil || len(live) != 1 || live[0].NodeID != 2 {
		t.Fatalf("LiveBrokers after Deregister = %+v, %v", live, err)
	}
	e1b, err := c.RegisterBroker(ctx, registration(1), longSession)
	if err != nil || e1b <= e2 {
		t.Fatalf("RegisterBroker(1) again = %d, %v; want an epoch above %d", e1b, err, e2)
	}
}

func testMemberExpiry(t *testing.T, open func(t *testing.T) meta.Catalog) {
	ctx := t.Context()
	c := open(t)
	e, err := c.RegisterBroker(ctx, registration(3), sessionTTL)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(sessionTTL + 200*time.Millisecond)
	if live, err := c.LiveBrokers(ctx); err != nil || len(live) != 0 {
		t.Fatalf("LiveBrokers after the session expired = %+v, %v", live, err)
	}
	if err := c.RenewBroker(ctx, 3, e, longSession); !errors.Is(err, meta.ErrSessionLost) {
		t.Fatalf("RenewBroker after expiry: err = %v, want %v", err, meta.ErrSessionLost)
	}
	// Expired, the node id is free: a restarted broker takes it.
	if _, err := c.RegisterBroker(ctx, registration(3), longSession); err != nil {
		t.Fatalf("RegisterBroker after expiry: %v", err)
	}
}

func testLeases(t *testing.T, open func(t *testing.T) meta.Catalog) {
	ctx := t.Context()
	c := open(t)
	id := NewTopicID(t)
	p0 := meta.LeaseKey{Kind: meta.LeasePartition, TopicID: id, Partition: 0}
	p1 := meta.LeaseKey{Kind: meta.LeasePartition, TopicID: id, Partition: 1}
	shard := meta.LeaseKey{Kind: meta.LeaseGroupShard, Partition: 7}
	e1, err := c.RegisterBroker(ctx, registration(1), longSession)
	if err != nil {
		t.Fatal(err)
	}
	// Broker 2's session is long until the test lets it expire: a
	// short one expired before the checks under -race on a loaded
	// machine.
	e2, err := c.RegisterBroker(ctx, registration(2), longSession)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.AcquireLease(ctx, p0, 1, e1+100); !errors.Is(err, meta.ErrSessionLost) {
		t.Fatalf("AcquireLease by a session that is not live: err = %v, want %v", err, meta.ErrSessionLost)
	}
	l, err := c.AcquireLease(ctx, p0, 1, e1)
	if err != nil || l.Holder != 1 || l.HolderEpoch != e1 || l.Epoch != 1 {
		t.Fatalf("AcquireLease(p0, 1) = %+v, %v; want held by 1 at epoch 1", l, err)
	}
	if again, err := c.AcquireLease(ctx, p0, 1, e1); err != nil || again != l {
		t.Fatalf("AcquireLease by its holder = %+v, %v; want %+v", again, err, l)
	}
	held, err := c.AcquireLease(ctx, p0, 2, e2)
	if !errors.Is(err, meta.ErrConflict) || held.Holder != 1 || held.Epoch != 1 {
		t.Fatalf("AcquireLease of a held lease = %+v, %v; want ErrConflict naming holder 1", held, err)
	}
	if _, err := c.AcquireLease(ctx, p1, 2, e2); err != nil {
		t.Fatal(err)
	}
	if _, err := c.AcquireLease(ctx, shard, 1, e1); err != nil {
		t.Fatal(err)
	}
	got, err := c.Leases(ctx)
	if err != nil || len(got) != 3 {
		t.Fatalf("Leases = %+v, %v; want 3", got, err)
	}

	// A release keeps the epoch for the next holder to raise; a release
	// at another epoch changes nothing.
	if err := c.ReleaseLease(ctx, p0, 1, 99); err != nil {
		t.Fatal(err)
	}
	if got, _ := c.Leases(ctx); len(got) != 3 {
		t.Fatalf("a release at another epoch freed the lease: %+v", got)
	}
	if err := c.ReleaseLease(ctx, p0, 1, 1); err != nil {
		t.Fatal(err)
	}
	l, err = c.AcquireLease(ctx, p0, 2, e2)
	if err != nil || l.Holder != 2 || l.Epoch != 2 {
		t.Fatalf("AcquireLease after a release = %+v, %v; want held by 2 at epoch 2", l, err)
	}

	// Broker 2's session expires: its leases are free, and taken at a
	// higher epoch; Leases no longer lists them.
	if err := c.RenewBroker(ctx, 2, e2, sessionTTL); err != nil {
		t.Fatal(err)
	}
	time.Sleep(sessionTTL + 200*time.Millisecond)
	got, err = c.Leases(ctx)
	if err != nil || len(got) != 1 || got[0].Key != shard {
		t.Fatalf("Leases after holder 2 expired = %+v, %v; want the shard only", got, err)
	}
	l, err = c.AcquireLease(ctx, p0, 1, e1)
	if err != nil || l.Holder != 1 || l.Epoch != 3 {
		t.Fatalf("AcquireLease of an expired holder's lease = %+v, %v; want held by 1 at epoch 3", l, err)
	}
	if _, err := c.AcquireLease(ctx, p1, 2, e2); !errors.Is(err, meta.ErrSessionLost) {
		t.Fatalf("AcquireLease by an expired session: err = %v, want %v", err, meta.ErrSessionLost)
	}
	// A deregistered holder frees its leases at once.
	if err := c.DeregisterBroker(ctx, 1, e1); err != nil {
		t.Fatal(err)
	}
	e3, err := c.RegisterBroker(ctx, registration(3), longSession)
	if err != nil {
		t.Fatal(err)
	}
	if l, err := c.AcquireLease(ctx, shard, 3, e3); err != nil || l.Holder != 3 || l.Epoch != 2 {
		t.Fatalf("AcquireLease of a deregistered holder's lease = %+v, %v", l, err)
	}
}

// testSharedLeaseRace: brokers on two handles race for the same leases:
// each goes to exactly one, and every lease's epoch counts its holders.
func testSharedLeaseRace(t *testing.T, a, b meta.Catalog) {
	ctx := t.Context()
	ea, err := a.RegisterBroker(ctx, registration(1), longSession)
	if err != nil {
		t.Fatal(err)
	}
	eb, err := b.RegisterBroker(ctx, registration(2), longSession)
	if err != nil {
		t.Fatal(err)
	}
	id := NewTopicID(t)
	var won [2]atomic.Int32
	parallel(2, func(i int) {
		c, node, epoch := a, int32(1), ea
		if i == 1 {
			c, node, epoch = b, 2, eb
		}
		for p := range int32(20) {
			l, err := c.AcquireLease(ctx, meta.LeaseKey{Kind: meta.LeasePartition, TopicID: id, Partition: p}, node, epoch)
			switch {
			case err == nil && l.Holder == node && l.Epoch == 1:
				won[i].Add(1)
			case errors.Is(err, meta.ErrConflict) && l.Holder != node:
			default:
				t.Errorf("node %d AcquireLease(%d) = %+v, %v", node, p, l, err)
			}
		}
	})
	if n := won[0].Load() + won[1].Load(); n != 20 {
		t.Fatalf("%d + %d leases won, want 20 in all", won[0].Load(), won[1].Load())
	}
	leases, err := b.Leases(ctx)
	if err != nil || len(leases) != 20 {
		t.Fatalf("Leases = %d, %v", len(leases), err)
	}
}

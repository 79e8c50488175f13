package metatest

import (
	"bytes"
	"errors"
	"reflect"
	"testing"

	"github.com/streamhouse/streamhouse/meta"
)

func testScramCredentials(t *testing.T, open func(t *testing.T) meta.Catalog) {
	ctx := t.Context()
	c := open(t)
	if _, ok, err := c.ScramCredential(ctx, "alice", 1); err != nil || ok {
		t.Fatalf("empty catalog: ok=%v err=%v", ok, err)
	}
	cred := func(user string, mech int8, b byte) meta.ScramCredential {
		return meta.ScramCredential{User: user, Mechanism: mech, Salt: []byte{b, 1}, StoredKey: bytes.Repeat([]byte{b}, 32),
			ServerKey: bytes.Repeat([]byte{b + 1}, 32), Iterations: 4096 + int32(b)}
	}
	if err := c.AlterScramCredentials(ctx, []meta.ScramCredential{cred("bob", 2, 1), cred("alice", 2, 2), cred("alice", 1, 3)}, nil); err != nil {
		t.Fatal(err)
	}
	got, ok, err := c.ScramCredential(ctx, "alice", 1)
	if err != nil || !ok || !equalCred(got, cred("alice", 1, 3)) {
		t.Fatalf("ScramCredential = %+v, %v, %v", got, ok, err)
	}
	// Upsert replaces; deletion in the same call; a missing deletion is
	// no error.
	if err := c.AlterScramCredentials(ctx, []meta.ScramCredential{cred("alice", 1, 9)},
		[]meta.ScramUser{{User: "bob", Mechanism: 2}, {User: "nobody", Mechanism: 1}}); err != nil {
		t.Fatal(err)
	}
	all, err := c.ScramCredentials(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []meta.ScramCredential{cred("alice", 1, 9), cred("alice", 2, 2)}
	if len(all) != len(want) {
		t.Fatalf("ScramCredentials = %+v, want %+v", all, want)
	}
	for i := range want {
		if !equalCred(all[i], want[i]) {
			t.Fatalf("ScramCredentials[%d] = %+v, want %+v", i, all[i], want[i])
		}
	}
	// A failing call changes nothing: an invalid mechanism after a valid
	// upsert.
	if err := c.AlterScramCredentials(ctx, []meta.ScramCredential{cred("carol", 1, 4), cred("carol", 0, 4)}, nil); err == nil {
		t.Log("the catalog stored mechanism 0; the broker validates before storing")
	} else if _, ok, _ := c.ScramCredential(ctx, "carol", 1); ok {
		t.Fatal("a failed AlterScramCredentials stored part of its upserts")
	}
}

func equalCred(a, b meta.ScramCredential) bool {
	return a.User == b.User && a.Mechanism == b.Mechanism && bytes.Equal(a.Salt, b.Salt) &&
		bytes.Equal(a.StoredKey, b.StoredKey) && bytes.Equal(a.ServerKey, b.ServerKey) && a.Iterations == b.Iterations
}

func testACLs(t *testing.T, open func(t *testing.T) meta.Catalog) {
	ctx := t.Context()
	c := open(t)
	if got, err := c.ACLs(ctx); err != nil || len(got) != 0 {
		t.Fatalf("empty catalog: %+v, %v", got, err)
	}
	before, err := c.LastChange(ctx)
	if err != nil {
		t.Fatal(err)
	}
	a := meta.ACL{ResourceType: 2, ResourceName: "orders", PatternType: 3, Principal: "User:alice", Host: "*", Operation: 3, Permission: 3}
	b := a
	b.Operation = 4
	d := a
	d.ResourceType, d.ResourceName, d.PatternType = 3, "app-", 4
	if err := c.CreateACLs(ctx, []meta.ACL{b, a, d, a}); err != nil {
		t.Fatal(err)
	}
	// Stored again: still one.
	if err := c.CreateACLs(ctx, []meta.ACL{a}); err != nil {
		t.Fatal(err)
	}
	got, err := c.ACLs(ctx)
	if err != nil || len(got) != 3 || got[0] != a || got[1] != b || got[2] != d {
		t.Fatalf("ACLs = %+v, %v; want %+v %+v %+v", got, err, a, b, d)
	}
	other := a
	other.Host = "10.0.0.1"
	if err := c.DeleteACLs(ctx, []meta.ACL{a, other}); err != nil {
		t.Fatal(err)
	}
	if got, err := c.ACLs(ctx); err != nil || len(got) != 2 || got[0] != b || got[1] != d {
		t.Fatalf("after delete: %+v, %v", got, err)
	}
	// Every change is in the feed, for the other brokers.
	changes, err := c.Changes(ctx, before, 100)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, ch := range changes {
		if ch.Kind == meta.ChangeACLs {
			n++
		}
	}
	if n != 3 {
		t.Fatalf("%d ACL changes in the feed after three calls: %+v", n, changes)
	}
}

func testDelegationTokens(t *testing.T, open func(t *testing.T) meta.Catalog) {
	ctx := t.Context()
	c := open(t)
	if _, ok, err := c.DelegationToken(ctx, "t1"); err != nil || ok {
		t.Fatalf("empty catalog: ok=%v err=%v", ok, err)
	}
	before, err := c.LastChange(ctx)
	if err != nil {
		t.Fatal(err)
	}
	a := meta.DelegationToken{ID: "t2", Owner: "User:alice", Requester: "User:admin", Renewers: []string{"User:bob", "User:carol"},
		IssueTime: 1000, ExpiryTime: 5000, MaxTime: 9000}
	b := meta.DelegationToken{ID: "t1", Owner: "User:bob", Requester: "User:bob", IssueTime: 2000, ExpiryTime: 3000, MaxTime: 4000}
	for _, tok := range []meta.DelegationToken{a, b} {
		if err := c.CreateDelegationToken(ctx, tok); err != nil {
			t.Fatal(err)
		}
	}
	// The same ID again: a conflict, the first kept.
	dup := b
	dup.Owner = "User:mallory"
	if err := c.CreateDelegationToken(ctx, dup); !errors.Is(err, meta.ErrConflict) {
		t.Fatalf("second token with one ID: %v, want ErrConflict", err)
	}
	got, ok, err := c.DelegationToken(ctx, "t2")
	if err != nil || !ok || !reflect.DeepEqual(got, a) {
		t.Fatalf("DelegationToken = %+v, %v, %v; want %+v", got, ok, err, a)
	}
	all, err := c.DelegationTokens(ctx)
	if err != nil || !reflect.DeepEqual(all, []meta.DelegationToken{b, a}) {
		t.Fatalf("DelegationTokens = %+v, %v", all, err)
	}
	// Renewed; a missing token is not brought back.
	if ok, err := c.SetDelegationTokenExpiry(ctx, "t2", 7000); err != nil || !ok {
		t.Fatalf("SetDelegationTokenExpiry = %v, %v", ok, err)
	}
	if ok, err := c.SetDelegationTokenExpiry(ctx, "nope", 7000); err != nil || ok {
		t.Fatalf("SetDelegationTokenExpiry of a missing token = %v, %v", ok, err)
	}
	if _, ok, _ := c.DelegationToken(ctx, "nope"); ok {
		t.Fatal("SetDelegationTokenExpiry created a token")
	}
	a.ExpiryTime = 7000
	if got, _, _ := c.DelegationToken(ctx, "t2"); !reflect.DeepEqual(got, a) {
		t.Fatalf("after renewal: %+v, want %+v", got, a)
	}
	// The sweep removes t1 (expired at 3000), keeps t2 (until 7000).
	if n, err := c.DeleteExpiredDelegationTokens(ctx, 3500); err != nil || n != 1 {
		t.Fatalf("DeleteExpiredDelegationTokens = %d, %v", n, err)
	}
	if n, err := c.DeleteExpiredDelegationTokens(ctx, 3500); err != nil || n != 0 {
		t.Fatalf("DeleteExpiredDelegationTokens again = %d, %v", n, err)
	}
	if all, err := c.DelegationTokens(ctx); err != nil || len(all) != 1 || all[0].ID != "t2" {
		t.Fatalf("after the sweep: %+v, %v", all, err)
	}
	if ok, err := c.DeleteDelegationToken(ctx, "t2"); err != nil || !ok {
		t.Fatalf("DeleteDelegationToken = %v, %v", ok, err)
	}
	if ok, err := c.DeleteDelegationToken(ctx, "t2"); err != nil || ok {
		t.Fatalf("DeleteDelegationToken again = %v, %v", ok, err)
	}
	// Every change is in the feed, keyed by the token; calls that
	// changed nothing are not.
	changes, err := c.Changes(ctx, before, 100)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, ch := range changes {
		if ch.Kind == meta.ChangeDelegationTokens {
			keys = append(keys, ch.Key)
		}
	}
	if want := []string{"t2", "t1", "t2", "", "t2"}; !reflect.DeepEqual(keys, want) {
		t.Fatalf("token changes in the feed: %q, want %q", keys, want)
	}
}

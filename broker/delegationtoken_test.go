package broker_test

import (
	"context"
	"encoding/base64"
	"errors"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/streamhouse/streamhouse/broker/brokertest"
)

const tokenSecret = "a-shared-secret-key"

var tokenUsers = map[string]string{"admin": "admin-secret", "alice": "alice-secret", "bob": "bob-secret", "carol": "carol-secret"}

// tokenSettings: a SASL_PLAINTEXT listener and a PLAINTEXT one, ACLs on,
// tokens on with secret (none when empty).
func tokenSettings(secret string, extra map[string]string) map[string]string {
	set := map[string]string{
		"listeners":               "SASL_PLAINTEXT://127.0.0.1:0,PLAINTEXT://127.0.0.1:0",
		"sasl.enabled.mechanisms": "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512",
		"authorizer.class.name":   "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
		"super.users":             "User:admin",
		"connection.failed.authentication.delay.ms": "10",
	}
	if secret != "" {
		set["delegation.token.secret.key"] = secret
	}
	for k, v := range extra {
		set[k] = v
	}
	return set
}

// login opens a raw connection authenticated with PLAIN.
func login(t *testing.T, addr, user string) *rawConn {
	t.Helper()
	c := dialRaw(t, addr)
	if r := saslPlain(t, c, "", user, tokenUsers[user]); r.ErrorCode != 0 {
		t.Fatalf("%s: %v", user, kerr.ErrorForCode(r.ErrorCode))
	}
	return c
}

// createToken asks for a token for owner ("" for the requester) with
// renewers.
func createToken(c *rawConn, owner string, maxLifetime int64, renewers ...string) *kmsg.CreateDelegationTokenResponse {
	req := at(kmsg.NewPtrCreateDelegationTokenRequest(), 3)
	if owner != "" {
		typ, name, _ := cut(owner)
		req.OwnerPrincipalType, req.OwnerPrincipalName = &typ, &name
	}
	for _, r := range renewers {
		typ, name, _ := cut(r)
		rn := kmsg.NewCreateDelegationTokenRequestRenewer()
		rn.PrincipalType, rn.PrincipalName = typ, name
		req.Renewers = append(req.Renewers, rn)
	}
	req.MaxLifetimeMillis = maxLifetime
	return c.do(req).(*kmsg.CreateDelegationTokenResponse)
}

func cut(p string) (string, string, bool) {
	for i := range p {
		if p[i] == ':' {
			return p[:i], p[i+1:], true
		}
	}
	return p, "", false
}

func renewToken(c *rawConn, mac []byte, period int64) *kmsg.RenewDelegationTokenResponse {
	req := at(kmsg.NewPtrRenewDelegationTokenRequest(), 2)
	req.HMAC, req.RenewTimeMillis = mac, period
	return c.do(req).(*kmsg.RenewDelegationTokenResponse)
}

func expireToken(c *rawConn, mac []byte, period int64) *kmsg.ExpireDelegationTokenResponse {
	req := at(kmsg.NewPtrExpireDelegationTokenRequest(), 2)
	req.HMAC, req.ExpiryPeriodMillis = mac, period
	return c.do(req).(*kmsg.ExpireDelegationTokenResponse)
}

// describeTokens lists the token IDs c may see of owners (nil: all).
func describeTokens(t *testing.T, c *rawConn, owners []string) []string {
	t.Helper()
	req := at(kmsg.NewPtrDescribeDelegationTokenRequest(), 3)
	if owners != nil {
		req.Owners = []kmsg.DescribeDelegationTokenRequestOwner{}
	}
	for _, o := range owners {
		typ, name, _ := cut(o)
		ow := kmsg.NewDescribeDelegationTokenRequestOwner()
		ow.PrincipalType, ow.PrincipalName = typ, name
		req.Owners = append(req.Owners, ow)
	}
	resp := c.do(req).(*kmsg.DescribeDelegationTokenResponse)
	if resp.ErrorCode != 0 {
		t.Fatalf("describe tokens: %v", kerr.ErrorForCode(resp.ErrorCode))
	}
	ids := []string{}
	for _, d := range resp.TokenDetails {
		ids = append(ids, d.TokenID)
	}
	slices.Sort(ids)
	return ids
}

// tokenClient is a franz-go client that logs in with the token (SCRAM with
// tokenauth=true).
func tokenClient(t *testing.T, addr, id string, mac []byte, sha512 bool, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	a := scram.Auth{User: id, Pass: base64.StdEncoding.EncodeToString(mac), IsToken: true}
	m := a.AsSha256Mechanism()
	if sha512 {
		m = a.AsSha512Mechanism()
	}
	cl, err := kgo.NewClient(append(clientOpts(addr, m), opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func tokenPing(t *testing.T, addr, id string, mac []byte) error {
	t.Helper()
	cl := tokenClient(t, addr, id, mac, true)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	return cl.Ping(ctx)
}

func grant(t *testing.T, admin *rawConn, principal string, rt kmsg.ACLResourceType, name string, ops ...kmsg.ACLOperation) {
	t.Helper()
	req := at(kmsg.NewPtrCreateACLsRequest(), 3)
	for _, op := range ops {
		c := kmsg.NewCreateACLsRequestCreation()
		c.ResourceType, c.ResourceName, c.ResourcePatternType = rt, name, kmsg.ACLResourcePatternTypeLiteral
		c.Principal, c.Host, c.Operation, c.PermissionType = principal, "*", op, kmsg.ACLPermissionTypeAllow
		req.Creations = append(req.Creations, c)
	}
	for i, r := range admin.do(req).(*kmsg.CreateACLsResponse).Results {
		if r.ErrorCode != 0 {
			t.Fatalf("create acl %+v: %v", req.Creations[i], kerr.ErrorForCode(r.ErrorCode))
		}
	}
}

func TestDelegationTokens(t *testing.T) {
	t.Parallel()
	b := brokertest.New(t, brokertest.Options{ScramUsers: tokenUsers, Settings: tokenSettings(tokenSecret, map[string]string{
		"delegation.token.expiry.time.ms":  "3600000",
		"delegation.token.max.lifetime.ms": "7200000",
	})})
	addr := b.ListenerAddr("SASL_PLAINTEXT")
	admin, alice, carol := login(t, addr, "admin"), login(t, addr, "alice"), login(t, addr, "carol")
	grant(t, admin, "User:alice", kmsg.ACLResourceTypeTopic, "tok-orders", kmsg.ACLOperationWrite, kmsg.ACLOperationRead, kmsg.ACLOperationDescribe)
	grant(t, admin, "User:alice", kmsg.ACLResourceTypeGroup, "tok-group", kmsg.ACLOperationRead)
	createTopic(t, admin, "tok-orders", 1, nil)
	createTopic(t, admin, "tok-secret", 1, nil)

	// Created by alice for herself, renewable by bob.
	before := time.Now().UnixMilli()
	tok := createToken(alice, "", 0, "User:bob")
	if tok.ErrorCode != 0 {
		t.Fatalf("create: %v", kerr.ErrorForCode(tok.ErrorCode))
	}
	if tok.PrincipalType != "User" || tok.PrincipalName != "alice" || tok.TokenRequesterPrincipalName != "alice" ||
		tok.TokenID == "" || len(tok.HMAC) != 64 || tok.IssueTimestamp < before ||
		tok.ExpiryTimestamp != tok.IssueTimestamp+3600000 || tok.MaxTimestamp != tok.IssueTimestamp+7200000 {
		t.Fatalf("created token: %+v", tok)
	}

	t.Run("login produces and consumes as the owner", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
		defer cancel()
		cl := tokenClient(t, addr, tok.TokenID, tok.HMAC, false, kgo.ConsumeTopics("tok-orders"), kgo.ConsumerGroup("tok-group"),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "tok-orders", Value: []byte("by token")}).FirstErr(); err != nil {
			t.Fatalf("produce with the token: %v", err)
		}
		// alice may not write tok-secret, and neither may her token.
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "tok-secret", Value: []byte("x")}).FirstErr(); !errors.Is(err, kerr.TopicAuthorizationFailed) {
			t.Fatalf("produce to a topic the owner may not write: %v", err)
		}
		fs := cl.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatalf("consume with the token: %v", err)
		}
		if fs.NumRecords() != 1 || string(fs.Records()[0].Value) != "by token" {
			t.Fatalf("consumed %d records", fs.NumRecords())
		}
		if err := cl.CommitUncommittedOffsets(ctx); err != nil {
			t.Fatalf("commit in the owner's group: %v", err)
		}
		// A token-authenticated connection may not handle tokens.
		cr := kmsg.NewPtrCreateDelegationTokenRequest()
		resp, err := cr.RequestWith(ctx, cl)
		if err != nil || resp.ErrorCode != kerr.DelegationTokenRequestNotAllowed.Code {
			t.Fatalf("create over a token connection: %v %v", resp, err)
		}
		dr := kmsg.NewPtrDescribeDelegationTokenRequest()
		dresp, err := dr.RequestWith(ctx, cl)
		if err != nil || dresp.ErrorCode != kerr.DelegationTokenRequestNotAllowed.Code {
			t.Fatalf("describe over a token connection: %v %v", dresp, err)
		}
	})

	t.Run("wrong secrets refused", func(t *testing.T) {
		bad := slices.Clone(tok.HMAC)
		bad[0] ^= 1
		if err := tokenPing(t, addr, tok.TokenID, bad); err == nil {
			t.Fatal("a wrong HMAC authenticated")
		}
		if err := tokenPing(t, addr, "no-such-token", tok.HMAC); err == nil {
			t.Fatal("an unknown token id authenticated")
		}
		// The token is no password, the password no token.
		pw := scram.Auth{User: tok.TokenID, Pass: base64.StdEncoding.EncodeToString(tok.HMAC)}.AsSha512Mechanism()
		cl, err := kgo.NewClient(clientOpts(addr, pw)...)
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		if err := cl.Ping(t.Context()); err == nil {
			t.Fatal("the token authenticated without tokenauth")
		}
		asToken := scram.Auth{User: "alice", Pass: "alice-secret", IsToken: true}.AsSha512Mechanism()
		cl2, err := kgo.NewClient(clientOpts(addr, asToken)...)
		if err != nil {
			t.Fatal(err)
		}
		defer cl2.Close()
		if err := cl2.Ping(t.Context()); err == nil {
			t.Fatal("a password authenticated as a token")
		}
	})

	t.Run("create for another owner (KIP-373)", func(t *testing.T) {
		if r := createToken(carol, "User:alice", 0); r.ErrorCode != kerr.DelegationTokenAuthorizationFailed.Code {
			t.Fatalf("carol for alice without CREATE_TOKENS: %v", kerr.ErrorForCode(r.ErrorCode))
		}
		if r := createToken(carol, "Group:alice", 0); r.ErrorCode != kerr.InvalidPrincipalType.Code {
			t.Fatalf("owner of type Group: %v", kerr.ErrorForCode(r.ErrorCode))
		}
		if r := createToken(carol, "", 0, "Group:ops"); r.ErrorCode != kerr.InvalidPrincipalType.Code {
			t.Fatalf("renewer of type Group: %v", kerr.ErrorForCode(r.ErrorCode))
		}
		grant(t, admin, "User:carol", kmsg.ACLResourceTypeUser, "User:alice", kmsg.ACLOperationCreateTokens)
		r := createToken(carol, "User:alice", 60000)
		if r.ErrorCode != 0 || r.PrincipalName != "alice" || r.TokenRequesterPrincipalName != "carol" || r.MaxTimestamp != r.IssueTimestamp+60000 {
			t.Fatalf("carol for alice with CREATE_TOKENS: %+v", r)
		}
		// alice may see it as its owner, carol as its requester.
		for _, c := range []*rawConn{alice, carol} {
			if ids := describeTokens(t, c, nil); !slices.Contains(ids, r.TokenID) {
				t.Fatalf("token for alice requested by carol not described: %v", ids)
			}
		}
		if err := tokenPing(t, addr, r.TokenID, r.HMAC); err != nil {
			t.Fatalf("login with carol's token for alice: %v", err)
		}
		if e := expireToken(admin, r.HMAC, -1); e.ErrorCode != kerr.DelegationTokenOwnerMismatch.Code {
			t.Fatalf("admin expiring another's token: %v", kerr.ErrorForCode(e.ErrorCode))
		}
		if e := expireToken(carol, r.HMAC, -1); e.ErrorCode != 0 {
			t.Fatalf("the requester expiring the token: %v", kerr.ErrorForCode(e.ErrorCode))
		}
	})

	t.Run("describe filtered by owner and permissions", func(t *testing.T) {
		bob := login(t, addr, "bob")
		own := createToken(bob, "", 0)
		if own.ErrorCode != 0 {
			t.Fatal(kerr.ErrorForCode(own.ErrorCode))
		}
		want := []string{tok.TokenID, own.TokenID}
		slices.Sort(want)
		if ids := describeTokens(t, admin, nil); !slices.Equal(ids, want) {
			t.Fatalf("admin (super user) sees %v, want %v", ids, want)
		}
		if ids := describeTokens(t, alice, nil); !slices.Equal(ids, []string{tok.TokenID}) {
			t.Fatalf("alice sees %v", ids)
		}
		// bob renews alice's token: he sees it.
		if ids := describeTokens(t, bob, nil); !slices.Equal(ids, want) {
			t.Fatalf("bob sees %v, want %v", ids, want)
		}
		if ids := describeTokens(t, bob, []string{"User:bob"}); !slices.Equal(ids, want) {
			t.Fatalf("bob's and the ones he renews: %v", ids)
		}
		if ids := describeTokens(t, admin, []string{"User:alice"}); !slices.Equal(ids, []string{tok.TokenID}) {
			t.Fatalf("admin, owner alice: %v", ids)
		}
		if ids := describeTokens(t, admin, []string{}); len(ids) != 0 {
			t.Fatalf("no owners asked: %v", ids)
		}
		if ids := describeTokens(t, carol, nil); len(ids) != 0 {
			t.Fatalf("carol sees %v", ids)
		}
		grant(t, admin, "User:carol", kmsg.ACLResourceTypeUser, "User:bob", kmsg.ACLOperationDescribeTokens)
		if ids := describeTokens(t, carol, nil); !slices.Equal(ids, []string{own.TokenID}) {
			t.Fatalf("carol with DESCRIBE_TOKENS on User:bob sees %v", ids)
		}
		grant(t, admin, "User:carol", kmsg.ACLResourceTypeDelegationToken, tok.TokenID, kmsg.ACLOperationDescribe)
		if ids := describeTokens(t, carol, nil); !slices.Equal(ids, want) {
			t.Fatalf("carol with DESCRIBE on alice's token sees %v", ids)
		}
		expireToken(bob, own.HMAC, -1)
	})

	t.Run("renew", func(t *testing.T) {
		bob := login(t, addr, "bob")
		now := time.Now().UnixMilli()
		r := renewToken(bob, tok.HMAC, 60000)
		if r.ErrorCode != 0 || r.ExpiryTimestamp < now+60000 || r.ExpiryTimestamp > time.Now().UnixMilli()+60000 {
			t.Fatalf("renew by a renewer: %+v", r)
		}
		// Bounded by the max lifetime.
		if r := renewToken(alice, tok.HMAC, 1<<40); r.ErrorCode != 0 || r.ExpiryTimestamp != tok.MaxTimestamp {
			t.Fatalf("renew past the max lifetime: %+v, max %d", r, tok.MaxTimestamp)
		}
		if r := renewToken(carol, tok.HMAC, 1000); r.ErrorCode != kerr.DelegationTokenOwnerMismatch.Code {
			t.Fatalf("renew by a stranger: %v", kerr.ErrorForCode(r.ErrorCode))
		}
		if r := renewToken(alice, []byte("not a token"), 1000); r.ErrorCode != kerr.DelegationTokenNotFound.Code {
			t.Fatalf("renew of an unknown HMAC: %v", kerr.ErrorForCode(r.ErrorCode))
		}
		if ids := describeTokens(t, alice, nil); len(ids) != 1 {
			t.Fatalf("after renewals: %v", ids)
		}
	})

	t.Run("refused on a PLAINTEXT listener", func(t *testing.T) {
		c := dialRaw(t, b.ListenerAddr("PLAINTEXT"))
		if r := createToken(c, "", 0); r.ErrorCode != kerr.DelegationTokenRequestNotAllowed.Code {
			t.Fatalf("create over PLAINTEXT: %v", kerr.ErrorForCode(r.ErrorCode))
		}
		if r := renewToken(c, tok.HMAC, 1000); r.ErrorCode != kerr.DelegationTokenRequestNotAllowed.Code {
			t.Fatalf("renew over PLAINTEXT: %v", kerr.ErrorForCode(r.ErrorCode))
		}
	})

	t.Run("survives a restart", func(t *testing.T) {
		b.Restart()
		addr := b.ListenerAddr("SASL_PLAINTEXT")
		if err := tokenPing(t, addr, tok.TokenID, tok.HMAC); err != nil {
			t.Fatalf("login after a restart: %v", err)
		}
	})

	t.Run("expire", func(t *testing.T) {
		addr := b.ListenerAddr("SASL_PLAINTEXT")
		alice := login(t, addr, "alice")
		// Expiry moved to 1 ms from now: refused at login, and at renewal.
		if r := expireToken(alice, tok.HMAC, 1); r.ErrorCode != 0 {
			t.Fatalf("expire in 1 ms: %v", kerr.ErrorForCode(r.ErrorCode))
		}
		time.Sleep(20 * time.Millisecond)
		if err := tokenPing(t, addr, tok.TokenID, tok.HMAC); err == nil {
			t.Fatal("an expired token authenticated")
		}
		if r := renewToken(alice, tok.HMAC, 1000); r.ErrorCode != kerr.DelegationTokenExpired.Code {
			t.Fatalf("renew of an expired token: %v", kerr.ErrorForCode(r.ErrorCode))
		}
		// At once (-1): removed.
		fresh := createToken(alice, "", 0)
		if err := tokenPing(t, addr, fresh.TokenID, fresh.HMAC); err != nil {
			t.Fatalf("login with a fresh token: %v", err)
		}
		if r := expireToken(alice, fresh.HMAC, -1); r.ErrorCode != 0 {
			t.Fatalf("expire at once: %v", kerr.ErrorForCode(r.ErrorCode))
		}
		if err := tokenPing(t, addr, fresh.TokenID, fresh.HMAC); err == nil {
			t.Fatal("a token expired at once authenticated")
		}
		if r := renewToken(alice, fresh.HMAC, 1000); r.ErrorCode != kerr.DelegationTokenNotFound.Code {
			t.Fatalf("renew of a removed token: %v", kerr.ErrorForCode(r.ErrorCode))
		}
	})
}

// TestDelegationTokenSweep: expired tokens leave the catalog at the next
// check (delegation.token.expiry.check.interval.ms).
func TestDelegationTokenSweep(t *testing.T) {
	t.Parallel()
	b := brokertest.New(t, brokertest.Options{ScramUsers: tokenUsers, Settings: tokenSettings(tokenSecret, map[string]string{
		"delegation.token.expiry.check.interval.ms": "100",
	})})
	alice := login(t, b.ListenerAddr("SASL_PLAINTEXT"), "alice")
	tok := createToken(alice, "", 0)
	keep := createToken(alice, "", 0)
	if r := expireToken(alice, tok.HMAC, 1); r.ErrorCode != 0 {
		t.Fatal(kerr.ErrorForCode(r.ErrorCode))
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		ids := describeTokens(t, alice, nil)
		if slices.Equal(ids, []string{keep.TokenID}) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 5 s: %v; want only %s", ids, keep.TokenID)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestDelegationTokensDisabled: without delegation.token.secret.key.
func TestDelegationTokensDisabled(t *testing.T) {
	t.Parallel()
	b := brokertest.New(t, brokertest.Options{ScramUsers: tokenUsers, Settings: tokenSettings("", nil)})
	addr := b.ListenerAddr("SASL_PLAINTEXT")
	alice := login(t, addr, "alice")
	if r := createToken(alice, "", 0); r.ErrorCode != kerr.DelegationTokenAuthDisabled.Code || r.TokenID != "" || len(r.HMAC) != 0 {
		t.Fatalf("create without a secret key: %+v", r)
	}
	if r := renewToken(alice, []byte("x"), 0); r.ErrorCode != kerr.DelegationTokenAuthDisabled.Code {
		t.Fatalf("renew: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	if r := expireToken(alice, []byte("x"), 0); r.ErrorCode != kerr.DelegationTokenAuthDisabled.Code {
		t.Fatalf("expire: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	req := at(kmsg.NewPtrDescribeDelegationTokenRequest(), 3)
	if r := alice.do(req).(*kmsg.DescribeDelegationTokenResponse); r.ErrorCode != kerr.DelegationTokenAuthDisabled.Code {
		t.Fatalf("describe: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	// A token made with some key authenticates nobody here.
	if err := tokenPing(t, addr, "some-id", []byte("some-hmac")); err == nil {
		t.Fatal("tokenauth authenticated on a broker without tokens")
	}
}

// TestDelegationTokenAcrossBrokers: two brokers sharing a catalog (and the
// key) see each other's tokens at once: created on one, used on the other;
// expired on one, refused on the other.
func TestDelegationTokenAcrossBrokers(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "shared.db")
	settings := func(node string) map[string]string {
		return tokenSettings(tokenSecret, map[string]string{"node.id": node, "listeners": "SASL_PLAINTEXT://127.0.0.1:0"})
	}
	a := brokertest.New(t, brokertest.Options{CatalogPath: path, Settings: settings("1"), ScramUsers: tokenUsers})
	b := brokertest.New(t, brokertest.Options{CatalogPath: path, Settings: settings("2")})
	alice := login(t, a.ListenerAddr("SASL_PLAINTEXT"), "alice")
	tok := createToken(alice, "", 0)
	if tok.ErrorCode != 0 {
		t.Fatal(kerr.ErrorForCode(tok.ErrorCode))
	}
	if err := tokenPing(t, b.ListenerAddr("SASL_PLAINTEXT"), tok.TokenID, tok.HMAC); err != nil {
		t.Fatalf("broker 2, token created through broker 1: %v", err)
	}
	if r := expireToken(alice, tok.HMAC, -1); r.ErrorCode != 0 {
		t.Fatal(kerr.ErrorForCode(r.ErrorCode))
	}
	if err := tokenPing(t, b.ListenerAddr("SASL_PLAINTEXT"), tok.TokenID, tok.HMAC); err == nil {
		t.Fatal("broker 2 took a token expired through broker 1")
	}
}

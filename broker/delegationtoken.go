package broker

// Delegation tokens (KIP-48, KIP-373): CreateDelegationToken v1-v3,
// RenewDelegationToken v1-v2, ExpireDelegationToken v1-v2 and
// DescribeDelegationToken v1-v3, the versions Kafka 4 serves (v0 was
// removed by KIP-896), and SCRAM authentication with a token.
//
// A token is a random ID and its HMAC: HMAC-SHA512 of the ID keyed with
// delegation.token.secret.key (or its deprecated alias
// delegation.token.master.key), which every broker of a cluster must share.
// Without a key tokens are disabled: the four APIs answer
// DELEGATION_TOKEN_AUTH_DISABLED and SCRAM's tokenauth extension fails. The
// catalog keeps the ID, the owner, the requester, the renewers and the
// times, never the HMAC: each broker derives it, and the SCRAM credential
// of its base64 (the token's password), again. Tokens are read from the
// catalog at each use, so that a token created, renewed or expired through
// one broker is seen by every other at its next authentication or request;
// the change is also recorded in the feed (ChangeDelegationTokens), on which
// brokers drop the credentials they derived for it.
//
// As Kafka's KafkaApis and DelegationTokenManager:
//   - Tokens are created, renewed, expired and described only by
//     connections that authenticated otherwise than with a token, over SASL
//     or with a client certificate: a PLAINTEXT connection, a TLS one
//     without a client certificate and a token-authenticated one get
//     DELEGATION_TOKEN_REQUEST_NOT_ALLOWED.
//   - Create: the owner is the requester unless the request names another
//     (v3, KIP-373), which needs CREATE_TOKENS on USER:<owner principal>
//     (else DELEGATION_TOKEN_AUTHORIZATION_FAILED); owner and renewers must
//     be User principals (INVALID_PRINCIPAL_TYPE). The token lives until
//     now + delegation.token.expiry.time.ms unless renewed, and never past
//     now + the smaller of the requested max lifetime and
//     delegation.token.max.lifetime.ms.
//   - Renew and Expire name the token by its HMAC (DELEGATION_TOKEN_NOT_FOUND);
//     only its owner, its requester and its renewers may
//     (DELEGATION_TOKEN_OWNER_MISMATCH); an expired token is
//     DELEGATION_TOKEN_EXPIRED. Renew moves the expiry to now + the period
//     (delegation.token.expiry.time.ms for a negative one), bounded by the
//     max time; Expire moves it to now + the period, bounded likewise, and a
//     negative period removes the token at once.
//   - Describe lists the tokens of the owners asked (all when null, none
//     when empty) that the requester owns, requested or renews, or may
//     DESCRIBE (DELEGATION_TOKEN:<id>) or DESCRIBE_TOKENS of
//     (USER:<owner principal>).
//
// A token that expired is refused at authentication, and a session
// authenticated with one ends at the token's expiry (Kafka's
// CREDENTIAL_LIFETIME_MS; the client re-authenticates, KIP-368). Expired
// tokens are removed from the catalog every
// delegation.token.expiry.check.interval.ms.

import (
	"context"
	"crypto/hmac"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/streamhouse/streamhouse/auth"
	"github.com/streamhouse/streamhouse/meta"
)

// tokenCreds caches the SCRAM credentials derived for tokens: a pure
// function of the secret key, the token ID and the mechanism (4096
// PBKDF2 rounds each), dropped when the token changes or goes.
type tokenCreds struct {
	mu sync.Mutex
	m  map[tokenCredKey]auth.Credential
}

type tokenCredKey struct {
	id   string
	mech auth.Mechanism
}

// maxTokenCreds bounds the cache; past it, it starts again empty.
const maxTokenCreds = 4096

func (tc *tokenCreds) get(key string, id string, m auth.Mechanism) (auth.Credential, error) {
	k := tokenCredKey{id, m}
	tc.mu.Lock()
	c, ok := tc.m[k]
	tc.mu.Unlock()
	if ok {
		return c, nil
	}
	c, err := auth.TokenCredential(m, key, id)
	if err != nil {
		return c, err
	}
	tc.mu.Lock()
	if tc.m == nil || len(tc.m) >= maxTokenCreds {
		tc.m = make(map[tokenCredKey]auth.Credential)
	}
	tc.m[k] = c
	tc.mu.Unlock()
	return c, nil
}

// forget drops a token's credentials; id "" drops every token's.
func (tc *tokenCreds) forget(id string) {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	if id == "" {
		tc.m = nil
		return
	}
	for k := range tc.m {
		if k.id == id {
			delete(tc.m, k)
		}
	}
}

// tokenKey is delegation.token.secret.key; empty: tokens are disabled.
func (s *Server) tokenKey() string { return s.settings().DelegationTokenSecretKey() }

// tokenLookup finds a token for SCRAM authentication: refused when it is
// missing or expired.
func (s *Server) tokenLookup(ctx context.Context, id string, m auth.Mechanism) (auth.Token, bool, error) {
	key := s.tokenKey()
	if key == "" {
		return auth.Token{}, false, nil
	}
	t, ok, err := s.cfg.Catalog.DelegationToken(ctx, id)
	if err != nil || !ok {
		return auth.Token{}, false, err
	}
	if tokenExpired(t, s.now().UnixMilli()) {
		return auth.Token{}, false, nil
	}
	_, owner, err := auth.ParsePrincipal(t.Owner)
	if err != nil || !strings.HasPrefix(t.Owner, "User:") {
		return auth.Token{}, false, nil
	}
	cred, err := s.tokenCreds.get(key, id, m)
	if err != nil {
		return auth.Token{}, false, err
	}
	return auth.Token{Credential: cred, Owner: owner, Expiry: time.UnixMilli(t.ExpiryTime)}, true, nil
}

func tokenExpired(t meta.DelegationToken, now int64) bool {
	return t.ExpiryTime < now || t.MaxTime < now
}

// allowTokenRequests is Kafka's rule for who may create, renew, expire and
// describe tokens: not a token-authenticated connection, nor one nobody
// authenticated (PLAINTEXT, or TLS without a client certificate).
func (c *conn) allowTokenRequests() bool {
	switch {
	case c.sasl.token:
		return false
	case c.li.Protocol == "PLAINTEXT":
		return false
	case c.li.Protocol == "SSL" && c.principal == anonymous:
		return false
	}
	return true
}

// ownerOrRenewer is Kafka's TokenInformation.ownerOrRenewer.
func ownerOrRenewer(t meta.DelegationToken, principal string) bool {
	if t.Owner == principal || t.Requester == principal {
		return true
	}
	for _, r := range t.Renewers {
		if r == principal {
			return true
		}
	}
	return false
}

// tokenAuthorize decides op on a resource for the request's principal: always
// allowed without an authorizer. quiet decides without logging a denial.
func (s *Server) tokenAuthorize(r *request, quiet bool, op auth.Operation, rt auth.ResourceType, name string) bool {
	if s.cfg.Authorizer == nil {
		return true
	}
	z := &authz{s: s, a: s.cfg.Authorizer, principal: r.conn.principal, host: r.conn.ip, api: kmsg.NameForKey(r.header.Key)}
	if quiet {
		return z.quiet(op, rt, name)
	}
	return z.can(op, rt, name)
}

func splitPrincipal(p string) (typ, name string) {
	typ, name, _ = strings.Cut(p, ":")
	return typ, name
}

func (s *Server) handleCreateDelegationToken(ctx context.Context, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.CreateDelegationTokenRequest)
	resp := req.ResponseKind().(*kmsg.CreateDelegationTokenResponse)
	c := r.conn
	requester := c.principal
	owner := requester
	ownerType := "User"
	if req.OwnerPrincipalName != nil && *req.OwnerPrincipalName != "" {
		if req.OwnerPrincipalType != nil {
			ownerType = *req.OwnerPrincipalType
		}
		owner = ownerType + ":" + *req.OwnerPrincipalName
	}
	resp.PrincipalType, resp.PrincipalName = splitPrincipal(owner)
	resp.TokenRequesterPrincipalType, resp.TokenRequesterPrincipalName = splitPrincipal(requester)
	resp.IssueTimestamp, resp.ExpiryTimestamp, resp.MaxTimestamp = -1, -1, -1
	fail := func(e *kerr.Error) (kmsg.Response, error) {
		resp.ErrorCode = e.Code
		r.failed = true
		return resp, nil
	}
	if !c.allowTokenRequests() {
		return fail(kerr.DelegationTokenRequestNotAllowed)
	}
	if ownerType != "User" {
		return fail(kerr.InvalidPrincipalType)
	}
	if owner != requester && !s.tokenAuthorize(r, false, auth.OpCreateTokens, auth.ResourceUser, owner) {
		return fail(kerr.DelegationTokenAuthorizationFailed)
	}
	renewers := make([]string, 0, len(req.Renewers))
	for _, rn := range req.Renewers {
		if rn.PrincipalType != "User" {
			return fail(kerr.InvalidPrincipalType)
		}
		renewers = append(renewers, rn.PrincipalType+":"+rn.PrincipalName)
	}
	key := s.tokenKey()
	if key == "" {
		return fail(kerr.DelegationTokenAuthDisabled)
	}
	st := s.settings()
	now := s.now().UnixMilli()
	life := st.DelegationTokenMaxLifetimeMs()
	if req.MaxLifetimeMillis > 0 {
		life = min(life, req.MaxLifetimeMillis)
	}
	t := meta.DelegationToken{ID: auth.NewTokenID(), Owner: owner, Requester: requester, Renewers: renewers,
		IssueTime: now, MaxTime: now + life}
	t.ExpiryTime = min(t.MaxTime, now+st.DelegationTokenExpiryTimeMs())
	if err := s.cfg.Catalog.CreateDelegationToken(ctx, t); err != nil {
		s.log.Error("create delegation token", "err", err)
		resp.ErrorCode = errorCode(err)
		r.failed = true
		return resp, nil
	}
	s.log.Info("delegation token created", "token_id", t.ID, "owner", owner, "requester", requester,
		"expiry", time.UnixMilli(t.ExpiryTime).UTC(), "max", time.UnixMilli(t.MaxTime).UTC())
	resp.IssueTimestamp, resp.ExpiryTimestamp, resp.MaxTimestamp = t.IssueTime, t.ExpiryTime, t.MaxTime
	resp.TokenID, resp.HMAC = t.ID, auth.TokenHMAC(key, t.ID)
	return resp, nil
}

// tokenByHMAC finds the token whose HMAC is mac: each token's HMAC derived
// again and compared in constant time.
func (s *Server) tokenByHMAC(ctx context.Context, key string, mac []byte) (meta.DelegationToken, bool, error) {
	all, err := s.cfg.Catalog.DelegationTokens(ctx)
	if err != nil {
		return meta.DelegationToken{}, false, err
	}
	var found meta.DelegationToken
	ok := false
	for _, t := range all {
		if hmac.Equal(auth.TokenHMAC(key, t.ID), mac) {
			found, ok = t, true
		}
	}
	return found, ok, nil
}

// changeTokenExpiry is Renew and Expire: period < 0 renews by
// delegation.token.expiry.time.ms (renew) or removes the token (expire).
// It returns the error code and the new expiry timestamp.
func (s *Server) changeTokenExpiry(ctx context.Context, r *request, mac []byte, period int64, renew bool) (int16, int64) {
	if !r.conn.allowTokenRequests() {
		return kerr.DelegationTokenRequestNotAllowed.Code, -1
	}
	key := s.tokenKey()
	if key == "" {
		return kerr.DelegationTokenAuthDisabled.Code, -1
	}
	t, ok, err := s.tokenByHMAC(ctx, key, mac)
	if err != nil {
		s.log.Error("read delegation tokens", "err", err)
		return errorCode(err), -1
	}
	if !ok {
		return kerr.DelegationTokenNotFound.Code, -1
	}
	principal := r.conn.principal
	if !ownerOrRenewer(t, principal) {
		return kerr.DelegationTokenOwnerMismatch.Code, -1
	}
	now := s.now().UnixMilli()
	if !renew && period < 0 {
		if _, err := s.cfg.Catalog.DeleteDelegationToken(ctx, t.ID); err != nil {
			s.log.Error("expire delegation token", "token_id", t.ID, "err", err)
			return errorCode(err), -1
		}
		s.tokenCreds.forget(t.ID)
		s.log.Info("delegation token expired", "token_id", t.ID, "principal", principal)
		return 0, now
	}
	if tokenExpired(t, now) {
		return kerr.DelegationTokenExpired.Code, -1
	}
	if renew && period < 0 {
		period = s.settings().DelegationTokenExpiryTimeMs()
	}
	expiry := min(t.MaxTime, now+period)
	ok, err = s.cfg.Catalog.SetDelegationTokenExpiry(ctx, t.ID, expiry)
	switch {
	case err != nil:
		s.log.Error("change delegation token expiry", "token_id", t.ID, "err", err)
		return errorCode(err), -1
	case !ok: // removed meanwhile
		return kerr.DelegationTokenNotFound.Code, -1
	}
	s.log.Info("delegation token expiry changed", "token_id", t.ID, "principal", principal, "renew", renew,
		"expiry", time.UnixMilli(expiry).UTC())
	return 0, expiry
}

func (s *Server) handleRenewDelegationToken(ctx context.Context, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.RenewDelegationTokenRequest)
	resp := req.ResponseKind().(*kmsg.RenewDelegationTokenResponse)
	resp.ErrorCode, resp.ExpiryTimestamp = s.changeTokenExpiry(ctx, r, req.HMAC, req.RenewTimeMillis, true)
	r.failed = resp.ErrorCode != 0
	return resp, nil
}

func (s *Server) handleExpireDelegationToken(ctx context.Context, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.ExpireDelegationTokenRequest)
	resp := req.ResponseKind().(*kmsg.ExpireDelegationTokenResponse)
	resp.ErrorCode, resp.ExpiryTimestamp = s.changeTokenExpiry(ctx, r, req.HMAC, req.ExpiryPeriodMillis, false)
	r.failed = resp.ErrorCode != 0
	return resp, nil
}

func (s *Server) handleDescribeDelegationToken(ctx context.Context, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.DescribeDelegationTokenRequest)
	resp := req.ResponseKind().(*kmsg.DescribeDelegationTokenResponse)
	if !r.conn.allowTokenRequests() {
		resp.ErrorCode = kerr.DelegationTokenRequestNotAllowed.Code
		r.failed = true
		return resp, nil
	}
	key := s.tokenKey()
	if key == "" {
		resp.ErrorCode = kerr.DelegationTokenAuthDisabled.Code
		r.failed = true
		return resp, nil
	}
	if req.Owners != nil && len(req.Owners) == 0 {
		return resp, nil
	}
	all, err := s.cfg.Catalog.DelegationTokens(ctx)
	if err != nil {
		s.log.Error("read delegation tokens", "err", err)
		resp.ErrorCode = errorCode(err)
		r.failed = true
		return resp, nil
	}
	principal := r.conn.principal
	for _, t := range all {
		if req.Owners != nil {
			asked := false
			for _, o := range req.Owners {
				if ownerOrRenewer(t, o.PrincipalType+":"+o.PrincipalName) {
					asked = true
					break
				}
			}
			if !asked {
				continue
			}
		}
		if !ownerOrRenewer(t, principal) &&
			!s.tokenAuthorize(r, true, auth.OpDescribe, auth.ResourceDelegationToken, t.ID) &&
			!s.tokenAuthorize(r, true, auth.OpDescribeTokens, auth.ResourceUser, t.Owner) {
			continue
		}
		d := kmsg.NewDescribeDelegationTokenResponseTokenDetail()
		d.PrincipalType, d.PrincipalName = splitPrincipal(t.Owner)
		d.TokenRequesterPrincipalType, d.TokenRequesterPrincipalName = splitPrincipal(t.Requester)
		d.IssueTimestamp, d.ExpiryTimestamp, d.MaxTimestamp = t.IssueTime, t.ExpiryTime, t.MaxTime
		d.TokenID, d.HMAC = t.ID, auth.TokenHMAC(key, t.ID)
		for _, rn := range t.Renewers {
			dr := kmsg.NewDescribeDelegationTokenResponseTokenDetailRenewer()
			dr.PrincipalType, dr.PrincipalName = splitPrincipal(rn)
			d.Renewers = append(d.Renewers, dr)
		}
		resp.TokenDetails = append(resp.TokenDetails, d)
	}
	return resp, nil
}

// tokenExpiryLoop removes expired tokens from the catalog every
// delegation.token.expiry.check.interval.ms, until Shutdown. Every broker
// of a cluster sweeps; a sweep that finds nothing changes nothing.
func (s *Server) tokenExpiryLoop() {
	defer s.bg.Done()
	tick := time.NewTicker(time.Duration(s.settings().DelegationTokenExpiryCheckIntervalMs()) * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-s.shutdown:
			return
		case <-tick.C:
			s.expireTokens(context.Background())
		}
	}
}

func (s *Server) expireTokens(ctx context.Context) {
	n, err := s.cfg.Catalog.DeleteExpiredDelegationTokens(ctx, s.now().UnixMilli())
	if err != nil {
		if !errors.Is(err, meta.ErrClosed) {
			s.log.Warn("remove expired delegation tokens", "err", err)
		}
		return
	}
	if n > 0 {
		s.tokenCreds.forget("")
		s.log.Info("removed expired delegation tokens", "tokens", n)
	}
}

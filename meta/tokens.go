package meta

import "context"

// DelegationToken is one of Kafka's delegation tokens (KIP-48) as the
// catalog keeps it: who it belongs to and how long it lives, never its
// HMAC. Every broker derives the HMAC (HMAC-SHA512 of the ID with
// delegation.token.secret.key, which all brokers of a cluster share), so
// that a reader of the catalog learns nothing it could authenticate with.
type DelegationToken struct {
	// ID is the token's random identifier: the SCRAM user name a client
	// authenticates with.
	ID string
	// Owner is the principal the token authenticates as ("User:alice");
	// Requester the one that created it (KIP-373: another principal may
	// create a token for an owner); Renewers the principals besides the
	// owner and the requester that may renew and expire it.
	Owner     string
	Requester string
	Renewers  []string
	// IssueTime, ExpiryTime and MaxTime are Unix milliseconds: when the
	// token was created, when it expires unless renewed, and the end of
	// its life that no renewal passes.
	IssueTime  int64
	ExpiryTime int64
	MaxTime    int64
}

// DelegationTokens stores delegation tokens (Kafka's
// CreateDelegationToken, RenewDelegationToken, ExpireDelegationToken).
// Each call that changes tokens records a ChangeDelegationTokens in the
// change feed, keyed by the token's ID ("" for a sweep of expired ones), so
// that every broker sharing the catalog learns of it.
type DelegationTokens interface {
	// CreateDelegationToken stores a new token, durably. ErrConflict
	// when a token with its ID exists.
	CreateDelegationToken(ctx context.Context, t DelegationToken) error
	// DelegationToken returns the token with id; ok is false when there
	// is none.
	DelegationToken(ctx context.Context, id string) (t DelegationToken, ok bool, err error)
	// DelegationTokens returns every token, ordered by ID (bytewise).
	DelegationTokens(ctx context.Context) ([]DelegationToken, error)
	// SetDelegationTokenExpiry sets the expiry of the token with id
	// (a renewal, or an expiry moved earlier); ok is false, and nothing
	// is stored, when there is no such token, so that a token removed
	// meanwhile is never brought back.
	SetDelegationTokenExpiry(ctx context.Context, id string, expiry int64) (ok bool, err error)
	// DeleteDelegationToken removes the token with id; ok is false when
	// there was none.
	DeleteDelegationToken(ctx context.Context, id string) (ok bool, err error)
	// DeleteExpiredDelegationTokens removes the tokens whose expiry or
	// maximum time is before now (Unix milliseconds) and returns how
	// many it removed; a change is recorded only when it removed some.
	DeleteExpiredDelegationTokens(ctx context.Context, now int64) (int, error)
}

// ChangeDelegationTokens: delegation tokens were created, renewed, expired
// or removed. Key is the token's ID, or empty when expired tokens were
// swept.
const ChangeDelegationTokens ChangeKind = "delegation-tokens"

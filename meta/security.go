package meta

import "context"

// ScramCredential is what the catalog keeps of one user's password for one
// SCRAM mechanism (RFC 5802): never the password, only the salt, the
// iteration count and the two keys derived from it.
type ScramCredential struct {
	User string
	// Mechanism is Kafka's ScramMechanism code: 1 SCRAM-SHA-256,
	// 2 SCRAM-SHA-512.
	Mechanism  int8
	Salt       []byte
	StoredKey  []byte
	ServerKey  []byte
	Iterations int32
}

// ScramUser names one user's credential for one mechanism.
type ScramUser struct {
	User      string
	Mechanism int8
}

// ScramCredentials stores SCRAM credentials (Kafka's
// AlterUserScramCredentials). PLAIN passwords are checked against the same
// rows: one user store.
type ScramCredentials interface {
	// ScramCredential returns user's credential for mechanism; ok is
	// false when there is none.
	ScramCredential(ctx context.Context, user string, mechanism int8) (c ScramCredential, ok bool, err error)
	// ScramCredentials returns every credential, ordered by user
	// (bytewise) and mechanism.
	ScramCredentials(ctx context.Context) ([]ScramCredential, error)
	// AlterScramCredentials stores upserts (each replacing the credential
	// of the same user and mechanism) and removes deletions (a missing one
	// is no error), in one transaction: all or nothing, durable when it
	// returns.
	AlterScramCredentials(ctx context.Context, upserts []ScramCredential, deletions []ScramUser) error
}

// ACL is one of Kafka's ACL bindings, with Kafka's wire codes: resource
// type (2 TOPIC, 3 GROUP, 4 CLUSTER, 5 TRANSACTIONAL_ID, 6
// DELEGATION_TOKEN, 7 USER), pattern type (3 LITERAL, 4 PREFIXED),
// operation (2 ALL ... 14 DESCRIBE_TOKENS) and permission (2 DENY,
// 3 ALLOW). The catalog stores what it is given; package auth validates.
type ACL struct {
	ResourceType int8
	ResourceName string
	PatternType  int8
	Principal    string
	Host         string
	Operation    int8
	Permission   int8
}

// ACLs stores ACL bindings (Kafka's CreateAcls and DeleteAcls). Two equal
// bindings are one: storing one again changes nothing. Each call that
// changes bindings records a ChangeACLs in the change feed, so that every
// broker sharing the catalog applies it.
type ACLs interface {
	// ACLs returns every binding, in a stable order (by resource type,
	// name, pattern type, principal, host, operation, permission).
	ACLs(ctx context.Context) ([]ACL, error)
	// CreateACLs stores acls in one transaction, durably.
	CreateACLs(ctx context.Context, acls []ACL) error
	// DeleteACLs removes the bindings equal to acls (missing ones are
	// no error) in one transaction, durably.
	DeleteACLs(ctx context.Context, acls []ACL) error
}

// ChangeACLs: ACL bindings were created or deleted (CreateACLs,
// DeleteACLs). Key is empty: a follower reads every ACL again, as a broker
// holds them in one index.
const ChangeACLs ChangeKind = "acls"

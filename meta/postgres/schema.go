package postgres

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"

	"github.com/jackc/pgx/v5"

	"github.com/streamhouse/streamhouse/meta"
)

// A migration takes the schema from version-1 to version. Migrations are
// never edited once released; a change is a new migration appended to the
// list.
type migration struct {
	version int
	name    string
	stmts   []string
}

// migrations, in order; migrations[i].version is i+1.
//
// Conventions:
//   - Text keys that meta orders bytewise (topic names, group ids,
//     transactional ids) are COLLATE "C", so that ORDER BY and the primary
//     key's order are byte order whatever the database's locale.
//   - Times are bigint Unix milliseconds, as Kafka's timestamps are.
//   - Topic ids are 16-byte bytea, the all-zero UUID refused.
//   - Rows two brokers could change carry a version (meta's conditional
//     writes); the change feed's counter is one row that every change
//     transaction updates, so that they commit in its order.
var migrations = []migration{
	{
		version: 1,
		name:    "the catalog",
		stmts: []string{
			`CREATE TABLE cluster (
				singleton  int PRIMARY KEY CHECK (singleton = 1),
				cluster_id text NOT NULL CHECK (length(cluster_id) = 22)
			)`,
			`CREATE TABLE producer_ids (
				singleton int PRIMARY KEY CHECK (singleton = 1),
				next_id   bigint NOT NULL CHECK (next_id >= 0)
			)`,
			`CREATE TABLE topics (
				name       text COLLATE "C" PRIMARY KEY CHECK (name <> ''),
				id         bytea NOT NULL UNIQUE CHECK (length(id) = 16 AND id <> '\x00000000000000000000000000000000'::bytea),
				partitions int NOT NULL CHECK (partitions >= 1),
				created_at bigint NOT NULL,
				version    bigint NOT NULL CHECK (version >= 1)
			)`,
			// Configs belong to a topic by ID: a topic deleted and
			// created again never inherits them.
			`CREATE TABLE topic_configs (
				topic_id bytea NOT NULL REFERENCES topics (id) ON DELETE CASCADE,
				name     text COLLATE "C" NOT NULL,
				value    text NOT NULL,
				PRIMARY KEY (topic_id, name)
			)`,
			// No foreign key: offsets of topics that do not exist are
			// stored (the coordinator decides); DeleteTopic deletes a
			// topic's offsets in its own transaction.
			`CREATE TABLE group_offsets (
				group_id     text COLLATE "C" NOT NULL,
				topic        text COLLATE "C" NOT NULL,
				partition    int NOT NULL,
				"offset"     bigint NOT NULL,
				leader_epoch int NOT NULL,
				metadata     text NOT NULL,
				commit_ms    bigint NOT NULL,
				PRIMARY KEY (group_id, topic, partition)
			)`,
			`CREATE INDEX group_offsets_topic ON group_offsets (topic)`,
			`CREATE TABLE transactions (
				transactional_id text COLLATE "C" PRIMARY KEY,
				state            text NOT NULL,
				version          bigint NOT NULL CHECK (version >= 1)
			)`,
			`CREATE TABLE broker_config_scopes (
				scope   text COLLATE "C" PRIMARY KEY,
				version bigint NOT NULL CHECK (version >= 1)
			)`,
			`CREATE TABLE broker_configs (
				scope text COLLATE "C" NOT NULL REFERENCES broker_config_scopes (scope),
				name  text COLLATE "C" NOT NULL,
				value text NOT NULL,
				PRIMARY KEY (scope, name)
			)`,
			`CREATE TABLE client_quotas (
				entity  text COLLATE "C" PRIMARY KEY,
				quota   text NOT NULL,
				version bigint NOT NULL CHECK (version >= 1)
			)`,
			`CREATE TABLE change_seq (
				singleton int PRIMARY KEY CHECK (singleton = 1),
				seq       bigint NOT NULL
			)`,
			`INSERT INTO change_seq (singleton, seq) VALUES (1, 0)`,
			`CREATE TABLE changes (
				seq  bigint PRIMARY KEY CHECK (seq >= 1),
				kind text NOT NULL,
				key  text NOT NULL
			)`,
			// Never a password: the salt, the iteration count and the
			// keys RFC 5802 derives from the salted password.
			`CREATE TABLE scram_credentials (
				user_name  text COLLATE "C" NOT NULL CHECK (user_name <> ''),
				mechanism  smallint NOT NULL CHECK (mechanism IN (1, 2)),
				salt       bytea NOT NULL,
				stored_key bytea NOT NULL,
				server_key bytea NOT NULL,
				iterations int NOT NULL CHECK (iterations > 0),
				PRIMARY KEY (user_name, mechanism)
			)`,
			// A binding is its whole row: equal bindings are one.
			`CREATE TABLE acls (
				resource_type smallint NOT NULL,
				resource_name text COLLATE "C" NOT NULL,
				pattern_type  smallint NOT NULL,
				principal     text COLLATE "C" NOT NULL,
				host          text COLLATE "C" NOT NULL,
				operation     smallint NOT NULL,
				permission    smallint NOT NULL,
				PRIMARY KEY (resource_type, resource_name, pattern_type, principal, host, operation, permission)
			)`,
		},
	},
	{
		version: 2,
		name:    "the claiming broker",
		stmts: []string{
			// Who holds the catalog's claim (Claim): what a second
			// broker is told. The claim itself is an advisory lock.
			`CREATE TABLE catalog_owner (
				singleton int PRIMARY KEY CHECK (singleton = 1),
				node_id   int NOT NULL,
				address   text NOT NULL,
				since     timestamptz NOT NULL
			)`,
		},
	},
	{
		version: 3,
		name:    "tiered storage's remote segments",
		stmts: []string{
			`CREATE TABLE remote_segments (
				topic_id      bytea NOT NULL CHECK (length(topic_id) = 16),
				partition     int NOT NULL,
				id            text COLLATE "C" NOT NULL,
				base_offset   bigint NOT NULL,
				end_offset    bigint NOT NULL CHECK (end_offset > base_offset),
				max_timestamp bigint NOT NULL,
				size          bigint NOT NULL,
				checksum      text NOT NULL,
				created_ms    bigint NOT NULL,
				deleting_ms   bigint,
				PRIMARY KEY (topic_id, partition, id)
			)`,
			`CREATE TABLE remote_log_starts (
				topic_id  bytea NOT NULL CHECK (length(topic_id) = 16),
				partition int NOT NULL,
				log_start bigint NOT NULL,
				PRIMARY KEY (topic_id, partition)
			)`,
		},
	},
	{
		version: 4,
		name:    "groups' membership",
		stmts: []string{
			// One row per group (meta.GroupMetadata): its state as
			// JSON, read whole at startup and written whole at each
			// change of membership.
			`CREATE TABLE group_metadata (
				group_id   text COLLATE "C" PRIMARY KEY,
				type       text NOT NULL,
				state      text NOT NULL,
				updated_ms bigint NOT NULL
			)`,
		},
	},
	{
		version: 5,
		name:    "cluster membership and leases",
		stmts: []string{
			// A broker's session: live while expires is ahead of the
			// database's clock and it has not ended. Epochs come from
			// one sequence: a node's next registration is always
			// higher than its last.
			`CREATE SEQUENCE broker_epochs`,
			`CREATE TABLE brokers (
				node_id    int PRIMARY KEY,
				epoch      bigint NOT NULL,
				rack       text NOT NULL,
				listeners  jsonb NOT NULL,
				registered timestamptz NOT NULL,
				expires    timestamptz NOT NULL,
				ended      boolean NOT NULL DEFAULT false
			)`,
			// A lease is held while its holder's session (holder,
			// holder_epoch) is live; released or not, the row keeps
			// the epoch for the next holder to raise.
			`CREATE TABLE leases (
				kind         smallint NOT NULL,
				topic_id     bytea NOT NULL CHECK (length(topic_id) = 16),
				partition    int NOT NULL,
				holder       int,
				holder_epoch bigint,
				epoch        int NOT NULL,
				PRIMARY KEY (kind, topic_id, partition)
			)`,
			`CREATE INDEX leases_holder ON leases (holder, holder_epoch)`,
		},
	},
	{
		version: 6,
		name:    "the cluster mode's WAL objects",
		stmts: []string{
			// Per partition, the end of what is committed: a commit
			// must start there.
			`CREATE TABLE wal_ends (
				topic_id   bytea NOT NULL CHECK (length(topic_id) = 16),
				partition  int NOT NULL,
				end_offset bigint NOT NULL CHECK (end_offset >= 0),
				PRIMARY KEY (topic_id, partition)
			)`,
			`CREATE TABLE wal_objects (
				key       text COLLATE "C" PRIMARY KEY,
				committed timestamptz NOT NULL
			)`,
			`CREATE TABLE wal_batches (
				topic_id      bytea NOT NULL CHECK (length(topic_id) = 16),
				partition     int NOT NULL,
				base_offset   bigint NOT NULL,
				next_offset   bigint NOT NULL CHECK (next_offset > base_offset),
				leader_epoch  int NOT NULL,
				object        text COLLATE "C" NOT NULL,
				position      bigint NOT NULL,
				size          bigint NOT NULL,
				max_timestamp bigint NOT NULL,
				PRIMARY KEY (topic_id, partition, base_offset)
			)`,
			`CREATE INDEX wal_batches_object ON wal_batches (object)`,
		},
	},
	{
		version: 7,
		name:    "share groups' partition states and groups' configs",
		stmts: []string{
			`CREATE TABLE share_states (
				group_id   text COLLATE "C" NOT NULL,
				topic_id   bytea NOT NULL CHECK (length(topic_id) = 16),
				partition  int NOT NULL,
				state      text NOT NULL,
				updated_ms bigint NOT NULL,
				PRIMARY KEY (group_id, topic_id, partition)
			)`,
			`CREATE TABLE group_configs (
				group_id text COLLATE "C" PRIMARY KEY,
				configs  text NOT NULL,
				version  bigint NOT NULL CHECK (version >= 1)
			)`,
		},
	},
	{
		version: 8,
		name:    "transactions' end markers written by partitions' leaders",
		stmts: []string{
			`CREATE TABLE txn_markers (
				transactional_id text COLLATE "C" NOT NULL,
				version          bigint NOT NULL,
				topic            text COLLATE "C" NOT NULL,
				partition        int NOT NULL,
				PRIMARY KEY (transactional_id, version, topic, partition)
			)`,
		},
	},
	{
		version: 9,
		name:    "topics' replication factor",
		stmts: []string{
			`ALTER TABLE topics ADD COLUMN replication_factor smallint NOT NULL DEFAULT 0`,
		},
	},
	{
		version: 10,
		name:    "remote segments' leader epochs",
		stmts: []string{
			// meta.RemoteSegment.LeaderEpochs as "epoch:offset,...";
			// empty for segments recorded before.
			`ALTER TABLE remote_segments ADD COLUMN leader_epochs text NOT NULL DEFAULT ''`,
		},
	},
	{
		version: 11,
		name:    "delegation tokens",
		stmts: []string{
			// Never the HMAC: brokers derive it from the ID with
			// delegation.token.secret.key.
			`CREATE TABLE delegation_tokens (
				id          text COLLATE "C" PRIMARY KEY CHECK (id <> ''),
				owner       text NOT NULL,
				requester   text NOT NULL,
				renewers    text[] NOT NULL,
				issue_time  bigint NOT NULL,
				expiry_time bigint NOT NULL,
				max_time    bigint NOT NULL
			)`,
		},
	},
}

// schemaVersion is the newest schema this binary understands.
func schemaVersion() int { return len(migrations) }

// lockKey is the advisory lock that serialises migrations of one schema: a
// hash of its name, so that catalogs in other schemas of the database (a
// test's each) migrate without waiting for each other.
func lockKey(schema string) int64 {
	h := fnv.New64a()
	h.Write([]byte("streamhouse migrate " + schema))
	return int64(h.Sum64())
}

// migrate creates the schema and its version table if missing and applies
// the pending migrations, each in a transaction of its own that holds the
// schema's advisory lock and reads the version again under it.
func (c *Catalog) migrate(ctx context.Context) error {
	for {
		done, err := c.migrateOne(ctx)
		if err != nil || done {
			return err
		}
	}
}

// migrateOne applies the next pending migration; done once there is none.
func (c *Catalog) migrateOne(ctx context.Context) (done bool, err error) {
	var applied *migration
	err = pgx.BeginFunc(ctx, c.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, lockKey(c.schema)); err != nil {
			return fmt.Errorf("lock the schema for migration: %w", err)
		}
		if _, err := tx.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS `+quoteIdent(c.schema)); err != nil {
			return fmt.Errorf("create schema %s: %w", c.schema, err)
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS streamhouse_schema (
				singleton int PRIMARY KEY CHECK (singleton = 1),
				version   int NOT NULL
			)`); err != nil {
			return fmt.Errorf("create the schema version table: %w", err)
		}
		var v int
		err := tx.QueryRow(ctx, `SELECT version FROM streamhouse_schema`).Scan(&v)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("read schema version: %w", err)
		}
		if v > schemaVersion() {
			return fmt.Errorf("catalog schema %s has version %d; this StreamHouse understands up to %d; upgrade StreamHouse: %w",
				c.schema, v, schemaVersion(), meta.ErrSchemaTooNew)
		}
		if v == schemaVersion() {
			done = true
			return nil
		}
		m := migrations[v]
		for _, stmt := range m.stmts {
			if _, err := tx.Exec(ctx, stmt); err != nil {
				return fmt.Errorf("migrate schema %s to version %d (%s): %w", c.schema, m.version, m.name, err)
			}
		}
		if _, err := tx.Exec(ctx, `INSERT INTO streamhouse_schema (singleton, version) VALUES (1, $1)
			ON CONFLICT (singleton) DO UPDATE SET version = excluded.version`, m.version); err != nil {
			return fmt.Errorf("migrate schema %s to version %d: %w", c.schema, m.version, err)
		}
		applied = &m
		return nil
	})
	if err != nil {
		return false, err
	}
	if applied != nil {
		c.log.InfoContext(ctx, "migrated catalog schema", "at", c.where, "schema", c.schema, "version", applied.version, "migration", applied.name)
	}
	return done, nil
}

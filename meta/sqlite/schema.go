package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"

	"github.com/streamhouse/streamhouse/meta"
)

// ErrNotCatalog: the file is an SQLite database, but not a StreamHouse
// catalog. Open refuses it rather than add tables to someone else's data.
var ErrNotCatalog = errors.New("sqlite: not a StreamHouse catalog")

// applicationID marks the file as a StreamHouse catalog in its header
// (PRAGMA application_id), so that `file metadata.db` can tell, and so that
// Open can refuse another application's database. "SHmc" in ASCII.
const applicationID = 0x53486d63

// A migration takes the schema from version-1 to version. Migrations are
// never edited once released: a catalog that ran one keeps its effects, so a
// change is a new migration appended to the list.
type migration struct {
	version int
	name    string
	stmts   []string
}

// migrations, in order; migrations[i].version is i+1, and the last version is
// the newest schema this binary understands.
//
// Conventions, for the tables to come as much as for these:
//   - STRICT tables, so that SQLite rejects a value of the wrong type as
//     PostgreSQL would, rather than store it.
//   - Times are INTEGER Unix milliseconds, as Kafka's timestamps are.
//   - Topic IDs are 16-byte BLOBs, with the all-zero UUID (Kafka's "no ID")
//     refused.
//   - topic_configs refers to topics by name, the key every config request
//     carries. Tables whose rows belong to an existing topic may refer to
//     topics(id), which UNIQUE makes a valid foreign-key target, so that a
//     topic deleted and recreated under the same name never inherits its
//     predecessor's state; ON DELETE CASCADE removes theirs with the topic.
//     Producer ids belong to no topic and will get their own table.
//   - group_offsets has no foreign key: meta.Offsets stores offsets of
//     topics that do not exist (the coordinator decides what may be
//     committed), and OffsetCommit names topics, not IDs. DeleteTopic
//     deletes the topic's offsets itself, in the transaction that deletes
//     the topic, so that a topic recreated under the same name still
//     starts without its predecessor's offsets.
var migrations = []migration{
	{
		version: 1,
		name:    "cluster identity, topics and topic configs",
		stmts: []string{
			fmt.Sprintf("PRAGMA application_id = %d", applicationID),
			// One row at most: the CHECK on the key keeps it so.
			// Later cluster-wide values (a controller epoch, say)
			// become columns of this row.
			`CREATE TABLE cluster (
				singleton  INTEGER PRIMARY KEY CHECK (singleton = 1),
				cluster_id TEXT NOT NULL CHECK (length(cluster_id) = 22)
			) STRICT`,
			`CREATE TABLE topics (
				name       TEXT PRIMARY KEY CHECK (name <> ''),
				id         BLOB NOT NULL UNIQUE CHECK (length(id) = 16 AND id <> zeroblob(16)),
				partitions INTEGER NOT NULL CHECK (partitions >= 1),
				created_at INTEGER NOT NULL
			) STRICT`,
			`CREATE TABLE topic_configs (
				topic TEXT NOT NULL REFERENCES topics (name) ON DELETE CASCADE,
				name  TEXT NOT NULL,
				value TEXT NOT NULL,
				PRIMARY KEY (topic, name)
			) STRICT, WITHOUT ROWID`,
		},
	},
	{
		version: 2,
		name:    "consumer groups' committed offsets",
		stmts: []string{
			// Keyed as the coordinator looks offsets up: a group's
			// offsets are one range of the primary key, in the order
			// GroupOffsets returns them, and OffsetGroups skips from
			// one group to the next along it. WITHOUT ROWID, so that
			// the row lives in the primary key's b-tree and a commit
			// writes one b-tree, not two.
			`CREATE TABLE group_offsets (
				group_id     TEXT NOT NULL,
				topic        TEXT NOT NULL,
				partition    INTEGER NOT NULL,
				offset       INTEGER NOT NULL,
				leader_epoch INTEGER NOT NULL,
				metadata     TEXT NOT NULL,
				commit_ms    INTEGER NOT NULL,
				PRIMARY KEY (group_id, topic, partition)
			) STRICT, WITHOUT ROWID`,
			// DeleteTopic removes a topic's offsets from every group.
			// A commit replaces a row without changing its topic, so
			// it leaves this index alone.
			`CREATE INDEX group_offsets_topic ON group_offsets (topic)`,
		},
	},
	{
		version: 3,
		name:    "producer id counter",
		stmts: []string{
			// The next producer id not handed out (Kafka's
			// ProducerIdManager blocks): one row.
			`CREATE TABLE producer_ids (
				singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
				next_id   INTEGER NOT NULL CHECK (next_id >= 0)
			) STRICT`,
		},
	},
	{
		version: 4,
		name:    "transactions",
		stmts: []string{
			// One row per transactional id; the state (partitions,
			// groups, pending offsets) as JSON: it is read whole at
			// startup and written whole at each change.
			`CREATE TABLE transactions (
				transactional_id TEXT NOT NULL PRIMARY KEY,
				state            TEXT NOT NULL
			) STRICT, WITHOUT ROWID`,
		},
	},
	{
		version: 5,
		name:    "dynamic broker configs",
		stmts: []string{
			// scope: '' for the cluster-wide defaults, else a node id.
			`CREATE TABLE broker_configs (
				scope TEXT NOT NULL,
				name  TEXT NOT NULL,
				value TEXT NOT NULL,
				PRIMARY KEY (scope, name)
			) STRICT, WITHOUT ROWID`,
		},
	},
	{
		version: 6,
		name:    "client quotas",
		stmts: []string{
			// entity: the entity's parts as JSON, sorted by type (the
			// key); quota: its values as JSON.
			`CREATE TABLE client_quotas (
				entity TEXT NOT NULL PRIMARY KEY,
				quota  TEXT NOT NULL
			) STRICT, WITHOUT ROWID`,
		},
	},
	{
		version: 7,
		name:    "SCRAM credentials and ACLs",
		stmts: []string{
			// Never a password: the salt, the iteration count and
			// the keys RFC 5802 derives from the salted password.
			`CREATE TABLE scram_credentials (
				user_name  TEXT NOT NULL CHECK (user_name <> ''),
				mechanism  INTEGER NOT NULL CHECK (mechanism IN (1, 2)),
				salt       BLOB NOT NULL,
				stored_key BLOB NOT NULL,
				server_key BLOB NOT NULL,
				iterations INTEGER NOT NULL CHECK (iterations > 0),
				PRIMARY KEY (user_name, mechanism)
			) STRICT, WITHOUT ROWID`,
			// A binding is its whole row: equal bindings are one.
			`CREATE TABLE acls (
				resource_type INTEGER NOT NULL,
				resource_name TEXT NOT NULL,
				pattern_type  INTEGER NOT NULL,
				principal     TEXT NOT NULL,
				host          TEXT NOT NULL,
				operation     INTEGER NOT NULL,
				permission    INTEGER NOT NULL,
				PRIMARY KEY (resource_type, resource_name, pattern_type, principal, host, operation, permission)
			) STRICT, WITHOUT ROWID`,
		},
	},
	{
		version: 8,
		name:    "row versions and the change feed",
		stmts: []string{
			// meta's conditional writes: each row that two brokers
			// could change counts its writes. Rows already stored
			// were written once as far as anyone can tell.
			`ALTER TABLE topics ADD COLUMN version INTEGER NOT NULL DEFAULT 1 CHECK (version >= 1)`,
			`ALTER TABLE client_quotas ADD COLUMN version INTEGER NOT NULL DEFAULT 1 CHECK (version >= 1)`,
			`ALTER TABLE transactions ADD COLUMN version INTEGER NOT NULL DEFAULT 1 CHECK (version >= 1)`,
			// A scope's version outlives its configs: removing them
			// all is a change like any other.
			`CREATE TABLE broker_config_scopes (
				scope   TEXT NOT NULL PRIMARY KEY,
				version INTEGER NOT NULL CHECK (version >= 1)
			) STRICT, WITHOUT ROWID`,
			`INSERT INTO broker_config_scopes (scope, version) SELECT DISTINCT scope, 1 FROM broker_configs`,
			// The change feed (meta.Changes): seq is max+1 under the
			// one writer, so the feed has no gaps and commit order is
			// seq order.
			`CREATE TABLE changes (
				seq  INTEGER PRIMARY KEY CHECK (seq >= 1),
				kind TEXT NOT NULL,
				key  TEXT NOT NULL
			) STRICT`,
		},
	},
	{
		version: 9,
		name:    "tiered storage's remote segments",
		stmts: []string{
			// One row per uploaded segment (meta.RemoteSegment), by
			// topic ID: a topic deleted and created again under its
			// name has segments of its own. deleting_ms is NULL while
			// the segment is read.
			`CREATE TABLE remote_segments (
				topic_id      BLOB NOT NULL CHECK (length(topic_id) = 16),
				partition     INTEGER NOT NULL,
				id            TEXT NOT NULL,
				base_offset   INTEGER NOT NULL,
				end_offset    INTEGER NOT NULL CHECK (end_offset > base_offset),
				max_timestamp INTEGER NOT NULL,
				size          INTEGER NOT NULL,
				checksum      TEXT NOT NULL,
				created_ms    INTEGER NOT NULL,
				deleting_ms   INTEGER,
				PRIMARY KEY (topic_id, partition, id)
			) STRICT, WITHOUT ROWID`,
			`CREATE TABLE remote_log_starts (
				topic_id  BLOB NOT NULL CHECK (length(topic_id) = 16),
				partition INTEGER NOT NULL,
				log_start INTEGER NOT NULL,
				PRIMARY KEY (topic_id, partition)
			) STRICT, WITHOUT ROWID`,
		},
	},
	{
		version: 10,
		name:    "groups' membership",
		stmts: []string{
			// One row per group (meta.GroupMetadata): its state as
			// JSON, read whole at startup and written whole at each
			// change of membership, as transactions are.
			`CREATE TABLE group_metadata (
				group_id   TEXT NOT NULL PRIMARY KEY,
				type       TEXT NOT NULL,
				state      TEXT NOT NULL,
				updated_ms INTEGER NOT NULL
			) STRICT, WITHOUT ROWID`,
		},
	},
	{
		version: 11,
		name:    "cluster membership and leases",
		stmts: []string{
			// As meta/postgres's, with this process's clock as the
			// catalog's (one writer). Epochs: one more than any so far.
			`CREATE TABLE brokers (
				node_id       INTEGER NOT NULL PRIMARY KEY,
				epoch         INTEGER NOT NULL,
				rack          TEXT NOT NULL,
				listeners     TEXT NOT NULL,
				registered_ms INTEGER NOT NULL,
				expires_ms    INTEGER NOT NULL,
				ended         INTEGER NOT NULL DEFAULT 0
			) STRICT`,
			`CREATE TABLE leases (
				kind         INTEGER NOT NULL,
				topic_id     BLOB NOT NULL CHECK (length(topic_id) = 16),
				partition    INTEGER NOT NULL,
				holder       INTEGER,
				holder_epoch INTEGER,
				epoch        INTEGER NOT NULL,
				PRIMARY KEY (kind, topic_id, partition)
			) STRICT, WITHOUT ROWID`,
		},
	},
	{
		version: 12,
		name:    "the cluster mode's WAL objects",
		stmts: []string{
			`CREATE TABLE wal_ends (
				topic_id   BLOB NOT NULL CHECK (length(topic_id) = 16),
				partition  INTEGER NOT NULL,
				end_offset INTEGER NOT NULL CHECK (end_offset >= 0),
				PRIMARY KEY (topic_id, partition)
			) STRICT, WITHOUT ROWID`,
			`CREATE TABLE wal_objects (
				key          TEXT NOT NULL PRIMARY KEY,
				committed_ms INTEGER NOT NULL
			) STRICT, WITHOUT ROWID`,
			`CREATE TABLE wal_batches (
				topic_id      BLOB NOT NULL CHECK (length(topic_id) = 16),
				partition     INTEGER NOT NULL,
				base_offset   INTEGER NOT NULL,
				next_offset   INTEGER NOT NULL CHECK (next_offset > base_offset),
				leader_epoch  INTEGER NOT NULL,
				object        TEXT NOT NULL,
				position      INTEGER NOT NULL,
				size          INTEGER NOT NULL,
				max_timestamp INTEGER NOT NULL,
				PRIMARY KEY (topic_id, partition, base_offset)
			) STRICT, WITHOUT ROWID`,
			`CREATE INDEX wal_batches_object ON wal_batches (object)`,
		},
	},
	{
		version: 13,
		name:    "share groups' partition states and groups' configs",
		stmts: []string{
			// One row per share group partition (meta.ShareState): its
			// start offset and in-flight batches as JSON, written
			// whole at each acknowledgement.
			`CREATE TABLE share_states (
				group_id   TEXT NOT NULL,
				topic_id   BLOB NOT NULL CHECK (length(topic_id) = 16),
				partition  INTEGER NOT NULL,
				state      TEXT NOT NULL,
				updated_ms INTEGER NOT NULL,
				PRIMARY KEY (group_id, topic_id, partition)
			) STRICT, WITHOUT ROWID`,
			// A group's dynamic configs (the GROUP config resource) as
			// JSON, with the version of meta's conditional writes.
			`CREATE TABLE group_configs (
				group_id TEXT NOT NULL PRIMARY KEY,
				configs  TEXT NOT NULL,
				version  INTEGER NOT NULL CHECK (version >= 1)
			) STRICT, WITHOUT ROWID`,
		},
	},
	{
		version: 14,
		name:    "transactions' end markers written by partitions' leaders",
		stmts: []string{
			// One row per partition whose leader wrote the end marker
			// of the transaction stored at version (meta.PutTxnMarkers).
			`CREATE TABLE txn_markers (
				transactional_id TEXT NOT NULL,
				version          INTEGER NOT NULL,
				topic            TEXT NOT NULL,
				partition        INTEGER NOT NULL,
				PRIMARY KEY (transactional_id, version, topic, partition)
			) STRICT, WITHOUT ROWID`,
		},
	},
	{
		version: 15,
		name:    "topics' replication factor",
		stmts: []string{
			// The factor asked at creation; 0 for topics created
			// before it was kept.
			`ALTER TABLE topics ADD COLUMN replication_factor INTEGER NOT NULL DEFAULT 0`,
		},
	},
	{
		version: 16,
		name:    "remote segments' leader epochs",
		stmts: []string{
			// meta.RemoteSegment.LeaderEpochs as "epoch:offset,...";
			// empty for segments recorded before.
			`ALTER TABLE remote_segments ADD COLUMN leader_epochs TEXT NOT NULL DEFAULT ''`,
		},
	},
	{
		version: 17,
		name:    "delegation tokens",
		stmts: []string{
			// Never the HMAC: brokers derive it from the ID with
			// delegation.token.secret.key. renewers is a JSON array
			// of principals.
			`CREATE TABLE delegation_tokens (
				id          TEXT PRIMARY KEY CHECK (id <> ''),
				owner       TEXT NOT NULL,
				requester   TEXT NOT NULL,
				renewers    TEXT NOT NULL,
				issue_time  INTEGER NOT NULL,
				expiry_time INTEGER NOT NULL,
				max_time    INTEGER NOT NULL
			) STRICT, WITHOUT ROWID`,
		},
	},
}

// schemaVersion is the newest schema this binary understands.
func schemaVersion() int { return len(migrations) }

// migrate brings the catalog in db up to schemaVersion: every pending
// migration in one transaction, so that a new catalog costs one commit (one
// fsync of the WAL) rather than one per migration, and a failure leaves the
// schema at the version it had. The transaction reads the version under the
// write lock (db begins IMMEDIATE), so a process that opens the file at the
// same time cannot apply a migration twice.
func migrate(ctx context.Context, db *sql.DB, path string, log *slog.Logger) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }() // after Commit: sql.ErrTxDone, nothing to undo

	v, err := checkHeader(ctx, tx, path)
	if err != nil || v == schemaVersion() {
		return err
	}
	pending := migrations[v:]
	for _, m := range pending {
		for _, stmt := range m.stmts {
			if _, err := tx.ExecContext(ctx, stmt); err != nil {
				return fmt.Errorf("migrate schema to version %d (%s): %w", m.version, m.name, err)
			}
		}
	}
	// PRAGMA takes no bound parameters; the version is ours.
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", schemaVersion())); err != nil {
		return fmt.Errorf("migrate schema to version %d: %w", schemaVersion(), err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migrate schema to version %d: %w", schemaVersion(), err)
	}
	for _, m := range pending {
		log.InfoContext(ctx, "migrated catalog schema", "path", path, "version", m.version, "migration", m.name)
	}
	return nil
}

// checkHeader returns the catalog's schema version after checking that the
// file is a catalog this binary can read.
func checkHeader(ctx context.Context, tx *sql.Tx, path string) (int, error) {
	var v, app int
	if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	if err := tx.QueryRowContext(ctx, "PRAGMA application_id").Scan(&app); err != nil {
		return 0, fmt.Errorf("read application id: %w", err)
	}
	switch {
	case app == applicationID:
	case app == 0 && v == 0:
		// A new file, or another application's: only an empty one
		// may become a catalog.
		var n int
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_schema").Scan(&n); err != nil {
			return 0, fmt.Errorf("read schema: %w", err)
		}
		if n > 0 {
			return 0, fmt.Errorf("%s holds %d schema objects and no StreamHouse schema: %w", path, n, ErrNotCatalog)
		}
	default:
		return 0, fmt.Errorf("%s has application id %#x, not StreamHouse's %#x: %w", path, app, applicationID, ErrNotCatalog)
	}
	if v > schemaVersion() {
		return 0, fmt.Errorf("catalog at %s has schema version %d; this StreamHouse understands up to %d; upgrade StreamHouse: %w",
			path, v, schemaVersion(), meta.ErrSchemaTooNew)
	}
	if v < 0 {
		return 0, fmt.Errorf("catalog at %s has schema version %d: %w", path, v, ErrNotCatalog)
	}
	return v, nil
}

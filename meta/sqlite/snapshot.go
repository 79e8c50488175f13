package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/streamhouse/streamhouse/meta"
)

// Export reads everything the catalog holds in one read transaction (one
// WAL snapshot).
func (c *Catalog) Export(ctx context.Context) (meta.Snapshot, error) {
	const op = "export catalog"
	if err := c.enter(ctx); err != nil {
		return meta.Snapshot{}, fmt.Errorf("%s: %w", op, err)
	}
	defer c.mu.RUnlock()
	tx, err := c.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return meta.Snapshot{}, wrap(ctx, op, err)
	}
	defer func() { _ = tx.Rollback() }() // read-only: nothing to keep
	s, err := export(ctx, tx)
	if err != nil {
		return meta.Snapshot{}, wrap(ctx, op, err)
	}
	return s, nil
}

// querier is what export reads through.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func export(ctx context.Context, q querier) (meta.Snapshot, error) {
	var s meta.Snapshot
	if err := q.QueryRowContext(ctx, `SELECT cluster_id FROM cluster`).Scan(&s.ClusterID); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return s, fmt.Errorf("cluster id: %w", err)
	}
	if err := q.QueryRowContext(ctx, `SELECT next_id FROM producer_ids`).Scan(&s.NextProducerID); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return s, fmt.Errorf("producer ids: %w", err)
	}
	var err error
	if s.Topics, err = scanTopics(ctx, q, topicQuery+` ORDER BY t.name, c.name`); err != nil {
		return s, fmt.Errorf("topics: %w", err)
	}
	if err := each(ctx, q, `SELECT group_id, topic, partition, offset, leader_epoch, metadata, commit_ms FROM group_offsets ORDER BY group_id, topic, partition`,
		func(rows *sql.Rows) error {
			var o meta.GroupOffset
			var ms int64
			if err := rows.Scan(&o.Group, &o.Topic, &o.Partition, &o.Offset, &o.LeaderEpoch, &o.Metadata, &ms); err != nil {
				return err
			}
			o.CommitTime = time.UnixMilli(ms).UTC()
			s.Offsets = append(s.Offsets, o)
			return nil
		}); err != nil {
		return s, fmt.Errorf("offsets: %w", err)
	}
	if s.Groups, err = scanGroups(ctx, q); err != nil {
		return s, fmt.Errorf("groups: %w", err)
	}
	if s.ShareStates, err = scanShareStates(ctx, q); err != nil {
		return s, fmt.Errorf("share states: %w", err)
	}
	if s.GroupConfigs, err = scanGroupConfigs(ctx, q); err != nil {
		return s, fmt.Errorf("group configs: %w", err)
	}
	if err := each(ctx, q, `SELECT transactional_id, state, version FROM transactions ORDER BY transactional_id`, func(rows *sql.Rows) error {
		var id, state string
		var version int64
		if err := rows.Scan(&id, &state, &version); err != nil {
			return err
		}
		var t meta.Transaction
		if err := json.Unmarshal([]byte(state), &t); err != nil {
			return fmt.Errorf("transaction %q: %w", id, err)
		}
		t.ID, t.Version = id, version
		s.Transactions = append(s.Transactions, t)
		return nil
	}); err != nil {
		return s, fmt.Errorf("transactions: %w", err)
	}
	s.BrokerConfigs = map[string]meta.ScopeConfigs{}
	if err := each(ctx, q, `SELECT s.scope, s.version, c.name, c.value
		FROM broker_config_scopes AS s LEFT JOIN broker_configs AS c ON c.scope = s.scope ORDER BY s.scope, c.name`, func(rows *sql.Rows) error {
		var scope string
		var version int64
		var name, value sql.NullString
		if err := rows.Scan(&scope, &version, &name, &value); err != nil {
			return err
		}
		sc, ok := s.BrokerConfigs[scope]
		if !ok {
			sc = meta.ScopeConfigs{Configs: map[string]string{}, Version: version}
			s.BrokerConfigs[scope] = sc
		}
		if name.Valid {
			sc.Configs[name.String] = value.String
		}
		return nil
	}); err != nil {
		return s, fmt.Errorf("broker configs: %w", err)
	}
	if err := each(ctx, q, `SELECT entity, quota, version FROM client_quotas ORDER BY entity`, func(rows *sql.Rows) error {
		var entity, quota string
		var cq meta.ClientQuota
		if err := rows.Scan(&entity, &quota, &cq.Version); err != nil {
			return err
		}
		if err := json.Unmarshal([]byte(entity), &cq.Entity); err != nil {
			return err
		}
		if err := json.Unmarshal([]byte(quota), &cq.Values); err != nil {
			return err
		}
		s.ClientQuotas = append(s.ClientQuotas, cq)
		return nil
	}); err != nil {
		return s, fmt.Errorf("client quotas: %w", err)
	}
	if err := each(ctx, q, `SELECT user_name, mechanism, salt, stored_key, server_key, iterations FROM scram_credentials ORDER BY user_name, mechanism`, func(rows *sql.Rows) error {
		var sc meta.ScramCredential
		if err := rows.Scan(&sc.User, &sc.Mechanism, &sc.Salt, &sc.StoredKey, &sc.ServerKey, &sc.Iterations); err != nil {
			return err
		}
		s.ScramCredentials = append(s.ScramCredentials, sc)
		return nil
	}); err != nil {
		return s, fmt.Errorf("scram credentials: %w", err)
	}
	if err := each(ctx, q, `SELECT resource_type, resource_name, pattern_type, principal, host, operation, permission
		FROM acls ORDER BY resource_type, resource_name, pattern_type, principal, host, operation, permission`, func(rows *sql.Rows) error {
		var a meta.ACL
		if err := rows.Scan(&a.ResourceType, &a.ResourceName, &a.PatternType, &a.Principal, &a.Host, &a.Operation, &a.Permission); err != nil {
			return err
		}
		s.ACLs = append(s.ACLs, a)
		return nil
	}); err != nil {
		return s, fmt.Errorf("acls: %w", err)
	}
	if err := each(ctx, q, `SELECT `+tokenColumns+` FROM delegation_tokens ORDER BY id`, func(rows *sql.Rows) error {
		t, err := scanToken(rows)
		if err != nil {
			return err
		}
		s.DelegationTokens = append(s.DelegationTokens, t)
		return nil
	}); err != nil {
		return s, fmt.Errorf("delegation tokens: %w", err)
	}
	if s.RemoteSegments, err = scanRemote(ctx, q, `SELECT `+remoteColumns+` FROM remote_segments ORDER BY topic_id, partition, base_offset, id`); err != nil {
		return s, fmt.Errorf("remote segments: %w", err)
	}
	if err := each(ctx, q, `SELECT topic_id, partition, log_start FROM remote_log_starts ORDER BY topic_id, partition`, func(rows *sql.Rows) error {
		var r meta.RemoteLogStart
		var tid []byte
		if err := rows.Scan(&tid, &r.Partition, &r.Offset); err != nil {
			return err
		}
		copy(r.TopicID[:], tid)
		s.RemoteLogStarts = append(s.RemoteLogStarts, r)
		return nil
	}); err != nil {
		return s, fmt.Errorf("remote log starts: %w", err)
	}
	return s, nil
}

// each runs query and calls f for each row.
func each(ctx context.Context, q querier, query string, f func(rows *sql.Rows) error) error {
	rows, err := q.QueryContext(ctx, query)
	if err != nil {
		return err
	}
	defer func() { _ = rows.Close() }() // read-only; Err reports what matters
	for rows.Next() {
		if err := f(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

// Import writes s into an empty catalog in one write transaction.
func (c *Catalog) Import(ctx context.Context, s meta.Snapshot) error {
	const op = "import catalog"
	if err := c.enter(ctx); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	defer c.mu.RUnlock()
	err := c.write(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT
			(SELECT count(*) FROM cluster) + (SELECT count(*) FROM producer_ids) + (SELECT count(*) FROM topics) +
			(SELECT count(*) FROM group_offsets) + (SELECT count(*) FROM transactions) +
			(SELECT count(*) FROM broker_config_scopes) + (SELECT count(*) FROM client_quotas) +
			(SELECT count(*) FROM scram_credentials) + (SELECT count(*) FROM acls) +
			(SELECT count(*) FROM remote_segments) + (SELECT count(*) FROM remote_log_starts) +
			(SELECT count(*) FROM group_metadata) + (SELECT count(*) FROM share_states) +
			(SELECT count(*) FROM group_configs) + (SELECT count(*) FROM delegation_tokens)`).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return fmt.Errorf("%d rows: %w", n, meta.ErrNotEmpty)
		}
		return c.importSnapshot(ctx, tx, s)
	})
	if err != nil {
		return wrap(ctx, op, err)
	}
	return nil
}

func (c *Catalog) importSnapshot(ctx context.Context, tx *sql.Tx, s meta.Snapshot) error {
	exec := func(what, query string, args ...any) error {
		if _, err := tx.ExecContext(ctx, query, args...); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		return nil
	}
	if s.ClusterID != "" {
		if err := exec("cluster id", `INSERT INTO cluster (singleton, cluster_id) VALUES (1, ?)`, s.ClusterID); err != nil {
			return err
		}
	}
	if s.NextProducerID > 0 {
		if err := exec("producer ids", `INSERT INTO producer_ids (singleton, next_id) VALUES (1, ?)`, s.NextProducerID); err != nil {
			return err
		}
	}
	for _, t := range s.Topics {
		if err := exec("topic "+t.Name, `INSERT INTO topics (name, id, partitions, created_at, version, replication_factor) VALUES (?, ?, ?, ?, ?, ?)`,
			t.Name, t.ID[:], t.Partitions, t.CreatedAt.UnixMilli(), max(t.Version, 1), t.ReplicationFactor); err != nil {
			return err
		}
		if err := insertConfigs(ctx, tx, t.Name, t.Configs); err != nil {
			return fmt.Errorf("topic %s: %w", t.Name, err)
		}
	}
	if err := c.upsertOffsets(ctx, tx, s.Offsets, time.Now()); err != nil {
		return fmt.Errorf("offsets: %w", err)
	}
	if err := putGroups(ctx, tx, s.Groups, time.Now()); err != nil {
		return fmt.Errorf("groups: %w", err)
	}
	if err := c.putShareStates(ctx, tx, s.ShareStates, nil, time.Now()); err != nil {
		return fmt.Errorf("share states: %w", err)
	}
	for _, g := range slices.Sorted(maps.Keys(s.GroupConfigs)) {
		sc := s.GroupConfigs[g]
		js, err := json.Marshal(sc.Configs)
		if err != nil {
			return err
		}
		if err := exec("configs of group "+g, `INSERT INTO group_configs (group_id, configs, version) VALUES (?, ?, ?)`, g, string(js), max(sc.Version, 1)); err != nil {
			return err
		}
	}
	for _, t := range s.Transactions {
		state, err := json.Marshal(t)
		if err != nil {
			return err
		}
		if err := exec("transaction "+t.ID, `INSERT INTO transactions (transactional_id, state, version) VALUES (?, ?, ?)`,
			t.ID, string(state), max(t.Version, 1)); err != nil {
			return err
		}
	}
	for _, scope := range slices.Sorted(maps.Keys(s.BrokerConfigs)) {
		sc := s.BrokerConfigs[scope]
		if err := exec("broker configs of "+scope, `INSERT INTO broker_config_scopes (scope, version) VALUES (?, ?)`, scope, max(sc.Version, 1)); err != nil {
			return err
		}
		for _, name := range slices.Sorted(maps.Keys(sc.Configs)) {
			if err := exec("broker config "+name, `INSERT INTO broker_configs (scope, name, value) VALUES (?, ?, ?)`, scope, name, sc.Configs[name]); err != nil {
				return err
			}
		}
	}
	for _, q := range s.ClientQuotas {
		key, err := quotaKey(q.Entity)
		if err != nil {
			return err
		}
		vals, err := json.Marshal(q.Values)
		if err != nil {
			return err
		}
		if err := exec("client quota "+key, `INSERT INTO client_quotas (entity, quota, version) VALUES (?, ?, ?)`, key, string(vals), max(q.Version, 1)); err != nil {
			return err
		}
	}
	for _, sc := range s.ScramCredentials {
		if err := exec("scram credential of "+sc.User, `INSERT INTO scram_credentials (user_name, mechanism, salt, stored_key, server_key, iterations) VALUES (?, ?, ?, ?, ?, ?)`,
			sc.User, sc.Mechanism, sc.Salt, sc.StoredKey, sc.ServerKey, sc.Iterations); err != nil {
			return err
		}
	}
	for _, a := range s.ACLs {
		if err := exec("acl", `INSERT INTO acls (resource_type, resource_name, pattern_type, principal, host, operation, permission) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			a.ResourceType, a.ResourceName, a.PatternType, a.Principal, a.Host, a.Operation, a.Permission); err != nil {
			return err
		}
	}
	for _, t := range s.DelegationTokens {
		renewers, err := json.Marshal(nonNil(t.Renewers))
		if err != nil {
			return err
		}
		if err := exec("delegation token "+t.ID, `INSERT INTO delegation_tokens (`+tokenColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			t.ID, t.Owner, t.Requester, string(renewers), t.IssueTime, t.ExpiryTime, t.MaxTime); err != nil {
			return err
		}
	}
	for _, r := range s.RemoteSegments {
		if err := insertRemote(ctx, tx, r, r.CreatedAt); err != nil {
			return fmt.Errorf("remote segment %s: %w", r.ID, err)
		}
	}
	for _, r := range s.RemoteLogStarts {
		if err := exec("remote log start", `INSERT INTO remote_log_starts (topic_id, partition, log_start) VALUES (?, ?, ?)`, r.TopicID[:], r.Partition, r.Offset); err != nil {
			return err
		}
	}
	return nil
}

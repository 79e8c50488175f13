package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/streamhouse/streamhouse/meta"
)

// Export reads everything the catalog holds in one REPEATABLE READ, read
// only transaction: one snapshot of every table.
func (c *Catalog) Export(ctx context.Context) (meta.Snapshot, error) {
	var s meta.Snapshot
	err := c.query(ctx, "Export", "export catalog", func(ctx context.Context) error {
		tx, err := c.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
		if err != nil {
			return err
		}
		defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
		s, err = export(ctx, tx)
		return err
	})
	return s, err
}

func export(ctx context.Context, tx pgx.Tx) (meta.Snapshot, error) {
	var s meta.Snapshot
	if err := tx.QueryRow(ctx, `SELECT cluster_id FROM cluster`).Scan(&s.ClusterID); err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return s, fmt.Errorf("cluster id: %w", err)
	}
	if err := tx.QueryRow(ctx, `SELECT next_id FROM producer_ids`).Scan(&s.NextProducerID); err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return s, fmt.Errorf("producer ids: %w", err)
	}
	var err error
	if s.Topics, err = scanTopics(ctx, tx, topicQuery+` ORDER BY t.name, c.name`); err != nil {
		return s, fmt.Errorf("topics: %w", err)
	}
	each := func(what, query string, f func(rows pgx.Rows) error) error {
		rows, err := tx.Query(ctx, query)
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		defer rows.Close()
		for rows.Next() {
			if err := f(rows); err != nil {
				return fmt.Errorf("%s: %w", what, err)
			}
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		return nil
	}
	if err := each("offsets", `SELECT group_id, topic, partition, "offset", leader_epoch, metadata, commit_ms FROM group_offsets ORDER BY group_id, topic, partition`,
		func(rows pgx.Rows) error {
			var o meta.GroupOffset
			var ms int64
			if err := rows.Scan(&o.Group, &o.Topic, &o.Partition, &o.Offset, &o.LeaderEpoch, &o.Metadata, &ms); err != nil {
				return err
			}
			o.CommitTime = time.UnixMilli(ms).UTC()
			s.Offsets = append(s.Offsets, o)
			return nil
		}); err != nil {
		return s, err
	}
	if s.Groups, err = scanGroups(ctx, tx); err != nil {
		return s, fmt.Errorf("groups: %w", err)
	}
	if s.ShareStates, err = scanShareStates(ctx, tx); err != nil {
		return s, fmt.Errorf("share states: %w", err)
	}
	if s.GroupConfigs, err = scanGroupConfigs(ctx, tx); err != nil {
		return s, fmt.Errorf("group configs: %w", err)
	}
	if err := each("transactions", `SELECT transactional_id, state, version FROM transactions ORDER BY transactional_id`, func(rows pgx.Rows) error {
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
		return s, err
	}
	s.BrokerConfigs = map[string]meta.ScopeConfigs{}
	if err := each("broker configs", `SELECT s.scope, s.version, c.name, c.value
		FROM broker_config_scopes AS s LEFT JOIN broker_configs AS c ON c.scope = s.scope ORDER BY s.scope, c.name`, func(rows pgx.Rows) error {
		var scope string
		var version int64
		var name, value *string
		if err := rows.Scan(&scope, &version, &name, &value); err != nil {
			return err
		}
		sc, ok := s.BrokerConfigs[scope]
		if !ok {
			sc = meta.ScopeConfigs{Configs: map[string]string{}, Version: version}
			s.BrokerConfigs[scope] = sc
		}
		if name != nil {
			sc.Configs[*name] = *value
		}
		return nil
	}); err != nil {
		return s, err
	}
	if err := each("client quotas", `SELECT entity, quota, version FROM client_quotas ORDER BY entity`, func(rows pgx.Rows) error {
		var entity, quota string
		var q meta.ClientQuota
		if err := rows.Scan(&entity, &quota, &q.Version); err != nil {
			return err
		}
		if err := json.Unmarshal([]byte(entity), &q.Entity); err != nil {
			return err
		}
		if err := json.Unmarshal([]byte(quota), &q.Values); err != nil {
			return err
		}
		s.ClientQuotas = append(s.ClientQuotas, q)
		return nil
	}); err != nil {
		return s, err
	}
	if err := each("scram credentials", `SELECT user_name, mechanism, salt, stored_key, server_key, iterations FROM scram_credentials ORDER BY user_name, mechanism`, func(rows pgx.Rows) error {
		var sc meta.ScramCredential
		var mech int16
		if err := rows.Scan(&sc.User, &mech, &sc.Salt, &sc.StoredKey, &sc.ServerKey, &sc.Iterations); err != nil {
			return err
		}
		sc.Mechanism = int8(mech)
		s.ScramCredentials = append(s.ScramCredentials, sc)
		return nil
	}); err != nil {
		return s, err
	}
	if err := each("acls", `SELECT resource_type, resource_name, pattern_type, principal, host, operation, permission
		FROM acls ORDER BY resource_type, resource_name, pattern_type, principal, host, operation, permission`, func(rows pgx.Rows) error {
		var a meta.ACL
		var rt, pt, op, perm int16
		if err := rows.Scan(&rt, &a.ResourceName, &pt, &a.Principal, &a.Host, &op, &perm); err != nil {
			return err
		}
		a.ResourceType, a.PatternType, a.Operation, a.Permission = int8(rt), int8(pt), int8(op), int8(perm)
		s.ACLs = append(s.ACLs, a)
		return nil
	}); err != nil {
		return s, err
	}
	if err := each("delegation tokens", `SELECT `+tokenColumns+` FROM delegation_tokens ORDER BY id`, func(rows pgx.Rows) error {
		t, err := scanToken(rows)
		if err != nil {
			return err
		}
		s.DelegationTokens = append(s.DelegationTokens, t)
		return nil
	}); err != nil {
		return s, err
	}
	if s.RemoteSegments, err = scanRemote(ctx, tx, `SELECT `+remoteColumns+` FROM remote_segments ORDER BY topic_id, partition, base_offset, id`); err != nil {
		return s, fmt.Errorf("remote segments: %w", err)
	}
	if err := each("remote log starts", `SELECT topic_id, partition, log_start FROM remote_log_starts ORDER BY topic_id, partition`, func(rows pgx.Rows) error {
		var r meta.RemoteLogStart
		var tid []byte
		if err := rows.Scan(&tid, &r.Partition, &r.Offset); err != nil {
			return err
		}
		copy(r.TopicID[:], tid)
		s.RemoteLogStarts = append(s.RemoteLogStarts, r)
		return nil
	}); err != nil {
		return s, err
	}
	return s, nil
}

// Import writes s into an empty catalog in one transaction, which first
// locks every table against concurrent writers.
func (c *Catalog) Import(ctx context.Context, s meta.Snapshot) error {
	return c.call(ctx, "Import", "import catalog", func(ctx context.Context) error {
		return c.write(ctx, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `LOCK TABLE cluster, producer_ids, topics, topic_configs, group_offsets, transactions,
				broker_config_scopes, broker_configs, client_quotas, scram_credentials, acls, remote_segments, remote_log_starts, group_metadata, share_states, group_configs, delegation_tokens IN EXCLUSIVE MODE`); err != nil {
				return err
			}
			var n int64
			if err := tx.QueryRow(ctx, `SELECT
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
			return importSnapshot(ctx, tx, s)
		})
	})
}

func importSnapshot(ctx context.Context, tx pgx.Tx, s meta.Snapshot) error {
	exec := func(what, query string, args ...any) error {
		if _, err := tx.Exec(ctx, query, args...); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		return nil
	}
	if s.ClusterID != "" {
		if err := exec("cluster id", `INSERT INTO cluster (singleton, cluster_id) VALUES (1, $1)`, s.ClusterID); err != nil {
			return err
		}
	}
	if s.NextProducerID > 0 {
		if err := exec("producer ids", `INSERT INTO producer_ids (singleton, next_id) VALUES (1, $1)`, s.NextProducerID); err != nil {
			return err
		}
	}
	for _, t := range s.Topics {
		if err := exec("topic "+t.Name, `INSERT INTO topics (name, id, partitions, created_at, version, replication_factor) VALUES ($1, $2, $3, $4, $5, $6)`,
			t.Name, t.ID[:], t.Partitions, t.CreatedAt.UnixMilli(), max(t.Version, 1), t.ReplicationFactor); err != nil {
			return err
		}
		if err := insertConfigs(ctx, tx, t.ID, t.Configs); err != nil {
			return fmt.Errorf("topic %s: %w", t.Name, err)
		}
	}
	if err := upsertOffsets(ctx, tx, s.Offsets, time.Now()); err != nil {
		return fmt.Errorf("offsets: %w", err)
	}
	if len(s.Groups) > 0 || len(s.ShareStates) > 0 {
		b := &pgx.Batch{}
		queuePutGroups(b, s.Groups, time.Now())
		queuePutShareStates(b, s.ShareStates, nil, time.Now())
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return fmt.Errorf("groups: %w", err)
		}
	}
	for _, g := range slices.Sorted(maps.Keys(s.GroupConfigs)) {
		sc := s.GroupConfigs[g]
		js, err := json.Marshal(sc.Configs)
		if err != nil {
			return err
		}
		if err := exec("configs of group "+g, `INSERT INTO group_configs (group_id, configs, version) VALUES ($1, $2, $3)`, g, string(js), max(sc.Version, 1)); err != nil {
			return err
		}
	}
	for _, t := range s.Transactions {
		state, err := json.Marshal(t)
		if err != nil {
			return err
		}
		if err := exec("transaction "+t.ID, `INSERT INTO transactions (transactional_id, state, version) VALUES ($1, $2, $3)`,
			t.ID, string(state), max(t.Version, 1)); err != nil {
			return err
		}
	}
	for _, scope := range slices.Sorted(maps.Keys(s.BrokerConfigs)) {
		sc := s.BrokerConfigs[scope]
		if err := exec("broker configs of "+scope, `INSERT INTO broker_config_scopes (scope, version) VALUES ($1, $2)`, scope, max(sc.Version, 1)); err != nil {
			return err
		}
		for _, name := range slices.Sorted(maps.Keys(sc.Configs)) {
			if err := exec("broker config "+name, `INSERT INTO broker_configs (scope, name, value) VALUES ($1, $2, $3)`, scope, name, sc.Configs[name]); err != nil {
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
		if err := exec("client quota "+key, `INSERT INTO client_quotas (entity, quota, version) VALUES ($1, $2, $3)`, key, string(vals), max(q.Version, 1)); err != nil {
			return err
		}
	}
	for _, sc := range s.ScramCredentials {
		if err := exec("scram credential of "+sc.User, `INSERT INTO scram_credentials (user_name, mechanism, salt, stored_key, server_key, iterations) VALUES ($1, $2, $3, $4, $5, $6)`,
			sc.User, int16(sc.Mechanism), sc.Salt, sc.StoredKey, sc.ServerKey, sc.Iterations); err != nil {
			return err
		}
	}
	for _, r := range s.RemoteSegments {
		if err := exec("remote segment "+r.ID, `INSERT INTO remote_segments (`+remoteColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
			remoteArgs(r, r.CreatedAt)...); err != nil {
			return err
		}
	}
	for _, r := range s.RemoteLogStarts {
		if err := exec("remote log start", `INSERT INTO remote_log_starts (topic_id, partition, log_start) VALUES ($1, $2, $3)`, r.TopicID[:], r.Partition, r.Offset); err != nil {
			return err
		}
	}
	for _, a := range s.ACLs {
		if err := exec("acl", `INSERT INTO acls (resource_type, resource_name, pattern_type, principal, host, operation, permission) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
			int16(a.ResourceType), a.ResourceName, int16(a.PatternType), a.Principal, a.Host, int16(a.Operation), int16(a.Permission)); err != nil {
			return err
		}
	}
	for _, t := range s.DelegationTokens {
		renewers := t.Renewers
		if renewers == nil {
			renewers = []string{}
		}
		if err := exec("delegation token "+t.ID, `INSERT INTO delegation_tokens (`+tokenColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
			t.ID, t.Owner, t.Requester, renewers, t.IssueTime, t.ExpiryTime, t.MaxTime); err != nil {
			return err
		}
	}
	return nil
}

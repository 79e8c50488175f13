package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/streamhouse/streamhouse/meta"
)

// shareRow is what the state column holds of a meta.ShareState.
type shareRow struct {
	StateEpoch  int32
	StartOffset int64
	Batches     []meta.ShareBatch `json:",omitempty"`
}

// PutShareStates stores states and deletes deletes in one write
// transaction.
func (c *Catalog) PutShareStates(ctx context.Context, states []meta.ShareState, deletes []meta.SharePartitionKey) error {
	return c.putShareStatesFenced(ctx, nil, states, deletes)
}

// PutShareStatesFenced is PutShareStates after checking fence in the same
// write transaction.
func (c *Catalog) PutShareStatesFenced(ctx context.Context, f meta.Fence, states []meta.ShareState, deletes []meta.SharePartitionKey) error {
	return c.putShareStatesFenced(ctx, &f, states, deletes)
}

func (c *Catalog) putShareStatesFenced(ctx context.Context, f *meta.Fence, states []meta.ShareState, deletes []meta.SharePartitionKey) error {
	op := fmt.Sprintf("store %d share partition states", len(states)+len(deletes))
	if err := c.enter(ctx); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	defer c.mu.RUnlock()
	if len(states) == 0 && len(deletes) == 0 {
		return nil
	}
	now := c.now()
	err := c.write(ctx, func(tx *sql.Tx) error {
		if f != nil {
			if err := checkFence(ctx, tx, *f, now); err != nil {
				return err
			}
		}
		return c.putShareStates(ctx, tx, states, deletes, now)
	})
	if err != nil {
		return wrap(ctx, op, err)
	}
	return nil
}

// upsertShareState stores a share partition's state unless the stored one
// is of a later state epoch.
const upsertShareState = `INSERT INTO share_states (group_id, topic_id, partition, state, updated_ms) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (group_id, topic_id, partition) DO UPDATE SET state = excluded.state, updated_ms = excluded.updated_ms
			WHERE json_extract(share_states.state, '$.StateEpoch') <= json_extract(excluded.state, '$.StateEpoch')`

// putShareStates writes states and deletes in tx (a transaction of the
// writer's).
func (c *Catalog) putShareStates(ctx context.Context, tx *sql.Tx, states []meta.ShareState, deletes []meta.SharePartitionKey, now time.Time) error {
	for _, d := range deletes {
		if _, err := tx.ExecContext(ctx, `DELETE FROM share_states WHERE group_id = ? AND topic_id = ? AND partition = ?`,
			d.Group, d.TopicID[:], d.Partition); err != nil {
			return fmt.Errorf("share state of %q, %s-%d: %w", d.Group, d.TopicID, d.Partition, err)
		}
	}
	if len(states) == 0 {
		return nil
	}
	stmt := tx.StmtContext(ctx, c.upsertShareStmt) // no new prepare: the writer's one connection has it
	defer func() { _ = stmt.Close() }()
	for _, s := range states {
		t := s.UpdateTime
		if t.IsZero() {
			t = now
		}
		row, err := json.Marshal(shareRow{s.StateEpoch, s.StartOffset, s.Batches})
		if err != nil {
			return err
		}
		if _, err := stmt.ExecContext(ctx, s.Group, s.TopicID[:], s.Partition, string(row), t.UnixMilli()); err != nil {
			return fmt.Errorf("share state of %q, %s-%d: %w", s.Group, s.TopicID, s.Partition, err)
		}
	}
	return nil
}

// ShareStates returns every stored share partition state.
func (c *Catalog) ShareStates(ctx context.Context) ([]meta.ShareState, error) {
	const op = "read share partition states"
	if err := c.enter(ctx); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	defer c.mu.RUnlock()
	out, err := scanShareStates(ctx, c.r)
	if err != nil {
		return nil, wrap(ctx, op, err)
	}
	return out, nil
}

// ShareState returns one partition's stored state.
func (c *Catalog) ShareState(ctx context.Context, key meta.SharePartitionKey) (meta.ShareState, bool, error) {
	op := fmt.Sprintf("read the share state of %q, %s-%d", key.Group, key.TopicID, key.Partition)
	if err := c.enter(ctx); err != nil {
		return meta.ShareState{}, false, fmt.Errorf("%s: %w", op, err)
	}
	defer c.mu.RUnlock()
	out, err := scanShareStatesWhere(ctx, c.r, `WHERE group_id = ? AND topic_id = ? AND partition = ?`, key.Group, key.TopicID[:], key.Partition)
	if err != nil {
		return meta.ShareState{}, false, wrap(ctx, op, err)
	}
	if len(out) == 0 {
		return meta.ShareState{}, false, nil
	}
	return out[0], true, nil
}

func scanShareStates(ctx context.Context, q querier) ([]meta.ShareState, error) {
	return scanShareStatesWhere(ctx, q, "")
}

// scanShareStatesWhere reads the states a WHERE clause (or "") selects.
func scanShareStatesWhere(ctx context.Context, q querier, where string, args ...any) ([]meta.ShareState, error) {
	var out []meta.ShareState
	query := `SELECT group_id, topic_id, partition, state, updated_ms FROM share_states ` + where + ` ORDER BY group_id, topic_id, partition`
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer func() { _ = rows.Close() }() // read-only; Err reports what matters
	for rows.Next() {
		var s meta.ShareState
		var tid []byte
		var state string
		var ms int64
		if err := rows.Scan(&s.Group, &tid, &s.Partition, &state, &ms); err != nil {
			return nil, err
		}
		var row shareRow
		if err := json.Unmarshal([]byte(state), &row); err != nil {
			return nil, fmt.Errorf("share state of %q: %w", s.Group, err)
		}
		copy(s.TopicID[:], tid)
		s.StateEpoch, s.StartOffset, s.Batches = row.StateEpoch, row.StartOffset, row.Batches
		s.UpdateTime = time.UnixMilli(ms).UTC()
		out = append(out, s)
	}
	return out, rows.Err()
}

// GroupConfigs returns every configured group's configs and version.
func (c *Catalog) GroupConfigs(ctx context.Context) (map[string]meta.ScopeConfigs, error) {
	const op = "read group configs"
	if err := c.enter(ctx); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	defer c.mu.RUnlock()
	out, err := scanGroupConfigs(ctx, c.r)
	if err != nil {
		return nil, wrap(ctx, op, err)
	}
	return out, nil
}

func scanGroupConfigs(ctx context.Context, q querier) (map[string]meta.ScopeConfigs, error) {
	out := map[string]meta.ScopeConfigs{}
	err := each(ctx, q, `SELECT group_id, configs, version FROM group_configs ORDER BY group_id`, func(rows *sql.Rows) error {
		var g, configs string
		var sc meta.ScopeConfigs
		if err := rows.Scan(&g, &configs, &sc.Version); err != nil {
			return err
		}
		if err := json.Unmarshal([]byte(configs), &sc.Configs); err != nil {
			return fmt.Errorf("configs of group %q: %w", g, err)
		}
		if sc.Configs == nil {
			sc.Configs = map[string]string{}
		}
		out[g] = sc
		return nil
	})
	return out, err
}

// SetGroupConfigs replaces the configs of group at version in one write
// transaction.
func (c *Catalog) SetGroupConfigs(ctx context.Context, group string, version int64, configs map[string]string) error {
	op := fmt.Sprintf("set configs of group %q", group)
	if err := c.enter(ctx); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	defer c.mu.RUnlock()
	if configs == nil {
		configs = map[string]string{}
	}
	js, err := json.Marshal(configs)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	err = c.change(ctx, meta.ChangeGroupConfigs, group, func(tx *sql.Tx) error {
		var have int64
		err := tx.QueryRowContext(ctx, `SELECT version FROM group_configs WHERE group_id = ?`, group).Scan(&have)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if have != version {
			return fmt.Errorf("at version %d, not %d: %w", have, version, meta.ErrConflict)
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO group_configs (group_id, configs, version) VALUES (?, ?, 1)
			ON CONFLICT (group_id) DO UPDATE SET configs = excluded.configs, version = version + 1`, group, string(js))
		return err
	})
	if err != nil {
		return wrap(ctx, op, err)
	}
	return nil
}

package postgres

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/streamhouse/streamhouse/meta"
)

// shareRow is what the state column holds of a meta.ShareState.
type shareRow struct {
	StateEpoch  int32
	StartOffset int64
	Batches     []meta.ShareBatch `json:",omitempty"`
}

// PutShareStates stores states and deletes deletes in one transaction,
// through the offsets' committer: concurrent calls, and offset commits and
// group writes, share transactions.
func (c *Catalog) PutShareStates(ctx context.Context, states []meta.ShareState, deletes []meta.SharePartitionKey) error {
	op := fmt.Sprintf("store %d share partition states", len(states)+len(deletes))
	return c.call(ctx, "PutShareStates", op, func(ctx context.Context) error {
		if len(states) == 0 && len(deletes) == 0 {
			return nil
		}
		return c.offsets.submit(ctx, &commitReq{ctx: ctx, shares: states, unshare: deletes, done: make(chan error, 1)})
	})
}

// PutShareStatesFenced is PutShareStates by the holder of fence, through
// the committer, which checks each call's fence in the shared
// transaction.
func (c *Catalog) PutShareStatesFenced(ctx context.Context, f meta.Fence, states []meta.ShareState, deletes []meta.SharePartitionKey) error {
	op := fmt.Sprintf("store %d share partition states", len(states)+len(deletes))
	return c.call(ctx, "PutShareStatesFenced", op, func(ctx context.Context) error {
		if len(states) == 0 && len(deletes) == 0 {
			return nil
		}
		return c.offsets.submit(ctx, &commitReq{ctx: ctx, fence: &f, shares: states, unshare: deletes, done: make(chan error, 1)})
	})
}

// ShareState returns one partition's stored state.
func (c *Catalog) ShareState(ctx context.Context, key meta.SharePartitionKey) (meta.ShareState, bool, error) {
	var out []meta.ShareState
	err := c.query(ctx, "ShareState", fmt.Sprintf("read the share state of %q, %s-%d", key.Group, key.TopicID, key.Partition), func(ctx context.Context) error {
		var err error
		out, err = scanShareStatesWhere(ctx, c.pool, `WHERE group_id = $1 AND topic_id = $2 AND partition = $3`, key.Group, key.TopicID[:], key.Partition)
		return err
	})
	if err != nil || len(out) == 0 {
		return meta.ShareState{}, false, err
	}
	return out[0], true, nil
}

func shareKeyCompare(ag string, at meta.TopicID, ap int32, bg string, bt meta.TopicID, bp int32) int {
	return cmp.Or(strings.Compare(ag, bg), bytes.Compare(at[:], bt[:]), cmp.Compare(ap, bp))
}

// queuePutShareStates queues the deletes, then one upsert of the last
// state of each partition, in key order.
func queuePutShareStates(b *pgx.Batch, states []meta.ShareState, deletes []meta.SharePartitionKey, now time.Time) {
	if len(deletes) > 0 {
		dels := slices.Clone(deletes)
		slices.SortFunc(dels, func(x, y meta.SharePartitionKey) int {
			return shareKeyCompare(x.Group, x.TopicID, x.Partition, y.Group, y.TopicID, y.Partition)
		})
		groups, tids, parts := make([]string, len(dels)), make([][]byte, len(dels)), make([]int32, len(dels))
		for i, d := range dels {
			groups[i], tids[i], parts[i] = d.Group, d.TopicID[:], d.Partition
		}
		b.Queue(`DELETE FROM share_states AS s USING unnest($1::text[], $2::bytea[], $3::int[]) AS d (g, t, p)
			WHERE s.group_id = d.g AND s.topic_id = d.t AND s.partition = d.p`, groups, tids, parts)
	}
	if len(states) == 0 {
		return
	}
	last := make(map[meta.SharePartitionKey]int, len(states))
	for i, s := range states {
		last[meta.SharePartitionKey{Group: s.Group, TopicID: s.TopicID, Partition: s.Partition}] = i
	}
	rows := make([]meta.ShareState, 0, len(last))
	for i, s := range states {
		if last[meta.SharePartitionKey{Group: s.Group, TopicID: s.TopicID, Partition: s.Partition}] == i {
			if s.UpdateTime.IsZero() {
				s.UpdateTime = now
			}
			rows = append(rows, s)
		}
	}
	slices.SortFunc(rows, func(x, y meta.ShareState) int {
		return shareKeyCompare(x.Group, x.TopicID, x.Partition, y.Group, y.TopicID, y.Partition)
	})
	n := len(rows)
	groups, tids, parts := make([]string, n), make([][]byte, n), make([]int32, n)
	states2, times := make([]string, n), make([]int64, n)
	for i, s := range rows {
		js, _ := json.Marshal(shareRow{s.StateEpoch, s.StartOffset, s.Batches}) // plain data: cannot fail
		groups[i], tids[i], parts[i], states2[i], times[i] = s.Group, s.TopicID[:], s.Partition, string(js), s.UpdateTime.UnixMilli()
	}
	b.Queue(`
		INSERT INTO share_states (group_id, topic_id, partition, state, updated_ms)
		SELECT * FROM unnest($1::text[], $2::bytea[], $3::int[], $4::text[], $5::bigint[])
		ORDER BY 1, 2, 3
		ON CONFLICT (group_id, topic_id, partition) DO UPDATE SET
			state = excluded.state,
			updated_ms = excluded.updated_ms
		WHERE (share_states.state::jsonb->>'StateEpoch')::int <= (excluded.state::jsonb->>'StateEpoch')::int`,
		groups, tids, parts, states2, times)
}

// ShareStates returns every stored share partition state.
func (c *Catalog) ShareStates(ctx context.Context) ([]meta.ShareState, error) {
	var out []meta.ShareState
	err := c.query(ctx, "ShareStates", "read share partition states", func(ctx context.Context) error {
		var err error
		out, err = scanShareStates(ctx, c.pool)
		return err
	})
	return out, err
}

func scanShareStates(ctx context.Context, q queryer) ([]meta.ShareState, error) {
	return scanShareStatesWhere(ctx, q, "")
}

// scanShareStatesWhere reads the states a WHERE clause (or "") selects.
func scanShareStatesWhere(ctx context.Context, q queryer, where string, args ...any) ([]meta.ShareState, error) {
	rows, err := q.Query(ctx, `SELECT group_id, topic_id, partition, state, updated_ms FROM share_states `+where+` ORDER BY group_id, topic_id, partition`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []meta.ShareState
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
	var out map[string]meta.ScopeConfigs
	err := c.query(ctx, "GroupConfigs", "read group configs", func(ctx context.Context) error {
		var err error
		out, err = scanGroupConfigs(ctx, c.pool)
		return err
	})
	return out, err
}

func scanGroupConfigs(ctx context.Context, q queryer) (map[string]meta.ScopeConfigs, error) {
	rows, err := q.Query(ctx, `SELECT group_id, configs, version FROM group_configs ORDER BY group_id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]meta.ScopeConfigs{}
	for rows.Next() {
		var g, configs string
		var sc meta.ScopeConfigs
		if err := rows.Scan(&g, &configs, &sc.Version); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(configs), &sc.Configs); err != nil {
			return nil, fmt.Errorf("configs of group %q: %w", g, err)
		}
		if sc.Configs == nil {
			sc.Configs = map[string]string{}
		}
		out[g] = sc
	}
	return out, rows.Err()
}

// SetGroupConfigs replaces the configs of group at version.
func (c *Catalog) SetGroupConfigs(ctx context.Context, group string, version int64, configs map[string]string) error {
	if configs == nil {
		configs = map[string]string{}
	}
	js, err := json.Marshal(configs)
	if err != nil {
		return err
	}
	return c.call(ctx, "SetGroupConfigs", fmt.Sprintf("set configs of group %q", group), func(ctx context.Context) error {
		return c.write(ctx, func(tx pgx.Tx) error {
			var have int64
			err := tx.QueryRow(ctx, `SELECT version FROM group_configs WHERE group_id = $1 FOR UPDATE`, group).Scan(&have)
			if err != nil && !errors.Is(err, pgx.ErrNoRows) {
				return err
			}
			if have != version {
				return fmt.Errorf("at version %d, not %d: %w", have, version, meta.ErrConflict)
			}
			if version == 0 {
				tag, err := tx.Exec(ctx, `INSERT INTO group_configs (group_id, configs, version) VALUES ($1, $2, 1) ON CONFLICT DO NOTHING`, group, string(js))
				if err != nil {
					return err
				}
				if tag.RowsAffected() == 0 {
					return fmt.Errorf("configured meanwhile: %w", meta.ErrConflict)
				}
			} else if _, err = tx.Exec(ctx, `UPDATE group_configs SET configs = $2, version = version + 1 WHERE group_id = $1`, group, string(js)); err != nil {
				return err
			}
			return recordChange(ctx, tx, c.channel, meta.ChangeGroupConfigs, group)
		})
	})
}

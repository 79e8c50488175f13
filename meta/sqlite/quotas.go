package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/streamhouse/streamhouse/meta"
)

// quotaKey is the entity's canonical JSON, parts sorted by type.
func quotaKey(entity []meta.QuotaEntityPart) (string, error) {
	parts := slices.Clone(entity)
	slices.SortFunc(parts, func(a, b meta.QuotaEntityPart) int { return strings.Compare(a.Type, b.Type) })
	b, err := json.Marshal(parts)
	return string(b), err
}

// ClientQuotas returns every entity's quota values.
func (c *Catalog) ClientQuotas(ctx context.Context) ([]meta.ClientQuota, error) {
	const op = "read client quotas"
	if err := c.enter(ctx); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	defer c.mu.RUnlock()
	rows, err := c.r.QueryContext(ctx, `SELECT entity, quota, version FROM client_quotas ORDER BY entity`)
	if err != nil {
		return nil, wrap(ctx, op, err)
	}
	defer rows.Close()
	var out []meta.ClientQuota
	for rows.Next() {
		var entity, quota string
		var q meta.ClientQuota
		if err := rows.Scan(&entity, &quota, &q.Version); err != nil {
			return nil, wrap(ctx, op, err)
		}
		if err := json.Unmarshal([]byte(entity), &q.Entity); err != nil {
			return nil, fmt.Errorf("%s: entity %s: %w", op, entity, err)
		}
		if err := json.Unmarshal([]byte(quota), &q.Values); err != nil {
			return nil, fmt.Errorf("%s: quota of %s: %w", op, entity, err)
		}
		out = append(out, q)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(ctx, op, err)
	}
	return out, nil
}

// SetClientQuota replaces one entity's values if it is at q.Version.
func (c *Catalog) SetClientQuota(ctx context.Context, q meta.ClientQuota) error {
	const op = "set client quota"
	key, err := quotaKey(q.Entity)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	vals, err := json.Marshal(q.Values)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if err := c.enter(ctx); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	defer c.mu.RUnlock()
	err = c.change(ctx, meta.ChangeClientQuota, meta.EntityKey(q.Entity), func(tx *sql.Tx) error {
		var have int64
		err := tx.QueryRowContext(ctx, `SELECT version FROM client_quotas WHERE entity = ?`, key).Scan(&have)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if have != q.Version {
			return fmt.Errorf("entity at version %d, not %d: %w", have, q.Version, meta.ErrConflict)
		}
		if len(q.Values) == 0 {
			_, err := tx.ExecContext(ctx, `DELETE FROM client_quotas WHERE entity = ?`, key)
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO client_quotas (entity, quota, version) VALUES (?, ?, 1)
			ON CONFLICT (entity) DO UPDATE SET quota = excluded.quota, version = version + 1`, key, string(vals))
		return err
	})
	if err != nil {
		return wrap(ctx, op, err)
	}
	return nil
}

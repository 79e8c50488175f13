package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/streamhouse/streamhouse/meta"
)

// quotaKey is the entity's canonical JSON, parts sorted by type (the key
// meta/sqlite uses too, so a catalog copy keeps it).
func quotaKey(entity []meta.QuotaEntityPart) (string, error) {
	parts := slices.Clone(entity)
	slices.SortFunc(parts, func(a, b meta.QuotaEntityPart) int { return strings.Compare(a.Type, b.Type) })
	b, err := json.Marshal(parts)
	return string(b), err
}

// ClientQuotas returns every entity that has values.
func (c *Catalog) ClientQuotas(ctx context.Context) ([]meta.ClientQuota, error) {
	var out []meta.ClientQuota
	err := c.query(ctx, "ClientQuotas", "read client quotas", func(ctx context.Context) error {
		out = nil
		rows, err := c.pool.Query(ctx, `SELECT entity, quota, version FROM client_quotas ORDER BY entity`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var entity, quota string
			var q meta.ClientQuota
			if err := rows.Scan(&entity, &quota, &q.Version); err != nil {
				return err
			}
			if err := json.Unmarshal([]byte(entity), &q.Entity); err != nil {
				return fmt.Errorf("entity %s: %w", entity, err)
			}
			if err := json.Unmarshal([]byte(quota), &q.Values); err != nil {
				return fmt.Errorf("quota of %s: %w", entity, err)
			}
			out = append(out, q)
		}
		return rows.Err()
	})
	return out, err
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
	return c.call(ctx, "SetClientQuota", op, func(ctx context.Context) error {
		return c.write(ctx, func(tx pgx.Tx) error {
			var have int64
			err := tx.QueryRow(ctx, `SELECT version FROM client_quotas WHERE entity = $1 FOR UPDATE`, key).Scan(&have)
			if err != nil && !errors.Is(err, pgx.ErrNoRows) {
				return err
			}
			if have != q.Version {
				return fmt.Errorf("entity at version %d, not %d: %w", have, q.Version, meta.ErrConflict)
			}
			switch {
			case len(q.Values) == 0:
				if _, err := tx.Exec(ctx, `DELETE FROM client_quotas WHERE entity = $1`, key); err != nil {
					return err
				}
			case have == 0:
				tag, err := tx.Exec(ctx, `INSERT INTO client_quotas (entity, quota, version) VALUES ($1, $2, 1) ON CONFLICT DO NOTHING`, key, string(vals))
				if err != nil {
					return err
				}
				if tag.RowsAffected() == 0 {
					return fmt.Errorf("entity created meanwhile: %w", meta.ErrConflict)
				}
			default:
				if _, err := tx.Exec(ctx, `UPDATE client_quotas SET quota = $2, version = version + 1 WHERE entity = $1`, key, string(vals)); err != nil {
					return err
				}
			}
			return recordChange(ctx, tx, c.channel, meta.ChangeClientQuota, meta.EntityKey(q.Entity))
		})
	})
}

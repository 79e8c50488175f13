package postgres

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/streamhouse/streamhouse/meta"
)

// BrokerConfigs returns every scope ever set, with its configs and version.
func (c *Catalog) BrokerConfigs(ctx context.Context) (map[string]meta.ScopeConfigs, error) {
	out := map[string]meta.ScopeConfigs{}
	err := c.query(ctx, "BrokerConfigs", "read broker configs", func(ctx context.Context) error {
		clear(out)
		rows, err := c.pool.Query(ctx, `
			SELECT s.scope, s.version, c.name, c.value
			FROM broker_config_scopes AS s LEFT JOIN broker_configs AS c ON c.scope = s.scope
			ORDER BY s.scope, c.name`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var scope string
			var version int64
			var name, value *string
			if err := rows.Scan(&scope, &version, &name, &value); err != nil {
				return err
			}
			sc, ok := out[scope]
			if !ok {
				sc = meta.ScopeConfigs{Configs: map[string]string{}, Version: version}
				out[scope] = sc
			}
			if name != nil {
				sc.Configs[*name] = *value
			}
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// SetBrokerConfigs replaces the configs of scope at version.
func (c *Catalog) SetBrokerConfigs(ctx context.Context, scope string, version int64, configs map[string]string) error {
	return c.call(ctx, "SetBrokerConfigs", fmt.Sprintf("set broker configs of scope %q", scope), func(ctx context.Context) error {
		return c.write(ctx, func(tx pgx.Tx) error {
			// Lock the scope's row, or the gap where it would be: a
			// concurrent first write of the scope waits on the
			// insert's unique check.
			var have int64
			err := tx.QueryRow(ctx, `SELECT version FROM broker_config_scopes WHERE scope = $1 FOR UPDATE`, scope).Scan(&have)
			if err != nil && !errors.Is(err, pgx.ErrNoRows) {
				return err
			}
			if have != version {
				return fmt.Errorf("scope at version %d, not %d: %w", have, version, meta.ErrConflict)
			}
			if version == 0 {
				tag, err := tx.Exec(ctx, `INSERT INTO broker_config_scopes (scope, version) VALUES ($1, 1) ON CONFLICT DO NOTHING`, scope)
				if err != nil {
					return err
				}
				if tag.RowsAffected() == 0 {
					return fmt.Errorf("scope created meanwhile: %w", meta.ErrConflict)
				}
			} else if _, err := tx.Exec(ctx, `UPDATE broker_config_scopes SET version = version + 1 WHERE scope = $1`, scope); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `DELETE FROM broker_configs WHERE scope = $1`, scope); err != nil {
				return err
			}
			names := slices.Sorted(maps.Keys(configs))
			values := make([]string, len(names))
			for i, n := range names {
				values[i] = configs[n]
			}
			if _, err := tx.Exec(ctx, `INSERT INTO broker_configs (scope, name, value)
				SELECT $1, n, v FROM unnest($2::text[], $3::text[]) AS u (n, v)`, scope, names, values); err != nil {
				return err
			}
			return recordChange(ctx, tx, c.channel, meta.ChangeBrokerConfigs, scope)
		})
	})
}

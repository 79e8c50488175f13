package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/streamhouse/streamhouse/meta"
)

// BrokerConfigs returns every scope ever set, with its configs and version.
func (c *Catalog) BrokerConfigs(ctx context.Context) (map[string]meta.ScopeConfigs, error) {
	const op = "read broker configs"
	if err := c.enter(ctx); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	defer c.mu.RUnlock()
	rows, err := c.r.QueryContext(ctx, `
		SELECT s.scope, s.version, c.name, c.value
		FROM broker_config_scopes AS s LEFT JOIN broker_configs AS c ON c.scope = s.scope
		ORDER BY s.scope, c.name`)
	if err != nil {
		return nil, wrap(ctx, op, err)
	}
	defer func() { _ = rows.Close() }() // a read-only statement; Err reports what matters
	out := map[string]meta.ScopeConfigs{}
	for rows.Next() {
		var scope string
		var version int64
		var name, value sql.NullString
		if err := rows.Scan(&scope, &version, &name, &value); err != nil {
			return nil, wrap(ctx, op, err)
		}
		sc, ok := out[scope]
		if !ok {
			sc = meta.ScopeConfigs{Configs: map[string]string{}, Version: version}
			out[scope] = sc
		}
		if name.Valid {
			sc.Configs[name.String] = value.String
		}
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(ctx, op, err)
	}
	return out, nil
}

// SetBrokerConfigs replaces the configs of scope at version in one write
// transaction.
func (c *Catalog) SetBrokerConfigs(ctx context.Context, scope string, version int64, configs map[string]string) error {
	op := fmt.Sprintf("set broker configs of scope %q", scope)
	if err := c.enter(ctx); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	defer c.mu.RUnlock()
	err := c.change(ctx, meta.ChangeBrokerConfigs, scope, func(tx *sql.Tx) error {
		var have int64
		err := tx.QueryRowContext(ctx, `SELECT version FROM broker_config_scopes WHERE scope = ?`, scope).Scan(&have)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if have != version {
			return fmt.Errorf("scope at version %d, not %d: %w", have, version, meta.ErrConflict)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO broker_config_scopes (scope, version) VALUES (?, 1)
			ON CONFLICT (scope) DO UPDATE SET version = version + 1`, scope); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM broker_configs WHERE scope = ?`, scope); err != nil {
			return err
		}
		for _, name := range slices.Sorted(maps.Keys(configs)) {
			if _, err := tx.ExecContext(ctx, `INSERT INTO broker_configs (scope, name, value) VALUES (?, ?, ?)`, scope, name, configs[name]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return wrap(ctx, op, err)
	}
	return nil
}

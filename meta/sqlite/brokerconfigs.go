package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"maps"
	"slices"
)

// BrokerConfigs returns every scope's dynamic broker configs.
func (c *Catalog) BrokerConfigs(ctx context.Context) (map[string]map[string]string, error) {
	const op = "read broker configs"
	if err := c.enter(ctx); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	defer c.mu.RUnlock()
	rows, err := c.r.QueryContext(ctx, `SELECT scope, name, value FROM broker_configs ORDER BY scope, name`)
	if err != nil {
		return nil, wrap(ctx, op, err)
	}
	defer rows.Close()
	out := map[string]map[string]string{}
	for rows.Next() {
		var scope, name, value string
		if err := rows.Scan(&scope, &name, &value); err != nil {
			return nil, wrap(ctx, op, err)
		}
		if out[scope] == nil {
			out[scope] = map[string]string{}
		}
		out[scope][name] = value
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(ctx, op, err)
	}
	return out, nil
}

// SetBrokerConfigs replaces the configs of scope in one write transaction.
func (c *Catalog) SetBrokerConfigs(ctx context.Context, scope string, configs map[string]string) error {
	op := fmt.Sprintf("set broker configs of scope %q", scope)
	if err := c.enter(ctx); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	defer c.mu.RUnlock()
	err := c.write(ctx, func(tx *sql.Tx) error {
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

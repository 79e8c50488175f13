package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/streamhouse/streamhouse/meta"
)

// PutTransaction stores t and commits offsets in one write transaction.
func (c *Catalog) PutTransaction(ctx context.Context, t meta.Transaction, offsets []meta.GroupOffset) error {
	op := fmt.Sprintf("store transaction %q", t.ID)
	if err := c.enter(ctx); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	defer c.mu.RUnlock()
	state, err := json.Marshal(t)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	now := c.now()
	err = c.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO transactions (transactional_id, state) VALUES (?, ?)
			ON CONFLICT (transactional_id) DO UPDATE SET state = excluded.state`, t.ID, string(state)); err != nil {
			return err
		}
		return upsertOffsets(ctx, tx, offsets, now)
	})
	if err != nil {
		return wrap(ctx, op, err)
	}
	return nil
}

// Transactions returns every stored transaction, ordered by ID.
func (c *Catalog) Transactions(ctx context.Context) ([]meta.Transaction, error) {
	const op = "read transactions"
	if err := c.enter(ctx); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	defer c.mu.RUnlock()
	rows, err := c.r.QueryContext(ctx, `SELECT transactional_id, state FROM transactions ORDER BY transactional_id`)
	if err != nil {
		return nil, wrap(ctx, op, err)
	}
	defer rows.Close()
	var out []meta.Transaction
	for rows.Next() {
		var id, state string
		if err := rows.Scan(&id, &state); err != nil {
			return nil, wrap(ctx, op, err)
		}
		var t meta.Transaction
		if err := json.Unmarshal([]byte(state), &t); err != nil {
			return nil, fmt.Errorf("%s: transaction %q: %w", op, id, err)
		}
		t.ID = id
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(ctx, op, err)
	}
	return out, nil
}

// DeleteTransaction removes the state of id.
func (c *Catalog) DeleteTransaction(ctx context.Context, id string) error {
	op := fmt.Sprintf("delete transaction %q", id)
	if err := c.enter(ctx); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	defer c.mu.RUnlock()
	err := c.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM transactions WHERE transactional_id = ?`, id)
		return err
	})
	if err != nil {
		return wrap(ctx, op, err)
	}
	return nil
}

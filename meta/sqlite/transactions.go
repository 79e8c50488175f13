package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/streamhouse/streamhouse/meta"
)

// PutTransaction stores t, if its ID is at t.Version, and commits offsets in
// one write transaction.
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
		if err := txnAt(ctx, tx, t.ID, t.Version); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO transactions (transactional_id, state, version) VALUES (?, ?, 1)
			ON CONFLICT (transactional_id) DO UPDATE SET state = excluded.state, version = version + 1`, t.ID, string(state)); err != nil {
			return err
		}
		return upsertOffsets(ctx, tx, offsets, now)
	})
	if err != nil {
		return wrap(ctx, op, err)
	}
	return nil
}

// txnAt checks that the transactional id is at version (0: not stored):
// meta.ErrConflict otherwise.
func txnAt(ctx context.Context, tx *sql.Tx, id string, version int64) error {
	var have int64
	err := tx.QueryRowContext(ctx, `SELECT version FROM transactions WHERE transactional_id = ?`, id).Scan(&have)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return err
	}
	if have != version {
		return fmt.Errorf("at version %d, not %d: %w", have, version, meta.ErrConflict)
	}
	return nil
}

// Transaction returns the state of id.
func (c *Catalog) Transaction(ctx context.Context, id string) (meta.Transaction, bool, error) {
	op := fmt.Sprintf("read transaction %q", id)
	if err := c.enter(ctx); err != nil {
		return meta.Transaction{}, false, fmt.Errorf("%s: %w", op, err)
	}
	defer c.mu.RUnlock()
	ts, err := c.queryTxns(ctx, `SELECT transactional_id, state, version FROM transactions WHERE transactional_id = ?`, id)
	if err != nil {
		return meta.Transaction{}, false, wrap(ctx, op, err)
	}
	if len(ts) == 0 {
		return meta.Transaction{}, false, nil
	}
	return ts[0], true, nil
}

// Transactions returns every stored transaction, ordered by ID.
func (c *Catalog) Transactions(ctx context.Context) ([]meta.Transaction, error) {
	const op = "read transactions"
	if err := c.enter(ctx); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	defer c.mu.RUnlock()
	out, err := c.queryTxns(ctx, `SELECT transactional_id, state, version FROM transactions ORDER BY transactional_id`)
	if err != nil {
		return nil, wrap(ctx, op, err)
	}
	return out, nil
}

// queryTxns runs query, which selects id, state and version, on a reader.
func (c *Catalog) queryTxns(ctx context.Context, query string, args ...any) ([]meta.Transaction, error) {
	rows, err := c.r.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer func() { _ = rows.Close() }() // a read-only statement; Err reports what matters
	var out []meta.Transaction
	for rows.Next() {
		var id, state string
		var version int64
		if err := rows.Scan(&id, &state, &version); err != nil {
			return nil, err
		}
		var t meta.Transaction
		if err := json.Unmarshal([]byte(state), &t); err != nil {
			return nil, fmt.Errorf("transaction %q: %w", id, err)
		}
		t.ID, t.Version = id, version
		out = append(out, t)
	}
	return out, rows.Err()
}

// DeleteTransaction removes the state of id if it is at version.
func (c *Catalog) DeleteTransaction(ctx context.Context, id string, version int64) error {
	op := fmt.Sprintf("delete transaction %q", id)
	if err := c.enter(ctx); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	defer c.mu.RUnlock()
	err := c.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM transactions WHERE transactional_id = ? AND version = ?`, id, version)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n > 0 {
			return err
		}
		var have int64
		err = tx.QueryRowContext(ctx, `SELECT version FROM transactions WHERE transactional_id = ?`, id).Scan(&have)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		return fmt.Errorf("at version %d, not %d: %w", have, version, meta.ErrConflict)
	})
	if err != nil {
		return wrap(ctx, op, err)
	}
	return nil
}

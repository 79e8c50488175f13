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
	return c.putTransaction(ctx, nil, t, offsets)
}

// PutTransactionFenced is PutTransaction after checking fence in the same
// write transaction.
func (c *Catalog) PutTransactionFenced(ctx context.Context, f meta.Fence, t meta.Transaction, offsets []meta.GroupOffset) error {
	return c.putTransaction(ctx, &f, t, offsets)
}

func (c *Catalog) putTransaction(ctx context.Context, f *meta.Fence, t meta.Transaction, offsets []meta.GroupOffset) error {
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
		if f != nil {
			if err := checkFence(ctx, tx, *f, now); err != nil {
				return err
			}
		}
		if err := txnAt(ctx, tx, t.ID, t.Version); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO transactions (transactional_id, state, version) VALUES (?, ?, 1)
			ON CONFLICT (transactional_id) DO UPDATE SET state = excluded.state, version = version + 1`, t.ID, string(state)); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM txn_markers WHERE transactional_id = ?`, t.ID); err != nil {
			return err
		}
		return c.upsertOffsets(ctx, tx, offsets, now)
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
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n > 0 {
			_, err := tx.ExecContext(ctx, `DELETE FROM txn_markers WHERE transactional_id = ?`, id)
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

// PutTxnMarkers records that id's markers at version are durable in parts,
// and a ChangeTxnMarkers change, if id is at version.
func (c *Catalog) PutTxnMarkers(ctx context.Context, id string, version int64, parts []meta.TopicPartition) error {
	op := fmt.Sprintf("record end markers of transaction %q", id)
	if err := c.enter(ctx); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	defer c.mu.RUnlock()
	err := c.change(ctx, meta.ChangeTxnMarkers, id, func(tx *sql.Tx) error {
		if err := txnAt(ctx, tx, id, version); err != nil {
			return err
		}
		for _, p := range parts {
			if _, err := tx.ExecContext(ctx, `INSERT INTO txn_markers (transactional_id, version, topic, partition)
				VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING`, id, version, p.Topic, p.Partition); err != nil {
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

// TxnMarkers returns the partitions recorded for id at version.
func (c *Catalog) TxnMarkers(ctx context.Context, id string, version int64) ([]meta.TopicPartition, error) {
	op := fmt.Sprintf("read end markers of transaction %q", id)
	if err := c.enter(ctx); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	defer c.mu.RUnlock()
	rows, err := c.r.QueryContext(ctx, `SELECT topic, partition FROM txn_markers
		WHERE transactional_id = ? AND version = ? ORDER BY topic, partition`, id, version)
	if err != nil {
		return nil, wrap(ctx, op, err)
	}
	defer rows.Close()
	var out []meta.TopicPartition
	for rows.Next() {
		var p meta.TopicPartition
		if err := rows.Scan(&p.Topic, &p.Partition); err != nil {
			return nil, wrap(ctx, op, err)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(ctx, op, err)
	}
	return out, nil
}

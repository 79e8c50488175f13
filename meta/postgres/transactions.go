package postgres

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/streamhouse/streamhouse/meta"
)

// PutTransaction stores t, if its ID is at t.Version, and commits offsets in
// one transaction.
func (c *Catalog) PutTransaction(ctx context.Context, t meta.Transaction, offsets []meta.GroupOffset) error {
	return c.putTransaction(ctx, "PutTransaction", nil, t, offsets)
}

// PutTransactionFenced is PutTransaction after checking fence in the same
// transaction.
func (c *Catalog) PutTransactionFenced(ctx context.Context, f meta.Fence, t meta.Transaction, offsets []meta.GroupOffset) error {
	return c.putTransaction(ctx, "PutTransactionFenced", &f, t, offsets)
}

func (c *Catalog) putTransaction(ctx context.Context, method string, f *meta.Fence, t meta.Transaction, offsets []meta.GroupOffset) error {
	op := fmt.Sprintf("store transaction %q", t.ID)
	state, err := json.Marshal(t)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	now := c.now()
	return c.call(ctx, method, op, func(ctx context.Context) error {
		return c.write(ctx, func(tx pgx.Tx) error {
			if f != nil {
				if err := checkFence(ctx, tx, *f); err != nil {
					return err
				}
			}
			var have int64
			err := tx.QueryRow(ctx, `SELECT version FROM transactions WHERE transactional_id = $1 FOR UPDATE`, t.ID).Scan(&have)
			if err != nil && !errors.Is(err, pgx.ErrNoRows) {
				return err
			}
			if have != t.Version {
				return fmt.Errorf("at version %d, not %d: %w", have, t.Version, meta.ErrConflict)
			}
			if have == 0 {
				tag, err := tx.Exec(ctx, `INSERT INTO transactions (transactional_id, state, version) VALUES ($1, $2, 1) ON CONFLICT DO NOTHING`, t.ID, string(state))
				if err != nil {
					return err
				}
				if tag.RowsAffected() == 0 {
					return fmt.Errorf("stored meanwhile: %w", meta.ErrConflict)
				}
			} else if _, err := tx.Exec(ctx, `UPDATE transactions SET state = $2, version = version + 1 WHERE transactional_id = $1`, t.ID, string(state)); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `DELETE FROM txn_markers WHERE transactional_id = $1`, t.ID); err != nil {
				return err
			}
			return upsertOffsets(ctx, tx, offsets, now)
		})
	})
}

// Transaction returns the state of id.
func (c *Catalog) Transaction(ctx context.Context, id string) (meta.Transaction, bool, error) {
	var out []meta.Transaction
	err := c.query(ctx, "Transaction", fmt.Sprintf("read transaction %q", id), func(ctx context.Context) error {
		var err error
		out, err = c.queryTxns(ctx, `SELECT transactional_id, state, version FROM transactions WHERE transactional_id = $1`, id)
		return err
	})
	if err != nil || len(out) == 0 {
		return meta.Transaction{}, false, err
	}
	return out[0], true, nil
}

// Transactions returns every stored transaction, ordered by ID.
func (c *Catalog) Transactions(ctx context.Context) ([]meta.Transaction, error) {
	var out []meta.Transaction
	err := c.query(ctx, "Transactions", "read transactions", func(ctx context.Context) error {
		var err error
		out, err = c.queryTxns(ctx, `SELECT transactional_id, state, version FROM transactions ORDER BY transactional_id`)
		return err
	})
	return out, err
}

func (c *Catalog) queryTxns(ctx context.Context, query string, args ...any) ([]meta.Transaction, error) {
	rows, err := c.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
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
	return c.call(ctx, "DeleteTransaction", fmt.Sprintf("delete transaction %q", id), func(ctx context.Context) error {
		return c.write(ctx, func(tx pgx.Tx) error {
			var have int64
			err := tx.QueryRow(ctx, `DELETE FROM transactions WHERE transactional_id = $1 AND version = $2 RETURNING version`, id, version).Scan(&have)
			if err == nil {
				_, err = tx.Exec(ctx, `DELETE FROM txn_markers WHERE transactional_id = $1`, id)
			}
			if !errors.Is(err, pgx.ErrNoRows) {
				return err
			}
			err = tx.QueryRow(ctx, `SELECT version FROM transactions WHERE transactional_id = $1`, id).Scan(&have)
			if errors.Is(err, pgx.ErrNoRows) {
				return nil
			}
			if err != nil {
				return err
			}
			return fmt.Errorf("at version %d, not %d: %w", have, version, meta.ErrConflict)
		})
	})
}

// PutTxnMarkers records that id's markers at version are durable in parts,
// and a ChangeTxnMarkers change, if id is at version. Recording a
// partition twice is no error, so a retry after a lost commit is too.
func (c *Catalog) PutTxnMarkers(ctx context.Context, id string, version int64, parts []meta.TopicPartition) error {
	parts = sortedParts(parts)
	return c.call(ctx, "PutTxnMarkers", fmt.Sprintf("record end markers of transaction %q", id), func(ctx context.Context) error {
		return c.write(ctx, func(tx pgx.Tx) error {
			var have int64
			err := tx.QueryRow(ctx, `SELECT version FROM transactions WHERE transactional_id = $1 FOR SHARE`, id).Scan(&have)
			if err != nil && !errors.Is(err, pgx.ErrNoRows) {
				return err
			}
			if have != version {
				return fmt.Errorf("at version %d, not %d: %w", have, version, meta.ErrConflict)
			}
			topics, partitions := make([]string, len(parts)), make([]int32, len(parts))
			for i, p := range parts {
				topics[i], partitions[i] = p.Topic, p.Partition
			}
			if _, err := tx.Exec(ctx, `INSERT INTO txn_markers (transactional_id, version, topic, partition)
				SELECT $1, $2, t, p FROM unnest($3::text[], $4::int[]) AS v(t, p) ON CONFLICT DO NOTHING`, id, version, topics, partitions); err != nil {
				return err
			}
			return recordChange(ctx, tx, c.channel, meta.ChangeTxnMarkers, id)
		})
	})
}

// TxnMarkers returns the partitions recorded for id at version.
func (c *Catalog) TxnMarkers(ctx context.Context, id string, version int64) ([]meta.TopicPartition, error) {
	var out []meta.TopicPartition
	err := c.query(ctx, "TxnMarkers", fmt.Sprintf("read end markers of transaction %q", id), func(ctx context.Context) error {
		out = nil
		rows, err := c.pool.Query(ctx, `SELECT topic, partition FROM txn_markers
			WHERE transactional_id = $1 AND version = $2 ORDER BY topic, partition`, id, version)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var p meta.TopicPartition
			if err := rows.Scan(&p.Topic, &p.Partition); err != nil {
				return err
			}
			out = append(out, p)
		}
		return rows.Err()
	})
	return out, err
}

// sortedParts returns parts sorted and without repeats: rows written in
// key order, so that two brokers' writes never deadlock.
func sortedParts(parts []meta.TopicPartition) []meta.TopicPartition {
	parts = slices.Clone(parts)
	slices.SortFunc(parts, func(a, b meta.TopicPartition) int {
		if c := strings.Compare(a.Topic, b.Topic); c != 0 {
			return c
		}
		return cmp.Compare(a.Partition, b.Partition)
	})
	return slices.Compact(parts)
}

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

// putTransaction's statements need no answer before the next: a fence
// that does not hold, or a version that moved, fails the batch's callback,
// and writeBatch rolls back what the statements after it did. So BEGIN,
// the fence's check, the state's write, the markers' deletion and the
// offsets go in one round trip, COMMIT in a second (a transactional
// producer's every AddPartitionsToTxn, TxnOffsetCommit and EndTxn waits for
// it). The write is one statement: the row updated at t.Version, or
// inserted at version 1 when t.Version is 0 and no row is there (a row
// stored meanwhile makes the insert do nothing); the UPDATE's lock makes a
// concurrent writer at the same version find it moved.
func (c *Catalog) putTransaction(ctx context.Context, method string, f *meta.Fence, t meta.Transaction, offsets []meta.GroupOffset) error {
	op := fmt.Sprintf("store transaction %q", t.ID)
	state, err := json.Marshal(t)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	now := c.now()
	return c.call(ctx, method, op, func(ctx context.Context) error {
		return c.writeBatch(ctx, func(b *pgx.Batch) {
			if f != nil {
				queueFence(b, *f)
			}
			b.Queue(`WITH updated AS (
					UPDATE transactions SET state = $2, version = version + 1
					WHERE transactional_id = $1 AND version = $3 AND $3 <> 0 RETURNING 1
				), inserted AS (
					INSERT INTO transactions (transactional_id, state, version) SELECT $1, $2, 1 WHERE $3 = 0
					ON CONFLICT DO NOTHING RETURNING 1
				)
				SELECT EXISTS (SELECT 1 FROM updated) OR EXISTS (SELECT 1 FROM inserted),
					COALESCE((SELECT version FROM transactions WHERE transactional_id = $1), 0)`,
				t.ID, string(state), t.Version).QueryRow(func(row pgx.Row) error {
				var stored bool
				var have int64
				if err := row.Scan(&stored, &have); err != nil {
					return err
				}
				if !stored && have == t.Version {
					return fmt.Errorf("stored meanwhile: %w", meta.ErrConflict)
				}
				if !stored {
					return fmt.Errorf("at version %d, not %d: %w", have, t.Version, meta.ErrConflict)
				}
				return nil
			})
			b.Queue(`DELETE FROM txn_markers WHERE transactional_id = $1`, t.ID)
			queueUpsertOffsets(b, offsets, now)
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

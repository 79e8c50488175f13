package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/streamhouse/streamhouse/meta"
)

// CommitWAL commits a WAL object's runs in one transaction, as meta/postgres
// does, one statement at a time under SQLite's one writer.
func (c *Catalog) CommitWAL(ctx context.Context, node int32, sessionEpoch int64, batches []meta.WALBatch) ([]int, error) {
	op := fmt.Sprintf("commit a WAL object of %d partitions", len(batches))
	if err := c.enter(ctx); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	defer c.mu.RUnlock()
	var failed []int
	err := c.write(ctx, func(tx *sql.Tx) error {
		failed = failed[:0]
		now := c.now().UnixMilli()
		live, err := exists(ctx, tx, `SELECT 1 FROM brokers WHERE node_id = ? AND epoch = ? AND ended = 0 AND expires_ms > ?`, node, sessionEpoch, now)
		if err != nil {
			return err
		}
		for i, b := range batches {
			if _, err := tx.ExecContext(ctx, `INSERT INTO wal_objects (key, committed_ms) VALUES (?, ?) ON CONFLICT DO NOTHING`, b.Object, now); err != nil {
				return err
			}
			if !live {
				failed = append(failed, i)
				continue
			}
			held, err := exists(ctx, tx, `SELECT 1 FROM leases WHERE kind = ? AND topic_id = ? AND partition = ? AND holder = ? AND holder_epoch = ? AND epoch = ?`,
				meta.LeasePartition, b.TopicID[:], b.Partition, node, sessionEpoch, b.LeaderEpoch)
			if err != nil {
				return err
			}
			var end int64
			err = tx.QueryRowContext(ctx, `SELECT end_offset FROM wal_ends WHERE topic_id = ? AND partition = ?`, b.TopicID[:], b.Partition).Scan(&end)
			if err != nil && !errors.Is(err, sql.ErrNoRows) {
				return err
			}
			if !held || end != b.BaseOffset {
				failed = append(failed, i)
				continue
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO wal_ends (topic_id, partition, end_offset) VALUES (?, ?, ?)
				ON CONFLICT (topic_id, partition) DO UPDATE SET end_offset = excluded.end_offset`, b.TopicID[:], b.Partition, b.NextOffset); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO wal_batches (topic_id, partition, base_offset, next_offset, leader_epoch, object, position, size, max_timestamp)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, b.TopicID[:], b.Partition, b.BaseOffset, b.NextOffset, b.LeaderEpoch, b.Object, b.Position, b.Size, b.MaxTimestamp); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, wrap(ctx, op, err)
	}
	return failed, nil
}

// WALEnd returns the partition's committed end.
func (c *Catalog) WALEnd(ctx context.Context, id meta.TopicID, partition int32) (int64, error) {
	op := fmt.Sprintf("read the WAL end of %s-%d", id, partition)
	if err := c.enter(ctx); err != nil {
		return 0, fmt.Errorf("%s: %w", op, err)
	}
	defer c.mu.RUnlock()
	var end int64
	err := c.r.QueryRowContext(ctx, `SELECT end_offset FROM wal_ends WHERE topic_id = ? AND partition = ?`, id[:], partition).Scan(&end)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, wrap(ctx, op, err)
	}
	return end, nil
}

// SetWALEnd moves the partition's committed end up.
func (c *Catalog) SetWALEnd(ctx context.Context, id meta.TopicID, partition int32, offset int64) error {
	op := fmt.Sprintf("move the WAL end of %s-%d", id, partition)
	if err := c.enter(ctx); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	defer c.mu.RUnlock()
	err := c.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO wal_ends (topic_id, partition, end_offset) VALUES (?, ?, ?)
			ON CONFLICT (topic_id, partition) DO UPDATE SET end_offset = excluded.end_offset WHERE end_offset < excluded.end_offset`,
			id[:], partition, offset)
		return err
	})
	if err != nil {
		return wrap(ctx, op, err)
	}
	return nil
}

// WALBatches returns the partition's committed runs ending after from.
func (c *Catalog) WALBatches(ctx context.Context, id meta.TopicID, partition int32, from int64) ([]meta.WALBatch, error) {
	op := fmt.Sprintf("read the WAL runs of %s-%d", id, partition)
	if err := c.enter(ctx); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	defer c.mu.RUnlock()
	rows, err := c.r.QueryContext(ctx, `SELECT topic_id, partition, leader_epoch, base_offset, next_offset, object, position, size, max_timestamp
		FROM wal_batches WHERE topic_id = ? AND partition = ? AND next_offset > ? ORDER BY base_offset`, id[:], partition, from)
	if err != nil {
		return nil, wrap(ctx, op, err)
	}
	defer func() { _ = rows.Close() }()
	var out []meta.WALBatch
	for rows.Next() {
		var b meta.WALBatch
		var tid []byte
		if err := rows.Scan(&tid, &b.Partition, &b.LeaderEpoch, &b.BaseOffset, &b.NextOffset, &b.Object, &b.Position, &b.Size, &b.MaxTimestamp); err != nil {
			return nil, wrap(ctx, op, err)
		}
		copy(b.TopicID[:], tid)
		out = append(out, b)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(ctx, op, err)
	}
	return out, nil
}

// TrimWAL forgets the runs wholly below an offset.
func (c *Catalog) TrimWAL(ctx context.Context, id meta.TopicID, partition int32, below int64) error {
	op := fmt.Sprintf("trim the WAL runs of %s-%d", id, partition)
	if err := c.enter(ctx); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	defer c.mu.RUnlock()
	err := c.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM wal_batches WHERE topic_id = ? AND partition = ? AND next_offset <= ?`, id[:], partition, below)
		return err
	})
	if err != nil {
		return wrap(ctx, op, err)
	}
	return nil
}

// DeleteWAL forgets a partition's runs and end.
func (c *Catalog) DeleteWAL(ctx context.Context, id meta.TopicID, partition int32) error {
	op := fmt.Sprintf("delete the WAL of %s-%d", id, partition)
	if err := c.enter(ctx); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	defer c.mu.RUnlock()
	err := c.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM wal_batches WHERE topic_id = ? AND partition = ?`, id[:], partition); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM wal_ends WHERE topic_id = ? AND partition = ?`, id[:], partition)
		return err
	})
	if err != nil {
		return wrap(ctx, op, err)
	}
	return nil
}

// UnreferencedWALObjects lists objects no run names any more.
func (c *Catalog) UnreferencedWALObjects(ctx context.Context, olderThan time.Time) ([]string, error) {
	op := "read unreferenced WAL objects"
	if err := c.enter(ctx); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	defer c.mu.RUnlock()
	rows, err := c.r.QueryContext(ctx, `SELECT key FROM wal_objects o WHERE committed_ms < ?
		AND NOT EXISTS (SELECT 1 FROM wal_batches b WHERE b.object = o.key) ORDER BY key`, olderThan.UnixMilli())
	if err != nil {
		return nil, wrap(ctx, op, err)
	}
	defer func() { _ = rows.Close() }()
	var out []string
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return nil, wrap(ctx, op, err)
		}
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(ctx, op, err)
	}
	return out, nil
}

// ForgetWALObjects drops objects' records.
func (c *Catalog) ForgetWALObjects(ctx context.Context, objects []string) error {
	if len(objects) == 0 {
		return nil
	}
	op := fmt.Sprintf("forget %d WAL objects", len(objects))
	if err := c.enter(ctx); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	defer c.mu.RUnlock()
	err := c.write(ctx, func(tx *sql.Tx) error {
		args := make([]any, len(objects))
		for i, o := range objects {
			args[i] = o
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM wal_objects WHERE key IN (?`+strings.Repeat(", ?", len(objects)-1)+`)
			AND NOT EXISTS (SELECT 1 FROM wal_batches b WHERE b.object = wal_objects.key)`, args...)
		return err
	})
	if err != nil {
		return wrap(ctx, op, err)
	}
	return nil
}

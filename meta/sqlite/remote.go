package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/streamhouse/streamhouse/meta"
)

const remoteColumns = `topic_id, partition, id, base_offset, end_offset, max_timestamp, size, checksum, created_ms, deleting_ms, leader_epochs`

// AddRemoteSegment records an uploaded segment.
func (c *Catalog) AddRemoteSegment(ctx context.Context, s meta.RemoteSegment) error {
	op := fmt.Sprintf("record remote segment %s of %s-%d", s.ID, s.TopicID, s.Partition)
	if err := c.enter(ctx); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	defer c.mu.RUnlock()
	created := s.CreatedAt
	if created.IsZero() {
		created = c.now()
	}
	err := c.write(ctx, func(tx *sql.Tx) error {
		taken, err := exists(ctx, tx, `SELECT 1 FROM remote_segments WHERE topic_id = ? AND partition = ? AND id = ?`, s.TopicID[:], s.Partition, s.ID)
		if err != nil {
			return err
		}
		if taken {
			return meta.ErrConflict
		}
		return insertRemote(ctx, tx, s, created)
	})
	if err != nil {
		return wrap(ctx, op, err)
	}
	return nil
}

func insertRemote(ctx context.Context, tx *sql.Tx, s meta.RemoteSegment, created time.Time) error {
	var deleting any
	if s.Deleting {
		deleting = s.DeletingSince.UnixMilli()
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO remote_segments (`+remoteColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		s.TopicID[:], s.Partition, s.ID, s.BaseOffset, s.EndOffset, s.MaxTimestamp, s.Size, s.Checksum, created.UnixMilli(), deleting, string(s.LeaderEpochs))
	return err
}

// RemoteSegments returns the partition's segments by base offset.
func (c *Catalog) RemoteSegments(ctx context.Context, id meta.TopicID, partition int32) ([]meta.RemoteSegment, error) {
	op := fmt.Sprintf("read remote segments of %s-%d", id, partition)
	if err := c.enter(ctx); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	defer c.mu.RUnlock()
	out, err := scanRemote(ctx, c.r, `SELECT `+remoteColumns+` FROM remote_segments WHERE topic_id = ? AND partition = ? ORDER BY base_offset, id`, id[:], partition)
	if err != nil {
		return nil, wrap(ctx, op, err)
	}
	return out, nil
}

func scanRemote(ctx context.Context, q querier, query string, args ...any) ([]meta.RemoteSegment, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer func() { _ = rows.Close() }()
	var out []meta.RemoteSegment
	for rows.Next() {
		var s meta.RemoteSegment
		var tid []byte
		var created int64
		var deleting sql.NullInt64
		var epochs string
		if err := rows.Scan(&tid, &s.Partition, &s.ID, &s.BaseOffset, &s.EndOffset, &s.MaxTimestamp, &s.Size, &s.Checksum, &created, &deleting, &epochs); err != nil {
			return nil, err
		}
		s.LeaderEpochs = meta.LeaderEpochs(epochs)
		copy(s.TopicID[:], tid)
		s.CreatedAt = time.UnixMilli(created).UTC()
		if deleting.Valid {
			s.Deleting, s.DeletingSince = true, time.UnixMilli(deleting.Int64).UTC()
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// RemotePartitions returns every partition with segments.
func (c *Catalog) RemotePartitions(ctx context.Context) ([]meta.RemotePartition, error) {
	const op = "list partitions with remote segments"
	if err := c.enter(ctx); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	defer c.mu.RUnlock()
	var out []meta.RemotePartition
	err := each(ctx, c.r, `SELECT DISTINCT topic_id, partition FROM remote_segments ORDER BY topic_id, partition`, func(rows *sql.Rows) error {
		var p meta.RemotePartition
		var tid []byte
		if err := rows.Scan(&tid, &p.Partition); err != nil {
			return err
		}
		copy(p.TopicID[:], tid)
		out = append(out, p)
		return nil
	})
	if err != nil {
		return nil, wrap(ctx, op, err)
	}
	return out, nil
}

// MarkRemoteSegmentsDeleting marks segments Deleting.
func (c *Catalog) MarkRemoteSegmentsDeleting(ctx context.Context, id meta.TopicID, partition int32, ids []string) error {
	op := fmt.Sprintf("mark %d remote segments of %s-%d deleting", len(ids), id, partition)
	if err := c.enter(ctx); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	defer c.mu.RUnlock()
	now := c.now().UnixMilli()
	err := c.write(ctx, func(tx *sql.Tx) error {
		for _, sid := range ids {
			if _, err := tx.ExecContext(ctx, `UPDATE remote_segments SET deleting_ms = ? WHERE topic_id = ? AND partition = ? AND id = ? AND deleting_ms IS NULL`,
				now, id[:], partition, sid); err != nil {
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

// DeleteRemoteSegments removes records.
func (c *Catalog) DeleteRemoteSegments(ctx context.Context, id meta.TopicID, partition int32, ids []string) error {
	op := fmt.Sprintf("delete %d remote segment records of %s-%d", len(ids), id, partition)
	if err := c.enter(ctx); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	defer c.mu.RUnlock()
	err := c.write(ctx, func(tx *sql.Tx) error {
		for _, sid := range ids {
			if _, err := tx.ExecContext(ctx, `DELETE FROM remote_segments WHERE topic_id = ? AND partition = ? AND id = ?`, id[:], partition, sid); err != nil {
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

// RemoteLogStart returns the partition's stored log start.
func (c *Catalog) RemoteLogStart(ctx context.Context, id meta.TopicID, partition int32) (int64, bool, error) {
	op := fmt.Sprintf("read remote log start of %s-%d", id, partition)
	if err := c.enter(ctx); err != nil {
		return 0, false, fmt.Errorf("%s: %w", op, err)
	}
	defer c.mu.RUnlock()
	var start int64
	err := c.r.QueryRowContext(ctx, `SELECT log_start FROM remote_log_starts WHERE topic_id = ? AND partition = ?`, id[:], partition).Scan(&start)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, wrap(ctx, op, err)
	}
	return start, true, nil
}

// SetRemoteLogStart moves the partition's log start up.
func (c *Catalog) SetRemoteLogStart(ctx context.Context, id meta.TopicID, partition int32, offset int64) error {
	op := fmt.Sprintf("set remote log start of %s-%d to %d", id, partition, offset)
	if err := c.enter(ctx); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	defer c.mu.RUnlock()
	err := c.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO remote_log_starts (topic_id, partition, log_start) VALUES (?, ?, ?)
			ON CONFLICT (topic_id, partition) DO UPDATE SET log_start = max(log_start, excluded.log_start)`, id[:], partition, offset)
		return err
	})
	if err != nil {
		return wrap(ctx, op, err)
	}
	return nil
}

// ReplaceRemoteSegments records add and marks old Deleting, fenced by f.
func (c *Catalog) ReplaceRemoteSegments(ctx context.Context, f meta.Fence, id meta.TopicID, partition int32, old []string, add []meta.RemoteSegment) error {
	op := fmt.Sprintf("replace %d remote segments of %s-%d by %d", len(old), id, partition, len(add))
	if err := c.enter(ctx); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	defer c.mu.RUnlock()
	now := c.now()
	err := c.write(ctx, func(tx *sql.Tx) error {
		if err := checkFence(ctx, tx, f, now); err != nil {
			return err
		}
		for _, o := range slices.Compact(slices.Sorted(slices.Values(old))) {
			live, err := exists(ctx, tx, `SELECT 1 FROM remote_segments WHERE topic_id = ? AND partition = ? AND id = ? AND deleting_ms IS NULL`, id[:], partition, o)
			if err != nil {
				return err
			}
			if !live {
				return fmt.Errorf("segment %s is gone or deleting: %w", o, meta.ErrConflict)
			}
			if _, err := tx.ExecContext(ctx, `UPDATE remote_segments SET deleting_ms = ? WHERE topic_id = ? AND partition = ? AND id = ?`,
				now.UnixMilli(), id[:], partition, o); err != nil {
				return err
			}
		}
		for _, s := range add {
			if s.TopicID != id || s.Partition != partition {
				return fmt.Errorf("segment %s is of %s-%d: %w", s.ID, s.TopicID, s.Partition, meta.ErrConflict)
			}
			taken, err := exists(ctx, tx, `SELECT 1 FROM remote_segments WHERE topic_id = ? AND partition = ? AND id = ?`, id[:], partition, s.ID)
			if err != nil {
				return err
			}
			if taken {
				return fmt.Errorf("segment %s is recorded already: %w", s.ID, meta.ErrConflict)
			}
			created := s.CreatedAt
			if created.IsZero() {
				created = now
			}
			s.Deleting = false
			if err := insertRemote(ctx, tx, s, created); err != nil {
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

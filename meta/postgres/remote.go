package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/streamhouse/streamhouse/meta"
)

const remoteColumns = `topic_id, partition, id, base_offset, end_offset, max_timestamp, size, checksum, created_ms, deleting_ms, leader_epochs`

// AddRemoteSegment records an uploaded segment.
func (c *Catalog) AddRemoteSegment(ctx context.Context, s meta.RemoteSegment) error {
	created := s.CreatedAt
	if created.IsZero() {
		created = c.now()
	}
	return c.call(ctx, "AddRemoteSegment", fmt.Sprintf("record remote segment %s of %s-%d", s.ID, s.TopicID, s.Partition), func(ctx context.Context) error {
		return c.write(ctx, func(tx pgx.Tx) error {
			tag, err := tx.Exec(ctx, `INSERT INTO remote_segments (`+remoteColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT DO NOTHING`,
				remoteArgs(s, created)...)
			if err == nil && tag.RowsAffected() == 0 {
				return meta.ErrConflict
			}
			return err
		})
	})
}

func remoteArgs(s meta.RemoteSegment, created time.Time) []any {
	var deleting *int64
	if s.Deleting {
		ms := s.DeletingSince.UnixMilli()
		deleting = &ms
	}
	return []any{s.TopicID[:], s.Partition, s.ID, s.BaseOffset, s.EndOffset, s.MaxTimestamp, s.Size, s.Checksum, created.UnixMilli(), deleting, string(s.LeaderEpochs)}
}

// RemoteSegments returns the partition's segments by base offset.
func (c *Catalog) RemoteSegments(ctx context.Context, id meta.TopicID, partition int32) ([]meta.RemoteSegment, error) {
	var out []meta.RemoteSegment
	err := c.query(ctx, "RemoteSegments", fmt.Sprintf("read remote segments of %s-%d", id, partition), func(ctx context.Context) error {
		var err error
		out, err = scanRemote(ctx, c.pool, `SELECT `+remoteColumns+` FROM remote_segments WHERE topic_id = $1 AND partition = $2 ORDER BY base_offset, id`, id[:], partition)
		return err
	})
	return out, err
}

func scanRemote(ctx context.Context, q querier, query string, args ...any) ([]meta.RemoteSegment, error) {
	rows, err := q.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []meta.RemoteSegment
	for rows.Next() {
		var s meta.RemoteSegment
		var tid []byte
		var created int64
		var deleting *int64
		var epochs string
		if err := rows.Scan(&tid, &s.Partition, &s.ID, &s.BaseOffset, &s.EndOffset, &s.MaxTimestamp, &s.Size, &s.Checksum, &created, &deleting, &epochs); err != nil {
			return nil, err
		}
		s.LeaderEpochs = meta.LeaderEpochs(epochs)
		copy(s.TopicID[:], tid)
		s.CreatedAt = time.UnixMilli(created).UTC()
		if deleting != nil {
			s.Deleting, s.DeletingSince = true, time.UnixMilli(*deleting).UTC()
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// RemotePartitions returns every partition with segments.
func (c *Catalog) RemotePartitions(ctx context.Context) ([]meta.RemotePartition, error) {
	var out []meta.RemotePartition
	err := c.query(ctx, "RemotePartitions", "list partitions with remote segments", func(ctx context.Context) error {
		out = nil
		rows, err := c.pool.Query(ctx, `SELECT DISTINCT topic_id, partition FROM remote_segments ORDER BY topic_id, partition`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var p meta.RemotePartition
			var tid []byte
			if err := rows.Scan(&tid, &p.Partition); err != nil {
				return err
			}
			copy(p.TopicID[:], tid)
			out = append(out, p)
		}
		return rows.Err()
	})
	return out, err
}

// MarkRemoteSegmentsDeleting marks segments Deleting.
func (c *Catalog) MarkRemoteSegmentsDeleting(ctx context.Context, id meta.TopicID, partition int32, ids []string) error {
	ids = slices.Sorted(slices.Values(ids))
	now := c.now().UnixMilli()
	return c.call(ctx, "MarkRemoteSegmentsDeleting", fmt.Sprintf("mark %d remote segments of %s-%d deleting", len(ids), id, partition), func(ctx context.Context) error {
		return c.write(ctx, func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `UPDATE remote_segments SET deleting_ms = $1
				WHERE topic_id = $2 AND partition = $3 AND id = ANY($4) AND deleting_ms IS NULL`, now, id[:], partition, ids)
			return err
		})
	})
}

// DeleteRemoteSegments removes records.
func (c *Catalog) DeleteRemoteSegments(ctx context.Context, id meta.TopicID, partition int32, ids []string) error {
	return c.call(ctx, "DeleteRemoteSegments", fmt.Sprintf("delete %d remote segment records of %s-%d", len(ids), id, partition), func(ctx context.Context) error {
		return c.write(ctx, func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `DELETE FROM remote_segments WHERE topic_id = $1 AND partition = $2 AND id = ANY($3)`, id[:], partition, ids)
			return err
		})
	})
}

// RemoteLogStart returns the partition's stored log start.
func (c *Catalog) RemoteLogStart(ctx context.Context, id meta.TopicID, partition int32) (int64, bool, error) {
	var start int64
	var found bool
	err := c.query(ctx, "RemoteLogStart", fmt.Sprintf("read remote log start of %s-%d", id, partition), func(ctx context.Context) error {
		err := c.pool.QueryRow(ctx, `SELECT log_start FROM remote_log_starts WHERE topic_id = $1 AND partition = $2`, id[:], partition).Scan(&start)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		found = err == nil
		return err
	})
	return start, found, err
}

// SetRemoteLogStart moves the partition's log start up.
func (c *Catalog) SetRemoteLogStart(ctx context.Context, id meta.TopicID, partition int32, offset int64) error {
	return c.call(ctx, "SetRemoteLogStart", fmt.Sprintf("set remote log start of %s-%d to %d", id, partition, offset), func(ctx context.Context) error {
		return c.write(ctx, func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `INSERT INTO remote_log_starts (topic_id, partition, log_start) VALUES ($1, $2, $3)
				ON CONFLICT (topic_id, partition) DO UPDATE SET log_start = greatest(remote_log_starts.log_start, excluded.log_start)`, id[:], partition, offset)
			return err
		})
	})
}

// ReplaceRemoteSegments records add and marks old Deleting, fenced by f
// (its lease row locked FOR SHARE: a takeover waits for the swap, or the
// swap sees the takeover).
func (c *Catalog) ReplaceRemoteSegments(ctx context.Context, f meta.Fence, id meta.TopicID, partition int32, old []string, add []meta.RemoteSegment) error {
	old = slices.Compact(slices.Sorted(slices.Values(old)))
	return c.call(ctx, "ReplaceRemoteSegments", fmt.Sprintf("replace %d remote segments of %s-%d by %d", len(old), id, partition, len(add)), func(ctx context.Context) error {
		return c.write(ctx, func(tx pgx.Tx) error {
			if err := checkFence(ctx, tx, f); err != nil {
				return err
			}
			now := c.now()
			if len(old) > 0 {
				tag, err := tx.Exec(ctx, `UPDATE remote_segments SET deleting_ms = $1
					WHERE topic_id = $2 AND partition = $3 AND id = ANY($4) AND deleting_ms IS NULL`, now.UnixMilli(), id[:], partition, old)
				if err != nil {
					return err
				}
				if n := tag.RowsAffected(); n != int64(len(old)) {
					return fmt.Errorf("%d of the %d segments replaced are gone or deleting: %w", int64(len(old))-n, len(old), meta.ErrConflict)
				}
			}
			for _, s := range add {
				if s.TopicID != id || s.Partition != partition {
					return fmt.Errorf("segment %s is of %s-%d: %w", s.ID, s.TopicID, s.Partition, meta.ErrConflict)
				}
				created := s.CreatedAt
				if created.IsZero() {
					created = now
				}
				s.Deleting = false
				tag, err := tx.Exec(ctx, `INSERT INTO remote_segments (`+remoteColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT DO NOTHING`,
					remoteArgs(s, created)...)
				if err != nil {
					return err
				}
				if tag.RowsAffected() == 0 {
					return fmt.Errorf("segment %s is recorded already: %w", s.ID, meta.ErrConflict)
				}
			}
			return nil
		})
	})
}

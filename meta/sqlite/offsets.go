package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/streamhouse/streamhouse/meta"
)

// upsertOffset stores one committed offset, replacing the group's commit of
// the same partition.
const upsertOffset = `
	INSERT INTO group_offsets (group_id, topic, partition, offset, leader_epoch, metadata, commit_ms)
	VALUES (?, ?, ?, ?, ?, ?, ?)
	ON CONFLICT (group_id, topic, partition) DO UPDATE SET
		offset = excluded.offset,
		leader_epoch = excluded.leader_epoch,
		metadata = excluded.metadata,
		commit_ms = excluded.commit_ms`

// CommitOffsets stores offsets in one transaction, each replacing the commit
// of the same group, topic and partition; a later offset in offsets replaces
// an earlier one of the same partition. It stamps a zero CommitTime from the
// catalog's clock. The offsets are durable when it returns nil: the commit
// fsyncs the WAL (synchronous=FULL).
//
// Each call is its own transaction, queued for the one writer connection.
// BenchmarkCommitOffsets measures what that allows; see the package comment.
func (c *Catalog) CommitOffsets(ctx context.Context, offsets []meta.GroupOffset) error {
	if err := c.enter(ctx); err != nil {
		return fmt.Errorf("%s: %w", commitOp(offsets), err)
	}
	defer c.mu.RUnlock()
	if len(offsets) == 0 {
		return nil
	}
	now := c.now()
	err := c.write(ctx, func(tx *sql.Tx) error {
		return c.upsertOffsets(ctx, tx, offsets, now)
	})
	if err != nil {
		return wrap(ctx, commitOp(offsets), err)
	}
	return nil
}

// CommitOffsetsFenced is CommitOffsets after checking fence in the same
// write transaction.
func (c *Catalog) CommitOffsetsFenced(ctx context.Context, f meta.Fence, offsets []meta.GroupOffset) error {
	if err := c.enter(ctx); err != nil {
		return fmt.Errorf("%s: %w", commitOp(offsets), err)
	}
	defer c.mu.RUnlock()
	now := c.now()
	err := c.write(ctx, func(tx *sql.Tx) error {
		if err := checkFence(ctx, tx, f, now); err != nil {
			return err
		}
		return c.upsertOffsets(ctx, tx, offsets, now)
	})
	if err != nil {
		return wrap(ctx, commitOp(offsets), err)
	}
	return nil
}

// commitOp names a CommitOffsets call in its errors. It is built only for an
// error: CommitOffsets is the catalog's one frequent call.
func commitOp(offsets []meta.GroupOffset) string {
	if len(offsets) == 0 {
		return "commit offsets"
	}
	group := offsets[0].Group
	for _, o := range offsets[1:] {
		if o.Group != group {
			return fmt.Sprintf("commit %d offsets of several groups", len(offsets))
		}
	}
	return fmt.Sprintf("commit %d offsets of group %q", len(offsets), group)
}

// upsertOffsets writes offsets in tx (a transaction of the writer's),
// stamping those without a CommitTime with now.
func (c *Catalog) upsertOffsets(ctx context.Context, tx *sql.Tx, offsets []meta.GroupOffset, now time.Time) error {
	if len(offsets) == 0 {
		return nil
	}
	stmt := tx.StmtContext(ctx, c.upsertOffsetStmt) // no new prepare: the writer's one connection has it
	defer func() { _ = stmt.Close() }()
	for _, o := range offsets {
		t := o.CommitTime
		if t.IsZero() {
			t = now
		}
		if _, err := stmt.ExecContext(ctx, o.Group, o.Topic, o.Partition, o.Offset, o.LeaderEpoch, o.Metadata, t.UnixMilli()); err != nil {
			return fmt.Errorf("offset of group %q, %s/%d: %w", o.Group, o.Topic, o.Partition, err)
		}
	}
	return nil
}

// groupOffsetsQuery reads one group's offsets: one range of the primary key,
// already in the order asked for.
const groupOffsetsQuery = `
	SELECT topic, partition, offset, leader_epoch, metadata, commit_ms
	FROM group_offsets WHERE group_id = ? ORDER BY topic, partition`

// GroupOffsets returns the group's offsets ordered by topic, bytewise (SQLite's
// BINARY collation), and partition.
func (c *Catalog) GroupOffsets(ctx context.Context, group string) ([]meta.GroupOffset, error) {
	op := fmt.Sprintf("read offsets of group %q", group)
	if err := c.enter(ctx); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	defer c.mu.RUnlock()

	rows, err := c.r.QueryContext(ctx, groupOffsetsQuery, group)
	if err != nil {
		return nil, wrap(ctx, op, err)
	}
	defer func() { _ = rows.Close() }() // a read-only statement; Err reports what matters

	var offsets []meta.GroupOffset
	for rows.Next() {
		o := meta.GroupOffset{Group: group}
		var ms int64
		if err := rows.Scan(&o.Topic, &o.Partition, &o.Offset, &o.LeaderEpoch, &o.Metadata, &ms); err != nil {
			return nil, wrap(ctx, op, err)
		}
		o.CommitTime = time.UnixMilli(ms).UTC()
		offsets = append(offsets, o)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(ctx, op, err)
	}
	return offsets, nil
}

// groupsQuery lists the distinct groups with a loose index scan: each step
// seeks the primary key to the first group after the previous one, so the
// cost grows with the number of groups, not of offsets (SELECT DISTINCT
// would read every row).
const groupsQuery = `
	WITH RECURSIVE g (id) AS (
		SELECT min(group_id) FROM group_offsets
		UNION ALL
		SELECT (SELECT min(group_id) FROM group_offsets WHERE group_id > g.id) FROM g WHERE g.id IS NOT NULL
	)
	SELECT id FROM g WHERE id IS NOT NULL`

// OffsetGroups returns the groups that have offsets, ordered bytewise.
func (c *Catalog) OffsetGroups(ctx context.Context) ([]string, error) {
	const op = "list groups with offsets"
	if err := c.enter(ctx); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	defer c.mu.RUnlock()

	rows, err := c.r.QueryContext(ctx, groupsQuery)
	if err != nil {
		return nil, wrap(ctx, op, err)
	}
	defer func() { _ = rows.Close() }() // a read-only statement; Err reports what matters

	var groups []string
	for rows.Next() {
		var g string
		if err := rows.Scan(&g); err != nil {
			return nil, wrap(ctx, op, err)
		}
		groups = append(groups, g)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(ctx, op, err)
	}
	return groups, nil
}

// The statements that delete offsets.
const (
	deleteOffset       = `DELETE FROM group_offsets WHERE group_id = ? AND topic = ? AND partition = ?`
	deleteGroupOffsets = `DELETE FROM group_offsets WHERE group_id = ?`
	// deleteTopicOffsets runs in DeleteTopic's transaction.
	deleteTopicOffsets = `DELETE FROM group_offsets WHERE topic = ?`
)

// DeleteOffsets removes the group's offsets of parts, ignoring partitions it
// has none for.
func (c *Catalog) DeleteOffsets(ctx context.Context, group string, parts []meta.TopicPartition) error {
	return c.deleteOffsets(ctx, nil, group, parts)
}

// DeleteOffsetsFenced is DeleteOffsets after checking fence in the same
// write transaction.
func (c *Catalog) DeleteOffsetsFenced(ctx context.Context, f meta.Fence, group string, parts []meta.TopicPartition) error {
	return c.deleteOffsets(ctx, &f, group, parts)
}

func (c *Catalog) deleteOffsets(ctx context.Context, f *meta.Fence, group string, parts []meta.TopicPartition) error {
	op := fmt.Sprintf("delete %d offsets of group %q", len(parts), group)
	if err := c.enter(ctx); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	defer c.mu.RUnlock()
	if len(parts) == 0 {
		return nil
	}
	now := c.now()
	err := c.write(ctx, func(tx *sql.Tx) error {
		if f != nil {
			if err := checkFence(ctx, tx, *f, now); err != nil {
				return err
			}
		}
		stmt, err := tx.PrepareContext(ctx, deleteOffset)
		if err != nil {
			return err
		}
		defer func() { _ = stmt.Close() }() // closed with the transaction anyway
		for _, p := range parts {
			if _, err := stmt.ExecContext(ctx, group, p.Topic, p.Partition); err != nil {
				return fmt.Errorf("%s/%d: %w", p.Topic, p.Partition, err)
			}
		}
		return nil
	})
	if err != nil {
		return wrap(ctx, op, err)
	}
	return nil
}

// DeleteGroupOffsets removes every offset of the group.
func (c *Catalog) DeleteGroupOffsets(ctx context.Context, group string) error {
	return c.deleteGroupOffsets(ctx, nil, group)
}

// DeleteGroupOffsetsFenced is DeleteGroupOffsets after checking fence in
// the same write transaction.
func (c *Catalog) DeleteGroupOffsetsFenced(ctx context.Context, f meta.Fence, group string) error {
	return c.deleteGroupOffsets(ctx, &f, group)
}

func (c *Catalog) deleteGroupOffsets(ctx context.Context, f *meta.Fence, group string) error {
	op := fmt.Sprintf("delete offsets of group %q", group)
	if err := c.enter(ctx); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	defer c.mu.RUnlock()
	now := c.now()
	err := c.write(ctx, func(tx *sql.Tx) error {
		if f != nil {
			if err := checkFence(ctx, tx, *f, now); err != nil {
				return err
			}
		}
		_, err := tx.ExecContext(ctx, deleteGroupOffsets, group)
		return err
	})
	if err != nil {
		return wrap(ctx, op, err)
	}
	return nil
}

// checkFence fails tx's write with meta.ErrFenced unless f's lease is its
// holder's, at its epoch, with the holder's session live at now.
func checkFence(ctx context.Context, tx *sql.Tx, f meta.Fence, now time.Time) error {
	live, err := exists(ctx, tx, `SELECT 1 FROM brokers WHERE node_id = ? AND epoch = ? AND ended = 0 AND expires_ms > ?`, f.Node, f.SessionEpoch, now.UnixMilli())
	if err != nil {
		return err
	}
	held, err := exists(ctx, tx, `SELECT 1 FROM leases WHERE kind = ? AND topic_id = ? AND partition = ? AND holder = ? AND holder_epoch = ? AND epoch = ?`,
		f.Key.Kind, f.Key.TopicID[:], f.Key.Partition, f.Node, f.SessionEpoch, f.Epoch)
	if err != nil {
		return err
	}
	if !live || !held {
		return fmt.Errorf("node %d at session %d, epoch %d %s: %w", f.Node, f.SessionEpoch, f.Epoch, f.Key, meta.ErrFenced)
	}
	return nil
}

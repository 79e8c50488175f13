package postgres

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/streamhouse/streamhouse/meta"
)

// CommitWAL commits a WAL object's runs in one transaction of three
// statements whatever their number: the partitions' ends created where
// missing; then, in one statement, the ends moved where lease, session and
// end hold (the lease rows locked FOR SHARE, so that a lease taken at the
// same time waits for this commit, and one taken before makes it fail) and
// the runs of the partitions moved recorded. The statements need no answer
// before the next, so they go in one round trip with BEGIN (writeBatch),
// COMMIT in a second: a round's commit is on its produce's path.
func (c *Catalog) CommitWAL(ctx context.Context, node int32, sessionEpoch int64, batches []meta.WALBatch) ([]int, error) {
	if len(batches) == 0 {
		return nil, nil
	}
	n := len(batches)
	ids, parts, bases, nexts, epochs := make([][]byte, n), make([]int32, n), make([]int64, n), make([]int64, n), make([]int32, n)
	objs, pos, sizes, ts := make([]string, n), make([]int64, n), make([]int64, n), make([]int64, n)
	objects := map[string]bool{}
	for i, b := range batches {
		ids[i], parts[i], bases[i], nexts[i], epochs[i] = b.TopicID[:], b.Partition, b.BaseOffset, b.NextOffset, b.LeaderEpoch
		objs[i], pos[i], sizes[i], ts[i] = b.Object, b.Position, b.Size, b.MaxTimestamp
		objects[b.Object] = true
	}
	type key struct {
		id string
		p  int32
	}
	var done map[key]bool
	err := c.call(ctx, "CommitWAL", fmt.Sprintf("commit a WAL object of %d partitions", n), func(ctx context.Context) error {
		return c.writeBatch(ctx, func(b *pgx.Batch) {
			done = map[key]bool{}
			b.Queue(`INSERT INTO wal_objects (key, committed) SELECT k, clock_timestamp() FROM unnest($1::text[]) AS k ON CONFLICT DO NOTHING`,
				slices.Collect(maps.Keys(objects)))
			b.Queue(`INSERT INTO wal_ends (topic_id, partition, end_offset)
				SELECT topic_id, partition, 0 FROM unnest($1::bytea[], $2::int[]) AS v(topic_id, partition) ON CONFLICT DO NOTHING`, ids, parts)
			b.Queue(`WITH v AS (
					SELECT * FROM unnest($3::bytea[], $4::int[], $5::bigint[], $6::bigint[], $7::int[], $8::text[], $9::bigint[], $10::bigint[], $11::bigint[])
						AS v(topic_id, partition, base, next, leader_epoch, object, position, size, max_timestamp)
				), moved AS (
					UPDATE wal_ends e SET end_offset = v.next FROM v
					WHERE e.topic_id = v.topic_id AND e.partition = v.partition AND e.end_offset = v.base
					AND EXISTS (SELECT 1 FROM brokers b WHERE b.node_id = $1 AND b.epoch = $2 AND NOT b.ended AND b.expires > clock_timestamp())
					AND EXISTS (SELECT 1 FROM leases l WHERE l.kind = 1 AND l.topic_id = v.topic_id AND l.partition = v.partition
						AND l.holder = $1 AND l.holder_epoch = $2 AND l.epoch = v.leader_epoch FOR SHARE)
					RETURNING v.topic_id, v.partition
				), runs AS (
					INSERT INTO wal_batches (topic_id, partition, base_offset, next_offset, leader_epoch, object, position, size, max_timestamp)
					SELECT v.topic_id, v.partition, v.base, v.next, v.leader_epoch, v.object, v.position, v.size, v.max_timestamp
					FROM v WHERE (v.topic_id, v.partition) IN (SELECT topic_id, partition FROM moved)
				)
				SELECT topic_id, partition FROM moved`,
				node, sessionEpoch, ids, parts, bases, nexts, epochs, objs, pos, sizes, ts).Query(func(rows pgx.Rows) error {
				for rows.Next() {
					var id []byte
					var p int32
					if err := rows.Scan(&id, &p); err != nil {
						return err
					}
					done[key{string(id), p}] = true
				}
				return rows.Err()
			})
		})
	})
	if err != nil {
		return nil, err
	}
	var failed []int
	for i, b := range batches {
		if !done[key{string(b.TopicID[:]), b.Partition}] {
			failed = append(failed, i)
		}
	}
	return failed, nil
}

// WALEnd returns the partition's committed end.
func (c *Catalog) WALEnd(ctx context.Context, id meta.TopicID, partition int32) (int64, error) {
	var end int64
	err := c.query(ctx, "WALEnd", fmt.Sprintf("read the WAL end of %s-%d", id, partition), func(ctx context.Context) error {
		err := c.pool.QueryRow(ctx, `SELECT end_offset FROM wal_ends WHERE topic_id = $1 AND partition = $2`, id[:], partition).Scan(&end)
		if errors.Is(err, pgx.ErrNoRows) {
			end, err = 0, nil
		}
		return err
	})
	return end, err
}

// SetWALEnd moves the partition's committed end up.
func (c *Catalog) SetWALEnd(ctx context.Context, id meta.TopicID, partition int32, offset int64) error {
	return c.call(ctx, "SetWALEnd", fmt.Sprintf("move the WAL end of %s-%d", id, partition), func(ctx context.Context) error {
		return c.write(ctx, func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `INSERT INTO wal_ends (topic_id, partition, end_offset) VALUES ($1, $2, $3)
				ON CONFLICT (topic_id, partition) DO UPDATE SET end_offset = excluded.end_offset WHERE wal_ends.end_offset < excluded.end_offset`,
				id[:], partition, offset)
			return err
		})
	})
}

const walColumns = `topic_id, partition, leader_epoch, base_offset, next_offset, object, position, size, max_timestamp`

// WALBatches returns the partition's committed runs ending after from.
func (c *Catalog) WALBatches(ctx context.Context, id meta.TopicID, partition int32, from int64) ([]meta.WALBatch, error) {
	var out []meta.WALBatch
	err := c.query(ctx, "WALBatches", fmt.Sprintf("read the WAL runs of %s-%d", id, partition), func(ctx context.Context) error {
		out = out[:0]
		rows, err := c.pool.Query(ctx, `SELECT `+walColumns+` FROM wal_batches WHERE topic_id = $1 AND partition = $2 AND next_offset > $3 ORDER BY base_offset`,
			id[:], partition, from)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var b meta.WALBatch
			var tid []byte
			if err := rows.Scan(&tid, &b.Partition, &b.LeaderEpoch, &b.BaseOffset, &b.NextOffset, &b.Object, &b.Position, &b.Size, &b.MaxTimestamp); err != nil {
				return err
			}
			copy(b.TopicID[:], tid)
			out = append(out, b)
		}
		return rows.Err()
	})
	return out, err
}

// TrimWAL forgets the runs wholly below an offset.
func (c *Catalog) TrimWAL(ctx context.Context, id meta.TopicID, partition int32, below int64) error {
	return c.call(ctx, "TrimWAL", fmt.Sprintf("trim the WAL runs of %s-%d", id, partition), func(ctx context.Context) error {
		return c.write(ctx, func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `DELETE FROM wal_batches WHERE topic_id = $1 AND partition = $2 AND next_offset <= $3`, id[:], partition, below)
			return err
		})
	})
}

// DeleteWAL forgets a partition's runs and end.
func (c *Catalog) DeleteWAL(ctx context.Context, id meta.TopicID, partition int32) error {
	return c.call(ctx, "DeleteWAL", fmt.Sprintf("delete the WAL of %s-%d", id, partition), func(ctx context.Context) error {
		return c.write(ctx, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `DELETE FROM wal_batches WHERE topic_id = $1 AND partition = $2`, id[:], partition); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `DELETE FROM wal_ends WHERE topic_id = $1 AND partition = $2`, id[:], partition)
			return err
		})
	})
}

// UnreferencedWALObjects lists objects no run names any more.
func (c *Catalog) UnreferencedWALObjects(ctx context.Context, olderThan time.Time) ([]string, error) {
	var out []string
	err := c.query(ctx, "UnreferencedWALObjects", "read unreferenced WAL objects", func(ctx context.Context) error {
		out = out[:0]
		rows, err := c.pool.Query(ctx, `SELECT key FROM wal_objects o WHERE committed < $1
			AND NOT EXISTS (SELECT 1 FROM wal_batches b WHERE b.object = o.key) ORDER BY key`, olderThan)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var k string
			if err := rows.Scan(&k); err != nil {
				return err
			}
			out = append(out, k)
		}
		return rows.Err()
	})
	return out, err
}

// ForgetWALObjects drops objects' records.
func (c *Catalog) ForgetWALObjects(ctx context.Context, objects []string) error {
	if len(objects) == 0 {
		return nil
	}
	return c.call(ctx, "ForgetWALObjects", fmt.Sprintf("forget %d WAL objects", len(objects)), func(ctx context.Context) error {
		return c.write(ctx, func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `DELETE FROM wal_objects o WHERE key = ANY($1)
				AND NOT EXISTS (SELECT 1 FROM wal_batches b WHERE b.object = o.key)`, objects)
			return err
		})
	})
}

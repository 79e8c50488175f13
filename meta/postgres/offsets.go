package postgres

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/streamhouse/streamhouse/meta"
)

// CommitOffsets stores offsets in one transaction, each replacing the commit
// of the same group, topic and partition. Concurrent calls share a
// transaction: the committer takes every call waiting when the previous
// transaction ends and writes them together (later calls' offsets replacing
// earlier ones'), so that one durable commit serves them all. One
// transaction is in flight at a time, so that commits of one partition are
// applied in the order of the calls.
func (c *Catalog) CommitOffsets(ctx context.Context, offsets []meta.GroupOffset) error {
	return c.call(ctx, "CommitOffsets", commitOp(offsets), func(ctx context.Context) error {
		if len(offsets) == 0 {
			return nil
		}
		return c.offsets.commit(ctx, offsets)
	})
}

// CommitOffsetsFenced stores offsets in a transaction of its own that
// first checks fence (its lease row locked FOR SHARE, so that a takeover
// waits for the commit or the commit sees the takeover). Every offset
// commit of a group in the cluster mode waits for it: BEGIN, the check and
// the offsets go in one round trip, COMMIT in a second (queueFence).
func (c *Catalog) CommitOffsetsFenced(ctx context.Context, f meta.Fence, offsets []meta.GroupOffset) error {
	now := c.now()
	return c.call(ctx, "CommitOffsetsFenced", commitOp(offsets), func(ctx context.Context) error {
		return c.writeBatch(ctx, func(b *pgx.Batch) {
			queueFence(b, f)
			queueUpsertOffsets(b, offsets, now)
		})
	})
}

// queueFence queues checkFence's query in a writeBatch: when the fence
// does not hold, the batch fails with meta.ErrFenced, and writeBatch rolls
// back what the statements queued after it did.
func queueFence(b *pgx.Batch, f meta.Fence) {
	b.Queue(fenceQuery, fenceArgs(f)...).QueryRow(func(row pgx.Row) error { return scanFence(row, f) })
}

// checkFence fails tx's write with meta.ErrFenced unless f's lease is its
// holder's, at its epoch, with the holder's session live by PostgreSQL's
// clock. The lease row is locked FOR SHARE: a takeover waits for tx, or tx
// sees it.
func checkFence(ctx context.Context, tx pgx.Tx, f meta.Fence) error {
	return scanFence(tx.QueryRow(ctx, fenceQuery, fenceArgs(f)...), f)
}

// scanFence reads fenceQuery's answer for f: meta.ErrFenced unless it
// holds.
func scanFence(row pgx.Row, f meta.Fence) error {
	var held bool
	if err := row.Scan(&held); err != nil {
		return err
	}
	if !held {
		return fenced(f)
	}
	return nil
}

// fenceQuery is true while a fence holds ($1-$6: fenceArgs).
const fenceQuery = `SELECT
	EXISTS (SELECT 1 FROM brokers b WHERE b.node_id = $1 AND b.epoch = $2 AND NOT b.ended AND b.expires > clock_timestamp())
	AND EXISTS (SELECT 1 FROM leases l WHERE l.kind = $3 AND l.topic_id = $4 AND l.partition = $5
		AND l.holder = $1 AND l.holder_epoch = $2 AND l.epoch = $6 FOR SHARE)`

func fenceArgs(f meta.Fence) []any {
	return []any{f.Node, f.SessionEpoch, int16(f.Key.Kind), f.Key.TopicID[:], f.Key.Partition, f.Epoch}
}

// fenced is the error of a write fenced by f.
func fenced(f meta.Fence) error {
	return fmt.Errorf("node %d at session %d, epoch %d %s: %w", f.Node, f.SessionEpoch, f.Epoch, f.Key, meta.ErrFenced)
}

// commitOp names a CommitOffsets call in its errors.
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

// commitReq is one CommitOffsets (or PutGroups) call waiting for the
// committer.
type commitReq struct {
	ctx context.Context
	// fence, when set, is checked in the transaction: the call's writes
	// are left out of it, and the call answered meta.ErrFenced, when it
	// does not hold.
	fence   *meta.Fence
	offsets []meta.GroupOffset
	groups  []meta.GroupMetadata
	shares  []meta.ShareState
	unshare []meta.SharePartitionKey
	done    chan error
}

// committer groups concurrent CommitOffsets, PutGroups and PutShareStates
// calls into one transaction.
type committer struct {
	c    *Catalog
	reqs chan *commitReq
}

func newCommitter(c *Catalog) *committer {
	return &committer{c: c, reqs: make(chan *commitReq, 1024)}
}

// commit hands offsets to the committer and waits for its transaction. The
// wait ends with ctx too; the offsets may then still be written.
func (m *committer) commit(ctx context.Context, offsets []meta.GroupOffset) error {
	return m.submit(ctx, &commitReq{ctx: ctx, offsets: offsets, done: make(chan error, 1)})
}

// submit hands r to the committer and waits for its transaction.
func (m *committer) submit(ctx context.Context, r *commitReq) error {
	select {
	case m.reqs <- r:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-r.done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("%w: %w", meta.ErrOutcomeUnknown, ctx.Err())
	}
}

// maxGroup bounds the calls one transaction takes.
const maxGroup = 512

// run writes the waiting calls, a transaction at a time, until the catalog
// closes. Close waits for every call in flight before it stops run, so no
// call is left unanswered.
func (m *committer) run() {
	defer m.c.bg.Done()
	for {
		var batch []*commitReq
		select {
		case r := <-m.reqs:
			batch = append(batch, r)
		case <-m.c.stop:
			return
		}
	more:
		for len(batch) < maxGroup {
			select {
			case r := <-m.reqs:
				batch = append(batch, r)
			default:
				break more
			}
		}
		m.write(batch)
	}
}

// write commits one group of calls and answers each. A call whose context
// ended before the group's transaction began is answered with its
// context's error and not written.
func (m *committer) write(batch []*commitReq) {
	live := batch[:0:0]
	for _, r := range batch {
		if err := r.ctx.Err(); err != nil {
			r.done <- err
			continue
		}
		live = append(live, r)
	}
	if len(live) == 0 {
		return
	}
	// The transaction runs on behalf of every call in it: bounded by the
	// latest deadline among them, never by one caller's cancellation.
	ctx, cancel := groupContext(live)
	defer cancel()
	now := m.c.now()
	var fences []meta.Fence
	seen := map[meta.Fence]bool{}
	for _, r := range live {
		if r.fence != nil && !seen[*r.fence] {
			seen[*r.fence] = true
			fences = append(fences, *r.fence)
		}
	}
	if len(fences) == 0 {
		err := m.c.writeBatch(ctx, func(b *pgx.Batch) { queueCommits(b, live, nil, now) })
		for _, r := range live {
			r.done <- err
		}
		return
	}
	// Fenced calls: every fence's check (locking its lease row FOR
	// SHARE, as checkFence does) goes with every call's writes in one
	// round trip, COMMIT in a second, on the bet that the fences hold, as
	// they do but while a shard moves. When one does not, that
	// transaction is rolled back, and another checks the fences in one
	// round trip and writes the calls whose fence held in a second.
	err := m.c.writeBatch(ctx, func(b *pgx.Batch) {
		for _, f := range fences {
			queueFence(b, f)
		}
		queueCommits(b, live, nil, now)
	})
	if !errors.Is(err, meta.ErrFenced) {
		for _, r := range live {
			r.done <- err
		}
		return
	}
	var lost map[meta.Fence]bool
	err = m.c.write(ctx, func(tx pgx.Tx) error {
		lost = map[meta.Fence]bool{}
		b := &pgx.Batch{}
		for _, f := range fences {
			b.Queue(fenceQuery, fenceArgs(f)...).QueryRow(func(row pgx.Row) error {
				err := scanFence(row, f)
				if errors.Is(err, meta.ErrFenced) {
					lost[f], err = true, nil
				}
				return err
			})
		}
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return err
		}
		b = &pgx.Batch{}
		queueCommits(b, live, lost, now)
		if b.Len() == 0 {
			return nil
		}
		return tx.SendBatch(ctx, b).Close()
	})
	for _, r := range live {
		if err == nil && r.fence != nil && lost[*r.fence] {
			r.done <- fenced(*r.fence)
			continue
		}
		r.done <- err
	}
}

// queueCommits queues the writes of the calls in reqs but those whose
// fence is lost.
func queueCommits(b *pgx.Batch, reqs []*commitReq, lost map[meta.Fence]bool, now time.Time) {
	var all []meta.GroupOffset
	var groups []meta.GroupMetadata
	var shares []meta.ShareState
	var unshare []meta.SharePartitionKey
	for _, r := range reqs {
		if r.fence != nil && lost[*r.fence] {
			continue
		}
		all = append(all, r.offsets...)
		groups = append(groups, r.groups...)
		shares = append(shares, r.shares...)
		unshare = append(unshare, r.unshare...)
	}
	queueUpsertOffsets(b, all, now)
	queuePutGroups(b, groups, now)
	queuePutShareStates(b, shares, unshare, now)
}

// groupContext is a context for a group of calls: not cancelled with any
// one of them, with the latest of their deadlines (30 s when one has none).
func groupContext(reqs []*commitReq) (context.Context, context.CancelFunc) {
	var latest time.Time
	for _, r := range reqs {
		d, ok := r.ctx.Deadline()
		if !ok {
			d = time.Now().Add(30 * time.Second)
		}
		if d.After(latest) {
			latest = d
		}
	}
	return context.WithDeadline(context.Background(), latest)
}

// upsertOffsets writes offsets in tx, stamping those without a CommitTime
// with now, in one statement. PostgreSQL refuses an upsert that names one
// row twice ("cannot affect row a second time"), so later offsets of a
// partition replace earlier ones first; and rows are written in key order,
// so that two transactions upserting overlapping rows lock them in the same
// order and cannot deadlock.
func upsertOffsets(ctx context.Context, tx pgx.Tx, offsets []meta.GroupOffset, now time.Time) error {
	if len(offsets) == 0 {
		return nil
	}
	b := &pgx.Batch{}
	queueUpsertOffsets(b, offsets, now)
	return tx.SendBatch(ctx, b).Close()
}

// queueUpsertOffsets queues upsertOffsets' statement in b.
func queueUpsertOffsets(b *pgx.Batch, offsets []meta.GroupOffset, now time.Time) {
	if len(offsets) == 0 {
		return
	}
	type key struct {
		group, topic string
		partition    int32
	}
	last := make(map[key]int, len(offsets))
	for i, o := range offsets {
		last[key{o.Group, o.Topic, o.Partition}] = i
	}
	rows := make([]meta.GroupOffset, 0, len(last))
	for i, o := range offsets {
		if last[key{o.Group, o.Topic, o.Partition}] == i {
			if o.CommitTime.IsZero() {
				o.CommitTime = now
			}
			rows = append(rows, o)
		}
	}
	slices.SortFunc(rows, func(a, b meta.GroupOffset) int {
		return cmp.Or(strings.Compare(a.Group, b.Group), strings.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition))
	})
	n := len(rows)
	groups, topics, metas := make([]string, n), make([]string, n), make([]string, n)
	parts, epochs := make([]int32, n), make([]int32, n)
	offs, times := make([]int64, n), make([]int64, n)
	for i, o := range rows {
		groups[i], topics[i], parts[i] = o.Group, o.Topic, o.Partition
		offs[i], epochs[i], metas[i], times[i] = o.Offset, o.LeaderEpoch, o.Metadata, o.CommitTime.UnixMilli()
	}
	b.Queue(`
		INSERT INTO group_offsets (group_id, topic, partition, "offset", leader_epoch, metadata, commit_ms)
		SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::bigint[], $5::int[], $6::text[], $7::bigint[])
		ORDER BY 1, 2, 3
		ON CONFLICT (group_id, topic, partition) DO UPDATE SET
			"offset" = excluded."offset",
			leader_epoch = excluded.leader_epoch,
			metadata = excluded.metadata,
			commit_ms = excluded.commit_ms`,
		groups, topics, parts, offs, epochs, metas, times)
}

// GroupOffsets returns the group's offsets ordered by topic, bytewise
// (COLLATE "C"), and partition.
func (c *Catalog) GroupOffsets(ctx context.Context, group string) ([]meta.GroupOffset, error) {
	var out []meta.GroupOffset
	err := c.query(ctx, "GroupOffsets", fmt.Sprintf("read offsets of group %q", group), func(ctx context.Context) error {
		out = nil
		rows, err := c.pool.Query(ctx, `
			SELECT topic, partition, "offset", leader_epoch, metadata, commit_ms
			FROM group_offsets WHERE group_id = $1 ORDER BY topic, partition`, group)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			o := meta.GroupOffset{Group: group}
			var ms int64
			if err := rows.Scan(&o.Topic, &o.Partition, &o.Offset, &o.LeaderEpoch, &o.Metadata, &ms); err != nil {
				return err
			}
			o.CommitTime = time.UnixMilli(ms).UTC()
			out = append(out, o)
		}
		return rows.Err()
	})
	return out, err
}

// OffsetGroups returns the groups that have offsets, ordered bytewise, with
// a loose index scan (one index probe per group, not a read of every row).
func (c *Catalog) OffsetGroups(ctx context.Context) ([]string, error) {
	var out []string
	err := c.query(ctx, "OffsetGroups", "list groups with offsets", func(ctx context.Context) error {
		out = nil
		rows, err := c.pool.Query(ctx, `
			WITH RECURSIVE g (id) AS (
				(SELECT group_id FROM group_offsets ORDER BY group_id LIMIT 1)
				UNION ALL
				SELECT (SELECT group_id FROM group_offsets WHERE group_id > g.id ORDER BY group_id LIMIT 1)
				FROM g WHERE g.id IS NOT NULL
			)
			SELECT id FROM g WHERE id IS NOT NULL`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var g string
			if err := rows.Scan(&g); err != nil {
				return err
			}
			out = append(out, g)
		}
		return rows.Err()
	})
	return out, err
}

// DeleteOffsets removes the group's offsets of parts.
func (c *Catalog) DeleteOffsets(ctx context.Context, group string, parts []meta.TopicPartition) error {
	return c.deleteOffsets(ctx, "DeleteOffsets", nil, group, parts)
}

// DeleteOffsetsFenced is DeleteOffsets after checking fence in the same
// transaction.
func (c *Catalog) DeleteOffsetsFenced(ctx context.Context, f meta.Fence, group string, parts []meta.TopicPartition) error {
	return c.deleteOffsets(ctx, "DeleteOffsetsFenced", &f, group, parts)
}

func (c *Catalog) deleteOffsets(ctx context.Context, method string, f *meta.Fence, group string, parts []meta.TopicPartition) error {
	return c.call(ctx, method, fmt.Sprintf("delete %d offsets of group %q", len(parts), group), func(ctx context.Context) error {
		if len(parts) == 0 {
			return nil
		}
		topics, ps := make([]string, len(parts)), make([]int32, len(parts))
		for i, p := range parts {
			topics[i], ps[i] = p.Topic, p.Partition
		}
		return c.write(ctx, func(tx pgx.Tx) error {
			if f != nil {
				if err := checkFence(ctx, tx, *f); err != nil {
					return err
				}
			}
			_, err := tx.Exec(ctx, `DELETE FROM group_offsets AS o USING unnest($2::text[], $3::int[]) AS d (topic, partition)
				WHERE o.group_id = $1 AND o.topic = d.topic AND o.partition = d.partition`, group, topics, ps)
			return err
		})
	})
}

// DeleteGroupOffsets removes every offset of the group.
func (c *Catalog) DeleteGroupOffsets(ctx context.Context, group string) error {
	return c.deleteGroupOffsets(ctx, "DeleteGroupOffsets", nil, group)
}

// DeleteGroupOffsetsFenced is DeleteGroupOffsets after checking fence in
// the same transaction.
func (c *Catalog) DeleteGroupOffsetsFenced(ctx context.Context, f meta.Fence, group string) error {
	return c.deleteGroupOffsets(ctx, "DeleteGroupOffsetsFenced", &f, group)
}

func (c *Catalog) deleteGroupOffsets(ctx context.Context, method string, f *meta.Fence, group string) error {
	return c.call(ctx, method, fmt.Sprintf("delete offsets of group %q", group), func(ctx context.Context) error {
		return c.write(ctx, func(tx pgx.Tx) error {
			if f != nil {
				if err := checkFence(ctx, tx, *f); err != nil {
					return err
				}
			}
			_, err := tx.Exec(ctx, `DELETE FROM group_offsets WHERE group_id = $1`, group)
			return err
		})
	})
}

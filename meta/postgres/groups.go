package postgres

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/streamhouse/streamhouse/meta"
)

// PutGroups stores each group's metadata in one transaction, a later one of
// a group replacing an earlier one. It goes through the offsets' committer:
// concurrent PutGroups and CommitOffsets calls share one transaction.
func (c *Catalog) PutGroups(ctx context.Context, groups []meta.GroupMetadata) error {
	return c.call(ctx, "PutGroups", groupsOp("store", len(groups)), func(ctx context.Context) error {
		if len(groups) == 0 {
			return nil
		}
		return c.offsets.submit(ctx, &commitReq{ctx: ctx, groups: groups, done: make(chan error, 1)})
	})
}

// PutGroupsFenced is PutGroups by the holder of fence. It goes through the
// committer too: the shared transaction checks each call's fence and
// writes only the calls whose fence holds, so one deposed call never fails
// the others.
func (c *Catalog) PutGroupsFenced(ctx context.Context, f meta.Fence, groups []meta.GroupMetadata) error {
	return c.call(ctx, "PutGroupsFenced", groupsOp("store", len(groups)), func(ctx context.Context) error {
		if len(groups) == 0 {
			return nil
		}
		return c.offsets.submit(ctx, &commitReq{ctx: ctx, fence: &f, groups: groups, done: make(chan error, 1)})
	})
}

func groupsOp(verb string, n int) string {
	if n == 1 {
		return verb + " a group's metadata"
	}
	return fmt.Sprintf("%s %d groups' metadata", verb, n)
}

// queuePutGroups queues one upsert of groups in b, stamping a zero
// UpdateTime with now: the last of each group only (PostgreSQL refuses an
// upsert that names a row twice), in key order, so that two transactions
// lock rows in the same order.
func queuePutGroups(b *pgx.Batch, groups []meta.GroupMetadata, now time.Time) {
	if len(groups) == 0 {
		return
	}
	last := make(map[string]int, len(groups))
	for i, g := range groups {
		last[g.Group] = i
	}
	rows := make([]meta.GroupMetadata, 0, len(last))
	for i, g := range groups {
		if last[g.Group] == i {
			if g.UpdateTime.IsZero() {
				g.UpdateTime = now
			}
			g.UpdateTime = g.UpdateTime.Truncate(time.Millisecond).UTC()
			rows = append(rows, g)
		}
	}
	slices.SortFunc(rows, func(a, b meta.GroupMetadata) int { return cmp.Compare(a.Group, b.Group) })
	n := len(rows)
	names, types, states, times := make([]string, n), make([]string, n), make([]string, n), make([]int64, n)
	for i, g := range rows {
		state, _ := json.Marshal(g) // plain data: cannot fail
		names[i], types[i], states[i], times[i] = g.Group, g.Type, string(state), g.UpdateTime.UnixMilli()
	}
	b.Queue(`
		INSERT INTO group_metadata (group_id, type, state, updated_ms)
		SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[])
		ORDER BY 1
		ON CONFLICT (group_id) DO UPDATE SET
			type = excluded.type,
			state = excluded.state,
			updated_ms = excluded.updated_ms`,
		names, types, states, times)
}

// Groups returns every stored group's metadata, ordered bytewise by group
// (COLLATE "C").
func (c *Catalog) Groups(ctx context.Context) ([]meta.GroupMetadata, error) {
	var out []meta.GroupMetadata
	err := c.query(ctx, "Groups", "read groups' metadata", func(ctx context.Context) error {
		var err error
		out, err = scanGroups(ctx, c.pool)
		return err
	})
	return out, err
}

// queryer is a pool or a transaction.
type queryer interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

func scanGroups(ctx context.Context, q queryer) ([]meta.GroupMetadata, error) {
	rows, err := q.Query(ctx, `SELECT group_id, type, state, updated_ms FROM group_metadata ORDER BY group_id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []meta.GroupMetadata
	for rows.Next() {
		var name, typ, state string
		var ms int64
		if err := rows.Scan(&name, &typ, &state, &ms); err != nil {
			return nil, err
		}
		var g meta.GroupMetadata
		if err := json.Unmarshal([]byte(state), &g); err != nil {
			return nil, fmt.Errorf("group %q: %w", name, err)
		}
		g.Group, g.Type, g.UpdateTime = name, typ, time.UnixMilli(ms).UTC()
		out = append(out, g)
	}
	return out, rows.Err()
}

// DeleteGroups removes the metadata of groups.
func (c *Catalog) DeleteGroups(ctx context.Context, groups []string) error {
	return c.deleteGroups(ctx, "DeleteGroups", nil, groups)
}

// DeleteGroupsFenced is DeleteGroups after checking fence in the same
// transaction.
func (c *Catalog) DeleteGroupsFenced(ctx context.Context, f meta.Fence, groups []string) error {
	return c.deleteGroups(ctx, "DeleteGroupsFenced", &f, groups)
}

func (c *Catalog) deleteGroups(ctx context.Context, method string, f *meta.Fence, groups []string) error {
	return c.call(ctx, method, groupsOp("delete", len(groups)), func(ctx context.Context) error {
		if len(groups) == 0 {
			return nil
		}
		names := slices.Clone(groups)
		slices.SortFunc(names, strings.Compare)
		return c.write(ctx, func(tx pgx.Tx) error {
			if f != nil {
				if err := checkFence(ctx, tx, *f); err != nil {
					return err
				}
			}
			_, err := tx.Exec(ctx, `DELETE FROM group_metadata WHERE group_id = ANY($1::text[])`, names)
			return err
		})
	})
}

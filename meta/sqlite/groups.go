package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/streamhouse/streamhouse/meta"
)

// PutGroups stores each group's metadata in one write transaction, a later
// one of a group replacing an earlier one.
func (c *Catalog) PutGroups(ctx context.Context, groups []meta.GroupMetadata) error {
	return c.putGroups(ctx, nil, groups)
}

// PutGroupsFenced is PutGroups after checking fence in the same write
// transaction.
func (c *Catalog) PutGroupsFenced(ctx context.Context, f meta.Fence, groups []meta.GroupMetadata) error {
	return c.putGroups(ctx, &f, groups)
}

func (c *Catalog) putGroups(ctx context.Context, f *meta.Fence, groups []meta.GroupMetadata) error {
	op := groupsOp("store", len(groups))
	if err := c.enter(ctx); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	defer c.mu.RUnlock()
	if len(groups) == 0 {
		return nil
	}
	now := c.now()
	err := c.write(ctx, func(tx *sql.Tx) error {
		if f != nil {
			if err := checkFence(ctx, tx, *f, now); err != nil {
				return err
			}
		}
		return putGroups(ctx, tx, groups, now)
	})
	if err != nil {
		return wrap(ctx, op, err)
	}
	return nil
}

func groupsOp(verb string, n int) string {
	if n == 1 {
		return verb + " a group's metadata"
	}
	return fmt.Sprintf("%s %d groups' metadata", verb, n)
}

// putGroups upserts groups in tx, stamping a zero UpdateTime with now.
func putGroups(ctx context.Context, tx *sql.Tx, groups []meta.GroupMetadata, now time.Time) error {
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO group_metadata (group_id, type, state, updated_ms) VALUES (?, ?, ?, ?)
		ON CONFLICT (group_id) DO UPDATE SET type = excluded.type, state = excluded.state, updated_ms = excluded.updated_ms`)
	if err != nil {
		return err
	}
	defer func() { _ = stmt.Close() }() // closed with the transaction anyway
	for _, g := range groups {
		if g.UpdateTime.IsZero() {
			g.UpdateTime = now
		}
		g.UpdateTime = g.UpdateTime.Truncate(time.Millisecond).UTC()
		state, err := json.Marshal(g)
		if err != nil {
			return fmt.Errorf("group %q: %w", g.Group, err)
		}
		if _, err := stmt.ExecContext(ctx, g.Group, g.Type, string(state), g.UpdateTime.UnixMilli()); err != nil {
			return fmt.Errorf("group %q: %w", g.Group, err)
		}
	}
	return nil
}

// Groups returns every stored group's metadata, by group.
func (c *Catalog) Groups(ctx context.Context) ([]meta.GroupMetadata, error) {
	const op = "read groups' metadata"
	if err := c.enter(ctx); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	defer c.mu.RUnlock()
	out, err := scanGroups(ctx, c.r)
	if err != nil {
		return nil, wrap(ctx, op, err)
	}
	return out, nil
}

func scanGroups(ctx context.Context, q querier) ([]meta.GroupMetadata, error) {
	var out []meta.GroupMetadata
	err := each(ctx, q, `SELECT group_id, type, state, updated_ms FROM group_metadata ORDER BY group_id`, func(rows *sql.Rows) error {
		var name, typ, state string
		var ms int64
		if err := rows.Scan(&name, &typ, &state, &ms); err != nil {
			return err
		}
		var g meta.GroupMetadata
		if err := json.Unmarshal([]byte(state), &g); err != nil {
			return fmt.Errorf("group %q: %w", name, err)
		}
		g.Group, g.Type, g.UpdateTime = name, typ, time.UnixMilli(ms).UTC()
		out = append(out, g)
		return nil
	})
	return out, err
}

// DeleteGroups removes the metadata of groups.
func (c *Catalog) DeleteGroups(ctx context.Context, groups []string) error {
	return c.deleteGroups(ctx, nil, groups)
}

// DeleteGroupsFenced is DeleteGroups after checking fence in the same
// write transaction.
func (c *Catalog) DeleteGroupsFenced(ctx context.Context, f meta.Fence, groups []string) error {
	return c.deleteGroups(ctx, &f, groups)
}

func (c *Catalog) deleteGroups(ctx context.Context, f *meta.Fence, groups []string) error {
	op := groupsOp("delete", len(groups))
	if err := c.enter(ctx); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	defer c.mu.RUnlock()
	if len(groups) == 0 {
		return nil
	}
	now := c.now()
	err := c.write(ctx, func(tx *sql.Tx) error {
		if f != nil {
			if err := checkFence(ctx, tx, *f, now); err != nil {
				return err
			}
		}
		for _, g := range groups {
			if _, err := tx.ExecContext(ctx, `DELETE FROM group_metadata WHERE group_id = ?`, g); err != nil {
				return fmt.Errorf("group %q: %w", g, err)
			}
		}
		return nil
	})
	if err != nil {
		return wrap(ctx, op, err)
	}
	return nil
}

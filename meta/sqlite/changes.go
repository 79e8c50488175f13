package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/streamhouse/streamhouse/meta"
)

// keepChanges is how many changes the feed keeps. A follower more than this
// many changes behind reads everything again (meta.ErrChangesPruned); one
// broker follows its own catalog, so it is never far behind.
const keepChanges = 10000

// recordChange appends a change to the feed in tx, the transaction that
// makes it, and prunes the feed now and then. The caller signals the
// waiters (c.changed) once tx commits.
func recordChange(ctx context.Context, tx *sql.Tx, kind meta.ChangeKind, key string) error {
	var seq int64
	if err := tx.QueryRowContext(ctx,
		`INSERT INTO changes (seq, kind, key) VALUES ((SELECT coalesce(max(seq), 0) + 1 FROM changes), ?, ?) RETURNING seq`,
		string(kind), key).Scan(&seq); err != nil {
		return fmt.Errorf("record change: %w", err)
	}
	if seq%1000 == 0 {
		if _, err := tx.ExecContext(ctx, `DELETE FROM changes WHERE seq <= ?`, seq-keepChanges); err != nil {
			return fmt.Errorf("prune changes: %w", err)
		}
	}
	return nil
}

// Changes returns up to limit changes committed after seq after.
func (c *Catalog) Changes(ctx context.Context, after int64, limit int) ([]meta.Change, error) {
	op := fmt.Sprintf("read changes after %d", after)
	if err := c.enter(ctx); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	defer c.mu.RUnlock()
	if limit <= 0 {
		return nil, nil
	}
	// One statement, one snapshot: the oldest kept seq and the changes
	// agree.
	rows, err := c.r.QueryContext(ctx, `
		SELECT seq, kind, key, (SELECT min(seq) FROM changes) FROM changes
		WHERE seq > ? ORDER BY seq LIMIT ?`, after, limit)
	if err != nil {
		return nil, wrap(ctx, op, err)
	}
	defer func() { _ = rows.Close() }() // a read-only statement; Err reports what matters
	var out []meta.Change
	var oldest int64
	for rows.Next() {
		var ch meta.Change
		var kind string
		if err := rows.Scan(&ch.Seq, &kind, &ch.Key, &oldest); err != nil {
			return nil, wrap(ctx, op, err)
		}
		ch.Kind = meta.ChangeKind(kind)
		out = append(out, ch)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(ctx, op, err)
	}
	if len(out) > 0 && oldest > after+1 {
		return nil, fmt.Errorf("%s: the oldest kept is %d: %w", op, oldest, meta.ErrChangesPruned)
	}
	return out, nil
}

// LastChange returns the seq of the latest change, 0 for none.
func (c *Catalog) LastChange(ctx context.Context) (int64, error) {
	const op = "read the last change"
	if err := c.enter(ctx); err != nil {
		return 0, fmt.Errorf("%s: %w", op, err)
	}
	defer c.mu.RUnlock()
	var seq int64
	if err := c.r.QueryRowContext(ctx, `SELECT coalesce(max(seq), 0) FROM changes`).Scan(&seq); err != nil {
		return 0, wrap(ctx, op, err)
	}
	return seq, nil
}

// pollChanges is how often WaitChange reads the feed's last seq while it
// waits: a commit through another catalog on the same file (another
// process) wakes no one here. A read of the seq is one index lookup.
const pollChanges = 250 * time.Millisecond

// WaitChange returns once a change after seq after is committed, ctx is
// done, or a second passed. This catalog's own commits wake it at once;
// another process's are seen within pollChanges.
func (c *Catalog) WaitChange(ctx context.Context, after int64) {
	deadline := time.Now().Add(time.Second)
	t := time.NewTimer(0)
	defer t.Stop()
	<-t.C
	for {
		c.changedMu.Lock()
		ch := c.changed
		c.changedMu.Unlock()
		if seq, err := c.LastChange(ctx); err != nil || seq > after {
			return
		}
		wait := min(pollChanges, time.Until(deadline))
		if wait <= 0 {
			return
		}
		t.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-ch:
			return
		case <-t.C:
		}
	}
}

// signalChange wakes every WaitChange; called after a commit that recorded a
// change.
func (c *Catalog) signalChange() {
	c.changedMu.Lock()
	close(c.changed)
	c.changed = make(chan struct{})
	c.changedMu.Unlock()
}

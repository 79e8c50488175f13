package postgres

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/streamhouse/streamhouse/meta"
)

// keepChanges is how many changes the feed keeps; a follower further behind
// reads everything again (meta.ErrChangesPruned).
const keepChanges = 10000

// recordChange records a change in tx, the transaction that makes it: it
// bumps the counter row (which every change transaction updates, so they
// commit one after another in its order, and the feed has no gaps),
// appends the change, prunes now and then, and NOTIFYs channel, which
// PostgreSQL delivers at commit.
func recordChange(ctx context.Context, tx pgx.Tx, channel string, kind meta.ChangeKind, key string) error {
	var seq int64
	if err := tx.QueryRow(ctx, `UPDATE change_seq SET seq = seq + 1 RETURNING seq`).Scan(&seq); err != nil {
		return fmt.Errorf("record change: %w", err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO changes (seq, kind, key) VALUES ($1, $2, $3)`, seq, string(kind), key); err != nil {
		return fmt.Errorf("record change: %w", err)
	}
	if seq%1000 == 0 {
		if _, err := tx.Exec(ctx, `DELETE FROM changes WHERE seq <= $1`, seq-keepChanges); err != nil {
			return fmt.Errorf("prune changes: %w", err)
		}
	}
	if _, err := tx.Exec(ctx, `SELECT pg_notify($1, $2)`, channel, fmt.Sprint(seq)); err != nil {
		return fmt.Errorf("notify change: %w", err)
	}
	return nil
}

// Changes returns up to limit changes committed after seq after.
func (c *Catalog) Changes(ctx context.Context, after int64, limit int) ([]meta.Change, error) {
	var out []meta.Change
	err := c.query(ctx, "Changes", fmt.Sprintf("read changes after %d", after), func(ctx context.Context) error {
		out = nil
		if limit <= 0 {
			return nil
		}
		rows, err := c.pool.Query(ctx, `
			SELECT seq, kind, key, (SELECT min(seq) FROM changes) FROM changes
			WHERE seq > $1 ORDER BY seq LIMIT $2`, after, limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		var oldest int64
		for rows.Next() {
			var ch meta.Change
			var kind string
			if err := rows.Scan(&ch.Seq, &kind, &ch.Key, &oldest); err != nil {
				return err
			}
			ch.Kind = meta.ChangeKind(kind)
			out = append(out, ch)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		if len(out) > 0 && oldest > after+1 {
			out = nil
			return fmt.Errorf("the oldest kept is %d: %w", oldest, meta.ErrChangesPruned)
		}
		return nil
	})
	return out, err
}

// LastChange returns the seq of the latest committed change, 0 for none.
func (c *Catalog) LastChange(ctx context.Context) (int64, error) {
	var seq int64
	err := c.query(ctx, "LastChange", "read the last change", func(ctx context.Context) error {
		return c.pool.QueryRow(ctx, `SELECT seq FROM change_seq`).Scan(&seq)
	})
	return seq, err
}

// WaitChange returns once a change after seq after may be committed (a
// NOTIFY arrived), ctx is done, or a second passed.
func (c *Catalog) WaitChange(ctx context.Context, after int64) {
	wake := c.feed.wakeup()
	if seq, err := c.LastChange(ctx); err != nil || seq > after {
		return
	}
	t := time.NewTimer(time.Second)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-wake:
	case <-t.C:
	}
}

// listener holds a connection of its own that LISTENs on the feed's channel
// and wakes WaitChange at each notification. It reconnects with backoff when
// the connection is lost; meanwhile WaitChange polls once a second.
type listener struct {
	c *Catalog

	mu   sync.Mutex    // guards wake
	wake chan struct{} // closed and replaced at each notification
}

func newListener(c *Catalog) *listener {
	return &listener{c: c, wake: make(chan struct{})}
}

// wakeup returns the channel the next notification closes.
func (l *listener) wakeup() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.wake
}

func (l *listener) signal() {
	l.mu.Lock()
	close(l.wake)
	l.wake = make(chan struct{})
	l.mu.Unlock()
}

// run listens until the catalog closes.
func (l *listener) run() {
	defer l.c.bg.Done()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-l.c.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := l.listen(ctx)
		if ctx.Err() != nil {
			return
		}
		l.c.log.Debug("the catalog's change listener lost its connection; reconnecting", "err", err)
		// Whatever was notified while it was down: wake the waiters
		// so they read the feed.
		l.signal()
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// listen connects, LISTENs and signals each notification until the
// connection fails or ctx ends.
func (l *listener) listen(ctx context.Context) error {
	conn, err := pgx.ConnectConfig(ctx, l.c.connCfg)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN "+quoteIdent(l.c.channel)); err != nil {
		return err
	}
	l.signal() // changes committed before LISTEN took effect
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			return err
		}
		l.signal()
	}
}

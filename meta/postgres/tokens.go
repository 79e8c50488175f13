package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/streamhouse/streamhouse/meta"
)

const tokenColumns = `id, owner, requester, renewers, issue_time, expiry_time, max_time`

// CreateDelegationToken stores a new token.
func (c *Catalog) CreateDelegationToken(ctx context.Context, t meta.DelegationToken) error {
	renewers := t.Renewers
	if renewers == nil {
		renewers = []string{}
	}
	return c.call(ctx, "CreateDelegationToken", "create delegation token", func(ctx context.Context) error {
		return c.write(ctx, func(tx pgx.Tx) error {
			tag, err := tx.Exec(ctx, `INSERT INTO delegation_tokens (`+tokenColumns+`)
				VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING`,
				t.ID, t.Owner, t.Requester, renewers, t.IssueTime, t.ExpiryTime, t.MaxTime)
			if err != nil {
				return err
			}
			if tag.RowsAffected() == 0 {
				return fmt.Errorf("token %q exists: %w", t.ID, meta.ErrConflict)
			}
			return recordChange(ctx, tx, c.channel, meta.ChangeDelegationTokens, t.ID)
		})
	})
}

func scanToken(r pgx.Row) (meta.DelegationToken, error) {
	var t meta.DelegationToken
	if err := r.Scan(&t.ID, &t.Owner, &t.Requester, &t.Renewers, &t.IssueTime, &t.ExpiryTime, &t.MaxTime); err != nil {
		return t, err
	}
	if len(t.Renewers) == 0 {
		t.Renewers = nil
	}
	return t, nil
}

// DelegationToken returns one token.
func (c *Catalog) DelegationToken(ctx context.Context, id string) (meta.DelegationToken, bool, error) {
	var t meta.DelegationToken
	var found bool
	err := c.query(ctx, "DelegationToken", "read delegation token", func(ctx context.Context) error {
		var err error
		t, err = scanToken(c.pool.QueryRow(ctx, `SELECT `+tokenColumns+` FROM delegation_tokens WHERE id = $1`, id))
		if errors.Is(err, pgx.ErrNoRows) {
			found = false
			return nil
		}
		found = err == nil
		return err
	})
	if err != nil || !found {
		return meta.DelegationToken{}, false, err
	}
	return t, true, nil
}

// DelegationTokens returns every token, by ID.
func (c *Catalog) DelegationTokens(ctx context.Context) ([]meta.DelegationToken, error) {
	var out []meta.DelegationToken
	err := c.query(ctx, "DelegationTokens", "read delegation tokens", func(ctx context.Context) error {
		out = nil
		rows, err := c.pool.Query(ctx, `SELECT `+tokenColumns+` FROM delegation_tokens ORDER BY id`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			t, err := scanToken(rows)
			if err != nil {
				return err
			}
			out = append(out, t)
		}
		return rows.Err()
	})
	return out, err
}

// SetDelegationTokenExpiry changes an existing token's expiry.
func (c *Catalog) SetDelegationTokenExpiry(ctx context.Context, id string, expiry int64) (bool, error) {
	n, err := c.changeTokens(ctx, "SetDelegationTokenExpiry", "set delegation token expiry", id,
		`UPDATE delegation_tokens SET expiry_time = $1 WHERE id = $2`, expiry, id)
	return n > 0, err
}

// DeleteDelegationToken removes a token.
func (c *Catalog) DeleteDelegationToken(ctx context.Context, id string) (bool, error) {
	n, err := c.changeTokens(ctx, "DeleteDelegationToken", "delete delegation token", id,
		`DELETE FROM delegation_tokens WHERE id = $1`, id)
	return n > 0, err
}

// DeleteExpiredDelegationTokens removes the tokens past their expiry or
// maximum time.
func (c *Catalog) DeleteExpiredDelegationTokens(ctx context.Context, now int64) (int, error) {
	n, err := c.changeTokens(ctx, "DeleteExpiredDelegationTokens", "delete expired delegation tokens", "",
		`DELETE FROM delegation_tokens WHERE expiry_time < $1 OR max_time < $1`, now)
	return int(n), err
}

// changeTokens runs stmt and records a change keyed by key when it changed
// any token.
func (c *Catalog) changeTokens(ctx context.Context, method, op, key, stmt string, args ...any) (int64, error) {
	var n int64
	err := c.call(ctx, method, op, func(ctx context.Context) error {
		return c.write(ctx, func(tx pgx.Tx) error {
			tag, err := tx.Exec(ctx, stmt, args...)
			if err != nil {
				return err
			}
			n = tag.RowsAffected()
			if n == 0 {
				return nil
			}
			return recordChange(ctx, tx, c.channel, meta.ChangeDelegationTokens, key)
		})
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

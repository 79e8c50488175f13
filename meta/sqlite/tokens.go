package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/streamhouse/streamhouse/meta"
)

const tokenColumns = `id, owner, requester, renewers, issue_time, expiry_time, max_time`

// CreateDelegationToken stores a new token.
func (c *Catalog) CreateDelegationToken(ctx context.Context, t meta.DelegationToken) error {
	const op = "create delegation token"
	if err := c.enter(ctx); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	defer c.mu.RUnlock()
	renewers, err := json.Marshal(nonNil(t.Renewers))
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	err = c.change(ctx, meta.ChangeDelegationTokens, t.ID, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO delegation_tokens (`+tokenColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
			t.ID, t.Owner, t.Requester, string(renewers), t.IssueTime, t.ExpiryTime, t.MaxTime)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return fmt.Errorf("token %q exists: %w", t.ID, meta.ErrConflict)
		}
		return nil
	})
	if err != nil {
		return wrap(ctx, op, err)
	}
	return nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

type scanner interface{ Scan(dest ...any) error }

func scanToken(r scanner) (meta.DelegationToken, error) {
	var t meta.DelegationToken
	var renewers string
	if err := r.Scan(&t.ID, &t.Owner, &t.Requester, &renewers, &t.IssueTime, &t.ExpiryTime, &t.MaxTime); err != nil {
		return t, err
	}
	if err := json.Unmarshal([]byte(renewers), &t.Renewers); err != nil {
		return t, fmt.Errorf("token %q: renewers: %w", t.ID, err)
	}
	if len(t.Renewers) == 0 {
		t.Renewers = nil
	}
	return t, nil
}

// DelegationToken returns one token.
func (c *Catalog) DelegationToken(ctx context.Context, id string) (meta.DelegationToken, bool, error) {
	const op = "read delegation token"
	if err := c.enter(ctx); err != nil {
		return meta.DelegationToken{}, false, fmt.Errorf("%s: %w", op, err)
	}
	defer c.mu.RUnlock()
	t, err := scanToken(c.r.QueryRowContext(ctx, `SELECT `+tokenColumns+` FROM delegation_tokens WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return meta.DelegationToken{}, false, nil
	}
	if err != nil {
		return meta.DelegationToken{}, false, wrap(ctx, op, err)
	}
	return t, true, nil
}

// DelegationTokens returns every token, by ID.
func (c *Catalog) DelegationTokens(ctx context.Context) ([]meta.DelegationToken, error) {
	const op = "read delegation tokens"
	if err := c.enter(ctx); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	defer c.mu.RUnlock()
	rows, err := c.r.QueryContext(ctx, `SELECT `+tokenColumns+` FROM delegation_tokens ORDER BY id`)
	if err != nil {
		return nil, wrap(ctx, op, err)
	}
	defer rows.Close()
	var out []meta.DelegationToken
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, wrap(ctx, op, err)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(ctx, op, err)
	}
	return out, nil
}

// errNoToken rolls back a change that found no token to change.
var errNoToken = errors.New("no such token")

// SetDelegationTokenExpiry changes an existing token's expiry.
func (c *Catalog) SetDelegationTokenExpiry(ctx context.Context, id string, expiry int64) (bool, error) {
	return c.changeToken(ctx, "set delegation token expiry", id,
		`UPDATE delegation_tokens SET expiry_time = ? WHERE id = ?`, expiry, id)
}

// DeleteDelegationToken removes a token.
func (c *Catalog) DeleteDelegationToken(ctx context.Context, id string) (bool, error) {
	return c.changeToken(ctx, "delete delegation token", id, `DELETE FROM delegation_tokens WHERE id = ?`, id)
}

// changeToken runs stmt, which changes the token id or nothing; the change
// is recorded only when it changed the token.
func (c *Catalog) changeToken(ctx context.Context, op, id, stmt string, args ...any) (bool, error) {
	if err := c.enter(ctx); err != nil {
		return false, fmt.Errorf("%s: %w", op, err)
	}
	defer c.mu.RUnlock()
	err := c.change(ctx, meta.ChangeDelegationTokens, id, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, stmt, args...)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return errNoToken
		}
		return nil
	})
	if errors.Is(err, errNoToken) {
		return false, nil
	}
	if err != nil {
		return false, wrap(ctx, op, err)
	}
	return true, nil
}

// DeleteExpiredDelegationTokens removes the tokens past their expiry or
// maximum time.
func (c *Catalog) DeleteExpiredDelegationTokens(ctx context.Context, now int64) (int, error) {
	const op = "delete expired delegation tokens"
	if err := c.enter(ctx); err != nil {
		return 0, fmt.Errorf("%s: %w", op, err)
	}
	defer c.mu.RUnlock()
	var n int64
	err := c.change(ctx, meta.ChangeDelegationTokens, "", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM delegation_tokens WHERE expiry_time < ? OR max_time < ?`, now, now)
		if err != nil {
			return err
		}
		if n, err = res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return errNoToken
		}
		return nil
	})
	if errors.Is(err, errNoToken) {
		return 0, nil
	}
	if err != nil {
		return 0, wrap(ctx, op, err)
	}
	return int(n), nil
}

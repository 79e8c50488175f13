package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/streamhouse/streamhouse/meta"
)

// ScramCredential returns one user's credential for one mechanism.
func (c *Catalog) ScramCredential(ctx context.Context, user string, mechanism int8) (meta.ScramCredential, bool, error) {
	const op = "read scram credential"
	if err := c.enter(ctx); err != nil {
		return meta.ScramCredential{}, false, fmt.Errorf("%s: %w", op, err)
	}
	defer c.mu.RUnlock()
	cred := meta.ScramCredential{User: user, Mechanism: mechanism}
	err := c.r.QueryRowContext(ctx, `SELECT salt, stored_key, server_key, iterations FROM scram_credentials
		WHERE user_name = ? AND mechanism = ?`, user, mechanism).Scan(&cred.Salt, &cred.StoredKey, &cred.ServerKey, &cred.Iterations)
	if errors.Is(err, sql.ErrNoRows) {
		return meta.ScramCredential{}, false, nil
	}
	if err != nil {
		return meta.ScramCredential{}, false, wrap(ctx, op, err)
	}
	return cred, true, nil
}

// ScramCredentials returns every credential.
func (c *Catalog) ScramCredentials(ctx context.Context) ([]meta.ScramCredential, error) {
	const op = "read scram credentials"
	if err := c.enter(ctx); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	defer c.mu.RUnlock()
	rows, err := c.r.QueryContext(ctx, `SELECT user_name, mechanism, salt, stored_key, server_key, iterations
		FROM scram_credentials ORDER BY user_name, mechanism`)
	if err != nil {
		return nil, wrap(ctx, op, err)
	}
	defer rows.Close()
	var out []meta.ScramCredential
	for rows.Next() {
		var s meta.ScramCredential
		if err := rows.Scan(&s.User, &s.Mechanism, &s.Salt, &s.StoredKey, &s.ServerKey, &s.Iterations); err != nil {
			return nil, wrap(ctx, op, err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(ctx, op, err)
	}
	return out, nil
}

// AlterScramCredentials applies upserts and deletions in one transaction.
func (c *Catalog) AlterScramCredentials(ctx context.Context, upserts []meta.ScramCredential, deletions []meta.ScramUser) error {
	const op = "alter scram credentials"
	if err := c.enter(ctx); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	defer c.mu.RUnlock()
	err := c.change(ctx, meta.ChangeScramCredentials, "", func(tx *sql.Tx) error {
		for _, d := range deletions {
			if _, err := tx.ExecContext(ctx, `DELETE FROM scram_credentials WHERE user_name = ? AND mechanism = ?`, d.User, d.Mechanism); err != nil {
				return err
			}
		}
		for _, u := range upserts {
			if _, err := tx.ExecContext(ctx, `INSERT INTO scram_credentials (user_name, mechanism, salt, stored_key, server_key, iterations)
				VALUES (?, ?, ?, ?, ?, ?)
				ON CONFLICT (user_name, mechanism) DO UPDATE SET salt = excluded.salt, stored_key = excluded.stored_key,
					server_key = excluded.server_key, iterations = excluded.iterations`,
				u.User, u.Mechanism, u.Salt, u.StoredKey, u.ServerKey, u.Iterations); err != nil {
				return fmt.Errorf("user %q mechanism %d: %w", u.User, u.Mechanism, err)
			}
		}
		return nil
	})
	if err != nil {
		return wrap(ctx, op, err)
	}
	return nil
}

// ACLs returns every ACL binding.
func (c *Catalog) ACLs(ctx context.Context) ([]meta.ACL, error) {
	const op = "read acls"
	if err := c.enter(ctx); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	defer c.mu.RUnlock()
	rows, err := c.r.QueryContext(ctx, `SELECT resource_type, resource_name, pattern_type, principal, host, operation, permission
		FROM acls ORDER BY resource_type, resource_name, pattern_type, principal, host, operation, permission`)
	if err != nil {
		return nil, wrap(ctx, op, err)
	}
	defer rows.Close()
	var out []meta.ACL
	for rows.Next() {
		var a meta.ACL
		if err := rows.Scan(&a.ResourceType, &a.ResourceName, &a.PatternType, &a.Principal, &a.Host, &a.Operation, &a.Permission); err != nil {
			return nil, wrap(ctx, op, err)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(ctx, op, err)
	}
	return out, nil
}

// CreateACLs stores bindings; one stored already stays one.
func (c *Catalog) CreateACLs(ctx context.Context, acls []meta.ACL) error {
	return c.changeACLs(ctx, "create acls", `INSERT INTO acls (resource_type, resource_name, pattern_type, principal, host, operation, permission)
		VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`, acls)
}

// DeleteACLs removes bindings.
func (c *Catalog) DeleteACLs(ctx context.Context, acls []meta.ACL) error {
	return c.changeACLs(ctx, "delete acls", `DELETE FROM acls WHERE resource_type = ? AND resource_name = ? AND pattern_type = ?
		AND principal = ? AND host = ? AND operation = ? AND permission = ?`, acls)
}

func (c *Catalog) changeACLs(ctx context.Context, op, stmt string, acls []meta.ACL) error {
	if err := c.enter(ctx); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	defer c.mu.RUnlock()
	err := c.change(ctx, meta.ChangeACLs, "", func(tx *sql.Tx) error {
		st, err := tx.PrepareContext(ctx, stmt)
		if err != nil {
			return err
		}
		defer st.Close()
		for _, a := range acls {
			if _, err := st.ExecContext(ctx, a.ResourceType, a.ResourceName, a.PatternType, a.Principal, a.Host, a.Operation, a.Permission); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return wrap(ctx, op, err)
	}
	return nil
}

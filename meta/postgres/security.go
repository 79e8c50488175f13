package postgres

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/streamhouse/streamhouse/meta"
)

// ScramCredential returns one user's credential for one mechanism.
func (c *Catalog) ScramCredential(ctx context.Context, user string, mechanism int8) (meta.ScramCredential, bool, error) {
	cred := meta.ScramCredential{User: user, Mechanism: mechanism}
	var found bool
	err := c.query(ctx, "ScramCredential", "read scram credential", func(ctx context.Context) error {
		err := c.pool.QueryRow(ctx, `SELECT salt, stored_key, server_key, iterations FROM scram_credentials
			WHERE user_name = $1 AND mechanism = $2`, user, int16(mechanism)).Scan(&cred.Salt, &cred.StoredKey, &cred.ServerKey, &cred.Iterations)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		found = err == nil
		return err
	})
	if err != nil || !found {
		return meta.ScramCredential{}, false, err
	}
	return cred, true, nil
}

// ScramCredentials returns every credential, by user and mechanism.
func (c *Catalog) ScramCredentials(ctx context.Context) ([]meta.ScramCredential, error) {
	var out []meta.ScramCredential
	err := c.query(ctx, "ScramCredentials", "read scram credentials", func(ctx context.Context) error {
		out = nil
		rows, err := c.pool.Query(ctx, `SELECT user_name, mechanism, salt, stored_key, server_key, iterations
			FROM scram_credentials ORDER BY user_name, mechanism`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var s meta.ScramCredential
			var mech int16
			if err := rows.Scan(&s.User, &mech, &s.Salt, &s.StoredKey, &s.ServerKey, &s.Iterations); err != nil {
				return err
			}
			s.Mechanism = int8(mech)
			out = append(out, s)
		}
		return rows.Err()
	})
	return out, err
}

// AlterScramCredentials applies deletions, then upserts, in one
// transaction, in key order.
func (c *Catalog) AlterScramCredentials(ctx context.Context, upserts []meta.ScramCredential, deletions []meta.ScramUser) error {
	byKey := func(u1 string, m1 int8, u2 string, m2 int8) int {
		return cmp.Or(strings.Compare(u1, u2), cmp.Compare(m1, m2))
	}
	dels := slices.Clone(deletions)
	slices.SortFunc(dels, func(a, b meta.ScramUser) int { return byKey(a.User, a.Mechanism, b.User, b.Mechanism) })
	// The last upsert of a user and mechanism wins, as one at a time.
	ups := make([]meta.ScramCredential, 0, len(upserts))
	for i, u := range upserts {
		if !slices.ContainsFunc(upserts[i+1:], func(v meta.ScramCredential) bool { return v.User == u.User && v.Mechanism == u.Mechanism }) {
			ups = append(ups, u)
		}
	}
	slices.SortFunc(ups, func(a, b meta.ScramCredential) int { return byKey(a.User, a.Mechanism, b.User, b.Mechanism) })
	return c.call(ctx, "AlterScramCredentials", "alter scram credentials", func(ctx context.Context) error {
		return c.write(ctx, func(tx pgx.Tx) error {
			for _, d := range dels {
				if _, err := tx.Exec(ctx, `DELETE FROM scram_credentials WHERE user_name = $1 AND mechanism = $2`, d.User, int16(d.Mechanism)); err != nil {
					return err
				}
			}
			for _, u := range ups {
				if _, err := tx.Exec(ctx, `INSERT INTO scram_credentials (user_name, mechanism, salt, stored_key, server_key, iterations)
					VALUES ($1, $2, $3, $4, $5, $6)
					ON CONFLICT (user_name, mechanism) DO UPDATE SET salt = excluded.salt, stored_key = excluded.stored_key,
						server_key = excluded.server_key, iterations = excluded.iterations`,
					u.User, int16(u.Mechanism), u.Salt, u.StoredKey, u.ServerKey, u.Iterations); err != nil {
					return fmt.Errorf("user %q mechanism %d: %w", u.User, u.Mechanism, err)
				}
			}
			return recordChange(ctx, tx, c.channel, meta.ChangeScramCredentials, "")
		})
	})
}

// ACLs returns every binding, in key order.
func (c *Catalog) ACLs(ctx context.Context) ([]meta.ACL, error) {
	var out []meta.ACL
	err := c.query(ctx, "ACLs", "read acls", func(ctx context.Context) error {
		out = nil
		rows, err := c.pool.Query(ctx, `SELECT resource_type, resource_name, pattern_type, principal, host, operation, permission
			FROM acls ORDER BY resource_type, resource_name, pattern_type, principal, host, operation, permission`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var a meta.ACL
			var rt, pt, op, perm int16
			if err := rows.Scan(&rt, &a.ResourceName, &pt, &a.Principal, &a.Host, &op, &perm); err != nil {
				return err
			}
			a.ResourceType, a.PatternType, a.Operation, a.Permission = int8(rt), int8(pt), int8(op), int8(perm)
			out = append(out, a)
		}
		return rows.Err()
	})
	return out, err
}

// CreateACLs stores bindings; one stored already stays one.
func (c *Catalog) CreateACLs(ctx context.Context, acls []meta.ACL) error {
	return c.changeACLs(ctx, "CreateACLs", "create acls", `INSERT INTO acls (resource_type, resource_name, pattern_type, principal, host, operation, permission)
		SELECT * FROM unnest($1::smallint[], $2::text[], $3::smallint[], $4::text[], $5::text[], $6::smallint[], $7::smallint[])
		ORDER BY 1, 2, 3, 4, 5, 6, 7 ON CONFLICT DO NOTHING`, acls)
}

// DeleteACLs removes bindings.
func (c *Catalog) DeleteACLs(ctx context.Context, acls []meta.ACL) error {
	return c.changeACLs(ctx, "DeleteACLs", "delete acls", `DELETE FROM acls AS a
		USING unnest($1::smallint[], $2::text[], $3::smallint[], $4::text[], $5::text[], $6::smallint[], $7::smallint[])
			AS d (rt, rn, pt, pr, h, op, perm)
		WHERE a.resource_type = d.rt AND a.resource_name = d.rn AND a.pattern_type = d.pt AND a.principal = d.pr
			AND a.host = d.h AND a.operation = d.op AND a.permission = d.perm`, acls)
}

// changeACLs runs stmt over acls as columns, in one transaction recorded in
// the change feed.
func (c *Catalog) changeACLs(ctx context.Context, method, op, stmt string, acls []meta.ACL) error {
	n := len(acls)
	rt, pt, ops, perm := make([]int16, n), make([]int16, n), make([]int16, n), make([]int16, n)
	rn, pr, h := make([]string, n), make([]string, n), make([]string, n)
	for i, a := range acls {
		rt[i], rn[i], pt[i], pr[i], h[i], ops[i], perm[i] = int16(a.ResourceType), a.ResourceName, int16(a.PatternType), a.Principal, a.Host, int16(a.Operation), int16(a.Permission)
	}
	return c.call(ctx, method, op, func(ctx context.Context) error {
		return c.write(ctx, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, stmt, rt, rn, pt, pr, h, ops, perm); err != nil {
				return err
			}
			return recordChange(ctx, tx, c.channel, meta.ChangeACLs, "")
		})
	})
}

package postgres

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// ClusterID returns the cluster id, generating and storing one on first use.
// Brokers racing on first use all return the one that was stored.
func (c *Catalog) ClusterID(ctx context.Context) (string, error) {
	var id string
	err := c.query(ctx, "ClusterID", "read cluster id", func(ctx context.Context) error {
		err := c.pool.QueryRow(ctx, `SELECT cluster_id FROM cluster`).Scan(&id)
		if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		candidate, err := newClusterID()
		if err != nil {
			return fmt.Errorf("generate cluster id: %w", err)
		}
		var inserted bool
		err = c.write(ctx, func(tx pgx.Tx) error {
			tag, err := tx.Exec(ctx, `INSERT INTO cluster (singleton, cluster_id) VALUES (1, $1) ON CONFLICT DO NOTHING`, candidate)
			if err != nil {
				return err
			}
			inserted = tag.RowsAffected() > 0
			return tx.QueryRow(ctx, `SELECT cluster_id FROM cluster`).Scan(&id)
		})
		if err == nil && inserted {
			c.log.InfoContext(ctx, "generated cluster id", "cluster_id", id, "at", c.where, "schema", c.schema)
		}
		return err
	})
	return id, err
}

// newClusterID returns a random id in the form Kafka gives cluster ids: a
// version-4 UUID in URL-safe base64 without padding, never starting with
// '-'.
func newClusterID() (string, error) {
	for {
		var u [16]byte
		if _, err := rand.Read(u[:]); err != nil {
			return "", err
		}
		u[6] = u[6]&0x0f | 0x40
		u[8] = u[8]&0x3f | 0x80
		if s := base64.RawURLEncoding.EncodeToString(u[:]); s[0] != '-' {
			return s, nil
		}
	}
}

// AllocateProducerIDs reserves n producer ids in one statement: the row's
// update is atomic, so brokers allocating at once get disjoint ranges.
func (c *Catalog) AllocateProducerIDs(ctx context.Context, n int64) (int64, error) {
	const op = "allocate producer ids"
	if n <= 0 {
		return 0, fmt.Errorf("%s: %d is not a positive count", op, n)
	}
	var first int64
	err := c.call(ctx, "AllocateProducerIDs", op, func(ctx context.Context) error {
		return c.write(ctx, func(tx pgx.Tx) error {
			var next int64
			err := tx.QueryRow(ctx, `INSERT INTO producer_ids (singleton, next_id) VALUES (1, $1)
				ON CONFLICT (singleton) DO UPDATE SET next_id = producer_ids.next_id + excluded.next_id
				RETURNING next_id`, n).Scan(&next)
			var pe *pgconn.PgError
			if errors.As(err, &pe) && pe.Code == "22003" { // numeric value out of range
				return fmt.Errorf("producer ids exhausted")
			}
			first = next - n
			return err
		})
	})
	return first, err
}

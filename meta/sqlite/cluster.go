package sqlite

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
)

// ClusterID returns the cluster id, generating and storing one on first use.
func (c *Catalog) ClusterID(ctx context.Context) (string, error) {
	const op = "read cluster id"
	if err := c.enter(ctx); err != nil {
		return "", fmt.Errorf("%s: %w", op, err)
	}
	defer c.mu.RUnlock()

	var id string
	err := c.r.QueryRowContext(ctx, `SELECT cluster_id FROM cluster`).Scan(&id)
	if err == nil {
		return id, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return "", wrap(ctx, op, err)
	}

	// First use. Another caller, here or in another process, may be
	// generating one too: insert only if there is none yet, and return
	// whichever id the table holds once the insert is done.
	candidate, err := newClusterID()
	if err != nil {
		return "", fmt.Errorf("generate cluster id: %w", err)
	}
	var inserted int64
	err = c.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx,
			`INSERT INTO cluster (singleton, cluster_id) VALUES (1, ?) ON CONFLICT DO NOTHING`, candidate)
		if err != nil {
			return err
		}
		if inserted, err = res.RowsAffected(); err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, `SELECT cluster_id FROM cluster`).Scan(&id)
	})
	if err != nil {
		return "", wrap(ctx, "generate cluster id", err)
	}
	if inserted > 0 {
		c.log.InfoContext(ctx, "generated cluster id", "cluster_id", id, "path", c.path)
	}
	return id, nil
}

// newClusterID returns a random id in the form Kafka gives cluster ids
// (Uuid.randomUuid): a version-4 UUID in URL-safe base64 without padding, 22
// characters, never starting with '-' so that it cannot be taken for a flag
// on a command line.
func newClusterID() (string, error) {
	for {
		var u [16]byte
		if _, err := rand.Read(u[:]); err != nil {
			return "", err
		}
		u[6] = u[6]&0x0f | 0x40 // version 4
		u[8] = u[8]&0x3f | 0x80 // variant RFC 4122
		if s := base64.RawURLEncoding.EncodeToString(u[:]); s[0] != '-' {
			return s, nil
		}
	}
}

// AllocateProducerIDs reserves n producer ids in one write transaction.
func (c *Catalog) AllocateProducerIDs(ctx context.Context, n int64) (int64, error) {
	const op = "allocate producer ids"
	if n <= 0 {
		return 0, fmt.Errorf("%s: %d is not a positive count", op, n)
	}
	if err := c.enter(ctx); err != nil {
		return 0, fmt.Errorf("%s: %w", op, err)
	}
	defer c.mu.RUnlock()
	var first int64
	err := c.write(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `SELECT next_id FROM producer_ids`).Scan(&first)
		if errors.Is(err, sql.ErrNoRows) {
			first, err = 0, nil
		}
		if err != nil {
			return err
		}
		if first > math.MaxInt64-n {
			return fmt.Errorf("producer ids exhausted at %d", first)
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO producer_ids (singleton, next_id) VALUES (1, ?)
			ON CONFLICT (singleton) DO UPDATE SET next_id = excluded.next_id`, first+n)
		return err
	})
	if err != nil {
		return 0, wrap(ctx, op, err)
	}
	return first, nil
}

package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/streamhouse/streamhouse/meta"
)

// CreateTopic stores t and its configs at version 1. It stamps CreatedAt
// from the catalog's clock when t leaves it zero.
func (c *Catalog) CreateTopic(ctx context.Context, t meta.Topic) error {
	op := fmt.Sprintf("create topic %q", t.Name)
	if err := c.enter(ctx); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	defer c.mu.RUnlock()

	created := t.CreatedAt
	if created.IsZero() {
		created = c.now()
	}
	err := c.change(ctx, meta.ChangeTopic, t.ID.String(), func(tx *sql.Tx) error {
		// The writer holds the write lock from BEGIN, so nothing can
		// come between these checks and the insert. Checking rather
		// than decoding the constraint error tells name from ID apart
		// without parsing SQLite's messages.
		taken, err := exists(ctx, tx, `SELECT 1 FROM topics WHERE name = ?`, t.Name)
		if err != nil {
			return err
		}
		if taken {
			return meta.ErrTopicExists
		}
		taken, err = exists(ctx, tx, `SELECT 1 FROM topics WHERE id = ?`, t.ID[:])
		if err != nil {
			return err
		}
		if taken {
			return fmt.Errorf("id %x: %w", t.ID[:], meta.ErrTopicIDExists)
		}
		if _, err := tx.ExecContext(ctx,
			`INSERT INTO topics (name, id, partitions, created_at, version, replication_factor) VALUES (?, ?, ?, ?, 1, ?)`,
			t.Name, t.ID[:], t.Partitions, created.UnixMilli(), t.ReplicationFactor); err != nil {
			return err
		}
		return insertConfigs(ctx, tx, t.Name, t.Configs)
	})
	if err != nil {
		return wrap(ctx, op, err)
	}
	return nil
}

// topicAt returns the name of the topic with ID id, checking that it is at
// version: meta.ErrTopicNotFound when there is none, meta.ErrConflict when
// it is at another version.
func topicAt(ctx context.Context, tx *sql.Tx, id meta.TopicID, version int64) (string, error) {
	var name string
	var have int64
	err := tx.QueryRowContext(ctx, `SELECT name, version FROM topics WHERE id = ?`, id[:]).Scan(&name, &have)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return "", meta.ErrTopicNotFound
	case err != nil:
		return "", err
	case have != version:
		return "", fmt.Errorf("topic %q is at version %d, not %d: %w", name, have, version, meta.ErrConflict)
	}
	return name, nil
}

// DeleteTopic removes the topic at version; its configs go with it (ON
// DELETE CASCADE), and every group's offsets of it go in the same
// transaction.
func (c *Catalog) DeleteTopic(ctx context.Context, id meta.TopicID, version int64) error {
	op := fmt.Sprintf("delete topic %s", id)
	if err := c.enter(ctx); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	defer c.mu.RUnlock()

	err := c.change(ctx, meta.ChangeTopic, id.String(), func(tx *sql.Tx) error {
		name, err := topicAt(ctx, tx, id, version)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM topics WHERE id = ?`, id[:]); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, deleteTopicOffsets, name)
		return err
	})
	if err != nil {
		return wrap(ctx, op, err)
	}
	return nil
}

// SetTopicConfigs replaces the explicit configs of the topic at version.
func (c *Catalog) SetTopicConfigs(ctx context.Context, id meta.TopicID, version int64, configs map[string]string) error {
	op := fmt.Sprintf("set configs of topic %s", id)
	if err := c.enter(ctx); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	defer c.mu.RUnlock()

	err := c.change(ctx, meta.ChangeTopic, id.String(), func(tx *sql.Tx) error {
		name, err := topicAt(ctx, tx, id, version)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE topics SET version = version + 1 WHERE id = ?`, id[:]); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM topic_configs WHERE topic = ?`, name); err != nil {
			return err
		}
		return insertConfigs(ctx, tx, name, configs)
	})
	if err != nil {
		return wrap(ctx, op, err)
	}
	return nil
}

// SetPartitions changes the partition count of the topic at version.
// Whether the change is allowed (Kafka only ever adds partitions) is the
// broker's to decide.
func (c *Catalog) SetPartitions(ctx context.Context, id meta.TopicID, version int64, partitions int32) error {
	op := fmt.Sprintf("set partitions of topic %s to %d", id, partitions)
	if err := c.enter(ctx); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	defer c.mu.RUnlock()

	err := c.change(ctx, meta.ChangeTopic, id.String(), func(tx *sql.Tx) error {
		if _, err := topicAt(ctx, tx, id, version); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `UPDATE topics SET partitions = ?, version = version + 1 WHERE id = ?`, partitions, id[:])
		return err
	})
	if err != nil {
		return wrap(ctx, op, err)
	}
	return nil
}

// topicQuery selects topics with their configs, one row per config and one
// for a topic without any. One statement is one snapshot: a topic never
// comes back with the configs of a concurrent write half applied.
const topicQuery = `
	SELECT t.name, t.id, t.partitions, t.created_at, t.version, t.replication_factor, c.name, c.value
	FROM topics AS t LEFT JOIN topic_configs AS c ON c.topic = t.name`

// Topic returns the topic of that name.
func (c *Catalog) Topic(ctx context.Context, name string) (meta.Topic, error) {
	op := fmt.Sprintf("read topic %q", name)
	if err := c.enter(ctx); err != nil {
		return meta.Topic{}, fmt.Errorf("%s: %w", op, err)
	}
	defer c.mu.RUnlock()

	ts, err := c.queryTopics(ctx, topicQuery+` WHERE t.name = ?`, name)
	if err != nil {
		return meta.Topic{}, wrap(ctx, op, err)
	}
	if len(ts) == 0 {
		return meta.Topic{}, fmt.Errorf("%s: %w", op, meta.ErrTopicNotFound)
	}
	return ts[0], nil
}

// TopicByID returns the topic with that ID.
func (c *Catalog) TopicByID(ctx context.Context, id meta.TopicID) (meta.Topic, error) {
	op := fmt.Sprintf("read topic %s", id)
	if err := c.enter(ctx); err != nil {
		return meta.Topic{}, fmt.Errorf("%s: %w", op, err)
	}
	defer c.mu.RUnlock()

	ts, err := c.queryTopics(ctx, topicQuery+` WHERE t.id = ?`, id[:])
	if err != nil {
		return meta.Topic{}, wrap(ctx, op, err)
	}
	if len(ts) == 0 {
		return meta.Topic{}, fmt.Errorf("%s: %w", op, meta.ErrTopicNotFound)
	}
	return ts[0], nil
}

// Topics returns every topic, ordered by name. SQLite's default collation,
// BINARY, orders bytewise, as meta.Topics requires.
func (c *Catalog) Topics(ctx context.Context) ([]meta.Topic, error) {
	const op = "list topics"
	if err := c.enter(ctx); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	defer c.mu.RUnlock()

	ts, err := c.queryTopics(ctx, topicQuery+` ORDER BY t.name, c.name`)
	if err != nil {
		return nil, wrap(ctx, op, err)
	}
	return ts, nil
}

// queryTopics runs a topicQuery on a reader and folds its rows into topics,
// in row order. The rows of one topic must be adjacent.
func (c *Catalog) queryTopics(ctx context.Context, query string, args ...any) ([]meta.Topic, error) {
	return scanTopics(ctx, c.r, query, args...)
}

// scanTopics is queryTopics through q.
func scanTopics(ctx context.Context, q querier, query string, args ...any) ([]meta.Topic, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer func() { _ = rows.Close() }() // a read-only statement; Err reports what matters

	ts := []meta.Topic{}
	for rows.Next() {
		var (
			name       string
			id         []byte
			partitions int32
			created    int64
			version    int64
			rf         int16
			key, value sql.NullString
		)
		if err := rows.Scan(&name, &id, &partitions, &created, &version, &rf, &key, &value); err != nil {
			return nil, err
		}
		if n := len(ts); n == 0 || ts[n-1].Name != name {
			if len(id) != len(meta.TopicID{}) {
				return nil, fmt.Errorf("topic %q has a %d-byte id", name, len(id))
			}
			t := meta.Topic{
				Name:              name,
				Partitions:        partitions,
				ReplicationFactor: rf,
				Configs:           map[string]string{},
				CreatedAt:         time.UnixMilli(created).UTC(),
				Version:           version,
			}
			copy(t.ID[:], id)
			ts = append(ts, t)
		}
		if key.Valid {
			ts[len(ts)-1].Configs[key.String] = value.String
		}
	}
	return ts, rows.Err()
}

// insertConfigs stores configs for the topic.
func insertConfigs(ctx context.Context, tx *sql.Tx, topic string, configs map[string]string) error {
	if len(configs) == 0 {
		return nil
	}
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO topic_configs (topic, name, value) VALUES (?, ?, ?)`)
	if err != nil {
		return err
	}
	defer func() { _ = stmt.Close() }() // closed with the transaction anyway
	for k, v := range configs {
		if _, err := stmt.ExecContext(ctx, topic, k, v); err != nil {
			return fmt.Errorf("config %q: %w", k, err)
		}
	}
	return nil
}

// exists reports whether query, a SELECT 1, returns a row.
func exists(ctx context.Context, tx *sql.Tx, query string, args ...any) (bool, error) {
	var one int
	err := tx.QueryRowContext(ctx, query, args...).Scan(&one)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, sql.ErrNoRows):
		return false, nil
	default:
		return false, err
	}
}

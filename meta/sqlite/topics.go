package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/streamhouse/streamhouse/meta"
)

// CreateTopic stores t and its configs. It stamps CreatedAt from the
// catalog's clock when t leaves it zero.
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
	err := c.write(ctx, func(tx *sql.Tx) error {
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
			`INSERT INTO topics (name, id, partitions, created_at) VALUES (?, ?, ?, ?)`,
			t.Name, t.ID[:], t.Partitions, created.UnixMilli()); err != nil {
			return err
		}
		return insertConfigs(ctx, tx, t.Name, t.Configs)
	})
	if err != nil {
		return wrap(ctx, op, err)
	}
	return nil
}

// DeleteTopic removes the topic; its configs go with it (ON DELETE CASCADE),
// and every group's offsets of it go in the same transaction.
func (c *Catalog) DeleteTopic(ctx context.Context, name string) error {
	op := fmt.Sprintf("delete topic %q", name)
	if err := c.enter(ctx); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	defer c.mu.RUnlock()

	err := c.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM topics WHERE name = ?`, name)
		if err != nil {
			return err
		}
		if err := mustAffect(res); err != nil {
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

// SetTopicConfigs replaces the topic's explicit configs with configs.
func (c *Catalog) SetTopicConfigs(ctx context.Context, name string, configs map[string]string) error {
	op := fmt.Sprintf("set configs of topic %q", name)
	if err := c.enter(ctx); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	defer c.mu.RUnlock()

	err := c.write(ctx, func(tx *sql.Tx) error {
		ok, err := exists(ctx, tx, `SELECT 1 FROM topics WHERE name = ?`, name)
		if err != nil {
			return err
		}
		if !ok {
			return meta.ErrTopicNotFound
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

// SetPartitions changes the topic's partition count. Whether the change is
// allowed (Kafka only ever adds partitions) is the broker's to decide.
func (c *Catalog) SetPartitions(ctx context.Context, name string, partitions int32) error {
	op := fmt.Sprintf("set partitions of topic %q to %d", name, partitions)
	if err := c.enter(ctx); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	defer c.mu.RUnlock()

	err := c.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE topics SET partitions = ? WHERE name = ?`, partitions, name)
		if err != nil {
			return err
		}
		return mustAffect(res)
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
	SELECT t.name, t.id, t.partitions, t.created_at, c.name, c.value
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
	rows, err := c.r.QueryContext(ctx, query, args...)
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
			key, value sql.NullString
		)
		if err := rows.Scan(&name, &id, &partitions, &created, &key, &value); err != nil {
			return nil, err
		}
		if n := len(ts); n == 0 || ts[n-1].Name != name {
			if len(id) != len(meta.TopicID{}) {
				return nil, fmt.Errorf("topic %q has a %d-byte id", name, len(id))
			}
			t := meta.Topic{
				Name:       name,
				Partitions: partitions,
				Configs:    map[string]string{},
				CreatedAt:  time.UnixMilli(created).UTC(),
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

// mustAffect turns a statement that touched no topic into ErrTopicNotFound.
func mustAffect(res sql.Result) error {
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return meta.ErrTopicNotFound
	}
	return nil
}

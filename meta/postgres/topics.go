package postgres

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/streamhouse/streamhouse/meta"
)

// CreateTopic stores t and its configs at version 1.
func (c *Catalog) CreateTopic(ctx context.Context, t meta.Topic) error {
	created := t.CreatedAt
	if created.IsZero() {
		created = c.now()
	}
	return c.call(ctx, "CreateTopic", fmt.Sprintf("create topic %q", t.Name), func(ctx context.Context) error {
		return c.write(ctx, func(tx pgx.Tx) error {
			// ON CONFLICT DO NOTHING waits for a concurrent insert of
			// the same name or id to settle, then skips; which of the
			// two was taken is read after.
			tag, err := tx.Exec(ctx, `INSERT INTO topics (name, id, partitions, created_at, version, replication_factor)
				VALUES ($1, $2, $3, $4, 1, $5) ON CONFLICT DO NOTHING`,
				t.Name, t.ID[:], t.Partitions, created.UnixMilli(), t.ReplicationFactor)
			if err != nil {
				return err
			}
			if tag.RowsAffected() == 0 {
				var byName bool
				if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM topics WHERE name = $1)`, t.Name).Scan(&byName); err != nil {
					return err
				}
				if byName {
					return meta.ErrTopicExists
				}
				return fmt.Errorf("id %x: %w", t.ID[:], meta.ErrTopicIDExists)
			}
			if err := insertConfigs(ctx, tx, t.ID, t.Configs); err != nil {
				return err
			}
			return recordChange(ctx, tx, c.channel, meta.ChangeTopic, t.ID.String())
		})
	})
}

// insertConfigs stores configs for the topic, in key order.
func insertConfigs(ctx context.Context, tx pgx.Tx, id meta.TopicID, configs map[string]string) error {
	if len(configs) == 0 {
		return nil
	}
	names := slices.Sorted(maps.Keys(configs))
	values := make([]string, len(names))
	for i, n := range names {
		values[i] = configs[n]
	}
	_, err := tx.Exec(ctx, `INSERT INTO topic_configs (topic_id, name, value)
		SELECT $1, n, v FROM unnest($2::text[], $3::text[]) AS u (n, v)`, id[:], names, values)
	return err
}

// lockTopic locks the topic with ID id and checks it is at version:
// meta.ErrTopicNotFound when there is none, meta.ErrConflict when it is at
// another. It returns the topic's name.
func lockTopic(ctx context.Context, tx pgx.Tx, id meta.TopicID, version int64) (string, error) {
	var name string
	var have int64
	err := tx.QueryRow(ctx, `SELECT name, version FROM topics WHERE id = $1 FOR UPDATE`, id[:]).Scan(&name, &have)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return "", meta.ErrTopicNotFound
	case err != nil:
		return "", err
	case have != version:
		return "", fmt.Errorf("topic %q is at version %d, not %d: %w", name, have, version, meta.ErrConflict)
	}
	return name, nil
}

// DeleteTopic removes the topic at version with its configs and every
// group's offsets of it.
func (c *Catalog) DeleteTopic(ctx context.Context, id meta.TopicID, version int64) error {
	return c.call(ctx, "DeleteTopic", fmt.Sprintf("delete topic %s", id), func(ctx context.Context) error {
		return c.write(ctx, func(tx pgx.Tx) error {
			name, err := lockTopic(ctx, tx, id, version)
			if err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `DELETE FROM topics WHERE id = $1`, id[:]); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `DELETE FROM group_offsets WHERE topic = $1`, name); err != nil {
				return err
			}
			return recordChange(ctx, tx, c.channel, meta.ChangeTopic, id.String())
		})
	})
}

// SetTopicConfigs replaces the explicit configs of the topic at version.
func (c *Catalog) SetTopicConfigs(ctx context.Context, id meta.TopicID, version int64, configs map[string]string) error {
	return c.call(ctx, "SetTopicConfigs", fmt.Sprintf("set configs of topic %s", id), func(ctx context.Context) error {
		return c.write(ctx, func(tx pgx.Tx) error {
			if _, err := lockTopic(ctx, tx, id, version); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `UPDATE topics SET version = version + 1 WHERE id = $1`, id[:]); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `DELETE FROM topic_configs WHERE topic_id = $1`, id[:]); err != nil {
				return err
			}
			if err := insertConfigs(ctx, tx, id, configs); err != nil {
				return err
			}
			return recordChange(ctx, tx, c.channel, meta.ChangeTopic, id.String())
		})
	})
}

// SetPartitions changes the partition count of the topic at version.
func (c *Catalog) SetPartitions(ctx context.Context, id meta.TopicID, version int64, partitions int32) error {
	return c.call(ctx, "SetPartitions", fmt.Sprintf("set partitions of topic %s to %d", id, partitions), func(ctx context.Context) error {
		return c.write(ctx, func(tx pgx.Tx) error {
			if _, err := lockTopic(ctx, tx, id, version); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `UPDATE topics SET partitions = $1, version = version + 1 WHERE id = $2`, partitions, id[:]); err != nil {
				return err
			}
			return recordChange(ctx, tx, c.channel, meta.ChangeTopic, id.String())
		})
	})
}

// topicQuery selects topics with their configs, one row per config and one
// for a topic without any; one statement is one snapshot.
const topicQuery = `
	SELECT t.name, t.id, t.partitions, t.created_at, t.version, t.replication_factor, c.name, c.value
	FROM topics AS t LEFT JOIN topic_configs AS c ON c.topic_id = t.id`

// Topic returns the topic of that name.
func (c *Catalog) Topic(ctx context.Context, name string) (meta.Topic, error) {
	return c.oneTopic(ctx, "Topic", fmt.Sprintf("read topic %q", name), topicQuery+` WHERE t.name = $1`, name)
}

// TopicByID returns the topic with that ID.
func (c *Catalog) TopicByID(ctx context.Context, id meta.TopicID) (meta.Topic, error) {
	return c.oneTopic(ctx, "TopicByID", fmt.Sprintf("read topic %s", id), topicQuery+` WHERE t.id = $1`, id[:])
}

func (c *Catalog) oneTopic(ctx context.Context, method, op, query string, arg any) (meta.Topic, error) {
	var t meta.Topic
	err := c.query(ctx, method, op, func(ctx context.Context) error {
		ts, err := c.queryTopics(ctx, query, arg)
		if err != nil {
			return err
		}
		if len(ts) == 0 {
			return meta.ErrTopicNotFound
		}
		t = ts[0]
		return nil
	})
	return t, err
}

// Topics returns every topic ordered by name, bytewise (COLLATE "C").
func (c *Catalog) Topics(ctx context.Context) ([]meta.Topic, error) {
	var ts []meta.Topic
	err := c.query(ctx, "Topics", "list topics", func(ctx context.Context) error {
		var err error
		ts, err = c.queryTopics(ctx, topicQuery+` ORDER BY t.name, c.name`)
		return err
	})
	return ts, err
}

// queryTopics runs a topicQuery and folds its rows into topics, in row
// order; the rows of one topic must be adjacent.
func (c *Catalog) queryTopics(ctx context.Context, query string, args ...any) ([]meta.Topic, error) {
	return scanTopics(ctx, c.pool, query, args...)
}

// querier is a pool or a transaction.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// scanTopics is queryTopics through q.
func scanTopics(ctx context.Context, q querier, query string, args ...any) ([]meta.Topic, error) {
	rows, err := q.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	ts := []meta.Topic{}
	for rows.Next() {
		var (
			name       string
			id         []byte
			partitions int32
			created    int64
			version    int64
			rf         int16
			key, value *string
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
		if key != nil {
			ts[len(ts)-1].Configs[*key] = *value
		}
	}
	return ts, rows.Err()
}

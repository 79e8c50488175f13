package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/streamhouse/streamhouse/meta"
)

// Sessions and leases as meta/postgres keeps them, judged by this process's
// clock (Options.Now), the one writer's.

// RegisterBroker starts a session for b.NodeID.
func (c *Catalog) RegisterBroker(ctx context.Context, b meta.BrokerRegistration, ttl time.Duration) (int64, error) {
	op := fmt.Sprintf("register broker %d", b.NodeID)
	if err := c.enter(ctx); err != nil {
		return 0, fmt.Errorf("%s: %w", op, err)
	}
	defer c.mu.RUnlock()
	listeners, err := json.Marshal(b.Listeners)
	if err != nil {
		return 0, err
	}
	var epoch int64
	err = c.write(ctx, func(tx *sql.Tx) error {
		now := c.now().UnixMilli()
		live, err := exists(ctx, tx, `SELECT 1 FROM brokers WHERE node_id = ? AND ended = 0 AND expires_ms > ?`, b.NodeID, now)
		if err != nil {
			return err
		}
		if live {
			return fmt.Errorf("node %d: %w", b.NodeID, meta.ErrNodeInUse)
		}
		if err := tx.QueryRowContext(ctx, `SELECT coalesce(max(epoch), 0) + 1 FROM brokers`).Scan(&epoch); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO brokers (node_id, epoch, rack, listeners, registered_ms, expires_ms, ended) VALUES (?, ?, ?, ?, ?, ?, 0)
			ON CONFLICT (node_id) DO UPDATE SET epoch = excluded.epoch, rack = excluded.rack, listeners = excluded.listeners,
				registered_ms = excluded.registered_ms, expires_ms = excluded.expires_ms, ended = 0`,
			b.NodeID, epoch, b.Rack, string(listeners), now, now+ttl.Milliseconds())
		return err
	})
	if err != nil {
		return 0, wrap(ctx, op, err)
	}
	return epoch, nil
}

// RenewBroker extends a live session.
func (c *Catalog) RenewBroker(ctx context.Context, node int32, epoch int64, ttl time.Duration) error {
	op := fmt.Sprintf("renew broker %d's session", node)
	if err := c.enter(ctx); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	defer c.mu.RUnlock()
	err := c.write(ctx, func(tx *sql.Tx) error {
		now := c.now().UnixMilli()
		res, err := tx.ExecContext(ctx, `UPDATE brokers SET expires_ms = ? WHERE node_id = ? AND epoch = ? AND ended = 0 AND expires_ms > ?`,
			now+ttl.Milliseconds(), node, epoch, now)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return errors.Join(err, fmt.Errorf("node %d epoch %d: %w", node, epoch, meta.ErrSessionLost))
		}
		return nil
	})
	if err != nil {
		return wrap(ctx, op, err)
	}
	return nil
}

// DeregisterBroker ends a session.
func (c *Catalog) DeregisterBroker(ctx context.Context, node int32, epoch int64) error {
	op := fmt.Sprintf("deregister broker %d", node)
	if err := c.enter(ctx); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	defer c.mu.RUnlock()
	err := c.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE brokers SET ended = 1 WHERE node_id = ? AND epoch = ?`, node, epoch)
		return err
	})
	if err != nil {
		return wrap(ctx, op, err)
	}
	return nil
}

// LiveBrokers lists the live sessions.
func (c *Catalog) LiveBrokers(ctx context.Context) ([]meta.BrokerRegistration, error) {
	op := "read live brokers"
	if err := c.enter(ctx); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	defer c.mu.RUnlock()
	rows, err := c.r.QueryContext(ctx, `SELECT node_id, epoch, rack, listeners, registered_ms FROM brokers WHERE ended = 0 AND expires_ms > ? ORDER BY node_id`,
		c.now().UnixMilli())
	if err != nil {
		return nil, wrap(ctx, op, err)
	}
	defer func() { _ = rows.Close() }()
	var out []meta.BrokerRegistration
	for rows.Next() {
		var b meta.BrokerRegistration
		var listeners string
		var registered int64
		if err := rows.Scan(&b.NodeID, &b.Epoch, &b.Rack, &listeners, &registered); err != nil {
			return nil, wrap(ctx, op, err)
		}
		if err := json.Unmarshal([]byte(listeners), &b.Listeners); err != nil {
			return nil, wrap(ctx, op, fmt.Errorf("broker %d's listeners: %w", b.NodeID, err))
		}
		b.Registered = time.UnixMilli(registered)
		out = append(out, b)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(ctx, op, err)
	}
	return out, nil
}

// liveHolder is the condition that a lease row's holder's session is live
// at the time given as its one parameter.
const liveHolder = `EXISTS (SELECT 1 FROM brokers b WHERE b.node_id = l.holder AND b.epoch = l.holder_epoch AND b.ended = 0 AND b.expires_ms > ?)`

// AcquireLease takes a lease that is free, or whose holder is gone.
func (c *Catalog) AcquireLease(ctx context.Context, key meta.LeaseKey, node int32, sessionEpoch int64) (meta.Lease, error) {
	op := fmt.Sprintf("acquire lease %s", key)
	if err := c.enter(ctx); err != nil {
		return meta.Lease{}, fmt.Errorf("%s: %w", op, err)
	}
	defer c.mu.RUnlock()
	var out meta.Lease
	err := c.write(ctx, func(tx *sql.Tx) error {
		now := c.now().UnixMilli()
		live, err := exists(ctx, tx, `SELECT 1 FROM brokers WHERE node_id = ? AND epoch = ? AND ended = 0 AND expires_ms > ?`, node, sessionEpoch, now)
		if err != nil {
			return err
		}
		if !live {
			return fmt.Errorf("node %d epoch %d: %w", node, sessionEpoch, meta.ErrSessionLost)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO leases (kind, topic_id, partition, epoch) VALUES (?, ?, ?, 0) ON CONFLICT DO NOTHING`,
			key.Kind, key.TopicID[:], key.Partition); err != nil {
			return err
		}
		var holder sql.NullInt32
		var holderEpoch sql.NullInt64
		var epoch int32
		var holderLive bool
		err = tx.QueryRowContext(ctx, `SELECT holder, holder_epoch, epoch, holder IS NOT NULL AND `+liveHolder+`
			FROM leases l WHERE kind = ? AND topic_id = ? AND partition = ?`, now, key.Kind, key.TopicID[:], key.Partition).
			Scan(&holder, &holderEpoch, &epoch, &holderLive)
		if err != nil {
			return err
		}
		out = meta.Lease{Key: key, Epoch: epoch}
		switch {
		case holder.Valid && holder.Int32 == node && holderEpoch.Int64 == sessionEpoch:
			out.Holder, out.HolderEpoch = node, sessionEpoch
			return nil
		case holderLive:
			out.Holder, out.HolderEpoch = holder.Int32, holderEpoch.Int64
			return fmt.Errorf("lease %s held by node %d: %w", key, holder.Int32, meta.ErrConflict)
		}
		out.Holder, out.HolderEpoch, out.Epoch = node, sessionEpoch, epoch+1
		_, err = tx.ExecContext(ctx, `UPDATE leases SET holder = ?, holder_epoch = ?, epoch = ? WHERE kind = ? AND topic_id = ? AND partition = ?`,
			node, sessionEpoch, out.Epoch, key.Kind, key.TopicID[:], key.Partition)
		return err
	})
	if err != nil {
		return out, wrap(ctx, op, err)
	}
	return out, nil
}

// ReleaseLease gives a lease up.
func (c *Catalog) ReleaseLease(ctx context.Context, key meta.LeaseKey, node int32, epoch int32) error {
	op := fmt.Sprintf("release lease %s", key)
	if err := c.enter(ctx); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	defer c.mu.RUnlock()
	err := c.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE leases SET holder = NULL, holder_epoch = NULL WHERE kind = ? AND topic_id = ? AND partition = ? AND holder = ? AND epoch = ?`,
			key.Kind, key.TopicID[:], key.Partition, node, epoch)
		return err
	})
	if err != nil {
		return wrap(ctx, op, err)
	}
	return nil
}

// Leases lists the leases held by live sessions.
func (c *Catalog) Leases(ctx context.Context) ([]meta.Lease, error) {
	op := "read leases"
	if err := c.enter(ctx); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	defer c.mu.RUnlock()
	rows, err := c.r.QueryContext(ctx, `SELECT kind, topic_id, partition, holder, holder_epoch, epoch FROM leases l
		WHERE holder IS NOT NULL AND `+liveHolder+` ORDER BY kind, topic_id, partition`, c.now().UnixMilli())
	if err != nil {
		return nil, wrap(ctx, op, err)
	}
	defer func() { _ = rows.Close() }()
	var out []meta.Lease
	for rows.Next() {
		var l meta.Lease
		var id []byte
		if err := rows.Scan(&l.Key.Kind, &id, &l.Key.Partition, &l.Holder, &l.HolderEpoch, &l.Epoch); err != nil {
			return nil, wrap(ctx, op, err)
		}
		copy(l.Key.TopicID[:], id)
		out = append(out, l)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(ctx, op, err)
	}
	return out, nil
}

package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/streamhouse/streamhouse/meta"
)

// Sessions and leases are judged by the database's clock
// (clock_timestamp(), not the transaction's start), never the brokers'.

// RegisterBroker starts a session for b.NodeID.
func (c *Catalog) RegisterBroker(ctx context.Context, b meta.BrokerRegistration, ttl time.Duration) (int64, error) {
	listeners, err := json.Marshal(b.Listeners)
	if err != nil {
		return 0, err
	}
	var epoch int64
	err = c.call(ctx, "RegisterBroker", fmt.Sprintf("register broker %d", b.NodeID), func(ctx context.Context) error {
		return c.write(ctx, func(tx pgx.Tx) error {
			var live bool
			err := tx.QueryRow(ctx, `SELECT NOT ended AND expires > clock_timestamp() FROM brokers WHERE node_id = $1 FOR UPDATE`, b.NodeID).Scan(&live)
			switch {
			case err == nil && live:
				return fmt.Errorf("node %d: %w", b.NodeID, meta.ErrNodeInUse)
			case err != nil && !errors.Is(err, pgx.ErrNoRows):
				return err
			}
			return tx.QueryRow(ctx, `INSERT INTO brokers (node_id, epoch, rack, listeners, registered, expires)
				VALUES ($1, nextval('broker_epochs'), $2, $3, clock_timestamp(), clock_timestamp() + $4 * interval '1 millisecond')
				ON CONFLICT (node_id) DO UPDATE SET epoch = excluded.epoch, rack = excluded.rack, listeners = excluded.listeners,
					registered = excluded.registered, expires = excluded.expires, ended = false
				RETURNING epoch`, b.NodeID, b.Rack, listeners, ttl.Milliseconds()).Scan(&epoch)
		})
	})
	return epoch, err
}

// RenewBroker extends a live session.
func (c *Catalog) RenewBroker(ctx context.Context, node int32, epoch int64, ttl time.Duration) error {
	return c.call(ctx, "RenewBroker", fmt.Sprintf("renew broker %d's session", node), func(ctx context.Context) error {
		return c.write(ctx, func(tx pgx.Tx) error {
			tag, err := tx.Exec(ctx, `UPDATE brokers SET expires = clock_timestamp() + $3 * interval '1 millisecond'
				WHERE node_id = $1 AND epoch = $2 AND NOT ended AND expires > clock_timestamp()`, node, epoch, ttl.Milliseconds())
			if err == nil && tag.RowsAffected() == 0 {
				return fmt.Errorf("node %d epoch %d: %w", node, epoch, meta.ErrSessionLost)
			}
			return err
		})
	})
}

// DeregisterBroker ends a session.
func (c *Catalog) DeregisterBroker(ctx context.Context, node int32, epoch int64) error {
	return c.call(ctx, "DeregisterBroker", fmt.Sprintf("deregister broker %d", node), func(ctx context.Context) error {
		return c.write(ctx, func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `UPDATE brokers SET ended = true WHERE node_id = $1 AND epoch = $2`, node, epoch)
			return err
		})
	})
}

// LiveBrokers lists the live sessions.
func (c *Catalog) LiveBrokers(ctx context.Context) ([]meta.BrokerRegistration, error) {
	var out []meta.BrokerRegistration
	err := c.query(ctx, "LiveBrokers", "read live brokers", func(ctx context.Context) error {
		out = out[:0]
		rows, err := c.pool.Query(ctx, `SELECT node_id, epoch, rack, listeners, registered FROM brokers
			WHERE NOT ended AND expires > clock_timestamp() ORDER BY node_id`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var b meta.BrokerRegistration
			var listeners []byte
			if err := rows.Scan(&b.NodeID, &b.Epoch, &b.Rack, &listeners, &b.Registered); err != nil {
				return err
			}
			if err := json.Unmarshal(listeners, &b.Listeners); err != nil {
				return fmt.Errorf("broker %d's listeners: %w", b.NodeID, err)
			}
			out = append(out, b)
		}
		return rows.Err()
	})
	return out, err
}

// liveHolder is the condition that a lease row's holder's session is live.
const liveHolder = `EXISTS (SELECT 1 FROM brokers b WHERE b.node_id = l.holder AND b.epoch = l.holder_epoch
	AND NOT b.ended AND b.expires > clock_timestamp())`

// AcquireLease takes a lease that is free, or whose holder is gone.
//
// It never waits for another transaction's lock on the lease row (NOWAIT:
// meta.ErrConflict, taken again at the next round): that lock is a commit
// under the lease in flight (CommitWAL locks it FOR SHARE), or another
// broker taking it, and the holder of that lock may be a broker stopped or
// cut off in the middle of its transaction, whose locks PostgreSQL keeps
// until idle_in_transaction_session_timeout ends its session. Waiting for
// it while holding this broker's own row FOR SHARE would block this
// broker's session renewal behind it: the chaos test saw every other
// broker lose its session in a loop while one was SIGSTOPped. The session's
// row is read last, so it is locked only for the end of the transaction.
func (c *Catalog) AcquireLease(ctx context.Context, key meta.LeaseKey, node int32, sessionEpoch int64) (meta.Lease, error) {
	var out meta.Lease
	err := c.call(ctx, "AcquireLease", fmt.Sprintf("acquire lease %s", key), func(ctx context.Context) error {
		return c.write(ctx, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `INSERT INTO leases (kind, topic_id, partition, epoch) VALUES ($1, $2, $3, 0) ON CONFLICT DO NOTHING`,
				key.Kind, key.TopicID[:], key.Partition); err != nil {
				return err
			}
			var holder *int32
			var holderEpoch *int64
			var epoch int32
			var holderLive bool
			err := tx.QueryRow(ctx, `SELECT holder, holder_epoch, epoch, holder IS NOT NULL AND `+liveHolder+`
				FROM leases l WHERE kind = $1 AND topic_id = $2 AND partition = $3 FOR UPDATE NOWAIT`,
				key.Kind, key.TopicID[:], key.Partition).Scan(&holder, &holderEpoch, &epoch, &holderLive)
			if lockBusy(err) {
				return fmt.Errorf("lease %s locked by another transaction: %w", key, meta.ErrConflict)
			}
			if err != nil {
				return err
			}
			var live bool
			err = tx.QueryRow(ctx, `SELECT NOT ended AND expires > clock_timestamp() FROM brokers WHERE node_id = $1 AND epoch = $2 FOR SHARE`,
				node, sessionEpoch).Scan(&live)
			if errors.Is(err, pgx.ErrNoRows) || err == nil && !live {
				return fmt.Errorf("node %d epoch %d: %w", node, sessionEpoch, meta.ErrSessionLost)
			}
			if err != nil {
				return err
			}
			out = meta.Lease{Key: key, Epoch: epoch}
			switch {
			case holder != nil && *holder == node && *holderEpoch == sessionEpoch:
				out.Holder, out.HolderEpoch = node, sessionEpoch
				return nil
			case holderLive:
				out.Holder, out.HolderEpoch = *holder, *holderEpoch
				return fmt.Errorf("lease %s held by node %d: %w", key, *holder, meta.ErrConflict)
			}
			out.Holder, out.HolderEpoch, out.Epoch = node, sessionEpoch, epoch+1
			_, err = tx.Exec(ctx, `UPDATE leases SET holder = $4, holder_epoch = $5, epoch = $6 WHERE kind = $1 AND topic_id = $2 AND partition = $3`,
				key.Kind, key.TopicID[:], key.Partition, node, sessionEpoch, out.Epoch)
			return err
		})
	})
	return out, err
}

// lockBusy reports whether err is PostgreSQL's answer to NOWAIT on a row
// another transaction has locked (55P03 lock_not_available).
func lockBusy(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "55P03"
}

// ReleaseLease gives a lease up.
func (c *Catalog) ReleaseLease(ctx context.Context, key meta.LeaseKey, node int32, epoch int32) error {
	return c.call(ctx, "ReleaseLease", fmt.Sprintf("release lease %s", key), func(ctx context.Context) error {
		return c.write(ctx, func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `UPDATE leases SET holder = NULL, holder_epoch = NULL
				WHERE kind = $1 AND topic_id = $2 AND partition = $3 AND holder = $4 AND epoch = $5`,
				key.Kind, key.TopicID[:], key.Partition, node, epoch)
			return err
		})
	})
}

// Leases lists the leases held by live sessions.
func (c *Catalog) Leases(ctx context.Context) ([]meta.Lease, error) {
	var out []meta.Lease
	err := c.query(ctx, "Leases", "read leases", func(ctx context.Context) error {
		out = out[:0]
		rows, err := c.pool.Query(ctx, `SELECT kind, topic_id, partition, holder, holder_epoch, epoch FROM leases l
			WHERE holder IS NOT NULL AND `+liveHolder+` ORDER BY kind, topic_id, partition`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var l meta.Lease
			var id []byte
			if err := rows.Scan(&l.Key.Kind, &id, &l.Key.Partition, &l.Holder, &l.HolderEpoch, &l.Epoch); err != nil {
				return err
			}
			copy(l.Key.TopicID[:], id)
			out = append(out, l)
		}
		return rows.Err()
	})
	return out, err
}

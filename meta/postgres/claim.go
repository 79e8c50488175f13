package postgres

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"time"

	"github.com/jackc/pgx/v5"
)

// ErrInUse: another broker holds the catalog (Claim).
var ErrInUse = errors.New("postgres: catalog in use by another broker")

// Owner is what a broker that claims the catalog says of itself, for the
// error another broker gets.
type Owner struct {
	NodeID int32
	// Address is where it listens (its advertised address).
	Address string
}

// Claim is a broker's exclusive hold on the catalog: a session-level
// advisory lock named after the schema, held on a connection of its own.
// A broker that serves its own data directory's partitions (PostgreSQL
// with local storage) claims the catalog, so that a second broker pointed
// at it by mistake is refused instead of serving the same topics from
// another directory.
//
// The brokers of a cluster (PostgreSQL with S3) share the catalog: each
// takes the claim shared (ClaimShared), so that a broker claiming it for
// itself is refused while any of them runs, and they are refused while one
// holds it.
type Claim struct {
	c      *Catalog
	key    int64
	owner  Owner
	shared bool
	lost   chan struct{}
	stop   chan struct{}
	done   chan struct{}
}

// claimSelfWait bounds the wait for a claim held by this broker's own
// previous run (PostgreSQL frees a dead client's session within about
// 15 s: its keepalives).
const claimSelfWait = 20 * time.Second

// claimKey is the advisory lock of the schema's claim.
func claimKey(schema string) int64 {
	h := fnv.New64a()
	h.Write([]byte("streamhouse claim " + schema))
	return int64(h.Sum64())
}

// Claim takes the catalog for owner: ErrInUse, naming the holder, when
// another broker holds it. The claim lasts while its connection does; the
// server is asked to notice a dead peer within about 15 s (TCP keepalive),
// so that a broker whose machine vanished frees the catalog. When the
// connection is lost the claim takes the lock again on a new one; if
// another broker took it meanwhile, Lost is closed and the caller must
// stop.
func (c *Catalog) Claim(ctx context.Context, owner Owner) (*Claim, error) {
	return c.claim(ctx, owner, false)
}

// ClaimShared is Claim for one broker of a cluster: any number of them
// hold it together; ErrInUse while a broker holds the catalog for itself
// (Claim), which is refused while any of them holds it.
func (c *Catalog) ClaimShared(ctx context.Context, owner Owner) (*Claim, error) {
	return c.claim(ctx, owner, true)
}

func (c *Catalog) claim(ctx context.Context, owner Owner, shared bool) (*Claim, error) {
	cl := &Claim{c: c, key: claimKey(c.schema), owner: owner, shared: shared, lost: make(chan struct{}), stop: make(chan struct{}), done: make(chan struct{})}
	conn, holder, err := cl.take(ctx)
	// The holder is this broker's own previous run (same node id and
	// address): killed, or stopped a moment ago, its session lingers
	// until PostgreSQL notices the connection is gone. Wait for that, a
	// bounded while, rather than refuse a restart.
	logged := false
	for wait := time.Now().Add(claimSelfWait); err != nil && holder != nil && *holder == owner && time.Now().Before(wait); {
		if !logged && cl.c.log != nil {
			logged = true
			cl.c.log.Info("the catalog is still claimed by this broker's previous run; waiting for PostgreSQL to free it", "node_id", owner.NodeID, "address", owner.Address)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		conn, holder, err = cl.take(ctx)
	}
	if err != nil {
		return nil, err
	}
	c.bg.Add(1)
	go cl.hold(conn)
	return cl, nil
}

// Lost is closed when another broker took the catalog after this claim's
// connection was lost.
func (cl *Claim) Lost() <-chan struct{} { return cl.lost }

// Release gives the catalog up.
func (cl *Claim) Release() {
	select {
	case <-cl.stop:
	default:
		close(cl.stop)
	}
	<-cl.done
}

// take connects and takes the lock: ErrInUse when another session holds
// it, with what the holder wrote of itself (nil when it wrote nothing yet).
func (cl *Claim) take(ctx context.Context) (*pgx.Conn, *Owner, error) {
	conn, err := pgx.ConnectConfig(ctx, cl.c.connCfg)
	if err != nil {
		return nil, nil, cl.c.wrap(ctx, "claim the catalog", err)
	}
	// A peer that vanished (its machine off, the network cut) is noticed
	// by the server within idle + interval x count seconds, and its lock
	// freed: 5 + 2 x 5 = 15 s.
	for _, set := range []string{"SET tcp_keepalives_idle = 5", "SET tcp_keepalives_interval = 2", "SET tcp_keepalives_count = 5"} {
		if _, err := conn.Exec(ctx, set); err != nil {
			conn.Close(context.WithoutCancel(ctx))
			return nil, nil, cl.c.wrap(ctx, "claim the catalog", err)
		}
	}
	var got bool
	lock := `SELECT pg_try_advisory_lock($1)`
	if cl.shared {
		lock = `SELECT pg_try_advisory_lock_shared($1)`
	}
	if err := conn.QueryRow(ctx, lock, cl.key).Scan(&got); err != nil {
		conn.Close(context.WithoutCancel(ctx))
		return nil, nil, cl.c.wrap(ctx, "claim the catalog", err)
	}
	if !got && !cl.shared {
		// Held shared: by the brokers of a cluster.
		var n int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database
			WHERE d.datname = current_database() AND l.locktype = 'advisory' AND l.mode = 'ShareLock' AND l.granted
			AND l.classid = (($1::bigint >> 32) & 4294967295)::oid AND l.objid = ($1::bigint & 4294967295)::oid AND l.objsubid = 1`, cl.key).Scan(&n); err == nil && n > 0 {
			conn.Close(context.WithoutCancel(ctx))
			return nil, nil, fmt.Errorf("%s schema %s: %w: %d brokers of a cluster (started with --storage=s3) share it; a broker with local storage cannot serve their topics from its own directory",
				cl.c.where, cl.c.schema, ErrInUse, n)
		}
	}
	if !got {
		var node int32
		var addr string
		var since time.Time
		err := conn.QueryRow(ctx, `SELECT node_id, address, since FROM catalog_owner`).Scan(&node, &addr, &since)
		conn.Close(context.WithoutCancel(ctx))
		if err != nil {
			return nil, nil, fmt.Errorf("%s schema %s: %w (a broker is starting on it)", cl.c.where, cl.c.schema, ErrInUse)
		}
		return nil, &Owner{NodeID: node, Address: addr}, fmt.Errorf("%s schema %s: %w: node %d at %s has held it since %s; two brokers serving one catalog from two data directories would each serve its own copy of every topic (if that broker is gone, PostgreSQL frees the catalog within about 15 s)",
			cl.c.where, cl.c.schema, ErrInUse, node, addr, since.UTC().Format(time.RFC3339))
	}
	if cl.shared {
		return conn, nil, nil
	}
	if _, err := conn.Exec(ctx, `INSERT INTO catalog_owner (singleton, node_id, address, since) VALUES (1, $1, $2, now())
		ON CONFLICT (singleton) DO UPDATE SET node_id = excluded.node_id, address = excluded.address, since = excluded.since`,
		cl.owner.NodeID, cl.owner.Address); err != nil {
		conn.Close(context.WithoutCancel(ctx))
		return nil, nil, cl.c.wrap(ctx, "claim the catalog", err)
	}
	return conn, nil, nil
}

// hold keeps the claim's connection alive, pinging it every second, and
// takes the lock again on a new connection when it is lost.
func (cl *Claim) hold(conn *pgx.Conn) {
	defer cl.c.bg.Done()
	defer close(cl.done)
	defer func() {
		if conn != nil {
			// Unlocked before the connection closes: the server ends
			// a closed session (and frees its locks) a moment after
			// the client hangs up, and a broker started right after
			// this one stopped would find the catalog still held.
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			if cl.shared {
				conn.Exec(ctx, `SELECT pg_advisory_unlock_shared($1)`, cl.key)
			} else {
				conn.Exec(ctx, `SELECT pg_advisory_unlock($1)`, cl.key)
			}
			cancel()
			conn.Close(context.Background())
		}
	}()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var mine time.Time // since when the lock is held by what looks like our own lost session
	for {
		select {
		case <-cl.stop:
			return
		case <-cl.c.stop:
			return
		case <-tick.C:
		}
		if conn != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			err := conn.Ping(ctx)
			cancel()
			if err == nil {
				continue
			}
			conn.Close(context.Background())
			conn = nil
			cl.c.log.Warn("the connection holding this broker's claim on the catalog was lost; taking the claim again", "at", cl.c.where, "err", err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		next, holder, err := cl.take(ctx)
		cancel()
		switch {
		case err == nil:
			conn, mine = next, time.Time{}
			cl.c.log.Info("claim on the catalog taken again", "at", cl.c.where)
		case errors.Is(err, ErrInUse) && (holder == nil || *holder == cl.owner) && (mine.IsZero() || time.Since(mine) < 30*time.Second):
			// Most likely this broker's own lost session, which the
			// server has not ended yet (it notices within 15 s).
			if mine.IsZero() {
				mine = time.Now()
			}
		case errors.Is(err, ErrInUse):
			cl.c.log.Error("CATALOG TAKEN BY ANOTHER BROKER while this one's claim was lost; this broker must stop", "at", cl.c.where, "err", err)
			close(cl.lost)
			return
		}
		// Otherwise PostgreSQL cannot be reached: try again.
	}
}

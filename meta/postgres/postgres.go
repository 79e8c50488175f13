// Package postgres is the catalog in PostgreSQL: a meta.Catalog that several
// brokers can share, through github.com/jackc/pgx/v5 (pgxpool). It runs the
// same conformance suite as meta/sqlite (meta/metatest), and the cases of two
// writers on one catalog (metatest.RunShared).
//
// It may import meta and its driver; nothing else of the repository.
//
// # Where the tables live
//
// In one PostgreSQL schema of the database DATABASE_URL names: Options.Schema,
// else the first entry of the URL's search_path parameter, else
// "streamhouse". Open creates it when missing, so that the catalog sits in a
// database the user already runs without touching its other tables. Every
// connection runs with search_path set to that schema alone and
// synchronous_commit=on, whatever the database's default: a write the
// catalog has acknowledged is in PostgreSQL's WAL on disk. It runs with
// idle_in_transaction_session_timeout (IdleInTransactionTimeout) unless the
// URL sets one: a broker stopped or cut off in the middle of a transaction
// would otherwise hold its row locks for as long as its connection looks
// alive to the server.
//
// # Schema and migrations
//
// Versioned migrations (schema.go), each applied in a transaction of its
// own that first takes a transaction-scoped advisory lock named after the
// schema and reads the version again: several brokers starting at once
// against an empty database apply each migration exactly once. A schema
// whose version is newer than this binary knows is refused with
// meta.ErrSchemaTooNew. Text keys the contract orders bytewise are COLLATE
// "C".
//
// # Writes
//
// Every write is one transaction (READ COMMITTED) with explicit row locks
// where it reads before it writes, taken in key order, so that two brokers'
// writes never deadlock; a serialization failure or deadlock (40001, 40P01)
// that happens anyway is retried with backoff. Conditional writes (meta's
// versions) lock the row, compare, and write.
//
// A COMMIT whose answer is lost with its connection (the server restarted,
// the network dropped, the backend was terminated) is not guessed at: the
// write noted its transaction id (pg_current_xact_id) before COMMIT, and
// a new connection asks pg_xact_status whether it committed. Only when that
// cannot be found out in time does the write fail with meta.ErrOutcomeUnknown.
//
// # Committed offsets
//
// CommitOffsets is the one frequent call: concurrent calls are grouped into
// one transaction (offsets.go), one at a time, so that their order per
// partition is the order of the calls and PostgreSQL fsyncs once per group.
//
// # Outages
//
// A database that cannot be reached (refused, reset, terminated, timed out,
// shutting down or starting up) makes calls fail with meta.ErrUnavailable
// within their context's deadline; connecting is bounded by Options.
// ConnectTimeout. The catalog logs one ERROR line when an outage starts and
// one INFO line when it ends, probes the database while it is down, and
// reports it in Unavailable.
//
// # Change feed
//
// Each change of a followed row bumps a one-row counter in its transaction,
// so that change transactions commit in counter order and the feed has no
// gaps, records the change, and NOTIFYs a channel named after the schema;
// WaitChange LISTENs on it through a connection of its own, and polls once
// a second when that connection is down.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/streamhouse/streamhouse/meta"
)

var _ meta.Catalog = (*Catalog)(nil)

// DefaultSchema is the PostgreSQL schema the catalog's tables go into when
// neither Options.Schema nor the URL's search_path names one.
const DefaultSchema = "streamhouse"

// IdleInTransactionTimeout is the catalog's connections'
// idle_in_transaction_session_timeout unless the URL sets one: a
// transaction whose client sends nothing for this long is ended by the
// server and its locks freed. Below the cluster's session timeout (3-9 s),
// so that a stopped broker's locks are gone by the time its leases move.
const IdleInTransactionTimeout = 2 * time.Second

// Options configures a Catalog. The zero value is ready to use.
type Options struct {
	// Schema is the PostgreSQL schema that holds the catalog's tables.
	// Empty: the URL's search_path, else DefaultSchema.
	Schema string
	// Logger receives migrations, the cluster id's generation, and the
	// start and end of outages. Nil discards them.
	Logger *slog.Logger
	// Now stamps CreatedAt and CommitTime left zero. Nil means time.Now.
	Now func() time.Time
	// ConnectTimeout bounds one attempt to connect. Zero: 5 s, or the
	// URL's connect_timeout.
	ConnectTimeout time.Duration
	// MaxConns is the pool's size. Zero: 8.
	MaxConns int32
	// CallTimeout bounds every call whose context allows longer (or
	// sets no deadline), so that a database that does not answer (its
	// traffic dropped) fails a request with meta.ErrUnavailable before
	// the client gives up on it. Zero: 5 s, Kafka's
	// offsets.commit.timeout.ms.
	CallTimeout time.Duration
	// Observe, when set, is called after each call with the method's
	// name ("CommitOffsets", "CreateTopic", ...), how long it took and
	// its error: for metrics.
	Observe func(op string, took time.Duration, err error)
}

// Catalog is a meta.Catalog in PostgreSQL. It is safe for concurrent use;
// Open returns it, Close releases it.
type Catalog struct {
	pool    *pgxpool.Pool
	connCfg *pgx.ConnConfig // for the listener's own connection
	schema  string
	channel string // NOTIFY channel of the change feed
	where   string // host:port/database, for messages (never the password)
	log     *slog.Logger
	now     func() time.Time
	observe func(op string, took time.Duration, err error)
	timeout time.Duration // Options.CallTimeout

	// mu makes Close wait for calls in flight: every method holds it
	// shared, Close exclusively. Methods take it once, at their entry.
	mu     sync.RWMutex
	closed bool

	offsets *committer
	outage  outage
	feed    *listener

	// stop is closed by Close, which then waits for bg: the committer,
	// the listener and the outage probe.
	stop chan struct{}
	bg   sync.WaitGroup
}

// Open connects to the database url names (pgx's syntax: a postgresql:// URL
// or key=value pairs, with PG* environment variables for what it leaves
// out), creates the catalog's schema if missing and brings its tables up to
// date. It fails with an error wrapping meta.ErrSchemaTooNew when the schema
// was written by a newer StreamHouse, and names host and database (never the
// password) in every error.
func Open(ctx context.Context, url string, opts Options) (*Catalog, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// pgx's parse errors quote the connection string; say only
		// what is wrong with it.
		return nil, fmt.Errorf("open catalog %s: %w", Redact(url), errors.New("DATABASE_URL is not a valid PostgreSQL connection string"))
	}
	cc := cfg.ConnConfig
	where := fmt.Sprintf("%s/%s", net.JoinHostPort(cc.Host, fmt.Sprint(cc.Port)), cc.Database)
	if cc.Database == "" {
		return nil, fmt.Errorf("open catalog on %s: DATABASE_URL names no database; add /DBNAME to the URL or set PGDATABASE", net.JoinHostPort(cc.Host, fmt.Sprint(cc.Port)))
	}
	schema := opts.Schema
	if schema == "" {
		schema = firstSearchPath(cc.RuntimeParams["search_path"])
	}
	if schema == "" {
		schema = DefaultSchema
	}
	if cc.RuntimeParams == nil {
		cc.RuntimeParams = map[string]string{}
	}
	cc.RuntimeParams["search_path"] = quoteIdent(schema)
	cc.RuntimeParams["synchronous_commit"] = "on"
	if cc.RuntimeParams["application_name"] == "" {
		cc.RuntimeParams["application_name"] = "streamhouse"
	}
	if cc.RuntimeParams["idle_in_transaction_session_timeout"] == "" {
		// A broker stopped (SIGSTOP, a long pause) or cut off from
		// the database in the middle of a transaction keeps its row
		// locks, and its connection looks alive to the server, until
		// this ends its session: until then the others' writes to
		// those rows wait (a lease's next holder could not commit).
		// The catalog's transactions never wait for anything but the
		// server between their statements.
		cc.RuntimeParams["idle_in_transaction_session_timeout"] = fmt.Sprint(IdleInTransactionTimeout.Milliseconds())
	}
	if opts.ConnectTimeout > 0 {
		cc.ConnectTimeout = opts.ConnectTimeout
	} else if cc.ConnectTimeout == 0 {
		cc.ConnectTimeout = 5 * time.Second
	}
	cfg.MaxConns = 8
	if opts.MaxConns > 0 {
		cfg.MaxConns = opts.MaxConns
	}
	// A connection idle this long is checked before use, so that one
	// the server dropped during an outage is not handed to a call.
	cfg.HealthCheckPeriod = 10 * time.Second

	c := &Catalog{
		schema:  schema,
		channel: "streamhouse_changes_" + schema,
		where:   where,
		log:     opts.Logger,
		now:     opts.Now,
		observe: opts.Observe,
		timeout: opts.CallTimeout,
	}
	if c.timeout <= 0 {
		c.timeout = 5 * time.Second
	}
	if len(c.channel) > 63 {
		c.channel = c.channel[:63] // PostgreSQL truncates identifiers so
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.now == nil {
		c.now = time.Now
	}
	c.outage.c = c
	c.stop = make(chan struct{})

	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, c.openErr(err)
	}
	c.pool = pool
	c.connCfg = cc.Copy()
	if err := c.migrate(ctx); err != nil {
		pool.Close()
		return nil, c.openErr(err)
	}
	c.offsets = newCommitter(c)
	c.feed = newListener(c)
	c.bg.Add(2)
	go c.offsets.run()
	go c.feed.run()
	return c, nil
}

// openErr is an error of Open: what went wrong, in words a user can act on,
// naming host, database and schema.
func (c *Catalog) openErr(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "28P01", "28000":
			return fmt.Errorf("open catalog %s: PostgreSQL refused the user name or password (%s): %w", c.where, pe.Code, err)
		case "3D000":
			return fmt.Errorf("open catalog %s: the database does not exist (create it, or name another in DATABASE_URL): %w", c.where, err)
		case "42501":
			return fmt.Errorf("open catalog %s: the user may not create the catalog's schema %q or its tables (grant CREATE on the database, or create the schema for the user): %w", c.where, c.schema, err)
		}
	}
	if isUnavailable(err) {
		return fmt.Errorf("open catalog %s: PostgreSQL cannot be reached: %w: %w", c.where, meta.ErrUnavailable, err)
	}
	return fmt.Errorf("open catalog %s (schema %s): %w", c.where, c.schema, err)
}

// Where returns host:port/database and the schema, for logs.
func (c *Catalog) Where() string { return c.where + " schema " + c.schema }

// Describe returns where a catalog opened on url would be, as Where says
// it (host:port/database and the schema), without connecting; "" when url
// does not parse.
func Describe(url string, opts Options) string {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return ""
	}
	cc := cfg.ConnConfig
	schema := opts.Schema
	if schema == "" {
		schema = firstSearchPath(cc.RuntimeParams["search_path"])
	}
	if schema == "" {
		schema = DefaultSchema
	}
	return fmt.Sprintf("%s/%s schema %s", net.JoinHostPort(cc.Host, fmt.Sprint(cc.Port)), cc.Database, schema)
}

// Close waits for calls in flight, then closes the catalog's connections.
// After Close every method returns meta.ErrClosed; calling Close again
// returns nil.
func (c *Catalog) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.mu.Unlock()
	close(c.stop)
	c.bg.Wait()
	c.pool.Close()
	return nil
}

// enter admits a call: it fails if ctx is done or the catalog is closed, and
// otherwise holds c.mu shared; the caller must call c.leave.
func (c *Catalog) enter(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.RLock()
	if c.closed {
		c.mu.RUnlock()
		return meta.ErrClosed
	}
	return nil
}

// call runs f as the operation op of method: admitted by enter, its error
// wrapped with op (and ctx.Err() when ctx ended during it, and
// meta.ErrUnavailable when the database could not be reached), observed
// under method's name, and counted for the outage tracker.
func (c *Catalog) call(ctx context.Context, method, op string, f func(ctx context.Context) error) error {
	if err := c.enter(ctx); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	defer c.mu.RUnlock()
	start := time.Now()
	bounded, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	err := f(bounded)
	if err != nil {
		// Judged by the caller's context: when only the call's own
		// bound passed, the database did not answer in time.
		err = c.wrap(ctx, op, err)
	}
	c.outage.note(err)
	if c.observe != nil {
		c.observe(method, time.Since(start), err)
	}
	return err
}

// query is call for a read: f runs once more when it failed on a lost
// connection (read). f must start from nothing each time it runs.
func (c *Catalog) query(ctx context.Context, method, op string, f func(ctx context.Context) error) error {
	return c.call(ctx, method, op, func(ctx context.Context) error { return c.read(ctx, f) })
}

// wrap names the operation in err and adds the sentinels callers test for.
func (c *Catalog) wrap(ctx context.Context, op string, err error) error {
	switch {
	case errors.Is(err, meta.ErrUnavailable):
	case ctx.Err() != nil && !errors.Is(err, ctx.Err()):
		err = fmt.Errorf("%w: %w", ctx.Err(), err)
	case ctx.Err() == nil && isUnavailable(err):
		err = fmt.Errorf("%w (%s): %w", meta.ErrUnavailable, c.where, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// isUnavailable reports whether err says the database could not be reached
// or is not serving: a connection refused, reset or timed out, the server
// shutting down, starting up or terminating the backend, or out of
// connections. Such a failure is retriable; a bad query or a conflict is
// not.
func isUnavailable(err error) bool {
	if err == nil {
		return false
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case strings.HasPrefix(pe.Code, "08"): // connection exception
			return true
		case pe.Code == "57P01", pe.Code == "57P02", pe.Code == "57P03": // admin/crash shutdown, cannot connect now
			return true
		case pe.Code == "53300": // too many connections
			return true
		}
		return false
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		// The caller's deadline, or pgx's connect_timeout, passed
		// while PostgreSQL did not answer.
		return true
	}
	var ne net.Error
	var ce *pgconn.ConnectError
	return errors.As(err, &ne) || errors.As(err, &ce) || pgconn.Timeout(err) ||
		errors.Is(err, net.ErrClosed) || strings.Contains(err.Error(), "conn closed") ||
		strings.Contains(err.Error(), "unexpected EOF") || strings.Contains(err.Error(), "connection reset")
}

// retriable reports whether a write's transaction failed in a way that
// running it again may fix: a serialization failure or a deadlock.
func retriable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40001" || pe.Code == "40P01")
}

// errLostCommit: COMMIT was sent and no answer came back.
var errLostCommit = errors.New("postgres: the answer to COMMIT was lost")

// write runs f in a transaction and commits it, retrying serialization
// failures and deadlocks with backoff while ctx allows, and once a
// transaction that failed on a lost connection before its COMMIT was sent
// (nothing was applied; the pool may have handed out a connection the
// server had dropped). A COMMIT whose answer was lost is looked up
// (resolveCommit).
func (c *Catalog) write(ctx context.Context, f func(tx pgx.Tx) error) error {
	backoff := 2 * time.Millisecond
	reconnected := false
	for {
		err, committing := c.writeOnce(ctx, f)
		switch {
		case retriable(err):
		case !committing && !reconnected && ctx.Err() == nil && isUnavailable(err):
			reconnected = true
			continue
		default:
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 200*time.Millisecond)
	}
}

// writeOnce is one attempt of write; committing says whether COMMIT was
// sent (whatever became of it).
func (c *Catalog) writeOnce(ctx context.Context, f func(tx pgx.Tx) error) (err error, committing bool) {
	conn, err := c.pool.Acquire(ctx)
	if err != nil {
		return err, false
	}
	defer conn.Release()
	tx, err := conn.Begin(ctx)
	if err != nil {
		return err, false
	}
	if err := f(tx); err != nil {
		return errors.Join(err, ignoreClosed(tx.Rollback(context.WithoutCancel(ctx)))), false
	}
	// The id of this transaction, so that a lost COMMIT can be looked
	// up. It assigns one if f wrote nothing, at no cost worth counting.
	var xid string
	if err := tx.QueryRow(ctx, `SELECT pg_current_xact_id()::text`).Scan(&xid); err != nil {
		return errors.Join(err, ignoreClosed(tx.Rollback(context.WithoutCancel(ctx)))), false
	}
	err = tx.Commit(ctx)
	if err == nil {
		return nil, true
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) || pgconn.SafeToRetry(err) {
		// The server answered (it refused the commit), or nothing
		// was sent: not committed.
		return err, !pgconn.SafeToRetry(err)
	}
	// Sent, unanswered: find out.
	conn.Conn().PgConn().Close(context.Background()) // never reuse it
	return c.resolveCommit(ctx, xid, err), true
}

// writeBatch is write for a transaction of statements that need no
// answer before the next: BEGIN, queue's statements and the transaction's
// id go to the server in one round trip (pgx's pipeline), COMMIT in a
// second, against four or more for write. A lost COMMIT answer is looked
// up as write does; a serialization failure or deadlock is retried.
func (c *Catalog) writeBatch(ctx context.Context, queue func(b *pgx.Batch)) error {
	backoff := 2 * time.Millisecond
	reconnected := false
	for {
		err, committing := c.writeBatchOnce(ctx, queue)
		switch {
		case retriable(err):
		case !committing && !reconnected && ctx.Err() == nil && isUnavailable(err):
			reconnected = true
			continue
		default:
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 200*time.Millisecond)
	}
}

func (c *Catalog) writeBatchOnce(ctx context.Context, queue func(b *pgx.Batch)) (err error, committing bool) {
	conn, err := c.pool.Acquire(ctx)
	if err != nil {
		return err, false
	}
	defer conn.Release()
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	queue(b)
	var xid string
	b.Queue(`SELECT pg_current_xact_id()::text`).QueryRow(func(row pgx.Row) error { return row.Scan(&xid) })
	if err := conn.SendBatch(ctx, b).Close(); err != nil {
		// Whatever ran is undone: a failed statement aborted the
		// transaction, and ROLLBACK ends it (or the connection is
		// gone, and the server rolls it back).
		_, rerr := conn.Exec(context.WithoutCancel(ctx), "ROLLBACK")
		if rerr != nil && !isUnavailable(rerr) {
			conn.Conn().PgConn().Close(context.Background())
		}
		return err, false
	}
	_, err = conn.Exec(ctx, "COMMIT")
	if err == nil {
		return nil, true
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) || pgconn.SafeToRetry(err) {
		return err, !pgconn.SafeToRetry(err)
	}
	conn.Conn().PgConn().Close(context.Background())
	return c.resolveCommit(ctx, xid, err), true
}

// read runs f, a read, once more when it failed on a lost connection: the
// pool may have handed out one the server had dropped.
func (c *Catalog) read(ctx context.Context, f func(ctx context.Context) error) error {
	err := f(ctx)
	if err != nil && ctx.Err() == nil && isUnavailable(err) {
		err = f(ctx)
	}
	return err
}

// resolveCommit finds out whether the transaction xid committed after its
// COMMIT's answer was lost (cause): nil if it did, an error wrapping
// meta.ErrUnavailable if it did not, and one wrapping meta.ErrOutcomeUnknown
// too if that could not be found out. It asks on a new connection until it
// knows, within ctx or, when ctx is already done, within a few seconds more:
// the caller gave up, but the answer decides what its cache may hold.
func (c *Catalog) resolveCommit(ctx context.Context, xid string, cause error) error {
	if ctx.Err() != nil {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), 3*time.Second)
		defer cancel()
	}
	wait := 20 * time.Millisecond
	for {
		var status *string
		err := c.pool.QueryRow(ctx, `SELECT pg_xact_status($1::xid8)`, xid).Scan(&status)
		switch {
		case err == nil && status != nil && *status == "committed":
			c.log.Warn("a catalog commit's answer was lost; it had committed", "xid", xid, "err", cause)
			return nil
		case err == nil && status != nil && *status == "aborted":
			return fmt.Errorf("%w: %w: it did not commit: %w", meta.ErrUnavailable, errLostCommit, cause)
		case err == nil && status == nil:
			// Too old to be known: cannot be after a commit just sent.
			return fmt.Errorf("%w: %w: %w: transaction %s unknown to the server: %w", meta.ErrUnavailable, meta.ErrOutcomeUnknown, errLostCommit, xid, cause)
		}
		// "in progress": the old backend has not noticed the lost
		// connection yet; or the server cannot be asked. Ask again.
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: %w: %w: %w", meta.ErrUnavailable, meta.ErrOutcomeUnknown, errLostCommit, cause)
		case <-time.After(wait):
		}
		wait = min(2*wait, 500*time.Millisecond)
	}
}

// ignoreClosed drops the error of rolling back a transaction whose
// connection is gone or that was already closed: there is nothing to undo.
func ignoreClosed(err error) error {
	if err == nil || errors.Is(err, pgx.ErrTxClosed) || isUnavailable(err) {
		return nil
	}
	return err
}

// firstSearchPath returns the first schema of a search_path value, without
// quotes; "" for none or "$user".
func firstSearchPath(v string) string {
	first, _, _ := strings.Cut(v, ",")
	first = strings.TrimSpace(first)
	if strings.HasPrefix(first, `"`) && strings.HasSuffix(first, `"`) && len(first) >= 2 {
		return strings.ReplaceAll(first[1:len(first)-1], `""`, `"`)
	}
	if first == "$user" {
		return ""
	}
	return first
}

// quoteIdent quotes a PostgreSQL identifier.
func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// Redact returns a connection string with its password replaced by
// "xxxxx", for logs, errors and --print-config: a URL's user:password@ and
// password= parameters, and a key=value string's password.
func Redact(url string) string {
	if i := strings.Index(url, "://"); i >= 0 {
		rest := url[i+3:]
		if at := strings.LastIndex(strings.SplitN(rest, "/", 2)[0], "@"); at >= 0 {
			cred := rest[:at]
			if user, _, ok := strings.Cut(cred, ":"); ok {
				url = url[:i+3] + user + ":xxxxx" + rest[at:]
			}
		}
	}
	return redactParam(url)
}

// redactParam replaces the value of every password parameter (password=...
// in a query string or a key=value string).
func redactParam(s string) string {
	lower := strings.ToLower(s)
	var b strings.Builder
	i := 0
	for {
		j := strings.Index(lower[i:], "password=")
		if j < 0 {
			b.WriteString(s[i:])
			return b.String()
		}
		j += i
		if j > 0 && !strings.ContainsRune("?& \t", rune(s[j-1])) {
			b.WriteString(s[i : j+len("password=")])
			i = j + len("password=")
			continue
		}
		b.WriteString(s[i : j+len("password=")])
		b.WriteString("xxxxx")
		k := j + len("password=")
		if k < len(s) && s[k] == '\'' {
			// key='quoted value'
			end := strings.IndexByte(s[k+1:], '\'')
			if end < 0 {
				return b.String()
			}
			k += end + 2
		} else {
			for k < len(s) && !strings.ContainsRune("& \t", rune(s[k])) {
				k++
			}
		}
		i = k
	}
}

// outage tracks whether the database is reachable, from the calls' outcomes
// and, while it is not, from a probe once a second: one ERROR line when an
// outage starts, one INFO line when it ends.
type outage struct {
	c *Catalog

	down    atomic.Bool
	mu      sync.Mutex // guards since, lastErr, probing
	since   time.Time
	lastErr error
	probing bool
}

// note counts a call's outcome: an error wrapping meta.ErrUnavailable starts
// an outage; success, or an error that took the server's answer (a
// conflict, a missing row, a refused statement), ends one. A call cut short
// by its caller's context proves nothing either way.
func (o *outage) note(err error) {
	if errors.Is(err, meta.ErrClosed) {
		return
	}
	unavailable := errors.Is(err, meta.ErrUnavailable)
	if !unavailable && err != nil && isUnavailable(err) {
		return
	}
	if unavailable == o.down.Load() {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	switch {
	case unavailable && !o.down.Load():
		o.down.Store(true)
		o.since, o.lastErr = time.Now(), err
		o.c.log.Error("CATALOG UNAVAILABLE: PostgreSQL cannot be reached; produce and fetch on existing topics go on, requests that need the catalog fail with retriable errors until it is back", "at", o.c.where, "err", err)
		if !o.probing {
			o.probing = true
			o.c.bg.Add(1)
			go o.probe()
		}
	case !unavailable && o.down.Load():
		o.down.Store(false)
		o.c.log.Info("catalog available again", "at", o.c.where, "down_for", time.Since(o.since).Round(time.Millisecond))
	}
}

// probe pings the database once a second while it is down, so that the
// outage ends (and Unavailable clears) without waiting for a request.
func (o *outage) probe() {
	defer o.c.bg.Done()
	defer func() {
		o.mu.Lock()
		o.probing = false
		o.mu.Unlock()
	}()
	for o.down.Load() {
		select {
		case <-time.After(time.Second):
		case <-o.c.stop:
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err := o.c.call(ctx, "Ping", "probe the catalog", func(ctx context.Context) error { return o.c.pool.Ping(ctx) })
		cancel()
		_ = err // noted by call
	}
}

// Unavailable returns the error that started the current outage, nil while
// the database is reachable: the broker's readiness.
func (c *Catalog) Unavailable() error {
	if !c.outage.down.Load() {
		return nil
	}
	c.outage.mu.Lock()
	defer c.outage.mu.Unlock()
	return c.outage.lastErr
}

package postgres

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/streamhouse/streamhouse/internal/pgtest"
	"github.com/streamhouse/streamhouse/meta"
)

// open opens a catalog on url and closes it when the test ends.
func open(t *testing.T, url string, opts Options) *Catalog {
	t.Helper()
	c, err := Open(t.Context(), url, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// logBuffer is a concurrency-safe buffer for a test's logger.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestMigrateOnce: brokers starting at once on an empty schema apply each
// migration exactly once, and all open.
func TestMigrateOnce(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	var logs logBuffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	const n = 6
	cs := make([]*Catalog, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { cs[i], errs[i] = Open(t.Context(), url, Options{Logger: log}) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("Open %d: %v", i, err)
		}
		defer cs[i].Close()
	}
	if got := strings.Count(logs.String(), "migrated catalog schema"); got != len(migrations) {
		t.Errorf("%d migrations logged by %d catalogs opened at once, want %d:\n%s", got, n, len(migrations), logs.String())
	}
	var v int
	if err := cs[0].pool.QueryRow(t.Context(), `SELECT version FROM streamhouse_schema`).Scan(&v); err != nil || v != schemaVersion() {
		t.Errorf("schema version %d (%v), want %d", v, err, schemaVersion())
	}
}

func TestSchemaTooNew(t *testing.T) {
	t.Parallel()
	schema := pgtest.Schema(t)
	url := pgtest.WithSchema(t, pgtest.AdminURL(), schema)
	open(t, url, Options{}).Close()
	pgtest.Exec(t, `UPDATE `+schema+`.streamhouse_schema SET version = 999`)
	_, err := Open(t.Context(), url, Options{})
	if !errors.Is(err, meta.ErrSchemaTooNew) {
		t.Fatalf("Open of a newer schema: err = %v, want %v", err, meta.ErrSchemaTooNew)
	}
	if !strings.Contains(err.Error(), "999") || !strings.Contains(err.Error(), schema) {
		t.Errorf("error %q does not say which schema and version", err)
	}
}

// TestOpenErrors: every way DATABASE_URL can be wrong gives one clear error
// that names host and database, never the password, within 10 s.
func TestOpenErrors(t *testing.T) {
	t.Parallel()
	pgtest.Require(t)
	admin, err := pgconn.ParseConfig(pgtest.AdminURL())
	if err != nil {
		t.Fatal(err)
	}
	hostPort := net.JoinHostPort(admin.Host, itoa(int(admin.Port)))
	// A port nothing listens on.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()
	tests := []struct {
		name string
		url  string
		want []string
	}{
		{"unreachable", "postgres://u:s3cret-pw@" + closed + "/somedb", []string{closed, "somedb", "cannot be reached"}},
		{"wrong password", "postgres://" + admin.User + ":s3cret-pw@" + hostPort + "/" + admin.Database, []string{hostPort, admin.Database, "password"}},
		{"no database", "postgres://" + admin.User + ":s3cret-pw@" + hostPort, []string{hostPort, "names no database"}},
		{"missing database", "postgres://" + admin.User + ":" + admin.Password + "@" + hostPort + "/no_such_db_x", []string{"no_such_db_x", "does not exist"}},
		{"not a URL", "postgres://u:s3cret-pw@[::1", []string{"not a valid"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			start := time.Now()
			c, err := Open(ctx, tt.url, Options{ConnectTimeout: 3 * time.Second})
			if err == nil {
				c.Close()
				t.Fatal("Open succeeded")
			}
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("took %v", d)
			}
			msg := err.Error()
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not say %q", msg, w)
				}
			}
			if strings.Contains(msg, "s3cret-pw") || (admin.Password != "" && strings.Contains(msg, ":"+admin.Password+"@")) {
				t.Errorf("error %q shows the password", msg)
			}
		})
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestRedact(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"postgres://u:pw@h:5432/db?sslmode=disable", "postgres://u:xxxxx@h:5432/db?sslmode=disable"},
		{"postgresql://u@h/db", "postgresql://u@h/db"},
		{"postgres://u:p@ss:w@h/db", "postgres://u:xxxxx@h/db"},
		{"postgres://h/db?user=u&password=pw&sslmode=require", "postgres://h/db?user=u&password=xxxxx&sslmode=require"},
		{"host=h user=u password=pw dbname=db", "host=h user=u password=xxxxx dbname=db"},
		{"host=h password='p w' dbname=db", "host=h password=xxxxx dbname=db"},
		{"host=h dbname=db", "host=h dbname=db"},
		{"host=h mypassword=x", "host=h mypassword=x"},
	}
	for _, tt := range tests {
		if got := Redact(tt.in); got != tt.want {
			t.Errorf("Redact(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestRetriesSerializationFailures: a transaction that fails with 40001 or
// 40P01 runs again; another error does not.
func TestRetriesSerializationFailures(t *testing.T) {
	t.Parallel()
	c := open(t, pgtest.URL(t), Options{})
	for _, code := range []string{"40001", "40P01"} {
		calls := 0
		err := c.write(t.Context(), func(tx pgx.Tx) error {
			calls++
			if calls < 3 {
				return &pgconn.PgError{Code: code}
			}
			return nil
		})
		if err != nil || calls != 3 {
			t.Errorf("%s: err %v after %d calls, want success on the third", code, err, calls)
		}
	}
	calls := 0
	err := c.write(t.Context(), func(tx pgx.Tx) error { calls++; return &pgconn.PgError{Code: "23505"} })
	if err == nil || calls != 1 {
		t.Errorf("unique violation: err %v after %d calls, want it returned at once", err, calls)
	}
}

// TestLostCommitFoundOut: the answer to COMMIT is lost with its connection;
// the catalog asks the server and reports what happened, never a guess.
func TestLostCommitFoundOut(t *testing.T) {
	t.Parallel()
	p := pgtest.NewProxy(t)
	c := open(t, p.URL(t), Options{})
	ctx := t.Context()
	for i := range 3 {
		p.LoseCommits(1)
		tp := meta.Topic{Name: "t" + itoa(i), ID: meta.TopicID{1, byte(i + 1)}, Partitions: 1}
		err := c.CreateTopic(ctx, tp)
		if p.Lost() != i+1 {
			t.Fatalf("round %d: the proxy cut no COMMIT", i)
		}
		got, gerr := c.Topic(ctx, tp.Name)
		switch {
		case err == nil && gerr != nil:
			t.Fatalf("round %d: CreateTopic reported success, but the topic is not there: %v", i, gerr)
		case err != nil && gerr == nil:
			t.Fatalf("round %d: CreateTopic failed (%v), but the topic is there: %+v", i, err, got)
		case err != nil:
			t.Fatalf("round %d: CreateTopic: %v (the server had the COMMIT; its outcome should be found)", i, err)
		}
	}
	// Offsets go through the committer's transaction: the same.
	p.LoseCommits(1)
	if err := c.CommitOffsets(ctx, []meta.GroupOffset{{Group: "g", Topic: "t0", Partition: 0, Offset: 7, LeaderEpoch: -1}}); err != nil {
		t.Fatalf("CommitOffsets with a lost COMMIT answer: %v", err)
	}
	offs, err := c.GroupOffsets(ctx, "g")
	if err != nil || len(offs) != 1 || offs[0].Offset != 7 {
		t.Fatalf("GroupOffsets = %+v, %v", offs, err)
	}
}

// TestOutage: PostgreSQL out of reach (the proxy refuses and cuts): calls
// fail with meta.ErrUnavailable within their deadline, one ERROR line says
// so, Unavailable reports it; back, calls succeed without a reopen, one
// INFO line says so.
func TestOutage(t *testing.T) {
	t.Parallel()
	p := pgtest.NewProxy(t)
	var logs logBuffer
	c := open(t, p.URL(t), Options{Logger: slog.New(slog.NewTextHandler(&logs, nil)), ConnectTimeout: time.Second})
	ctx := t.Context()
	if _, err := c.ClusterID(ctx); err != nil {
		t.Fatal(err)
	}
	p.Refuse(true)
	p.Cut()
	for i := range 5 {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		start := time.Now()
		err := c.CommitOffsets(cctx, []meta.GroupOffset{{Group: "g", Topic: "t", Partition: 0, Offset: int64(i), LeaderEpoch: -1}})
		cancel()
		if !errors.Is(err, meta.ErrUnavailable) && !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("commit %d during the outage: err = %v, want ErrUnavailable", i, err)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("commit %d took %v past its 2 s deadline", i, d)
		}
	}
	if c.Unavailable() == nil {
		t.Error("Unavailable() = nil during the outage")
	}
	p.Refuse(false)
	deadline := time.Now().Add(10 * time.Second)
	for c.Unavailable() != nil {
		if time.Now().After(deadline) {
			t.Fatal("the catalog did not see the database back within 10 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := c.CommitOffsets(ctx, []meta.GroupOffset{{Group: "g", Topic: "t", Partition: 0, Offset: 99, LeaderEpoch: -1}}); err != nil {
		t.Fatalf("commit after the outage: %v", err)
	}
	out := logs.String()
	if n := strings.Count(out, "CATALOG UNAVAILABLE"); n != 1 {
		t.Errorf("%d outage ERROR lines, want 1:\n%s", n, out)
	}
	if n := strings.Count(out, "catalog available again"); n != 1 {
		t.Errorf("%d recovery INFO lines, want 1:\n%s", n, out)
	}
}

// TestBlackhole: the network drops PostgreSQL's traffic without closing
// anything; calls fail with meta.ErrUnavailable at the call's bound instead
// of hanging, and succeed again once the traffic flows.
func TestBlackhole(t *testing.T) {
	t.Parallel()
	p := pgtest.NewProxy(t)
	c := open(t, p.URL(t), Options{CallTimeout: time.Second, ConnectTimeout: time.Second})
	ctx := t.Context()
	if _, err := c.ClusterID(ctx); err != nil {
		t.Fatal(err)
	}
	p.Blackhole(true)
	for i := range 3 {
		start := time.Now()
		err := c.CommitOffsets(ctx, []meta.GroupOffset{{Group: "g", Topic: "t", Partition: 0, Offset: int64(i), LeaderEpoch: -1}})
		if !errors.Is(err, meta.ErrUnavailable) && !errors.Is(err, meta.ErrOutcomeUnknown) {
			t.Fatalf("commit %d with the traffic dropped: err = %v, want ErrUnavailable", i, err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("commit %d took %v against a 1 s bound", i, d)
		}
		if _, err := c.Topics(ctx); !errors.Is(err, meta.ErrUnavailable) {
			t.Fatalf("read with the traffic dropped: err = %v, want ErrUnavailable", err)
		}
	}
	p.Blackhole(false)
	p.Cut() // what TCP keepalive or the server's timeout would do in time
	deadline := time.Now().Add(15 * time.Second)
	for {
		err := c.CommitOffsets(ctx, []meta.GroupOffset{{Group: "g", Topic: "t", Partition: 0, Offset: 99, LeaderEpoch: -1}})
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("commits still fail 15 s after the traffic flows again: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	offs, err := c.GroupOffsets(ctx, "g")
	if err != nil || len(offs) != 1 || offs[0].Offset != 99 {
		t.Fatalf("GroupOffsets = %+v, %v", offs, err)
	}
}

// TestClaim: one broker holds the catalog; a second is refused, told who
// holds it; released, the second takes it. A holder whose connection is
// cut while another takes the catalog learns it has lost it.
func TestClaim(t *testing.T) {
	t.Parallel()
	p := pgtest.NewProxy(t)
	url := p.URL(t)
	a := open(t, url, Options{})
	b := open(t, pgtest.WithSchema(t, pgtest.AdminURL(), a.schema), Options{})
	ctx := t.Context()
	ca, err := a.Claim(ctx, Owner{NodeID: 1, Address: "broker-1:9092"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = b.Claim(ctx, Owner{NodeID: 2, Address: "broker-2:9092"})
	if !errors.Is(err, ErrInUse) || !strings.Contains(err.Error(), "node 1 at broker-1:9092") {
		t.Fatalf("a second claim: err = %v, want ErrInUse naming node 1", err)
	}
	ca.Release()
	cb, err := b.Claim(ctx, Owner{NodeID: 2, Address: "broker-2:9092"})
	if err != nil {
		t.Fatalf("a claim after the release: %v", err)
	}
	cb.Release()

	// a holds it again, through the proxy; its connection is cut and
	// b takes the catalog before a can take it back.
	ca, err = a.Claim(ctx, Owner{NodeID: 1, Address: "broker-1:9092"})
	if err != nil {
		t.Fatal(err)
	}
	defer ca.Release()
	p.Refuse(true)
	p.Cut()
	deadline := time.Now().Add(10 * time.Second)
	for {
		cb, err = b.Claim(ctx, Owner{NodeID: 2, Address: "broker-2:9092"})
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("b could not take the catalog after a's connection was cut: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	defer cb.Release()
	p.Refuse(false)
	select {
	case <-ca.Lost():
	case <-time.After(45 * time.Second):
		t.Fatal("a was not told it lost the catalog")
	}
}

// TestClaimOwnPreviousRun: a claim held by the same node id and address
// (this broker's previous run, whose session PostgreSQL has not yet
// ended) is waited for, not refused: a restart right after a kill -9 or a
// stop goes through.
func TestClaimOwnPreviousRun(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	a := open(t, url, Options{})
	b := open(t, url, Options{})
	ctx := t.Context()
	me := Owner{NodeID: 1, Address: "broker-1:9092"}
	ca, err := a.Claim(ctx, me)
	if err != nil {
		t.Fatal(err)
	}
	released := make(chan struct{})
	go func() {
		time.Sleep(500 * time.Millisecond)
		ca.Release()
		close(released)
	}()
	cb, err := b.Claim(ctx, me)
	if err != nil {
		t.Fatalf("the same broker's claim once its previous run let go: %v", err)
	}
	<-released
	cb.Release()
}

// TestClaimShared: the brokers of a cluster hold the claim together; a
// broker claiming the catalog for itself is refused while any of them
// does, told it is a cluster's, and once it holds it they are refused.
func TestClaimShared(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	a := open(t, url, Options{})
	b := open(t, url, Options{})
	single := open(t, url, Options{})
	ctx := t.Context()
	ca, err := a.ClaimShared(ctx, Owner{NodeID: 1, Address: "broker-1:9092"})
	if err != nil {
		t.Fatal(err)
	}
	cb, err := b.ClaimShared(ctx, Owner{NodeID: 2, Address: "broker-2:9092"})
	if err != nil {
		t.Fatalf("a second broker of the cluster: %v", err)
	}
	if _, err := single.Claim(ctx, Owner{NodeID: 9, Address: "single:9092"}); !errors.Is(err, ErrInUse) || !strings.Contains(err.Error(), "2 brokers of a cluster") {
		t.Fatalf("a single broker beside a cluster: err = %v, want ErrInUse naming the cluster's 2 brokers", err)
	}
	ca.Release()
	cb.Release()
	cs, err := single.Claim(ctx, Owner{NodeID: 9, Address: "single:9092"})
	if err != nil {
		t.Fatalf("the single broker once the cluster stopped: %v", err)
	}
	defer cs.Release()
	if _, err := a.ClaimShared(ctx, Owner{NodeID: 1, Address: "broker-1:9092"}); !errors.Is(err, ErrInUse) || !strings.Contains(err.Error(), "node 9 at single:9092") {
		t.Fatalf("a cluster broker beside a single broker: err = %v, want ErrInUse naming node 9", err)
	}
}

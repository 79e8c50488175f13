// Package pgtest gives a test a PostgreSQL catalog of its own: a new schema
// in the test database, dropped when the test ends, so that tests run in
// parallel against one server. It imports pgx and the standard library
// only.
//
// The test database is STREAMHOUSE_TEST_DATABASE_URL, by default
// postgres://streamhouse:streamhouse@127.0.0.1:5432/streamhouse (the role
// and database .ci/run creates; the README shows the two commands that
// create them). When it cannot be reached the test is skipped, and fails
// under STREAMHOUSE_COMPAT_REQUIRE=1, as the compatibility tests do when a
// client is missing.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"hash/fnv"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// DefaultURL is the test database when STREAMHOUSE_TEST_DATABASE_URL is
// not set.
const DefaultURL = "postgres://streamhouse:streamhouse@127.0.0.1:5432/streamhouse?sslmode=disable"

// AdminURL returns the test database's connection string.
func AdminURL() string {
	if u := os.Getenv("STREAMHOUSE_TEST_DATABASE_URL"); u != "" {
		return u
	}
	return DefaultURL
}

var (
	reachOnce sync.Once
	reachErr  error
)

// Require skips t, or fails it under STREAMHOUSE_COMPAT_REQUIRE=1, unless
// the test database answers.
func Require(t testing.TB) {
	t.Helper()
	reachOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, AdminURL())
		if err == nil {
			err = conn.Ping(ctx)
			conn.Close(ctx)
		}
		reachErr = err
	})
	if reachErr == nil {
		return
	}
	if os.Getenv("STREAMHOUSE_COMPAT_REQUIRE") != "" {
		t.Fatalf("PostgreSQL test database unreachable (STREAMHOUSE_COMPAT_REQUIRE is set): %v", reachErr)
	}
	t.Skipf("PostgreSQL test database unreachable (set STREAMHOUSE_TEST_DATABASE_URL, or see the README): %v", reachErr)
}

// Schema creates a new, empty schema in the test database, dropped when the
// test ends, and returns its name.
func Schema(t testing.TB) string {
	t.Helper()
	Require(t)
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	name := "t_" + hex.EncodeToString(b[:])
	exec(t, `CREATE SCHEMA `+name)
	t.Cleanup(func() { exec(t, `DROP SCHEMA `+name+` CASCADE`) })
	return name
}

// Enabled reports whether tests should run brokers on PostgreSQL catalogs:
// STREAMHOUSE_TEST_METADATA=postgres.
func Enabled() bool { return os.Getenv("STREAMHOUSE_TEST_METADATA") == "postgres" }

// URLFor returns a connection string for the schema that stands for key (a
// data directory, say) in this test: the same schema for the same key, so
// that a broker restarted on its data directory finds its catalog again.
// The schema is dropped when the test ends.
func URLFor(t testing.TB, key string) string {
	t.Helper()
	Require(t)
	h := fnv.New64a()
	h.Write([]byte(key))
	name := fmt.Sprintf("k_%016x", h.Sum64())
	exec(t, `CREATE SCHEMA IF NOT EXISTS `+name)
	t.Cleanup(func() { exec(t, `DROP SCHEMA IF EXISTS `+name+` CASCADE`) })
	return WithSchema(t, AdminURL(), name)
}

// URL returns a connection string for the test database whose search_path
// is a new, empty schema (Schema): what a catalog opened on it uses.
func URL(t testing.TB) string {
	t.Helper()
	return WithSchema(t, AdminURL(), Schema(t))
}

// WithSchema returns base with its search_path set to schema.
func WithSchema(t testing.TB, base, schema string) string {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil || !strings.Contains(base, "://") {
		t.Fatalf("pgtest: STREAMHOUSE_TEST_DATABASE_URL must be a postgres:// URL: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// Exec runs statements on the test database as its owner.
func Exec(t testing.TB, stmts ...string) {
	t.Helper()
	for _, s := range stmts {
		exec(t, s)
	}
}

func exec(t testing.TB, stmt string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, AdminURL())
	if err != nil {
		t.Fatalf("pgtest: connect: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, stmt); err != nil {
		t.Fatalf("pgtest: %s: %v", stmt, err)
	}
}

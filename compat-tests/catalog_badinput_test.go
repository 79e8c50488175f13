package compattests

import (
	"context"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/streamhouse/streamhouse/internal/pgtest"
)

// TestCatalogBadDatabaseURL starts the binary with every way DATABASE_URL
// can be wrong: each exits non-zero within 10 s with one line on standard
// error that names the host and the database and never the password.
func TestCatalogBadDatabaseURL(t *testing.T) {
	t.Parallel()
	if pgtest.Enabled() {
		t.Skip("runs in the default pass already")
	}
	pgtest.Require(t)
	admin, err := pgconn.ParseConfig(pgtest.AdminURL())
	if err != nil {
		t.Fatal(err)
	}
	db := net.JoinHostPort(admin.Host, strconv.Itoa(int(admin.Port)))
	closed := freePort(t) // nothing listens there
	schema := pgtest.Schema(t)
	newer := pgtest.WithSchema(t, pgtest.AdminURL(), schema)
	// catalog copy from a directory that holds no catalog refuses.
	out, err := exec.Command(binary(t), "catalog", "copy", "--from", "sqlite:"+t.TempDir(), "--to", newer).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "no catalog at") {
		t.Fatalf("copying a missing catalog: %v\n%s", err, out)
	}
	// A schema a newer StreamHouse wrote: migrated, then its version
	// moved past this binary's.
	p := startProcWith(t, binary(t), nil, t.TempDir(), "", "--metadata", "postgres", "--database-url", newer)
	p.stop()
	pgtest.Exec(t, `UPDATE `+schema+`.streamhouse_schema SET version = 999`)

	tests := []struct {
		name string
		url  string
		want []string
	}{
		{"unreachable", "postgres://u:s3cret-pw@" + closed + "/somedb", []string{closed, "somedb"}},
		{"wrong password", "postgres://" + admin.User + ":s3cret-pw@" + db + "/" + admin.Database, []string{db, admin.Database, "password"}},
		{"no database", "postgres://" + admin.User + ":s3cret-pw@" + db, []string{db, "names no database"}},
		{"newer schema", newer, []string{"999", schema, "upgrade"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, binary(t), "--listen", freePort(t), "--data-dir", t.TempDir(), "--http-listen", "",
				"--schema-registry-listen", "", "--log-format", "text", "--metadata", "postgres")
			cmd.Env = append(cmd.Environ(), "DATABASE_URL="+tt.url)
			start := time.Now()
			out, err := cmd.CombinedOutput()
			took := time.Since(start)
			if err == nil {
				t.Fatalf("the broker started:\n%s", out)
			}
			if took > 10*time.Second {
				t.Errorf("took %v to fail", took)
			}
			var last string
			for _, l := range lines(string(out)) {
				if strings.HasPrefix(l, "streamhouse:") {
					last = l
				}
			}
			if last == "" {
				t.Fatalf("no error line:\n%s", out)
			}
			for _, w := range tt.want {
				if !strings.Contains(last, w) {
					t.Errorf("error line %q does not say %q", last, w)
				}
			}
			if strings.Contains(string(out), "s3cret-pw") || (admin.Password != "" && strings.Contains(string(out), ":"+admin.Password+"@")) {
				t.Errorf("the output shows the password:\n%s", out)
			}
		})
	}
}

// TestCatalogSecondBrokerRefused: a broker serving its own data directory
// on a PostgreSQL catalog claims it; a second broker pointed at the same
// catalog from another directory exits at once naming the first, and once
// the first stops the second starts.
func TestCatalogSecondBrokerRefused(t *testing.T) {
	t.Parallel()
	if pgtest.Enabled() {
		t.Skip("runs in the default pass already")
	}
	url := pgtest.URL(t)
	first := startProcWith(t, binary(t), nil, t.TempDir(), "", "--metadata", "postgres", "--database-url", url)
	second := freePort(t)
	cmd := exec.Command(binary(t), "--listen", second, "--data-dir", t.TempDir(), "--http-listen", "", "--schema-registry-listen", "",
		"--log-format", "text", "--metadata", "postgres", "--database-url", url)
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "in use by another broker") || !strings.Contains(string(out), first.addr) {
		t.Fatalf("a second broker on the catalog: %v\n%s", err, out)
	}
	first.stop()
	startProcWith(t, binary(t), nil, t.TempDir(), second, "--metadata", "postgres", "--database-url", url).stop()
}

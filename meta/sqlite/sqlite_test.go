package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/streamhouse/streamhouse/meta"
	"github.com/streamhouse/streamhouse/meta/metatest"
)

// open opens a catalog at path and closes it when the test ends.
func open(t *testing.T, path string, opts Options) *Catalog {
	t.Helper()
	c, err := Open(t.Context(), path, opts)
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return c
}

// rawExec runs statements on the file at path outside the catalog, as an
// older or newer StreamHouse, or another program, would.
func rawExec(t *testing.T, path string, stmts ...string) {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := db.Close(); err != nil {
			t.Error(err)
		}
	}()
	for _, s := range stmts {
		if _, err := db.ExecContext(t.Context(), s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

func TestPragmas(t *testing.T) {
	t.Parallel()
	c := open(t, filepath.Join(t.TempDir(), "metadata.db"), Options{})
	// Every pool's connections run with these; synchronous=2 is FULL.
	tests := []struct {
		pool   string
		db     *sql.DB
		pragma string
		want   string
	}{
		{"writer", c.w, "journal_mode", "wal"},
		{"writer", c.w, "synchronous", "2"},
		{"writer", c.w, "foreign_keys", "1"},
		{"writer", c.w, "busy_timeout", fmt.Sprint(busyTimeout.Milliseconds())},
		{"writer", c.w, "query_only", "0"},
		{"writer", c.w, "application_id", fmt.Sprint(applicationID)},
		{"writer", c.w, "user_version", fmt.Sprint(schemaVersion())},
		{"reader", c.r, "journal_mode", "wal"},
		{"reader", c.r, "synchronous", "2"},
		{"reader", c.r, "foreign_keys", "1"},
		{"reader", c.r, "busy_timeout", fmt.Sprint(busyTimeout.Milliseconds())},
		{"reader", c.r, "query_only", "1"},
	}
	for _, tt := range tests {
		t.Run(tt.pool+"/"+tt.pragma, func(t *testing.T) {
			var got string
			if err := tt.db.QueryRowContext(t.Context(), "PRAGMA "+tt.pragma).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("PRAGMA %s = %q, want %q", tt.pragma, got, tt.want)
			}
		})
	}
}

// TestWriterBeginsImmediate checks that a writer transaction holds the write
// lock from BEGIN, which is what keeps a read-then-write transaction from
// failing with SQLITE_BUSY on the upgrade.
func TestWriterBeginsImmediate(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "metadata.db")
	c := open(t, path, Options{})
	tx, err := c.w.BeginTx(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback() }()

	other, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(0)")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = other.Close() }()
	if _, err := other.ExecContext(t.Context(), "BEGIN IMMEDIATE"); err == nil {
		t.Fatal("another connection took the write lock while a writer transaction was open")
	}
}

func TestReopenPersists(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "metadata.db")
	c, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	id, err := c.ClusterID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	created := time.UnixMilli(1_700_000_000_042).UTC()
	want := []meta.Topic{
		{Name: "a", ID: metatest.NewTopicID(t), Partitions: 6, Configs: map[string]string{"retention.ms": "1000", "x": "replaced"}, CreatedAt: created, Version: 3},
		{Name: "b", ID: metatest.NewTopicID(t), Partitions: 1, Configs: map[string]string{}, CreatedAt: created, Version: 1},
	}
	gone := meta.Topic{Name: "gone", ID: metatest.NewTopicID(t), Partitions: 2, Configs: map[string]string{"k": "v"}, CreatedAt: created}
	for _, tp := range []meta.Topic{want[0], want[1], gone} {
		if tp.Name == "a" {
			tp.Partitions, tp.Configs = 3, map[string]string{"x": "old"}
		}
		metatest.CreateTopic(t, c, tp)
	}
	if err := c.SetPartitions(ctx, want[0].ID, 1, 6); err != nil {
		t.Fatal(err)
	}
	if err := c.SetTopicConfigs(ctx, want[0].ID, 2, want[0].Configs); err != nil {
		t.Fatal(err)
	}
	// Offsets: committed, recommitted, some deleted, one group deleted,
	// and those of the deleted topic gone with it.
	at := time.UnixMilli(1_700_000_000_007).UTC()
	wantOffsets := []meta.GroupOffset{
		{Group: "g", Topic: "a", Partition: 0, Offset: 10, LeaderEpoch: -1, CommitTime: at},
		{Group: "g", Topic: "a", Partition: 5, Offset: 12, LeaderEpoch: 4, Metadata: "m", CommitTime: at},
		{Group: "g", Topic: "b", Partition: 0, Offset: 0, LeaderEpoch: 0, Metadata: "x", CommitTime: at},
	}
	metatest.CommitOffsets(t, c,
		meta.GroupOffset{Group: "g", Topic: "a", Partition: 0, Offset: 1, LeaderEpoch: 1, Metadata: "old", CommitTime: at},
		meta.GroupOffset{Group: "g", Topic: "a", Partition: 1, Offset: 2, LeaderEpoch: 1, CommitTime: at},
		meta.GroupOffset{Group: "g", Topic: "gone", Partition: 0, Offset: 3, LeaderEpoch: 1, CommitTime: at},
		meta.GroupOffset{Group: "dropped", Topic: "a", Partition: 0, Offset: 4, LeaderEpoch: 1, CommitTime: at},
		meta.GroupOffset{Group: "only-gone", Topic: "gone", Partition: 1, Offset: 5, LeaderEpoch: 1, CommitTime: at},
	)
	metatest.CommitOffsets(t, c, wantOffsets...)
	if err := c.DeleteOffsets(ctx, "g", []meta.TopicPartition{{Topic: "a", Partition: 1}}); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteGroupOffsets(ctx, "dropped"); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteTopic(ctx, gone.ID, 1); err != nil {
		t.Fatal(err)
	}
	pid, err := c.AllocateProducerIDs(ctx, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}

	c = open(t, path, Options{})
	if again, err := c.AllocateProducerIDs(ctx, 1); err != nil || again < pid+1000 {
		t.Errorf("producer ids after reopen start at %d (%v), below the %d allocated before", again, err, pid+1000)
	}
	groups, err := c.OffsetGroups(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(groups, []string{"g"}) {
		t.Errorf("OffsetGroups after reopen = %q, want [g]", groups)
	}
	gotOffsets, err := c.GroupOffsets(ctx, "g")
	if err != nil {
		t.Fatal(err)
	}
	metatest.EqualOffsets(t, gotOffsets, wantOffsets)
	gotID, err := c.ClusterID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if gotID != id {
		t.Errorf("cluster id after reopen = %q, want %q", gotID, id)
	}
	got, err := c.Topics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	metatest.EqualTopics(t, got, want)
}

// TestCrashPersists checks that what was acknowledged is in the file when the
// catalog was never closed, as after kill -9: the WAL is left behind, and the
// next Open recovers from it.
func TestCrashPersists(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dir := t.TempDir()
	path := filepath.Join(dir, "metadata.db")
	c, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := meta.Topic{Name: "t", ID: metatest.NewTopicID(t), Partitions: 3, Configs: map[string]string{"a": "1"}, CreatedAt: time.UnixMilli(1).UTC(), Version: 1}
	metatest.CreateTopic(t, c, want)
	wantOffsets := []meta.GroupOffset{{Group: "g", Topic: "t", Partition: 2, Offset: 9, LeaderEpoch: -1, CommitTime: time.UnixMilli(2).UTC()}}
	metatest.CommitOffsets(t, c, wantOffsets...)
	// Copy the files while c is open, as a crash would leave them: no
	// checkpoint, no WAL cleanup.
	crashed := filepath.Join(t.TempDir(), "metadata.db")
	for _, suffix := range []string{"", "-wal"} {
		b, err := os.ReadFile(path + suffix)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(crashed+suffix, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	reopened := open(t, crashed, Options{})
	got, err := reopened.Topic(ctx, "t")
	if err != nil {
		t.Fatal(err)
	}
	metatest.EqualTopic(t, got, want)
	gotOffsets, err := reopened.GroupOffsets(ctx, "g")
	if err != nil {
		t.Fatal(err)
	}
	metatest.EqualOffsets(t, gotOffsets, wantOffsets)
}

func TestSchemaTooNew(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "metadata.db")
	c, err := Open(t.Context(), path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	newer := schemaVersion() + 1
	rawExec(t, path, fmt.Sprintf("PRAGMA user_version = %d", newer))

	c, err = Open(t.Context(), path, Options{})
	if !errors.Is(err, meta.ErrSchemaTooNew) {
		if c != nil {
			_ = c.Close()
		}
		t.Fatalf("Open of a newer catalog: err = %v, want %v", err, meta.ErrSchemaTooNew)
	}
	abs, _ := filepath.Abs(path)
	msg := fmt.Sprintf("catalog at %s has schema version %d; this StreamHouse understands up to %d; upgrade StreamHouse", abs, newer, schemaVersion())
	if !strings.Contains(err.Error(), msg) {
		t.Errorf("error %q does not say %q", err, msg)
	}
}

func TestNotCatalog(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		stmts []string
	}{
		{"other tables", []string{"CREATE TABLE accounts (id INTEGER PRIMARY KEY)"}},
		{"other application id", []string{"PRAGMA application_id = 42"}},
		{"other user version", []string{"PRAGMA user_version = 3"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "other.db")
			rawExec(t, path, tt.stmts...)
			c, err := Open(t.Context(), path, Options{})
			if !errors.Is(err, ErrNotCatalog) {
				if c != nil {
					_ = c.Close()
				}
				t.Fatalf("err = %v, want %v", err, ErrNotCatalog)
			}
		})
	}
	t.Run("not a database", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "metadata.db")
		if err := os.WriteFile(path, bytes.Repeat([]byte("not sqlite "), 1000), 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := Open(t.Context(), path, Options{})
		if err == nil {
			_ = c.Close()
			t.Fatal("Open of a file that is not a database succeeded")
		}
	})
}

func TestCreatesMissingDirs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		rel  string
	}{
		{"nested", "a/b/c/metadata.db"},
		// URI syntax in directory names must stay literal: the file is
		// where the path says, not where a URI parser would put it.
		{"uri characters", "sp ace/q?uery/h#ash/pct%41/amp&=/metadata.db"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			path := filepath.Join(dir, filepath.FromSlash(tt.rel))
			c := open(t, path, Options{})
			metatest.CreateTopic(t, c, meta.Topic{Name: "t", ID: metatest.NewTopicID(t), Partitions: 1})
			if _, err := os.Stat(path); err != nil {
				t.Fatalf("catalog file not at %s: %v", path, err)
			}
			if c.Path() != path {
				t.Errorf("Path() = %q, want %q", c.Path(), path)
			}
			var stray []string
			err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
				if err == nil && !d.IsDir() && !strings.HasPrefix(p, path) {
					stray = append(stray, p)
				}
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(stray) > 0 {
				t.Errorf("files outside %s: %v", path, stray)
			}
		})
	}
}

func TestConcurrentOpen(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "metadata.db")
	cats := make([]*Catalog, 4)
	errs := make([]error, len(cats))
	var wg sync.WaitGroup
	for i := range cats {
		wg.Go(func() { cats[i], errs[i] = Open(t.Context(), path, Options{}) })
	}
	wg.Wait()
	ids := map[string]bool{}
	for i, err := range errs {
		if err != nil {
			t.Errorf("Open %d: %v", i, err)
			continue
		}
		id, err := cats[i].ClusterID(t.Context())
		if err != nil {
			t.Errorf("ClusterID %d: %v", i, err)
		}
		ids[id] = true
		if err := cats[i].Close(); err != nil {
			t.Errorf("Close %d: %v", i, err)
		}
	}
	if len(ids) != 1 {
		t.Errorf("catalogs over one file report cluster ids %v, want one", ids)
	}
}

func TestDeleteLeavesNoConfigs(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	c := open(t, filepath.Join(t.TempDir(), "metadata.db"), Options{})
	id := metatest.NewTopicID(t)
	metatest.CreateTopic(t, c, meta.Topic{Name: "t", ID: id, Partitions: 1, Configs: map[string]string{"a": "1", "b": "2"}})
	if err := c.DeleteTopic(ctx, id, 1); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := c.r.QueryRowContext(ctx, "SELECT count(*) FROM topic_configs").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("%d config rows outlived their topic", n)
	}
}

func TestOptions(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	var logs bytes.Buffer
	now := time.Date(2025, 6, 1, 12, 0, 0, 123_456_789, time.UTC)
	c := open(t, filepath.Join(t.TempDir(), "metadata.db"), Options{
		Logger: slog.New(slog.NewTextHandler(&logs, nil)),
		Now:    func() time.Time { return now },
	})
	metatest.CreateTopic(t, c, meta.Topic{Name: "t", ID: metatest.NewTopicID(t), Partitions: 1})
	got, err := c.Topic(ctx, "t")
	if err != nil {
		t.Fatal(err)
	}
	if want := now.Truncate(time.Millisecond); !got.CreatedAt.Equal(want) {
		t.Errorf("CreatedAt = %v, want the clock's %v", got.CreatedAt, want)
	}
	metatest.CommitOffsets(t, c, meta.GroupOffset{Group: "g", Topic: "t", Partition: 0, Offset: 1, LeaderEpoch: -1})
	offsets, err := c.GroupOffsets(ctx, "g")
	if err != nil {
		t.Fatal(err)
	}
	if want := now.Truncate(time.Millisecond); len(offsets) != 1 || !offsets[0].CommitTime.Equal(want) {
		t.Errorf("GroupOffsets = %+v, want one with CommitTime the clock's %v", offsets, want)
	}
	if _, err := c.ClusterID(ctx); err != nil {
		t.Fatal(err)
	}
	for _, msg := range []string{"migrated catalog schema", "generated cluster id"} {
		if !strings.Contains(logs.String(), msg) {
			t.Errorf("log lacks %q:\n%s", msg, logs.String())
		}
	}
}

func TestMigrationsOrdered(t *testing.T) {
	t.Parallel()
	for i, m := range migrations {
		if m.version != i+1 || m.name == "" || len(m.stmts) == 0 {
			t.Errorf("migrations[%d] = version %d %q with %d statements, want version %d, a name and statements",
				i, m.version, m.name, len(m.stmts), i+1)
		}
	}
}

func TestClusterIDForm(t *testing.T) {
	t.Parallel()
	for range 1000 {
		id, err := newClusterID()
		if err != nil {
			t.Fatal(err)
		}
		if len(id) != 22 || id[0] == '-' {
			t.Fatalf("newClusterID() = %q", id)
		}
	}
}

// Writes that come together share transactions (group commit), and each
// keeps its own outcome: the ones whose f fails leave nothing, the others
// are all stored; a write whose ctx ended before it ran is not applied.
func TestGroupCommitOutcomes(t *testing.T) {
	t.Parallel()
	c := open(t, filepath.Join(t.TempDir(), "metadata.db"), Options{})
	ctx := t.Context()
	c.mu.RLock()
	err := c.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "CREATE TABLE g (n INTEGER PRIMARY KEY)")
		return err
	})
	c.mu.RUnlock()
	if err != nil {
		t.Fatal(err)
	}
	errOdd := errors.New("odd")
	const n = 200
	var wg sync.WaitGroup
	errs := make([]error, n)
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	for i := range n {
		wg.Go(func() {
			wctx := ctx
			if i%10 == 4 {
				wctx = cancelled
			}
			c.mu.RLock()
			defer c.mu.RUnlock()
			errs[i] = c.write(wctx, func(tx *sql.Tx) error {
				if _, err := tx.ExecContext(ctx, "INSERT INTO g (n) VALUES (?)", i); err != nil {
					return err
				}
				if i%2 == 1 {
					return errOdd // after its insert: rolled back
				}
				return nil
			})
		})
	}
	wg.Wait()
	var got []int
	rows, err := c.r.QueryContext(ctx, "SELECT n FROM g ORDER BY n")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var k int
		if err := rows.Scan(&k); err != nil {
			t.Fatal(err)
		}
		got = append(got, k)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	var want []int
	for i := range n {
		switch {
		case i%10 == 4:
			if !errors.Is(errs[i], context.Canceled) {
				t.Errorf("write %d with its ctx cancelled: %v", i, errs[i])
			}
		case i%2 == 1:
			if !errors.Is(errs[i], errOdd) {
				t.Errorf("write %d whose f failed: %v", i, errs[i])
			}
		default:
			if errs[i] != nil {
				t.Errorf("write %d: %v", i, errs[i])
			}
			want = append(want, i)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("stored %v,\nwant %v", got, want)
	}
}

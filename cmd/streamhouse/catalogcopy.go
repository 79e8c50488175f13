package main

// streamhouse catalog copy: moves a catalog from one store to another
// (SQLite to PostgreSQL, or back), offline.
//
//	streamhouse catalog copy --from sqlite:./data --to postgres://user:pw@host/db
//
// It refuses while a broker holds the SQLite side's data directory, reads
// the source whole (meta.Snapshots.Export, one read transaction), writes it
// into the target in one transaction (Import: all or nothing, only into an
// empty catalog), reads the target back and compares counts and checksums
// section by section. Run again after a failure it either copies (nothing
// was written) or finds the same catalog there and verifies it; a target
// holding another catalog is refused.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/streamhouse/streamhouse/meta"
	"github.com/streamhouse/streamhouse/meta/postgres"
	"github.com/streamhouse/streamhouse/meta/sqlite"
)

// runCatalog runs `streamhouse catalog SUBCOMMAND`.
func runCatalog(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "copy" {
		fmt.Fprintln(stderr, "usage: streamhouse catalog copy --from sqlite:PATH|postgres://... --to sqlite:PATH|postgres://...")
		return errors.New("catalog: want the subcommand copy")
	}
	fset := flag.NewFlagSet("streamhouse catalog copy", flag.ContinueOnError)
	fset.SetOutput(stderr)
	from := fset.String("from", "", "the catalog to copy: sqlite:PATH (a data directory or its metadata.db) or a PostgreSQL URL (postgres://user:password@host:5432/database; its search_path names the schema)")
	to := fset.String("to", "", "the catalog to copy into, the same forms; it must be empty (or hold this very catalog, from an earlier run)")
	timeout := fset.Duration("timeout", 5*time.Minute, "how long the copy may take")
	if err := fset.Parse(args[1:]); err != nil {
		return err
	}
	if *from == "" || *to == "" || fset.NArg() > 0 {
		fset.Usage()
		return errors.New("catalog copy: --from and --to are required")
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()

	src, err := openCopyEnd(ctx, *from, true)
	if err != nil {
		return fmt.Errorf("catalog copy: --from: %w", err)
	}
	defer src.close()
	dst, err := openCopyEnd(ctx, *to, false)
	if err != nil {
		return fmt.Errorf("catalog copy: --to: %w", err)
	}
	defer dst.close()
	if src.name == dst.name {
		return errors.New("catalog copy: --from and --to name the same catalog")
	}

	snap, err := src.cat.Export(ctx)
	if err != nil {
		return fmt.Errorf("catalog copy: read %s: %w", src.name, err)
	}
	copied := true
	if err := dst.cat.Import(ctx, snap); err != nil {
		if !errors.Is(err, meta.ErrNotEmpty) {
			return fmt.Errorf("catalog copy: write %s: %w (nothing was written; run it again)", dst.name, err)
		}
		copied = false
	}
	got, err := dst.cat.Export(ctx)
	if err != nil {
		return fmt.Errorf("catalog copy: read back %s: %w", dst.name, err)
	}
	want, have := sections(snap), sections(got)
	fmt.Fprintf(stdout, "%-18s %8s %8s  %s\n", "section", "source", "target", "checksum")
	same := true
	for i, s := range want {
		h := have[i]
		mark := "ok"
		if s.count != h.count || s.sum != h.sum {
			mark, same = "DIFFERS (target "+h.sum+")", false
		}
		fmt.Fprintf(stdout, "%-18s %8d %8d  %s %s\n", s.name, s.count, h.count, s.sum, mark)
	}
	switch {
	case !same && copied:
		return fmt.Errorf("catalog copy: %s does not read back as %s wrote it", dst.name, src.name)
	case !same:
		return fmt.Errorf("catalog copy: %s already holds another catalog (cluster %s); copy into an empty one", dst.name, got.ClusterID)
	case copied:
		fmt.Fprintf(stdout, "copied %s to %s (cluster %s) and verified\n", src.name, dst.name, snap.ClusterID)
	default:
		fmt.Fprintf(stdout, "%s already holds this catalog (cluster %s): verified, nothing written\n", dst.name, snap.ClusterID)
	}
	return nil
}

// copyEnd is one side of a copy: the catalog, its name for messages, and
// what to release after.
type copyEnd struct {
	cat   meta.Catalog
	name  string
	close func()
}

// openCopyEnd opens spec, a sqlite: path or a PostgreSQL URL. A SQLite
// catalog's data directory is locked as a broker locks it, so that no
// broker runs on it during the copy; a source must exist.
func openCopyEnd(ctx context.Context, spec string, source bool) (*copyEnd, error) {
	switch {
	case strings.HasPrefix(spec, "sqlite:"):
		path := strings.TrimPrefix(spec, "sqlite:")
		if fi, err := os.Stat(path); err == nil && fi.IsDir() {
			path = filepath.Join(path, "metadata.db")
		}
		if _, err := os.Stat(path); source && err != nil {
			return nil, fmt.Errorf("no catalog at %s: %w", path, err)
		}
		dir := filepath.Dir(path)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		unlock, err := lockDir(dir)
		if err != nil {
			return nil, fmt.Errorf("%w (stop the broker first: the copy is offline)", err)
		}
		c, err := sqlite.Open(ctx, path, sqlite.Options{})
		if err != nil {
			unlock()
			return nil, err
		}
		return &copyEnd{cat: c, name: "sqlite:" + c.Path(), close: func() { c.Close(); unlock() }}, nil
	case strings.HasPrefix(spec, "postgres://"), strings.HasPrefix(spec, "postgresql://"):
		c, err := postgres.Open(ctx, spec, postgres.Options{})
		if err != nil {
			return nil, err
		}
		return &copyEnd{cat: c, name: "postgres " + c.Where(), close: func() { c.Close() }}, nil
	}
	return nil, fmt.Errorf("%q is neither sqlite:PATH nor a postgres:// URL", postgres.Redact(spec))
}

// section is one part of a snapshot, counted and checksummed for the
// comparison.
type section struct {
	name  string
	count int
	sum   string
}

// sections splits s into what the copy compares: each part's row count
// and the SHA-256 (first 16 hex digits) of its canonical JSON.
func sections(s meta.Snapshot) []section {
	sum := func(v any) string {
		b, _ := json.Marshal(v) // plain data: cannot fail
		h := sha256.Sum256(b)
		return hex.EncodeToString(h[:8])
	}
	txns := make([]any, len(s.Transactions))
	for i, t := range s.Transactions {
		// Version is not in Transaction's JSON; it matters here.
		txns[i] = struct {
			T meta.Transaction
			V int64
		}{t, t.Version}
	}
	topics := make([]meta.Topic, len(s.Topics))
	for i, t := range s.Topics {
		t.CreatedAt = t.CreatedAt.UTC().Truncate(time.Millisecond)
		topics[i] = t
	}
	offsets := make([]meta.GroupOffset, len(s.Offsets))
	for i, o := range s.Offsets {
		o.CommitTime = o.CommitTime.UTC().Truncate(time.Millisecond)
		offsets[i] = o
	}
	return []section{
		{"cluster id", btoi(s.ClusterID != ""), sum(s.ClusterID)},
		{"producer ids", btoi(s.NextProducerID > 0), sum(s.NextProducerID)},
		{"topics", len(s.Topics), sum(topics)},
		{"offsets", len(s.Offsets), sum(offsets)},
		{"groups", len(s.Groups), sum(s.Groups)},
		{"share states", len(s.ShareStates), sum(s.ShareStates)},
		{"group configs", len(s.GroupConfigs), sum(s.GroupConfigs)},
		{"transactions", len(s.Transactions), sum(txns)},
		{"broker configs", len(s.BrokerConfigs), sum(s.BrokerConfigs)},
		{"client quotas", len(s.ClientQuotas), sum(s.ClientQuotas)},
		{"scram credentials", len(s.ScramCredentials), sum(s.ScramCredentials)},
		{"acls", len(s.ACLs), sum(s.ACLs)},
		{"delegation tokens", len(s.DelegationTokens), sum(s.DelegationTokens)},
		{"remote segments", len(s.RemoteSegments), sum(s.RemoteSegments)},
		{"remote log starts", len(s.RemoteLogStarts), sum(s.RemoteLogStarts)},
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"

	"github.com/streamhouse/streamhouse/internal/loglevel"
	"github.com/streamhouse/streamhouse/meta"
	"github.com/streamhouse/streamhouse/meta/postgres"
	"github.com/streamhouse/streamhouse/meta/sqlite"
	"github.com/streamhouse/streamhouse/metrics"
)

// The catalogs --metadata chooses between.
const (
	metadataSQLite   = "sqlite"
	metadataPostgres = "postgres"
)

// catalog is the catalog the broker runs on, with what the rest of main
// needs to know of it.
type catalog struct {
	meta.Catalog
	// where names it for logs: the SQLite file, or PostgreSQL's host,
	// port, database and schema (never the password).
	where string
	// unavailable is why the catalog cannot be reached now, nil while it
	// can: /ready's answer.
	unavailable func() error
	// lost is closed when another broker took a claimed catalog (nil:
	// never); release gives the claim up.
	lost    <-chan struct{}
	release func()
}

// Close releases the claim, then the catalog.
func (c *catalog) Close() error {
	if c.release != nil {
		c.release()
	}
	return c.Catalog.Close()
}

// openCatalog opens the catalog --metadata names.
func openCatalog(ctx context.Context, o *options, levels *loglevel.Levels, m *metrics.Broker) (*catalog, error) {
	clog := levels.Logger("streamhouse.catalog")
	switch o.metadata {
	case metadataSQLite:
		path := filepath.Join(o.dataDir, "metadata.db")
		c, err := sqlite.Open(ctx, path, sqlite.Options{Logger: clog})
		if err != nil {
			return nil, err
		}
		m.Catalog(nil)
		return &catalog{Catalog: c, where: c.Path(), unavailable: func() error { return nil }, release: func() {}}, nil
	case metadataPostgres:
		if o.databaseURL == "" {
			return nil, fmt.Errorf("%s: --metadata=postgres needs --database-url or DATABASE_URL (postgresql://user:password@host:5432/database)", o.where("metadata"))
		}
		var opened atomic.Pointer[postgres.Catalog]
		cm := m.Catalog(func() bool { c := opened.Load(); return c != nil && c.Unavailable() == nil })
		c, err := postgres.Open(ctx, o.databaseURL, postgres.Options{Logger: clog, Observe: cm.Observe})
		if err != nil {
			return nil, err
		}
		opened.Store(c)
		if o.clustered() {
			// The cluster mode: every broker shares the catalog,
			// each registered with a session of its own
			// (cluster.Join), serving the partitions it leases;
			// the shared claim refuses a single broker on it, and
			// this one while a single broker holds it.
			claim, err := c.ClaimShared(ctx, postgres.Owner{NodeID: int32(o.nodeID), Address: ownAddress(o)})
			if err != nil {
				c.Close()
				return nil, fmt.Errorf("claim the catalog: %w", err)
			}
			return &catalog{Catalog: c, where: "postgres " + c.Where(), unavailable: c.Unavailable, lost: claim.Lost(), release: claim.Release}, nil
		}
		// This broker serves the partitions in its own data directory:
		// it claims the catalog, so that a second broker pointed at it
		// is refused rather than serve every topic from another
		// directory.
		claim, err := c.Claim(ctx, postgres.Owner{NodeID: int32(o.nodeID), Address: ownAddress(o)})
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("claim the catalog: %w", err)
		}
		return &catalog{Catalog: c, where: "postgres " + c.Where(), unavailable: c.Unavailable, lost: claim.Lost(), release: claim.Release}, nil
	}
	return nil, fmt.Errorf("%s: %q is not sqlite or postgres", o.where("metadata"), o.metadata)
}

// ownAddress is the address this broker tells clients: the first advertised
// listener's, else the first listener's, for another broker's error.
func ownAddress(o *options) string {
	for _, key := range []string{"advertised.listeners", "listeners"} {
		v := o.settings[key]
		if v == "" {
			continue
		}
		first, _, _ := strings.Cut(v, ",")
		if _, hostPort, ok := strings.Cut(first, "://"); ok {
			return hostPort
		}
		return first
	}
	return o.listen
}

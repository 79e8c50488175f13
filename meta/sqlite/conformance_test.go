package sqlite_test

import (
	"path/filepath"
	"testing"

	"github.com/streamhouse/streamhouse/meta"
	"github.com/streamhouse/streamhouse/meta/metatest"
	"github.com/streamhouse/streamhouse/meta/sqlite"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	metatest.Run(t, func(t *testing.T) meta.Catalog {
		t.Helper()
		c, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "metadata.db"), sqlite.Options{})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		return c
	})
}

// TestConformanceShared runs the two-writer cases with two catalogs on one
// file, as two processes would open it.
func TestConformanceShared(t *testing.T) {
	t.Parallel()
	metatest.RunShared(t, func(t *testing.T) (meta.Catalog, meta.Catalog) {
		t.Helper()
		path := filepath.Join(t.TempDir(), "metadata.db")
		a, err := sqlite.Open(t.Context(), path, sqlite.Options{})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		b, err := sqlite.Open(t.Context(), path, sqlite.Options{})
		if err != nil {
			t.Fatalf("Open again: %v", err)
		}
		return a, b
	})
}

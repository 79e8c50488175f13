package postgres_test

import (
	"testing"

	"github.com/streamhouse/streamhouse/internal/pgtest"
	"github.com/streamhouse/streamhouse/meta"
	"github.com/streamhouse/streamhouse/meta/metatest"
	"github.com/streamhouse/streamhouse/meta/postgres"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	pgtest.Require(t)
	metatest.Run(t, func(t *testing.T) meta.Catalog {
		t.Helper()
		c, err := postgres.Open(t.Context(), pgtest.URL(t), postgres.Options{})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		return c
	})
}

// TestConformanceShared runs the two-writer cases with two catalogs on one
// schema, as two brokers open it.
func TestConformanceShared(t *testing.T) {
	t.Parallel()
	pgtest.Require(t)
	metatest.RunShared(t, func(t *testing.T) (meta.Catalog, meta.Catalog) {
		t.Helper()
		url := pgtest.URL(t)
		a, err := postgres.Open(t.Context(), url, postgres.Options{})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		b, err := postgres.Open(t.Context(), url, postgres.Options{})
		if err != nil {
			t.Fatalf("Open again: %v", err)
		}
		return a, b
	})
}

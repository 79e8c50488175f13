package metatest

import (
	"slices"
	"sync"
	"testing"

	"github.com/streamhouse/streamhouse/meta"
)

// testProducerIDs: allocations are disjoint and never below an earlier one.
func testProducerIDs(t *testing.T, open func(t *testing.T) meta.Catalog) {
	ctx := t.Context()
	c := open(t)
	if _, err := c.AllocateProducerIDs(ctx, 0); err == nil {
		t.Fatal("AllocateProducerIDs(0) succeeded")
	}
	a, err := c.AllocateProducerIDs(ctx, 1000)
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.AllocateProducerIDs(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if a < 0 || b < a+1000 {
		t.Fatalf("allocations [%d, %d) then %d overlap", a, a+1000, b)
	}
}

func testProducerIDsConcurrent(t *testing.T, open func(t *testing.T) meta.Catalog) {
	ctx := t.Context()
	c := open(t)
	const callers, n = 8, 10
	firsts := make([]int64, callers)
	var wg sync.WaitGroup
	errs := make([]error, callers)
	for i := range callers {
		wg.Go(func() { firsts[i], errs[i] = c.AllocateProducerIDs(ctx, n) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	slices.Sort(firsts)
	for i := 1; i < callers; i++ {
		if firsts[i] < firsts[i-1]+n {
			t.Fatalf("concurrent allocations overlap: %v (each %d ids)", firsts, n)
		}
	}
}

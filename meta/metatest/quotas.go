package metatest

import (
	"errors"
	"testing"

	"github.com/streamhouse/streamhouse/meta"
)

func testClientQuotas(t *testing.T, open func(t *testing.T) meta.Catalog) {
	ctx := t.Context()
	c := open(t)
	name := "app"
	a := meta.ClientQuota{Entity: []meta.QuotaEntityPart{{Type: "user", Name: nil}, {Type: "client-id", Name: &name}},
		Values: map[string]float64{"producer_byte_rate": 1024, "consumer_byte_rate": 2048.5}}
	if err := c.SetClientQuota(ctx, a); err != nil {
		t.Fatal(err)
	}
	// The same entity with its parts in another order replaces it, at
	// the version it is at.
	a2 := meta.ClientQuota{Entity: []meta.QuotaEntityPart{a.Entity[1], a.Entity[0]}, Values: map[string]float64{"producer_byte_rate": 10}}
	if err := c.SetClientQuota(ctx, a2); !errors.Is(err, meta.ErrConflict) {
		t.Fatalf("SetClientQuota at version 0 of an entity at 1: err = %v, want %v", err, meta.ErrConflict)
	}
	a2.Version = 1
	if err := c.SetClientQuota(ctx, a2); err != nil {
		t.Fatal(err)
	}
	if err := c.SetClientQuota(ctx, meta.ClientQuota{Entity: []meta.QuotaEntityPart{{Type: "client-id"}}, Values: map[string]float64{"request_percentage": 50}}); err != nil {
		t.Fatal(err)
	}
	got, err := c.ClientQuotas(ctx)
	if err != nil || len(got) != 2 {
		t.Fatalf("ClientQuotas = %+v, %v", got, err)
	}
	var found bool
	for _, q := range got {
		if len(q.Entity) == 2 {
			found = q.Entity[0].Type == "client-id" && *q.Entity[0].Name == "app" && q.Entity[1].Name == nil &&
				q.Values["producer_byte_rate"] == 10 && len(q.Values) == 1 && q.Version == 2
		}
	}
	if !found {
		t.Fatalf("replaced entity not as set: %+v", got)
	}
	if err := c.SetClientQuota(ctx, meta.ClientQuota{Entity: a.Entity, Version: 2}); err != nil {
		t.Fatal(err)
	}
	if got, err := c.ClientQuotas(ctx); err != nil || len(got) != 1 {
		t.Fatalf("after removing: %+v, %v", got, err)
	}
	// Gone, it starts again at version 0.
	if err := c.SetClientQuota(ctx, meta.ClientQuota{Entity: a.Entity, Values: map[string]float64{"producer_byte_rate": 1}}); err != nil {
		t.Fatalf("SetClientQuota of a removed entity at version 0: %v", err)
	}
}

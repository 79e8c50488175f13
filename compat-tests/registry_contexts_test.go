package compattests

// Schema contexts through franz-go's schema registry client (pkg/sr):
// subjects qualified ":.ctx:name", ids per context, /contexts, lookups by
// id within a context, prefix listings, and all of it after a restart.

import (
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/sr"
)

func TestRegistryContextsFranzGo(t *testing.T) {
	t.Parallel()
	rcl, restart := srStartFranzGo(t)
	ctx := fgCtx(t)
	plain, err := rcl.CreateSchema(ctx, "orders-value", sr.Schema{Schema: srOrderV1, Type: sr.TypeAvro})
	if err != nil {
		t.Fatal(err)
	}
	// A client scoped to a context sends /contexts/.staging/... paths.
	staged, err := rcl.CreateSchema(sr.InContext(ctx, ".staging"), "orders-value", sr.Schema{Schema: srOrderV2, Type: sr.TypeAvro})
	if err != nil {
		t.Fatal(err)
	}
	// Both are the first schema of their context.
	if plain.ID != 1 || staged.ID != 1 || staged.Subject != ":.staging:orders-value" {
		t.Fatalf("registered %+v and %+v, want id 1 in each context", plain, staged)
	}
	check := func() {
		t.Helper()
		contexts, err := rcl.Contexts(ctx)
		if err != nil || !slices.Equal(contexts, []string{".", ".staging"}) {
			t.Fatalf("contexts %q (%v)", contexts, err)
		}
		subjects, err := rcl.Subjects(ctx)
		if err != nil || !slices.Equal(subjects, []string{":.staging:orders-value", "orders-value"}) {
			t.Fatalf("subjects %q (%v)", subjects, err)
		}
		subjects, err = rcl.Subjects(sr.WithParams(ctx, sr.SubjectPrefix(":.staging:")))
		if err != nil || !slices.Equal(subjects, []string{":.staging:orders-value"}) {
			t.Fatalf("subjects of .staging %q (%v)", subjects, err)
		}
		s, err := rcl.SchemaByID(ctx, 1)
		if err != nil || s.Schema != srOrderV1 {
			t.Fatalf("id 1: %+v (%v), want v1", s, err)
		}
		s, err = rcl.SchemaByID(sr.WithParams(ctx, sr.Subject(":.staging:orders-value")), 1)
		if err != nil || s.Schema != srOrderV2 {
			t.Fatalf("id 1 of .staging: %+v (%v), want v2", s, err)
		}
		s, err = rcl.SchemaByID(sr.InContext(ctx, ".staging"), 1)
		if err != nil || s.Schema != srOrderV2 {
			t.Fatalf("id 1 in .staging: %+v (%v), want v2", s, err)
		}
		subjects, err = rcl.Subjects(sr.InContext(ctx, ".staging"))
		if err != nil || !slices.Equal(subjects, []string{":.staging:orders-value"}) {
			t.Fatalf("subjects in .staging %q (%v)", subjects, err)
		}
		got, err := rcl.LookupSchema(ctx, ":.staging:orders-value", sr.Schema{Schema: srOrderV2, Type: sr.TypeAvro})
		if err != nil || got.ID != 1 || got.Version != 1 {
			t.Fatalf("lookup in .staging: %+v (%v)", got, err)
		}
	}
	check()
	rcl = restart()
	check()
	if err := rcl.DeleteContext(ctx, ".staging"); err == nil {
		t.Fatal("a context with subjects was deleted")
	} else if re, ok := err.(*sr.ResponseError); !ok || re.ErrorCode != 42211 {
		t.Fatalf("deleting a context with subjects: %v, want error code 42211", err)
	}
}

package compattests

// Data contracts through franz-go's schema registry client (pkg/sr):
// metadata and rule sets registered with a version and read back (after a
// restart too), a config's default metadata and compatibility group.

import (
	"reflect"
	"testing"

	"github.com/twmb/franz-go/pkg/sr"
)

func TestRegistryDataContractsFranzGo(t *testing.T) {
	t.Parallel()
	rcl, restart := srStartFranzGo(t)
	ctx := fgCtx(t)
	const subject = "payments-value"
	meta := &sr.SchemaMetadata{
		Tags:       map[string][]string{"id": {"PII"}},
		Properties: map[string]string{"owner": "payments", "major": "1"},
		Sensitive:  []string{"card"},
	}
	rules := &sr.SchemaRuleSet{DomainRules: []sr.SchemaRule{{
		Name: "positiveAmount", Kind: sr.SchemaRuleKindCondition, Mode: sr.SchemaRuleModeWrite,
		Type: "CEL", Expr: "message.amount > 0", OnFailure: "DLQ", Params: map[string]string{"dlq.topic": "bad-payments"},
	}}}
	if res := rcl.SetCompatibility(ctx, sr.SetCompatibility{Level: sr.CompatBackward, Group: "major"}, subject); res[0].Err != nil {
		t.Fatal(res[0].Err)
	}
	v1, err := rcl.CreateSchema(ctx, subject, sr.Schema{Schema: srOrderV1, Type: sr.TypeAvro, SchemaMetadata: meta, SchemaRuleSet: rules})
	if err != nil {
		t.Fatal(err)
	}
	// srOrderBad is not BACKWARD compatible: refused within major 1,
	// accepted as the first version of major 2.
	major := func(m string) *sr.SchemaMetadata {
		return &sr.SchemaMetadata{Properties: map[string]string{"owner": "payments", "major": m}}
	}
	if _, err := rcl.CreateSchema(ctx, subject, sr.Schema{Schema: srOrderBad, Type: sr.TypeAvro, SchemaMetadata: major("1")}); err == nil {
		t.Fatal("an incompatible schema was registered in the same compatibility group")
	}
	v2, err := rcl.CreateSchema(ctx, subject, sr.Schema{Schema: srOrderBad, Type: sr.TypeAvro, SchemaMetadata: major("2")})
	if err != nil {
		t.Fatal(err)
	}
	check := func() {
		t.Helper()
		got, err := rcl.SchemaByVersion(ctx, subject, 1)
		if err != nil || got.ID != v1.ID {
			t.Fatalf("version 1: %+v (%v)", got, err)
		}
		if !reflect.DeepEqual(got.SchemaMetadata, meta) {
			t.Errorf("version 1 metadata %+v, want %+v", got.SchemaMetadata, meta)
		}
		if got.SchemaRuleSet == nil || len(got.SchemaRuleSet.DomainRules) != 1 {
			t.Fatalf("version 1 rule set %+v", got.SchemaRuleSet)
		}
		if r := got.SchemaRuleSet.DomainRules[0]; r.Name != "positiveAmount" || r.Kind != sr.SchemaRuleKindCondition ||
			r.Mode != sr.SchemaRuleModeWrite || r.Expr != "message.amount > 0" || r.Params["dlq.topic"] != "bad-payments" {
			t.Errorf("version 1 rule %+v", r)
		}
		// Version 2 took version 1's rules (it named none).
		got, err = rcl.SchemaByVersion(ctx, subject, 2)
		if err != nil || got.ID != v2.ID || got.SchemaRuleSet == nil || got.SchemaMetadata.Properties["major"] != "2" {
			t.Fatalf("version 2: %+v (%v)", got, err)
		}
		s, err := rcl.SchemaByID(ctx, v1.ID)
		if err != nil || !reflect.DeepEqual(s.SchemaMetadata, meta) {
			t.Fatalf("schema %d: %+v (%v)", v1.ID, s, err)
		}
		res := rcl.Compatibility(ctx, subject)
		if res[0].Err != nil || res[0].Group != "major" || res[0].Level != sr.CompatBackward {
			t.Fatalf("config %+v", res[0])
		}
	}
	check()
	rcl = restart()
	check()
}

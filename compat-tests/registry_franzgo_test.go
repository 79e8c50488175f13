package compattests

// franz-go's schema registry client (pkg/sr) and its Serde, with Avro
// through hamba/avro, against the broker's built-in registry: register,
// produce Confluent-framed records, consume and decode them, and the same
// ids after a restart.

import (
	"testing"

	"github.com/hamba/avro/v2"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"
)

type srOrder struct {
	ID       string  `avro:"id"`
	Amount   float64 `avro:"amount"`
	Currency string  `avro:"currency"`
}

const (
	srOrderV1 = `{"type":"record","name":"Order","namespace":"shop","fields":[{"name":"id","type":"string"},{"name":"amount","type":"double"}]}`
	srOrderV2 = `{"type":"record","name":"Order","namespace":"shop","fields":[{"name":"id","type":"string"},{"name":"amount","type":"double"},{"name":"currency","type":"string","default":"EUR"}]}`
	// srOrderBad drops amount and adds a field with no default: not
	// BACKWARD compatible with v2.
	srOrderBad = `{"type":"record","name":"Order","namespace":"shop","fields":[{"name":"id","type":"string"},{"name":"sku","type":"string"}]}`
)

func TestRegistryFranzGoSerde(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	b := srStart(t, dir)
	ctx := fgCtx(t)
	rcl, err := sr.NewClient(sr.URLs(b.url))
	if err != nil {
		t.Fatal(err)
	}
	topic := "orders"
	subject := topic + "-value"
	v1, err := rcl.CreateSchema(ctx, subject, sr.Schema{Schema: srOrderV1, Type: sr.TypeAvro})
	if err != nil {
		t.Fatal(err)
	}
	v2, err := rcl.CreateSchema(ctx, subject, sr.Schema{Schema: srOrderV2, Type: sr.TypeAvro})
	if err != nil {
		t.Fatal(err)
	}
	if v1.ID == v2.ID || v1.Version != 1 || v2.Version != 2 {
		t.Fatalf("registered v1 %+v, v2 %+v", v1, v2)
	}
	if _, err := rcl.CreateSchema(ctx, subject, sr.Schema{Schema: srOrderBad, Type: sr.TypeAvro}); err == nil {
		t.Fatal("an incompatible schema was registered")
	} else if re, ok := err.(*sr.ResponseError); !ok || re.ErrorCode != 409 {
		t.Fatalf("incompatible schema: %v, want error code 409", err)
	}

	// Encode with v2 through the Serde, produce, consume, decode.
	schema, err := rcl.SchemaByID(ctx, v2.ID)
	if err != nil {
		t.Fatal(err)
	}
	avroSchema, err := avro.Parse(schema.Schema)
	if err != nil {
		t.Fatal(err)
	}
	var serde sr.Serde
	serde.Register(v2.ID, srOrder{},
		sr.EncodeFn(func(v any) ([]byte, error) { return avro.Marshal(avroSchema, v) }),
		sr.DecodeFn(func(b []byte, v any) error { return avro.Unmarshal(avroSchema, b, v) }))
	want := []srOrder{{"o-1", 9.5, "EUR"}, {"o-2", 12, "USD"}, {"o-3", 0.25, "CHF"}}
	cl := fgClient(t, b.addr)
	fgCreateTopic(t, fgAdmin(t, b.addr), topic, 1, nil)
	for _, o := range want {
		fgProduceSync(t, cl, &kgo.Record{Topic: topic, Key: []byte(o.ID), Value: serde.MustEncode(o)})
	}
	recs := fgConsume(t, b.addr, topic, 1, len(want))[0]
	for i, rec := range recs {
		id, _, err := serde.DecodeID(rec.Value)
		if err != nil || id != v2.ID {
			t.Fatalf("record %d: schema id %d (%v), want %d", i, id, err, v2.ID)
		}
		var got srOrder
		if err := serde.Decode(rec.Value, &got); err != nil {
			t.Fatal(err)
		}
		if got != want[i] {
			t.Errorf("record %d: %+v, want %+v", i, got, want[i])
		}
	}

	// After a restart: the same ids, versions and lookups.
	b.stop()
	b = srStart(t, dir)
	rcl, err = sr.NewClient(sr.URLs(b.url))
	if err != nil {
		t.Fatal(err)
	}
	again, err := rcl.CreateSchema(ctx, subject, sr.Schema{Schema: srOrderV2, Type: sr.TypeAvro})
	if err != nil {
		t.Fatal(err)
	}
	if again.ID != v2.ID || again.Version != 2 {
		t.Fatalf("after a restart v2 registers as %+v, want id %d version 2", again, v2.ID)
	}
	got, err := rcl.SchemaByVersion(ctx, subject, 1)
	if err != nil || got.ID != v1.ID {
		t.Fatalf("after a restart version 1 is %+v (%v), want id %d", got, err, v1.ID)
	}
}

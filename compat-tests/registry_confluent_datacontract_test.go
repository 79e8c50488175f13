//go:build cgo

package compattests

// confluent-kafka-go against the registry's data contracts: versions
// registered with metadata and a rule set, read back by its client, and
// its Avro serializer with use.latest.with.metadata picking the newest
// version whose metadata matches (GET /subjects/{subject}/metadata).

import (
	be "encoding/binary"
	"reflect"
	"testing"

	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry"
	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry/serde"
	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry/serde/avrov2"
)

const (
	cfPaymentV1 = `{"type":"record","name":"cfPayment","fields":[{"name":"id","type":"string"},{"name":"amount","type":"double"},{"name":"note","type":["null","string"],"default":null}]}`
	cfPaymentV2 = `{"type":"record","name":"cfPayment","fields":[{"name":"id","type":"string"},{"name":"amount","type":"double"},{"name":"note","type":["null","string"],"default":null},{"name":"currency","type":"string","default":"EUR"}]}`
)

func TestRegistryConfluentDataContracts(t *testing.T) {
	t.Parallel()
	b := srStart(t, "")
	client, err := schemaregistry.NewClient(schemaregistry.NewConfig(b.url))
	if err != nil {
		t.Fatal(err)
	}
	const subject = "payments-value"
	meta := func(major string) *schemaregistry.Metadata {
		return &schemaregistry.Metadata{Properties: map[string]string{"owner": "payments", "major": major}, Sensitive: []string{"note"}}
	}
	rules := &schemaregistry.RuleSet{DomainRules: []schemaregistry.Rule{{
		Name: "positive", Kind: "CONDITION", Mode: "WRITE", Type: "CEL", Expr: "message.amount > 0", Disabled: true,
	}}}
	id1, err := client.Register(subject, schemaregistry.SchemaInfo{Schema: cfPaymentV1, Metadata: meta("1"), RuleSet: rules}, false)
	if err != nil {
		t.Fatal(err)
	}
	id2, err := client.Register(subject, schemaregistry.SchemaInfo{Schema: cfPaymentV2, Metadata: meta("2")}, false)
	if err != nil {
		t.Fatal(err)
	}
	if id1 == id2 {
		t.Fatalf("both versions got id %d", id1)
	}
	// A fresh client reads the contract back.
	client2, err := schemaregistry.NewClient(schemaregistry.NewConfig(b.url))
	if err != nil {
		t.Fatal(err)
	}
	latest, err := client2.GetLatestWithMetadata(subject, map[string]string{"major": "1"}, false)
	if err != nil {
		t.Fatal(err)
	}
	if latest.ID != id1 || latest.Version != 1 || !reflect.DeepEqual(latest.Metadata, meta("1")) {
		t.Fatalf("latest with major 1: %+v, want id %d version 1 with %+v", latest, id1, meta("1"))
	}
	if latest.RuleSet == nil || len(latest.RuleSet.DomainRules) != 1 || latest.RuleSet.DomainRules[0].Expr != "message.amount > 0" || !latest.RuleSet.DomainRules[0].Disabled {
		t.Fatalf("rule set %+v", latest.RuleSet)
	}
	v2, err := client2.GetLatestSchemaMetadata(subject)
	if err != nil || v2.ID != id2 || v2.Metadata.Properties["major"] != "2" || v2.RuleSet == nil {
		t.Fatalf("latest: %+v (%v), want id %d with major 2 and version 1's rules", v2, err, id2)
	}

	// The serializer, told to use the newest version with major 1,
	// writes that version's id.
	conf := avrov2.NewSerializerConfig()
	conf.AutoRegisterSchemas = false
	conf.UseLatestWithMetadata = map[string]string{"major": "1"}
	ser, err := avrov2.NewSerializer(client2, serde.ValueSerde, conf)
	if err != nil {
		t.Fatal(err)
	}
	out, err := ser.Serialize("payments", &cfPayment{ID: "p-1", Amount: 3})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) < 5 || out[0] != 0 || int(be.BigEndian.Uint32(out[1:5])) != id1 {
		t.Fatalf("serialized with header % x, want schema id %d", out[:min(len(out), 5)], id1)
	}
}

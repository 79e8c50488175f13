package registry_test

import (
	"context"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamhouse/streamhouse/broker/brokertest"
	"github.com/streamhouse/streamhouse/registry"
)

// TestRecordsOfOtherWriters: `_schemas` records written before contexts
// and data contracts (no context, metadata or rule set fields), and
// records as Confluent's registries write them with those (CONTEXT keys,
// md5 and ts fields, rules without their defaults), load.
func TestRecordsOfOtherWriters(t *testing.T) {
	t.Parallel()
	br := brokertest.New(t, brokertest.Options{NoSync: true})
	first, err := registry.New(registry.Config{Brokers: []string{br.Addr()}})
	if err != nil {
		t.Fatal(err)
	}
	if err := first.Start(context.Background()); err != nil { // creates _schemas
		t.Fatal(err)
	}
	first.Close()
	cl, err := kgo.NewClient(kgo.SeedBrokers(br.Addr()), kgo.DefaultProduceTopic(registry.DefaultTopic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for _, kv := range [][2]string{
		{`{"keytype":"SCHEMA","subject":"old","version":1,"magic":1}`, `{"subject":"old","version":1,"id":1,"schema":` + quote(userV1) + `,"deleted":false}`},
		{`{"keytype":"CONFIG","subject":"old","magic":0}`, `{"compatibilityLevel":"FULL"}`},
		{`{"keytype":"ID_WATERMARK","magic":0}`, `{"maxId":5}`},
		{`{"keytype":"CONTEXT","tenant":"default","context":".ctx","magic":0}`, `{"tenant":"default","context":".ctx"}`},
		{`{"keytype":"SCHEMA","subject":":.ctx:s","version":1,"magic":1}`, `{"subject":":.ctx:s","version":1,"id":1,"md5":"x","metadata":{"properties":{"owner":"x"},"tags":{},"sensitive":[]},"ruleSet":{"domainRules":[{"name":"r","type":"CEL","expr":"true","tags":["B","A"]}]},"schema":` + quote(userV2) + `,"deleted":false,"ts":1700000000000}`},
		{`{"keytype":"CONFIG","subject":":.ctx:","magic":0}`, `{"subject":":.ctx:","compatibilityGroup":"major","defaultMetadata":{"properties":{"owner":"y"}}}`},
	} {
		if err := cl.ProduceSync(context.Background(), &kgo.Record{Key: []byte(kv[0]), Value: []byte(kv[1])}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	reg, err := registry.New(registry.Config{Brokers: []string{br.Addr()}})
	if err != nil {
		t.Fatal(err)
	}
	if err := reg.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	e := &env{t: t, b: br, reg: reg, srv: newServer(t, reg)}
	e.want("GET", "/subjects/old/versions/1", "", 200, `{"subject":"old","version":1,"id":1,"schema":`+quote(userV1)+`}`)
	e.want("GET", "/config/old", "", 200, `{"compatibilityLevel":"FULL"}`)
	e.want("POST", "/subjects/new/versions", body(userV3), 200, `{"id":6}`) // past the watermark
	e.want("GET", "/contexts", "", 200, `[".",".ctx"]`)
	e.want("GET", "/subjects/:.ctx:s/versions/1", "", 200,
		`{"subject":":.ctx:s","version":1,"id":1,"metadata":{"properties":{"owner":"x"}},"ruleSet":{"domainRules":[{"name":"r","kind":"TRANSFORM","mode":"WRITEREAD","type":"CEL","tags":["A","B"],"expr":"true","disabled":false}]},"schema":`+quote(userV2)+`}`)
	e.want("GET", "/config/:.ctx:", "", 200, `{"compatibilityLevel":"BACKWARD","compatibilityGroup":"major","defaultMetadata":{"properties":{"owner":"y"}}}`)
	// The same schema and contract is the same version.
	e.want("POST", "/subjects/:.ctx:s/versions", body(userV2, `,"metadata":{"properties":{"owner":"x"}}`), 200, `{"id":1}`)
}

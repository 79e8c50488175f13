//go:build cgo

package compattests

// confluent-kafka-go's schemaregistry client and its Avro (avrov2) and
// Protobuf serializers and deserializers against the broker's built-in
// registry: they register (auto.register.schemas), librdkafka produces the
// serialized records and consumes them, and the deserializers fetch the
// schemas by id and decode. Without cgo the module cannot be built and
// this file is left out.

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/bufbuild/protocompile"
	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry"
	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry/serde"
	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry/serde/avrov2"
	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry/serde/protobuf"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"
)

type cfPayment struct {
	ID     string  `avro:"id"`
	Amount float64 `avro:"amount"`
	Note   *string `avro:"note"`
}

// cfProduceConsume produces values to topic with librdkafka, then consumes
// them from the start and returns what it read.
func cfProduceConsume(t *testing.T, addr, topic string, values [][]byte) [][]byte {
	t.Helper()
	p, err := kafka.NewProducer(&kafka.ConfigMap{
		"bootstrap.servers":     addr,
		"broker.address.family": "v4",
		"acks":                  "all",
		"linger.ms":             0,
		"message.timeout.ms":    int(fgWait / time.Millisecond),
		"log_level":             4,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	deliveries := make(chan kafka.Event, len(values))
	for _, v := range values {
		if err := p.Produce(&kafka.Message{TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: 0}, Value: v}, deliveries); err != nil {
			t.Fatal(err)
		}
	}
	for range values {
		select {
		case ev := <-deliveries:
			if m := ev.(*kafka.Message); m.TopicPartition.Error != nil {
				t.Fatalf("librdkafka produce: %v", m.TopicPartition.Error)
			}
		case <-time.After(fgWait):
			t.Fatal("librdkafka produce: no delivery report")
		}
	}
	c, err := kafka.NewConsumer(&kafka.ConfigMap{
		"bootstrap.servers":     addr,
		"broker.address.family": "v4",
		"group.id":              "cf-" + topic,
		"auto.offset.reset":     "earliest",
		"log_level":             4,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Assign([]kafka.TopicPartition{{Topic: &topic, Partition: 0, Offset: kafka.OffsetBeginning}}); err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	deadline := time.Now().Add(fgWait)
	for len(out) < len(values) && time.Now().Before(deadline) {
		m, err := c.ReadMessage(time.Second)
		if err != nil {
			if ke, ok := err.(kafka.Error); ok && ke.IsTimeout() {
				continue
			}
			t.Fatal(err)
		}
		out = append(out, m.Value)
	}
	if len(out) != len(values) {
		t.Fatalf("consumed %d of %d records", len(out), len(values))
	}
	return out
}

func TestRegistryConfluentAvro(t *testing.T) {
	t.Parallel()
	b := srStart(t, "")
	client, err := schemaregistry.NewClient(schemaregistry.NewConfig(b.url))
	if err != nil {
		t.Fatal(err)
	}
	ser, err := avrov2.NewSerializer(client, serde.ValueSerde, avrov2.NewSerializerConfig())
	if err != nil {
		t.Fatal(err)
	}
	topic := "payments"
	note := "first"
	want := []cfPayment{{"p-1", 10.5, &note}, {"p-2", 99, nil}}
	var values [][]byte
	for _, v := range want {
		b, err := ser.Serialize(topic, &v)
		if err != nil {
			t.Fatalf("avro serialize: %v", err)
		}
		values = append(values, b)
	}
	got := cfProduceConsume(t, b.addr, topic, values)

	// A fresh client, so the schema comes from the registry by id.
	client2, err := schemaregistry.NewClient(schemaregistry.NewConfig(b.url))
	if err != nil {
		t.Fatal(err)
	}
	deser, err := avrov2.NewDeserializer(client2, serde.ValueSerde, avrov2.NewDeserializerConfig())
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range got {
		var p cfPayment
		if err := deser.DeserializeInto(topic, v, &p); err != nil {
			t.Fatalf("avro deserialize %d: %v", i, err)
		}
		if p.ID != want[i].ID || p.Amount != want[i].Amount || (p.Note == nil) != (want[i].Note == nil) {
			t.Errorf("record %d: %+v, want %+v", i, p, want[i])
		}
	}
	subjects, err := client2.GetAllSubjects()
	if err != nil || len(subjects) != 1 || subjects[0] != topic+"-value" {
		t.Fatalf("subjects %v (%v), want [%s-value]", subjects, err, topic)
	}
}

// cfProtoFile is compiled at run time (protocompile), and its message is
// used through dynamicpb: the serializers take any proto.Message.
const cfProtoFile = `syntax = "proto3";
package shop.v1;
message Order {
  string id = 1;
  int64 cents = 2;
  repeated string items = 3;
  Status status = 4;
}
enum Status {
  STATUS_UNSPECIFIED = 0;
  STATUS_PAID = 1;
}
`

func TestRegistryConfluentProtobuf(t *testing.T) {
	t.Parallel()
	b := srStart(t, "")
	files, err := (&protocompile.Compiler{
		Resolver: &protocompile.SourceResolver{Accessor: protocompile.SourceAccessorFromMap(map[string]string{"shop/v1/order.proto": cfProtoFile})},
	}).Compile(context.Background(), "shop/v1/order.proto")
	if err != nil {
		t.Fatal(err)
	}
	md := files[0].Messages().ByName("Order")
	mt := dynamicpb.NewMessageType(md)
	order := func(id string, cents int64, items ...string) proto.Message {
		m := mt.New()
		fs := md.Fields()
		m.Set(fs.ByName("id"), protoreflect.ValueOfString(id))
		m.Set(fs.ByName("cents"), protoreflect.ValueOfInt64(cents))
		l := m.Mutable(fs.ByName("items")).List()
		for _, it := range items {
			l.Append(protoreflect.ValueOfString(it))
		}
		m.Set(fs.ByName("status"), protoreflect.ValueOfEnum(1))
		return m.Interface()
	}

	client, err := schemaregistry.NewClient(schemaregistry.NewConfig(b.url))
	if err != nil {
		t.Fatal(err)
	}
	ser, err := protobuf.NewSerializer(client, serde.ValueSerde, protobuf.NewSerializerConfig())
	if err != nil {
		t.Fatal(err)
	}
	topic := "orders"
	want := []proto.Message{order("o-1", 1250, "pen", "ink"), order("o-2", 99)}
	var values [][]byte
	for _, m := range want {
		v, err := ser.Serialize(topic, m)
		if err != nil {
			t.Fatalf("protobuf serialize: %v", err)
		}
		values = append(values, v)
	}
	got := cfProduceConsume(t, b.addr, topic, values)

	client2, err := schemaregistry.NewClient(schemaregistry.NewConfig(b.url))
	if err != nil {
		t.Fatal(err)
	}
	deser, err := protobuf.NewDeserializer(client2, serde.ValueSerde, protobuf.NewDeserializerConfig())
	if err != nil {
		t.Fatal(err)
	}
	if err := deser.ProtoRegistry.RegisterMessage(mt); err != nil {
		t.Fatal(err)
	}
	for i, v := range got {
		m, err := deser.Deserialize(topic, v)
		if err != nil {
			t.Fatalf("protobuf deserialize %d: %v", i, err)
		}
		if !proto.Equal(m.(proto.Message), want[i]) {
			t.Errorf("record %d: %v, want %v", i, m, want[i])
		}
	}
	// The registry holds the schema the serializer registered, as text.
	latest, err := client2.GetLatestSchemaMetadata(topic + "-value")
	if err != nil {
		t.Fatal(err)
	}
	if latest.SchemaType != "PROTOBUF" || latest.Version != 1 || !strings.Contains(latest.Schema, "message Order") {
		t.Fatalf("latest %s-value: type %q version %d schema:\n%s", topic, latest.SchemaType, latest.Version, latest.Schema)
	}
}

package broker

// Broker-side schema validation: Confluent Server's topic configs
// confluent.value.schema.validation and confluent.key.schema.validation.
//
// With one on, every record's value (or key) must start with the Confluent
// wire header (magic byte 0 and a big-endian 4-byte schema id) naming a
// schema registered under the topic's subject, <topic>-value or
// <topic>-key (TopicNameStrategy); otherwise the batch is refused with
// INVALID_RECORD and nothing of it is stored. A null value or key (a
// tombstone) is accepted. The records are walked where produce walks them
// already (checkCompressed), so a compressed batch is not decompressed
// twice, and a batch's records that carry the same id are looked up once.
//
// The broker does not import the registry: it asks a SchemaValidator, which
// cmd/streamhouse sets once its registry runs. With none set (the registry
// off), a topic that asks for validation refuses every batch, saying so.

import (
	"encoding/binary"

	"github.com/twmb/franz-go/pkg/kerr"
)

// SchemaValidator says whether a schema id may be used under a subject.
type SchemaValidator interface {
	// CheckSchemaID returns nil when id is registered (and not
	// soft-deleted) under subject, and an error saying why not otherwise.
	// It is called on the produce path and must be cheap.
	CheckSchemaID(subject string, id int32) error
}

// SetSchemaValidator sets (nil: clears) what validates schema ids for the
// topics that ask for it.
func (s *Server) SetSchemaValidator(v SchemaValidator) {
	if v == nil {
		s.schemas.Store(nil)
		return
	}
	s.schemas.Store(&v)
}

// schemaCheck validates the schema ids of one batch's records.
type schemaCheck struct {
	v          SchemaValidator
	topic      string
	key, value bool
	// the last id found valid for the key and for the value: records of
	// a batch mostly share one.
	keyOK, valueOK int32
	keySubject     string
	valueSubject   string
}

// newSchemaCheck returns the check for a batch of topic, nil when the
// topic asks for none.
func (s *Server) newSchemaCheck(t *topic) (*schemaCheck, error) {
	if !t.cfg.KeySchemaValidation && !t.cfg.ValueSchemaValidation {
		return nil, nil
	}
	p := s.schemas.Load()
	if p == nil {
		return nil, kafkaError(kerr.InvalidRecord, "topic %s has schema validation on, but this broker runs no schema registry (--schema-registry-listen is empty)", t.Name)
	}
	return &schemaCheck{v: *p, topic: t.Name, key: t.cfg.KeySchemaValidation, value: t.cfg.ValueSchemaValidation, keyOK: -1, valueOK: -1}, nil
}

// cached reports whether a record's key and value pass on the ids found
// valid already (the usual case: a batch's records share their schema);
// small enough to inline into the loop over the records.
func (c *schemaCheck) cached(key, value []byte) bool {
	return (!c.value || value == nil || len(value) >= 5 && value[0] == 0 && int32(binary.BigEndian.Uint32(value[1:5])) == c.valueOK) &&
		(!c.key || key == nil || len(key) >= 5 && key[0] == 0 && int32(binary.BigEndian.Uint32(key[1:5])) == c.keyOK)
}

// record checks the i-th record's key and value.
func (c *schemaCheck) record(i int, key, value []byte) error {
	if c.value && value != nil {
		if err := c.check(i, "value", value, &c.valueOK, &c.valueSubject); err != nil {
			return err
		}
	}
	if c.key && key != nil {
		if err := c.check(i, "key", key, &c.keyOK, &c.keySubject); err != nil {
			return err
		}
	}
	return nil
}

func (c *schemaCheck) check(i int, what string, b []byte, ok *int32, subject *string) error {
	if len(b) < 5 || b[0] != 0 {
		return kafkaError(kerr.InvalidRecord, "record %d of the batch for topic %s: its %s does not start with the schema registry's wire header (magic byte 0 and a schema id)", i, c.topic, what)
	}
	id := int32(binary.BigEndian.Uint32(b[1:5]))
	if id == *ok {
		return nil
	}
	if *subject == "" {
		*subject = c.topic + "-" + what
	}
	if err := c.v.CheckSchemaID(*subject, id); err != nil {
		return kafkaError(kerr.InvalidRecord, "record %d of the batch for topic %s: its %s has schema id %d: %v", i, c.topic, what, id, err)
	}
	*ok = id
	return nil
}

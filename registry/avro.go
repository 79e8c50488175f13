package registry

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/hamba/avro/v2"
)

// avroFormat parses with github.com/hamba/avro/v2 and checks compatibility
// with its SchemaCompatibility (Avro's schema resolution rules: fields
// added with a default, removed, promoted int -> long -> float -> double,
// string <-> bytes, enum symbols, unions, aliases).
type avroFormat struct{}

type avroSchema struct {
	text   string
	schema avro.Schema
}

func (s *avroSchema) canonical() string { return s.text }

func (avroFormat) parse(text string, refs []resolved, normalize bool) (parsed, error) {
	// A cache of this parse's own: hamba's default cache is global and
	// would let one schema use names another defined.
	cache := &avro.SchemaCache{}
	for _, r := range refs {
		if r.format != Avro {
			return nil, fmt.Errorf("reference %q is a %s schema, not AVRO", r.Name, r.format)
		}
		if _, err := avro.ParseWithCache(r.text, "", cache); err != nil {
			return nil, fmt.Errorf("reference %q (subject %q version %d): %w", r.Name, r.Subject, r.Version, err)
		}
	}
	s, err := avro.ParseWithCache(text, "", cache)
	if err != nil {
		return nil, err
	}
	stored, err := compactJSON(text, normalize)
	if err != nil {
		return nil, err
	}
	return &avroSchema{text: stored, schema: s}, nil
}

func (avroFormat) readable(reader, writer parsed) []string {
	// A new SchemaCompatibility for each check: its cache is keyed by the
	// schemas' parsing canonical form, which leaves out defaults.
	err := avro.NewSchemaCompatibility().Compatible(reader.(*avroSchema).schema, writer.(*avroSchema).schema)
	if err != nil {
		return []string{err.Error()}
	}
	return nil
}

// compactJSON is text without insignificant white space, or with
// normalize its objects' keys sorted as well: the form a schema is stored
// and compared in, so that the same schema differently spaced gets the
// same id.
func compactJSON(text string, normalize bool) (string, error) {
	if normalize {
		var v any
		d := json.NewDecoder(bytes.NewReader([]byte(text)))
		d.UseNumber()
		if err := d.Decode(&v); err != nil {
			return "", err
		}
		if d.More() {
			return "", errors.New("text after the schema")
		}
		var b bytes.Buffer
		e := json.NewEncoder(&b)
		e.SetEscapeHTML(false)
		if err := e.Encode(v); err != nil {
			return "", err
		}
		return string(bytes.TrimSuffix(b.Bytes(), []byte("\n"))), nil
	}
	var b bytes.Buffer
	if err := json.Compact(&b, []byte(text)); err != nil {
		return "", err
	}
	return b.String(), nil
}

package registry

import (
	"cmp"
	"encoding/json"
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"
)

// The key types of `_schemas` records (Confluent's, and ID_WATERMARK).
const (
	keySchema        = "SCHEMA"
	keyConfig        = "CONFIG"
	keyMode          = "MODE"
	keyDeleteSubject = "DELETE_SUBJECT"
	keyClearSubject  = "CLEAR_SUBJECT"
	keyNoop          = "NOOP"
	keyIDWatermark   = "ID_WATERMARK"
	keyContext       = "CONTEXT"
)

// recordKey is a `_schemas` record's key. Subject is null for the global
// CONFIG and MODE.
type recordKey struct {
	KeyType string  `json:"keytype"`
	Subject *string `json:"subject,omitempty"`
	Version int     `json:"version,omitempty"`
	Magic   int     `json:"magic"`
	// Tenant and Context are a CONTEXT record's.
	Tenant  string `json:"tenant,omitempty"`
	Context string `json:"context,omitempty"`
}

// schemaValue is a SCHEMA record's value.
type schemaValue struct {
	Subject    string          `json:"subject"`
	Version    int             `json:"version"`
	ID         int32           `json:"id"`
	SchemaType Format          `json:"schemaType,omitempty"`
	References []Reference     `json:"references,omitempty"`
	Metadata   json.RawMessage `json:"metadata,omitempty"`
	RuleSet    json.RawMessage `json:"ruleSet,omitempty"`
	Schema     string          `json:"schema"`
	Deleted    bool            `json:"deleted"`
}

// config is a CONFIG record's value, and what /config answers: a
// subject's (a context's, the global) compatibility level, and the
// data-contract settings: compatibilityGroup (a metadata property: a new
// version is checked only against the versions with its value),
// normalize (every registration normalized), and the metadata and rule
// set merged into every new version (defaults under the request's,
// overrides over it). Metadata and rule sets are kept as canonical JSON.
type config struct {
	CompatibilityLevel string          `json:"compatibilityLevel,omitempty"`
	CompatibilityGroup string          `json:"compatibilityGroup,omitempty"`
	Normalize          *bool           `json:"normalize,omitempty"`
	DefaultMetadata    json.RawMessage `json:"defaultMetadata,omitempty"`
	OverrideMetadata   json.RawMessage `json:"overrideMetadata,omitempty"`
	DefaultRuleSet     json.RawMessage `json:"defaultRuleSet,omitempty"`
	OverrideRuleSet    json.RawMessage `json:"overrideRuleSet,omitempty"`
}

type modeValue struct {
	Mode string `json:"mode"`
}

type deleteSubjectValue struct {
	Subject string `json:"subject"`
	Version int    `json:"version"`
}

// watermarkValue: ids up to MaxID of Context ("" is the default context,
// as in the records written before contexts) are taken.
type watermarkValue struct {
	MaxID   int32  `json:"maxId"`
	Context string `json:"context,omitempty"`
}

// contextValue is a CONTEXT record's value, as Confluent writes it.
type contextValue struct {
	Tenant  string `json:"tenant"`
	Context string `json:"context"`
}

// defaultTenant is the only tenant: Confluent's name for it.
const defaultTenant = "default"

// contextKey is the key of the CONTEXT record that declares ctx.
func contextKey(ctx string) []byte {
	return encodeKey(recordKey{KeyType: keyContext, Tenant: defaultTenant, Context: ctx})
}

func contextRecord(ctx string) *kgo.Record {
	return &kgo.Record{Key: contextKey(ctx), Value: encodeValue(contextValue{Tenant: defaultTenant, Context: ctx})}
}

func encodeKey(k recordKey) []byte {
	b, err := json.Marshal(k)
	if err != nil {
		panic(err) // plain structs always encode
	}
	return b
}

func encodeValue(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func schemaKey(sub string, v int) []byte {
	return encodeKey(recordKey{KeyType: keySchema, Subject: &sub, Version: v, Magic: 1})
}

// subjectKey is the key of a CONFIG or MODE record; sub nil for the
// global one. Confluent writes "subject":null there.
func subjectKey(keyType string, sub *string) []byte {
	if sub == nil {
		return fmt.Appendf(nil, `{"keytype":%q,"subject":null,"magic":0}`, keyType)
	}
	return encodeKey(recordKey{KeyType: keyType, Subject: sub})
}

// apply applies one `_schemas` record to st. A record it cannot read is an
// error (logged and skipped by the caller); errConflict means the record
// lost to an earlier one and changed nothing.
func (st *state) apply(key, value []byte) error {
	k, ok := fastKey(key)
	if !ok {
		k = recordKey{}
		if err := json.Unmarshal(key, &k); err != nil {
			return fmt.Errorf("registry: record key %q: %w", key, err)
		}
	}
	switch k.KeyType {
	case keySchema:
		if k.Subject == nil {
			return fmt.Errorf("registry: SCHEMA key without a subject: %s", key)
		}
		if value == nil {
			return st.removeSchema(*k.Subject, k.Version)
		}
		v, ok := fastSchemaValue(value)
		if !ok {
			v = schemaValue{}
			if err := json.Unmarshal(value, &v); err != nil {
				return fmt.Errorf("registry: SCHEMA value: %w", err)
			}
		}
		if v.SchemaType == "" {
			v.SchemaType = Avro
		}
		if len(v.References) == 0 {
			v.References = nil
		}
		cn := content{format: v.SchemaType, text: v.Schema, refs: v.References}
		var err error
		if cn.meta, err = storedMetadata(v.Metadata); err != nil {
			return fmt.Errorf("registry: SCHEMA value metadata: %w", err)
		}
		if cn.rules, err = storedRuleSet(v.RuleSet); err != nil {
			return fmt.Errorf("registry: SCHEMA value ruleSet: %w", err)
		}
		return st.putSchema(v.Subject, v.Version, v.ID, cn, v.Deleted)
	case keyConfig:
		var c *config
		if value != nil {
			c = &config{}
			if err := json.Unmarshal(value, c); err != nil {
				return fmt.Errorf("registry: CONFIG value: %w", err)
			}
			c.canonicalize()
		}
		st.setConfig(k.Subject, c)
	case keyMode:
		mode := ""
		if value != nil {
			var v modeValue
			if err := json.Unmarshal(value, &v); err != nil {
				return fmt.Errorf("registry: MODE value: %w", err)
			}
			mode = v.Mode
		}
		st.setMode(k.Subject, mode)
	case keyDeleteSubject:
		if value == nil || k.Subject == nil {
			return nil
		}
		var v deleteSubjectValue
		if err := json.Unmarshal(value, &v); err != nil {
			return fmt.Errorf("registry: DELETE_SUBJECT value: %w", err)
		}
		st.deleteSubject(*k.Subject, v.Version)
	case keyIDWatermark:
		if value == nil {
			return nil
		}
		var v watermarkValue
		if err := json.Unmarshal(value, &v); err != nil {
			return fmt.Errorf("registry: ID_WATERMARK value: %w", err)
		}
		c := st.ctx(cmp.Or(v.Context, defaultContext), true)
		c.maxID = max(c.maxID, v.MaxID)
	case keyContext:
		if k.Context == "" || k.Context == defaultContext {
			return nil
		}
		if value == nil {
			if c := st.contexts[k.Context]; c != nil {
				c.declared = false
			}
			return nil
		}
		st.ctx(k.Context, true).declared = true
	case keyClearSubject, keyNoop:
		// CLEAR_SUBJECT accompanies the tombstones of a permanent
		// delete, which do the work; NOOP is Confluent's leader sync.
	default:
		return fmt.Errorf("registry: unknown record key type %q", k.KeyType)
	}
	return nil
}

// schemaRecord is the SCHEMA record of version v of sub as the index
// holds it.
func (st *state) schemaRecord(sub string, v version) *kgo.Record {
	sc := st.schemaOf(sub, v.id)
	val := schemaValue{Subject: sub, Version: v.v, ID: v.id, Deleted: v.deleted}
	if sc != nil {
		val.Schema, val.References = sc.text, sc.refs
		val.Metadata, val.RuleSet = rawJSON(sc.meta), rawJSON(sc.rules)
		if sc.format != Avro {
			val.SchemaType = sc.format
		}
	}
	return &kgo.Record{Key: schemaKey(sub, v.v), Value: encodeValue(val)}
}

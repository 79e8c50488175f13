package registry

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"
)

// canonicalize puts a stored config's metadata and rule sets in their
// canonical JSON (records another registry wrote may spell them
// otherwise); one that does not read is dropped, as unreadable.
func (c *config) canonicalize() {
	for _, f := range []*json.RawMessage{&c.DefaultMetadata, &c.OverrideMetadata} {
		s, err := canonicalMetadata(*f)
		if err != nil {
			s = ""
		}
		*f = rawJSON(s)
	}
	for _, f := range []*json.RawMessage{&c.DefaultRuleSet, &c.OverrideRuleSet} {
		s, err := canonicalRuleSet(*f)
		if err != nil {
			s = ""
		}
		*f = rawJSON(s)
	}
}

func (c *config) defaultMetadata() *Metadata  { return parseMetadata(string(c.DefaultMetadata)) }
func (c *config) overrideMetadata() *Metadata { return parseMetadata(string(c.OverrideMetadata)) }
func (c *config) defaultRuleSet() *RuleSet    { return parseRuleSet(string(c.DefaultRuleSet)) }
func (c *config) overrideRuleSet() *RuleSet   { return parseRuleSet(string(c.OverrideRuleSet)) }

// configUpdate is what PUT /config answers: the config as Confluent's
// ConfigUpdateRequest spells it ("compatibility" for the level).
type configUpdate struct {
	Compatibility      string          `json:"compatibility,omitempty"`
	CompatibilityGroup string          `json:"compatibilityGroup,omitempty"`
	Normalize          *bool           `json:"normalize,omitempty"`
	DefaultMetadata    json.RawMessage `json:"defaultMetadata,omitempty"`
	OverrideMetadata   json.RawMessage `json:"overrideMetadata,omitempty"`
	DefaultRuleSet     json.RawMessage `json:"defaultRuleSet,omitempty"`
	OverrideRuleSet    json.RawMessage `json:"overrideRuleSet,omitempty"`
}

// shown is a stored config as GET answers it: its level BACKWARD when it
// sets none (Confluent's answer too).
func shown(c config) config {
	if c.CompatibilityLevel == "" {
		c.CompatibilityLevel = Backward
	}
	return c
}

func errConfigNotSet(sub string) error {
	return &apiError{404, 40408, fmt.Sprintf("Subject '%s' does not have subject-level compatibility configured", sub)}
}

// getConfig answers GET /config[/{subject}]: the subject's own config, or
// with ?defaultToGlobal=true the one in force for it when it has none; the
// global one (its default when none is set).
func (r *Registry) getConfig(_ http.ResponseWriter, req *http.Request) (any, error) {
	sub, err := optionalSubject(req)
	if err != nil {
		return nil, err
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	if sub == nil {
		if boolParam(req, "defaultToGlobal") {
			return r.st.configOf(""), nil
		}
		if r.st.config != nil {
			return shown(*r.st.config), nil
		}
		return config{CompatibilityLevel: Backward}, nil
	}
	if boolParam(req, "defaultToGlobal") {
		return r.st.configOf(*sub), nil
	}
	if s := r.st.subjects[*sub]; s != nil && s.config != nil {
		return shown(*s.config), nil
	}
	if ctx, name := splitSubject(*sub); ctx == globalContext && name == "" {
		return config{CompatibilityLevel: Backward}, nil
	}
	return nil, errConfigNotSet(*sub)
}

// unsupportedConfig are Confluent config fields this registry does not
// implement: a PUT setting one is refused rather than half applied.
var unsupportedConfig = []string{"alias", "aliasForDeks", "validateFields", "validateNewSchemas", "validateRules", "compatibilityPolicy"}

// putConfig answers PUT /config[/{subject}]: the fields the body has
// replace the stored config's (null clears one), as Confluent's
// ConfigValue.update; the others stay.
func (r *Registry) putConfig(_ http.ResponseWriter, req *http.Request) (any, error) {
	sub, err := optionalSubject(req)
	if err != nil {
		return nil, err
	}
	var body map[string]json.RawMessage
	if err := decodeBody(req, &body); err != nil {
		return nil, err
	}
	for _, f := range unsupportedConfig {
		if v, ok := body[f]; ok && !isNull(v) {
			return nil, &apiError{422, 422, fmt.Sprintf("The config field %q is not supported by this registry", f)}
		}
	}
	str := func(name string) (*string, error) {
		v, ok := body[name]
		if !ok {
			return nil, nil
		}
		var s *string
		if err := json.Unmarshal(v, &s); err != nil {
			return nil, &apiError{422, 422, fmt.Sprintf("Unrecognized field value for %s: %v", name, err)}
		}
		if s == nil {
			s = new(string)
		}
		return s, nil
	}
	level, err := str("compatibility")
	if err != nil {
		return nil, err
	}
	if level == nil {
		if level, err = str("compatibilityLevel"); err != nil {
			return nil, err
		}
	}
	if level != nil {
		*level = strings.ToUpper(*level)
		if *level != "" && !validLevel(*level) {
			return nil, errInvalidLevel
		}
	}
	group, err := str("compatibilityGroup")
	if err != nil {
		return nil, err
	}
	var normalize *bool
	normalizeSet := false
	if v, ok := body["normalize"]; ok {
		normalizeSet = true
		if err := json.Unmarshal(v, &normalize); err != nil {
			return nil, &apiError{422, 422, "Unrecognized field value for normalize: " + err.Error()}
		}
	}
	type contract struct {
		name  string
		canon func(json.RawMessage) (string, error)
		field func(*config) *json.RawMessage
	}
	contracts := []contract{
		{"defaultMetadata", canonicalMetadata, func(c *config) *json.RawMessage { return &c.DefaultMetadata }},
		{"overrideMetadata", canonicalMetadata, func(c *config) *json.RawMessage { return &c.OverrideMetadata }},
		{"defaultRuleSet", canonicalRuleSet, func(c *config) *json.RawMessage { return &c.DefaultRuleSet }},
		{"overrideRuleSet", canonicalRuleSet, func(c *config) *json.RawMessage { return &c.OverrideRuleSet }},
	}
	canon := map[string]string{}
	for _, c := range contracts {
		if v, ok := body[c.name]; ok {
			s, err := c.canon(v)
			if err != nil {
				return nil, err
			}
			canon[c.name] = s
		}
	}
	var next config
	err = r.write(req.Context(), func(st *state) ([]*kgo.Record, error) {
		next = config{}
		if sub == nil && st.config != nil {
			next = *st.config
		} else if s := st.subjects[deref(sub)]; sub != nil && s != nil && s.config != nil {
			next = *s.config
		}
		if level != nil {
			next.CompatibilityLevel = *level
		}
		if group != nil {
			next.CompatibilityGroup = *group
		}
		if normalizeSet {
			next.Normalize = normalize
		}
		for _, c := range contracts {
			if s, ok := canon[c.name]; ok {
				*c.field(&next) = rawJSON(s)
			}
		}
		return []*kgo.Record{{Key: subjectKey(keyConfig, sub), Value: encodeValue(next)}}, nil
	})
	if err != nil {
		return nil, err
	}
	return configUpdate{
		Compatibility: next.CompatibilityLevel, CompatibilityGroup: next.CompatibilityGroup, Normalize: next.Normalize,
		DefaultMetadata: next.DefaultMetadata, OverrideMetadata: next.OverrideMetadata,
		DefaultRuleSet: next.DefaultRuleSet, OverrideRuleSet: next.OverrideRuleSet,
	}, nil
}

// deleteConfig answers DELETE /config[/{subject}] with the config deleted:
// the global one goes back to its default, a subject's to following its
// context's or the global one.
func (r *Registry) deleteConfig(_ http.ResponseWriter, req *http.Request) (any, error) {
	sub, err := optionalSubject(req)
	if err != nil {
		return nil, err
	}
	var prev config
	err = r.write(req.Context(), func(st *state) ([]*kgo.Record, error) {
		if sub == nil {
			prev = st.configOf("")
			return []*kgo.Record{{Key: subjectKey(keyConfig, nil)}}, nil
		}
		s := st.subjects[*sub]
		if s == nil {
			return nil, errSubjectNotFound(*sub)
		}
		if s.config == nil {
			return nil, errConfigNotSet(*sub)
		}
		prev = shown(*s.config)
		return []*kgo.Record{{Key: subjectKey(keyConfig, sub)}}, nil
	})
	if err != nil {
		return nil, err
	}
	return prev, nil
}

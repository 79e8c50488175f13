package registry

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"unicode"
)

// Data contracts, as Confluent's: a schema version may carry metadata
// (tags, properties, sensitive field names) and a rule set (domain,
// migration and encoding rules). The registry stores and returns them, and
// merges the config's defaults and overrides into them; it never runs a
// rule (clients do, as with Confluent's).

// Metadata is a schema version's metadata.
type Metadata struct {
	Tags       map[string][]string `json:"tags,omitempty"`
	Properties map[string]string   `json:"properties,omitempty"`
	Sensitive  []string            `json:"sensitive,omitempty"`
}

// Rule is one rule of a rule set.
type Rule struct {
	Name      string            `json:"name"`
	Doc       string            `json:"doc,omitempty"`
	Kind      string            `json:"kind"`
	Mode      string            `json:"mode"`
	Type      string            `json:"type,omitempty"`
	Tags      []string          `json:"tags,omitempty"`
	Params    map[string]string `json:"params,omitempty"`
	Expr      string            `json:"expr,omitempty"`
	OnSuccess string            `json:"onSuccess,omitempty"`
	OnFailure string            `json:"onFailure,omitempty"`
	Disabled  bool              `json:"disabled"`
}

// RuleSet is a schema version's rules.
type RuleSet struct {
	MigrationRules []Rule `json:"migrationRules,omitempty"`
	DomainRules    []Rule `json:"domainRules,omitempty"`
	EncodingRules  []Rule `json:"encodingRules,omitempty"`
	EnableAt       string `json:"enableAt,omitempty"`
}

// confluentVersion is the metadata property Confluent keeps a version's
// number in when a registration asked for a version.
const confluentVersion = "confluent:version"

// sortedSet is s sorted, without repeats, nil when empty.
func sortedSet(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	s = slices.Clone(s)
	slices.Sort(s)
	return slices.Compact(s)
}

// normalize puts m in its one form (sets sorted, empties dropped); nil,
// or metadata that says nothing, is nil (Confluent's ids do not tell an
// empty metadata from none either).
func (m *Metadata) normalize() *Metadata {
	if m == nil || (len(m.Tags) == 0 && len(m.Properties) == 0 && len(m.Sensitive) == 0) {
		return nil
	}
	out := &Metadata{Sensitive: sortedSet(m.Sensitive)}
	if len(m.Tags) > 0 {
		out.Tags = map[string][]string{}
		for k, v := range m.Tags {
			out.Tags[k] = sortedSet(v)
			if out.Tags[k] == nil {
				out.Tags[k] = []string{}
			}
		}
	}
	if len(m.Properties) > 0 {
		out.Properties = maps.Clone(m.Properties)
	}
	return out
}

// The rule kinds, modes and rule set environments Confluent accepts.
var (
	ruleKinds = []string{"TRANSFORM", "CONDITION"}
	ruleModes = []string{"UPGRADE", "DOWNGRADE", "UPDOWN", "WRITE", "READ", "WRITEREAD"}
	enableAts = []string{"ALL", "CLIENT", "GATEWAY", "SERVER", "NONE"}
)

// normalize puts rs in its one form (defaults filled in: kind TRANSFORM,
// mode WRITEREAD; sets sorted) and checks it as Confluent's RuleSet.validate
// does; an error is 42210.
func (rs *RuleSet) normalize() (*RuleSet, error) {
	if rs == nil {
		return nil, nil
	}
	if rs.EnableAt != "" && !slices.Contains(enableAts, rs.EnableAt) {
		return nil, errInvalidRuleSet("Invalid enableAt %q", rs.EnableAt)
	}
	out := &RuleSet{EnableAt: rs.EnableAt}
	names := map[string]bool{}
	phase := func(rules []Rule, what string, modes ...string) ([]Rule, error) {
		var res []Rule
		for _, r := range rules {
			if r.Kind == "" {
				r.Kind = "TRANSFORM"
			}
			if r.Mode == "" {
				r.Mode = "WRITEREAD"
			}
			if !slices.Contains(ruleKinds, r.Kind) {
				return nil, errInvalidRuleSet("Invalid rule kind %q", r.Kind)
			}
			if !slices.Contains(ruleModes, r.Mode) {
				return nil, errInvalidRuleSet("Invalid rule mode %q", r.Mode)
			}
			if names[r.Name] {
				return nil, errInvalidRuleSet("Found rule with duplicate name '%s'", r.Name)
			}
			names[r.Name] = true
			if err := r.validate(); err != nil {
				return nil, err
			}
			if !slices.Contains(modes, r.Mode) {
				return nil, errInvalidRuleSet("%s rules can only be %s", what, joinComma(modes))
			}
			r.Tags = sortedSet(r.Tags)
			if len(r.Params) == 0 {
				r.Params = nil
			}
			res = append(res, r)
		}
		return res, nil
	}
	var err error
	if out.MigrationRules, err = phase(rs.MigrationRules, "Migration", "UPGRADE", "DOWNGRADE", "UPDOWN"); err != nil {
		return nil, err
	}
	if out.DomainRules, err = phase(rs.DomainRules, "Domain", "WRITE", "READ", "WRITEREAD"); err != nil {
		return nil, err
	}
	if out.EncodingRules, err = phase(rs.EncodingRules, "Encoding", "WRITE", "READ", "WRITEREAD"); err != nil {
		return nil, err
	}
	if out.MigrationRules == nil && out.DomainRules == nil && out.EncodingRules == nil && out.EnableAt == "" {
		return nil, nil
	}
	return out, nil
}

func joinComma(s []string) string {
	var b bytes.Buffer
	for i, v := range s {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(v)
	}
	return b.String()
}

// validate checks a rule as Confluent's Rule.validate does.
func (r *Rule) validate() error {
	switch {
	case r.Name == "":
		return errInvalidRuleSet("Missing rule name")
	case len(r.Name) > 256:
		return errInvalidRuleSet("Rule name too long")
	}
	for i, c := range r.Name {
		if i == 0 && !(unicode.IsLetter(c) || c == '_') {
			return errInvalidRuleSet("Illegal initial character in rule name: %s", r.Name)
		}
		if i > 0 && !(unicode.IsLetter(c) || unicode.IsDigit(c) || c == '_' || c == '-') {
			return errInvalidRuleSet("Illegal character in rule name: %s", r.Name)
		}
	}
	if r.Type == "" {
		return errInvalidRuleSet("Missing rule type")
	}
	if r.Mode != "WRITEREAD" && r.Mode != "UPDOWN" && (bytes.ContainsRune([]byte(r.OnSuccess), ',') || bytes.ContainsRune([]byte(r.OnFailure), ',')) {
		return errInvalidRuleSet("Multiple actions only valid with WRITEREAD and UPDOWN")
	}
	return nil
}

func errInvalidRuleSet(format string, a ...any) error {
	return &apiError{422, 42210, "Invalid rule set: " + fmt.Sprintf(format, a...)}
}

// mergeMetadata is Confluent's Metadata.mergeMetadata: next's tags and
// properties over old's, the sensitive names of both.
func mergeMetadata(old, next *Metadata) *Metadata {
	switch {
	case old == nil:
		return next
	case next == nil:
		return old
	}
	out := &Metadata{Tags: mergeMap(old.Tags, next.Tags), Properties: mergeMap(old.Properties, next.Properties)}
	out.Sensitive = sortedSet(append(slices.Clone(old.Sensitive), next.Sensitive...))
	return out
}

func mergeMap[V any](old, next map[string]V) map[string]V {
	if len(old) == 0 {
		return next
	}
	if len(next) == 0 {
		return old
	}
	out := maps.Clone(old)
	maps.Copy(out, next)
	return out
}

// mergeRuleSets is Confluent's RuleSet.mergeRuleSets: in each phase,
// old's rules not named by one of next's, then next's.
func mergeRuleSets(old, next *RuleSet) *RuleSet {
	switch {
	case old == nil:
		return next
	case next == nil:
		return old
	}
	merge := func(o, n []Rule) []Rule {
		if len(o) == 0 {
			return n
		}
		if len(n) == 0 {
			return o
		}
		var out []Rule
		for _, r := range o {
			if !slices.ContainsFunc(n, func(x Rule) bool { return x.Name == r.Name }) {
				out = append(out, r)
			}
		}
		return append(out, n...)
	}
	out := &RuleSet{
		MigrationRules: merge(old.MigrationRules, next.MigrationRules),
		DomainRules:    merge(old.DomainRules, next.DomainRules),
		EncodingRules:  merge(old.EncodingRules, next.EncodingRules),
		EnableAt:       old.EnableAt,
	}
	if next.EnableAt != "" {
		out.EnableAt = next.EnableAt
	}
	return out
}

// withVersion is m with its confluent:version property set to v.
func withVersion(m *Metadata, v int) *Metadata {
	out := &Metadata{}
	if m != nil {
		*out = *m
	}
	out.Properties = maps.Clone(out.Properties)
	if out.Properties == nil {
		out.Properties = map[string]string{}
	}
	out.Properties[confluentVersion] = strconv.Itoa(v)
	return out
}

// canonicalJSON is v's JSON, the same for equal values (maps' keys are
// sorted), "" for nil.
func canonicalJSON[T any](v *T) string {
	if v == nil {
		return ""
	}
	var b bytes.Buffer
	e := json.NewEncoder(&b)
	e.SetEscapeHTML(false) // as Confluent writes them
	if err := e.Encode(v); err != nil {
		panic(err) // plain structs always encode
	}
	return string(bytes.TrimSuffix(b.Bytes(), []byte("\n")))
}

// parseMetadata reads stored metadata JSON ("" is none).
func parseMetadata(s string) *Metadata {
	if s == "" {
		return nil
	}
	var m Metadata
	if json.Unmarshal([]byte(s), &m) != nil {
		return nil
	}
	return &m
}

// parseRuleSet reads a stored rule set's JSON ("" is none).
func parseRuleSet(s string) *RuleSet {
	if s == "" {
		return nil
	}
	var rs RuleSet
	if json.Unmarshal([]byte(s), &rs) != nil {
		return nil
	}
	return &rs
}

// canonicalMetadata and canonicalRuleSet are a record's or request's
// metadata and rule set in the form the index keeps ("" for none), or an
// error (42201, 42210) saying why it is not one.
func canonicalMetadata(raw json.RawMessage) (string, error) {
	if isNull(raw) {
		return "", nil
	}
	var m Metadata
	if err := json.Unmarshal(raw, &m); err != nil {
		return "", &apiError{422, 42201, "Invalid metadata: " + err.Error()}
	}
	return canonicalJSON(m.normalize()), nil
}

func canonicalRuleSet(raw json.RawMessage) (string, error) {
	if isNull(raw) {
		return "", nil
	}
	var rs RuleSet
	if err := json.Unmarshal(raw, &rs); err != nil {
		return "", errInvalidRuleSet("%v", err)
	}
	n, err := rs.normalize()
	if err != nil {
		return "", err
	}
	return canonicalJSON(n), nil
}

func isNull(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) == 0 || string(t) == "null"
}

// rawJSON is stored JSON as a response's field (nil when none).
func rawJSON(s string) json.RawMessage {
	if s == "" {
		return nil
	}
	return json.RawMessage(s)
}

// storedMetadata and storedRuleSet read a record's metadata and rule set
// into the index's canonical form without checking them as a request's
// are: what another registry (a newer Confluent's) stored is kept.
func storedMetadata(raw json.RawMessage) (string, error) {
	if isNull(raw) {
		return "", nil
	}
	var m Metadata
	if err := json.Unmarshal(raw, &m); err != nil {
		return "", err
	}
	return canonicalJSON(m.normalize()), nil
}

func storedRuleSet(raw json.RawMessage) (string, error) {
	if isNull(raw) {
		return "", nil
	}
	var rs RuleSet
	if err := json.Unmarshal(raw, &rs); err != nil {
		return "", err
	}
	for _, rules := range [][]Rule{rs.MigrationRules, rs.DomainRules, rs.EncodingRules} {
		for i := range rules {
			rules[i].Kind = cmp.Or(rules[i].Kind, "TRANSFORM")
			rules[i].Mode = cmp.Or(rules[i].Mode, "WRITEREAD")
			rules[i].Tags = sortedSet(rules[i].Tags)
		}
	}
	if len(rs.MigrationRules) == 0 && len(rs.DomainRules) == 0 && len(rs.EncodingRules) == 0 && rs.EnableAt == "" {
		return "", nil
	}
	return canonicalJSON(&rs), nil
}

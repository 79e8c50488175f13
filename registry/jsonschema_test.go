package registry

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// jsonDiffCases: is next BACKWARD compatible with prev? One or more cases
// for each of Confluent's JSON Schema difference types (named in the case),
// with Confluent's answer.
var jsonDiffCases = []struct {
	name       string
	prev, next string
	want       bool
}{
	{"ID_CHANGED", `{"$id":"a"}`, `{"$id":"b"}`, true},
	{"DESCRIPTION_CHANGED TITLE_CHANGED DEFAULT_CHANGED", `{"type":"string","title":"a","description":"a","default":"a"}`, `{"type":"string","title":"b","description":"b","default":"b"}`, true},
	{"SCHEMA_REMOVED", `{"type":"string"}`, `{}`, true},
	{"SCHEMA_ADDED", `{}`, `{"type":"string"}`, false},
	{"TYPE_EXTENDED", `{"type":"string"}`, `{"type":["string","null"]}`, true},
	{"TYPE_NARROWED", `{"type":["string","null"]}`, `{"type":"string"}`, false},
	{"TYPE_CHANGED", `{"type":"string"}`, `{"type":"boolean"}`, false},
	{"MAX_LENGTH_ADDED", `{"type":"string"}`, `{"type":"string","maxLength":5}`, false},
	{"MAX_LENGTH_REMOVED", `{"type":"string","maxLength":5}`, `{"type":"string"}`, true},
	{"MIN_LENGTH_DECREASED", `{"type":"string","minLength":5}`, `{"type":"string","minLength":2}`, true},
	{"MIN_LENGTH_INCREASED", `{"type":"string","minLength":2}`, `{"type":"string","minLength":5}`, false},
	{"PATTERN_ADDED", `{"type":"string"}`, `{"type":"string","pattern":"^a"}`, false},
	{"PATTERN_REMOVED", `{"type":"string","pattern":"^a"}`, `{"type":"string"}`, true},
	{"PATTERN_CHANGED", `{"type":"string","pattern":"^a"}`, `{"type":"string","pattern":"^b"}`, false},
	{"MAXIMUM_INCREASED", `{"type":"number","maximum":5}`, `{"type":"number","maximum":9}`, true},
	{"MAXIMUM_DECREASED", `{"type":"number","maximum":9}`, `{"type":"number","maximum":5}`, false},
	{"MINIMUM_REMOVED", `{"type":"number","minimum":5}`, `{"type":"number"}`, true},
	{"EXCLUSIVE_MINIMUM_ADDED", `{"type":"number"}`, `{"type":"number","exclusiveMinimum":0}`, false},
	{"EXCLUSIVE_MAXIMUM_INCREASED", `{"type":"number","exclusiveMaximum":5}`, `{"type":"number","exclusiveMaximum":6}`, true},
	{"MULTIPLE_OF_REDUCED", `{"type":"number","multipleOf":10}`, `{"type":"number","multipleOf":5}`, true},
	{"MULTIPLE_OF_EXPANDED", `{"type":"number","multipleOf":5}`, `{"type":"number","multipleOf":10}`, false},
	{"MULTIPLE_OF_CHANGED", `{"type":"number","multipleOf":5}`, `{"type":"number","multipleOf":7}`, false},
	{"MULTIPLE_OF_ADDED", `{"type":"number"}`, `{"type":"number","multipleOf":7}`, false},
	{"REQUIRED_ATTRIBUTE_ADDED", `{"properties":{"a":{"type":"string"}}}`, `{"properties":{"a":{"type":"string"}},"required":["a"]}`, false},
	{"REQUIRED_ATTRIBUTE_WITH_DEFAULT_ADDED", `{"properties":{"a":{"type":"string"}}}`, `{"properties":{"a":{"type":"string","default":""}},"required":["a"]}`, true},
	{"REQUIRED_ATTRIBUTE_REMOVED", `{"properties":{"a":{"type":"string"}},"required":["a"]}`, `{"properties":{"a":{"type":"string"}}}`, true},
	{"MAX_PROPERTIES_DECREASED", `{"type":"object","maxProperties":5}`, `{"type":"object","maxProperties":2}`, false},
	{"MIN_PROPERTIES_DECREASED", `{"type":"object","minProperties":5}`, `{"type":"object","minProperties":2}`, true},
	{"ADDITIONAL_PROPERTIES_ADDED", `{"additionalProperties":false}`, `{"additionalProperties":true}`, true},
	{"ADDITIONAL_PROPERTIES_REMOVED", `{"additionalProperties":true}`, `{"additionalProperties":false}`, false},
	{"ADDITIONAL_PROPERTIES_EXTENDED", `{"additionalProperties":{"type":"integer"}}`, `{"additionalProperties":{"type":"number"}}`, true},
	{"ADDITIONAL_PROPERTIES_NARROWED", `{"additionalProperties":{"type":"number"}}`, `{"additionalProperties":{"type":"integer"}}`, false},
	{"UNEVALUATED_PROPERTIES_REMOVED", `{"$schema":"https://json-schema.org/draft/2020-12/schema","unevaluatedProperties":true}`, `{"$schema":"https://json-schema.org/draft/2020-12/schema","unevaluatedProperties":false}`, false},
	{"DEPENDENCY_ARRAY_ADDED", `{"dependencies":{}}`, `{"dependencies":{"a":["b"]}}`, false},
	{"DEPENDENCY_ARRAY_NARROWED", `{"dependencies":{"a":["b","c"]}}`, `{"dependencies":{"a":["b"]}}`, true},
	{"DEPENDENCY_ARRAY_EXTENDED", `{"dependencies":{"a":["b"]}}`, `{"dependencies":{"a":["b","c"]}}`, false},
	{"DEPENDENCY_ARRAY_REMOVED", `{"dependencies":{"a":["b"]}}`, `{"dependencies":{}}`, true},
	{"DEPENDENCY_SCHEMA_ADDED", `{"dependencies":{}}`, `{"dependencies":{"a":{"required":["b"]}}}`, false},
	{"DEPENDENCY_SCHEMA_REMOVED", `{"dependencies":{"a":{"type":"object"}}}`, `{}`, true},
	{"dependency schema changed: TYPE_CHANGED", `{"dependencies":{"a":{"type":"object"}}}`, `{"dependencies":{"a":{"type":"array"}}}`, false},
	{"REQUIRED_PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL", `{"properties":{}}`, `{"properties":{"a":{"type":"string"}},"required":["a"]}`, false},
	{"OPTIONAL_PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL", `{"properties":{}}`, `{"properties":{"a":{"type":"string"}}}`, false},
	{"PROPERTY_WITH_EMPTY_SCHEMA_ADDED_TO_OPEN_CONTENT_MODEL", `{"properties":{}}`, `{"properties":{"a":{}}}`, true},
	{"OPTIONAL_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL", `{"properties":{},"additionalProperties":false}`, `{"properties":{"a":{"type":"string"}},"additionalProperties":false}`, true},
	{"REQUIRED_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL", `{"properties":{},"additionalProperties":false}`, `{"properties":{"a":{"type":"string"}},"required":["a"],"additionalProperties":false}`, false},
	{"PROPERTY_REMOVED_FROM_OPEN_CONTENT_MODEL", `{"properties":{"a":{"type":"string"}}}`, `{"properties":{}}`, true},
	{"PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL", `{"properties":{"a":{"type":"string"}},"additionalProperties":false}`, `{"properties":{},"additionalProperties":false}`, false},
	{"PROPERTY_WITH_FALSE_REMOVED_FROM_CLOSED_CONTENT_MODEL", `{"properties":{"a":false},"additionalProperties":false}`, `{"properties":{},"additionalProperties":false}`, true},
	{"PROPERTY_ADDED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL", `{"properties":{},"additionalProperties":{"type":"integer"}}`, `{"properties":{"n":{"type":"number"}},"additionalProperties":{"type":"integer"}}`, true},
	{"PROPERTY_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL", `{"properties":{},"additionalProperties":{"type":"integer"}}`, `{"properties":{"n":{"type":"string"}},"additionalProperties":{"type":"integer"}}`, false},
	{"PROPERTY_REMOVED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL (patternProperties)", `{"properties":{"I_1":{"type":"integer"}},"additionalProperties":false}`, `{"properties":{},"additionalProperties":false,"patternProperties":{"^I_":{"type":"number"}}}`, true},
	{"PROPERTY_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL (patternProperties)", `{"properties":{"I_1":{"type":"number"}},"additionalProperties":false}`, `{"properties":{},"additionalProperties":false,"patternProperties":{"^I_":{"type":"integer"}}}`, false},
	{"MAX_ITEMS_ADDED", `{"type":"array"}`, `{"type":"array","maxItems":3}`, false},
	{"MIN_ITEMS_REMOVED", `{"type":"array","minItems":3}`, `{"type":"array"}`, true},
	{"MIN_CONTAINS_INCREASED", `{"$schema":"https://json-schema.org/draft/2020-12/schema","contains":{"type":"string"},"minContains":1}`, `{"$schema":"https://json-schema.org/draft/2020-12/schema","contains":{"type":"string"},"minContains":2}`, false},
	{"MAX_CONTAINS_INCREASED", `{"$schema":"https://json-schema.org/draft/2020-12/schema","contains":{"type":"string"},"maxContains":1}`, `{"$schema":"https://json-schema.org/draft/2020-12/schema","contains":{"type":"string"},"maxContains":2}`, true},
	{"UNIQUE_ITEMS_ADDED", `{"type":"array"}`, `{"type":"array","uniqueItems":true}`, false},
	{"UNIQUE_ITEMS_REMOVED", `{"type":"array","uniqueItems":true}`, `{"type":"array"}`, true},
	{"ADDITIONAL_ITEMS_REMOVED", `{"additionalItems":true}`, `{"additionalItems":false}`, false},
	{"ADDITIONAL_ITEMS_EXTENDED", `{"items":[{"type":"string"}],"additionalItems":{"type":"integer"}}`, `{"items":[{"type":"string"}],"additionalItems":{"type":"number"}}`, true},
	{"ADDITIONAL_ITEMS_NARROWED", `{"items":[{"type":"string"}],"additionalItems":{"type":"number"}}`, `{"items":[{"type":"string"}],"additionalItems":{"type":"integer"}}`, false},
	{"ITEM_ADDED_TO_OPEN_CONTENT_MODEL", `{"items":[{"type":"string"}]}`, `{"items":[{"type":"string"},{"type":"number"}]}`, false},
	{"ITEM_WITH_EMPTY_SCHEMA_ADDED_TO_OPEN_CONTENT_MODEL", `{"items":[{"type":"string"}]}`, `{"items":[{"type":"string"},true]}`, true},
	{"ITEM_ADDED_TO_CLOSED_CONTENT_MODEL", `{"items":[{"type":"string"}],"additionalItems":false}`, `{"items":[{"type":"string"},{"type":"number"}],"additionalItems":false}`, true},
	{"ITEM_REMOVED_FROM_OPEN_CONTENT_MODEL", `{"items":[{"type":"string"},{"type":"number"}]}`, `{"items":[{"type":"string"}]}`, true},
	{"ITEM_REMOVED_FROM_CLOSED_CONTENT_MODEL", `{"items":[{"type":"string"},{"type":"number"}],"additionalItems":false}`, `{"items":[{"type":"string"}],"additionalItems":false}`, false},
	{"ITEM_WITH_FALSE_REMOVED_FROM_CLOSED_CONTENT_MODEL", `{"items":[{"type":"string"},false],"additionalItems":false}`, `{"items":[{"type":"string"}],"additionalItems":false}`, true},
	{"ITEM_ADDED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL", `{"items":[{"type":"string"}],"additionalItems":{"type":"integer"}}`, `{"items":[{"type":"string"},{"type":"number"}],"additionalItems":{"type":"integer"}}`, true},
	{"ITEM_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL", `{"items":[{"type":"string"}],"additionalItems":{"type":"string"}}`, `{"items":[{"type":"string"},{"type":"number"}],"additionalItems":{"type":"string"}}`, false},
	{"ITEM_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL", `{"items":[{"type":"string"},{"type":"number"}],"additionalItems":{"type":"string"}}`, `{"items":[{"type":"string"}],"additionalItems":{"type":"string"}}`, false},
	{"2020-12 prefixItems: ITEM_ADDED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL", `{"$schema":"https://json-schema.org/draft/2020-12/schema","prefixItems":[{"type":"string"}],"items":{"type":"integer"}}`, `{"$schema":"https://json-schema.org/draft/2020-12/schema","prefixItems":[{"type":"string"},{"type":"number"}],"items":{"type":"integer"}}`, true},
	{"2020-12 prefixItems: ITEM_REMOVED_FROM_CLOSED_CONTENT_MODEL", `{"$schema":"https://json-schema.org/draft/2020-12/schema","prefixItems":[{"type":"string"},{"type":"number"}],"items":false}`, `{"$schema":"https://json-schema.org/draft/2020-12/schema","prefixItems":[{"type":"string"}],"items":false}`, false},
	{"ENUM_ARRAY_EXTENDED", `{"enum":["a"]}`, `{"enum":["a","b"]}`, true},
	{"ENUM_ARRAY_NARROWED", `{"enum":["a","b"]}`, `{"enum":["a"]}`, false},
	{"ENUM_ARRAY_CHANGED", `{"enum":["a"]}`, `{"enum":["b"]}`, false},
	{"enum within allOf, branches reordered: ENUM_ARRAY_EXTENDED", `{"allOf":[{"type":"string"},{"enum":["a"]}]}`, `{"allOf":[{"enum":["a","b"]},{"type":"string"}]}`, true},
	{"COMBINED_TYPE_EXTENDED (oneOf to allOf of one)", `{"oneOf":[{"type":"string"}]}`, `{"allOf":[{"type":"string"}]}`, true},
	{"COMBINED_TYPE_EXTENDED (allOf to anyOf)", `{"allOf":[{"type":"string"}]}`, `{"anyOf":[{"type":"string"}]}`, true},
	{"COMBINED_TYPE_CHANGED (anyOf to allOf of two)", `{"anyOf":[{"type":"string"},{"type":"number"}]}`, `{"allOf":[{"type":"string"},{"type":"number"}]}`, false},
	{"PRODUCT_TYPE_NARROWED", `{"allOf":[{"type":"number"},{"minimum":0}]}`, `{"allOf":[{"type":"number"}]}`, true},
	{"PRODUCT_TYPE_EXTENDED", `{"allOf":[{"type":"number"}]}`, `{"allOf":[{"type":"number"},{"minimum":0}]}`, false},
	{"SUM_TYPE_EXTENDED", `{"anyOf":[{"type":"number"}]}`, `{"anyOf":[{"type":"number"},{"type":"string"}]}`, true},
	{"SUM_TYPE_NARROWED", `{"oneOf":[{"type":"number"},{"type":"string"}]}`, `{"oneOf":[{"type":"number"}]}`, false},
	{"COMBINED_TYPE_SUBSCHEMAS_CHANGED", `{"oneOf":[{"type":"number"},{"type":"string"}]}`, `{"oneOf":[{"type":"number"},{"type":"boolean"}]}`, false},
	{"NOT_TYPE_NARROWED", `{"not":{"type":"number"}}`, `{"not":{"type":"integer"}}`, true},
	{"NOT_TYPE_EXTENDED", `{"not":{"type":"integer"}}`, `{"not":{"type":"number"}}`, false},
	{"not added", `{}`, `{"not":{"type":"integer"}}`, false},
	{"recursive $ref: a changed leaf", `{"$defs":{"n":{"type":"object","properties":{"v":{"type":"integer"},"next":{"$ref":"#/$defs/n"}}}},"$ref":"#/$defs/n"}`, `{"$defs":{"n":{"type":"object","properties":{"v":{"type":"string"},"next":{"$ref":"#/$defs/n"}}}},"$ref":"#/$defs/n"}`, false},
}

func TestJSONSchemaDifferences(t *testing.T) {
	t.Parallel()
	for _, c := range jsonDiffCases {
		prev, err := jsonFormat{}.parse(c.prev, nil, false)
		if err != nil {
			t.Fatalf("%s: previous: %v", c.name, err)
		}
		next, err := jsonFormat{}.parse(c.next, nil, false)
		if err != nil {
			t.Fatalf("%s: next: %v", c.name, err)
		}
		msgs := jsonFormat{}.readable(next, prev)
		if got := len(msgs) == 0; got != c.want {
			t.Errorf("%s: %s -> %s: compatible = %v, want %v; %v", c.name, c.prev, c.next, got, c.want, msgs)
		}
	}
}

// TestConfluentJSONSchemaExamples checks every example of Confluent's JSON
// Schema difference tests (the diff-*.json files of its
// json-schema-provider test resources, in the directory
// STREAMHOUSE_CONFLUENT_JSON_DIFF_EXAMPLES names; skipped without it) for
// Confluent's compatible or not: each update_schema read as the new
// version after original_schema under BACKWARD.
func TestConfluentJSONSchemaExamples(t *testing.T) {
	dir := os.Getenv("STREAMHOUSE_CONFLUENT_JSON_DIFF_EXAMPLES")
	if dir == "" {
		t.Skip("STREAMHOUSE_CONFLUENT_JSON_DIFF_EXAMPLES is not set")
	}
	files, _ := filepath.Glob(filepath.Join(dir, "diff-*.json"))
	if len(files) == 0 {
		t.Fatalf("no diff-*.json in %s", dir)
	}
	trailingComma := regexp.MustCompile(`,(\s*[}\]])`)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var cases []struct {
			Description string          `json:"description"`
			Original    json.RawMessage `json:"original_schema"`
			Update      json.RawMessage `json:"update_schema"`
			Changes     []string        `json:"changes"`
			Compatible  bool            `json:"compatible"`
		}
		if err := json.Unmarshal(trailingComma.ReplaceAll(b, []byte("$1")), &cases); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, c := range cases {
			o, err := jsonFormat{}.parse(string(c.Original), nil, false)
			if err != nil {
				t.Errorf("%s: %s: original: %v", filepath.Base(f), c.Description, err)
				continue
			}
			u, err := jsonFormat{}.parse(string(c.Update), nil, false)
			if err != nil {
				t.Errorf("%s: %s: update: %v", filepath.Base(f), c.Description, err)
				continue
			}
			if msgs := (jsonFormat{}).readable(u, o); (len(msgs) == 0) != c.Compatible {
				t.Errorf("%s: %s: compatible = %v, want %v (Confluent: %v); %v", filepath.Base(f), c.Description, len(msgs) == 0, c.Compatible, c.Changes, msgs)
			}
		}
		t.Logf("%s: %d examples", filepath.Base(f), len(cases))
	}
}

// TestJSONSchemaComparisonBounded: combined types nested through
// references make the comparison exponential; it stops at its budget and
// refuses, rather than holding the registry's write lock for ever.
func TestJSONSchemaComparisonBounded(t *testing.T) {
	t.Parallel()
	nested := func(leaf string) string {
		defs := `"l0":{"type":"` + leaf + `"}`
		for i := 1; i <= 12; i++ {
			prev := fmt.Sprintf(`{"$ref":"#/$defs/l%d"}`, i-1)
			defs += fmt.Sprintf(`,"l%d":{"anyOf":[%s,%s,%s,{"type":"null"}]}`, i, prev, prev, prev)
		}
		return `{"$schema":"https://json-schema.org/draft/2020-12/schema","$defs":{` + defs + `},"$ref":"#/$defs/l12"}`
	}
	prev, err := jsonFormat{}.parse(nested("string"), nil, false)
	if err != nil {
		t.Fatal(err)
	}
	next, err := jsonFormat{}.parse(nested("boolean"), nil, false)
	if err != nil {
		t.Fatal(err)
	}
	msgs := jsonFormat{}.readable(next, prev)
	if len(msgs) != 1 || !strings.Contains(msgs[0], "too complex") {
		t.Fatalf("messages %v, want the comparison refused as too complex", msgs)
	}
}

package registry

import (
	"fmt"
	"maps"
	"math"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// jsonFormat validates JSON Schema documents with
// github.com/santhosh-tekuri/jsonschema/v6 (draft-07 unless $schema says
// otherwise; references are other documents by their reference names;
// nothing is ever loaded from a file or the network) and checks
// compatibility by Confluent's rules (its JSON Schema difference types,
// named in the messages), which read "reader can read writer" as "every
// document valid under writer is valid under reader":
//   - type: the reader's types must cover the writer's (integer is
//     covered by number)
//   - properties: a property the reader adds is incompatible when the
//     writer's content model is open (additionalProperties, or
//     unevaluatedProperties, absent or true) unless its schema is empty,
//     and compatible when closed, or when what the writer allowed under
//     that name (a matching patternProperties schema, else its
//     additionalProperties schema: a partially open model) is readable by
//     it; a property the reader removes must be readable by the reader's
//     patternProperties or additionalProperties (a closed model refuses
//     it, unless the writer's schema for it was false)
//   - required: a property the reader requires (and defines, without a
//     default) that the writer did not
//   - additionalProperties / unevaluatedProperties: closing an open model,
//     or narrowing it
//   - dependencies (dependentRequired, dependentSchemas): one added, or a
//     property list extended; a schema dependency kept is compared
//   - enum and const: the reader must allow every writer value
//   - minimum, exclusiveMinimum, minLength, minItems, minProperties,
//     minContains may not rise (nor appear); their max counterparts may
//     not fall (nor appear); multipleOf must divide the writer's; pattern
//     and format may not be added or changed; uniqueItems not added
//   - not: the writer's not must exclude all the reader's does
//   - arrays: items as one schema; a tuple (draft-07 items as a list with
//     additionalItems, 2020-12 prefixItems with items) position by
//     position, each side's rest standing in where its list ends, then
//     the rests
//   - combined types: each reader allOf branch must read the writer; some
//     reader oneOf/anyOf branch must read each writer branch; a writer
//     allOf is read when one of its branches or all merged is; each
//     writer oneOf/anyOf branch must be read
//   - $ref: within the document (#/definitions, #/$defs, any pointer) and
//     to referenced documents
//
// Confluent's JSON Schema difference examples (its json-schema-provider
// test resources) all get Confluent's answer: TestConfluentJSONSchemaExamples.
type jsonFormat struct{}

// jsonBase is the base URL documents are compiled under; references
// resolve against it by name.
const jsonBase = "https://schema-registry.streamhouse.invalid/schemas/"

type jsonSchemaDoc struct {
	text string
	doc  any
	refs map[string]any // referenced documents, by reference name and URL
}

func (s *jsonSchemaDoc) canonical() string { return s.text }

// noLoader refuses to fetch: a schema may only use the documents it was
// given.
type noLoader struct{}

func (noLoader) Load(u string) (any, error) {
	return nil, fmt.Errorf("%s is not a registered reference", u)
}

func (jsonFormat) parse(text string, refs []resolved, normalize bool) (parsed, error) {
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(text))
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft7)
	c.UseLoader(noLoader{})
	s := &jsonSchemaDoc{doc: doc, refs: map[string]any{}}
	mainURL := jsonBase + "main.json"
	if m, ok := doc.(map[string]any); ok {
		if id, ok := m["$id"].(string); ok {
			if u, err := url.Parse(id); err == nil && u.IsAbs() {
				mainURL = id
			}
		}
	}
	for _, r := range refs {
		if r.format != JSON {
			return nil, fmt.Errorf("reference %q is a %s schema, not JSON", r.Name, r.format)
		}
		rdoc, err := jsonschema.UnmarshalJSON(strings.NewReader(r.text))
		if err != nil {
			return nil, fmt.Errorf("reference %q: %w", r.Name, err)
		}
		for _, u := range refURLs(mainURL, r.Name) {
			if _, dup := s.refs[u]; dup {
				continue
			}
			s.refs[u] = rdoc
			if err := c.AddResource(u, rdoc); err != nil {
				return nil, fmt.Errorf("reference %q: %w", r.Name, err)
			}
		}
		s.refs[r.Name] = rdoc
	}
	if err := c.AddResource(mainURL, doc); err != nil {
		return nil, err
	}
	if _, err := c.Compile(mainURL); err != nil {
		return nil, err
	}
	if s.text, err = compactJSON(text, normalize); err != nil {
		return nil, err
	}
	return s, nil
}

// refURLs are the URLs a reference named name is found at: the name itself
// when it is an absolute URL, and the name resolved against the main
// document's URL and the base.
func refURLs(mainURL, name string) []string {
	var out []string
	if u, err := url.Parse(name); err == nil && u.IsAbs() {
		out = append(out, u.String())
	}
	for _, base := range []string{mainURL, jsonBase} {
		if b, err := url.Parse(base); err == nil {
			if u, err := b.Parse(name); err == nil && !slices.Contains(out, u.String()) {
				out = append(out, u.String())
			}
		}
	}
	return out
}

func (jsonFormat) readable(reader, writer parsed) []string {
	budget := maxJSONSteps
	c := &jsonChecker{r: reader.(*jsonSchemaDoc), w: writer.(*jsonSchemaDoc), budget: &budget}
	c.check("#", c.r.doc, c.w.doc, 0)
	if budget < 0 {
		return []string{fmt.Sprintf("#: the schemas are too complex to compare (more than %d comparisons of their combined types)", maxJSONSteps)}
	}
	return c.msgs
}

// maxJSONSteps bounds the work of one comparison: combined types (oneOf,
// anyOf, allOf) compare branch against branch, which nested schemas make
// exponential; a registration beyond it is refused, never left running.
const maxJSONSteps = 50_000

// jsonChecker compares a reader document with a writer document.
type jsonChecker struct {
	r, w   *jsonSchemaDoc
	msgs   []string
	budget *int // comparisons left, shared by the side checks
}

// side is a checker for a comparison whose outcome is looked at before it
// counts (a branch against a branch); swap compares the other way round.
func (c *jsonChecker) side(swap bool) *jsonChecker {
	if swap {
		return &jsonChecker{r: c.w, w: c.r, budget: c.budget}
	}
	return &jsonChecker{r: c.r, w: c.w, budget: c.budget}
}

const maxJSONDepth = 64

func (c *jsonChecker) fail(path, format string, a ...any) {
	c.msgs = append(c.msgs, path+": "+fmt.Sprintf(format, a...))
}

// jsonDeref follows $ref (within doc's own document or to a referenced one).
func jsonDeref(d *jsonSchemaDoc, root, node any) (any, any) {
	for i := 0; i < maxJSONDepth; i++ {
		m, ok := node.(map[string]any)
		if !ok {
			return root, node
		}
		ref, ok := m["$ref"].(string)
		if !ok {
			return root, node
		}
		docPart, frag, _ := strings.Cut(ref, "#")
		if docPart != "" {
			target, ok := d.refs[docPart]
			if !ok {
				for name, doc := range d.refs {
					if strings.HasSuffix(name, "/"+docPart) {
						target, ok = doc, true
						break
					}
				}
			}
			if !ok {
				return root, node
			}
			root = target
		}
		next, ok := pointer(root, frag)
		if !ok {
			return root, node
		}
		node = next
	}
	return root, node
}

// pointer follows a JSON pointer fragment ("/definitions/a") from doc.
func pointer(doc any, frag string) (any, bool) {
	if frag == "" || frag == "/" {
		return doc, true
	}
	cur := doc
	for _, tok := range strings.Split(strings.TrimPrefix(frag, "/"), "/") {
		tok, _ = url.PathUnescape(tok)
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[tok]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// open reports whether a schema node accepts any value (true or {}).
func open(node any) bool {
	switch n := node.(type) {
	case bool:
		return n
	case map[string]any:
		for k := range n {
			switch k {
			case "$schema", "$id", "id", "title", "description", "$comment", "default", "examples", "definitions", "$defs":
			default:
				return false
			}
		}
		return true
	}
	return true
}

func types(node map[string]any) []string {
	switch t := node["type"].(type) {
	case string:
		return []string{t}
	case []any:
		var out []string
		for _, v := range t {
			if s, ok := v.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

func num(node map[string]any, k string) (float64, bool) {
	switch v := node[k].(type) {
	case float64:
		return v, true
	case interface{ Float64() (float64, error) }:
		f, err := v.Float64()
		return f, err == nil
	}
	return 0, false
}

func (c *jsonChecker) check(path string, r, w any, depth int) {
	c.checkIn(path, c.r.doc, r, c.w.doc, w, depth)
}

func (c *jsonChecker) checkIn(path string, rroot, r, wroot, w any, depth int) {
	if depth > maxJSONDepth {
		return // recursive schemas: what was compared so far stands
	}
	if *c.budget--; *c.budget < 0 {
		c.fail(path, "too complex to compare")
		return
	}
	rroot, r = jsonDeref(c.r, rroot, r)
	wroot, w = jsonDeref(c.w, wroot, w)
	if open(r) {
		return
	}
	if b, ok := w.(bool); ok && !b {
		return // the writer writes nothing
	}
	if b, ok := r.(bool); ok && !b {
		c.fail(path, "SCHEMA_REMOVED: the schema became false: it accepts nothing")
		return
	}
	rm, _ := r.(map[string]any)
	wm, _ := w.(map[string]any)
	if wm == nil {
		wm = map[string]any{}
	}
	sub := func(p string, rn, wn any) { c.checkIn(p, rroot, rn, wroot, wn, depth+1) }
	// reads runs a check on the side and reports whether it passed.
	reads := func(rn, wn any) bool {
		t := c.side(false)
		t.checkIn(path, rroot, rn, wroot, wn, depth+1)
		return len(t.msgs) == 0
	}

	// Combined types, as Confluent's: every branch of a reader's allOf
	// must read what the writer writes (PRODUCT_TYPE_NARROWED is
	// compatible); some branch of a reader's oneOf or anyOf must read each
	// of the writer's (SUM_TYPE_EXTENDED is), or the writer itself; a
	// writer's allOf is read when one of its branches (or all of them
	// merged) is; every branch of a writer's oneOf or anyOf must be read.
	if rb, ok := rm["allOf"].([]any); ok {
		for i, rn := range rb {
			t := c.side(false)
			t.checkIn(path, rroot, rn, wroot, w, depth+1)
			for _, m := range t.msgs {
				c.fail(path, "PRODUCT_TYPE_EXTENDED: allOf branch %d: %s", i, m)
			}
		}
		if rest := without(rm, "allOf"); !open(rest) {
			sub(path, rest, w)
		}
		return
	}
	for _, k := range []string{"oneOf", "anyOf"} {
		rb, ok := rm[k].([]any)
		if !ok {
			continue
		}
		wb, wk := combinerOf(wm)
		if wb == nil || wk == "allOf" {
			wb = []any{w}
		} else {
			wb = branches(wm, wk)
		}
		for i, wn := range wb {
			if !slices.ContainsFunc(rb, func(rn any) bool { return reads(rn, wn) }) {
				c.fail(path, "SUM_TYPE_NARROWED: %s: writer branch %d is read by no branch of the new schema", k, i)
			}
		}
		if rest := without(rm, k); !open(rest) {
			sub(path, rest, w)
		}
		return
	}
	if wb, wk := combinerOf(wm); wb != nil {
		if wk == "allOf" {
			all := branches(wm, "allOf")
			if slices.ContainsFunc(all, func(wn any) bool { return reads(r, wn) }) {
				return
			}
			sub(path, r, mergeAll(c.w, wroot, all))
			return
		}
		for i, wn := range branches(wm, wk) {
			t := c.side(false)
			t.checkIn(path, rroot, r, wroot, wn, depth+1)
			for _, m := range t.msgs {
				c.fail(path, "COMBINED_TYPE_CHANGED: %s branch %d: %s", wk, i, m)
			}
		}
		return
	}

	if rt := types(rm); rt != nil {
		wt := types(wm)
		if wt == nil {
			c.fail(path, "TYPE_NARROWED: the type became %v", rt)
		}
		for _, t := range wt {
			if !slices.Contains(rt, t) && !(t == "integer" && slices.Contains(rt, "number")) {
				c.fail(path, "TYPE_CHANGED: type %s is no longer accepted (%v)", t, rt)
			}
		}
	}
	if re, ok := rm["enum"].([]any); ok {
		we, ok := wm["enum"].([]any)
		if !ok {
			if cv, ok := wm["const"]; ok {
				we = []any{cv}
			} else {
				c.fail(path, "ENUM_ARRAY_CHANGED: values are now restricted to an enum")
			}
		}
		for _, v := range we {
			if !slices.ContainsFunc(re, func(x any) bool { return reflect.DeepEqual(x, v) }) {
				c.fail(path, "ENUM_ARRAY_NARROWED: %v is no longer accepted", v)
			}
		}
	}
	if rc, ok := rm["const"]; ok {
		if wc, ok := wm["const"]; !ok || !reflect.DeepEqual(rc, wc) {
			if we, ok := wm["enum"].([]any); !ok || len(we) != 1 || !reflect.DeepEqual(we[0], rc) {
				c.fail(path, "ENUM_ARRAY_NARROWED: the value must now be %v", rc)
			}
		}
	}
	for _, b := range jsonBounds {
		rv, rok := num(rm, b.key)
		if !rok {
			continue
		}
		wv, wok := num(wm, b.key)
		switch {
		case !wok:
			c.fail(path, "%s_ADDED: %s is now %v", b.name, b.key, rv)
		case b.lower && rv > wv:
			c.fail(path, "%s_INCREASED: %s is now %v (was %v)", b.name, b.key, rv, wv)
		case !b.lower && rv < wv:
			c.fail(path, "%s_DECREASED: %s is now %v (was %v)", b.name, b.key, rv, wv)
		}
	}
	if rv, ok := num(rm, "multipleOf"); ok {
		wv, wok := num(wm, "multipleOf")
		switch q := wv / rv; {
		case !wok:
			c.fail(path, "MULTIPLE_OF_ADDED: multipleOf is now %v", rv)
		case rv == 0 || math.Abs(q-math.Round(q)) > 1e-9:
			if rv > wv {
				c.fail(path, "MULTIPLE_OF_EXPANDED: multipleOf is now %v (was %v)", rv, wv)
			} else {
				c.fail(path, "MULTIPLE_OF_CHANGED: multipleOf is now %v (was %v)", rv, wv)
			}
		}
	}
	if rp, ok := rm["pattern"].(string); ok {
		if wp, ok := wm["pattern"].(string); !ok {
			c.fail(path, "PATTERN_ADDED: pattern is now %q", rp)
		} else if wp != rp {
			c.fail(path, "PATTERN_CHANGED: pattern is now %q (was %q)", rp, wp)
		}
	}
	if rv, ok := rm["format"]; ok && !reflect.DeepEqual(rv, wm["format"]) {
		c.fail(path, "TYPE_NARROWED: format %v added or changed", rv)
	}
	if u, _ := rm["uniqueItems"].(bool); u {
		if wu, _ := wm["uniqueItems"].(bool); !wu {
			c.fail(path, "UNIQUE_ITEMS_ADDED: items must now be unique")
		}
	}
	// not: what the writer excluded must cover what the reader excludes.
	if rn, ok := rm["not"]; ok {
		if wn, ok := wm["not"]; !ok {
			c.fail(path, "NOT_TYPE_EXTENDED: not was added")
		} else {
			t := c.side(true)
			t.checkIn(path+"/not", wroot, wn, rroot, rn, depth+1)
			for _, m := range t.msgs {
				c.fail(path+"/not", "NOT_TYPE_EXTENDED: %s", m)
			}
		}
	}
	c.dependencies(path, rm, wm, sub)

	// Objects.
	rprops, _ := rm["properties"].(map[string]any)
	wprops, _ := wm["properties"].(map[string]any)
	radd, wadd := additional(rm, "additionalProperties", "unevaluatedProperties"), additional(wm, "additionalProperties", "unevaluatedProperties")
	rpat, _ := rm["patternProperties"].(map[string]any)
	wpat, _ := wm["patternProperties"].(map[string]any)
	for _, name := range sortedKeys(rprops) {
		p := path + "/properties/" + name
		if wp, ok := wprops[name]; ok {
			sub(p, rprops[name], wp)
			continue
		}
		// A property the writer did not name: what the writer may have
		// written under that name must be readable by it.
		switch wn, covered := patternFor(wpat, name); {
		case open(rprops[name]):
			// PROPERTY_WITH_EMPTY_SCHEMA_ADDED_TO_OPEN_CONTENT_MODEL
		case covered:
			sub(p, rprops[name], wn)
		case wadd == false:
			// OPTIONAL_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL
		case open(wadd):
			c.fail(p, "PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL: property %q added while the old schema allowed any additional property", name)
		default:
			sub(p, rprops[name], wadd)
		}
	}
	for _, name := range sortedKeys(wprops) {
		if _, ok := rprops[name]; ok {
			continue
		}
		p := path + "/properties/" + name
		if wprops[name] == false {
			continue // PROPERTY_WITH_FALSE_REMOVED_FROM_CLOSED_CONTENT_MODEL
		}
		switch rn, covered := patternFor(rpat, name); {
		case covered:
			sub(p, rn, wprops[name])
		case radd == false:
			c.fail(p, "PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL: property %q removed while additional properties are not allowed", name)
		case open(radd):
		default:
			sub(p, radd, wprops[name])
		}
	}
	if rreq, ok := rm["required"].([]any); ok {
		wreq, _ := wm["required"].([]any)
		for _, n := range rreq {
			name, _ := n.(string)
			prop, defined := rprops[name].(map[string]any)
			_, hasDefault := prop["default"]
			if !slices.Contains(wreq, n) && defined && !hasDefault {
				c.fail(path, "REQUIRED_ATTRIBUTE_ADDED: property %v is now required", n)
			}
		}
	}
	if wadd != false && !open(radd) {
		if radd == false {
			c.fail(path, "ADDITIONAL_PROPERTIES_REMOVED: additional properties are no longer allowed")
		} else if open(wadd) {
			c.fail(path, "ADDITIONAL_PROPERTIES_NARROWED: additional properties are now restricted")
		} else {
			sub(path+"/additionalProperties", radd, wadd)
		}
	}

	// Arrays: a tuple (draft-07's items as a list with additionalItems
	// for the rest, 2020-12's prefixItems with items for the rest)
	// position by position, each side's rest standing in where its list
	// ends, then the rests; items as one schema; additionalItems even
	// without a tuple, as Confluent compares it.
	rl, rrest, rHas := arrayModel(rm)
	wl, wrest, wHas := arrayModel(wm)
	if rl != nil || wl != nil {
		for i := range max(len(rl), len(wl)) {
			p := fmt.Sprintf("%s/items/%d", path, i)
			rn, wn := rrest, wrest
			if i < len(rl) {
				rn = rl[i]
			}
			if i < len(wl) {
				wn = wl[i]
			}
			if wn == false {
				continue // ITEM_ADDED_TO_CLOSED_CONTENT_MODEL, ITEM_WITH_FALSE_REMOVED_FROM_CLOSED_CONTENT_MODEL
			}
			if rn == false {
				c.fail(p, "ITEM_REMOVED_FROM_CLOSED_CONTENT_MODEL: item %d is no longer allowed", i)
				continue
			}
			sub(p, rn, wn)
		}
	}
	// rest compares the schemas of the items past the tuples.
	rest := func(p string, rn, wn any) {
		switch {
		case wn == false, open(rn):
		case rn == false:
			c.fail(path, "ADDITIONAL_ITEMS_REMOVED: additional items are no longer allowed")
		default:
			sub(p, rn, wn)
		}
	}
	if rHas || wHas {
		rest(path+"/items", rrest, wrest)
	}
	if rl == nil && wl == nil {
		rest(path+"/additionalItems", additional(rm, "additionalItems"), additional(wm, "additionalItems"))
	}
}

// additional is the first of a node's keywords (additionalProperties,
// unevaluatedProperties) present, true (anything) when none is.
func additional(m map[string]any, keys ...string) any {
	for _, k := range keys {
		if v, ok := m[k]; ok {
			return v
		}
	}
	return true
}

// arrayModel is an array schema's tuple (nil when it has none) and the
// schema of the items after it (or of every item), and whether that rest
// was given.
func arrayModel(m map[string]any) (tuple []any, rest any, given bool) {
	if l, ok := m["prefixItems"].([]any); ok {
		_, given = m["items"]
		_, uGiven := m["unevaluatedItems"]
		return l, additional(m, "items", "unevaluatedItems"), given || uGiven
	}
	if l, ok := m["items"].([]any); ok {
		_, given = m["additionalItems"]
		_, uGiven := m["unevaluatedItems"]
		return l, additional(m, "additionalItems", "unevaluatedItems"), given || uGiven
	}
	rest, given = m["items"]
	if !given {
		rest = true
	}
	return nil, rest, given
}

// jsonBounds are the numeric bounds: a lower bound may not rise (nor
// appear), an upper one may not fall (nor appear).
var jsonBounds = []struct {
	key, name string
	lower     bool
}{
	{"minimum", "MINIMUM", true}, {"exclusiveMinimum", "EXCLUSIVE_MINIMUM", true},
	{"minLength", "MIN_LENGTH", true}, {"minItems", "MIN_ITEMS", true},
	{"minProperties", "MIN_PROPERTIES", true}, {"minContains", "MIN_CONTAINS", true},
	{"maximum", "MAXIMUM", false}, {"exclusiveMaximum", "EXCLUSIVE_MAXIMUM", false},
	{"maxLength", "MAX_LENGTH", false}, {"maxItems", "MAX_ITEMS", false},
	{"maxProperties", "MAX_PROPERTIES", false}, {"maxContains", "MAX_CONTAINS", false},
}

// dependencies compares dependencies (and dependentRequired,
// dependentSchemas) as Confluent's: a dependency removed, or a property
// list narrowed, is compatible; one added, or a list extended, is not; a
// schema dependency kept must read the old one.
func (c *jsonChecker) dependencies(path string, rm, wm map[string]any, sub func(p string, rn, wn any)) {
	for _, k := range []string{"dependencies", "dependentRequired", "dependentSchemas"} {
		rd, _ := rm[k].(map[string]any)
		wd, _ := wm[k].(map[string]any)
		for _, name := range sortedKeys(rd) {
			p := path + "/" + k + "/" + name
			rv := rd[name]
			wv, ok := wd[name]
			rl, rIsList := rv.([]any)
			if !ok {
				if rIsList {
					c.fail(p, "DEPENDENCY_ARRAY_ADDED: %s now needs %v", name, rl)
				} else {
					c.fail(p, "DEPENDENCY_SCHEMA_ADDED: a dependency on %s was added", name)
				}
				continue
			}
			wl, wIsList := wv.([]any)
			switch {
			case rIsList && wIsList:
				for _, n := range rl {
					if !slices.Contains(wl, n) {
						c.fail(p, "DEPENDENCY_ARRAY_EXTENDED: %s now needs %v", name, n)
					}
				}
			case rIsList != wIsList:
				c.fail(p, "DEPENDENCY_ARRAY_CHANGED: the dependency on %s changed its kind", name)
			default:
				sub(p, rv, wv)
			}
		}
	}
}

// combinerOf is a node's oneOf, anyOf or allOf branches and which.
func combinerOf(m map[string]any) ([]any, string) {
	for _, k := range []string{"oneOf", "anyOf", "allOf"} {
		if b, ok := m[k].([]any); ok {
			return b, k
		}
	}
	return nil, ""
}

// branches are node m's k branches, each with m's other keywords (the
// ones it shares with every branch) added where the branch lacks them.
func branches(m map[string]any, k string) []any {
	rest := without(m, k)
	all, _ := m[k].([]any)
	if open(rest) {
		return all
	}
	out := make([]any, 0, len(all)+1)
	for _, b := range all {
		bm, ok := b.(map[string]any)
		if !ok {
			out = append(out, b)
			continue
		}
		if _, isRef := bm["$ref"]; isRef {
			out = append(out, b) // a reference stands alone
			continue
		}
		merged := maps.Clone(rest)
		maps.Copy(merged, bm)
		out = append(out, merged)
	}
	if k == "allOf" {
		out = append(out, rest)
	}
	return out
}

// mergeAll is the branches of an allOf merged into one schema (references
// followed; the later branch's keyword wins, types intersect): a reader
// none of whose branches reads on its own may read them together.
func mergeAll(d *jsonSchemaDoc, root any, all []any) any {
	out := map[string]any{}
	for _, b := range all {
		_, n := jsonDeref(d, root, b)
		bm, ok := n.(map[string]any)
		if !ok {
			continue
		}
		for k, v := range bm {
			if k == "type" {
				if prev := types(out); prev != nil {
					var both []any
					for _, t := range types(bm) {
						if slices.Contains(prev, t) {
							both = append(both, t)
						}
					}
					v = both
				}
			}
			out[k] = v
		}
	}
	return out
}

// without is m without key k.
func without(m map[string]any, k string) map[string]any {
	out := maps.Clone(m)
	delete(out, k)
	return out
}

// patternFor is the schema of the first of patterns (by pattern, sorted)
// whose regular expression matches name.
func patternFor(patterns map[string]any, name string) (any, bool) {
	for _, p := range sortedKeys(patterns) {
		if re, err := regexp.Compile(p); err == nil && re.MatchString(name) {
			return patterns[p], true
		}
	}
	return nil, false
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

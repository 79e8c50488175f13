package registry

import (
	"fmt"
	"math"
	"net/url"
	"reflect"
	"slices"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// jsonFormat validates JSON Schema documents with
// github.com/santhosh-tekuri/jsonschema/v6 (draft-07 unless $schema says
// otherwise; references are other documents by their reference names;
// nothing is ever loaded from a file or the network) and checks
// compatibility by Confluent's rules, which read "reader can read writer"
// as "every document valid under writer is valid under reader":
//   - type: the reader's types must cover the writer's (integer is
//     covered by number)
//   - properties: a property the reader adds is incompatible when the
//     writer's content model is open (additionalProperties absent or true),
//     since writer documents may carry it with any value, and compatible
//     when closed, or when the writer's additionalProperties schema is
//     readable by it (a partially open model); a property the reader
//     removes is incompatible when the reader's model is closed
//   - required: a property the reader requires and the writer did not
//   - additionalProperties: closing an open model, or narrowing it
//   - enum and const: the reader must allow every writer value
//   - minimum, exclusiveMinimum, minLength, minItems, minProperties may not
//     rise (nor appear); maximum, exclusiveMaximum, maxLength, maxItems,
//     maxProperties may not fall (nor appear); multipleOf, pattern, format,
//     uniqueItems, not, dependencies may not be added or changed
//   - items and prefixItems element by element, oneOf/anyOf (each writer
//     branch readable by some reader branch), allOf (each reader branch
//     must read the writer)
//   - $ref: within the document (#/definitions, #/$defs, any pointer) and
//     to referenced documents
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
	c := &jsonChecker{r: reader.(*jsonSchemaDoc), w: writer.(*jsonSchemaDoc)}
	c.check("#", c.r.doc, c.w.doc, 0)
	return c.msgs
}

// jsonChecker compares a reader document with a writer document.
type jsonChecker struct {
	r, w *jsonSchemaDoc
	msgs []string
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
	rroot, r = jsonDeref(c.r, rroot, r)
	wroot, w = jsonDeref(c.w, wroot, w)
	if open(r) {
		return
	}
	if b, ok := w.(bool); ok && !b {
		return // the writer writes nothing
	}
	if b, ok := r.(bool); ok && !b {
		c.fail(path, "the schema became false: it accepts nothing")
		return
	}
	rm, _ := r.(map[string]any)
	wm, _ := w.(map[string]any)
	if wm == nil {
		wm = map[string]any{}
	}
	sub := func(p string, rn, wn any) { c.checkIn(p, rroot, rn, wroot, wn, depth+1) }

	// Combiners first: a writer branch list against the reader.
	for _, k := range []string{"oneOf", "anyOf"} {
		if rb, ok := rm[k].([]any); ok {
			wb, ok := wm["oneOf"].([]any)
			if !ok {
				wb, ok = wm["anyOf"].([]any)
			}
			if !ok {
				wb = []any{w}
			}
			for i, wn := range wb {
				if !slices.ContainsFunc(rb, func(rn any) bool {
					t := &jsonChecker{r: c.r, w: c.w}
					t.checkIn(path, rroot, rn, wroot, wn, depth+1)
					return len(t.msgs) == 0
				}) {
					c.fail(path, "%s: writer branch %d is readable by no reader branch", k, i)
				}
			}
		}
	}
	if rb, ok := rm["allOf"].([]any); ok {
		if wb, ok := wm["allOf"].([]any); !ok || !reflect.DeepEqual(rb, wb) {
			for i, rn := range rb {
				t := &jsonChecker{r: c.r, w: c.w}
				t.checkIn(path, rroot, rn, wroot, w, depth+1)
				for _, m := range t.msgs {
					c.fail(path, "allOf branch %d: %s", i, m)
				}
			}
		}
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
				c.fail(path, "ENUM_ADDED: values are now restricted to an enum")
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
			c.fail(path, "CONST_CHANGED: the value must now be %v", rc)
		}
	}
	for _, k := range []string{"minimum", "exclusiveMinimum", "minLength", "minItems", "minProperties"} {
		if rv, ok := num(rm, k); ok {
			if wv, ok := num(wm, k); !ok || rv > wv {
				c.fail(path, "%s_INCREASED: %s is now %v", strings.ToUpper(k), k, rv)
			}
		}
	}
	for _, k := range []string{"maximum", "exclusiveMaximum", "maxLength", "maxItems", "maxProperties"} {
		if rv, ok := num(rm, k); ok {
			if wv, ok := num(wm, k); !ok || rv < wv {
				c.fail(path, "%s_DECREASED: %s is now %v", strings.ToUpper(k), k, rv)
			}
		}
	}
	if rv, ok := num(rm, "multipleOf"); ok {
		wv, ok := num(wm, "multipleOf")
		if q := wv / rv; !ok || rv == 0 || math.Abs(q-math.Round(q)) > 1e-9 {
			c.fail(path, "MULTIPLE_OF_CHANGED: multipleOf is now %v", rv)
		}
	}
	for _, k := range []string{"pattern", "format", "not", "dependencies", "dependentRequired", "dependentSchemas", "patternProperties"} {
		if rv, ok := rm[k]; ok && !reflect.DeepEqual(rv, wm[k]) {
			c.fail(path, "%s changed or added", k)
		}
	}
	if u, _ := rm["uniqueItems"].(bool); u {
		if wu, _ := wm["uniqueItems"].(bool); !wu {
			c.fail(path, "UNIQUE_ITEMS_ADDED: items must now be unique")
		}
	}

	// Objects.
	rprops, _ := rm["properties"].(map[string]any)
	wprops, _ := wm["properties"].(map[string]any)
	radd, hasRAdd := rm["additionalProperties"]
	wadd, hasWAdd := wm["additionalProperties"]
	if !hasRAdd {
		radd = true
	}
	if !hasWAdd {
		wadd = true
	}
	for _, name := range sortedKeys(rprops) {
		p := path + "/properties/" + name
		if wp, ok := wprops[name]; ok {
			sub(p, rprops[name], wp)
			continue
		}
		switch {
		case wadd == false:
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
		switch {
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
			if !slices.Contains(wreq, n) {
				c.fail(path, "REQUIRED_PROPERTY_ADDED: property %v is now required", n)
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

	// Arrays.
	ritems, wItems := rm["items"], wm["items"]
	if rl, ok := ritems.([]any); ok { // draft-07 tuple
		wl, _ := wItems.([]any)
		for i, rn := range rl {
			if i < len(wl) {
				sub(fmt.Sprintf("%s/items/%d", path, i), rn, wl[i])
			}
		}
	} else if ritems != nil {
		if wItems == nil {
			wItems = true
		}
		if _, tuple := wItems.([]any); !tuple {
			sub(path+"/items", ritems, wItems)
		}
	}
	if rl, ok := rm["prefixItems"].([]any); ok {
		wl, _ := wm["prefixItems"].([]any)
		for i, rn := range rl {
			if i < len(wl) {
				sub(fmt.Sprintf("%s/prefixItems/%d", path, i), rn, wl[i])
			} else {
				sub(fmt.Sprintf("%s/prefixItems/%d", path, i), rn, true)
			}
		}
	}
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

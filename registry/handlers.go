package registry

import (
	"cmp"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"
)

// maxRefDepth bounds how deep references may nest (and so a cycle).
const maxRefDepth = 32

// resolveRefs appends to out the content of refs, references of a schema
// of subject parent, and of what they reference, dependencies first, each
// name once. A reference's subject without a context is in parent's (see
// qualifyRef). A reference to version -1 is to the subject's latest
// version; fixed returns refs with that version filled in.
func (st *state) resolveRefs(parent string, refs []Reference, out []resolved, seen map[string]bool, depth int) (fixed []Reference, _ []resolved, _ error) {
	if depth > maxRefDepth {
		return nil, nil, errInvalidSchema("references nest more than %d deep", maxRefDepth)
	}
	for _, ref := range refs {
		if ref.Name == "" || ref.Subject == "" {
			return nil, nil, errInvalidSchema("a reference needs a name and a subject: %+v", ref)
		}
		refSub := qualifyRef(parent, ref.Subject)
		s := st.subjects[refSub]
		var v *version
		if s != nil {
			if ref.Version == -1 {
				v = s.latest(false)
			} else if i, ok := s.find(ref.Version); ok {
				v = &s.versions[i]
			}
		}
		if v == nil {
			return nil, nil, errInvalidSchema("reference %q: subject %q has no version %d", ref.Name, ref.Subject, ref.Version)
		}
		ref.Version = v.v
		fixed = append(fixed, ref)
		if seen[ref.Name] {
			continue
		}
		seen[ref.Name] = true
		sc := st.schemaOf(refSub, v.id)
		var err error
		if _, out, err = st.resolveRefs(refSub, sc.refs, out, seen, depth+1); err != nil {
			return nil, nil, err
		}
		out = append(out, resolved{Reference: ref, format: sc.format, text: sc.text})
	}
	return fixed, out, nil
}

// safeParse is f.parse, with a parser's panic (a library's bug met by odd
// input) turned into an error: the schema is refused, the registry goes on.
func safeParse(f format, text string, refs []resolved, normalize bool) (p parsed, err error) {
	defer func() {
		if v := recover(); v != nil {
			p, err = nil, fmt.Errorf("the parser failed on it: %v", v)
		}
	}()
	return f.parse(text, refs, normalize)
}

// parseRequest parses a request's schema for subject sub with its
// references resolved.
func (st *state) parseRequest(sub string, rr *registerRequest, normalize bool) (parsed, []Reference, error) {
	f, _ := formatOf(rr.SchemaType)
	refs, deps, err := st.resolveRefs(sub, rr.References, nil, map[string]bool{}, 0)
	if err != nil {
		return nil, nil, err
	}
	p, err := safeParse(f, rr.Schema, deps, normalize)
	if err != nil {
		return nil, nil, errInvalidSchema("%s: %v", rr.Schema, err)
	}
	return p, refs, nil
}

// parseStored parses a registered schema of sub's context for a
// compatibility check.
func (st *state) parseStored(sub string, id int32) (format, parsed, error) {
	sc := st.schemaOf(sub, id)
	if sc == nil {
		return nil, nil, fmt.Errorf("schema %d is missing", id)
	}
	f, ok := formatOf(sc.format)
	if !ok {
		return nil, nil, fmt.Errorf("schema %d has unknown type %s", id, sc.format)
	}
	_, deps, err := st.resolveRefs(sub, sc.refs, nil, map[string]bool{}, 0)
	if err != nil {
		return nil, nil, err
	}
	p, err := safeParse(f, sc.text, deps, false)
	if err != nil {
		return nil, nil, fmt.Errorf("schema %d no longer parses: %w", id, err)
	}
	return f, p, nil
}

// check lists why next, with metadata meta, may not be registered under
// sub: its compatibility level against the live versions (newest first),
// or against only the versions in against when that is not nil. With a
// compatibilityGroup configured, only versions whose metadata has the same
// value of that property (or, like next, none) count.
func (st *state) check(sub string, f Format, next parsed, meta *Metadata, against []version) (msgs []string, err error) {
	defer func() {
		if v := recover(); v != nil {
			msgs, err = nil, fmt.Errorf("the compatibility check failed: %v", v)
		}
	}()
	s := st.subjects[sub]
	cfg := st.configOf(sub)
	level := cfg.CompatibilityLevel
	if s == nil || level == None {
		return nil, nil
	}
	if against == nil {
		for i := len(s.versions) - 1; i >= 0; i-- {
			if !s.versions[i].deleted {
				against = append(against, s.versions[i])
			}
		}
	}
	if g := cfg.CompatibilityGroup; g != "" {
		want, wantOK := groupValue(meta, g)
		against = slices.DeleteFunc(slices.Clone(against), func(v version) bool {
			got, ok := groupValue(parseMetadata(st.schemaOf(sub, v.id).meta), g)
			return got != want || ok != wantOK
		})
	}
	var prev []parsed
	var nums []int
	for _, v := range against {
		if !strings.HasSuffix(level, "_TRANSITIVE") && len(prev) == 1 {
			break
		}
		_, p, err := st.parseStored(sub, v.id)
		if err != nil {
			return nil, err
		}
		if of := st.schemaOf(sub, v.id).format; of != f {
			return []string{fmt.Sprintf("version %d is a %s schema; the new one is %s", v.v, of, f)}, nil
		}
		prev = append(prev, p)
		nums = append(nums, v.v)
	}
	fm, _ := formatOf(f)
	return checkLevel(fm, level, next, prev, nums), nil
}

// groupValue is the value of metadata property name, and whether m has it.
func groupValue(m *Metadata, name string) (string, bool) {
	if m == nil {
		return "", false
	}
	v, ok := m.Properties[name]
	return v, ok
}

func incompatible(sub string, msgs []string) error {
	return &apiError{409, 409, fmt.Sprintf("Schema being registered is incompatible with an earlier schema for subject %q, details: [%s]", sub, strings.Join(msgs, "; "))}
}

// hasDefaultsOrOverrides: the config merges metadata or rules into new
// versions.
func (c *config) hasDefaultsOrOverrides() bool {
	return c.DefaultMetadata != nil || c.OverrideMetadata != nil || c.DefaultRuleSet != nil || c.OverrideRuleSet != nil
}

// populated is the data contract a registration of sub gets, as
// Confluent's maybeSetMetadataRuleSet: the request's metadata and rule set
// (each, when absent, the latest live version's), under the config's
// defaults and beneath its overrides.
func (st *state) populated(sub string, cfg *config, meta *Metadata, rules *RuleSet) (*Metadata, *RuleSet) {
	if prev := st.latestLive(sub); prev != nil {
		if meta == nil {
			meta = parseMetadata(prev.meta)
		}
		if rules == nil {
			rules = parseRuleSet(prev.rules)
		}
	}
	meta = mergeMetadata(mergeMetadata(cfg.defaultMetadata(), meta), cfg.overrideMetadata())
	rules = mergeRuleSets(mergeRuleSets(cfg.defaultRuleSet(), rules), cfg.overrideRuleSet())
	return meta.normalize(), rules
}

// latestLive is the schema of sub's newest live version, nil when none.
func (st *state) latestLive(sub string) *schema {
	if s := st.subjects[sub]; s != nil {
		if v := s.latest(false); v != nil {
			return st.schemaOf(sub, v.id)
		}
	}
	return nil
}

// findUnder finds a version of sub (live ones, deleted too when deleted)
// that cn names, as Confluent's lookUpSchemaUnderSubject: the version
// holding cn's id, else the newest whose schema and references are cn's
// and whose data contract is cn's but for a confluent:version property
// that only one of them has (the other's version must then match).
func (st *state) findUnder(sub string, cn *content, deleted bool) (version, bool) {
	s := st.subjects[sub]
	if s == nil {
		return version{}, false
	}
	if id, ok := st.idOf(sub, cn); ok {
		for i := len(s.versions) - 1; i >= 0; i-- {
			if v := s.versions[i]; v.id == id && (deleted || !v.deleted) {
				return v, true
			}
		}
	}
	for i := len(s.versions) - 1; i >= 0; i-- {
		v := s.versions[i]
		if v.deleted && !deleted {
			continue
		}
		if sc := st.schemaOf(sub, v.id); sc != nil && lookupMatches(cn, &sc.content, v.v) {
			return v, true
		}
	}
	return version{}, false
}

// lookupMatches is Confluent's canLookupIgnoringVersion for content of
// the same schema: the data contracts equal once a confluent:version that
// only one of them has is set aside (prev's, or next's if it names prev's
// version prevV).
func lookupMatches(next, prev *content, prevV int) bool {
	if next.format != prev.format || next.text != prev.text || !slices.Equal(next.refs, prev.refs) || next.rules != prev.rules {
		return false
	}
	if next.meta == prev.meta {
		return true
	}
	nm, pm := parseMetadata(next.meta), parseMetadata(prev.meta)
	nv, nok := groupValue(nm, confluentVersion)
	_, pok := groupValue(pm, confluentVersion)
	if nok == pok || (nok && nv != strconv.Itoa(prevV)) {
		return false
	}
	return canonicalJSON(withoutVersion(nm)) == canonicalJSON(withoutVersion(pm))
}

// withoutVersion is m without its confluent:version property, never nil
// (Confluent compares an absent metadata as an empty one here).
func withoutVersion(m *Metadata) *Metadata {
	out := &Metadata{}
	if m != nil {
		*out = *m
	}
	out.Properties = maps.Clone(out.Properties)
	delete(out.Properties, confluentVersion)
	return out.normalize()
}

func (r *Registry) register(_ http.ResponseWriter, req *http.Request) (any, error) {
	sub, err := subjectParam(req)
	if err != nil {
		return nil, err
	}
	rr, err := readRegisterRequest(req)
	if err != nil {
		return nil, err
	}
	var id int32
	err = r.write(req.Context(), func(st *state) ([]*kgo.Record, error) {
		mode := st.modeOf(sub)
		if mode == ReadOnly {
			return nil, errNotPermitted("Subject %s is in read-only mode", sub)
		}
		if rr.ID != 0 && mode != Import {
			return nil, errNotPermitted("Subject %s is not in import mode; a schema id may only be given in IMPORT mode", sub)
		}
		cfg := st.configOf(sub)
		normalize := boolParam(req, "normalize") || (cfg.Normalize != nil && *cfg.Normalize)
		p, refs, err := st.parseRequest(sub, rr, normalize)
		if err != nil {
			return nil, err
		}
		asked := content{format: rr.SchemaType, text: p.canonical(), refs: refs, meta: canonicalJSON(rr.metadata), rules: canonicalJSON(rr.ruleSet)}
		s := st.subjects[sub]
		// Registered already, as asked (Confluent's first lookup, made
		// when the config merges nothing in).
		if !cfg.hasDefaultsOrOverrides() {
			if v, ok := st.findUnder(sub, &asked, false); ok && (rr.ID == 0 || rr.ID == v.id) && rr.Version == 0 {
				id = v.id
				return nil, nil
			}
		}
		newVersion := 1
		if s != nil && len(s.versions) > 0 {
			newVersion = s.versions[len(s.versions)-1].v + 1
		}
		cn := asked
		var meta *Metadata = rr.metadata
		if mode != Import {
			var rules *RuleSet
			meta, rules = st.populated(sub, &cfg, rr.metadata, rr.ruleSet)
			if _, has := groupValue(meta, confluentVersion); rr.Version != 0 || has {
				meta = withVersion(meta, newVersion)
			}
			cn.meta, cn.rules = canonicalJSON(meta), canonicalJSON(rules)
		}
		c := st.ctxOf(sub)
		existing, known := st.idOf(sub, &cn)
		if rr.Version == 0 {
			if v, ok := st.findUnder(sub, &cn, false); ok && (rr.ID == 0 || rr.ID == v.id) {
				id = v.id
				return nil, nil // registered already: the same id
			}
		}
		newID := c.maxID + 1
		if known {
			newID = existing
		}
		if mode == Import {
			if rr.ID != 0 {
				if sc := c.schemas[rr.ID]; sc != nil && !sc.equal(&cn) {
					return nil, errNotPermitted("Overwrite new schema with id %d is not permitted.", rr.ID)
				}
				newID = rr.ID
			}
			if rr.Version != 0 {
				if s != nil {
					if _, found := s.find(rr.Version); found {
						return nil, errNotPermitted("Version %d of subject %s exists already", rr.Version, sub)
					}
				}
				newVersion = rr.Version
			}
		} else {
			if rr.Version != 0 && rr.Version != newVersion {
				return nil, errInvalidSchema("%s: Version is not one more than previous version", rr.Schema)
			}
			msgs, err := st.check(sub, rr.SchemaType, p, meta, nil)
			if err != nil {
				return nil, err
			}
			if len(msgs) > 0 {
				return nil, incompatible(sub, msgs)
			}
		}
		id = newID
		val := schemaValue{Subject: sub, Version: newVersion, ID: newID, References: refs, Schema: cn.text,
			Metadata: rawJSON(cn.meta), RuleSet: rawJSON(cn.rules)}
		if rr.SchemaType != Avro {
			val.SchemaType = rr.SchemaType
		}
		recs := []*kgo.Record{{Key: schemaKey(sub, newVersion), Value: encodeValue(val)}}
		if ctx := contextOf(sub); ctx != defaultContext && !c.declared {
			// Confluent's registries list contexts by these records.
			recs = append([]*kgo.Record{contextRecord(ctx)}, recs...)
		}
		return recs, nil
	})
	if err != nil {
		return nil, err
	}
	r.metrics.registeredOne()
	return map[string]int32{"id": id}, nil
}

// lookup answers POST /subjects/{subject}: the version of the subject
// holding the schema, as Confluent's: with the data contract as asked,
// else as a registration would populate it (the latest version's, the
// config's defaults and overrides).
func (r *Registry) lookup(_ http.ResponseWriter, req *http.Request) (any, error) {
	sub, err := subjectParam(req)
	if err != nil {
		return nil, err
	}
	rr, err := readRegisterRequest(req)
	if err != nil {
		return nil, err
	}
	deleted := boolParam(req, "deleted")
	r.mu.RLock()
	defer r.mu.RUnlock()
	st := r.st
	s := st.subjects[sub]
	if s == nil || (!deleted && !s.live()) {
		return nil, errSubjectNotFound(sub)
	}
	cfg := st.configOf(sub)
	normalize := boolParam(req, "normalize") || (cfg.Normalize != nil && *cfg.Normalize)
	p, refs, err := st.parseRequest(sub, rr, normalize)
	if err != nil {
		return nil, err
	}
	cn := content{format: rr.SchemaType, text: p.canonical(), refs: refs, meta: canonicalJSON(rr.metadata), rules: canonicalJSON(rr.ruleSet)}
	if v, ok := st.findUnder(sub, &cn, deleted); ok {
		return infoOf(sub, v, st.schemaOf(sub, v.id)), nil
	}
	if st.latestLive(sub) != nil {
		meta, rules := st.populated(sub, &cfg, rr.metadata, rr.ruleSet)
		if next := (content{cn.format, cn.text, cn.refs, canonicalJSON(meta), canonicalJSON(rules)}); !next.equal(&cn) {
			if v, ok := st.findUnder(sub, &next, deleted); ok {
				return infoOf(sub, v, st.schemaOf(sub, v.id)), nil
			}
		}
	}
	return nil, &apiError{404, 40403, "Schema not found"}
}

// findVersion returns version vs of sub (live unless deleted).
func (st *state) findVersion(sub, vs string, deleted bool) (version, error) {
	n, latest, err := versionParam(vs)
	if err != nil {
		return version{}, err
	}
	s := st.subjects[sub]
	if s == nil || (!deleted && !s.live()) {
		return version{}, errSubjectNotFound(sub)
	}
	if latest {
		if v := s.latest(deleted); v != nil {
			return *v, nil
		}
		return version{}, errSubjectNotFound(sub)
	}
	i, ok := s.find(n)
	if !ok || (s.versions[i].deleted && !deleted) {
		return version{}, errVersionNotFound(n)
	}
	return s.versions[i], nil
}

func (r *Registry) getVersions(_ http.ResponseWriter, req *http.Request) (any, error) {
	sub, err := subjectParam(req)
	if err != nil {
		return nil, err
	}
	deleted, deletedOnly := boolParam(req, "deleted"), boolParam(req, "deletedOnly")
	r.mu.RLock()
	defer r.mu.RUnlock()
	s := r.st.subjects[sub]
	out := []int{}
	if s != nil {
		for _, v := range s.versions {
			if (deletedOnly && v.deleted) || (!deletedOnly && (deleted || !v.deleted)) {
				out = append(out, v.v)
			}
		}
	}
	if len(out) == 0 && !deletedOnly {
		return nil, errSubjectNotFound(sub)
	}
	return out, nil
}

// getSubjects lists subjects: those of every context unless
// ?subjectPrefix says otherwise (Confluent's default prefix is ":*:").
func (r *Registry) getSubjects(_ http.ResponseWriter, req *http.Request) (any, error) {
	prefix := contextWildcard
	if q := req.URL.Query(); q.Has("subjectPrefix") {
		prefix = q.Get("subjectPrefix")
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.st.subjectNames(prefix, boolParam(req, "deleted"), boolParam(req, "deletedOnly")), nil
}

// getSchemas lists subject versions: ?subjectPrefix, ?deleted,
// ?latestOnly, ?offset and ?limit, as Confluent's GET /schemas.
func (r *Registry) getSchemas(_ http.ResponseWriter, req *http.Request) (any, error) {
	q := req.URL.Query()
	deleted, latestOnly := boolParam(req, "deleted"), boolParam(req, "latestOnly")
	offset, _ := strconv.Atoi(q.Get("offset"))
	limit, _ := strconv.Atoi(q.Get("limit"))
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := []schemaInfo{}
	for _, sub := range r.st.subjectNames(q.Get("subjectPrefix"), deleted, false) {
		s := r.st.subjects[sub]
		for i := len(s.versions) - 1; i >= 0; i-- {
			v := s.versions[i]
			if v.deleted && !deleted {
				continue
			}
			out = append(out, infoOf(sub, v, r.st.schemaOf(sub, v.id)))
			if latestOnly {
				break
			}
		}
	}
	slices.SortStableFunc(out, func(a, b schemaInfo) int {
		return cmp.Or(strings.Compare(a.Subject, b.Subject), cmp.Compare(a.Version, b.Version))
	})
	if offset > 0 {
		out = out[min(offset, len(out)):]
	}
	if limit > 0 && limit < len(out) {
		out = out[:limit]
	}
	return out, nil
}

// versionsOf lists the subject versions of context ctx holding id (live
// ones unless deleted), by subject and version.
func (st *state) versionsOf(ctx string, id int32, deleted bool) []schemaInfo {
	var out []schemaInfo
	for name, s := range st.subjects {
		if contextOf(name) != ctx {
			continue
		}
		for _, v := range s.versions {
			if v.id == id && (deleted || !v.deleted) {
				out = append(out, schemaInfo{Subject: name, Version: v.v})
			}
		}
	}
	slices.SortFunc(out, func(a, b schemaInfo) int {
		return cmp.Or(strings.Compare(a.Subject, b.Subject), cmp.Compare(a.Version, b.Version))
	})
	return out
}

// liveReferrers reports whether a schema held by a live version
// references version v of sub: what blocks deleting it.
func (st *state) liveReferrers(sub string, v int) bool {
	if len(st.referencedBy(sub, v)) == 0 {
		return false
	}
	for name, s := range st.subjects {
		for _, ver := range s.versions {
			if ver.deleted {
				continue
			}
			for _, r := range st.schemaOf(name, ver.id).refs {
				if r.Version == v && qualifyRef(name, r.Subject) == sub {
					return true
				}
			}
		}
	}
	return false
}

func errReferenced(sub string, v int) error {
	return &apiError{422, 42206, fmt.Sprintf("One or more references exist to the schema {magic=1,keytype=SCHEMA,subject=%s,version=%d}.", sub, v)}
}

// watermark is the ID_WATERMARK record that keeps the ids of sub's
// context taken after a permanent delete. The default context's record
// has no context field, as before contexts.
func (st *state) watermark(sub string) *kgo.Record {
	ctx := contextOf(sub)
	key := recordKey{KeyType: keyIDWatermark}
	val := watermarkValue{MaxID: st.ctxOf(sub).maxID}
	if ctx != defaultContext {
		key.Context, val.Context = ctx, ctx
	}
	return &kgo.Record{Key: encodeKey(key), Value: encodeValue(val)}
}

func (r *Registry) deleteVersion(_ http.ResponseWriter, req *http.Request) (any, error) {
	sub, err := subjectParam(req)
	if err != nil {
		return nil, err
	}
	permanent := boolParam(req, "permanent")
	var deleted int
	err = r.write(req.Context(), func(st *state) ([]*kgo.Record, error) {
		// latest is the newest live version, unless permanent.
		vs := req.PathValue("version")
		v, err := st.findVersion(sub, vs, permanent || (vs != "latest" && vs != "-1"))
		if err != nil {
			return nil, err
		}
		deleted = v.v
		if st.modeOf(sub) == ReadOnly {
			return nil, errNotPermitted("Subject %s is in read-only mode", sub)
		}
		if st.liveReferrers(sub, v.v) {
			return nil, errReferenced(sub, v.v)
		}
		if permanent {
			if !v.deleted {
				return nil, &apiError{404, 40407, fmt.Sprintf("Subject '%s' Version %d was not deleted first before being permanently deleted", sub, v.v)}
			}
			return []*kgo.Record{st.watermark(sub), {Key: schemaKey(sub, v.v)}}, nil
		}
		if v.deleted {
			return nil, &apiError{404, 40406, fmt.Sprintf("Subject '%s' Version %d was soft deleted.Set permanent=true to delete permanently", sub, v.v)}
		}
		v.deleted = true
		return []*kgo.Record{st.schemaRecord(sub, v)}, nil
	})
	if err != nil {
		return nil, err
	}
	return deleted, nil
}

func (r *Registry) deleteSubject(_ http.ResponseWriter, req *http.Request) (any, error) {
	sub, err := subjectParam(req)
	if err != nil {
		return nil, err
	}
	permanent := boolParam(req, "permanent")
	var out []int
	err = r.write(req.Context(), func(st *state) ([]*kgo.Record, error) {
		out = nil
		s := st.subjects[sub]
		if s == nil || len(s.versions) == 0 {
			return nil, errSubjectNotFound(sub)
		}
		if st.modeOf(sub) == ReadOnly {
			return nil, errNotPermitted("Subject %s is in read-only mode", sub)
		}
		live := s.live()
		if permanent {
			if live {
				return nil, &apiError{404, 40405, fmt.Sprintf("Subject '%s' was not deleted first before being permanently deleted", sub)}
			}
			recs := []*kgo.Record{st.watermark(sub)}
			for _, v := range s.versions {
				out = append(out, v.v)
				recs = append(recs, &kgo.Record{Key: schemaKey(sub, v.v)})
			}
			if s.config != nil {
				recs = append(recs, &kgo.Record{Key: subjectKey(keyConfig, &sub)})
			}
			if s.mode != "" {
				recs = append(recs, &kgo.Record{Key: subjectKey(keyMode, &sub)})
			}
			return recs, nil
		}
		if !live {
			return nil, &apiError{404, 40404, fmt.Sprintf("Subject '%s' was soft deleted.Set permanent=true to delete permanently", sub)}
		}
		for _, v := range s.versions {
			if v.deleted {
				continue
			}
			if st.liveReferrers(sub, v.v) {
				return nil, errReferenced(sub, v.v)
			}
			out = append(out, v.v)
		}
		last := s.versions[len(s.versions)-1].v
		return []*kgo.Record{{
			Key:   encodeKey(recordKey{KeyType: keyDeleteSubject, Subject: &sub}),
			Value: encodeValue(deleteSubjectValue{Subject: sub, Version: last}),
		}}, nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

type compatResult struct {
	IsCompatible bool `json:"is_compatible"`
}

type verboseCompatResult struct {
	IsCompatible bool     `json:"is_compatible"`
	Messages     []string `json:"messages"`
}

func (r *Registry) checkVersion(w http.ResponseWriter, req *http.Request) (any, error) {
	return r.checkCompat(req, true)
}

func (r *Registry) checkAll(w http.ResponseWriter, req *http.Request) (any, error) {
	return r.checkCompat(req, false)
}

// checkCompat answers the compatibility endpoints: against one version
// (its level's directions) or against what registering would check.
func (r *Registry) checkCompat(req *http.Request, one bool) (any, error) {
	sub, err := subjectParam(req)
	if err != nil {
		return nil, err
	}
	rr, err := readRegisterRequest(req)
	if err != nil {
		return nil, err
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	st := r.st
	var against []version
	if one {
		v, err := st.findVersion(sub, req.PathValue("version"), false)
		if err != nil {
			return nil, err
		}
		against = []version{v}
	}
	p, _, err := st.parseRequest(sub, rr, boolParam(req, "normalize"))
	if err != nil {
		return nil, err
	}
	msgs, err := st.check(sub, rr.SchemaType, p, rr.metadata, against)
	if err != nil {
		return nil, storeError(err)
	}
	if !boolParam(req, "verbose") {
		return compatResult{IsCompatible: len(msgs) == 0}, nil
	}
	if msgs == nil {
		msgs = []string{}
	}
	return verboseCompatResult{IsCompatible: len(msgs) == 0, Messages: msgs}, nil
}

// byVersion is a handler of one subject version: it reads the subject and
// the version (a number or latest) from the path and finds it, soft-deleted
// too when ?deleted=true or always is set, under the index's read lock.
func (r *Registry) byVersion(always bool, h func(st *state, sub string, v version) any) handlerFunc {
	return func(_ http.ResponseWriter, req *http.Request) (any, error) {
		sub, err := subjectParam(req)
		if err != nil {
			return nil, err
		}
		r.mu.RLock()
		defer r.mu.RUnlock()
		v, err := r.st.findVersion(sub, req.PathValue("version"), always || boolParam(req, "deleted"))
		if err != nil {
			return nil, err
		}
		return h(r.st, sub, v), nil
	}
}

// byID is a handler of one schema by id, in the context ?subject= names
// (see locateID): 40403 when there is none.
func (r *Registry) byID(h func(req *http.Request, st *state, ctx string, id int32, sc *schema) (any, error)) handlerFunc {
	return func(_ http.ResponseWriter, req *http.Request) (any, error) {
		id, err := idParam(req)
		if err != nil {
			return nil, err
		}
		r.mu.RLock()
		defer r.mu.RUnlock()
		ctx, sc := r.st.locateID(id, req.URL.Query().Get("subject"))
		if sc == nil {
			return nil, errSchemaNotFound(strconv.Itoa(int(id)))
		}
		return h(req, r.st, ctx, id, sc)
	}
}

// locateID finds schema id as Confluent's lookup by id with ?subject=
// does: without a subject in the default context; with a subject of a
// named context (":.ctx:name") only if that subject holds the id; with a
// context alone (":.ctx:") in that context; with a plain subject, if that
// subject does not hold the id, in the first context (by name) whose
// subject of that name does, else in the default context.
func (st *state) locateID(id int32, subject string) (ctx string, _ *schema) {
	ctx, name := splitSubject(subject)
	c := st.contexts[ctx]
	switch {
	case c == nil:
		return ctx, nil
	case name == "":
		return ctx, c.schemas[id]
	}
	holds := func(sub string) bool {
		if s := st.subjects[sub]; s != nil {
			for _, v := range s.versions {
				if v.id == id {
					return true
				}
			}
		}
		return false
	}
	sub := qualify(ctx, name)
	if holds(sub) {
		return ctx, c.schemas[id]
	}
	if ctx != defaultContext {
		return ctx, nil
	}
	for _, other := range st.contextNames() {
		if other != defaultContext && holds(qualify(other, name)) {
			return other, st.contexts[other].schemas[id]
		}
	}
	return ctx, c.schemas[id]
}

// contextNames lists the contexts GET /contexts answers: the default one,
// then those declared, by name.
func (st *state) contextNames() []string {
	var names []string
	for name, c := range st.contexts {
		if c.declared && name != defaultContext {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return append([]string{defaultContext}, names...)
}

func getVersion(st *state, sub string, v version) any { return infoOf(sub, v, st.schemaOf(sub, v.id)) }

func getRawVersion(st *state, sub string, v version) any {
	return rawSchema(st.schemaOf(sub, v.id).text)
}

func getReferencedBy(st *state, sub string, v version) any {
	ids := st.referencedBy(sub, v.v)
	if ids == nil {
		ids = []int32{}
	}
	return ids
}

// getSchemaByID answers the schema; ?format=serialized gives a Protobuf
// one as its FileDescriptorProto.
func getSchemaByID(req *http.Request, st *state, ctx string, _ int32, sc *schema) (any, error) {
	si := infoOf("", version{}, sc)
	if f := req.URL.Query().Get("format"); f != "" && sc.format == Protobuf {
		text, err := protobufFormatted(st, contextSubject(ctx), sc, f)
		if err != nil {
			return nil, err
		}
		si.Schema = text
	}
	return si, nil
}

func getRawSchemaByID(_ *http.Request, _ *state, _ string, _ int32, sc *schema) (any, error) {
	return rawSchema(sc.text), nil
}

func getSubjectsByID(req *http.Request, st *state, ctx string, id int32, _ *schema) (any, error) {
	subs := []string{}
	for _, si := range st.versionsOf(ctx, id, boolParam(req, "deleted")) {
		if len(subs) == 0 || subs[len(subs)-1] != si.Subject {
			subs = append(subs, si.Subject)
		}
	}
	return subs, nil
}

func getVersionsByID(req *http.Request, st *state, ctx string, id int32, _ *schema) (any, error) {
	type sv struct {
		Subject string `json:"subject"`
		Version int    `json:"version"`
	}
	out := []sv{}
	for _, si := range st.versionsOf(ctx, id, boolParam(req, "deleted")) {
		out = append(out, sv{si.Subject, si.Version})
	}
	return out, nil
}

// latestWithMetadata answers GET /subjects/{subject}/metadata?key=k&value=v
// (pairs in order): the newest version (live, deleted too with
// ?deleted=true) whose metadata properties hold every pair, as Confluent's
// getLatestWithMetadata (what serializers with use.latest.with.metadata
// ask); 40401 without such a subject, 40403 without such a version.
func (r *Registry) latestWithMetadata(_ http.ResponseWriter, req *http.Request) (any, error) {
	sub, err := subjectParam(req)
	if err != nil {
		return nil, err
	}
	q := req.URL.Query()
	keys, values := q["key"], q["value"]
	want := map[string]string{}
	for i := range min(len(keys), len(values)) {
		want[keys[i]] = values[i]
	}
	deleted := boolParam(req, "deleted")
	r.mu.RLock()
	defer r.mu.RUnlock()
	s := r.st.subjects[sub]
	if s == nil || len(s.versions) == 0 || (!deleted && !s.live()) {
		return nil, errSubjectNotFound(sub)
	}
	for i := len(s.versions) - 1; i >= 0; i-- {
		v := s.versions[i]
		if v.deleted && !deleted {
			continue
		}
		sc := r.st.schemaOf(sub, v.id)
		m := parseMetadata(sc.meta)
		if m == nil {
			continue
		}
		if matches := func() bool {
			for k, val := range want {
				if got, ok := m.Properties[k]; !ok || got != val {
					return false
				}
			}
			return true
		}(); matches {
			return infoOf(sub, v, sc), nil
		}
	}
	return nil, &apiError{404, 40403, "Schema not found"}
}

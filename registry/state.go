package registry

import (
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"slices"
	"sort"
)

// Format is a schema type: AVRO, JSON or PROTOBUF.
type Format string

// The schema types, named as Confluent names them.
const (
	Avro     Format = "AVRO"
	JSON     Format = "JSON"
	Protobuf Format = "PROTOBUF"
)

// Reference names a schema that another schema imports: the name it is
// imported by, and the subject and version that hold it.
type Reference struct {
	Name    string `json:"name"`
	Subject string `json:"subject"`
	Version int    `json:"version"`
}

// content is what an id stands for: a schema's format, text and
// references, and the data contract registered with it (metadata and rule
// set, canonical JSON, "" for none), which Confluent's ids cover too.
type content struct {
	format Format
	text   string
	refs   []Reference
	meta   string
	rules  string
}

func (c *content) equal(o *content) bool {
	return c.format == o.format && c.text == o.text && slices.Equal(c.refs, o.refs) && c.meta == o.meta && c.rules == o.rules
}

// schema is a registered schema's content, shared by every subject version
// registered with it (the same content under any subject of a context
// gets the same id).
type schema struct {
	content
	uses int // subject versions holding it, deleted ones included
}

// key identifies a schema's content.
type contentKey [16]byte

func (c *content) key() contentKey {
	h := sha256.New()
	h.Write([]byte(c.format))
	h.Write([]byte{0})
	h.Write([]byte(c.text))
	var n [8]byte
	for _, r := range c.refs {
		h.Write([]byte{0})
		h.Write([]byte(r.Name))
		h.Write([]byte{0})
		h.Write([]byte(r.Subject))
		binary.BigEndian.PutUint64(n[:], uint64(r.Version))
		h.Write(n[:])
	}
	if c.meta != "" || c.rules != "" {
		h.Write([]byte{1})
		h.Write([]byte(c.meta))
		h.Write([]byte{0})
		h.Write([]byte(c.rules))
	}
	var k contentKey
	copy(k[:], h.Sum(nil))
	return k
}

// version is one version of a subject.
type version struct {
	v       int
	id      int32
	deleted bool
}

// subject is a subject's versions, in ascending order, and its own
// config (nil when it follows its context's or the global one) and mode
// ("" when it follows those).
type subject struct {
	versions []version
	config   *config
	mode     string
}

func (s *subject) find(v int) (int, bool) {
	i := sort.Search(len(s.versions), func(i int) bool { return s.versions[i].v >= v })
	return i, i < len(s.versions) && s.versions[i].v == v
}

// live reports whether the subject has a version not soft-deleted.
func (s *subject) live() bool {
	for i := range s.versions {
		if !s.versions[i].deleted {
			return true
		}
	}
	return false
}

// latest is the subject's newest version (deleted ones too when deleted),
// nil when there is none.
func (s *subject) latest(deleted bool) *version {
	for i := len(s.versions) - 1; i >= 0; i-- {
		if deleted || !s.versions[i].deleted {
			return &s.versions[i]
		}
	}
	return nil
}

// empty: nothing left worth keeping an entry for.
func (s *subject) empty() bool { return len(s.versions) == 0 && s.config == nil && s.mode == "" }

// errConflict: a SCHEMA record that the log's earlier records contradict;
// it is ignored.
var errConflict = errors.New("registry: record conflicts with an earlier one")

// schemaContext is one schema context's ids: every context numbers its
// schemas on its own, as Confluent's do.
type schemaContext struct {
	schemas map[int32]*schema
	byKey   map[contentKey]int32
	maxID   int32
	// declared: a CONTEXT record names it (written when its first
	// subject version is registered), so GET /contexts lists it until
	// DELETE /contexts/{context}.
	declared bool
}

// state is the registry's index: what the records of `_schemas` applied in
// order make. It is not safe for concurrent use; Registry guards it.
type state struct {
	// subjects by their normalized name (see contexts.go); the entry of a
	// context's own name (":.ctx:") holds its config and mode.
	subjects map[string]*subject
	contexts map[string]*schemaContext // by name: ".", ".ctx"
	config   *config                   // global; nil is the default, BACKWARD
	mode     string                    // global; "" is the default, READWRITE
}

func newState() *state {
	return &state{subjects: map[string]*subject{}, contexts: map[string]*schemaContext{}}
}

// ctx is the schema context named name, made when create.
func (st *state) ctx(name string, create bool) *schemaContext {
	c := st.contexts[name]
	if c == nil && create {
		c = &schemaContext{schemas: map[int32]*schema{}, byKey: map[contentKey]int32{}}
		st.contexts[name] = c
	}
	return c
}

// ctxOf is the schema context subject sub is in; an empty one (not kept)
// when nothing was registered there.
func (st *state) ctxOf(sub string) *schemaContext {
	if c := st.contexts[contextOf(sub)]; c != nil {
		return c
	}
	return &schemaContext{}
}

// schemaOf is schema id of sub's context, nil when there is none.
func (st *state) schemaOf(sub string, id int32) *schema { return st.ctxOf(sub).schemas[id] }

// schemaCount is how many schemas (ids) all contexts hold.
func (st *state) schemaCount() int {
	n := 0
	for _, c := range st.contexts {
		n += len(c.schemas)
	}
	return n
}

func (st *state) subject(name string, create bool) *subject {
	s := st.subjects[name]
	if s == nil && create {
		s = &subject{}
		st.subjects[name] = s
	}
	return s
}

func (st *state) dropIfEmpty(name string) {
	if s := st.subjects[name]; s != nil && s.empty() {
		delete(st.subjects, name)
	}
}

// putSchema applies a SCHEMA record: version v of subject sub has schema id
// with content cn, deleted or not. A record that gives an existing version
// another id, or an id other content, is errConflict.
func (st *state) putSchema(sub string, v int, id int32, cn content, deleted bool) error {
	if v <= 0 || id <= 0 {
		return errConflict
	}
	k := cn.key()
	c := st.ctx(contextOf(sub), true)
	if sc := c.schemas[id]; sc != nil && !sc.equal(&cn) {
		return errConflict
	}
	s := st.subject(sub, true)
	i, found := s.find(v)
	if found {
		if s.versions[i].id != id {
			st.dropIfEmpty(sub)
			return errConflict
		}
		s.versions[i].deleted = deleted
		return nil
	}
	sc := c.schemas[id]
	if sc == nil {
		sc = &schema{content: cn}
		c.schemas[id] = sc
		if _, ok := c.byKey[k]; !ok {
			c.byKey[k] = id
		}
	}
	sc.uses++
	c.maxID = max(c.maxID, id)
	s.versions = slices.Insert(s.versions, i, version{v: v, id: id, deleted: deleted})
	return nil
}

// removeSchema applies a SCHEMA tombstone: version v of sub is gone, and
// its schema too when no other version holds it. A permanent delete
// follows a soft delete (Confluent's rule, kept by every writer), so a
// tombstone of a version that is not soft-deleted is errConflict and
// changes nothing: it is a writer's tombstone for a key its own record
// lost on its id (Registry.rewriteWinners), which another registry's
// version took meanwhile.
func (st *state) removeSchema(sub string, v int) error {
	s := st.subjects[sub]
	if s == nil {
		return nil
	}
	i, found := s.find(v)
	if !found {
		return nil
	}
	if !s.versions[i].deleted {
		return errConflict
	}
	id := s.versions[i].id
	s.versions = slices.Delete(s.versions, i, i+1)
	st.dropIfEmpty(sub)
	c := st.ctxOf(sub)
	if sc := c.schemas[id]; sc != nil {
		if sc.uses--; sc.uses <= 0 {
			delete(c.schemas, id)
			k := sc.key()
			if c.byKey[k] == id {
				delete(c.byKey, k)
			}
		}
	}
	return nil
}

// deleteSubject applies DELETE_SUBJECT: versions up to v soft-deleted.
func (st *state) deleteSubject(sub string, v int) {
	s := st.subjects[sub]
	if s == nil {
		return
	}
	for i := range s.versions {
		if s.versions[i].v <= v {
			s.versions[i].deleted = true
		}
	}
}

func (st *state) setConfig(sub *string, c *config) {
	if sub == nil {
		st.config = c
		return
	}
	if s := st.subject(*sub, c != nil); s != nil {
		s.config = c
		st.dropIfEmpty(*sub)
	}
}

func (st *state) setMode(sub *string, mode string) {
	if sub == nil {
		st.mode = mode
		return
	}
	if s := st.subject(*sub, mode != ""); s != nil {
		s.mode = mode
		st.dropIfEmpty(*sub)
	}
}

// idOf returns the id of a schema with this content in sub's context, if
// one is registered.
func (st *state) idOf(sub string, cn *content) (int32, bool) {
	id, ok := st.ctxOf(sub).byKey[cn.key()]
	return id, ok
}

// inScope is a setting in force for sub, as Confluent looks it up: the
// subject's own, else its context's (the global one for the default
// context), else the ".__GLOBAL" context's; "" when none is set.
func (st *state) inScope(sub string, own func(*subject) string, global string) string {
	if s := st.subjects[sub]; sub != "" && s != nil && own(s) != "" {
		return own(s)
	}
	if ctx := contextOf(sub); ctx != defaultContext {
		if s := st.subjects[contextSubject(ctx)]; s != nil && own(s) != "" {
			return own(s)
		}
	} else if global != "" {
		return global
	}
	if s := st.subjects[contextSubject(globalContext)]; s != nil {
		return own(s)
	}
	return ""
}

// configOf is the config in force for sub ("": the global one), as
// Confluent's getConfigInScope: the subject's own (taking normalize and
// compatibilityGroup from the global one when it has none), else its
// context's (the global one for the default context), else the
// .__GLOBAL context's, else the default. Its level is BACKWARD when the
// config found sets none.
func (st *state) configOf(sub string) config {
	var c config
	if s := st.subjects[sub]; sub != "" && s != nil && s.config != nil {
		c = *s.config
		if g := st.config; g != nil {
			c.CompatibilityGroup = cmp.Or(c.CompatibilityGroup, g.CompatibilityGroup)
			if c.Normalize == nil {
				c.Normalize = g.Normalize
			}
		}
	} else if found := st.contextConfig(contextOf(sub)); found != nil {
		c = *found
	}
	c.CompatibilityLevel = cmp.Or(c.CompatibilityLevel, Backward)
	return c
}

// contextConfig is the config a subject of ctx without its own follows:
// ctx's (the global one for the default context), else the .__GLOBAL
// context's; nil when neither is set.
func (st *state) contextConfig(ctx string) *config {
	if ctx != defaultContext {
		if s := st.subjects[contextSubject(ctx)]; s != nil && s.config != nil {
			return s.config
		}
	} else if st.config != nil {
		return st.config
	}
	if s := st.subjects[contextSubject(globalContext)]; s != nil {
		return s.config
	}
	return nil
}

// compatOf is the compatibility level in force for sub ("": the global
// one).
func (st *state) compatOf(sub string) string { return st.configOf(sub).CompatibilityLevel }

// modeOf is the mode in force for sub ("": the global one).
func (st *state) modeOf(sub string) string {
	return cmp.Or(st.inScope(sub, func(s *subject) string { return s.mode }, st.mode), ReadWrite)
}

// referencedBy lists the ids of schemas whose references name version v
// of sub, ascending: schemas of any context, a reference without a
// context naming a subject of its schema's.
func (st *state) referencedBy(sub string, v int) []int32 {
	var ids []int32
	for ctx, c := range st.contexts {
		parent := contextSubject(ctx)
		for id, sc := range c.schemas {
			for _, r := range sc.refs {
				if r.Version == v && qualifyRef(parent, r.Subject) == sub {
					ids = append(ids, id)
					break
				}
			}
		}
	}
	slices.Sort(ids)
	return slices.Compact(ids)
}

// subjectNames lists subjects, sorted, with a version not soft-deleted (or
// any version when deleted), that match a ?subjectPrefix (see
// subjectMatcher).
func (st *state) subjectNames(prefix string, deleted, deletedOnly bool) []string {
	match := subjectMatcher(prefix)
	names := []string{}
	for name, s := range st.subjects {
		if len(s.versions) == 0 || !match(name) {
			continue
		}
		live := s.live()
		switch {
		case deletedOnly:
			if live {
				continue
			}
		case !deleted && !live:
			continue
		}
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

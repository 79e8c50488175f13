package registry

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"slices"
	"sort"
	"strings"
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

// schema is a registered schema's content, shared by every subject version
// registered with it (the same content under any subject gets the same
// id).
type schema struct {
	format Format
	text   string
	refs   []Reference
	uses   int // subject versions holding it, deleted ones included
}

// key identifies a schema's content: its format, text and references.
type contentKey [16]byte

func keyOf(f Format, text string, refs []Reference) contentKey {
	h := sha256.New()
	h.Write([]byte(f))
	h.Write([]byte{0})
	h.Write([]byte(text))
	var n [8]byte
	for _, r := range refs {
		h.Write([]byte{0})
		h.Write([]byte(r.Name))
		h.Write([]byte{0})
		h.Write([]byte(r.Subject))
		binary.BigEndian.PutUint64(n[:], uint64(r.Version))
		h.Write(n[:])
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
// compatibility level and mode ("" when it follows the global one).
type subject struct {
	versions []version
	compat   string
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
func (s *subject) empty() bool { return len(s.versions) == 0 && s.compat == "" && s.mode == "" }

// errConflict: a SCHEMA record that the log's earlier records contradict;
// it is ignored.
var errConflict = errors.New("registry: record conflicts with an earlier one")

// state is the registry's index: what the records of `_schemas` applied in
// order make. It is not safe for concurrent use; Registry guards it.
type state struct {
	subjects map[string]*subject
	schemas  map[int32]*schema
	byKey    map[contentKey]int32
	maxID    int32
	compat   string // global; "" is the default, BACKWARD
	mode     string // global; "" is the default, READWRITE
}

func newState() *state {
	return &state{subjects: map[string]*subject{}, schemas: map[int32]*schema{}, byKey: map[contentKey]int32{}}
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
// with content (f, text, refs), deleted or not. A record that gives an
// existing version another id, or an id other content, is errConflict.
func (st *state) putSchema(sub string, v int, id int32, f Format, text string, refs []Reference, deleted bool) error {
	if v <= 0 || id <= 0 {
		return errConflict
	}
	k := keyOf(f, text, refs)
	if sc := st.schemas[id]; sc != nil && (sc.format != f || sc.text != text || !slices.Equal(sc.refs, refs)) {
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
	sc := st.schemas[id]
	if sc == nil {
		sc = &schema{format: f, text: text, refs: refs}
		st.schemas[id] = sc
		if _, ok := st.byKey[k]; !ok {
			st.byKey[k] = id
		}
	}
	sc.uses++
	st.maxID = max(st.maxID, id)
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
	if sc := st.schemas[id]; sc != nil {
		if sc.uses--; sc.uses <= 0 {
			delete(st.schemas, id)
			k := keyOf(sc.format, sc.text, sc.refs)
			if st.byKey[k] == id {
				delete(st.byKey, k)
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

func (st *state) setCompat(sub *string, level string) {
	if sub == nil {
		st.compat = level
		return
	}
	if s := st.subject(*sub, level != ""); s != nil {
		s.compat = level
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

// idOf returns the id of a schema with this content, if one is registered.
func (st *state) idOf(f Format, text string, refs []Reference) (int32, bool) {
	id, ok := st.byKey[keyOf(f, text, refs)]
	return id, ok
}

// compatOf is the compatibility level in force for sub.
func (st *state) compatOf(sub string) string {
	if s := st.subjects[sub]; s != nil && s.compat != "" {
		return s.compat
	}
	if st.compat != "" {
		return st.compat
	}
	return Backward
}

// modeOf is the mode in force for sub.
func (st *state) modeOf(sub string) string {
	if s := st.subjects[sub]; s != nil && s.mode != "" {
		return s.mode
	}
	if st.mode != "" {
		return st.mode
	}
	return ReadWrite
}

// referencedBy lists the ids of schemas whose references name version v
// of sub, ascending.
func (st *state) referencedBy(sub string, v int) []int32 {
	var ids []int32
	for id, sc := range st.schemas {
		for _, r := range sc.refs {
			if r.Subject == sub && r.Version == v {
				ids = append(ids, id)
				break
			}
		}
	}
	slices.Sort(ids)
	return ids
}

// subjectNames lists subjects, sorted, with a version not soft-deleted (or
// any version when deleted), starting with prefix.
func (st *state) subjectNames(prefix string, deleted, deletedOnly bool) []string {
	names := []string{}
	for name, s := range st.subjects {
		if !strings.HasPrefix(name, prefix) || len(s.versions) == 0 {
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

package registry

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"
)

// The two settings a subject (or the registry) has: its compatibility
// level (/config) and its mode (/mode). They are read, set and deleted the
// same way, with their own names, codes and checks.
type setting struct {
	keyType   string // the record's key type: CONFIG or MODE
	getField  string // the field GET and DELETE answer with
	putField  string // the field PUT takes and answers with
	notSet    int    // the code for a subject that has none: 40408, 40409
	what      string // for messages: compatibility, mode
	invalid   error  // a value PUT may not set
	valid     func(string) bool
	effective func(st *state, sub string) string // "" for the global one
	own       func(s *subject) string
	value     func(v string) any // the record's value
	// checkPut refuses a change (IMPORT while subjects exist, unless
	// forced); nil: none.
	checkPut func(st *state, sub *string, v string, force bool) error
}

var modeSetting = &setting{
	keyType: keyMode, getField: "mode", putField: "mode", notSet: 40409, what: "mode",
	invalid: errInvalidMode, valid: validMode,
	effective: (*state).modeOf,
	own:       func(s *subject) string { return s.mode },
	value:     func(v string) any { return modeValue{Mode: v} },
	checkPut: func(st *state, sub *string, v string, force bool) error {
		if v != Import || force {
			return nil
		}
		// The registry's subjects, a context's (":.ctx:"), or one.
		if sub == nil && len(st.subjectNames(contextWildcard, true, false)) > 0 {
			return errNotPermitted("Cannot import since found existing subjects")
		}
		if ctx, name := splitSubject(deref(sub)); sub != nil && name == "" && len(st.subjectNames(contextSubject(ctx), true, false)) > 0 {
			return errNotPermitted("Cannot import since found existing subjects")
		}
		if s := st.subjects[deref(sub)]; sub != nil && s != nil && len(s.versions) > 0 {
			return errNotPermitted("Cannot import since found existing subjects")
		}
		return nil
	},
}

func (set *setting) errNotSet(sub string) error {
	return &apiError{404, set.notSet, fmt.Sprintf("Subject '%s' does not have subject-level %s configured", sub, set.what)}
}

// optionalSubject is the path's subject, nil for the global resource
// (which ":.:", the default context, names too, as in Confluent's).
func optionalSubject(req *http.Request) (*string, error) {
	if req.PathValue("subject") == "" {
		return nil, nil
	}
	s, err := checkSubject(req.PathValue("subject"), true)
	if err == nil && s == "" {
		return nil, nil
	}
	return &s, err
}

// get answers GET /config[/{subject}] and GET /mode[/{subject}]: a
// subject's own setting, or with ?defaultToGlobal=true the global one when
// it has none.
func (set *setting) get(r *Registry) handlerFunc {
	return func(_ http.ResponseWriter, req *http.Request) (any, error) {
		sub, err := optionalSubject(req)
		if err != nil {
			return nil, err
		}
		r.mu.RLock()
		defer r.mu.RUnlock()
		if sub != nil {
			if s := r.st.subjects[*sub]; s != nil && set.own(s) != "" {
				return map[string]string{set.getField: set.own(s)}, nil
			}
			if !boolParam(req, "defaultToGlobal") {
				return nil, set.errNotSet(*sub)
			}
			// What the subject follows: its context's, else the global.
			return map[string]string{set.getField: set.effective(r.st, *sub)}, nil
		}
		return map[string]string{set.getField: set.effective(r.st, "")}, nil
	}
}

// put answers PUT /config[/{subject}] and PUT /mode[/{subject}].
func (set *setting) put(r *Registry) handlerFunc {
	return func(_ http.ResponseWriter, req *http.Request) (any, error) {
		sub, err := optionalSubject(req)
		if err != nil {
			return nil, err
		}
		var body map[string]any
		if err := decodeBody(req, &body); err != nil {
			return nil, err
		}
		v, _ := body[set.putField].(string)
		v = strings.ToUpper(v)
		if !set.valid(v) {
			return nil, set.invalid
		}
		force := boolParam(req, "force")
		err = r.write(req.Context(), func(st *state) ([]*kgo.Record, error) {
			if set.checkPut != nil {
				if err := set.checkPut(st, sub, v, force); err != nil {
					return nil, err
				}
			}
			return []*kgo.Record{{Key: subjectKey(set.keyType, sub), Value: encodeValue(set.value(v))}}, nil
		})
		if err != nil {
			return nil, err
		}
		return map[string]string{set.putField: v}, nil
	}
}

// del answers DELETE /config[/{subject}] and DELETE /mode/{subject} with
// the setting deleted: the global one goes back to its default, a
// subject's to following the global one.
func (set *setting) del(r *Registry) handlerFunc {
	return func(_ http.ResponseWriter, req *http.Request) (any, error) {
		sub, err := optionalSubject(req)
		if err != nil {
			return nil, err
		}
		var prev string
		err = r.write(req.Context(), func(st *state) ([]*kgo.Record, error) {
			prev = set.effective(st, "")
			if sub != nil {
				s := st.subjects[*sub]
				if s == nil {
					return nil, errSubjectNotFound(*sub)
				}
				if set.own(s) == "" {
					return nil, set.errNotSet(*sub)
				}
				prev = set.own(s)
			}
			return []*kgo.Record{{Key: subjectKey(set.keyType, sub)}}, nil
		})
		if err != nil {
			return nil, err
		}
		return map[string]string{set.getField: prev}, nil
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

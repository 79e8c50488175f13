package registry

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Schema contexts, as Confluent's QualifiedSubject reads them: a subject
// ":.ctx:name" is subject name in context ".ctx", and its ids are the
// context's own (id 1 of ".ctx" is not id 1 of the default context). A
// plain name, or ":.:name", is in the default context ".". ":.ctx:" alone
// names the context itself: its config and mode are the context's, which
// its subjects follow before the global ones. The context ".__GLOBAL"
// holds the config and mode that every context falls back to.
const (
	defaultContext  = "."
	globalContext   = ".__GLOBAL"
	contextWildcard = ":*:"
)

// splitSubject splits a subject into its context and its name within it.
// ":.ctx:name" is (".ctx", "name"); ":.ctx" with no second colon is
// (".ctx", ""); a name not starting with ":." is in the default context.
func splitSubject(s string) (ctx, name string) {
	if !strings.HasPrefix(s, ":.") {
		return defaultContext, s
	}
	if i := strings.IndexByte(s[2:], ':'); i >= 0 {
		return s[1 : 2+i], s[3+i:]
	}
	return s[1:], ""
}

// qualify is the subject name in ctx, as Confluent writes it: the default
// context's subjects plain, the others ":.ctx:name".
func qualify(ctx, name string) string {
	if ctx == defaultContext {
		return name
	}
	return ":" + ctx + ":" + name
}

// normalizeSubject is s in its one spelling: ":.:name" is "name".
func normalizeSubject(s string) string { return qualify(splitSubject(s)) }

// contextOf is the context a (normalized) subject is in.
func contextOf(sub string) string {
	ctx, _ := splitSubject(sub)
	return ctx
}

// contextSubject is the subject that names ctx itself: where its config
// and mode are kept ("" for the default context: the global ones).
func contextSubject(ctx string) string {
	if ctx == defaultContext {
		return ""
	}
	return ":" + ctx + ":"
}

// qualifyRef is a reference's subject as the schema of subject parent
// means it: a subject given without a context is in the parent's context.
func qualifyRef(parent, ref string) string {
	ctx, name := splitSubject(ref)
	if ctx != defaultContext {
		return qualify(ctx, name)
	}
	return qualify(contextOf(parent), name)
}

// subjectMatcher is a ?subjectPrefix= filter as Confluent applies it:
// ":*:p" matches the subjects of every context whose name starts with p; a
// prefix in a named context (":.ctx:p", or ":.ct" for every context whose
// name starts with ".ct") matches the qualified names starting with it;
// any other prefix matches the default context's subjects starting with
// it (so "" is the default context's subjects).
func subjectMatcher(prefix string) func(sub string) bool {
	if rest, ok := strings.CutPrefix(prefix, contextWildcard); ok {
		return func(sub string) bool {
			_, name := splitSubject(sub)
			return strings.HasPrefix(name, rest)
		}
	}
	if strings.HasPrefix(prefix, ":.") {
		if ctx, name := splitSubject(prefix); ctx == defaultContext {
			prefix = name // ":.:p" is "p" in the default context
		} else {
			return func(sub string) bool { return strings.HasPrefix(sub, prefix) }
		}
	}
	return func(sub string) bool {
		return strings.HasPrefix(sub, prefix) && contextOf(sub) == defaultContext
	}
}

// getContexts answers GET /contexts: the default context, then every
// context declared (by its first registration) and not deleted, by name;
// ?contextPrefix, ?offset and ?limit as Confluent's.
func (r *Registry) getContexts(_ http.ResponseWriter, req *http.Request) (any, error) {
	q := req.URL.Query()
	r.mu.RLock()
	names := r.st.contextNames()
	r.mu.RUnlock()
	if p := q.Get("contextPrefix"); p != "" {
		names = slices.DeleteFunc(names, func(n string) bool { return !strings.HasPrefix(n, p) })
	}
	offset, _ := strconv.Atoi(q.Get("offset"))
	limit, err := strconv.Atoi(q.Get("limit"))
	if err != nil {
		limit = -1
	}
	names = names[min(max(offset, 0), len(names)):]
	if limit >= 0 && limit < len(names) {
		names = names[:limit]
	}
	return names, nil
}

// deleteContext answers DELETE /contexts/{context} (":.ctx:" or ".ctx"):
// a context none of whose subjects has a version left (soft-deleted ones
// count) is no longer listed; 42211 otherwise.
func (r *Registry) deleteContext(_ http.ResponseWriter, req *http.Request) (any, error) {
	raw := req.PathValue("context")
	ctx, name := splitSubject(raw)
	if !strings.HasPrefix(raw, ":") {
		ctx, name = splitSubject(":" + raw + ":")
	}
	if name != "" || strings.ContainsFunc(raw, func(c rune) bool { return c < 0x20 || c == 0x7f }) {
		return nil, &apiError{422, 42208, fmt.Sprintf("The specified context '%s' is not valid.", raw)}
	}
	err := r.write(req.Context(), func(st *state) ([]*kgo.Record, error) {
		if len(st.subjectNames(contextSubject(ctx), true, false)) > 0 && ctx != defaultContext {
			return nil, &apiError{422, 42211, fmt.Sprintf("Context %s is not empty", qualify(ctx, ""))}
		}
		c := st.contexts[ctx]
		if ctx == defaultContext || c == nil || !c.declared {
			return nil, nil // nothing to delete: the default context is always there
		}
		return []*kgo.Record{{Key: contextKey(ctx)}}, nil
	})
	if err != nil {
		return nil, err
	}
	return noContent{}, nil
}

// contextPaths serves Confluent's context-scoped paths as its ContextFilter
// does: /contexts/{ctx}/... is the same path without that prefix, where the
// subject after "subjects" (and after a root "config" or "mode") is put in
// ctx unless it names a context itself; /contexts/{ctx}/config and /mode
// are ctx's own; the ?subject= of /schemas/ids/... and the ?subjectPrefix
// of /subjects and /schemas are put in ctx too. Clients that scope a
// client to a context (franz-go's sr.DefaultSchemaContext) send these.
func contextPaths(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		segs := strings.Split(strings.TrimPrefix(req.URL.EscapedPath(), "/"), "/")
		if len(segs) < 3 || segs[0] != "contexts" {
			next.ServeHTTP(w, req)
			return
		}
		for i, s := range segs {
			u, err := url.PathUnescape(s)
			if err != nil {
				writeError(w, &apiError{400, 400, "Malformed path: " + err.Error()})
				return
			}
			segs[i] = u
		}
		prefix, err := contextPrefix(segs[1])
		if err != nil {
			writeError(w, err)
			return
		}
		rest := segs[2:]
		out := make([]string, 0, len(rest)+1)
		scoped := func(s string) string {
			if strings.HasPrefix(s, ":.") || strings.HasPrefix(s, contextWildcard) {
				return s
			}
			return prefix + s
		}
		subjectNext, configOrMode := false, false
		for i, s := range rest {
			switch {
			case subjectNext:
				s, subjectNext = scoped(s), false
			case s == "subjects" || (i == 0 && (s == "config" || s == "mode")):
				subjectNext, configOrMode = true, i == 0 && s != "subjects"
			}
			out = append(out, s)
		}
		if configOrMode && subjectNext && prefix != "" {
			out = append(out, prefix) // /contexts/.ctx/config: the context's own
		}
		esc := make([]string, len(out))
		for i, s := range out {
			esc[i] = url.PathEscape(s)
		}
		r2 := req.Clone(req.Context())
		r2.URL.Path = "/" + strings.Join(out, "/")
		r2.URL.RawPath = "/" + strings.Join(esc, "/")
		q := r2.URL.Query()
		switch p := strings.Trim(r2.URL.Path, "/"); {
		case strings.HasPrefix(p, "schemas/ids"):
			q.Set("subject", scoped(q.Get("subject")))
		case p == "schemas" || p == "subjects":
			q.Set("subjectPrefix", scoped(q.Get("subjectPrefix")))
		}
		r2.URL.RawQuery = q.Encode()
		r2.RequestURI = r2.URL.RequestURI()
		next.ServeHTTP(w, r2)
	})
}

// contextPrefix is the subject prefix of a context as a path names it
// (".ctx", "ctx" or ":.ctx:"): ":.ctx:", or "" for the default context.
func contextPrefix(s string) (string, *apiError) {
	if ctx, name := splitSubject(s); strings.HasPrefix(s, ":.") && name == "" {
		s = ctx
	}
	s = strings.TrimSuffix(strings.TrimPrefix(s, ":"), ":")
	if strings.Contains(s, ":") {
		return "", &apiError{400, 400, fmt.Sprintf("Context name '%s' cannot contain a colon", s)}
	}
	if !strings.HasPrefix(s, ".") {
		s = "." + s
	}
	return contextSubject(s), nil
}

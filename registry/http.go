package registry

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// contentType is what every answer carries, as Confluent's.
const contentType = "application/vnd.schemaregistry.v1+json"

// apiError is an answer other than 200: an HTTP status and Confluent's
// error code and message, as {"error_code":...,"message":...}.
type apiError struct {
	status int
	code   int
	msg    string
}

func (e *apiError) Error() string { return fmt.Sprintf("%d %s", e.code, e.msg) }

func errSubjectNotFound(s string) error {
	return &apiError{404, 40401, fmt.Sprintf("Subject '%s' not found.", s)}
}
func errVersionNotFound(v int) error {
	return &apiError{404, 40402, fmt.Sprintf("Version %d not found.", v)}
}
func errSchemaNotFound(what string) error {
	return &apiError{404, 40403, "Schema " + what + " not found"}
}
func errInvalidSchema(format string, a ...any) error {
	return &apiError{422, 42201, "Invalid schema " + fmt.Sprintf(format, a...)}
}
func errNotPermitted(format string, a ...any) error {
	return &apiError{422, 42205, fmt.Sprintf(format, a...)}
}
func errBadRequest(format string, a ...any) error {
	return &apiError{400, 400, fmt.Sprintf(format, a...)}
}

func errInvalidVersion(v string) error {
	return &apiError{422, 42202, fmt.Sprintf("The specified version '%s' is not a valid version id. Allowed values are between [1, 2^31-1] and the string \"latest\"", v)}
}

var errInvalidLevel = &apiError{422, 42203, "Invalid compatibility level. Valid values are none, backward, forward, full, backward_transitive, forward_transitive, and full_transitive"}

var errInvalidMode = &apiError{422, 42204, "Invalid mode. Valid values are READWRITE, READONLY and IMPORT"}

// Handler is the registry's REST API. Requests that arrive before Start
// has loaded the topic wait for it.
func (r *Registry) Handler() http.Handler {
	mux := http.NewServeMux()
	route := func(pattern string, op Op, h handlerFunc) {
		name := pattern
		mux.HandleFunc(pattern, func(w http.ResponseWriter, req *http.Request) {
			r.serve(w, req, name, op, h)
		})
	}
	route("GET /{$}", OpRead, func(http.ResponseWriter, *http.Request) (any, error) { return struct{}{}, nil })
	route("GET /schemas/types", OpRead, func(http.ResponseWriter, *http.Request) (any, error) {
		return []Format{JSON, Protobuf, Avro}, nil
	})
	route("GET /contexts", OpRead, r.getContexts)
	route("DELETE /contexts/{context}", OpWrite, r.deleteContext)
	route("GET /schemas", OpRead, r.getSchemas)
	route("GET /schemas/ids/{id}", OpRead, r.byID(getSchemaByID))
	route("GET /schemas/ids/{id}/schema", OpRead, r.byID(getRawSchemaByID))
	route("GET /schemas/ids/{id}/subjects", OpRead, r.byID(getSubjectsByID))
	route("GET /schemas/ids/{id}/versions", OpRead, r.byID(getVersionsByID))
	route("GET /subjects", OpRead, r.getSubjects)
	route("POST /subjects/{subject}", OpRead, r.lookup)
	route("DELETE /subjects/{subject}", OpWrite, r.deleteSubject)
	route("GET /subjects/{subject}/metadata", OpRead, r.latestWithMetadata)
	route("GET /subjects/{subject}/versions", OpRead, r.getVersions)
	route("POST /subjects/{subject}/versions", OpWrite, r.register)
	route("GET /subjects/{subject}/versions/{version}", OpRead, r.byVersion(false, getVersion))
	route("GET /subjects/{subject}/versions/{version}/schema", OpRead, r.byVersion(false, getRawVersion))
	route("GET /subjects/{subject}/versions/{version}/referencedby", OpRead, r.byVersion(true, getReferencedBy))
	route("DELETE /subjects/{subject}/versions/{version}", OpWrite, r.deleteVersion)
	route("POST /compatibility/subjects/{subject}/versions", OpRead, r.checkAll)
	route("POST /compatibility/subjects/{subject}/versions/{version}", OpRead, r.checkVersion)
	route("GET /config", OpRead, r.getConfig)
	route("PUT /config", OpWrite, r.putConfig)
	route("DELETE /config", OpWrite, r.deleteConfig)
	route("GET /config/{subject}", OpRead, r.getConfig)
	route("PUT /config/{subject}", OpWrite, r.putConfig)
	route("DELETE /config/{subject}", OpWrite, r.deleteConfig)
	route("GET /mode", OpRead, modeSetting.get(r))
	route("PUT /mode", OpWrite, modeSetting.put(r))
	route("GET /mode/{subject}", OpRead, modeSetting.get(r))
	route("PUT /mode/{subject}", OpWrite, modeSetting.put(r))
	route("DELETE /mode/{subject}", OpWrite, modeSetting.del(r))
	route("/", OpRead, func(_ http.ResponseWriter, req *http.Request) (any, error) {
		return nil, &apiError{404, 404, "HTTP 404 Not Found"}
	})
	return contextPaths(mux)
}

// writeError answers err before any handler ran.
func writeError(w http.ResponseWriter, err *apiError) {
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(err.status)
	writeJSON(w, map[string]any{"error_code": err.code, "message": err.msg})
}

// serve runs handler h for a request: waits for the registry to be
// loaded, asks Auth, bounds the body, and writes the answer or the error
// as Confluent does.
func (r *Registry) serve(w http.ResponseWriter, req *http.Request, name string, op Op, h handlerFunc) {
	start := time.Now()
	status := r.serveStatus(w, req, op, h)
	r.metrics.request(name, status, time.Since(start))
}

func (r *Registry) serveStatus(w http.ResponseWriter, req *http.Request, op Op, h handlerFunc) int {
	var out any
	err := r.waitReady(req.Context())
	if err != nil {
		err = &apiError{500, 50002, "The schema registry is not ready: " + err.Error()}
	}
	if err == nil && r.cfg.Auth != nil {
		switch aerr := r.cfg.Auth.Authorize(req, op); {
		case aerr == nil:
		case errors.Is(aerr, ErrUnauthenticated):
			w.Header().Set("WWW-Authenticate", `Basic realm="StreamHouse schema registry"`)
			err = &apiError{401, 401, "Unauthorized"}
		case errors.Is(aerr, ErrForbidden):
			err = &apiError{403, 40301, aerr.Error()}
		default:
			err = &apiError{500, 50001, "Checking the request's credentials failed: " + aerr.Error()}
		}
	}
	if err == nil {
		req.Body = http.MaxBytesReader(w, req.Body, r.cfg.MaxBodyBytes)
		out, err = h(w, req)
	}
	w.Header().Set("Content-Type", contentType)
	if err != nil {
		var ae *apiError
		if !errors.As(err, &ae) {
			ae = &apiError{500, 50001, "Error in the backend data store: " + err.Error()}
		}
		if ae.status >= 500 {
			r.log.Warn("schema registry: request failed", "method", req.Method, "path", req.URL.Path, "err", ae.msg)
		}
		w.WriteHeader(ae.status)
		writeJSON(w, map[string]any{"error_code": ae.code, "message": ae.msg})
		return ae.status
	}
	if _, ok := out.(noContent); ok {
		w.WriteHeader(http.StatusNoContent)
		return http.StatusNoContent
	}
	if raw, ok := out.(rawSchema); ok {
		w.Write([]byte(raw))
		return 200
	}
	writeJSON(w, out)
	return 200
}

// handlerFunc answers a request with a value to write as JSON (or a
// rawSchema), or an error (an *apiError, or anything else: 500).
type handlerFunc func(w http.ResponseWriter, req *http.Request) (any, error)

// noContent is the answer 204 No Content.
type noContent struct{}

// rawSchema is an answer written as is: a schema's text.
type rawSchema string

func writeJSON(w io.Writer, v any) {
	e := json.NewEncoder(w)
	e.SetEscapeHTML(false)
	e.Encode(v)
}

// decodeBody reads a JSON request body into v: 400 when it is not JSON,
// 413 when it is larger than the limit, 422 when it is JSON of the wrong
// shape.
func decodeBody(req *http.Request, v any) error {
	body, err := io.ReadAll(req.Body)
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return &apiError{413, 413, fmt.Sprintf("Request body larger than %d bytes", tooBig.Limit)}
	}
	if err != nil {
		return errBadRequest("Reading the request body: %v", err)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return &apiError{422, 422, "The request body is empty"}
	}
	if err := json.Unmarshal(body, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return &apiError{422, 422, fmt.Sprintf("Unrecognized field value: %v", err)}
		}
		return errBadRequest("Unexpected character in the JSON body: %v", err)
	}
	return nil
}

// boolParam is a true/false query parameter (absent: false).
func boolParam(req *http.Request, name string) bool {
	v, err := strconv.ParseBool(req.URL.Query().Get(name))
	return err == nil && v
}

// versionParam parses a version: "latest" (or -1) is 0 with latest true.
func versionParam(s string) (v int, latest bool, err error) {
	if s == "latest" || s == "-1" {
		return 0, true, nil
	}
	n, perr := strconv.ParseInt(s, 10, 64)
	if perr != nil || n < 1 || n > math.MaxInt32 {
		return 0, false, errInvalidVersion(s)
	}
	return int(n), false, nil
}

func idParam(req *http.Request) (int32, error) {
	s := req.PathValue("id")
	n, err := strconv.ParseInt(s, 10, 32)
	if err != nil || n < 1 {
		return 0, errSchemaNotFound(s)
	}
	return int32(n), nil
}

// subjectParam is the path's subject, checked and normalized (":.:s" is
// s; see contexts.go).
func subjectParam(req *http.Request) (string, error) {
	return checkSubject(req.PathValue("subject"), false)
}

// checkSubject refuses what Confluent's QualifiedSubject.isValidSubject
// does: control characters, the reserved names __GLOBAL and __EMPTY, the
// ":*:" wildcard, and the .__GLOBAL context but for a config or mode.
func checkSubject(s string, configOrMode bool) (string, error) {
	ctx, name := splitSubject(s)
	if s == "" || strings.ContainsFunc(s, func(c rune) bool { return c < 0x20 || c == 0x7f }) ||
		name == "__GLOBAL" || name == "__EMPTY" || strings.HasPrefix(s, contextWildcard) ||
		(ctx == globalContext && !configOrMode) || (ctx == defaultContext && name == "" && !configOrMode) {
		return "", &apiError{422, 42208, fmt.Sprintf("The specified subject '%s' is not valid.", s)}
	}
	return qualify(ctx, name), nil
}

// schemaInfo is a subject version as Confluent answers it.
type schemaInfo struct {
	Subject    string          `json:"subject,omitempty"`
	Version    int             `json:"version,omitempty"`
	ID         int32           `json:"id,omitempty"`
	SchemaType Format          `json:"schemaType,omitempty"`
	References []Reference     `json:"references,omitempty"`
	Metadata   json.RawMessage `json:"metadata,omitempty"`
	RuleSet    json.RawMessage `json:"ruleSet,omitempty"`
	Schema     string          `json:"schema"`
}

func infoOf(sub string, v version, sc *schema) schemaInfo {
	si := schemaInfo{Subject: sub, Version: v.v, ID: v.id, Schema: sc.text, References: sc.refs,
		Metadata: rawJSON(sc.meta), RuleSet: rawJSON(sc.rules)}
	if sc.format != Avro {
		si.SchemaType = sc.format
	}
	return si
}

// registerRequest is the body of register, lookup and the compatibility
// checks.
type registerRequest struct {
	Schema     string          `json:"schema"`
	SchemaType Format          `json:"schemaType"`
	References []Reference     `json:"references"`
	ID         int32           `json:"id"`
	Version    int             `json:"version"`
	Metadata   json.RawMessage `json:"metadata"`
	RuleSet    json.RawMessage `json:"ruleSet"`

	metadata *Metadata // Metadata read and normalized; nil when none
	ruleSet  *RuleSet  // RuleSet read, checked and normalized; nil when none
}

func readRegisterRequest(req *http.Request) (*registerRequest, error) {
	var rr registerRequest
	if err := decodeBody(req, &rr); err != nil {
		return nil, err
	}
	if rr.SchemaType == "" {
		rr.SchemaType = Avro
	}
	rr.SchemaType = Format(strings.ToUpper(string(rr.SchemaType)))
	if _, ok := formatOf(rr.SchemaType); !ok {
		return nil, &apiError{422, 42201, fmt.Sprintf("Invalid schema type %s; the types are AVRO, JSON and PROTOBUF", rr.SchemaType)}
	}
	if rr.Schema == "" {
		return nil, &apiError{422, 42201, "Empty schema"}
	}
	if !isNull(rr.Metadata) {
		var m Metadata
		if err := json.Unmarshal(rr.Metadata, &m); err != nil {
			return nil, &apiError{422, 422, "Unrecognized field value for metadata: " + err.Error()}
		}
		rr.metadata = m.normalize()
	}
	if !isNull(rr.RuleSet) {
		var rs RuleSet
		if err := json.Unmarshal(rr.RuleSet, &rs); err != nil {
			return nil, &apiError{422, 422, "Unrecognized field value for ruleSet: " + err.Error()}
		}
		n, err := rs.normalize()
		if err != nil {
			return nil, err
		}
		rr.ruleSet = n
	}
	if len(rr.References) == 0 {
		rr.References = nil
	}
	return &rr, nil
}

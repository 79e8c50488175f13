package console

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/bufbuild/protocompile"
	"github.com/hamba/avro/v2"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"
)

// The console reads schemas through the schema registry's REST API
// (Config.Registry), as the logged-in user when there is a login, and
// decodes records in Confluent's wire format: a zero byte, the schema id
// (4 bytes, big-endian), for Protobuf the message indexes, then the
// payload.

// registrySchema is what the registry answers for a schema.
type registrySchema struct {
	Subject    string `json:"subject"`
	Version    int    `json:"version"`
	ID         int32  `json:"id"`
	Schema     string `json:"schema"`
	SchemaType string `json:"schemaType"`
	References []struct {
		Name    string `json:"name"`
		Subject string `json:"subject"`
		Version int    `json:"version"`
	} `json:"references"`
}

func (s *registrySchema) kind() string {
	if s.SchemaType == "" {
		return "AVRO"
	}
	return s.SchemaType
}

// registryGet GETs path from the registry into v.
func (c *Console) registryGet(ctx context.Context, st *reqState, path string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(c.cfg.RegistryURL, "/")+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/vnd.schemaregistry.v1+json")
	if st != nil && st.sess != nil {
		req.SetBasicAuth(st.sess.user, st.sess.pass)
	}
	resp, err := c.cfg.Registry.Do(req)
	if err != nil {
		return fmt.Errorf("schema registry: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("schema registry: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Message string `json:"message"`
		}
		json.Unmarshal(body, &e)
		status := http.StatusBadGateway
		if resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusForbidden || resp.StatusCode == http.StatusUnauthorized {
			status = resp.StatusCode
		}
		return &userError{status, "Schema registry: " + or(e.Message, resp.Status)}
	}
	return json.Unmarshal(body, v)
}

// schemaCache holds decoders by schema id; ids never change their schema.
type schemaCache struct {
	mu sync.Mutex
	m  map[int32]*decoder // guarded by mu
}

const maxCachedSchemas = 1000

// failedSchemaTTL is how long a schema that could not be loaded is not
// asked for again.
const failedSchemaTTL = 30 * time.Second

type decoder struct {
	at    time.Time // loaded (or failed to) at
	kind  string    // avro, protobuf, jsonschema
	avro  avro.Schema
	proto protoreflect.FileDescriptor
	err   error
}

func (sc *schemaCache) get(id int32) *decoder {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	return sc.m[id]
}

func (sc *schemaCache) put(id int32, d *decoder) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if sc.m == nil || len(sc.m) >= maxCachedSchemas {
		sc.m = map[int32]*decoder{}
	}
	sc.m[id] = d
}

// decodeWithRegistry decodes b (Confluent's wire format) to indented JSON.
func (c *Console) decodeWithRegistry(r *http.Request, st *reqState, b []byte, limit int) (text, kind string, id int32, err error) {
	id = int32(binary.BigEndian.Uint32(b[1:5]))
	d := c.schemaCache.get(id)
	if d == nil || (d.err != nil && time.Since(d.at) > failedSchemaTTL) {
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		d = c.loadDecoder(ctx, st, id)
		cancel()
		// A failure is kept too, for a while: a page of records of an
		// id the registry cannot give waits for it once, not per record.
		d.at = time.Now()
		c.schemaCache.put(id, d)
	}
	if d.err != nil {
		return "", "", id, d.err
	}
	payload := b[5:]
	var v []byte
	switch d.kind {
	case "avro":
		var out any
		if err := avro.Unmarshal(d.avro, payload, &out); err != nil {
			return "", "", id, fmt.Errorf("not Avro of schema %d: %w", id, err)
		}
		v, err = json.Marshal(jsonable(out))
	case "protobuf":
		v, err = decodeProto(d.proto, payload)
	case "jsonschema":
		if !json.Valid(payload) {
			return "", "", id, fmt.Errorf("not JSON of schema %d", id)
		}
		v = payload
	}
	if err != nil {
		return "", "", id, err
	}
	return pretty(v, limit), d.kind, id, nil
}

// jsonable turns what avro.Unmarshal made into something encoding/json
// writes (maps keyed by any, byte slices as strings).
func jsonable(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = jsonable(e)
		}
		return x
	case []any:
		for i, e := range x {
			x[i] = jsonable(e)
		}
		return x
	case []byte:
		return string(x)
	}
	return v
}

func (c *Console) loadDecoder(ctx context.Context, st *reqState, id int32) *decoder {
	var s registrySchema
	if err := c.registryGet(ctx, st, "/schemas/ids/"+strconv.Itoa(int(id)), &s); err != nil {
		return &decoder{err: err}
	}
	switch s.kind() {
	case "AVRO":
		cache := &avro.SchemaCache{}
		seen := map[string]bool{}
		var load func(s *registrySchema) error
		load = func(s *registrySchema) error {
			for _, ref := range s.References {
				key := ref.Subject + "/" + strconv.Itoa(ref.Version)
				if seen[key] {
					continue
				}
				seen[key] = true
				var rs registrySchema
				if err := c.registryGet(ctx, st, "/subjects/"+url.PathEscape(ref.Subject)+"/versions/"+strconv.Itoa(ref.Version), &rs); err != nil {
					return err
				}
				if err := load(&rs); err != nil {
					return err
				}
				if _, err := avro.ParseWithCache(rs.Schema, "", cache); err != nil {
					return err
				}
			}
			return nil
		}
		if err := load(&s); err != nil {
			return &decoder{err: err}
		}
		sch, err := avro.ParseWithCache(s.Schema, "", cache)
		if err != nil {
			return &decoder{err: fmt.Errorf("schema %d: %w", id, err)}
		}
		return &decoder{kind: "avro", avro: sch}
	case "PROTOBUF":
		files := map[string]string{}
		var load func(s *registrySchema) error
		load = func(s *registrySchema) error {
			for _, ref := range s.References {
				if _, ok := files[ref.Name]; ok {
					continue
				}
				var rs registrySchema
				if err := c.registryGet(ctx, st, "/subjects/"+url.PathEscape(ref.Subject)+"/versions/"+strconv.Itoa(ref.Version), &rs); err != nil {
					return err
				}
				files[ref.Name] = rs.Schema
				if err := load(&rs); err != nil {
					return err
				}
			}
			return nil
		}
		if err := load(&s); err != nil {
			return &decoder{err: err}
		}
		const main = "streamhouse-console-main.proto"
		files[main] = s.Schema
		comp := protocompile.Compiler{Resolver: protocompile.WithStandardImports(&protocompile.SourceResolver{
			Accessor: protocompile.SourceAccessorFromMap(files)})}
		fds, err := comp.Compile(ctx, main)
		if err != nil {
			return &decoder{err: fmt.Errorf("schema %d: %w", id, err)}
		}
		return &decoder{kind: "protobuf", proto: fds[0]}
	case "JSON":
		return &decoder{kind: "jsonschema"}
	}
	return &decoder{err: fmt.Errorf("schema %d: unknown type %s", id, s.kind())}
}

// decodeProto reads the message indexes (zig-zag varints: a count, then
// the path of nested message indexes; a lone 0 is the first message) and
// decodes the rest as that message.
func decodeProto(fd protoreflect.FileDescriptor, b []byte) ([]byte, error) {
	rd := bytes.NewReader(b)
	n, err := binary.ReadVarint(rd)
	if err != nil || n < 0 || n > 64 {
		return nil, errors.New("not Protobuf in Confluent's format: bad message indexes")
	}
	path := []int64{0}
	if n > 0 {
		path = path[:0]
		for range n {
			i, err := binary.ReadVarint(rd)
			if err != nil || i < 0 {
				return nil, errors.New("not Protobuf in Confluent's format: bad message indexes")
			}
			path = append(path, i)
		}
	}
	msgs := fd.Messages()
	var md protoreflect.MessageDescriptor
	for _, i := range path {
		if int(i) >= msgs.Len() {
			return nil, fmt.Errorf("schema has no message at index path %v", path)
		}
		md = msgs.Get(int(i))
		msgs = md.Messages()
	}
	m := dynamicpb.NewMessage(md)
	rest := b[len(b)-rd.Len():]
	if err := proto.Unmarshal(rest, m); err != nil {
		return nil, fmt.Errorf("not Protobuf of message %s: %w", md.FullName(), err)
	}
	return protojson.Marshal(m)
}

type subjectsData struct {
	Pager    pager
	Subjects []string
}

func (c *Console) subjects(w http.ResponseWriter, r *http.Request, st *reqState) error {
	if c.cfg.Registry == nil {
		return notFound("No schema registry runs beside this broker.")
	}
	ctx, cancel := ctx10(r)
	defer cancel()
	var all []string
	if err := c.registryGet(ctx, st, "/subjects", &all); err != nil {
		return err
	}
	d := subjectsData{}
	d.Pager, d.Subjects = paginate(r, "/schemas", all, pageSize)
	c.render(w, r, st, http.StatusOK, "schemas", "Schemas", "schemas", d)
	return nil
}

type subjectData struct {
	Subject  string
	Versions []int
	Shown    registrySchema
	Text     string
}

func (c *Console) subject(w http.ResponseWriter, r *http.Request, st *reqState) error {
	if c.cfg.Registry == nil {
		return notFound("No schema registry runs beside this broker.")
	}
	sub := r.PathValue("subject")
	ctx, cancel := ctx10(r)
	defer cancel()
	d := subjectData{Subject: sub}
	if err := c.registryGet(ctx, st, "/subjects/"+url.PathEscape(sub)+"/versions", &d.Versions); err != nil {
		return err
	}
	v := or(r.FormValue("version"), "latest")
	if err := c.registryGet(ctx, st, "/subjects/"+url.PathEscape(sub)+"/versions/"+url.PathEscape(v), &d.Shown); err != nil {
		return err
	}
	d.Text = prettySchema(d.Shown.Schema)
	c.render(w, r, st, http.StatusOK, "subject", sub, "schemas", d)
	return nil
}

func prettySchema(s string) string {
	if json.Valid([]byte(s)) {
		return indentJSON([]byte(s))
	}
	return s
}

type diffLine struct {
	Op   string // " ", "+", "-"
	Text string
}

type diffData struct {
	Subject  string
	Versions []int
	A, B     int
	Lines    []diffLine
	Same     bool
}

func (c *Console) schemaDiff(w http.ResponseWriter, r *http.Request, st *reqState) error {
	if c.cfg.Registry == nil {
		return notFound("No schema registry runs beside this broker.")
	}
	sub := r.PathValue("subject")
	ctx, cancel := ctx10(r)
	defer cancel()
	d := diffData{Subject: sub}
	if err := c.registryGet(ctx, st, "/subjects/"+url.PathEscape(sub)+"/versions", &d.Versions); err != nil {
		return err
	}
	if len(d.Versions) == 0 {
		return notFound("Subject %s has no versions.", sub)
	}
	a, err := intParam(r, "a", int64(d.Versions[max(0, len(d.Versions)-2)]))
	if err != nil {
		return err
	}
	b, err := intParam(r, "b", int64(d.Versions[len(d.Versions)-1]))
	if err != nil {
		return err
	}
	d.A, d.B = int(a), int(b)
	var sa, sb registrySchema
	if err := c.registryGet(ctx, st, "/subjects/"+url.PathEscape(sub)+"/versions/"+strconv.Itoa(d.A), &sa); err != nil {
		return err
	}
	if err := c.registryGet(ctx, st, "/subjects/"+url.PathEscape(sub)+"/versions/"+strconv.Itoa(d.B), &sb); err != nil {
		return err
	}
	d.Lines = diffLines(strings.Split(prettySchema(sa.Schema), "\n"), strings.Split(prettySchema(sb.Schema), "\n"))
	d.Same = sa.Schema == sb.Schema
	c.render(w, r, st, http.StatusOK, "diff", sub+" diff", "schemas", d)
	return nil
}

// diffLines is a line diff by longest common subsequence; inputs past
// 2,000 lines each are shown as all removed and all added.
func diffLines(a, b []string) []diffLine {
	var out []diffLine
	if len(a) > 2000 || len(b) > 2000 {
		for _, l := range a {
			out = append(out, diffLine{"-", l})
		}
		for _, l := range b {
			out = append(out, diffLine{"+", l})
		}
		return out
	}
	// lcs[i][j]: the LCS length of a[i:] and b[j:].
	lcs := make([][]int32, len(a)+1)
	for i := range lcs {
		lcs[i] = make([]int32, len(b)+1)
	}
	for i := len(a) - 1; i >= 0; i-- {
		for j := len(b) - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		switch {
		case a[i] == b[j]:
			out = append(out, diffLine{" ", a[i]})
			i++
			j++
		case lcs[i+1][j] >= lcs[i][j+1]:
			out = append(out, diffLine{"-", a[i]})
			i++
		default:
			out = append(out, diffLine{"+", b[j]})
			j++
		}
	}
	for ; i < len(a); i++ {
		out = append(out, diffLine{"-", a[i]})
	}
	for ; j < len(b); j++ {
		out = append(out, diffLine{"+", b[j]})
	}
	return out
}

package registry_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	proto2 "google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/descriptorpb"

	"github.com/streamhouse/streamhouse/broker/brokertest"
	"github.com/streamhouse/streamhouse/registry"
)

// env is a broker and a registry over it, serving on an httptest server.
type env struct {
	t   testing.TB
	b   *brokertest.Broker
	reg *registry.Registry
	srv *httptest.Server
}

func newEnv(t testing.TB) *env {
	t.Helper()
	e := &env{t: t, b: brokertest.New(t, brokertest.Options{NoSync: true})}
	e.start()
	t.Cleanup(e.stop)
	return e
}

func (e *env) start() {
	e.t.Helper()
	reg, err := registry.New(registry.Config{Brokers: []string{e.b.Addr()}})
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := reg.Start(ctx); err != nil {
		e.t.Fatal(err)
	}
	e.reg = reg
	e.srv = httptest.NewServer(reg.Handler())
}

// newServer serves reg's REST API on loopback until the test ends.
func newServer(t testing.TB, reg *registry.Registry) *httptest.Server {
	srv := httptest.NewServer(reg.Handler())
	t.Cleanup(srv.Close)
	return srv
}

func (e *env) stop() {
	if e.srv != nil {
		e.srv.Close()
		e.reg.Close()
		e.srv, e.reg = nil, nil
	}
}

// restart stops the registry and the broker, and starts both again on the
// same data directory.
func (e *env) restart() {
	e.t.Helper()
	e.stop()
	e.b.Restart()
	e.start()
}

// do sends a request and returns the status and the body.
func (e *env) do(method, path, body string) (int, string) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/vnd.schemaregistry.v1+json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if ct := resp.Header.Get("Content-Type"); ct != "application/vnd.schemaregistry.v1+json" {
		e.t.Errorf("%s %s: Content-Type %q", method, path, ct)
	}
	return resp.StatusCode, strings.TrimSpace(string(b))
}

// want sends a request and fails unless the answer is status and body.
func (e *env) want(method, path, body string, status int, want string) {
	e.t.Helper()
	got, b := e.do(method, path, body)
	if got != status || (want != "" && b != want) {
		e.t.Errorf("%s %s %s:\n got %d %s\nwant %d %s", method, path, body, got, b, status, want)
	}
}

// wantCode sends a request and fails unless it is answered with
// Confluent's error code code.
func (e *env) wantCode(method, path, body string, code int) {
	e.t.Helper()
	status, b := e.do(method, path, body)
	var er struct {
		ErrorCode int    `json:"error_code"`
		Message   string `json:"message"`
	}
	if err := json.Unmarshal([]byte(b), &er); err != nil || er.ErrorCode != code || status != code/pow10(code) {
		e.t.Errorf("%s %s %s: got %d %s, want error_code %d", method, path, body, status, b, code)
	}
}

func pow10(code int) int {
	if code < 1000 {
		return 1
	}
	if code < 10000 {
		return 10
	}
	return 100
}

// body is a register request for schema (a JSON string is made of it).
func body(schema string, extra ...string) string {
	s, _ := json.Marshal(schema)
	return fmt.Sprintf(`{"schema":%s%s}`, s, strings.Join(extra, ""))
}

const (
	userV1 = `{"type":"record","name":"User","fields":[{"name":"name","type":"string"}]}`
	// userV2 adds a field with a default: BACKWARD compatible.
	userV2 = `{"type":"record","name":"User","fields":[{"name":"name","type":"string"},{"name":"age","type":"int","default":0}]}`
	// userV3 adds a field without a default: not BACKWARD compatible.
	userV3 = `{"type":"record","name":"User","fields":[{"name":"name","type":"string"},{"name":"email","type":"string"}]}`
)

func TestRegisterAndRead(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.want("GET", "/subjects", "", 200, `[]`)
	e.want("GET", "/schemas/types", "", 200, `["JSON","PROTOBUF","AVRO"]`)
	e.want("POST", "/subjects/users-value/versions", body(userV1), 200, `{"id":1}`)
	// The same schema, differently spaced: the same id, no new version.
	e.want("POST", "/subjects/users-value/versions", body(strings.ReplaceAll(userV1, ",", ", ")), 200, `{"id":1}`)
	e.want("POST", "/subjects/users-value/versions", body(userV2), 200, `{"id":2}`)
	// The same schema under another subject: the same id.
	e.want("POST", "/subjects/other-value/versions", body(userV1), 200, `{"id":1}`)
	e.want("GET", "/subjects", "", 200, `["other-value","users-value"]`)
	e.want("GET", "/subjects?subjectPrefix=us", "", 200, `["users-value"]`)
	e.want("GET", "/subjects/users-value/versions", "", 200, `[1,2]`)
	e.want("GET", "/subjects/users-value/versions/1", "", 200, `{"subject":"users-value","version":1,"id":1,"schema":`+jsonString(userV1)+`}`)
	e.want("GET", "/subjects/users-value/versions/latest", "", 200, `{"subject":"users-value","version":2,"id":2,"schema":`+jsonString(userV2)+`}`)
	e.want("GET", "/subjects/users-value/versions/latest/schema", "", 200, userV2)
	e.want("GET", "/schemas/ids/1", "", 200, `{"schema":`+jsonString(userV1)+`}`)
	e.want("GET", "/schemas/ids/2/schema", "", 200, userV2)
	e.want("GET", "/schemas/ids/1/subjects", "", 200, `["other-value","users-value"]`)
	e.want("GET", "/schemas/ids/1/versions", "", 200, `[{"subject":"other-value","version":1},{"subject":"users-value","version":1}]`)
	e.want("POST", "/subjects/users-value", body(userV1), 200, `{"subject":"users-value","version":1,"id":1,"schema":`+jsonString(userV1)+`}`)
	e.want("GET", "/schemas?subjectPrefix=users&latestOnly=true", "", 200, `[{"subject":"users-value","version":2,"id":2,"schema":`+jsonString(userV2)+`}]`)

	// Incompatible under BACKWARD, the default.
	e.wantCode("POST", "/subjects/users-value/versions", body(userV3), 409)
	e.want("POST", "/compatibility/subjects/users-value/versions/latest", body(userV3), 200, `{"is_compatible":false}`)
	e.want("POST", "/compatibility/subjects/users-value/versions/1", body(userV2), 200, `{"is_compatible":true}`)
	e.want("POST", "/compatibility/subjects/users-value/versions?verbose=true", body(userV2), 200, `{"is_compatible":true,"messages":[]}`)
	e.want("POST", "/compatibility/subjects/new-subject/versions", body(userV3), 200, `{"is_compatible":true}`)
	// NONE lets it through.
	e.want("PUT", "/config/users-value", `{"compatibility":"NONE"}`, 200, `{"compatibility":"NONE"}`)
	e.want("GET", "/config/users-value", "", 200, `{"compatibilityLevel":"NONE"}`)
	e.want("POST", "/subjects/users-value/versions", body(userV3), 200, `{"id":3}`)
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func TestErrorCodes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.want("POST", "/subjects/s/versions", body(userV1), 200, `{"id":1}`)
	for _, c := range []struct {
		name, method, path, body string
		code                     int
	}{
		{"unknown subject", "GET", "/subjects/nope/versions", "", 40401},
		{"unknown subject version", "GET", "/subjects/nope/versions/1", "", 40401},
		{"unknown version", "GET", "/subjects/s/versions/7", "", 40402},
		{"unknown schema id", "GET", "/schemas/ids/99", "", 40403},
		{"bad schema id", "GET", "/schemas/ids/x", "", 40403},
		{"lookup unknown subject", "POST", "/subjects/nope", body(userV1), 40401},
		{"lookup unknown schema", "POST", "/subjects/s", body(userV2), 40403},
		{"invalid version", "GET", "/subjects/s/versions/0", "", 42202},
		{"invalid version word", "GET", "/subjects/s/versions/first", "", 42202},
		{"malformed avro", "POST", "/subjects/s/versions", body(`{"type":"record","name":"R"}`), 42201},
		{"not json", "POST", "/subjects/s/versions", body(`{"type":`), 42201},
		{"unknown avro type", "POST", "/subjects/s/versions", body(`{"type":"record","name":"R","fields":[{"name":"a","type":"Other"}]}`), 42201},
		{"unknown schema type", "POST", "/subjects/s/versions", body(userV1, `,"schemaType":"XML"`), 42201},
		{"empty schema", "POST", "/subjects/s/versions", `{"schema":""}`, 42201},
		{"invalid body", "POST", "/subjects/s/versions", `{"schema":`, 400},
		{"wrong body shape", "POST", "/subjects/s/versions", `{"schema":5}`, 422},
		{"empty body", "POST", "/subjects/s/versions", ``, 422},
		{"unknown reference", "POST", "/subjects/t/versions", body(userV1, `,"references":[{"name":"x","subject":"nope","version":1}]`), 42201},
		{"invalid level", "PUT", "/config", `{"compatibility":"SIDEWAYS"}`, 42203},
		{"invalid mode", "PUT", "/mode", `{"mode":"WRITEONLY"}`, 42204},
		{"no subject config", "GET", "/config/s", "", 40408},
		{"no subject mode", "GET", "/mode/s", "", 40409},
		{"permanent before soft", "DELETE", "/subjects/s?permanent=true", "", 40405},
		{"permanent version before soft", "DELETE", "/subjects/s/versions/1?permanent=true", "", 40407},
		{"compat unknown version", "POST", "/compatibility/subjects/s/versions/9", body(userV1), 40402},
		{"compat unknown subject", "POST", "/compatibility/subjects/nope/versions/1", body(userV1), 40401},
		{"unknown path", "GET", "/nope", "", 404},
		{"import with an id outside import mode", "POST", "/subjects/s/versions", body(userV1, `,"id":50`), 42205},
	} {
		t.Run(c.name, func(t *testing.T) {
			e.t = t
			e.wantCode(c.method, c.path, c.body, c.code)
		})
	}
	e.t = t
	// Nothing was stored by any of it.
	e.want("GET", "/subjects", "", 200, `["s"]`)
	e.want("GET", "/subjects/s/versions", "", 200, `[1]`)
	e.wantCode("GET", "/schemas/ids/2", "", 40403)
}

func TestHugeBody(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	huge := `{"schema":"` + strings.Repeat("x", 17<<20) + `"}`
	e.wantCode("POST", "/subjects/s/versions", huge, 413)
	e.want("GET", "/subjects", "", 200, `[]`)
}

func TestDeletes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.want("POST", "/subjects/s/versions", body(userV1), 200, `{"id":1}`)
	e.want("POST", "/subjects/s/versions", body(userV2), 200, `{"id":2}`)
	e.want("DELETE", "/subjects/s/versions/1", "", 200, `1`)
	e.wantCode("DELETE", "/subjects/s/versions/1", "", 40406)
	e.want("GET", "/subjects/s/versions", "", 200, `[2]`)
	e.want("GET", "/subjects/s/versions?deleted=true", "", 200, `[1,2]`)
	e.want("GET", "/subjects/s/versions?deletedOnly=true", "", 200, `[1]`)
	e.wantCode("GET", "/subjects/s/versions/1", "", 40402)
	e.want("GET", "/subjects/s/versions/1?deleted=true", "", 200, `{"subject":"s","version":1,"id":1,"schema":`+jsonString(userV1)+`}`)
	// A soft-deleted schema is still served by id (old records need it).
	e.want("GET", "/schemas/ids/1", "", 200, `{"schema":`+jsonString(userV1)+`}`)

	e.want("DELETE", "/subjects/s", "", 200, `[2]`)
	e.wantCode("DELETE", "/subjects/s", "", 40404)
	e.want("GET", "/subjects", "", 200, `[]`)
	e.want("GET", "/subjects?deleted=true", "", 200, `["s"]`)
	e.want("GET", "/subjects?deletedOnly=true", "", 200, `["s"]`)
	e.wantCode("GET", "/subjects/s/versions", "", 40401)

	// Registering again after a soft delete: a new version, the same id.
	e.want("POST", "/subjects/s/versions", body(userV1), 200, `{"id":1}`)
	e.want("GET", "/subjects/s/versions", "", 200, `[3]`)
	e.want("DELETE", "/subjects/s", "", 200, `[3]`)

	e.want("DELETE", "/subjects/s?permanent=true", "", 200, `[1,2,3]`)
	e.want("GET", "/subjects?deleted=true", "", 200, `[]`)
	e.wantCode("GET", "/schemas/ids/1", "", 40403)
	e.wantCode("GET", "/schemas/ids/2", "", 40403)
	// Ids are never reused, even after a restart.
	e.restart()
	e.want("POST", "/subjects/s/versions", body(userV3), 200, `{"id":3}`)
	e.want("GET", "/subjects/s/versions", "", 200, `[1]`)
}

func TestConfigAndMode(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.want("GET", "/config", "", 200, `{"compatibilityLevel":"BACKWARD"}`)
	e.want("PUT", "/config", `{"compatibility":"full"}`, 200, `{"compatibility":"FULL"}`)
	e.want("GET", "/config", "", 200, `{"compatibilityLevel":"FULL"}`)
	e.want("GET", "/config/s?defaultToGlobal=true", "", 200, `{"compatibilityLevel":"FULL"}`)
	e.want("PUT", "/config/s", `{"compatibility":"NONE"}`, 200, `{"compatibility":"NONE"}`)
	e.want("DELETE", "/config/s", "", 200, `{"compatibilityLevel":"NONE"}`)
	e.wantCode("GET", "/config/s", "", 40408)
	e.want("DELETE", "/config", "", 200, `{"compatibilityLevel":"FULL"}`)
	e.want("GET", "/config", "", 200, `{"compatibilityLevel":"BACKWARD"}`)

	e.want("GET", "/mode", "", 200, `{"mode":"READWRITE"}`)
	e.want("PUT", "/mode/s", `{"mode":"READONLY"}`, 200, `{"mode":"READONLY"}`)
	e.wantCode("POST", "/subjects/s/versions", body(userV1), 42205)
	e.want("POST", "/subjects/t/versions", body(userV1), 200, `{"id":1}`)
	e.want("DELETE", "/mode/s", "", 200, `{"mode":"READONLY"}`)
	e.want("POST", "/subjects/s/versions", body(userV1), 200, `{"id":1}`)

	// IMPORT: refused while subjects exist, unless forced; then ids and
	// versions are the importer's and compatibility is not checked.
	e.wantCode("PUT", "/mode", `{"mode":"IMPORT"}`, 42205)
	e.want("PUT", "/mode/imported", `{"mode":"IMPORT"}`, 200, `{"mode":"IMPORT"}`)
	e.want("POST", "/subjects/imported/versions", body(userV1, `,"id":100,"version":5`), 200, `{"id":100}`)
	e.want("POST", "/subjects/imported/versions", body(userV3, `,"id":101,"version":6`), 200, `{"id":101}`)
	e.wantCode("POST", "/subjects/imported/versions", body(userV2, `,"id":100,"version":7`), 42205)
	e.want("GET", "/subjects/imported/versions", "", 200, `[5,6]`)
	e.want("PUT", "/mode/imported", `{"mode":"READWRITE"}`, 200, `{"mode":"READWRITE"}`)
	// New ids continue past the imported ones.
	e.want("POST", "/subjects/t/versions", body(userV2), 200, `{"id":102}`)
}

func TestRestartKeepsEverything(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.want("POST", "/subjects/a/versions", body(userV1), 200, `{"id":1}`)
	e.want("POST", "/subjects/a/versions", body(userV2), 200, `{"id":2}`)
	e.want("POST", "/subjects/b/versions", body(userV3), 200, `{"id":3}`)
	e.want("PUT", "/config/a", `{"compatibility":"FULL"}`, 200, "")
	e.want("PUT", "/config", `{"compatibility":"FORWARD"}`, 200, "")
	e.want("PUT", "/mode/b", `{"mode":"READONLY"}`, 200, "")
	e.want("DELETE", "/subjects/a/versions/1", "", 200, `1`)
	e.restart()
	e.want("GET", "/subjects", "", 200, `["a","b"]`)
	e.want("GET", "/subjects/a/versions", "", 200, `[2]`)
	e.want("GET", "/subjects/a/versions?deleted=true", "", 200, `[1,2]`)
	e.want("GET", "/config/a", "", 200, `{"compatibilityLevel":"FULL"}`)
	e.want("GET", "/config", "", 200, `{"compatibilityLevel":"FORWARD"}`)
	e.want("GET", "/mode/b", "", 200, `{"mode":"READONLY"}`)
	e.want("POST", "/subjects/a/versions", body(userV2), 200, `{"id":2}`)
	e.want("POST", "/subjects/c/versions", body(userV3), 200, `{"id":3}`)
	e.want("GET", "/schemas/ids/3/subjects", "", 200, `["b","c"]`)
}

func TestReferences(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	addr := `{"type":"record","name":"Address","namespace":"x","fields":[{"name":"city","type":"string"}]}`
	person := `{"type":"record","name":"Person","namespace":"x","fields":[{"name":"home","type":"x.Address"}]}`
	e.want("POST", "/subjects/address/versions", body(addr), 200, `{"id":1}`)
	// Without its reference the name is unknown.
	e.wantCode("POST", "/subjects/person/versions", body(person), 42201)
	refs := `,"references":[{"name":"x.Address","subject":"address","version":1}]`
	e.want("POST", "/subjects/person/versions", body(person, refs), 200, `{"id":2}`)
	e.want("GET", "/subjects/person/versions/1", "", 200,
		`{"subject":"person","version":1,"id":2,"references":[{"name":"x.Address","subject":"address","version":1}],"schema":`+jsonString(person)+`}`)
	e.want("GET", "/subjects/address/versions/1/referencedby", "", 200, `[2]`)
	e.wantCode("DELETE", "/subjects/address/versions/1", "", 42206)
	e.wantCode("DELETE", "/subjects/address", "", 42206)
	e.want("DELETE", "/subjects/person", "", 200, `[1]`)
	e.want("DELETE", "/subjects/address", "", 200, `[1]`)
}

// Two registries over one `_schemas` (as two brokers sharing it would be)
// register into the same subject at once: every registration gets its own
// id and version, both registries end with the same index, and a third,
// started afterwards, reads the same from the topic.
func TestConcurrentRegistries(t *testing.T) {
	t.Parallel()
	a := newEnv(t)
	b := &env{t: t, b: a.b}
	b.start()
	t.Cleanup(b.stop)
	a.want("PUT", "/config/s", `{"compatibility":"NONE"}`, 200, "")
	const each = 15
	type result struct {
		schema string
		id     string
	}
	results := make(chan result, 2*each)
	errs := make(chan string, 2*each)
	var wg sync.WaitGroup
	for w, e := range []*env{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				schema := fmt.Sprintf(`{"type":"record","name":"W%dN%d","fields":[{"name":"a","type":"string"}]}`, w, i)
				status, out := e.doNoFatal("POST", "/subjects/s/versions", body(schema))
				if status != 200 {
					errs <- fmt.Sprintf("writer %d: %d %s", w, status, out)
					return
				}
				results <- result{schema, out}
			}
		}()
	}
	wg.Wait()
	close(results)
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
	ids := map[string]string{}
	for r := range results {
		if prev, dup := ids[r.id]; dup {
			t.Fatalf("%s given to two schemas: %s and %s", r.id, prev, r.schema)
		}
		ids[r.id] = r.schema
	}
	c := &env{t: t, b: a.b}
	c.start()
	t.Cleanup(c.stop)
	var versions []string
	for i := 1; i <= 2*each; i++ {
		versions = append(versions, strconv.Itoa(i))
	}
	for _, e := range []*env{a, b, c} {
		// a and b may not have read each other's last records yet.
		e.waitFor("GET", "/subjects/s/versions", "["+strings.Join(versions, ",")+"]")
		for id, schema := range ids {
			var got struct{ ID int }
			json.Unmarshal([]byte(id), &got)
			e.want("GET", fmt.Sprintf("/schemas/ids/%d/schema", got.ID), "", 200, schema)
		}
	}
}

// doNoFatal is do for other goroutines than the test's.
func (e *env) doNoFatal(method, path, body string) (int, string) {
	req, err := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
	if err != nil {
		return 0, err.Error()
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b))
}

// waitFor polls a GET until it answers 200 with want (bounded: 10 s).
func (e *env) waitFor(method, path, want string) {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		status, got := e.do(method, path, "")
		if status == 200 && got == want {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("%s %s: %d %s, want %s", method, path, status, got, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// normalize=true stores a canonical form: the same schema written
// differently gets the same id.
func TestNormalize(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	protoA := "syntax = \"proto3\";\npackage p;\n// a comment\nmessage M {\n  string a = 1;\n  int32 b = 2;\n}\n"
	protoB := "syntax=\"proto3\"; package p;   message M { string a = 1; int32 b = 2; }"
	e.want("POST", "/subjects/p/versions?normalize=true", body(protoA, `,"schemaType":"PROTOBUF"`), 200, `{"id":1}`)
	e.want("POST", "/subjects/p/versions?normalize=true", body(protoB, `,"schemaType":"PROTOBUF"`), 200, `{"id":1}`)
	e.want("POST", "/subjects/p?normalize=true", body(protoB, `,"schemaType":"PROTOBUF"`), 200, "")
	e.want("GET", "/subjects/p/versions", "", 200, `[1]`)
	if _, s := e.do("GET", "/schemas/ids/1/schema", ""); strings.Contains(s, "comment") || !strings.Contains(s, "message M") {
		t.Errorf("normalized protobuf schema: %q", s)
	}
	avroA := `{"type":"record","name":"R","fields":[{"name":"a","type":"string"}]}`
	avroB := `{"fields":[{"type":"string","name":"a"}],"name":"R","type":"record"}`
	e.want("POST", "/subjects/a/versions?normalize=true", body(avroA), 200, `{"id":2}`)
	e.want("POST", "/subjects/a/versions?normalize=true", body(avroB), 200, `{"id":2}`)
	jsonA := `{"type":"object","properties":{"a":{"type":"string"}}}`
	jsonB := `{"properties":{"a":{"type":"string"}},"type":"object"}`
	e.want("POST", "/subjects/j/versions?normalize=true", body(jsonA, `,"schemaType":"JSON"`), 200, `{"id":3}`)
	e.want("POST", "/subjects/j/versions?normalize=true", body(jsonB, `,"schemaType":"JSON"`), 200, `{"id":3}`)
	// Without normalize, only white space is ignored.
	e.want("POST", "/subjects/a2/versions", body(avroB), 200, `{"id":4}`)
}

// The endpoints' less common parameters.
func TestParameters(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	proto := "syntax = \"proto3\";\npackage p;\nmessage M { string a = 1; }\n"
	e.want("POST", "/subjects/p/versions", body(proto, `,"schemaType":"PROTOBUF"`), 200, `{"id":1}`)
	// ?format=serialized: the FileDescriptorProto, base64, as Confluent.
	_, out := e.do("GET", "/schemas/ids/1?format=serialized", "")
	var got struct {
		Schema     string `json:"schema"`
		SchemaType string `json:"schemaType"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil || got.SchemaType != "PROTOBUF" {
		t.Fatalf("format=serialized: %s (%v)", out, err)
	}
	raw, err := base64.StdEncoding.DecodeString(got.Schema)
	var fdp descriptorpb.FileDescriptorProto
	if err != nil || proto2.Unmarshal(raw, &fdp) != nil || fdp.GetPackage() != "p" || fdp.GetMessageType()[0].GetName() != "M" {
		t.Fatalf("format=serialized does not hold the file descriptor: %s", out)
	}

	e.want("GET", "/mode/p?defaultToGlobal=true", "", 200, `{"mode":"READWRITE"}`)
	e.wantCode("DELETE", "/mode/p", "", 40409)
	e.wantCode("DELETE", "/config/p", "", 40408)
	e.wantCode("DELETE", "/config/nope", "", 40401)
	e.wantCode("DELETE", "/mode/nope", "", 40401)
	e.want("DELETE", "/subjects/p/versions/1", "", 200, `1`)
	e.wantCode("POST", "/subjects/p", body(proto, `,"schemaType":"PROTOBUF"`), 40401)
	e.want("POST", "/subjects/p?deleted=true", body(proto, `,"schemaType":"PROTOBUF"`), 200,
		`{"subject":"p","version":1,"id":1,"schemaType":"PROTOBUF","schema":`+jsonString(proto)+`}`)
	e.want("GET", "/subjects/p/versions/1/referencedby", "", 200, `[]`)
	e.want("GET", "/schemas/ids/1/subjects", "", 200, `[]`)
	e.want("GET", "/schemas/ids/1/subjects?deleted=true", "", 200, `["p"]`)
	e.want("GET", "/schemas?deleted=true", "", 200, `[{"subject":"p","version":1,"id":1,"schemaType":"PROTOBUF","schema":`+jsonString(proto)+`}]`)
	e.want("GET", "/schemas", "", 200, `[]`)
	e.want("GET", "/", "", 200, `{}`)
	e.want("GET", "/contexts", "", 200, `["."]`)
}

// A copy of a stopped broker's data directory holds the same registry.
func TestDataDirCopy(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.want("POST", "/subjects/a/versions", body(userV1), 200, `{"id":1}`)
	e.want("PUT", "/config/a", `{"compatibility":"FULL"}`, 200, "")
	e.stop()
	e.b.Stop()
	dst := t.TempDir()
	if err := os.CopyFS(dst, os.DirFS(e.b.Dir())); err != nil {
		t.Fatal(err)
	}
	c := &env{t: t, b: brokertest.New(t, brokertest.Options{Dir: dst, NoSync: true})}
	c.start()
	t.Cleanup(c.stop)
	c.want("GET", "/subjects/a/versions/1", "", 200, `{"subject":"a","version":1,"id":1,"schema":`+jsonString(userV1)+`}`)
	c.want("GET", "/config/a", "", 200, `{"compatibilityLevel":"FULL"}`)
	c.want("POST", "/subjects/b/versions", body(userV2), 200, `{"id":2}`)
}

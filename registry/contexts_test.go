package registry_test

import (
	"encoding/json"
	"testing"
)

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// TestContexts: subjects qualified with a context (":.ctx:name") number
// their schemas in the context, are listed and looked up as Confluent's
// are, follow their context's config and mode, and survive a restart.
func TestContexts(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.want("GET", "/contexts", "", 200, `["."]`)
	e.want("POST", "/subjects/a/versions", body(userV1), 200, `{"id":1}`)
	// Each context has its own ids: the same schema is id 1 there too,
	// and the next one is 2 in .ctx whatever the default context holds.
	e.want("POST", "/subjects/:.ctx:a/versions", body(userV1), 200, `{"id":1}`)
	e.want("POST", "/subjects/:.ctx:b/versions", body(userV2), 200, `{"id":2}`)
	e.want("POST", "/subjects/:.other:x/versions", body(userV3), 200, `{"id":1}`)
	// ":.:a" is "a", in the default context.
	e.want("POST", "/subjects/:.:a/versions", body(userV1), 200, `{"id":1}`)

	check := func() {
		t.Helper()
		e.want("GET", "/contexts", "", 200, `[".",".ctx",".other"]`)
		e.want("GET", "/contexts?contextPrefix=.c", "", 200, `[".ctx"]`)
		e.want("GET", "/contexts?offset=1&limit=1", "", 200, `[".ctx"]`)
		e.want("GET", "/subjects", "", 200, `[":.ctx:a",":.ctx:b",":.other:x","a"]`)
		e.want("GET", "/subjects?subjectPrefix=:*:", "", 200, `[":.ctx:a",":.ctx:b",":.other:x","a"]`)
		e.want("GET", "/subjects?subjectPrefix=:*:a", "", 200, `[":.ctx:a","a"]`)
		e.want("GET", "/subjects?subjectPrefix=:.ctx:", "", 200, `[":.ctx:a",":.ctx:b"]`)
		e.want("GET", "/subjects?subjectPrefix=:.ctx:b", "", 200, `[":.ctx:b"]`)
		e.want("GET", "/subjects?subjectPrefix=:.o", "", 200, `[":.other:x"]`)
		e.want("GET", "/subjects?subjectPrefix=", "", 200, `["a"]`)
		e.want("GET", "/subjects?subjectPrefix=:.:", "", 200, `["a"]`)
		e.want("GET", "/subjects/:.:a/versions", "", 200, `[1]`)
		e.want("GET", "/subjects/:.ctx:b/versions/1", "", 200,
			`{"subject":":.ctx:b","version":1,"id":2,"schema":`+quote(userV2)+`}`)
		e.want("GET", "/schemas?subjectPrefix=:.ctx:b&latestOnly=true", "", 200,
			`[{"subject":":.ctx:b","version":1,"id":2,"schema":`+quote(userV2)+`}]`)
		e.want("GET", "/schemas", "", 200, `[{"subject":"a","version":1,"id":1,"schema":`+quote(userV1)+`}]`)

		// Ids by context: without a subject, the default context.
		e.want("GET", "/schemas/ids/1", "", 200, `{"schema":`+quote(userV1)+`}`)
		e.wantCode("GET", "/schemas/ids/2", "", 40403)
		e.want("GET", "/schemas/ids/2?subject=:.ctx:b", "", 200, `{"schema":`+quote(userV2)+`}`)
		e.want("GET", "/schemas/ids/2?subject=:.ctx:", "", 200, `{"schema":`+quote(userV2)+`}`)
		e.wantCode("GET", "/schemas/ids/2?subject=:.ctx:a", "", 40403)                     // a subject of a context must hold it
		e.want("GET", "/schemas/ids/2?subject=b", "", 200, `{"schema":`+quote(userV2)+`}`) // found in .ctx
		e.want("GET", "/schemas/ids/1?subject=:.other:", "", 200, `{"schema":`+quote(userV3)+`}`)
		e.want("GET", "/schemas/ids/1?subject=x", "", 200, `{"schema":`+quote(userV3)+`}`)
		e.want("GET", "/schemas/ids/1?subject=nosuch", "", 200, `{"schema":`+quote(userV1)+`}`)
		e.want("GET", "/schemas/ids/1/schema?subject=:.other:", "", 200, userV3)
		e.want("GET", "/schemas/ids/1/subjects", "", 200, `["a"]`)
		e.want("GET", "/schemas/ids/1/subjects?subject=:.ctx:", "", 200, `[":.ctx:a"]`)
		e.want("GET", "/schemas/ids/2/versions?subject=:.ctx:", "", 200, `[{"subject":":.ctx:b","version":1}]`)
	}
	check()

	// Config and mode: a context's own, which its subjects follow before
	// the global one; ":.:" is the global one.
	e.want("PUT", "/config/:.ctx:", `{"compatibility":"NONE"}`, 200, `{"compatibility":"NONE"}`)
	e.want("GET", "/config/:.ctx:", "", 200, `{"compatibilityLevel":"NONE"}`)
	e.want("GET", "/config/:.ctx:a?defaultToGlobal=true", "", 200, `{"compatibilityLevel":"NONE"}`)
	e.want("GET", "/config/a?defaultToGlobal=true", "", 200, `{"compatibilityLevel":"BACKWARD"}`)
	e.wantCode("POST", "/subjects/a/versions", body(userV3), 409)
	e.want("POST", "/subjects/:.ctx:a/versions", body(userV3), 200, `{"id":3}`)
	e.want("PUT", "/config/:.:", `{"compatibility":"FULL"}`, 200, `{"compatibility":"FULL"}`)
	e.want("GET", "/config", "", 200, `{"compatibilityLevel":"FULL"}`)
	// The .__GLOBAL context's config is what a context without its own follows.
	e.want("GET", "/config/:.other:x?defaultToGlobal=true", "", 200, `{"compatibilityLevel":"BACKWARD"}`)
	e.want("PUT", "/config/:.__GLOBAL:", `{"compatibility":"FORWARD"}`, 200, `{"compatibility":"FORWARD"}`)
	e.want("GET", "/config/:.other:x?defaultToGlobal=true", "", 200, `{"compatibilityLevel":"FORWARD"}`)
	e.wantCode("POST", "/subjects/:.__GLOBAL:s/versions", body(userV1), 42208)
	e.wantCode("POST", "/subjects/:*:s/versions", body(userV1), 42208)
	e.want("PUT", "/mode/:.other:", `{"mode":"READONLY"}`, 200, `{"mode":"READONLY"}`)
	e.wantCode("POST", "/subjects/:.other:y/versions", body(userV1), 42205)
	e.want("POST", "/subjects/y/versions", body(userV1), 200, `{"id":1}`)
	e.wantCode("PUT", "/mode/:.ctx:", `{"mode":"IMPORT"}`, 42205) // the context has subjects
	e.want("DELETE", "/subjects/y", "", 200, `[1]`)
	e.want("DELETE", "/subjects/y?permanent=true", "", 200, `[1]`)

	e.restart()
	check()
	e.want("GET", "/config/:.ctx:", "", 200, `{"compatibilityLevel":"NONE"}`)
	e.want("GET", "/mode/:.other:", "", 200, `{"mode":"READONLY"}`)
	e.want("POST", "/subjects/:.ctx:c/versions", body(userV2), 200, `{"id":2}`) // the same content: the same id in .ctx
	e.want("POST", "/subjects/:.ctx:d/versions", body(`{"type":"string"}`), 200, `{"id":4}`)

	// A context with subjects is not deleted; an emptied one is.
	e.wantCode("DELETE", "/contexts/:.other:", "", 42211)
	e.want("DELETE", "/mode/:.other:", "", 200, "")
	e.want("DELETE", "/subjects/:.other:x", "", 200, `[1]`)
	e.wantCode("DELETE", "/contexts/.other", "", 42211) // soft-deleted versions count
	e.want("DELETE", "/subjects/:.other:x?permanent=true", "", 200, `[1]`)
	e.want("DELETE", "/contexts/.other", "", 204, "")
	e.want("GET", "/contexts", "", 200, `[".",".ctx"]`)
	e.restart()
	e.want("GET", "/contexts", "", 200, `[".",".ctx"]`)
	// Its ids stay taken.
	e.want("POST", "/subjects/:.other:z/versions", body(`{"type":"int"}`), 200, `{"id":2}`)
	e.want("GET", "/contexts", "", 200, `[".",".ctx",".other"]`)
}

// TestContextReferences: a reference without a context names a subject of
// the referring subject's context.
func TestContextReferences(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	addr := `{"type":"record","name":"Address","namespace":"x","fields":[{"name":"street","type":"string"}]}`
	person := `{"type":"record","name":"Person","namespace":"x","fields":[{"name":"home","type":"x.Address"}]}`
	e.want("POST", "/subjects/:.ctx:address/versions", body(addr), 200, `{"id":1}`)
	ref := `,"references":[{"name":"x.Address","subject":"address","version":1}]`
	e.wantCode("POST", "/subjects/person/versions", body(person, ref), 42201) // no "address" in the default context
	e.want("POST", "/subjects/:.ctx:person/versions", body(person, ref), 200, `{"id":2}`)
	e.want("GET", "/subjects/:.ctx:address/versions/1/referencedby", "", 200, `[2]`)
	e.wantCode("DELETE", "/subjects/:.ctx:address/versions/1", "", 42206)
	// A qualified reference works from any context.
	e.want("POST", "/subjects/person/versions", body(person, `,"references":[{"name":"x.Address","subject":":.ctx:address","version":1}]`), 200, `{"id":1}`)
	e.want("GET", "/schemas/ids/2?subject=:.ctx:&format=serialized", "", 200, "")
}

// TestContextPaths: Confluent's /contexts/{context}/... paths, which
// context-scoped clients send, are the qualified subjects' paths.
func TestContextPaths(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.want("POST", "/contexts/.ctx/subjects/a/versions", body(userV1), 200, `{"id":1}`)
	e.want("POST", "/contexts/ctx/subjects/b/versions", body(userV2), 200, `{"id":2}`)
	e.want("GET", "/subjects", "", 200, `[":.ctx:a",":.ctx:b"]`)
	e.want("GET", "/contexts/.ctx/subjects", "", 200, `[":.ctx:a",":.ctx:b"]`)
	e.want("GET", "/contexts/.ctx/subjects?subjectPrefix=b", "", 200, `[":.ctx:b"]`)
	e.want("GET", "/contexts/.other/subjects", "", 200, `[]`)
	e.want("GET", "/contexts/.ctx/subjects/a/versions", "", 200, `[1]`)
	e.want("GET", "/contexts/.ctx/subjects/:.ctx:b/versions", "", 200, `[1]`)
	e.want("GET", "/contexts/.ctx/schemas/ids/2", "", 200, `{"schema":`+quote(userV2)+`}`)
	e.want("GET", "/contexts/.ctx/schemas/ids/2/versions", "", 200, `[{"subject":":.ctx:b","version":1}]`)
	e.wantCode("GET", "/schemas/ids/2", "", 40403)
	e.want("PUT", "/contexts/.ctx/config", `{"compatibility":"NONE"}`, 200, "")
	e.want("GET", "/config/:.ctx:", "", 200, `{"compatibilityLevel":"NONE"}`)
	e.want("PUT", "/contexts/.ctx/config/a", `{"compatibility":"FULL"}`, 200, "")
	e.want("GET", "/config/:.ctx:a", "", 200, `{"compatibilityLevel":"FULL"}`)
	e.wantCode("GET", "/contexts/.ctx/mode", "", 40409)
	e.wantCode("GET", "/contexts/a:b/subjects", "", 400)
}

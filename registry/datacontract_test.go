package registry_test

import (
	"strings"
	"testing"
)

// Data contracts: metadata and rule sets are stored with a version,
// returned in every answer that carries a schema, survive a restart, and
// make a new version when only they differ.
func TestDataContracts(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	meta := `,"metadata":{"tags":{"name":["PII","A"]},"properties":{"owner":"alice","app":"1"},"sensitive":["s2","s1"]}`
	rules := `,"ruleSet":{"domainRules":[{"name":"checkName","kind":"CONDITION","mode":"WRITE","type":"CEL","expr":"size(message.name) > 0","onFailure":"DLQ","params":{"dlq.topic":"bad"},"tags":["PII"]}],"migrationRules":[{"name":"up","mode":"UPGRADE","type":"JSONATA","expr":"$"}]}`
	wantMeta := `"metadata":{"tags":{"name":["A","PII"]},"properties":{"app":"1","owner":"alice"},"sensitive":["s1","s2"]}`
	wantRules := `"ruleSet":{"migrationRules":[{"name":"up","kind":"TRANSFORM","mode":"UPGRADE","type":"JSONATA","expr":"$","disabled":false}],"domainRules":[{"name":"checkName","kind":"CONDITION","mode":"WRITE","type":"CEL","tags":["PII"],"params":{"dlq.topic":"bad"},"expr":"size(message.name) > 0","onFailure":"DLQ","disabled":false}]}`
	e.want("POST", "/subjects/s/versions", body(userV1, meta, rules), 200, `{"id":1}`)
	v1 := `{"subject":"s","version":1,"id":1,` + wantMeta + `,` + wantRules + `,"schema":` + quote(userV1) + `}`
	check := func() {
		t.Helper()
		e.want("GET", "/subjects/s/versions/1", "", 200, v1)
		e.want("GET", "/schemas/ids/1", "", 200, `{`+wantMeta+`,`+wantRules+`,"schema":`+quote(userV1)+`}`)
		e.want("GET", "/schemas?subjectPrefix=s&latestOnly=false", "", 200, `[`+v1+`,`+v2(wantRules)+`]`)
		// The same schema and contract: the same version.
		e.want("POST", "/subjects/s/versions", body(userV1, meta, rules), 200, `{"id":1}`)
		// Without a contract: the latest version's (version 2's) is taken.
		e.want("POST", "/subjects/s/versions", body(userV1), 200, `{"id":2}`)
		e.want("POST", "/subjects/s", body(userV1), 200, v2(wantRules))
		e.want("POST", "/subjects/s", body(userV1, meta, rules), 200, v1)
		e.want("GET", "/subjects/s/metadata?key=owner&value=alice", "", 200, v1)
		e.want("GET", "/subjects/s/metadata?key=owner&value=bob&key=app&value=1", "", 200, v2(wantRules))
		e.wantCode("GET", "/subjects/s/metadata?key=owner&value=carol", "", 40403)
		e.wantCode("GET", "/subjects/nosuch/metadata?key=owner&value=carol", "", 40401)
	}
	// Only the metadata differs: a new version, and a new id.
	e.want("POST", "/subjects/s/versions", body(userV1, `,"metadata":{"properties":{"owner":"bob","app":"1"}}`), 200, `{"id":2}`)
	check()
	e.restart()
	check()

	// Rule sets are checked as Confluent checks them: 42210.
	for _, bad := range []string{
		`{"domainRules":[{"name":"1bad","type":"CEL"}]}`,
		`{"domainRules":[{"name":"a","type":"CEL"},{"name":"a","type":"CEL"}]}`,
		`{"domainRules":[{"name":"a"}]}`,
		`{"migrationRules":[{"name":"a","type":"CEL","mode":"WRITE"}]}`,
		`{"domainRules":[{"name":"a","type":"CEL","mode":"UPGRADE"}]}`,
		`{"domainRules":[{"name":"a","type":"CEL","kind":"FOO"}]}`,
		`{"domainRules":[{"name":"a","type":"CEL","mode":"WRITE","onFailure":"DLQ,ERROR"}]}`,
	} {
		e.wantCode("POST", "/subjects/s/versions", body(userV2, `,"ruleSet":`+bad), 42210)
		e.wantCode("PUT", "/config/s", `{"defaultRuleSet":`+bad+`}`, 42210)
	}
	e.wantCode("POST", "/subjects/s/versions", body(userV2, `,"metadata":{"properties":{"a":1}}`), 422)
	e.want("GET", "/subjects/s/versions", "", 200, `[1,2]`)

	// normalize keeps the contract; the same contract in another
	// context is that context's own id.
	spaced := `{ "type": "record", "name": "User", "fields": [ { "name": "name", "type": "string" } ] }`
	e.want("POST", "/subjects/n/versions?normalize=true", body(spaced, meta, rules), 200, `{"id":3}`)
	e.want("POST", "/subjects/n/versions?normalize=true", body(userV1, meta, rules), 200, `{"id":3}`)
	if _, got := e.do("GET", "/subjects/n/versions/1", ""); !strings.Contains(got, wantMeta+","+wantRules) {
		t.Errorf("a normalized registration: %s, want its %s and %s", got, wantMeta, wantRules)
	}
	e.want("POST", "/subjects/:.ctx:s/versions", body(userV1, meta, rules), 200, `{"id":1}`)
	e.want("GET", "/schemas/ids/1?subject=:.ctx:", "", 200, `{`+wantMeta+`,`+wantRules+`,"schema":`+quote(userV1)+`}`)
}

func v2(wantRules string) string {
	return `{"subject":"s","version":2,"id":2,"metadata":{"properties":{"app":"1","owner":"bob"}},` + wantRules + `,"schema":` + quote(userV1) + `}`
}

// TestConfigDataContracts: a config's default and override metadata and
// rule sets are merged into new versions, compatibilityGroup limits the
// check to the versions of the same group, and a version asked for is
// kept in confluent:version, as Confluent does.
func TestConfigDataContracts(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cfg := `{"defaultMetadata":{"properties":{"owner":"team","tier":"1"}},"overrideMetadata":{"properties":{"tier":"gold"}},"overrideRuleSet":{"domainRules":[{"name":"r","type":"CEL","expr":"true"}]}}`
	cfgOut := `"defaultMetadata":{"properties":{"owner":"team","tier":"1"}},"overrideMetadata":{"properties":{"tier":"gold"}},"overrideRuleSet":{"domainRules":[{"name":"r","kind":"TRANSFORM","mode":"WRITEREAD","type":"CEL","expr":"true","disabled":false}]}`
	e.want("PUT", "/config/c", cfg, 200, `{`+cfgOut+`}`)
	e.want("GET", "/config/c", "", 200, `{"compatibilityLevel":"BACKWARD",`+cfgOut+`}`)
	rule := `"ruleSet":{"domainRules":[{"name":"r","kind":"TRANSFORM","mode":"WRITEREAD","type":"CEL","expr":"true","disabled":false}]}`
	e.want("POST", "/subjects/c/versions", body(userV1), 200, `{"id":1}`)
	e.want("GET", "/subjects/c/versions/1", "", 200,
		`{"subject":"c","version":1,"id":1,"metadata":{"properties":{"owner":"team","tier":"gold"}},`+rule+`,"schema":`+quote(userV1)+`}`)
	e.want("POST", "/subjects/c", body(userV1), 200, "") // found as a registration would populate it
	// The request's metadata over the defaults, under the overrides.
	e.want("POST", "/subjects/c/versions", body(userV1, `,"metadata":{"properties":{"owner":"me","tier":"2"}}`), 200, `{"id":2}`)
	e.want("GET", "/subjects/c/versions/2", "", 200,
		`{"subject":"c","version":2,"id":2,"metadata":{"properties":{"owner":"me","tier":"gold"}},`+rule+`,"schema":`+quote(userV1)+`}`)
	// A PUT changes the fields it has; null clears one.
	e.want("PUT", "/config/c", `{"compatibility":"FULL"}`, 200, `{"compatibility":"FULL",`+cfgOut+`}`)
	e.want("PUT", "/config/c", `{"defaultMetadata":null,"overrideMetadata":null}`, 200,
		`{"compatibility":"FULL","overrideRuleSet":{"domainRules":[{"name":"r","kind":"TRANSFORM","mode":"WRITEREAD","type":"CEL","expr":"true","disabled":false}]}}`)
	e.wantCode("PUT", "/config/c", `{"alias":"other"}`, 422)
	e.wantCode("PUT", "/config/c", `{"compatibility":"SIDEWAYS"}`, 42203)

	// compatibilityGroup: a new major version starts a new group.
	e.want("PUT", "/config/g", `{"compatibilityGroup":"major"}`, 200, `{"compatibilityGroup":"major"}`)
	e.want("GET", "/config/g", "", 200, `{"compatibilityLevel":"BACKWARD","compatibilityGroup":"major"}`)
	e.want("POST", "/subjects/g/versions", body(userV1, `,"metadata":{"properties":{"major":"1"}}`), 200, `{"id":3}`)
	e.wantCode("POST", "/subjects/g/versions", body(userV3, `,"metadata":{"properties":{"major":"1"}}`), 409)
	e.want("POST", "/subjects/g/versions", body(userV3, `,"metadata":{"properties":{"major":"2"}}`), 200, `{"id":4}`)
	// Without metadata the latest version's (major 2) is taken.
	e.want("POST", "/subjects/g/versions", body(userV3), 200, `{"id":4}`)
	e.want("POST", "/compatibility/subjects/g/versions", body(userV3, `,"metadata":{"properties":{"major":"1"}}`), 200, `{"is_compatible":false}`)
	e.want("POST", "/compatibility/subjects/g/versions", body(userV3, `,"metadata":{"properties":{"major":"3"}}`), 200, `{"is_compatible":true}`)
	// The global config's group applies to a subject config without one.
	e.want("PUT", "/config", `{"compatibilityGroup":"major"}`, 200, "")
	e.want("PUT", "/config/h", `{"compatibility":"FULL"}`, 200, "")
	e.want("GET", "/config/h?defaultToGlobal=true", "", 200, `{"compatibilityLevel":"FULL","compatibilityGroup":"major"}`)

	// A version asked for is kept in confluent:version, and carried on.
	e.want("POST", "/subjects/v/versions", body(userV1, `,"version":1`), 200, `{"id":5}`)
	e.want("GET", "/subjects/v/versions/1", "", 200,
		`{"subject":"v","version":1,"id":5,"metadata":{"properties":{"confluent:version":"1"}},"schema":`+quote(userV1)+`}`)
	e.wantCode("POST", "/subjects/v/versions", body(userV2, `,"version":3`), 42201)
	e.want("POST", "/subjects/v/versions", body(userV2), 200, `{"id":6}`)
	e.want("GET", "/subjects/v/versions/2", "", 200,
		`{"subject":"v","version":2,"id":6,"metadata":{"properties":{"confluent:version":"2"}},"schema":`+quote(userV2)+`}`)
	// Without confluent:version a lookup still finds it.
	e.want("POST", "/subjects/v/versions", body(userV2), 200, `{"id":6}`)
	e.want("POST", "/subjects/v", body(userV1), 200, "")

	e.restart()
	e.want("GET", "/config/c", "", 200, `{"compatibilityLevel":"FULL","overrideRuleSet":{"domainRules":[{"name":"r","kind":"TRANSFORM","mode":"WRITEREAD","type":"CEL","expr":"true","disabled":false}]}}`)
	e.want("GET", "/config/g", "", 200, `{"compatibilityLevel":"BACKWARD","compatibilityGroup":"major"}`)
	e.want("POST", "/subjects/g/versions", body(userV3), 200, `{"id":4}`)
	e.wantCode("POST", "/subjects/g/versions", body(userV3, `,"metadata":{"properties":{"major":"1"}}`), 409)
}

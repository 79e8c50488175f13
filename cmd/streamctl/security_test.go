package main

import (
	"strings"
	"testing"
)

func TestReadPropertiesAndJAAS(t *testing.T) {
	t.Parallel()
	props, err := readProperties(strings.NewReader(`# admin
security.protocol = SASL_SSL
sasl.mechanism: SCRAM-SHA-256
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required \
    username="admin" password="a \"quoted\" secret";
! comment
ssl.truststore.location=/etc/ca.pem
`))
	if err != nil {
		t.Fatal(err)
	}
	if props["security.protocol"] != "SASL_SSL" || props["sasl.mechanism"] != "SCRAM-SHA-256" || props["ssl.truststore.location"] != "/etc/ca.pem" {
		t.Fatalf("props %q", props)
	}
	u, p := parseJAAS(props["sasl.jaas.config"])
	if u != "admin" || p != `a "quoted" secret` {
		t.Fatalf("jaas %q %q", u, p)
	}
}

func TestSecurityFromFlags(t *testing.T) {
	t.Parallel()
	a := &app{sec: secFlags{username: "alice", ca: "/ca.pem"}}
	s, err := a.security(func(k string) string {
		if k == passwordEnv {
			return "pw"
		}
		return ""
	})
	if err != nil {
		t.Fatal(err)
	}
	if s.protocol != "SASL_SSL" || s.mechanism != "SCRAM-SHA-512" || s.password != "pw" {
		t.Fatalf("%+v", s)
	}
	a = &app{sec: secFlags{username: "alice"}, stdin: strings.NewReader("")}
	if _, err := a.security(func(string) string { return "" }); err == nil || !strings.Contains(err.Error(), passwordEnv) {
		t.Fatalf("no password: %v", err)
	}
}

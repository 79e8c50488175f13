package compattests

// streamctl schema list|get|register|check|delete against the binary's
// schema registry.

import (
	"strconv"
	"strings"
	"testing"
)

type ctlSchema struct {
	Subject    string `json:"subject"`
	Version    int    `json:"version"`
	ID         int    `json:"id"`
	Type       string `json:"type"`
	References []struct {
		Name    string `json:"name"`
		Subject string `json:"subject"`
		Version int    `json:"version"`
	} `json:"references"`
	Schema string `json:"schema"`
}

func TestRegistryStreamctl(t *testing.T) {
	t.Parallel()
	b := srStart(t, "")
	reg := "--registry=" + b.url
	v1 := `{"type":"record","name":"Click","fields":[{"name":"url","type":"string"}]}`
	v2 := `{"type":"record","name":"Click","fields":[{"name":"url","type":"string"},{"name":"ms","type":"long","default":0}]}`
	bad := `{"type":"record","name":"Click","fields":[{"name":"url","type":"int"}]}`

	got := ctlJSON[ctlSchema](t, b.addr, "schema", "register", "clicks-value", "--schema", v1, reg)
	if got.ID < 1 || got.Version != 1 || got.Subject != "clicks-value" {
		t.Fatalf("register: %+v", got)
	}
	// From standard input, the default.
	out := ctlIn(t, b.addr, v2, "schema", "register", "clicks-value", reg)
	if !strings.Contains(out, "version 2") {
		t.Fatalf("register from stdin: %q", out)
	}
	proto := "syntax = \"proto3\";\nmessage Click { string url = 1; }\n"
	ctl(t, b.addr, "schema", "register", "clicks-proto", "--type", "protobuf", "--schema", proto, reg)

	list := ctlJSON[[]ctlSchema](t, b.addr, "schema", "list", reg)
	if len(list) != 2 || list[0].Subject != "clicks-proto" || list[0].Type != "PROTOBUF" || list[1].Subject != "clicks-value" || list[1].Version != 2 {
		t.Fatalf("list: %+v", list)
	}
	latest := ctlJSON[ctlSchema](t, b.addr, "schema", "get", "clicks-value", reg)
	if latest.Version != 2 || latest.Schema != v2 {
		t.Fatalf("get latest: %+v", latest)
	}
	byID := ctlJSON[ctlSchema](t, b.addr, "schema", "get", "--id", strconv.Itoa(got.ID), reg)
	if byID.Schema != v1 {
		t.Fatalf("get --id: %+v", byID)
	}
	if out := ctl(t, b.addr, "schema", "check", "clicks-value", "--schema", v2, reg); !strings.Contains(out, "compatible") {
		t.Fatalf("check: %q", out)
	}
	ctlCheckFail(t, ctlRun(t, nil, "", "schema", "check", "clicks-value", "--schema", bad, reg), 1, []string{"not compatible"})
	ctlCheckFail(t, ctlRun(t, nil, "", "schema", "register", "clicks-value", "--schema", bad, reg), 1, []string{"incompatible", "409"})
	ctlCheckFail(t, ctlRun(t, nil, "", "schema", "get", "nope", reg), 1, []string{"40401"})
	ctlCheckFail(t, ctlRun(t, nil, "", "schema", "register", "x", "--schema", "{", reg), 1, []string{"42201"})

	ctl(t, b.addr, "schema", "delete", "clicks-value", "--version", "1", reg)
	ctl(t, b.addr, "schema", "delete", "clicks-value", reg)
	ctlCheckFail(t, ctlRun(t, nil, "", "schema", "get", "clicks-value", reg), 1, []string{"40401"})
	ctl(t, b.addr, "schema", "delete", "clicks-value", "--permanent", reg)
	if list := ctlJSON[[]ctlSchema](t, b.addr, "schema", "list", "--deleted", reg); len(list) != 1 {
		t.Fatalf("list after the permanent delete: %+v", list)
	}
}

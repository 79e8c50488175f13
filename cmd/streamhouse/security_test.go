package main

import (
	"io"
	"strings"
	"testing"
)

func TestParseAddScram(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want scramUser
		err  string
	}{
		{"SCRAM-SHA-256=[name=admin,password=admin-secret]", scramUser{"SCRAM-SHA-256", "admin", "admin-secret", 0}, ""},
		{"SCRAM-SHA-512=[name=a,password=\"p,w]x\",iterations=8192]", scramUser{"SCRAM-SHA-512", "a", "p,w]x", 8192}, ""},
		{"SCRAM-SHA-1=[name=a,password=b]", scramUser{}, "not SCRAM-SHA-256"},
		{"SCRAM-SHA-256=[name=a]", scramUser{}, "name and password are required"},
		{"SCRAM-SHA-256=[name=a,password=b,salt=c]", scramUser{}, "unknown key"},
		{"SCRAM-SHA-256=name=a,password=secret", scramUser{}, "password=..."},
	} {
		got, err := parseAddScram(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: err %v, want %q", tc.in, err, tc.err)
			}
			if err != nil && strings.Contains(err.Error(), "secret") {
				t.Errorf("%q: the error shows the password: %v", tc.in, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%q: %+v, %v", tc.in, got, err)
		}
	}
}

func TestListenShorthand(t *testing.T) {
	t.Parallel()
	o, err := parseFlags([]string{"--listeners=SASL_SSL://127.0.0.1:9093"}, environ(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.settings["listeners"] != "SASL_SSL://127.0.0.1:9093" {
		t.Errorf("listeners %q", o.settings["listeners"])
	}
	if _, err := parseFlags([]string{"--listeners=SSL://:9093", "--listen=127.0.0.1:9092"}, environ(nil), io.Discard); err == nil ||
		!strings.Contains(err.Error(), "shorthand") {
		t.Errorf("--listen with --listeners: %v", err)
	}
	o, err = parseFlags([]string{"--listeners=A://:9093", "--listener.security.protocol.map=A:SSL", "--listener.name.a.ssl.client.auth=required"}, environ(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	b, err := o.newBroker()
	if err != nil {
		t.Fatal(err)
	}
	if got := b.ListenerString("A", "ssl.client.auth"); got != "required" {
		t.Errorf("per-listener client auth %q", got)
	}

	// The same from the environment, with the listeners from it too; a
	// flag wins over it.
	env := environ(map[string]string{
		"STREAMHOUSE_LISTENERS":                              "INTERNAL://:9093,EXTERNAL://:9094",
		"STREAMHOUSE_LISTENER_SECURITY_PROTOCOL_MAP":         "INTERNAL:SSL,EXTERNAL:SSL",
		"STREAMHOUSE_LISTENER_NAME_INTERNAL_SSL_CLIENT_AUTH": "required",
		"STREAMHOUSE_LISTENER_NAME_EXTERNAL_SSL_CLIENT_AUTH": "required",
	})
	o, err = parseFlags([]string{"--listener.name.external.ssl.client.auth=requested"}, env, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if b, err = o.newBroker(); err != nil {
		t.Fatal(err)
	}
	if got := b.ListenerString("INTERNAL", "ssl.client.auth"); got != "required" {
		t.Errorf("per-listener client auth from the environment %q", got)
	}
	if got := b.ListenerString("EXTERNAL", "ssl.client.auth"); got != "requested" {
		t.Errorf("per-listener client auth from a flag over the environment %q", got)
	}
	o, err = parseFlags(nil, environ(map[string]string{
		"STREAMHOUSE_LISTENERS":                         "SSL://:9093",
		"STREAMHOUSE_LISTENER_NAME_SSL_SSL_CLIENT_AUTH": "sometimes",
	}), io.Discard)
	if err == nil {
		_, err = o.newBroker()
	}
	if err == nil || !strings.Contains(err.Error(), "ssl.client.auth") {
		t.Errorf("a bad per-listener value from the environment: %v", err)
	}
}

package main

import (
	"crypto/tls"
	"errors"
	"net"
	"slices"
	"testing"

	"github.com/streamhouse/streamhouse/broker"
)

// TestConsoleListener: which listener the console dials, and whether its
// users log in.
func TestConsoleListener(t *testing.T) {
	t.Parallel()
	server := &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{{1, 2, 3}}}}}
	mtls := &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert}
	tests := []struct {
		name      string
		listeners []broker.Listener
		want      int // index of the listener; -1: none
		login     bool
		tls       bool
	}{
		{"plaintext", []broker.Listener{{Protocol: "PLAINTEXT"}}, 0, false, false},
		{"ssl", []broker.Listener{{Protocol: "SSL", TLS: server}}, 0, false, true},
		{"mtls only", []broker.Listener{{Protocol: "SSL", TLS: mtls}}, -1, false, false},
		{"sasl wins over plaintext", []broker.Listener{{Protocol: "PLAINTEXT"}, {Protocol: "SASL_PLAINTEXT", Mechanisms: []string{"SCRAM-SHA-512"}}}, 1, true, false},
		{"sasl_ssl", []broker.Listener{{Protocol: "SASL_SSL", TLS: server, Mechanisms: []string{"PLAIN"}}}, 0, true, true},
		{"sasl without a password mechanism", []broker.Listener{{Protocol: "PLAINTEXT"}, {Protocol: "SASL_PLAINTEXT", Mechanisms: []string{"OAUTHBEARER"}}}, -1, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var bound []net.Listener
			for range tt.listeners {
				l, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				defer l.Close()
				bound = append(bound, l)
			}
			addr, tlsCfg, mechs, err := consoleListener(tt.listeners, bound)
			if tt.want < 0 {
				if !errors.Is(err, errNoConsoleListener) {
					t.Fatalf("got %s, %v; want errNoConsoleListener", addr, err)
				}
				return
			}
			if err != nil || addr != bound[tt.want].Addr().String() {
				t.Fatalf("got %s, %v; want %s", addr, err, bound[tt.want].Addr())
			}
			if (mechs != nil) != tt.login || (tlsCfg != nil) != tt.tls {
				t.Errorf("login %v (%v), tls %v; want %v, %v", mechs != nil, mechs, tlsCfg != nil, tt.login, tt.tls)
			}
			if tt.login && !slices.Equal(mechs, tt.listeners[tt.want].Mechanisms) {
				t.Errorf("mechanisms %v", mechs)
			}
		})
	}
}

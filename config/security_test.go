package config_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/streamhouse/streamhouse/config"
)

func TestListenersProtocolMap(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		set  map[string]string
		want []config.Endpoint
		err  string
	}{
		{"default map", map[string]string{"listeners": "PLAINTEXT://127.0.0.1:9092,SASL_SSL://:9093"},
			[]config.Endpoint{{"PLAINTEXT", "127.0.0.1", 9092, "PLAINTEXT"}, {"SASL_SSL", "", 9093, "SASL_SSL"}}, ""},
		{"named listeners", map[string]string{"listeners": "CLIENT://:9092,internal://:9093", "listener.security.protocol.map": "CLIENT:SASL_SSL,INTERNAL:SSL"},
			[]config.Endpoint{{"CLIENT", "", 9092, "SASL_SSL"}, {"INTERNAL", "", 9093, "SSL"}}, ""},
		{"unmapped name", map[string]string{"listeners": "CLIENT://:9092"}, nil, "No security protocol defined for listener CLIENT"},
		{"bad protocol", map[string]string{"listener.security.protocol.map": "CLIENT:TLS"}, nil, "SecurityProtocol.TLS"},
		{"advertised not a listener", map[string]string{"listeners": "PLAINTEXT://:9092", "advertised.listeners": "SSL://h:9093"}, nil, "subset"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			set := map[string]string{"node.id": "1"}
			for k, v := range tc.set {
				set[k] = v
			}
			b, err := config.NewBroker(set)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := b.Listeners(); !slices.Equal(got, tc.want) {
				t.Fatalf("Listeners = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestListenerPrefixedConfigs(t *testing.T) {
	t.Parallel()
	b, err := config.NewBroker(map[string]string{
		"node.id":                   "1",
		"listeners":                 "PLAINTEXT://:9092,SASL_SSL://:9093",
		"sasl.enabled.mechanisms":   "SCRAM-SHA-512",
		"ssl.client.auth":           "none",
		"connections.max.reauth.ms": "1000",
		"listener.name.sasl_ssl.sasl.enabled.mechanisms":   "PLAIN,SCRAM-SHA-256",
		"listener.name.sasl_ssl.ssl.client.auth":           "required",
		"listener.name.sasl_ssl.connections.max.reauth.ms": "5000",
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := b.ListenerList("SASL_SSL", "sasl.enabled.mechanisms"); !slices.Equal(got, []string{"PLAIN", "SCRAM-SHA-256"}) {
		t.Errorf("SASL_SSL mechanisms %q", got)
	}
	if got := b.ListenerList("PLAINTEXT", "sasl.enabled.mechanisms"); !slices.Equal(got, []string{"SCRAM-SHA-512"}) {
		t.Errorf("PLAINTEXT mechanisms %q", got)
	}
	if got := b.ListenerString("SASL_SSL", "ssl.client.auth"); got != "required" {
		t.Errorf("client auth %q", got)
	}
	if got := b.ListenerLong("SASL_SSL", "connections.max.reauth.ms"); got != 5000 {
		t.Errorf("reauth %d", got)
	}
	for name, want := range map[string]string{
		"listener.name.sasl_ssl.sasl.enabled.mechanisms": "GSSAPI",
		"listener.name.sasl_ssl.num.partitions":          "Unknown broker config",
		"listener.name.SASL_SSL.ssl.client.auth":         "Unknown broker config",
		"ssl.keystore.type":                              "PEM",
		"authorizer.class.name":                          "String must be one of",
	} {
		v := "GSSAPI"
		if strings.HasSuffix(name, "auth") || strings.HasSuffix(name, "partitions") {
			v = "required"
		}
		if name == "ssl.keystore.type" {
			v = "JKS"
		}
		if name == "authorizer.class.name" {
			v = "kafka.security.authorizer.AclAuthorizer"
		}
		_, err := config.NewBroker(map[string]string{"node.id": "1", name: v})
		var ce *config.Error
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s=%s: err = %v, want %q", name, v, err, want)
		}
	}
}

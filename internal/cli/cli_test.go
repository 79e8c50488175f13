package cli

import (
	"slices"
	"testing"
)

func TestSeeds(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []string
	}{
		{"127.0.0.1:9092", []string{"127.0.0.1:9092"}},
		{"http://127.0.0.1:9093", []string{"127.0.0.1:9093"}},
		{"http://broker:9093/", []string{"broker:9093"}},
		{"broker", []string{"broker:9092"}},
		{"a:1, b:2", []string{"a:1", "b:2"}},
		{"::1", []string{"[::1]:9092"}},
		{"[::1]:9093", []string{"[::1]:9093"}},
		{"", nil},
		{"https://broker:9093", nil},
	} {
		got, err := Seeds(c.in)
		if c.want == nil {
			if err == nil {
				t.Errorf("Seeds(%q) = %q, want an error", c.in, got)
			}
			continue
		}
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("Seeds(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
}

package main

// Output: text as aligned tables, JSON with stable snake_case field names
// (indented, except consume's one object per line).

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// emit writes v as JSON under --output json, and calls text otherwise.
func (a *app) emit(v any, text func(w io.Writer)) error {
	if a.output == "json" {
		return writeJSON(a.stdout, v)
	}
	text(a.stdout)
	return nil
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// newTable is a tabwriter for aligned columns: cells end with \t, rows
// with \n, and Flush writes them.
func newTable(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
}

// row writes one table row.
func row(tw *tabwriter.Writer, cells ...any) {
	for i, c := range cells {
		if i > 0 {
			io.WriteString(tw, "\t")
		}
		fmt.Fprint(tw, c)
	}
	io.WriteString(tw, "\n")
}

// orDash shows a missing offset as "-".
func orDash(v *int64) string {
	if v == nil {
		return "-"
	}
	return strconv.FormatInt(*v, 10)
}

func int32List(vs []int32) string {
	s := make([]string, len(vs))
	for i, v := range vs {
		s[i] = strconv.Itoa(int(v))
	}
	return strings.Join(s, ",")
}

// topicID is a topic ID as Kafka's tools print it (URL-safe base64
// without padding).
func topicID(id kadm.TopicID) string { return base64.RawURLEncoding.EncodeToString(id[:]) }

// round keeps a duration readable in a summary line.
func round(d time.Duration) time.Duration {
	switch {
	case d >= time.Second:
		return d.Round(10 * time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(time.Millisecond)
	}
	return d.Round(time.Microsecond)
}

func plural(n int64, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return strconv.FormatInt(n, 10) + " " + word + "s"
}

// configEntry is one config of a topic or broker, as config get and topic
// describe print it.
type configEntry struct {
	Name      string  `json:"name"`
	Value     *string `json:"value"` // null when sensitive or unset
	Source    string  `json:"source"`
	Sensitive bool    `json:"sensitive"`
}

func configEntries(cs []kadm.Config) []configEntry {
	out := make([]configEntry, 0, len(cs))
	for _, c := range cs {
		out = append(out, configEntry{Name: c.Key, Value: c.Value, Source: c.Source.String(), Sensitive: c.Sensitive})
	}
	return out
}

func configTable(tw *tabwriter.Writer, cs []configEntry) {
	row(tw, "CONFIG", "VALUE", "SOURCE")
	for _, c := range cs {
		v := "(null)"
		switch {
		case c.Sensitive:
			v = "(sensitive)"
		case c.Value != nil:
			v = *c.Value
		}
		row(tw, c.Name, v, c.Source)
	}
}

// kvFlag collects repeated k=v flags in order.
type kvFlag []string

func (f *kvFlag) String() string { return strings.Join(*f, " ") }

func (f *kvFlag) Set(s string) error {
	if k, _, ok := strings.Cut(s, "="); !ok || k == "" {
		return fmt.Errorf("%q is not k=v", s)
	}
	*f = append(*f, s)
	return nil
}

// parseConfigs turns k=v strings into a map, refusing duplicates.
func parseConfigs(kvs []string) (map[string]string, []string, error) {
	m := make(map[string]string, len(kvs))
	var order []string
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, nil, fmt.Errorf("%q is not k=v", kv)
		}
		if _, dup := m[k]; dup {
			return nil, nil, fmt.Errorf("%s given twice", k)
		}
		m[k] = v
		order = append(order, k)
	}
	return m, order, nil
}

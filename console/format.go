package console

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// funcs are the templates' helpers.
var funcs = template.FuncMap{
	"bytes":   humanBytes,
	"num":     thousands,
	"time":    func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05.000Z") },
	"millis":  func(ms int64) string { return time.UnixMilli(ms).UTC().Format("2006-01-02 15:04:05.000Z") },
	"path":    url.PathEscape,
	"query":   url.QueryEscape,
	"add":     func(a, b int) int { return a + b },
	"join":    strings.Join,
	"dur":     func(d time.Duration) string { return d.Round(time.Millisecond).String() },
	"default": func(def, v string) string { return or(v, def) },
	"int64":   func(n int) int64 { return int64(n) },
	"uptime":  uptime,
	"sub":     func(a, b int64) int64 { return a - b },
}

// uptime is d in its two largest units: "3d 4h", "5m 6s".
func uptime(d time.Duration) string {
	s := int64(d / time.Second)
	parts := []struct {
		n    int64
		unit string
	}{{s / 86400, "d"}, {s / 3600 % 24, "h"}, {s / 60 % 60, "m"}, {s % 60, "s"}}
	for i, p := range parts {
		if p.n > 0 || i == len(parts)-1 {
			out := strconv.FormatInt(p.n, 10) + p.unit
			if i+1 < len(parts) {
				out += " " + strconv.FormatInt(parts[i+1].n, 10) + parts[i+1].unit
			}
			return out
		}
	}
	return ""
}

func or(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// humanBytes is n in B, KiB, MiB, GiB or TiB; "-" when negative
// (unknown).
func humanBytes(n int64) string {
	if n < 0 {
		return "-"
	}
	const unit = 1024
	if n < unit {
		return strconv.FormatInt(n, 10) + " B"
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 3; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGT"[exp])
}

// thousands writes n with thousands separators.
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	if neg {
		s = s[1:]
	}
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Formats a key or value is shown in.
const (
	fmtAuto   = "auto"
	fmtText   = "text"
	fmtJSON   = "json"
	fmtHex    = "hex"
	fmtSchema = "schema"
)

// shown is a key, value or header value ready for a template: its text
// (escaped by the template), how it was read, and whether it was cut.
type shown struct {
	Text   string
	Kind   string // text, json, hex, avro, protobuf, jsonschema, null, empty
	Size   int    // bytes of the whole value
	Cut    bool   // Text is a preview
	Schema int32  // registry id, when decoded through it
	Err    string // why a requested format could not be used
}

// show renders b in format (auto picks: registry, JSON, text, hex),
// at most limit bytes of text (0: all). null says b is absent (a
// tombstone's value).
func (c *Console) show(r *http.Request, st *reqState, b []byte, null bool, format string, limit int, decodeSchema bool) shown {
	if null {
		return shown{Kind: "null"}
	}
	if len(b) == 0 {
		return shown{Kind: "empty"}
	}
	s := shown{Size: len(b)}
	if (format == fmtAuto || format == fmtSchema) && decodeSchema && c.cfg.Registry != nil && len(b) >= 5 && b[0] == 0 {
		text, kind, id, err := c.decodeWithRegistry(r, st, b, limit)
		if err == nil {
			s.Text, s.Kind, s.Schema = text, kind, id
			return cut(s, limit)
		}
		if format == fmtSchema {
			s.Err = err.Error()
		}
	}
	switch format {
	case fmtHex:
		return hexShown(b, limit)
	case fmtText:
		if utf8.Valid(b) {
			s.Text, s.Kind = string(b), "text"
			return cut(s, limit)
		}
		s.Err = "not UTF-8 text"
		return withErr(hexShown(b, limit), s.Err)
	case fmtJSON:
		if isJSON(b) {
			s.Text, s.Kind = pretty(b, limit), "json"
			return cut(s, limit)
		}
		s.Err = "not JSON"
		if printable(b) {
			s.Text, s.Kind = string(b), "text"
			return cut(s, limit)
		}
		return withErr(hexShown(b, limit), s.Err)
	}
	// auto (and schema that could not decode)
	if (b[0] == '{' || b[0] == '[') && isJSON(b) {
		s.Text, s.Kind = pretty(b, limit), "json"
		return cut(s, limit)
	}
	if printable(b) {
		s.Text, s.Kind = string(b), "text"
		return cut(s, limit)
	}
	h := hexShown(b, limit)
	h.Err = s.Err
	return h
}

// isJSON: valid JSON in valid UTF-8 (encoding/json accepts invalid UTF-8
// inside strings, which would then be shown as text that is not).
func isJSON(b []byte) bool { return utf8.Valid(b) && json.Valid(b) }

// pretty indents JSON shown whole; a list's preview stays on one line.
func pretty(b []byte, limit int) string {
	if limit > 0 && limit < wholeInline {
		var out bytes.Buffer
		if json.Compact(&out, b) == nil {
			return out.String()
		}
		return string(b)
	}
	return indentJSON(b)
}

func withErr(s shown, err string) shown { s.Err = err; return s }

func indentJSON(b []byte) string {
	var out bytes.Buffer
	if len(b) > 1<<20 || json.Indent(&out, b, "", "  ") != nil {
		return string(b)
	}
	return out.String()
}

// printable: valid UTF-8 without control characters other than tab and
// newlines.
func printable(b []byte) bool {
	if !utf8.Valid(b) {
		return false
	}
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		b = b[n:]
		if r == '\n' || r == '\r' || r == '\t' {
			continue
		}
		if unicode.IsControl(r) || r == utf8.RuneError {
			return false
		}
	}
	return true
}

// cut shortens s.Text to limit bytes (at a rune boundary).
func cut(s shown, limit int) shown {
	if limit <= 0 || len(s.Text) <= limit {
		return s
	}
	i := limit
	for i > 0 && !utf8.RuneStart(s.Text[i]) {
		i--
	}
	s.Text, s.Cut = s.Text[:i], true
	return s
}

// hexShown is a hex dump of b: 16 bytes a line, offset, hex, ASCII.
func hexShown(b []byte, limit int) shown {
	s := shown{Kind: "hex", Size: len(b)}
	n := len(b)
	if limit > 0 && n > limit/4 {
		n = max(limit/4, 16)
		if n < len(b) {
			s.Cut = true
		} else {
			n = len(b)
		}
	}
	var out strings.Builder
	for off := 0; off < n; off += 16 {
		end := min(off+16, n)
		fmt.Fprintf(&out, "%08x  ", off)
		for i := off; i < off+16; i++ {
			if i < end {
				fmt.Fprintf(&out, "%02x ", b[i])
			} else {
				out.WriteString("   ")
			}
			if i == off+7 {
				out.WriteByte(' ')
			}
		}
		out.WriteString(" |")
		for _, ch := range b[off:end] {
			if ch >= 0x20 && ch < 0x7f {
				out.WriteByte(ch)
			} else {
				out.WriteByte('.')
			}
		}
		out.WriteString("|\n")
	}
	s.Text = out.String()
	return s
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

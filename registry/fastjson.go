package registry

import (
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// A fast path for reading the `_schemas` records at start: 100,000 of
// them with encoding/json take most of a second on a small machine. These
// read the flat objects the registry (and Confluent's) writes: scalar
// fields, and an empty references array. Anything else (a non-empty
// array, a nested object, a duplicate or unknown field, any doubt) makes
// them return false, and the caller decodes with encoding/json, whose
// answer is the reference: FuzzFastRecords checks they agree.

type scanner struct {
	b []byte
	i int
}

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *scanner) peek() byte {
	s.ws()
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

func (s *scanner) byte(c byte) bool {
	if s.peek() == c {
		s.i++
		return true
	}
	return false
}

func (s *scanner) lit(w string) bool {
	s.ws()
	if len(s.b)-s.i >= len(w) && string(s.b[s.i:s.i+len(w)]) == w {
		s.i += len(w)
		return true
	}
	return false
}

// str reads a JSON string, unescaped; invalid UTF-8 or a lone surrogate
// is refused (encoding/json would replace it).
func (s *scanner) str() (string, bool) {
	if !s.byte('"') {
		return "", false
	}
	start := s.i
	for s.i < len(s.b) { // the common case: nothing escaped
		c := s.b[s.i]
		if c == '"' {
			v := s.b[start:s.i]
			s.i++
			if !utf8.Valid(v) {
				return "", false
			}
			return string(v), true
		}
		if c == '\\' || c < 0x20 {
			break
		}
		s.i++
	}
	out := make([]byte, 0, s.i-start+64)
	out = append(out, s.b[start:s.i]...)
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			s.i++
			if !utf8.Valid(out) {
				return "", false
			}
			return string(out), true
		case c < 0x20:
			return "", false
		case c != '\\':
			// A run of plain bytes, appended at once.
			j := s.i + 1
			for j < len(s.b) && s.b[j] != '\\' && s.b[j] != '"' && s.b[j] >= 0x20 {
				j++
			}
			out = append(out, s.b[s.i:j]...)
			s.i = j
			continue
		}
		if s.i+1 >= len(s.b) {
			return "", false
		}
		e := s.b[s.i+1]
		s.i += 2
		switch e {
		case '"', '\\', '/':
			out = append(out, e)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, ok := s.hex4()
			if !ok {
				return "", false
			}
			if utf16.IsSurrogate(r) {
				if !s.lit(`\u`) {
					return "", false
				}
				r2, ok := s.hex4()
				if r = utf16.DecodeRune(r, r2); !ok || r == utf8.RuneError {
					return "", false
				}
			}
			out = utf8.AppendRune(out, r)
		default:
			return "", false
		}
	}
	return "", false
}

func (s *scanner) hex4() (rune, bool) {
	if len(s.b)-s.i < 4 {
		return 0, false
	}
	n, err := strconv.ParseUint(string(s.b[s.i:s.i+4]), 16, 32)
	if err != nil {
		return 0, false
	}
	s.i += 4
	return rune(n), true
}

// int reads a JSON integer that fits in 32 bits.
func (s *scanner) int() (int64, bool) {
	s.ws()
	start := s.i
	if s.i < len(s.b) && s.b[s.i] == '-' {
		s.i++
	}
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		s.i++
	}
	if s.i < len(s.b) && (s.b[s.i] == '.' || s.b[s.i] == 'e' || s.b[s.i] == 'E') {
		return 0, false
	}
	digits := s.b[start:s.i]
	if len(digits) > 1 && digits[0] == '0' || len(digits) > 2 && digits[0] == '-' && digits[1] == '0' {
		return 0, false
	}
	n, err := strconv.ParseInt(string(digits), 10, 32)
	return n, err == nil
}

func (s *scanner) bool() (bool, bool) {
	if s.lit("true") {
		return true, true
	}
	if s.lit("false") {
		return false, true
	}
	return false, false
}

// object walks an object's fields, each key once, calling field with the
// scanner at its value; field reads the value and returns false to give
// up.
func (s *scanner) object(field func(key string) bool) bool {
	if !s.byte('{') {
		return false
	}
	seen := 0
	if s.byte('}') {
		return s.end()
	}
	for {
		k, ok := s.str()
		if !ok || !s.byte(':') {
			return false
		}
		bit := fieldBit(k)
		if bit == 0 || seen&bit != 0 {
			return false
		}
		seen |= bit
		if !field(k) {
			return false
		}
		if s.byte(',') {
			continue
		}
		return s.byte('}') && s.end()
	}
}

func (s *scanner) end() bool {
	s.ws()
	return s.i == len(s.b)
}

// fieldBit numbers the field names the records use, so that a duplicate is
// noticed (encoding/json takes the last; simpler to let it).
func fieldBit(k string) int {
	switch k {
	case "keytype":
		return 1 << 0
	case "subject":
		return 1 << 1
	case "version":
		return 1 << 2
	case "magic":
		return 1 << 3
	case "id":
		return 1 << 4
	case "schemaType":
		return 1 << 5
	case "references":
		return 1 << 6
	case "schema":
		return 1 << 7
	case "deleted":
		return 1 << 8
	}
	return 0
}

// fastKey reads a record key.
func fastKey(b []byte) (recordKey, bool) {
	var k recordKey
	s := scanner{b: b}
	ok := s.object(func(f string) bool {
		var ok bool
		var n int64
		switch f {
		case "keytype":
			k.KeyType, ok = s.str()
		case "subject":
			if s.lit("null") {
				return true
			}
			var sub string
			sub, ok = s.str()
			k.Subject = &sub
		case "version":
			n, ok = s.int()
			k.Version = int(n)
		case "magic":
			n, ok = s.int()
			k.Magic = int(n)
		}
		return ok
	})
	return k, ok
}

// fastSchemaValue reads a SCHEMA record's value.
func fastSchemaValue(b []byte) (schemaValue, bool) {
	var v schemaValue
	s := scanner{b: b}
	ok := s.object(func(f string) bool {
		var ok bool
		var n int64
		var str string
		switch f {
		case "subject":
			v.Subject, ok = s.str()
		case "version":
			n, ok = s.int()
			v.Version = int(n)
		case "id":
			n, ok = s.int()
			v.ID = int32(n)
		case "schemaType":
			str, ok = s.str()
			v.SchemaType = Format(str)
		case "schema":
			v.Schema, ok = s.str()
		case "deleted":
			v.Deleted, ok = s.bool()
		case "references":
			ok = s.lit("null") || s.byte('[') && s.byte(']')
		}
		return ok
	})
	return v, ok
}

package auth

import (
	"crypto/x509"
	"fmt"
	"regexp"
	"strings"
)

// PrincipalMapper turns a TLS client certificate's subject into a principal
// name as Kafka's SslPrincipalMapper does with ssl.principal.mapping.rules:
// the first rule whose pattern matches the whole distinguished name (RFC
// 2253, most specific attribute first: "CN=alice,OU=eng,O=Example") gives
// the name; DEFAULT gives the distinguished name itself. Without a rule
// that matches, the mapping fails (Kafka: "No rules apply to ...").
type PrincipalMapper struct {
	rules []mappingRule
}

type mappingRule struct {
	deflt   bool
	pattern *regexp.Regexp // anchored
	repl    string         // Go's $1 syntax, as Java's
	lower   bool
	upper   bool
}

// ParsePrincipalMappingRules parses ssl.principal.mapping.rules:
// comma-separated DEFAULT and RULE:pattern/replacement/[LU] entries; a "/"
// inside pattern or replacement is written "\/".
func ParsePrincipalMappingRules(s string) (*PrincipalMapper, error) {
	m := &PrincipalMapper{}
	rest := strings.TrimSpace(s)
	if rest == "" {
		rest = "DEFAULT"
	}
	for rest != "" {
		rest = strings.TrimLeft(rest, " \t\n,")
		if rest == "" {
			break
		}
		switch {
		case strings.HasPrefix(rest, "DEFAULT"):
			m.rules = append(m.rules, mappingRule{deflt: true})
			rest = rest[len("DEFAULT"):]
		case strings.HasPrefix(rest, "RULE:"):
			rest = rest[len("RULE:"):]
			pat, after, ok := cutUnescapedSlash(rest)
			if !ok {
				return nil, fmt.Errorf("ssl.principal.mapping.rules: rule without replacement: RULE:%s", rest)
			}
			repl, after2, ok := cutUnescapedSlash(after)
			if !ok {
				return nil, fmt.Errorf("ssl.principal.mapping.rules: rule not closed with /: RULE:%s", rest)
			}
			r := mappingRule{repl: javaReplacement(repl)}
			if strings.HasPrefix(after2, "L") {
				r.lower, after2 = true, after2[1:]
			} else if strings.HasPrefix(after2, "U") {
				r.upper, after2 = true, after2[1:]
			}
			re, err := regexp.Compile("^(?:" + pat + ")$")
			if err != nil {
				return nil, fmt.Errorf("ssl.principal.mapping.rules: pattern %q: %w", pat, err)
			}
			r.pattern = re
			m.rules = append(m.rules, r)
			rest = after2
		default:
			return nil, fmt.Errorf("ssl.principal.mapping.rules: invalid rule: %s", rest)
		}
		rest = strings.TrimLeft(rest, " \t\n")
		if rest != "" && rest[0] != ',' {
			return nil, fmt.Errorf("ssl.principal.mapping.rules: invalid rule: %s", rest)
		}
	}
	return m, nil
}

// cutUnescapedSlash splits s at its first "/" not preceded by "\", and
// unescapes "\/" in the part before.
func cutUnescapedSlash(s string) (before, after string, ok bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) && s[i+1] == '/' {
			i++
			continue
		}
		if s[i] == '/' {
			return strings.ReplaceAll(s[:i], `\/`, "/"), s[i+1:], true
		}
	}
	return "", "", false
}

// javaReplacement turns Java's replacement syntax ($1, \$ for a dollar)
// into Go's (${1}, $$).
func javaReplacement(r string) string {
	var b strings.Builder
	for i := 0; i < len(r); i++ {
		switch {
		case r[i] == '\\' && i+1 < len(r):
			i++
			if r[i] == '$' {
				b.WriteString("$$")
			} else {
				b.WriteByte(r[i])
			}
		case r[i] == '$' && i+1 < len(r) && r[i+1] >= '0' && r[i+1] <= '9':
			j := i + 1
			for j < len(r) && r[j] >= '0' && r[j] <= '9' {
				j++
			}
			b.WriteString("${" + r[i+1:j] + "}")
			i = j - 1
		default:
			b.WriteByte(r[i])
		}
	}
	return b.String()
}

// Map returns the principal name for a distinguished name.
func (m *PrincipalMapper) Map(dn string) (string, error) {
	for _, r := range m.rules {
		if r.deflt {
			return dn, nil
		}
		if !r.pattern.MatchString(dn) {
			continue
		}
		out := r.pattern.ReplaceAllString(dn, r.repl)
		switch {
		case r.lower:
			out = strings.ToLower(out)
		case r.upper:
			out = strings.ToUpper(out)
		}
		return out, nil
	}
	return "", fmt.Errorf("no ssl.principal.mapping.rules apply to %s", dn)
}

// CertificatePrincipal is the principal of a verified client certificate:
// "User:" and the mapped name of its subject.
func (m *PrincipalMapper) CertificatePrincipal(cert *x509.Certificate) (string, error) {
	name, err := m.Map(cert.Subject.String())
	if err != nil {
		return "", err
	}
	return "User:" + name, nil
}

package auth

import (
	"slices"
	"strings"
	"sync/atomic"
)

// AuthorizerConfig is the authorizer's static configuration.
type AuthorizerConfig struct {
	// SuperUsers are principals allowed everything whatever the ACLs say
	// (super.users: "User:admin;User:ops").
	SuperUsers []string
	// AllowIfNoACL is allow.everyone.if.no.acl.found: a resource without
	// any ACL is open to all. Kafka's default, and ours, is false.
	AllowIfNoACL bool
}

// ParseSuperUsers splits super.users: principals separated by ";".
func ParseSuperUsers(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ";") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// Authorizer decides as Kafka's StandardAuthorizer: super users may do
// anything; otherwise, among the ACLs whose pattern matches the resource
// (a literal of its name, the literal wildcard "*", a prefix of its name),
// whose principal is the caller's or User:*, and whose host is the
// caller's address or "*":
//   - a DENY for the operation (or ALL) denies, whatever allows;
//   - else an ALLOW for the operation, ALL, or an operation that implies it
//     (READ, WRITE, DELETE and ALTER imply DESCRIBE; ALTER_CONFIGS implies
//     DESCRIBE_CONFIGS) allows;
//   - else, when no ACL at all names the resource, AllowIfNoACL decides;
//   - else it is denied.
//
// The ACLs live in a read-only index that Set replaces whole: Authorize
// reads one atomic pointer and does a few map lookups, with no lock, so a
// change applies to the next decision of every connection.
type Authorizer struct {
	super        map[string]bool
	allowIfNoACL bool
	idx          atomic.Pointer[index]
}

// NewAuthorizer returns an authorizer without ACLs.
func NewAuthorizer(cfg AuthorizerConfig) *Authorizer {
	a := &Authorizer{super: make(map[string]bool), allowIfNoACL: cfg.AllowIfNoACL}
	for _, p := range cfg.SuperUsers {
		a.super[p] = true
	}
	a.idx.Store(buildIndex(nil))
	return a
}

// Set replaces the ACLs. The slice is copied.
func (a *Authorizer) Set(acls []ACL) { a.idx.Store(buildIndex(slices.Clone(acls))) }

// ACLs returns every ACL, in the order Set got them.
func (a *Authorizer) ACLs() []ACL { return slices.Clone(a.idx.Load().acls) }

// Describe returns the ACLs f matches.
func (a *Authorizer) Describe(f Filter) []ACL {
	var out []ACL
	for _, acl := range a.idx.Load().acls {
		if f.Matches(acl) {
			out = append(out, acl)
		}
	}
	return out
}

// IsSuper reports whether principal is a super user.
func (a *Authorizer) IsSuper(principal string) bool { return a.super[principal] }

// Authorize decides whether principal, connected from host (an IP
// address), may do op on the resource.
func (a *Authorizer) Authorize(principal, host string, op Operation, rt ResourceType, name string) bool {
	if a.super[principal] {
		return true
	}
	if rt < 0 || int(rt) >= len(index{}.types) {
		return false
	}
	t := &a.idx.Load().types[rt]
	var d decision
	if t.literal != nil {
		if e := t.literal[name]; e != nil {
			if d.check(e, principal, host, op) {
				return false
			}
		}
	}
	if t.wildcard != nil && d.check(t.wildcard, principal, host, op) {
		return false
	}
	if t.prefixed != nil {
		// Walk the name's prefixes while some stored prefix continues
		// them; most names leave the walk after a few characters.
		for l := 1; l <= len(name); l++ {
			n, ok := t.prefixed[name[:l]]
			if !ok {
				break
			}
			if n != nil && d.check(n, principal, host, op) {
				return false
			}
		}
	}
	if d.allowed {
		return true
	}
	return !d.found && a.allowIfNoACL
}

// AuthorizeAny decides whether principal may do op on some resource of
// type rt: Kafka's authorizeByResourceType, by which a producer with WRITE
// on any topic may be idempotent without IDEMPOTENT_WRITE on the cluster.
// It is allowed when an ALLOW for op (or ALL) names a literal resource not
// also denied literally or by a DENY prefix of it, or a prefix that no DENY
// prefix of it covers; a literal wildcard DENY denies, a literal wildcard
// ALLOW allows.
func (a *Authorizer) AuthorizeAny(principal, host string, op Operation, rt ResourceType) bool {
	// Kafka checks a made-up name first, so that super users (and
	// allow.everyone.if.no.acl.found) are honoured.
	if a.Authorize(principal, host, op, rt, "hardcode") {
		return true
	}
	denyLiteral := map[string]bool{}
	denyPrefixed := map[string]bool{}
	var allowLiteral, allowPrefixed []string
	for _, acl := range a.idx.Load().acls {
		if acl.ResourceType != rt || acl.Host != host && acl.Host != "*" ||
			acl.Principal != principal && acl.Principal != WildcardPrincipal ||
			acl.Operation != op && acl.Operation != OpAll {
			continue
		}
		switch {
		case acl.Permission == Deny && acl.PatternType == PatternLiteral:
			if acl.ResourceName == Wildcard {
				return false
			}
			denyLiteral[acl.ResourceName] = true
		case acl.Permission == Deny:
			denyPrefixed[acl.ResourceName] = true
		case acl.PatternType == PatternLiteral:
			if acl.ResourceName == Wildcard {
				return true
			}
			allowLiteral = append(allowLiteral, acl.ResourceName)
		default:
			allowPrefixed = append(allowPrefixed, acl.ResourceName)
		}
	}
	dominated := func(name string) bool {
		for l := 1; l <= len(name); l++ {
			if denyPrefixed[name[:l]] {
				return true
			}
		}
		return false
	}
	for _, n := range allowLiteral {
		if !denyLiteral[n] && !dominated(n) {
			return true
		}
	}
	for _, n := range allowPrefixed {
		if !dominated(n) {
			return true
		}
	}
	return false
}

// decision gathers what the ACLs of one resource say.
type decision struct {
	found   bool // some ACL names the resource
	allowed bool
}

// check applies e's entries; it returns true on a matching DENY.
func (d *decision) check(e *entry, principal, host string, op Operation) bool {
	d.found = true
	for _, p := range [2]string{principal, WildcardPrincipal} {
		for _, c := range e.byPrincipal[p] {
			if c.host != "*" && c.host != host {
				continue
			}
			if c.perm == Deny {
				if c.op == OpAll || c.op == op {
					return true
				}
				continue
			}
			if !d.allowed && implies(c.op, op) {
				d.allowed = true
			}
		}
		if principal == WildcardPrincipal {
			break
		}
	}
	return false
}

// implies reports whether an ALLOW of have allows want.
func implies(have, want Operation) bool {
	if have == OpAll || have == want {
		return true
	}
	switch want {
	case OpDescribe:
		return have == OpRead || have == OpWrite || have == OpDelete || have == OpAlter
	case OpDescribeConfigs:
		return have == OpAlterConfigs
	}
	return false
}

// index is the ACLs arranged for decisions. It is never changed once built.
type index struct {
	acls  []ACL
	types [ResourceUser + 1]typeIndex
}

type typeIndex struct {
	literal  map[string]*entry // by resource name, "*" excluded
	wildcard *entry            // the literal "*"
	// prefixed holds every prefix of every PREFIXED pattern's name: the
	// pattern's own name maps to its entry, a shorter prefix of it to
	// nil (so that a walk along a name knows whether to go on).
	prefixed map[string]*entry
}

// entry is the ACEs of one resource pattern, by principal.
type entry struct {
	byPrincipal map[string][]ace
}

type ace struct {
	host string
	op   Operation
	perm Permission
}

func buildIndex(acls []ACL) *index {
	idx := &index{acls: acls}
	add := func(e **entry, a ACL) {
		if *e == nil {
			*e = &entry{byPrincipal: make(map[string][]ace)}
		}
		(*e).byPrincipal[a.Principal] = append((*e).byPrincipal[a.Principal], ace{host: a.Host, op: a.Operation, perm: a.Permission})
	}
	for _, a := range acls {
		if a.ResourceType < 0 || int(a.ResourceType) >= len(idx.types) {
			continue
		}
		t := &idx.types[a.ResourceType]
		switch a.PatternType {
		case PatternLiteral:
			if a.ResourceName == Wildcard {
				add(&t.wildcard, a)
				continue
			}
			if t.literal == nil {
				t.literal = make(map[string]*entry)
			}
			e := t.literal[a.ResourceName]
			add(&e, a)
			t.literal[a.ResourceName] = e
		case PatternPrefixed:
			if t.prefixed == nil {
				t.prefixed = make(map[string]*entry)
			}
			for l := 1; l < len(a.ResourceName); l++ {
				if _, ok := t.prefixed[a.ResourceName[:l]]; !ok {
					t.prefixed[a.ResourceName[:l]] = nil
				}
			}
			e := t.prefixed[a.ResourceName]
			add(&e, a)
			t.prefixed[a.ResourceName] = e
		}
	}
	return idx
}

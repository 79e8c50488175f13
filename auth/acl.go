package auth

import (
	"errors"
	"fmt"
	"strings"
)

// ResourceType is Kafka's ACL resource type; the values are its wire codes.
type ResourceType int8

// Kafka's resource types.
const (
	ResourceUnknown         ResourceType = 0
	ResourceAny             ResourceType = 1
	ResourceTopic           ResourceType = 2
	ResourceGroup           ResourceType = 3
	ResourceCluster         ResourceType = 4
	ResourceTransactionalID ResourceType = 5
	ResourceDelegationToken ResourceType = 6
	ResourceUser            ResourceType = 7
)

// ClusterName is the only name of the CLUSTER resource.
const ClusterName = "kafka-cluster"

// Wildcard is the literal resource name that matches every name, and
// WildcardPrincipal the principal that matches every user.
const (
	Wildcard          = "*"
	WildcardPrincipal = "User:*"
)

var resourceNames = [...]string{"UNKNOWN", "ANY", "TOPIC", "GROUP", "CLUSTER", "TRANSACTIONAL_ID", "DELEGATION_TOKEN", "USER"}

func (t ResourceType) String() string {
	if t >= 0 && int(t) < len(resourceNames) {
		return resourceNames[t]
	}
	return "UNKNOWN"
}

// Operation is Kafka's ACL operation; the values are its wire codes.
type Operation int8

// Kafka's operations.
const (
	OpUnknown         Operation = 0
	OpAny             Operation = 1
	OpAll             Operation = 2
	OpRead            Operation = 3
	OpWrite           Operation = 4
	OpCreate          Operation = 5
	OpDelete          Operation = 6
	OpAlter           Operation = 7
	OpDescribe        Operation = 8
	OpClusterAction   Operation = 9
	OpDescribeConfigs Operation = 10
	OpAlterConfigs    Operation = 11
	OpIdempotentWrite Operation = 12
	OpCreateTokens    Operation = 13
	OpDescribeTokens  Operation = 14
)

var opNames = [...]string{"UNKNOWN", "ANY", "ALL", "READ", "WRITE", "CREATE", "DELETE", "ALTER", "DESCRIBE",
	"CLUSTER_ACTION", "DESCRIBE_CONFIGS", "ALTER_CONFIGS", "IDEMPOTENT_WRITE", "CREATE_TOKENS", "DESCRIBE_TOKENS"}

func (o Operation) String() string {
	if o >= 0 && int(o) < len(opNames) {
		return opNames[o]
	}
	return "UNKNOWN"
}

// ParseOperation parses an operation name as kafka-acls takes it
// (case-insensitive, "Read", "IdempotentWrite" or "IDEMPOTENT_WRITE").
func ParseOperation(s string) (Operation, bool) {
	n := strings.ToUpper(strings.ReplaceAll(s, "_", ""))
	for i, name := range opNames {
		if i > 1 && strings.ReplaceAll(name, "_", "") == n {
			return Operation(i), true
		}
	}
	return 0, false
}

// PatternType is Kafka's resource pattern type; the values are its wire
// codes. MATCH and ANY appear only in filters.
type PatternType int8

// Kafka's pattern types.
const (
	PatternUnknown  PatternType = 0
	PatternAny      PatternType = 1
	PatternMatch    PatternType = 2
	PatternLiteral  PatternType = 3
	PatternPrefixed PatternType = 4
)

var patternNames = [...]string{"UNKNOWN", "ANY", "MATCH", "LITERAL", "PREFIXED"}

func (p PatternType) String() string {
	if p >= 0 && int(p) < len(patternNames) {
		return patternNames[p]
	}
	return "UNKNOWN"
}

// Permission is Kafka's ACL permission type; the values are its wire codes.
type Permission int8

// Kafka's permission types.
const (
	PermissionUnknown Permission = 0
	PermissionAny     Permission = 1
	Deny              Permission = 2
	Allow             Permission = 3
)

func (p Permission) String() string {
	switch p {
	case PermissionAny:
		return "ANY"
	case Deny:
		return "DENY"
	case Allow:
		return "ALLOW"
	}
	return "UNKNOWN"
}

// ACL is one of Kafka's ACL bindings: a resource pattern and an access
// control entry.
type ACL struct {
	ResourceType ResourceType
	ResourceName string
	PatternType  PatternType // LITERAL or PREFIXED
	Principal    string      // "User:alice", or WildcardPrincipal
	Host         string      // an IP address, or "*"
	Operation    Operation
	Permission   Permission
}

func (a ACL) String() string {
	return fmt.Sprintf("(pattern=%s:%s:%s, principal=%s, host=%s, operation=%s, permission=%s)",
		a.ResourceType, a.PatternType, a.ResourceName, a.Principal, a.Host, a.Operation, a.Permission)
}

// ParsePrincipal splits "Type:name" as Kafka's SecurityUtils does: at the
// first colon, both parts required to be there (the name may be empty).
func ParsePrincipal(s string) (typ, name string, err error) {
	typ, name, ok := strings.Cut(s, ":")
	if !ok || typ == "" {
		return "", "", fmt.Errorf("expected a string in format principalType:principalName but got %s", s)
	}
	return typ, name, nil
}

// Operations returns the operations Kafka defines for a resource type,
// ALL excluded: what an ACL may name besides ALL, and what KIP-430's
// authorized operations report.
func Operations(t ResourceType) []Operation {
	switch t {
	case ResourceTopic:
		return []Operation{OpRead, OpWrite, OpCreate, OpDelete, OpAlter, OpDescribe, OpDescribeConfigs, OpAlterConfigs}
	case ResourceGroup:
		return []Operation{OpRead, OpDelete, OpDescribe}
	case ResourceCluster:
		return []Operation{OpCreate, OpAlter, OpDescribe, OpClusterAction, OpDescribeConfigs, OpAlterConfigs, OpIdempotentWrite}
	case ResourceTransactionalID:
		return []Operation{OpWrite, OpDescribe}
	case ResourceDelegationToken:
		return []Operation{OpDescribe}
	case ResourceUser:
		return []Operation{OpCreateTokens, OpDescribeTokens}
	}
	return nil
}

// ErrInvalidACL is an ACL CreateAcls refuses (Kafka's
// InvalidRequestException).
var ErrInvalidACL = errors.New("invalid ACL")

// Validate checks a new ACL as Kafka's controller checks one in CreateAcls.
func (a ACL) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrInvalidACL}, args...)...)
	}
	switch {
	case a.ResourceType <= ResourceAny || a.ResourceType > ResourceUser:
		return bad("Invalid resourceType %s", a.ResourceType)
	case a.PatternType != PatternLiteral && a.PatternType != PatternPrefixed:
		return bad("Invalid patternType %s", a.PatternType)
	case a.Operation <= OpAny || a.Operation > OpDescribeTokens:
		return bad("Invalid operation %s", a.Operation)
	case a.Permission != Allow && a.Permission != Deny:
		return bad("Invalid permissionType %s", a.Permission)
	case a.ResourceName == "":
		return bad("Resource name should not be empty")
	case a.ResourceType == ResourceCluster && a.ResourceName != ClusterName:
		return bad("The only valid name for the CLUSTER resource is %s", ClusterName)
	case a.Host == "":
		return bad("Invalid host: empty")
	}
	if _, _, err := ParsePrincipal(a.Principal); err != nil {
		return bad("%v", err)
	}
	if a.Operation != OpAll {
		ok := false
		for _, op := range Operations(a.ResourceType) {
			ok = ok || op == a.Operation
		}
		if !ok {
			return bad("operation %s is not valid for resource type %s", a.Operation, a.ResourceType)
		}
	}
	return nil
}

// Filter selects ACLs, as Kafka's AclBindingFilter: nil strings and the ANY
// values match everything; PatternMatch matches the patterns that would
// apply to the named resource (the literal name, the literal wildcard, and
// every prefix of it).
type Filter struct {
	ResourceType ResourceType
	ResourceName *string
	PatternType  PatternType
	Principal    *string
	Host         *string
	Operation    Operation
	Permission   Permission
}

// ValidateFilter checks a filter as Kafka does for DescribeAcls and
// DeleteAcls: no UNKNOWN anywhere.
func (f Filter) Validate() error {
	switch {
	case f.ResourceType == ResourceUnknown || f.ResourceType > ResourceUser || f.ResourceType < 0:
		return fmt.Errorf("%w: Invalid resourceType filter", ErrInvalidACL)
	case f.PatternType == PatternUnknown || f.PatternType > PatternPrefixed || f.PatternType < 0:
		return fmt.Errorf("%w: Invalid patternType filter", ErrInvalidACL)
	case f.Operation == OpUnknown || f.Operation > OpDescribeTokens || f.Operation < 0:
		return fmt.Errorf("%w: Invalid operation filter", ErrInvalidACL)
	case f.Permission == PermissionUnknown || f.Permission > Allow || f.Permission < 0:
		return fmt.Errorf("%w: Invalid permissionType filter", ErrInvalidACL)
	}
	return nil
}

// Matches reports whether the filter selects a.
func (f Filter) Matches(a ACL) bool {
	if f.ResourceType != ResourceAny && f.ResourceType != a.ResourceType {
		return false
	}
	if f.PatternType != PatternAny && f.PatternType != PatternMatch && f.PatternType != a.PatternType {
		return false
	}
	if f.ResourceName != nil {
		name := *f.ResourceName
		if f.PatternType == PatternAny || f.PatternType == a.PatternType {
			if name != a.ResourceName {
				return false
			}
		} else { // MATCH
			switch a.PatternType {
			case PatternLiteral:
				if name != a.ResourceName && a.ResourceName != Wildcard {
					return false
				}
			case PatternPrefixed:
				if !strings.HasPrefix(name, a.ResourceName) {
					return false
				}
			default:
				return false
			}
		}
	}
	if f.Principal != nil && *f.Principal != a.Principal {
		return false
	}
	if f.Host != nil && *f.Host != a.Host {
		return false
	}
	if f.Operation != OpAny && f.Operation != a.Operation {
		return false
	}
	if f.Permission != PermissionAny && f.Permission != a.Permission {
		return false
	}
	return true
}

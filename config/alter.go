package config

import (
	"errors"
	"maps"
	"slices"
	"strings"
)

// AlterOp is an IncrementalAlterConfigs operation, numbered as Kafka's
// AlterConfigOp.OpType.
type AlterOp int8

// The operations.
const (
	OpSet      AlterOp = 0
	OpDelete   AlterOp = 1
	OpAppend   AlterOp = 2
	OpSubtract AlterOp = 3
)

// Alteration is one config change of an IncrementalAlterConfigs resource.
type Alteration struct {
	Name  string
	Op    AlterOp
	Value *string // nil for null
}

// ErrRequest is an alteration Kafka refuses as a malformed request
// (INVALID_REQUEST) rather than as an invalid config: a name twice, a null
// value for an operation that needs one, an unknown operation.
var ErrRequest = errors.New("invalid alteration")

// ApplyIncremental returns the explicit configs of a resource after ops, as
// Kafka's ConfigAdminManager prepares them: SET sets, DELETE removes the
// explicit value, APPEND and SUBTRACT add to or remove from a list config's
// value (the explicit one, else the config's default). defs are the
// resource's config definitions (TopicDefs or BrokerDefs); a name not
// among them is left for validation to refuse. current is not changed.
func ApplyIncremental(defs []Def, current map[string]string, ops []Alteration) (map[string]string, error) {
	out := maps.Clone(current)
	if out == nil {
		out = map[string]string{}
	}
	seen := map[string]bool{}
	for _, op := range ops {
		if seen[op.Name] {
			return nil, &Error{Name: op.Name, Kind: ErrRequest, Msg: "Error due to duplicate config keys"}
		}
		seen[op.Name] = true
		if op.Op != OpDelete && op.Value == nil {
			return nil, &Error{Name: op.Name, Kind: ErrRequest, Msg: "Null value not supported for : " + op.Name}
		}
		d, known := findDef(defs, op.Name)
		switch op.Op {
		case OpSet:
			out[op.Name] = *op.Value
		case OpDelete:
			delete(out, op.Name)
		case OpAppend, OpSubtract:
			verb := "append"
			if op.Op == OpSubtract {
				verb = "subtract"
			}
			if !known {
				out[op.Name] = *op.Value // refused as unknown by validation
				continue
			}
			if d.Type != TypeList {
				return nil, &Error{Name: op.Name, Kind: ErrInvalid, Msg: "Config value " + verb + " is not allowed for config key: " + op.Name}
			}
			var old []string
			if v, ok := out[op.Name]; ok {
				if v != "" {
					old = splitList(v)
				}
			} else if d.Default != nil && *d.Default != "" {
				old = splitList(*d.Default)
			}
			var vals []string
			if *op.Value != "" {
				vals = splitList(*op.Value)
			}
			if op.Op == OpAppend {
				for _, v := range vals {
					if !slices.Contains(old, v) {
						old = append(old, v)
					}
				}
			} else {
				old = slices.DeleteFunc(old, func(v string) bool { return slices.Contains(vals, v) })
			}
			out[op.Name] = strings.Join(old, ",")
		default:
			return nil, &Error{Name: op.Name, Kind: ErrRequest, Msg: "Unknown alter config operation"}
		}
	}
	return out, nil
}

package registry

import (
	"fmt"
	"strings"
)

// Compatibility levels, as Confluent names them.
const (
	None               = "NONE"
	Backward           = "BACKWARD"
	BackwardTransitive = "BACKWARD_TRANSITIVE"
	Forward            = "FORWARD"
	ForwardTransitive  = "FORWARD_TRANSITIVE"
	Full               = "FULL"
	FullTransitive     = "FULL_TRANSITIVE"
)

// Modes, as Confluent names them.
const (
	ReadWrite = "READWRITE"
	ReadOnly  = "READONLY"
	Import    = "IMPORT"
)

func validLevel(l string) bool {
	switch l {
	case None, Backward, BackwardTransitive, Forward, ForwardTransitive, Full, FullTransitive:
		return true
	}
	return false
}

func validMode(m string) bool { return m == ReadWrite || m == ReadOnly || m == Import }

// resolved is a referenced schema with its content, for a format's parser.
type resolved struct {
	Reference
	format Format
	text   string
}

// parsed is a schema a format parsed, ready for compatibility checks.
type parsed interface {
	// canonical is the text to store: the schema as given, or its
	// normalized form when the registration asked for normalize.
	canonical() string
}

// format parses one schema type and checks compatibility between two
// schemas of it.
type format interface {
	// parse checks text; refs are the schemas it references (and theirs),
	// dependencies before dependents. The error says what is wrong.
	parse(text string, refs []resolved, normalize bool) (parsed, error)
	// readable lists why data written with writer cannot be read with
	// reader; none when it can.
	readable(reader, writer parsed) []string
}

func formatOf(f Format) (format, bool) {
	switch f {
	case Avro:
		return avroFormat{}, true
	case JSON:
		return jsonFormat{}, true
	case Protobuf:
		return protobufFormat{}, true
	}
	return nil, false
}

// checkLevel lists why schema next may not follow previous (newest first,
// soft-deleted versions left out) under level: BACKWARD needs next to read
// what the previous wrote, FORWARD the previous to read what next writes,
// FULL both; the _TRANSITIVE levels check every previous version, the
// others the newest only.
func checkLevel(f format, level string, next parsed, previous []parsed, versions []int) []string {
	if level == None || len(previous) == 0 {
		return nil
	}
	if !strings.HasSuffix(level, "_TRANSITIVE") {
		previous, versions = previous[:1], versions[:1]
	}
	backward := strings.HasPrefix(level, "BACKWARD") || strings.HasPrefix(level, "FULL")
	forward := strings.HasPrefix(level, "FORWARD") || strings.HasPrefix(level, "FULL")
	var msgs []string
	for i, old := range previous {
		if backward {
			for _, m := range f.readable(next, old) {
				msgs = append(msgs, fmt.Sprintf("version %d: the new schema cannot read data written with it (%s): %s", versions[i], level, m))
			}
		}
		if forward {
			for _, m := range f.readable(old, next) {
				msgs = append(msgs, fmt.Sprintf("version %d: it cannot read data written with the new schema (%s): %s", versions[i], level, m))
			}
		}
	}
	return msgs
}

package registry

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"

	"github.com/bufbuild/protocompile"
	"github.com/bufbuild/protocompile/linker"
	"github.com/bufbuild/protocompile/reporter"
	"github.com/jhump/protoreflect/desc"
	"github.com/jhump/protoreflect/desc/protoprint"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// protobufFormat parses .proto text with github.com/bufbuild/protocompile
// (references are the files it imports, by their reference names; the
// google/protobuf well-known types are built in), normalizes by printing
// the parsed file again with github.com/jhump/protoreflect's protoprint,
// and checks compatibility
// by Confluent's documented Protobuf rules, on the wire's terms:
//   - the package changed, a message removed: incompatible
//   - a field's kind changed (scalar, message, enum), its scalar type
//     changed outside one wire-compatible group (int32 uint32 int64 uint64
//     bool; sint32 sint64; fixed32 sfixed32; fixed64 sfixed64; string
//     bytes), or its message or enum type changed: incompatible
//   - a field added or removed: compatible, unless it is required
//     (proto2) or it leaves a oneof
//   - a field moved into a oneof that already had fields, or several
//     fields moved into a new one: incompatible
//   - optional to repeated: only for string, bytes and message fields
//   - enum values added or removed, syntax changed, services: compatible
type protobufFormat struct{}

// mainProto is the file name the registered schema is compiled under.
const mainProto = "streamhouse-registered-schema.proto"

type protobufSchema struct {
	text string
	file linker.File
}

func (s *protobufSchema) canonical() string { return s.text }

func (protobufFormat) parse(text string, refs []resolved, normalize bool) (parsed, error) {
	files := map[string]string{mainProto: text}
	for _, r := range refs {
		if r.format != Protobuf {
			return nil, fmt.Errorf("reference %q is a %s schema, not PROTOBUF", r.Name, r.format)
		}
		files[r.Name] = r.text
	}
	var errs []string
	c := protocompile.Compiler{
		Resolver: protocompile.WithStandardImports(&protocompile.SourceResolver{Accessor: protocompile.SourceAccessorFromMap(files)}),
		Reporter: reporter.NewReporter(func(err reporter.ErrorWithPos) error {
			errs = append(errs, err.Error())
			return nil
		}, nil),
	}
	out, err := c.Compile(context.Background(), mainProto)
	if len(errs) > 0 {
		return nil, fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	if err != nil {
		return nil, err
	}
	stored := text
	if normalize {
		// The schema printed again from its descriptor, without comments:
		// the same definitions differently written or laid out print the
		// same.
		fd, err := desc.WrapFile(out[0])
		if err != nil {
			return nil, err
		}
		if stored, err = (&protoprint.Printer{OmitComments: protoprint.CommentsAll}).PrintProtoToString(fd); err != nil {
			return nil, err
		}
	}
	return &protobufSchema{text: stored, file: out[0]}, nil
}

func (protobufFormat) readable(reader, writer parsed) []string {
	r, w := reader.(*protobufSchema).file, writer.(*protobufSchema).file
	var msgs []string
	if r.Package() != w.Package() {
		msgs = append(msgs, fmt.Sprintf("PACKAGE_CHANGED: package %q became %q", w.Package(), r.Package()))
	}
	rm := map[protoreflect.FullName]protoreflect.MessageDescriptor{}
	var walk func(protoreflect.MessageDescriptors, func(protoreflect.MessageDescriptor))
	walk = func(ms protoreflect.MessageDescriptors, fn func(protoreflect.MessageDescriptor)) {
		for i := 0; i < ms.Len(); i++ {
			m := ms.Get(i)
			if m.IsMapEntry() {
				continue
			}
			fn(m)
			walk(m.Messages(), fn)
		}
	}
	walk(r.Messages(), func(m protoreflect.MessageDescriptor) { rm[relName(r, m)] = m })
	walk(w.Messages(), func(wmsg protoreflect.MessageDescriptor) {
		name := relName(w, wmsg)
		rmsg, ok := rm[name]
		if !ok {
			msgs = append(msgs, fmt.Sprintf("MESSAGE_REMOVED: message %s", name))
			return
		}
		msgs = append(msgs, compareMessages(name, rmsg, wmsg)...)
	})
	return msgs
}

// relName is a message's name relative to its file's package, so that a
// changed package is reported once rather than as every message removed.
func relName(f protoreflect.FileDescriptor, m protoreflect.MessageDescriptor) protoreflect.FullName {
	return protoreflect.FullName(strings.TrimPrefix(string(m.FullName()), string(f.Package())+"."))
}

func compareMessages(name protoreflect.FullName, r, w protoreflect.MessageDescriptor) []string {
	var msgs []string
	rf, wf := r.Fields(), w.Fields()
	for i := 0; i < wf.Len(); i++ {
		f := wf.Get(i)
		g := rf.ByNumber(f.Number())
		if g == nil {
			switch {
			case f.Cardinality() == protoreflect.Required:
				msgs = append(msgs, fmt.Sprintf("REQUIRED_FIELD_REMOVED: %s field %d (%s)", name, f.Number(), f.Name()))
			case realOneof(f) != nil:
				msgs = append(msgs, fmt.Sprintf("ONEOF_FIELD_REMOVED: %s field %d (%s) of oneof %s", name, f.Number(), f.Name(), realOneof(f).Name()))
			}
			continue
		}
		msgs = append(msgs, compareFields(name, g, f)...)
	}
	for i := 0; i < rf.Len(); i++ {
		g := rf.Get(i)
		if wf.ByNumber(g.Number()) == nil && g.Cardinality() == protoreflect.Required {
			msgs = append(msgs, fmt.Sprintf("REQUIRED_FIELD_ADDED: %s field %d (%s)", name, g.Number(), g.Name()))
		}
	}
	// Fields that joined a oneof: into one that existed (it had a field
	// in the writer) or several into a new one.
	ro := r.Oneofs()
	for i := 0; i < ro.Len(); i++ {
		o := ro.Get(i)
		if o.IsSynthetic() {
			continue
		}
		existed, moved := false, 0
		fs := o.Fields()
		for j := 0; j < fs.Len(); j++ {
			wfield := wf.ByNumber(fs.Get(j).Number())
			switch {
			case wfield == nil:
			case realOneof(wfield) != nil && realOneof(wfield).Name() == o.Name():
				existed = true
			default:
				moved++
			}
		}
		if moved > 0 && existed {
			msgs = append(msgs, fmt.Sprintf("FIELD_MOVED_TO_EXISTING_ONEOF: %s oneof %s", name, o.Name()))
		} else if moved > 1 {
			msgs = append(msgs, fmt.Sprintf("MULTIPLE_FIELDS_MOVED_TO_ONEOF: %s oneof %s", name, o.Name()))
		}
	}
	return msgs
}

func realOneof(f protoreflect.FieldDescriptor) protoreflect.OneofDescriptor {
	if o := f.ContainingOneof(); o != nil && !o.IsSynthetic() {
		return o
	}
	return nil
}

// wireGroup is a scalar kind's group of kinds whose values read as each
// other's.
func wireGroup(k protoreflect.Kind) int {
	switch k {
	case protoreflect.Int32Kind, protoreflect.Uint32Kind, protoreflect.Int64Kind, protoreflect.Uint64Kind, protoreflect.BoolKind:
		return 1
	case protoreflect.Sint32Kind, protoreflect.Sint64Kind:
		return 2
	case protoreflect.Fixed32Kind, protoreflect.Sfixed32Kind:
		return 3
	case protoreflect.Fixed64Kind, protoreflect.Sfixed64Kind:
		return 4
	case protoreflect.StringKind, protoreflect.BytesKind:
		return 5
	}
	return 10 + int(k) // float, double: alone
}

func kindClass(f protoreflect.FieldDescriptor) string {
	switch {
	case f.IsMap():
		return "map"
	case f.Kind() == protoreflect.MessageKind || f.Kind() == protoreflect.GroupKind:
		return "message"
	case f.Kind() == protoreflect.EnumKind:
		return "enum"
	}
	return "scalar"
}

func compareFields(name protoreflect.FullName, r, w protoreflect.FieldDescriptor) []string {
	where := fmt.Sprintf("%s field %d (%s)", name, w.Number(), w.Name())
	rc, wc := kindClass(r), kindClass(w)
	switch {
	case rc != wc:
		return []string{fmt.Sprintf("FIELD_KIND_CHANGED: %s was a %s, is a %s", where, wc, rc)}
	case rc == "scalar" && wireGroup(r.Kind()) != wireGroup(w.Kind()):
		return []string{fmt.Sprintf("FIELD_SCALAR_KIND_CHANGED: %s was %s, is %s", where, w.Kind(), r.Kind())}
	case rc == "message" && r.Message().Name() != w.Message().Name():
		return []string{fmt.Sprintf("FIELD_NAMED_TYPE_CHANGED: %s was %s, is %s", where, w.Message().FullName(), r.Message().FullName())}
	case rc == "enum" && r.Enum().Name() != w.Enum().Name():
		return []string{fmt.Sprintf("FIELD_NAMED_TYPE_CHANGED: %s was %s, is %s", where, w.Enum().FullName(), r.Enum().FullName())}
	case rc == "map" && (kindClass(r.MapValue()) != kindClass(w.MapValue()) || wireGroup(r.MapKey().Kind()) != wireGroup(w.MapKey().Kind())):
		return []string{fmt.Sprintf("FIELD_KIND_CHANGED: %s map types differ", where)}
	}
	var msgs []string
	if (r.Cardinality() == protoreflect.Required) != (w.Cardinality() == protoreflect.Required) {
		if r.Cardinality() == protoreflect.Required {
			msgs = append(msgs, "REQUIRED_FIELD_ADDED: "+where+" became required")
		} else {
			msgs = append(msgs, "REQUIRED_FIELD_REMOVED: "+where+" is no longer required")
		}
	}
	if rc != "map" && (r.Cardinality() == protoreflect.Repeated) != (w.Cardinality() == protoreflect.Repeated) {
		if !(r.Kind() == protoreflect.StringKind || r.Kind() == protoreflect.BytesKind || rc == "message") {
			msgs = append(msgs, fmt.Sprintf("FIELD_LABEL_CHANGED: %s changed between singular and repeated, which %s values do not survive", where, r.Kind()))
		}
	}
	return msgs
}

// protobufFormatted is a Protobuf schema in the form ?format= asks for:
// "serialized" is its FileDescriptorProto, encoded and in base64, as
// Confluent answers; anything else the text.
func protobufFormatted(st *state, parent string, sc *schema, f string) (string, error) {
	if f != "serialized" {
		return sc.text, nil
	}
	_, deps, err := st.resolveRefs(parent, sc.refs, nil, map[string]bool{}, 0)
	if err != nil {
		return "", err
	}
	p, err := safeParse(protobufFormat{}, sc.text, deps, false)
	if err != nil {
		return "", storeError(err)
	}
	b, err := proto.Marshal(protodesc.ToFileDescriptorProto(p.(*protobufSchema).file))
	if err != nil {
		return "", storeError(err)
	}
	return base64.StdEncoding.EncodeToString(b), nil
}

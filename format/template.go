package format

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// Template renders a JSON skeleton of md for a request: every field with a
// placeholder of its type, one element in each list and map, nested messages
// expanded (a recursive type stops at its second occurrence), well-known
// types in their JSON form, and the first case of each oneof.
func Template(md protoreflect.MessageDescriptor) string {
	var b strings.Builder
	writeTemplate(&b, md, "", map[protoreflect.FullName]int{})
	return b.String()
}

func writeTemplate(b *strings.Builder, md protoreflect.MessageDescriptor, indent string, seen map[protoreflect.FullName]int) {
	if wk, ok := wellKnownTemplate(md); ok {
		b.WriteString(wk)
		return
	}
	if seen[md.FullName()] >= 1 {
		// A recursive type stops here, but with its proto2 required
		// fields: without them the template would not be a valid request.
		writeRequired(b, md, indent, nil)
		return
	}
	seen[md.FullName()]++
	defer func() { seen[md.FullName()]-- }()
	fields := md.Fields()
	var written int
	b.WriteString("{")
	oneofs := map[protoreflect.FullName]bool{}
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		if od := fd.ContainingOneof(); od != nil && !od.IsSynthetic() {
			if oneofs[od.FullName()] {
				continue
			}
			oneofs[od.FullName()] = true
		}
		if written > 0 {
			b.WriteString(",")
		}
		written++
		fmt.Fprintf(b, "\n%s  %q: ", indent, fd.JSONName())
		writeFieldTemplate(b, fd, indent+"  ", seen)
	}
	if written > 0 {
		b.WriteString("\n" + indent)
	}
	b.WriteString("}")
}

// writeRequired writes md with only its required fields. A required
// field whose type is on path (the types it is written inside) can never
// be satisfied, and is written as {} rather than forever.
func writeRequired(b *strings.Builder, md protoreflect.MessageDescriptor, indent string, path []protoreflect.FullName) {
	if slices.Contains(path, md.FullName()) {
		b.WriteString("{}")
		return
	}
	path = append(path, md.FullName())
	fields := md.Fields()
	written := 0
	b.WriteString("{")
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		if fd.Cardinality() != protoreflect.Required {
			continue
		}
		if written > 0 {
			b.WriteString(",")
		}
		written++
		fmt.Fprintf(b, "\n%s  %q: ", indent, fd.JSONName())
		if fd.Message() != nil {
			if wk, ok := wellKnownTemplate(fd.Message()); ok {
				b.WriteString(wk)
			} else {
				writeRequired(b, fd.Message(), indent+"  ", path)
			}
		} else {
			b.WriteString(scalarTemplate(fd))
		}
	}
	if written > 0 {
		b.WriteString("\n" + indent)
	}
	b.WriteString("}")
}

func writeFieldTemplate(b *strings.Builder, fd protoreflect.FieldDescriptor, indent string, seen map[protoreflect.FullName]int) {
	switch {
	case fd.IsMap():
		key := scalarTemplate(fd.MapKey())
		if !strings.HasPrefix(key, `"`) {
			key = `"` + key + `"`
		}
		fmt.Fprintf(b, "{\n%s  %s: ", indent, key)
		writeSingular(b, fd.MapValue(), indent+"  ", seen)
		b.WriteString("\n" + indent + "}")
	case fd.IsList():
		b.WriteString("[\n" + indent + "  ")
		writeSingular(b, fd, indent+"  ", seen)
		b.WriteString("\n" + indent + "]")
	default:
		writeSingular(b, fd, indent, seen)
	}
}

func writeSingular(b *strings.Builder, fd protoreflect.FieldDescriptor, indent string, seen map[protoreflect.FullName]int) {
	if md := fd.Message(); md != nil {
		writeTemplate(b, md, indent, seen)
		return
	}
	b.WriteString(scalarTemplate(fd))
}

func scalarTemplate(fd protoreflect.FieldDescriptor) string {
	switch fd.Kind() {
	case protoreflect.BoolKind:
		return "false"
	case protoreflect.StringKind:
		return `""`
	case protoreflect.BytesKind:
		return `""`
	case protoreflect.EnumKind:
		name, _ := json.Marshal(string(fd.Enum().Values().Get(0).Name()))
		return string(name)
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind,
		protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return `"0"`
	case protoreflect.FloatKind, protoreflect.DoubleKind:
		return "0.0"
	}
	return "0"
}

func wellKnownTemplate(md protoreflect.MessageDescriptor) (string, bool) {
	switch md.FullName() {
	case "google.protobuf.Timestamp":
		return `"1970-01-01T00:00:00Z"`, true
	case "google.protobuf.Duration":
		return `"0s"`, true
	case "google.protobuf.Struct":
		return "{}", true
	case "google.protobuf.Value":
		return "null", true
	case "google.protobuf.ListValue":
		return "[]", true
	case "google.protobuf.FieldMask":
		return `""`, true
	case "google.protobuf.Empty":
		return "{}", true
	case "google.protobuf.Any":
		return `{"@type": "type.googleapis.com/google.protobuf.Empty"}`, true
	case "google.protobuf.StringValue", "google.protobuf.BytesValue":
		return `""`, true
	case "google.protobuf.Int64Value", "google.protobuf.UInt64Value":
		return `"0"`, true
	case "google.protobuf.Int32Value", "google.protobuf.UInt32Value":
		return "0", true
	case "google.protobuf.FloatValue", "google.protobuf.DoubleValue":
		return "0.0", true
	case "google.protobuf.BoolValue":
		return "false", true
	}
	return "", false
}

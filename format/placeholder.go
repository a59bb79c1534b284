package format

import (
	"encoding/json"
	"sync"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/runtime/protoimpl"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"
)

// JSON has no form for an Any whose type the resolver does not know, and
// protojson refuses the whole message for it. grpcx prints such an Any as
// it prints an error detail of an unknown type,
//
//	{"@type": "type.googleapis.com/pkg.Msg", "@value": "<base64>", "@error": "..."}
//
// so that the rest of the message stays JSON, nothing is lost, and jq still
// reads the output. It does so through protojson itself: the message is
// copied with each such Any's value wrapped in a placeholder message whose
// fields are named @value and @error, and the copy is marshaled with a
// resolver that gives the placeholder type for those type URLs.

// unresolvedAnyError is what "@error" says.
const unresolvedAnyError = "type not known to the descriptor source; pass its .proto with --proto"

// placeholderType is the type of the placeholder message. Its fields are
// named @value and @error both as .proto names and as JSON names, so that
// --proto-names prints the same keys. Such names are not identifiers,
// which protodesc would refuse: the type is built the way generated code's
// are (protoimpl's builder), which takes a descriptor as given.
var placeholderType = sync.OnceValue(func() protoreflect.MessageType {
	field := func(name string, num int32, typ descriptorpb.FieldDescriptorProto_Type) *descriptorpb.FieldDescriptorProto {
		return &descriptorpb.FieldDescriptorProto{
			Name:     proto.String(name),
			JsonName: proto.String(name),
			Number:   proto.Int32(num),
			Label:    descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL.Enum(),
			Type:     typ.Enum(),
		}
	}
	fdp := &descriptorpb.FileDescriptorProto{
		Name:    proto.String("grpcx/format/placeholder.proto"),
		Package: proto.String("grpcx.format"),
		Syntax:  proto.String("proto3"),
		MessageType: []*descriptorpb.DescriptorProto{{
			Name: proto.String("UnresolvedAny"),
			Field: []*descriptorpb.FieldDescriptorProto{
				field("@value", 1, descriptorpb.FieldDescriptorProto_TYPE_BYTES),
				field("@error", 2, descriptorpb.FieldDescriptorProto_TYPE_STRING),
			},
		}},
	}
	raw, err := proto.Marshal(fdp)
	if err != nil {
		panic("format: placeholder descriptor: " + err.Error()) // a constant descriptor: cannot happen
	}
	fd := protoimpl.DescBuilder{RawDescriptor: raw, FileRegistry: new(protoregistry.Files)}.Build().File
	return dynamicpb.NewMessageType(fd.Messages().Get(0))
})

// placeholderResolver resolves the type URLs in unresolved to the
// placeholder type, and the rest through the real resolver.
type placeholderResolver struct {
	Resolver
	unresolved map[string]bool
}

func (r placeholderResolver) FindMessageByURL(url string) (protoreflect.MessageType, error) {
	if r.unresolved[url] {
		return placeholderType(), nil
	}
	return r.Resolver.FindMessageByURL(url)
}

// withPlaceholders returns a copy of m in which every Any, at any depth
// (inside the values of Anys that do resolve too), whose type res does not
// know holds a placeholder, with the type URLs so replaced; it returns nil
// when m holds no such Any.
func withPlaceholders(m proto.Message, res Resolver) (proto.Message, map[string]bool) {
	unresolved := map[string]bool{}
	c := proto.Clone(m)
	if !placehold(c.ProtoReflect(), res, unresolved) {
		return nil, nil
	}
	return c, unresolved
}

// placehold replaces, in place, the unresolvable Anys in m and reports
// whether it replaced any.
func placehold(m protoreflect.Message, res Resolver, unresolved map[string]bool) bool {
	if m.Descriptor().FullName() == "google.protobuf.Any" {
		return placeholdAny(m, res, unresolved)
	}
	changed := false
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.IsMap():
			if fd.MapValue().Message() != nil {
				v.Map().Range(func(_ protoreflect.MapKey, e protoreflect.Value) bool {
					changed = placehold(e.Message(), res, unresolved) || changed
					return true
				})
			}
		case fd.Message() == nil:
		case fd.IsList():
			list := v.List()
			for i := range list.Len() {
				changed = placehold(list.Get(i).Message(), res, unresolved) || changed
			}
		default:
			changed = placehold(v.Message(), res, unresolved) || changed
		}
		return true
	})
	return changed
}

func placeholdAny(m protoreflect.Message, res Resolver, unresolved map[string]bool) bool {
	fields := m.Descriptor().Fields()
	urlField, valueField := fields.ByNumber(1), fields.ByNumber(2)
	if urlField == nil || valueField == nil {
		return false
	}
	url := m.Get(urlField).String()
	value := m.Get(valueField).Bytes()
	if url == "" {
		return false // protojson's own error says what is wrong
	}
	mt, err := res.FindMessageByURL(url)
	if err != nil {
		ph := placeholderType().New()
		ph.Set(ph.Descriptor().Fields().ByNumber(1), protoreflect.ValueOfBytes(value))
		ph.Set(ph.Descriptor().Fields().ByNumber(2), protoreflect.ValueOfString(unresolvedAnyError))
		b, err := proto.Marshal(ph.Interface())
		if err != nil {
			return false
		}
		m.Set(valueField, protoreflect.ValueOfBytes(b))
		unresolved[url] = true
		return true
	}
	inner := mt.New()
	if err := (proto.UnmarshalOptions{AllowPartial: true, Resolver: res}).Unmarshal(value, inner.Interface()); err != nil {
		return false // protojson's own error says what is wrong
	}
	if !placehold(inner, res, unresolved) {
		return false
	}
	b, err := proto.MarshalOptions{AllowPartial: true, Deterministic: true}.Marshal(inner.Interface())
	if err != nil {
		return false
	}
	m.Set(valueField, protoreflect.ValueOfBytes(b))
	return true
}

// failedJSON is what stands for a message JSON cannot show even with
// placeholders (a Timestamp out of range, say): the error, and the message
// in protobuf text format, which shows everything.
func failedJSON(err error, text []byte) []byte {
	out, _ := json.Marshal(struct {
		Error string `json:"@error"`
		Text  string `json:"@text"`
	}{err.Error(), string(text)})
	return out
}

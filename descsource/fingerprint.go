package descsource

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Fingerprint identifies the wire and JSON shape of a message type: a hash
// of its definition and of every message and enum type reachable from its
// fields, with what their files decide for them (proto2 or proto3, an
// edition's features: presence, packing, delimited messages, closed
// enums). Two descriptors with the same fingerprint encode and print
// alike; comments and unrelated types in the same file do not count.
func Fingerprint(md protoreflect.MessageDescriptor) string {
	defs := map[protoreflect.FullName][]byte{}
	collectDefs(md, defs)
	names := make([]string, 0, len(defs))
	for n := range defs {
		names = append(names, string(n))
	}
	sort.Strings(names)
	h := sha256.New()
	for _, n := range names {
		h.Write([]byte(n))
		h.Write([]byte{0})
		h.Write(defs[protoreflect.FullName(n)])
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

func collectDefs(md protoreflect.MessageDescriptor, defs map[protoreflect.FullName][]byte) {
	if _, ok := defs[md.FullName()]; ok {
		return
	}
	dp := protodesc.ToDescriptorProto(md)
	// Nested declarations are reached through fields when they matter.
	dp.NestedType, dp.EnumType = nil, nil
	def := marshalDeterministic(dp)
	defs[md.FullName()] = def
	fields := md.Fields()
	for i := 0; i < fields.Len(); i++ {
		f := fields.Get(i)
		// What the file decides rather than the field's own declaration.
		def = fmt.Appendf(def, "\x00%d %v %v %v %v", f.Number(), f.Kind(), f.Cardinality(), f.HasPresence(), f.IsPacked())
		if f.Message() != nil {
			collectDefs(f.Message(), defs)
		}
		if e := f.Enum(); e != nil {
			if _, ok := defs[e.FullName()]; !ok {
				defs[e.FullName()] = fmt.Appendf(marshalDeterministic(protodesc.ToEnumDescriptorProto(e)), "\x00closed %v", e.IsClosed())
			}
		}
	}
	defs[md.FullName()] = def
}

func marshalDeterministic(m proto.Message) []byte {
	b, _ := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	return b
}

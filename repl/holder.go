package repl

import (
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/grpcx/grpcx/descsource"
)

// scalarHolder returns a message type with one field, v, of fd's kind (and
// enum type), so that a single answer can be parsed by protojson with the
// same rules and errors as JSON input.
func scalarHolder(fd protoreflect.FieldDescriptor) protoreflect.MessageType {
	field := &descriptorpb.FieldDescriptorProto{
		Name:     proto.String("v"),
		JsonName: proto.String("v"),
		Number:   proto.Int32(1),
		Label:    descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL.Enum(),
		Type:     descriptorpb.FieldDescriptorProto_Type(fd.Kind()).Enum(),
	}
	file := &descriptorpb.FileDescriptorProto{
		Name:        proto.String("grpcx-repl-holder.proto"),
		Syntax:      proto.String("proto3"),
		Package:     proto.String("grpcx.repl"),
		MessageType: []*descriptorpb.DescriptorProto{{Name: proto.String("Holder"), Field: []*descriptorpb.FieldDescriptorProto{field}}},
	}
	var deps protodesc.Resolver = new(protoregistry.Files)
	if ed := fd.Enum(); ed != nil {
		field.TypeName = proto.String("." + string(ed.FullName()))
		file.Dependency = []string{ed.ParentFile().Path()}
		if files, err := descsource.Collect(ed); err == nil {
			deps = files
		}
		if ed.ParentFile().Syntax() == protoreflect.Proto2 {
			file.Syntax = proto.String("proto2") // proto3 cannot hold a closed enum
		}
	}
	desc, err := protodesc.NewFile(file, deps)
	if err != nil {
		// Cannot happen for a well-formed field; fall back to a string.
		field.Type, field.TypeName, file.Dependency = descriptorpb.FieldDescriptorProto_TYPE_STRING.Enum(), nil, nil
		desc, _ = protodesc.NewFile(file, new(protoregistry.Files))
	}
	return dynamicpb.NewMessageType(desc.Messages().Get(0))
}

package gateway

import (
	"errors"
	"strings"
	"sync"

	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"
)

// lenientTypes resolves Any types that the schema does not know (a detail
// type the backend's reflection hides, say) as empty messages of that name,
// so that a JSON response or error shows the type's name instead of
// failing whole. Give the gateway the type's .proto to see its fields.
type lenientTypes struct {
	TypeResolver
	mu      sync.Mutex
	unknown map[string]protoreflect.MessageType
}

func (t *lenientTypes) FindMessageByURL(url string) (protoreflect.MessageType, error) {
	mt, err := t.TypeResolver.FindMessageByURL(url)
	if err == nil || !errors.Is(err, protoregistry.NotFound) {
		return mt, err
	}
	name := url
	if i := strings.LastIndexByte(url, '/'); i >= 0 {
		name = url[i+1:]
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if mt, ok := t.unknown[name]; ok {
		return mt, nil
	}
	if len(t.unknown) >= maxPlaceholders {
		return nil, err // clients may send any name: keep memory bounded
	}
	mt, perr := placeholderType(protoreflect.FullName(name))
	if perr != nil {
		return nil, err
	}
	if t.unknown == nil {
		t.unknown = map[string]protoreflect.MessageType{}
	}
	t.unknown[name] = mt
	return mt, nil
}

// placeholderType is an empty message type called name, in a file of its
// own that no registry holds.
func placeholderType(name protoreflect.FullName) (protoreflect.MessageType, error) {
	if !name.IsValid() {
		return nil, protoregistry.NotFound
	}
	pkg := string(name.Parent())
	fdp := &descriptorpb.FileDescriptorProto{
		Name:        strPtr(string(name) + ".unknown.proto"),
		Syntax:      strPtr("proto3"),
		MessageType: []*descriptorpb.DescriptorProto{{Name: strPtr(string(name.Name()))}},
	}
	if pkg != "" {
		fdp.Package = &pkg
	}
	fd, err := protodesc.NewFile(fdp, nil)
	if err != nil {
		return nil, err
	}
	return dynamicpb.NewMessageType(fd.Messages().Get(0)), nil
}

func strPtr(s string) *string { return &s }

// maxPlaceholders bounds the placeholder types kept for unknown names.
const maxPlaceholders = 1000

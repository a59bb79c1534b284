package descsource

import (
	"fmt"
	"strings"

	// Link the google.rpc error detail types so that status details decode
	// without a descriptor source.
	_ "google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// wellKnownTypes resolves only the google.protobuf and google.rpc types
// compiled into grpcx. The rest of the global registry is not offered: it
// holds whatever else the binary links (the bundled test server's types
// among them), which a user's server must describe for itself.
type wellKnownTypes struct{}

// WellKnownTypes returns a resolver for the well-known types
// (google.protobuf.*) and the standard error details (google.rpc.*).
func WellKnownTypes() TypeResolver { return wellKnownTypes{} }

func isWellKnown(name protoreflect.FullName) bool {
	return strings.HasPrefix(string(name), "google.protobuf.") || strings.HasPrefix(string(name), "google.rpc.")
}

func notWellKnown(name protoreflect.FullName) error {
	return fmt.Errorf("%s: %w", name, protoregistry.NotFound)
}

func (wellKnownTypes) FindMessageByName(name protoreflect.FullName) (protoreflect.MessageType, error) {
	if !isWellKnown(name) {
		return nil, notWellKnown(name)
	}
	return protoregistry.GlobalTypes.FindMessageByName(name)
}

func (w wellKnownTypes) FindMessageByURL(url string) (protoreflect.MessageType, error) {
	name := url
	if i := strings.LastIndexByte(url, '/'); i >= 0 {
		name = url[i+1:]
	}
	return w.FindMessageByName(protoreflect.FullName(name))
}

func (wellKnownTypes) FindExtensionByName(name protoreflect.FullName) (protoreflect.ExtensionType, error) {
	if !isWellKnown(name) {
		return nil, notWellKnown(name)
	}
	return protoregistry.GlobalTypes.FindExtensionByName(name)
}

func (wellKnownTypes) FindExtensionByNumber(msg protoreflect.FullName, n protoreflect.FieldNumber) (protoreflect.ExtensionType, error) {
	if !isWellKnown(msg) {
		return nil, notWellKnown(msg)
	}
	return protoregistry.GlobalTypes.FindExtensionByNumber(msg, n)
}

// TypesOf resolves what src knows together with the well-known and
// google.rpc types compiled into grpcx, which come first: they need no
// round trip (see [WellKnownTypes] for why nothing else of the global
// registry is offered).
// src may be nil.
func TypesOf(src Source) TypeResolver {
	if src == nil {
		return WellKnownTypes()
	}
	return ChainTypes(WellKnownTypes(), src.Types())
}

// Package descsource finds protobuf descriptors for grpcx: from a server's
// reflection service, from .proto files, from protoset files, or from a
// combination in which local files fill what reflection lacks.
//
// The cmd and repl packages pick a [Source] from the user's flags; format uses
// its [TypeResolver] to expand Any values and invoke uses the method
// descriptors it returns.
package descsource

import (
	"errors"
	"sort"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// ErrNotFound is wrapped by every error that reports a symbol a source does
// not know. Check it with errors.Is.
var ErrNotFound = errors.New("not found")

// ErrReflectionNotSupported is wrapped by errors from a server that does not
// implement the reflection service (neither v1 nor v1alpha).
var ErrReflectionNotSupported = errors.New("server does not support the reflection API")

// Source is where descriptors come from. Implementations are safe for
// concurrent use.
type Source interface {
	// ListServices returns the full names of every service the source knows,
	// sorted.
	ListServices() ([]protoreflect.FullName, error)
	// FindSymbol returns the descriptor of a service, method, message, enum,
	// enum value, field or extension by its full name. An unknown name gives
	// an error wrapping [ErrNotFound].
	FindSymbol(name protoreflect.FullName) (protoreflect.Descriptor, error)
	// Types resolves message types (for google.protobuf.Any) and extensions
	// known to the source, building dynamic types where needed.
	Types() TypeResolver
}

// TypeResolver finds message and extension types by name, URL or number. It
// is what protojson, prototext and proto.Unmarshal accept as a resolver.
type TypeResolver interface {
	protoregistry.MessageTypeResolver
	protoregistry.ExtensionTypeResolver
}

func sortNames(names []protoreflect.FullName) []protoreflect.FullName {
	sort.Slice(names, func(i, j int) bool { return names[i] < names[j] })
	return names
}

package descsource

import (
	"context"
	"errors"
	"fmt"

	"github.com/jhump/protoreflect/v2/grpcreflect"
	"github.com/jhump/protoreflect/v2/protoresolve"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// reflectionSource asks a server's reflection service, v1 or else v1alpha.
// Answers are cached for the life of the source by the underlying client.
type reflectionSource struct {
	client   *grpcreflect.Client
	resolver protoresolve.Resolver
}

var _ Source = (*reflectionSource)(nil)

// FromReflection returns a source that asks the server on cc. The context
// bounds every reflection request and carries their outgoing metadata. When
// fallback is not nil, descriptors the server cannot supply (a file it omits,
// an Any type it does not expose) are looked up there; services and symbols
// of fallback are also offered, so that local files complete reflection.
func FromReflection(ctx context.Context, cc grpc.ClientConnInterface, fallback Source) Source {
	var opts []grpcreflect.ClientOption
	if files := filesOf(fallback); len(files) > 0 {
		opts = append(opts, grpcreflect.WithFallbackResolvers(files, files.types()))
	}
	client := grpcreflect.NewClientAuto(ctx, cc, opts...)
	src := &reflectionSource{client: client, resolver: client.AsResolver()}
	if fallback == nil {
		return src
	}
	return &compositeSource{primary: src, fallback: fallback}
}

func (s *reflectionSource) ListServices() ([]protoreflect.FullName, error) {
	names, err := s.client.ListServices()
	if err != nil {
		return nil, reflectionError(err)
	}
	return sortNames(names), nil
}

func (s *reflectionSource) FindSymbol(name protoreflect.FullName) (protoreflect.Descriptor, error) {
	d, err := s.resolver.FindDescriptorByName(name)
	if err != nil {
		return nil, reflectionError(fmt.Errorf("symbol %q: %w", name, err))
	}
	return d, nil
}

func (s *reflectionSource) Types() TypeResolver { return s.resolver.AsTypeResolver() }

// reflectionError maps the reflection client's errors onto this package's
// sentinels, keeping the original text.
func reflectionError(err error) error {
	if grpcreflect.IsElementNotFoundError(err) || errors.Is(err, protoresolve.ErrNotFound) {
		return fmt.Errorf("%w (%w)", err, ErrNotFound)
	}
	if status.Code(err) == codes.Unimplemented {
		return fmt.Errorf("%w: %w", ErrReflectionNotSupported, err)
	}
	return err
}

// fileChain is the file sources of a fallback, for the reflection client to
// look up what the server leaves out: the first that has a file or a
// descriptor gives it.
type fileChain []*fileSource

// filesOf returns the file sources src is made of: itself, or those of a
// composite (--proto files with --protoset files); nil if src holds any
// other kind of source.
func filesOf(src Source) fileChain {
	switch s := src.(type) {
	case *fileSource:
		return fileChain{s}
	case *compositeSource:
		primary, fallback := filesOf(s.primary), filesOf(s.fallback)
		if primary == nil || fallback == nil {
			return nil
		}
		return append(primary, fallback...)
	}
	return nil
}

func (c fileChain) FindFileByPath(path string) (protoreflect.FileDescriptor, error) {
	for _, s := range c {
		if fd, err := s.files.FindFileByPath(path); err == nil {
			return fd, nil
		}
	}
	return nil, protoregistry.NotFound
}

func (c fileChain) FindDescriptorByName(name protoreflect.FullName) (protoreflect.Descriptor, error) {
	for _, s := range c {
		if d, err := s.files.FindDescriptorByName(name); err == nil {
			return d, nil
		}
	}
	return nil, protoregistry.NotFound
}

// types chains the sources' types, for the extensions the server leaves
// out.
func (c fileChain) types() TypeResolver {
	rs := make([]TypeResolver, len(c))
	for i, s := range c {
		rs[i] = s.types
	}
	return ChainTypes(rs...)
}

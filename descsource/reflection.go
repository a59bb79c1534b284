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
	if fs, ok := fallback.(*fileSource); ok {
		opts = append(opts, grpcreflect.WithFallbackResolvers(fs.resolver(), fs.types))
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

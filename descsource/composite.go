package descsource

import (
	"errors"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// compositeSource consults primary first and fallback for whatever primary
// lacks. A primary that cannot answer at all because the server has no
// reflection service leaves the whole job to fallback.
type compositeSource struct {
	primary, fallback Source
}

var _ Source = (*compositeSource)(nil)

// Composite returns a source that asks primary first and fallback for what
// primary does not know. Services of both are listed.
func Composite(primary, fallback Source) Source {
	return &compositeSource{primary: primary, fallback: fallback}
}

func (c *compositeSource) ListServices() ([]protoreflect.FullName, error) {
	names, err := c.primary.ListServices()
	if err != nil && !errors.Is(err, ErrReflectionNotSupported) {
		return nil, err
	}
	more, err := c.fallback.ListServices()
	if err != nil {
		return nil, err
	}
	seen := make(map[protoreflect.FullName]bool, len(names))
	for _, n := range names {
		seen[n] = true
	}
	for _, n := range more {
		if !seen[n] {
			names = append(names, n)
		}
	}
	return sortNames(names), nil
}

func (c *compositeSource) FindSymbol(name protoreflect.FullName) (protoreflect.Descriptor, error) {
	d, err := c.primary.FindSymbol(name)
	if err == nil {
		return d, nil
	}
	if !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrReflectionNotSupported) {
		return nil, err
	}
	d, ferr := c.fallback.FindSymbol(name)
	if ferr == nil {
		return d, nil
	}
	if errors.Is(err, ErrReflectionNotSupported) {
		// The files are all there is; their answer is the answer.
		return nil, ferr
	}
	return nil, err
}

func (c *compositeSource) Types() TypeResolver {
	return compositeTypes{c.primary.Types(), c.fallback.Types()}
}

// compositeTypes asks each resolver in order and returns the first answer.
type compositeTypes []TypeResolver

func (c compositeTypes) FindMessageByName(name protoreflect.FullName) (protoreflect.MessageType, error) {
	return first(c, func(r TypeResolver) (protoreflect.MessageType, error) { return r.FindMessageByName(name) })
}

func (c compositeTypes) FindMessageByURL(url string) (protoreflect.MessageType, error) {
	return first(c, func(r TypeResolver) (protoreflect.MessageType, error) { return r.FindMessageByURL(url) })
}

func (c compositeTypes) FindExtensionByName(name protoreflect.FullName) (protoreflect.ExtensionType, error) {
	return first(c, func(r TypeResolver) (protoreflect.ExtensionType, error) { return r.FindExtensionByName(name) })
}

func (c compositeTypes) FindExtensionByNumber(msg protoreflect.FullName, n protoreflect.FieldNumber) (protoreflect.ExtensionType, error) {
	return first(c, func(r TypeResolver) (protoreflect.ExtensionType, error) { return r.FindExtensionByNumber(msg, n) })
}

// first returns the first answer of rs, else the first error that says
// more than that a resolver does not know the name (a failed reflection
// request, say), else the first error.
func first[T any](rs []TypeResolver, find func(TypeResolver) (T, error)) (T, error) {
	var zero T
	err := error(protoregistry.NotFound)
	for _, r := range rs {
		v, ferr := find(r)
		if ferr == nil {
			return v, nil
		}
		if err == protoregistry.NotFound || (errors.Is(err, protoregistry.NotFound) && !errors.Is(ferr, protoregistry.NotFound)) {
			err = ferr
		}
	}
	return zero, err
}

// ChainTypes returns a resolver that asks each of rs in order. It is how
// callers put the compiled-in well-known and google.rpc types ahead of a
// server's reflection.
func ChainTypes(rs ...TypeResolver) TypeResolver { return compositeTypes(rs) }

package testserver

import (
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/grpcx/grpcx/testserver/hiddenpb"
)

// hidingResolver is the global registry minus the hidden files. The server
// links hiddenpb (it puts a Secret into error details and into Hidden's
// answer), so without this reflection would happily describe it, and tests
// could not show a client filling the gap from local files.
//
// Hiding works at the file level and relies on no visible file importing a
// hidden one: reflection sends a file's imports without asking the resolver.
type hidingResolver struct {
	files  *protoregistry.Files
	types  *protoregistry.Types
	hidden map[string]bool // file paths
}

func newHidingResolver() *hidingResolver {
	return &hidingResolver{
		files:  protoregistry.GlobalFiles,
		types:  protoregistry.GlobalTypes,
		hidden: map[string]bool{hiddenpb.File_grpcx_hidden_v1_hidden_proto.Path(): true},
	}
}

// FindFileByPath implements protodesc.Resolver.
func (r *hidingResolver) FindFileByPath(path string) (protoreflect.FileDescriptor, error) {
	if r.hidden[path] {
		return nil, protoregistry.NotFound
	}
	return r.files.FindFileByPath(path)
}

// FindDescriptorByName implements protodesc.Resolver.
func (r *hidingResolver) FindDescriptorByName(name protoreflect.FullName) (protoreflect.Descriptor, error) {
	d, err := r.files.FindDescriptorByName(name)
	if err != nil {
		return nil, err
	}
	if r.isHidden(d) {
		return nil, protoregistry.NotFound
	}
	return d, nil
}

// FindExtensionByName implements protoregistry.ExtensionTypeResolver.
func (r *hidingResolver) FindExtensionByName(field protoreflect.FullName) (protoreflect.ExtensionType, error) {
	xt, err := r.types.FindExtensionByName(field)
	return r.visibleExtension(xt, err)
}

// FindExtensionByNumber implements protoregistry.ExtensionTypeResolver.
func (r *hidingResolver) FindExtensionByNumber(message protoreflect.FullName, field protoreflect.FieldNumber) (protoreflect.ExtensionType, error) {
	xt, err := r.types.FindExtensionByNumber(message, field)
	return r.visibleExtension(xt, err)
}

// RangeExtensionsByMessage implements reflection.ExtensionResolver.
func (r *hidingResolver) RangeExtensionsByMessage(message protoreflect.FullName, f func(protoreflect.ExtensionType) bool) {
	r.types.RangeExtensionsByMessage(message, func(xt protoreflect.ExtensionType) bool {
		if r.isHidden(xt.TypeDescriptor()) {
			return true
		}
		return f(xt)
	})
}

func (r *hidingResolver) visibleExtension(xt protoreflect.ExtensionType, err error) (protoreflect.ExtensionType, error) {
	if err != nil {
		return nil, err
	}
	if r.isHidden(xt.TypeDescriptor()) {
		return nil, protoregistry.NotFound
	}
	return xt, nil
}

func (r *hidingResolver) isHidden(d protoreflect.Descriptor) bool {
	return r.hidden[d.ParentFile().Path()]
}

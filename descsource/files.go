package descsource

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/bufbuild/protocompile"
	"github.com/bufbuild/protocompile/reporter"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"

	// Registers two standard imports before protocompile's init would
	// build them: see the package doc.
	_ "github.com/grpcx/grpcx/descsource/internal/featurespb"
)

// fileSource serves descriptors from a fixed set of files, parsed from
// .proto sources or loaded from protosets.
type fileSource struct {
	files *protoregistry.Files
	types *dynamicpb.Types
}

var _ Source = (*fileSource)(nil)

// FromProtoFiles compiles .proto files. Each name is a path on disk; it is
// made relative to the first import path that contains it, so that imports
// between the files resolve as protoc would resolve them. With no import
// paths, the current directory is the import path. The well-known types
// (google/protobuf/*.proto) are always importable.
func FromProtoFiles(ctx context.Context, importPaths, fileNames []string) (Source, error) {
	if len(importPaths) == 0 {
		importPaths = []string{"."}
	}
	names := make([]string, len(fileNames))
	for i, f := range fileNames {
		name, err := relativeToImportPath(importPaths, f)
		if err != nil {
			return nil, err
		}
		names[i] = name
	}
	compiler := protocompile.Compiler{
		Resolver:       protocompile.WithStandardImports(&protocompile.SourceResolver{ImportPaths: importPaths}),
		SourceInfoMode: protocompile.SourceInfoStandard,
		Reporter:       reporter.NewReporter(nil, nil),
	}
	compiled, err := compiler.Compile(ctx, names...)
	if err != nil {
		return nil, fmt.Errorf("parse proto files: %w", err)
	}
	files := new(protoregistry.Files)
	for _, fd := range compiled {
		if err := registerWithDeps(files, fd); err != nil {
			return nil, err
		}
	}
	return newFileSource(files), nil
}

// CompileSources compiles .proto sources held in memory, by file path (a
// file may import any of the others, or a well-known file), and returns
// the named files' descriptors, in order.
func CompileSources(ctx context.Context, sources map[string]string, names []string) ([]protoreflect.FileDescriptor, error) {
	compiler := protocompile.Compiler{
		Resolver: protocompile.WithStandardImports(&protocompile.SourceResolver{Accessor: protocompile.SourceAccessorFromMap(sources)}),
		Reporter: reporter.NewReporter(nil, nil),
	}
	compiled, err := compiler.Compile(ctx, names...)
	if err != nil {
		return nil, err
	}
	out := make([]protoreflect.FileDescriptor, len(compiled))
	for i, fd := range compiled {
		out[i] = fd
	}
	return out, nil
}

// relativeToImportPath turns a file path given on the command line into the
// name the compiler knows it by.
func relativeToImportPath(importPaths []string, file string) (string, error) {
	abs, err := filepath.Abs(file)
	if err != nil {
		return "", err
	}
	for _, dir := range importPaths {
		absDir, err := filepath.Abs(dir)
		if err != nil {
			continue
		}
		rel, err := filepath.Rel(absDir, abs)
		if err == nil && filepath.IsLocal(rel) {
			return filepath.ToSlash(rel), nil
		}
	}
	// Not under any import path: it may already be a name relative to one,
	// which does not lead out of it.
	for _, dir := range importPaths {
		if _, err := os.Stat(filepath.Join(dir, file)); err == nil && filepath.IsLocal(file) {
			return filepath.ToSlash(file), nil
		}
	}
	return "", fmt.Errorf("proto file %q is not under any import path (%s); add its root directory with -I",
		file, strings.Join(importPaths, ", "))
}

// registerWithDeps adds fd and, first, the files it imports.
func registerWithDeps(files *protoregistry.Files, fd protoreflect.FileDescriptor) error {
	if _, err := files.FindFileByPath(fd.Path()); err == nil {
		return nil
	}
	imports := fd.Imports()
	for i := 0; i < imports.Len(); i++ {
		if err := registerWithDeps(files, imports.Get(i).FileDescriptor); err != nil {
			return err
		}
	}
	if err := files.RegisterFile(fd); err != nil {
		return fmt.Errorf("register %s: %w", fd.Path(), err)
	}
	return nil
}

// FromProtosets loads files holding serialized FileDescriptorSets, as written
// by protoc --descriptor_set_out (with --include_imports) or buf build.
func FromProtosets(paths []string) (Source, error) {
	set := new(descriptorpb.FileDescriptorSet)
	type first struct {
		file *descriptorpb.FileDescriptorProto
		from string
	}
	seen := map[string]first{}
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("load protoset: %w", err)
		}
		var one descriptorpb.FileDescriptorSet
		if err := proto.Unmarshal(data, &one); err != nil {
			return nil, fmt.Errorf("load protoset %q: not a serialized FileDescriptorSet: %w", p, err)
		}
		for _, f := range one.GetFile() {
			prev, dup := seen[f.GetName()]
			if !dup {
				seen[f.GetName()] = first{f, p}
				set.File = append(set.File, f)
				continue
			}
			// The same file in two protosets (their common imports) is
			// one file; two different files of one name cannot both be.
			if !sameFile(prev.file, f) {
				return nil, fmt.Errorf("load protosets: %s holds a file %s, and %s holds another file of that name; a name is one file: leave one of them out", prev.from, f.GetName(), p)
			}
		}
	}
	files, err := protodesc.NewFiles(set)
	if err != nil {
		hint := ""
		if strings.Contains(err.Error(), "could not resolve import") {
			hint = " (was it written with --include_imports?)"
		}
		return nil, fmt.Errorf("load protosets %s: %w%s", strings.Join(paths, ", "), err, hint)
	}
	return newFileSource(files), nil
}

// sameFile reports whether two FileDescriptorProtos describe the same file,
// whether or not either holds its source's comments and positions.
func sameFile(a, b *descriptorpb.FileDescriptorProto) bool {
	if a.SourceCodeInfo != nil || b.SourceCodeInfo != nil {
		a, b = proto.CloneOf(a), proto.CloneOf(b)
		a.SourceCodeInfo, b.SourceCodeInfo = nil, nil
	}
	return proto.Equal(a, b)
}

func newFileSource(files *protoregistry.Files) *fileSource {
	return &fileSource{files: files, types: dynamicpb.NewTypes(files)}
}

func (s *fileSource) ListServices() ([]protoreflect.FullName, error) {
	var names []protoreflect.FullName
	s.files.RangeFiles(func(fd protoreflect.FileDescriptor) bool {
		svcs := fd.Services()
		for i := 0; i < svcs.Len(); i++ {
			names = append(names, svcs.Get(i).FullName())
		}
		return true
	})
	return sortNames(names), nil
}

func (s *fileSource) FindSymbol(name protoreflect.FullName) (protoreflect.Descriptor, error) {
	d, err := s.files.FindDescriptorByName(name)
	if errors.Is(err, protoregistry.NotFound) {
		return nil, fmt.Errorf("symbol %q: %w", name, ErrNotFound)
	}
	return d, err
}

func (s *fileSource) Types() TypeResolver { return s.types }

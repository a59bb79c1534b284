package descsource_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/bufbuild/protocompile"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/grpcx/grpcx/descsource"
	"github.com/grpcx/grpcx/internal/testutil"
	"github.com/grpcx/grpcx/testserver"
	"github.com/grpcx/grpcx/testserver/testpb"
	"google.golang.org/grpc/reflection"
	reflectionv1 "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/types/descriptorpb"
)

// The test server's descriptor files, relative to this package.
const (
	protoDir     = "../testserver/proto"
	testProto    = protoDir + "/grpcx/test/v1/test.proto"
	hiddenProto  = protoDir + "/grpcx/hidden/v1/hidden.proto"
	protosetFile = protoDir + "/testserver.protoset"
)

const (
	testService = "grpcx.test.v1.TestService"
	secretName  = "grpcx.test.hidden.v1.Secret"
	secretURL   = "type.googleapis.com/" + secretName
)

func protoFiles(t *testing.T, files ...string) descsource.Source {
	t.Helper()
	src, err := descsource.FromProtoFiles(t.Context(), []string{protoDir}, files)
	if err != nil {
		t.Fatalf("FromProtoFiles(%q): %v", files, err)
	}
	return src
}

func protosets(t *testing.T) descsource.Source {
	t.Helper()
	src, err := descsource.FromProtosets([]string{protosetFile})
	if err != nil {
		t.Fatalf("FromProtosets: %v", err)
	}
	return src
}

// serverConn starts a test server and returns a connection to it.
func serverConn(t testing.TB, opts testserver.Options) *grpc.ClientConn {
	t.Helper()
	return testutil.Dial(t, testutil.StartServer(t, opts))
}

// noReflectionConn returns a connection to a server offering TestService
// and nothing else: no reflection service at all.
func noReflectionConn(t *testing.T) *grpc.ClientConn {
	t.Helper()
	s := grpc.NewServer()
	testpb.RegisterTestServiceServer(s, testserver.NewService())
	return testutil.Dial(t, testutil.Serve(t, "127.0.0.1:0", s))
}

// namedSource is one way of getting descriptors. hidden says whether it can
// resolve the types that the test server's reflection hides.
type namedSource struct {
	name   string
	src    descsource.Source
	hidden bool
}

// allSources returns every kind of source, all describing the test server.
func allSources(t *testing.T) []namedSource {
	t.Helper()
	ctx := t.Context()
	cc := serverConn(t, testserver.Options{})
	return []namedSource{
		{"reflection", descsource.FromReflection(ctx, cc, nil), false},
		{"reflection v1alpha only", descsource.FromReflection(ctx, serverConn(t, testserver.Options{OnlyV1Alpha: true}), nil), false},
		{"proto files", protoFiles(t, testProto, hiddenProto), true},
		{"protoset", protosets(t), true},
		{"reflection with proto file fallback", descsource.FromReflection(ctx, cc, protoFiles(t, hiddenProto)), true},
		{"reflection with protoset fallback", descsource.FromReflection(ctx, cc, protosets(t)), true},
		{"composite of reflection and proto files", descsource.Composite(descsource.FromReflection(ctx, cc, nil), protoFiles(t, hiddenProto)), true},
		{"composite of proto files and protoset", descsource.Composite(protoFiles(t, testProto), protosets(t)), true},
		{"no reflection on server, proto file fallback", descsource.FromReflection(ctx, noReflectionConn(t), protoFiles(t, testProto, hiddenProto)), true},
	}
}

func TestListServices(t *testing.T) {
	for _, s := range allSources(t) {
		t.Run(s.name, func(t *testing.T) {
			names, err := s.src.ListServices()
			if err != nil {
				t.Fatalf("ListServices: %v", err)
			}
			if !slices.Contains(names, testService) {
				t.Errorf("ListServices = %v, want it to contain %s", names, testService)
			}
			if !slices.IsSorted(names) {
				t.Errorf("ListServices = %v, not sorted", names)
			}
			if len(slices.Compact(slices.Clone(names))) != len(names) {
				t.Errorf("ListServices = %v, has duplicates", names)
			}
		})
	}
}

// TestListServicesReflection checks that reflection lists exactly the
// services registered on the server, whatever they are.
func TestListServicesReflection(t *testing.T) {
	server := testserver.NewServer(testserver.Options{})
	var want []protoreflect.FullName
	for name := range server.GetServiceInfo() {
		want = append(want, protoreflect.FullName(name))
	}
	slices.Sort(want)
	cc := testutil.Dial(t, testutil.Serve(t, "127.0.0.1:0", server))

	names, err := descsource.FromReflection(t.Context(), cc, nil).ListServices()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(names, want) {
		t.Errorf("ListServices =\n%v\nwant\n%v", names, want)
	}
	for _, name := range []protoreflect.FullName{"grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection", testService} {
		if !slices.Contains(names, name) {
			t.Errorf("ListServices does not list %s", name)
		}
	}
}

// symbolKind names the kind of descriptor, to compare with what was asked.
func symbolKind(d protoreflect.Descriptor) string {
	switch d := d.(type) {
	case protoreflect.ServiceDescriptor:
		return "service"
	case protoreflect.MethodDescriptor:
		return "method"
	case protoreflect.MessageDescriptor:
		return "message"
	case protoreflect.EnumDescriptor:
		return "enum"
	case protoreflect.EnumValueDescriptor:
		return "enum value"
	case protoreflect.FieldDescriptor:
		if d.IsExtension() {
			return "extension"
		}
		return "field"
	case protoreflect.OneofDescriptor:
		return "oneof"
	}
	return "other"
}

func TestFindSymbol(t *testing.T) {
	symbols := []struct {
		name protoreflect.FullName
		kind string
	}{
		{testService, "service"},
		{testService + ".Unary", "method"},
		{testService + ".Bidi", "method"},
		{"grpcx.test.v1.EchoRequest", "message"},
		{"grpcx.test.v1.AllTypes.Nested", "message"},
		{"grpcx.test.v1.Color", "enum"},
		{"grpcx.test.v1.COLOR_BLUE", "enum value"},
		{"grpcx.test.v1.EchoRequest.number", "field"},
		{"grpcx.test.v1.AllTypes.choice", "oneof"},
		{"google.protobuf.Duration", "message"},
	}
	unknown := []protoreflect.FullName{
		"grpcx.test.v1.NoSuchMessage",
		testService + ".NoSuchMethod",
		"grpcx.test.v1.EchoRequest.no_such_field",
		"no.such.pkg.Thing",
	}
	for _, s := range allSources(t) {
		t.Run(s.name, func(t *testing.T) {
			// The subtests share the source, which must be safe for
			// concurrent use; -race checks it.
			for _, sym := range symbols {
				t.Run(string(sym.name), func(t *testing.T) {
					t.Parallel()
					d, err := s.src.FindSymbol(sym.name)
					if err != nil {
						t.Fatalf("FindSymbol: %v", err)
					}
					if d.FullName() != sym.name || symbolKind(d) != sym.kind {
						t.Errorf("FindSymbol = %s %s, want %s %s", symbolKind(d), d.FullName(), sym.kind, sym.name)
					}
				})
			}
			for _, name := range unknown {
				t.Run(string(name), func(t *testing.T) {
					t.Parallel()
					d, err := s.src.FindSymbol(name)
					if !errors.Is(err, descsource.ErrNotFound) {
						t.Errorf("FindSymbol = %v, %v; want an error wrapping ErrNotFound", d, err)
					}
					if err != nil && !strings.Contains(err.Error(), string(name)) {
						t.Errorf("error %q does not name %s", err, name)
					}
				})
			}
		})
	}
}

// TestMethodDescriptors checks that what a source returns is complete enough
// to call a method: input and output types resolved, streaming flags right.
func TestMethodDescriptors(t *testing.T) {
	for _, s := range allSources(t) {
		t.Run(s.name, func(t *testing.T) {
			d, err := s.src.FindSymbol(testService)
			if err != nil {
				t.Fatal(err)
			}
			svc := d.(protoreflect.ServiceDescriptor)
			bidi := svc.Methods().ByName("Bidi")
			if bidi == nil || !bidi.IsStreamingClient() || !bidi.IsStreamingServer() {
				t.Fatalf("Bidi = %v, want a bidi-streaming method", bidi)
			}
			if bidi.Input().FullName() != "grpcx.test.v1.EchoRequest" || bidi.Output().Fields().ByName("index") == nil {
				t.Errorf("Bidi input %s, output fields %v", bidi.Input().FullName(), bidi.Output().Fields())
			}
			if svc.Methods().Len() != testpb.File_grpcx_test_v1_test_proto.Services().ByName("TestService").Methods().Len() {
				t.Errorf("TestService has %d methods", svc.Methods().Len())
			}
		})
	}
}

func TestTypes(t *testing.T) {
	for _, s := range allSources(t) {
		t.Run(s.name, func(t *testing.T) {
			mt, err := s.src.Types().FindMessageByName("grpcx.test.v1.EchoRequest")
			if err != nil {
				t.Fatalf("FindMessageByName: %v", err)
			}
			if f := mt.Descriptor().Fields().ByName("number"); f == nil || f.Kind() != protoreflect.Int32Kind {
				t.Errorf("EchoRequest.number = %v", f)
			}
			mt, err = s.src.Types().FindMessageByURL(secretURL)
			switch {
			case s.hidden && err != nil:
				t.Errorf("FindMessageByURL(%s): %v", secretURL, err)
			case s.hidden && mt.Descriptor().Fields().ByName("level") == nil:
				t.Errorf("%s has no field level", secretName)
			case !s.hidden && err == nil:
				t.Errorf("FindMessageByURL(%s) found the type reflection hides", secretURL)
			}
			_, err = s.src.FindSymbol(secretName)
			if s.hidden && err != nil {
				t.Errorf("FindSymbol(%s): %v", secretName, err)
			}
			if !s.hidden && !errors.Is(err, descsource.ErrNotFound) {
				t.Errorf("FindSymbol(%s) = %v, want ErrNotFound", secretName, err)
			}
		})
	}
}

func TestReflectionNotSupported(t *testing.T) {
	src := descsource.FromReflection(t.Context(), noReflectionConn(t), nil)
	if _, err := src.ListServices(); !errors.Is(err, descsource.ErrReflectionNotSupported) {
		t.Errorf("ListServices = %v, want an error wrapping ErrReflectionNotSupported", err)
	}
	if _, err := src.FindSymbol(testService); !errors.Is(err, descsource.ErrReflectionNotSupported) {
		t.Errorf("FindSymbol = %v, want an error wrapping ErrReflectionNotSupported", err)
	}
}

func TestReflectionContextEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	src := descsource.FromReflection(ctx, serverConn(t, testserver.Options{}), nil)
	cancel()
	if names, err := src.ListServices(); err == nil {
		t.Errorf("ListServices after the context ended = %v, want an error", names)
	}
}

func TestFromProtoFilesOutsideImportPaths(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "outside.proto")
	if err := os.WriteFile(file, []byte("syntax = \"proto3\";\npackage outside;\nmessage M {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := descsource.FromProtoFiles(t.Context(), []string{protoDir}, []string{file})
	if err == nil {
		t.Fatal("FromProtoFiles succeeded with a file outside the import paths")
	}
	for _, want := range []string{file, "not under any import path", protoDir, "-I"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	// Nor does a relative name that leads out of the import path.
	work := filepath.Join(dir, "work")
	if err := os.Mkdir(work, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := descsource.FromProtoFiles(t.Context(), []string{work}, []string{"../outside.proto"}); err == nil || !strings.Contains(err.Error(), "not under any import path") {
		t.Errorf("../outside.proto from an import path beside it: %v", err)
	}
	// With its directory as an import path the same file loads.
	src, err := descsource.FromProtoFiles(t.Context(), []string{protoDir, dir}, []string{file})
	if err != nil {
		t.Fatalf("with -I %s: %v", dir, err)
	}
	if _, err := src.FindSymbol("outside.M"); err != nil {
		t.Error(err)
	}
}

func TestFromProtoFilesNames(t *testing.T) {
	tests := []struct {
		name        string
		importPaths []string
		files       []string
	}{
		{"path on disk", []string{protoDir}, []string{testProto}},
		{"name relative to the import path", []string{protoDir}, []string{"grpcx/test/v1/test.proto"}},
		{"absolute import path", []string{absPath(t, protoDir)}, []string{testProto}},
		{"second import path", []string{t.TempDir(), protoDir}, []string{testProto}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src, err := descsource.FromProtoFiles(t.Context(), tt.importPaths, tt.files)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := src.FindSymbol(testService); err != nil {
				t.Error(err)
			}
		})
	}
}

func absPath(t *testing.T, p string) string {
	t.Helper()
	abs, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return abs
}

func TestFromProtoFilesErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name string
		file string
		want string
	}{
		{"syntax error", write("bad.proto", "syntax = \"proto3\";\nmessage {\n"), "bad.proto:2"},
		{"missing import", write("imp.proto", "syntax = \"proto3\";\nimport \"nope/missing.proto\";\n"), "nope/missing.proto"},
		{"missing file", filepath.Join(dir, "absent.proto"), "absent.proto"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := descsource.FromProtoFiles(t.Context(), []string{dir}, []string{tt.file})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("FromProtoFiles = %v, want an error mentioning %q", err, tt.want)
			}
		})
	}
}

func TestFromProtosetsErrors(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.protoset")
	if err := os.WriteFile(garbage, []byte("this is not a protoset"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, file, want string
	}{
		{"missing", filepath.Join(dir, "absent.protoset"), "absent.protoset"},
		{"not a FileDescriptorSet", garbage, "not a serialized FileDescriptorSet"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := descsource.FromProtosets([]string{tt.file})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("FromProtosets = %v, want an error mentioning %q", err, tt.want)
			}
		})
	}
}

// TestFromProtosetsSameName: two protosets may share files (their common
// imports), but two different files of one name are an error, not one of
// them dropped; a name conflict gets no hint about --include_imports.
func TestFromProtosetsSameName(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, files ...*descriptorpb.FileDescriptorProto) string {
		b, err := proto.Marshal(&descriptorpb.FileDescriptorSet{File: files})
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	s := func(v string) *string { return &v }
	file := func(name, msg string) *descriptorpb.FileDescriptorProto {
		return &descriptorpb.FileDescriptorProto{Name: s(name), Package: s("a"), MessageType: []*descriptorpb.DescriptorProto{{Name: s(msg)}}}
	}
	one := write("one.protoset", file("a.proto", "One"))
	again := write("again.protoset", file("a.proto", "One"), file("b.proto", "Two"))
	other := write("other.protoset", file("a.proto", "Other"))
	clash := write("clash.protoset", file("c.proto", "One"))
	if src, err := descsource.FromProtosets([]string{one, again}); err != nil {
		t.Errorf("protosets sharing a file: %v", err)
	} else if _, err := src.FindSymbol("a.Two"); err != nil {
		t.Errorf("a.Two: %v", err)
	}
	if _, err := descsource.FromProtosets([]string{one, other}); err == nil || !strings.Contains(err.Error(), "another file of that name") {
		t.Errorf("two different a.proto: %v", err)
	}
	if _, err := descsource.FromProtosets([]string{one, clash}); err == nil || strings.Contains(err.Error(), "--include_imports") {
		t.Errorf("a name conflict: %v, want an error without the --include_imports hint", err)
	}
}

func TestWellKnownTypes(t *testing.T) {
	t.Parallel()
	res := descsource.WellKnownTypes()
	for _, url := range []string{"type.googleapis.com/google.protobuf.Duration", "type.googleapis.com/google.rpc.ErrorInfo", "google.rpc.BadRequest"} {
		if _, err := res.FindMessageByURL(url); err != nil {
			t.Errorf("FindMessageByURL(%s): %v", url, err)
		}
	}
	// The test types are linked into this binary, but they are the server's
	// to describe, not grpcx's.
	if _, err := res.FindMessageByName("grpcx.test.v1.EchoRequest"); err == nil {
		t.Error("WellKnownTypes resolves grpcx.test.v1.EchoRequest")
	}
}

func TestChainTypes(t *testing.T) {
	t.Parallel()
	chain := descsource.ChainTypes(descsource.WellKnownTypes(), protosets(t).Types())
	for _, name := range []protoreflect.FullName{"google.rpc.ErrorInfo", secretName} {
		if _, err := chain.FindMessageByName(name); err != nil {
			t.Errorf("FindMessageByName(%s): %v", name, err)
		}
	}
	if _, err := chain.FindMessageByName("no.such.Type"); err == nil {
		t.Error("FindMessageByName(no.such.Type) succeeded")
	}
}

// failingTypes is a resolver whose every lookup fails for another reason
// than not knowing the name, as reflection does when the server is gone.
type failingTypes struct{ descsource.TypeResolver }

var errResolverDown = errors.New("reflection: connection refused")

func (failingTypes) FindMessageByName(protoreflect.FullName) (protoreflect.MessageType, error) {
	return nil, errResolverDown
}

// TestChainTypesKeepsTheReason: a name that no resolver gives back is
// reported with a failure's reason, not with the first resolver's "not
// found".
func TestChainTypesKeepsTheReason(t *testing.T) {
	t.Parallel()
	chain := descsource.ChainTypes(descsource.WellKnownTypes(), failingTypes{})
	if _, err := chain.FindMessageByName("some.Type"); !errors.Is(err, errResolverDown) {
		t.Errorf("FindMessageByName = %v, want the failing resolver's error", err)
	}
	chain = descsource.ChainTypes(descsource.WellKnownTypes(), descsource.WellKnownTypes())
	if _, err := chain.FindMessageByName("some.Type"); !errors.Is(err, protoregistry.NotFound) {
		t.Errorf("FindMessageByName = %v, want NotFound", err)
	}
}

// TestFromProtoFilesNameStartingWithDots checks that a directory whose name
// merely starts with ".." (like "..v1") counts as inside the import path:
// only ".." itself leads out of it.
func TestFromProtoFilesNameStartingWithDots(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "..v1", "dots.proto")
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, []byte("syntax = \"proto3\";\npackage dots;\nmessage M {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	src, err := descsource.FromProtoFiles(t.Context(), []string{dir}, []string{file})
	if err != nil {
		t.Fatalf("FromProtoFiles(-I %s, %s): %v", dir, file, err)
	}
	if _, err := src.FindSymbol("dots.M"); err != nil {
		t.Error(err)
	}
}

// TestStandardFeatureFilesCompiledIn checks that protocompile offers the
// compiled-in cpp_features.proto and java_features.proto rather than
// building its own at start-up (which relies on featurespb being
// initialised first), and that a file importing them still compiles.
func TestStandardFeatureFilesCompiledIn(t *testing.T) {
	std := protocompile.WithStandardImports(&protocompile.SourceResolver{})
	for _, name := range []string{"google/protobuf/cpp_features.proto", "google/protobuf/java_features.proto"} {
		res, err := std.FindFileByPath(name)
		if err != nil {
			t.Fatal(err)
		}
		global, err := protoregistry.GlobalFiles.FindFileByPath(name)
		if err != nil {
			t.Fatalf("%s is not registered: %v", name, err)
		}
		if res.Desc != global {
			t.Errorf("protocompile built its own %s at start-up instead of taking the registered one", name)
		}
	}
	dir := t.TempDir()
	src := `edition = "2023";
import "google/protobuf/cpp_features.proto";
package feat.v1;
message M { string s = 1 [features.(pb.cpp).string_type = VIEW]; }
`
	if err := os.WriteFile(filepath.Join(dir, "feat.proto"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := descsource.FromProtoFiles(t.Context(), []string{dir}, []string{filepath.Join(dir, "feat.proto")}); err != nil {
		t.Errorf("a file using a C++ feature: %v", err)
	}
}

// TestReflectionFallsBackOnEveryFile: a server whose reflection leaves out
// a file its service's file imports is completed by local files, whether
// they are .proto files, protosets or both.
func TestReflectionFallsBackOnEveryFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	dep := `syntax = "proto3"; package m; message Req { string s = 1; }`
	if err := os.WriteFile(filepath.Join(dir, "dep.proto"), []byte(dep), 0o644); err != nil {
		t.Fatal(err)
	}
	s := func(v string) *string { return &v }
	svc, err := protodesc.FileOptions{AllowUnresolvable: true}.New(&descriptorpb.FileDescriptorProto{
		Name: s("svc.proto"), Package: s("m"), Syntax: s("proto3"), Dependency: []string{"dep.proto"},
		Service: []*descriptorpb.ServiceDescriptorProto{{Name: s("S"), Method: []*descriptorpb.MethodDescriptorProto{
			{Name: s("M"), InputType: s(".m.Req"), OutputType: s(".m.Req")}}}},
	}, new(protoregistry.Files))
	if err != nil {
		t.Fatal(err)
	}
	files := new(protoregistry.Files)
	if err := files.RegisterFile(svc); err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	srv.RegisterService(&grpc.ServiceDesc{ServiceName: "m.S", HandlerType: (*any)(nil)}, struct{}{})
	reflectionv1.RegisterServerReflectionServer(srv, reflection.NewServerV1(reflection.ServerOptions{Services: srv, DescriptorResolver: files}))
	cc := testutil.Dial(t, testutil.Serve(t, "127.0.0.1:0", srv))
	depFiles, err := descsource.FromProtoFiles(t.Context(), []string{dir}, []string{filepath.Join(dir, "dep.proto")})
	if err != nil {
		t.Fatal(err)
	}
	// Without the files, the error says that something is missing (the
	// reflection client does not say what), not that there is no m.S.
	_, err = descsource.FindMethod(descsource.FromReflection(t.Context(), cc, nil), "m.S/M")
	if err == nil || !strings.Contains(err.Error(), "the server lists m.S, but not all of its descriptors") || !strings.Contains(err.Error(), "--proto") {
		t.Errorf("without the files: %v", err)
	}
	for name, fallback := range map[string]descsource.Source{
		"proto file":              depFiles,
		"proto file and protoset": descsource.Composite(depFiles, protosets(t)),
	} {
		src := descsource.FromReflection(t.Context(), cc, fallback)
		m, err := descsource.FindMethod(src, "m.S/M")
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if m.Input().IsPlaceholder() || m.Input().Fields().Len() != 1 {
			t.Errorf("%s: input %v, want m.Req from dep.proto", name, m.Input())
		}
	}
}

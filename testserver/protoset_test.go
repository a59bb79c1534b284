package testserver_test

import (
	"os"
	"testing"

	"github.com/bufbuild/protocompile"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"

	"github.com/grpcx/grpcx/testserver/hiddenpb"
	"github.com/grpcx/grpcx/testserver/testpb"
)

const protosetPath = "proto/testserver.protoset"

func readProtoset(t *testing.T) *descriptorpb.FileDescriptorSet {
	t.Helper()
	b, err := os.ReadFile(protosetPath)
	if err != nil {
		t.Fatal(err)
	}
	var set descriptorpb.FileDescriptorSet
	if err := proto.Unmarshal(b, &set); err != nil {
		t.Fatalf("parse %s: %v", protosetPath, err)
	}
	return &set
}

func TestProtosetIsComplete(t *testing.T) {
	// NewFiles fails on a missing dependency, so this also checks that the
	// set is self-contained.
	files, err := protodesc.NewFiles(readProtoset(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []protoreflect.FullName{"grpcx.test.v1.TestService", "grpcx.test.v1.AuthService", "grpcx.test.hidden.v1.Secret"} {
		if _, err := files.FindDescriptorByName(name); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	fd, err := files.FindFileByPath("grpcx/test/v1/test.proto")
	if err != nil {
		t.Fatal(err)
	}
	svc := fd.Services().ByName("TestService")
	if c := fd.SourceLocations().ByDescriptor(svc).LeadingComments; c == "" {
		t.Error("TestService has no comments: the protoset lacks source info")
	}
}

// TestGeneratedFilesAreFresh catches a .proto edited without rerunning
// "go generate": the protoset must match the sources, and the generated Go
// code must match the protoset (which carries source info, Go code does not).
func TestGeneratedFilesAreFresh(t *testing.T) {
	set := readProtoset(t)
	compiled := compileProtos(t)
	inSet := map[string]*descriptorpb.FileDescriptorProto{}
	for _, f := range set.GetFile() {
		inSet[f.GetName()] = f
	}
	for _, fd := range []protoreflect.FileDescriptor{testpb.File_grpcx_test_v1_test_proto, hiddenpb.File_grpcx_hidden_v1_hidden_proto} {
		got := inSet[fd.Path()]
		if want := compiled[fd.Path()]; !proto.Equal(got, want) {
			t.Errorf("%s: protoset is stale; run go generate ./testserver", fd.Path())
		}
		stripped := proto.Clone(got).(*descriptorpb.FileDescriptorProto)
		stripped.SourceCodeInfo = nil
		if !proto.Equal(stripped, protodesc.ToFileDescriptorProto(fd)) {
			t.Errorf("%s: generated Go code is stale; run go generate ./testserver", fd.Path())
		}
	}
}

func compileProtos(t *testing.T) map[string]*descriptorpb.FileDescriptorProto {
	t.Helper()
	c := protocompile.Compiler{
		Resolver:       protocompile.WithStandardImports(&protocompile.SourceResolver{ImportPaths: []string{"proto"}}),
		SourceInfoMode: protocompile.SourceInfoStandard,
	}
	files, err := c.Compile(t.Context(), "grpcx/test/v1/test.proto", "grpcx/hidden/v1/hidden.proto")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*descriptorpb.FileDescriptorProto{}
	for _, f := range files {
		// Through the wire format, so that options set with extensions Go's
		// registry knows (google.api.http) hold its types, as in a parsed
		// protoset, rather than the compiler's dynamic ones, which
		// proto.Equal never finds equal to them.
		b, err := proto.Marshal(protodesc.ToFileDescriptorProto(f))
		if err != nil {
			t.Fatal(err)
		}
		var fd descriptorpb.FileDescriptorProto
		if err := proto.Unmarshal(b, &fd); err != nil {
			t.Fatal(err)
		}
		out[f.Path()] = &fd
	}
	return out
}

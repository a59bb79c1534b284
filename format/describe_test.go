package format_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"

	"github.com/grpcx/grpcx/descsource"
	"github.com/grpcx/grpcx/format"
)

// fileNamed builds an empty proto3 file with the given path, as a server's
// reflection could send it.
func fileNamed(t *testing.T, path string) protoreflect.FileDescriptor {
	t.Helper()
	fd, err := protodesc.NewFile(&descriptorpb.FileDescriptorProto{
		Name:        proto.String(path),
		Package:     proto.String("evil"),
		Syntax:      proto.String("proto3"),
		MessageType: []*descriptorpb.DescriptorProto{{Name: proto.String("M")}},
	}, new(protoregistry.Files))
	if err != nil {
		t.Fatal(err)
	}
	return fd
}

// TestWriteProtoFilesStaysInDir: file names come from the server, and none
// may put a file outside the directory, whether by "..", an absolute path
// or a symbolic link already in the directory; a refused name means nothing
// is written.
func TestWriteProtoFilesStaysInDir(t *testing.T) {
	base := t.TempDir()
	out := filepath.Join(base, "out")
	outside := filepath.Join(base, "outside")
	if err := os.MkdirAll(outside, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"../escaped.proto", "a/../../escaped.proto", filepath.Join(outside, "abs.proto")} {
		err := format.WriteProtoFiles(out, []protoreflect.FileDescriptor{fileNamed(t, "ok/first.proto"), fileNamed(t, name)})
		if err == nil || !strings.Contains(err.Error(), "outside") {
			t.Errorf("%s: error %v, want a refusal", name, err)
		}
	}
	linked := filepath.Join(base, "linked")
	if err := os.MkdirAll(linked, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(linked, "link")); err != nil {
		t.Fatal(err)
	}
	if err := format.WriteProtoFiles(linked, []protoreflect.FileDescriptor{fileNamed(t, "link/through.proto")}); err == nil {
		t.Error("writing through a symbolic link out of the directory succeeded")
	}
	var found []string
	filepath.WalkDir(base, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && d.Type()&os.ModeSymlink == 0 {
			found = append(found, p)
		}
		return nil
	})
	if len(found) > 0 {
		t.Errorf("files written: %v, want none", found)
	}

	// A well-named file set is written at its own paths.
	if err := format.WriteProtoFiles(out, []protoreflect.FileDescriptor{fileNamed(t, "a/b/good.proto")}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(out, "a", "b", "good.proto"))
	if err != nil || !strings.Contains(string(b), "message M") {
		t.Errorf("good.proto: %q, %v", b, err)
	}
}

// compileFiles compiles .proto sources held in memory.
func compileFiles(t *testing.T, sources map[string]string, names ...string) []protoreflect.FileDescriptor {
	t.Helper()
	fds, err := descsource.CompileSources(t.Context(), sources, names)
	if err != nil {
		t.Fatal(err)
	}
	return fds
}

// TestProtoSourceKeepsItsTypes: .proto source grpcx shows or writes
// compiles back to the same types, even where protoprint's short names
// would resolve to others: a nested type shadowing a package-level one,
// and a package named like the start of another (from package a.google,
// google.protobuf.Empty would mean a.google.protobuf.Empty).
func TestProtoSourceKeepsItsTypes(t *testing.T) {
	sources := map[string]string{
		"shadow.proto": `syntax = "proto3";
package shadow.v1;
message Status { int32 code = 1; }
message X {
  message Status { string s = 1; }
  .shadow.v1.Status top = 1;
  Status inner = 2;
}`,
		"prefix.proto": `syntax = "proto3";
package a.google;
import "google/protobuf/empty.proto";
message A { message B {} }
message C {
  message A {}
  .google.protobuf.Empty e = 1;
  .a.google.A.B b = 2;
}
service S { rpc M(.google.protobuf.Empty) returns (C); }`,
		"plain.proto": `syntax = "proto3";
package plain.v1;
message Outer { message Inner {} Inner inner = 1; }`,
	}
	for _, name := range []string{"shadow.proto", "prefix.proto", "plain.proto"} {
		fd := compileFiles(t, sources, name)[0]
		dir := t.TempDir()
		files := descsource.FileClosure(fd)
		if err := format.WriteProtoFiles(dir, files); err != nil {
			t.Fatal(err)
		}
		written := map[string]string{}
		for _, f := range files {
			b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(f.Path())))
			if err != nil {
				t.Fatal(err)
			}
			written[f.Path()] = string(b)
		}
		again, err := descsource.CompileSources(t.Context(), written, []string{name})
		if err != nil {
			t.Errorf("%s as written does not compile: %v\n%s", name, err, written[name])
			continue
		}
		if got, want := fieldTypes(again[0]), fieldTypes(fd); got != want {
			t.Errorf("%s as written has types\n%s\nwant\n%s\nsource:\n%s", name, got, want, written[name])
		}
	}
	// describe shows names that mean the same types too.
	for name, wrong := range map[string]string{"shadow.proto": "  Status top = 1;", "prefix.proto": "  google.protobuf.Empty e = 1;"} {
		md := compileFiles(t, sources, name)[0].Messages().Get(1)
		text, err := format.Describe(md)
		if err != nil || strings.Contains(text, wrong) {
			t.Errorf("describe %s: %v\n%s\nwant no %q, which means another type", md.FullName(), err, text, wrong)
		}
	}
	// Where short names are right, they are used.
	if b, err := format.Describe(compileFiles(t, sources, "plain.proto")[0].Messages().Get(0)); err != nil || !strings.Contains(b, "  Inner inner = 1;") {
		t.Errorf("plain.proto: %q, %v; want the short name", b, err)
	}
}

// fieldTypes lists every field of fd's messages, at any depth, with its
// type's full name.
func fieldTypes(fd protoreflect.FileDescriptor) string {
	var b strings.Builder
	var walk func(protoreflect.MessageDescriptors)
	walk = func(msgs protoreflect.MessageDescriptors) {
		for i := range msgs.Len() {
			m := msgs.Get(i)
			for j := range m.Fields().Len() {
				f := m.Fields().Get(j)
				typ := f.Kind().String()
				if f.Message() != nil {
					typ = string(f.Message().FullName())
				}
				b.WriteString(string(f.FullName()) + " " + typ + "\n")
			}
			walk(m.Messages())
		}
	}
	walk(fd.Messages())
	for i := range fd.Services().Len() {
		for j := range fd.Services().Get(i).Methods().Len() {
			m := fd.Services().Get(i).Methods().Get(j)
			b.WriteString(string(m.FullName()) + " " + string(m.Input().FullName()) + " " + string(m.Output().FullName()) + "\n")
		}
	}
	return b.String()
}

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

package format

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"

	"github.com/grpcx/grpcx/descsource"
)

// Describe renders a descriptor as .proto source under a line naming it and
// what it is: "pkg.Msg is a message:".
func Describe(d protoreflect.Descriptor) (string, error) {
	printer := printerFor(descsource.FileClosure(d), true)
	text, err := printer.PrintProtoToString(d)
	if err != nil {
		return "", fmt.Errorf("print %s: %w", d.FullName(), err)
	}
	if !strings.HasSuffix(text, "\n") {
		text += "\n"
	}
	return fmt.Sprintf("%s is %s:\n%s", d.FullName(), withArticle(descsource.KindName(d)), text), nil
}

// withArticle puts "a" or "an" before a noun.
func withArticle(noun string) string {
	if strings.ContainsRune("aeiou", rune(noun[0])) {
		return "an " + noun
	}
	return "a " + noun
}

// WriteTemplates writes the [Template] of each message, or of each
// method's request, one after another: together they are a stream of
// requests. Any other kind of descriptor is an error, found before
// anything is written.
func WriteTemplates(w io.Writer, ds []protoreflect.Descriptor) error {
	mds := make([]protoreflect.MessageDescriptor, len(ds))
	for i, d := range ds {
		switch d := d.(type) {
		case protoreflect.MessageDescriptor:
			mds[i] = d
		case protoreflect.MethodDescriptor:
			mds[i] = d.Input()
		default:
			return fmt.Errorf("%s is %s, not a message or method: there is no template of it", d.FullName(), withArticle(descsource.KindName(d)))
		}
	}
	var out strings.Builder
	for _, md := range mds {
		out.WriteString(Template(md))
		out.WriteByte('\n')
	}
	_, err := io.WriteString(w, out.String())
	return err
}

// WriteDescriptions writes each descriptor as [Describe] renders it, an
// empty line between them.
func WriteDescriptions(w io.Writer, ds []protoreflect.Descriptor) error {
	var out strings.Builder
	for i, d := range ds {
		text, err := Describe(d)
		if err != nil {
			return err
		}
		if i > 0 {
			out.WriteByte('\n')
		}
		out.WriteString(text)
	}
	_, err := io.WriteString(w, out.String())
	return err
}

// WriteNames writes full names, one a line.
func WriteNames(w io.Writer, names []protoreflect.FullName) error {
	var b strings.Builder
	for _, n := range names {
		b.WriteString(string(n))
		b.WriteByte('\n')
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteProtoset writes files as a serialized FileDescriptorSet, in the
// order given (imports first, as protoc writes them).
func WriteProtoset(w io.Writer, files []protoreflect.FileDescriptor) error {
	set := &descriptorpb.FileDescriptorSet{}
	for _, fd := range files {
		set.File = append(set.File, protodesc.ToFileDescriptorProto(fd))
	}
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(set)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// WriteProtoFiles writes each of files as .proto source under dir, at its
// own path (grpcx/test/v1/test.proto under dir/grpcx/test/v1). The paths
// come from the server: one that would leave dir (an absolute path, "..")
// is refused before anything is written, and the files are created through
// an os.Root, which also refuses a symbolic link out of dir.
func WriteProtoFiles(dir string, files []protoreflect.FileDescriptor) error {
	for _, fd := range files {
		if !filepath.IsLocal(filepath.FromSlash(fd.Path())) || strings.Contains(fd.Path(), `\`) {
			return fmt.Errorf("the file %q would be written outside %s; nothing was written", fd.Path(), dir)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	printer := printerFor(files, false)
	for _, fd := range files {
		name := filepath.FromSlash(fd.Path())
		if sub := filepath.Dir(name); sub != "." {
			if err := root.MkdirAll(sub, 0o755); err != nil {
				return err
			}
		}
		f, err := root.Create(name)
		if err != nil {
			return err
		}
		if err := printer.PrintProtoFile(fd, f); err != nil {
			f.Close()
			return fmt.Errorf("%s: %w", fd.Path(), err)
		}
		if err := f.Close(); err != nil {
			return err
		}
	}
	return nil
}

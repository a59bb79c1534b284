package cmd

import (
	"fmt"
	"os"

	"github.com/spf13/pflag"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/grpcx/grpcx/descsource"
	"github.com/grpcx/grpcx/format"
)

// exportOptions write the descriptors list or describe showed, with every
// file they import, for use without the server: the schema of a server
// with no .proto at hand, as reflection gave it.
type exportOptions struct {
	ProtosetOut string
	ProtoOutDir string
}

func (o *exportOptions) addFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.ProtosetOut, "protoset-out", "", "also write what is shown, with every file it imports, to `FILE` as a protoset (for --protoset, protoc, buf)")
	fs.StringVar(&o.ProtoOutDir, "proto-out-dir", "", "also write what is shown, with every file it imports, as .proto source files under `DIR`")
}

func (o *exportOptions) wanted() bool { return o.ProtosetOut != "" || o.ProtoOutDir != "" }

// write writes the files of ds and their imports where the flags say.
func (o *exportOptions) write(ds []protoreflect.Descriptor) error {
	files := descsource.FileClosure(ds...)
	if o.ProtosetOut != "" {
		if err := writeProtoset(o.ProtosetOut, files); err != nil {
			return fmt.Errorf("--protoset-out: %w", err)
		}
	}
	if o.ProtoOutDir != "" {
		if err := format.WriteProtoFiles(o.ProtoOutDir, files); err != nil {
			return fmt.Errorf("--proto-out-dir: %w", err)
		}
	}
	return nil
}

func writeProtoset(path string, files []protoreflect.FileDescriptor) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := format.WriteProtoset(f, files); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

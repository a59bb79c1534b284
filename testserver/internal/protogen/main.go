// Command protogen regenerates the Go code and the protoset of the grpcx test
// server without protoc. It compiles the .proto files under proto/ with
// protocompile, hands the result to protoc-gen-go and protoc-gen-go-grpc as a
// plugin request (run with "go run module/path@version", so nothing needs to be
// installed), and writes their output next to it.
//
// It is run by "go generate" in the testserver directory:
//
//	//go:generate go run ./internal/protogen
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"

	"github.com/bufbuild/protocompile"
	"github.com/bufbuild/protocompile/linker"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/pluginpb"
)

// protoFiles are the files we own; their dependencies are only described,
// never generated, because the well-known types already have Go packages.
var protoFiles = []string{
	"grpcx/test/v1/test.proto",
	"grpcx/hidden/v1/hidden.proto",
}

const (
	// goModule is the import path prefix stripped from go_package, so that
	// output lands under -out whatever the go_package options say.
	goModule = "github.com/grpcx/grpcx/testserver"
	// grpcPlugin is pinned because it is not a requirement of our module;
	// the generated code needs grpc >= 1.64 (SupportPackageIsVersion9).
	grpcPlugin = "google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.2"
)

func main() {
	protoDir := flag.String("proto", "proto", "directory holding the .proto files (the import path)")
	outDir := flag.String("out", ".", "directory matching the Go import path "+goModule)
	protoset := flag.String("protoset", "proto/testserver.protoset", "protoset file to write")
	flag.Parse()
	if err := run(context.Background(), *protoDir, *outDir, *protoset); err != nil {
		fmt.Fprintln(os.Stderr, "protogen:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, protoDir, outDir, protosetPath string) error {
	files, err := compile(ctx, protoDir)
	if err != nil {
		return err
	}
	all := withDependencies(files)
	if err := writeProtoset(protosetPath, all); err != nil {
		return err
	}
	goPlugin, err := protocGenGo()
	if err != nil {
		return err
	}
	req := &pluginpb.CodeGeneratorRequest{
		FileToGenerate: protoFiles,
		Parameter:      proto.String("module=" + goModule),
		ProtoFile:      all,
	}
	for _, plugin := range []string{goPlugin, grpcPlugin} {
		if err := runPlugin(ctx, plugin, req, outDir); err != nil {
			return err
		}
	}
	return nil
}

// compile parses and links protoFiles, keeping comments for the generated code.
func compile(ctx context.Context, protoDir string) (linker.Files, error) {
	c := protocompile.Compiler{
		Resolver: protocompile.WithStandardImports(&protocompile.SourceResolver{
			ImportPaths: []string{protoDir},
		}),
		SourceInfoMode: protocompile.SourceInfoStandard,
	}
	files, err := c.Compile(ctx, protoFiles...)
	if err != nil {
		return nil, fmt.Errorf("compile: %w", err)
	}
	return files, nil
}

// withDependencies lists the files and everything they import, each after its
// imports, which is the order protoc uses and plugins rely on.
func withDependencies(files linker.Files) []*descriptorpb.FileDescriptorProto {
	var out []*descriptorpb.FileDescriptorProto
	seen := map[string]bool{}
	var visit func(fd protoreflect.FileDescriptor)
	visit = func(fd protoreflect.FileDescriptor) {
		if seen[fd.Path()] {
			return
		}
		seen[fd.Path()] = true
		for i := 0; i < fd.Imports().Len(); i++ {
			visit(fd.Imports().Get(i).FileDescriptor)
		}
		out = append(out, protodesc.ToFileDescriptorProto(fd))
	}
	for _, f := range files {
		visit(f)
	}
	return out
}

func writeProtoset(path string, files []*descriptorpb.FileDescriptorProto) error {
	// Deterministic so that regenerating an unchanged tree changes no bytes.
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(&descriptorpb.FileDescriptorSet{File: files})
	if err != nil {
		return fmt.Errorf("marshal protoset: %w", err)
	}
	return os.WriteFile(path, b, 0o644)
}

// protocGenGo names protoc-gen-go at the protobuf version this module builds
// with, so the generated code always matches the runtime it links against.
func protocGenGo() (string, error) {
	const mod = "google.golang.org/protobuf"
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "", errors.New("no build info to find the protobuf version")
	}
	for _, dep := range info.Deps {
		if dep.Path == mod {
			return mod + "/cmd/protoc-gen-go@" + dep.Version, nil
		}
	}
	return "", fmt.Errorf("%s is not a dependency", mod)
}

// runPlugin runs one protoc plugin with "go run" and writes the files it returns.
func runPlugin(ctx context.Context, plugin string, req *pluginpb.CodeGeneratorRequest, outDir string) error {
	in, err := proto.Marshal(req)
	if err != nil {
		return fmt.Errorf("marshal request: %w", err)
	}
	var stdout bytes.Buffer
	cmd := exec.CommandContext(ctx, "go", "run", plugin)
	cmd.Stdin = bytes.NewReader(in)
	cmd.Stdout = &stdout
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("run %s: %w", plugin, err)
	}
	var resp pluginpb.CodeGeneratorResponse
	if err := proto.Unmarshal(stdout.Bytes(), &resp); err != nil {
		return fmt.Errorf("%s: parse response: %w", plugin, err)
	}
	if resp.Error != nil {
		return fmt.Errorf("%s: %s", plugin, resp.GetError())
	}
	return writeFiles(outDir, resp.File)
}

func writeFiles(outDir string, files []*pluginpb.CodeGeneratorResponse_File) error {
	for _, f := range files {
		// Insertion points are a protoc feature neither plugin uses.
		if f.GetInsertionPoint() != "" {
			return fmt.Errorf("%s: insertion points are not supported", f.GetName())
		}
		path := filepath.Join(outDir, filepath.FromSlash(f.GetName()))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(path, []byte(f.GetContent()), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// Command gen writes package featurespb: it takes the descriptors of
// google/protobuf/cpp_features.proto and java_features.proto from
// protocompile (which embeds them) and runs protoc-gen-go on them as a
// plugin (internal/protoplugin), at the protobuf version this module builds
// with, so nothing needs to be installed. Run it with go generate in the
// package directory.
package main

import (
	"context"
	"fmt"
	"os"
	"path"
	"strings"

	"github.com/bufbuild/protocompile"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/pluginpb"

	"github.com/grpcx/grpcx/internal/protoplugin"
)

const goPackage = "github.com/grpcx/grpcx/descsource/internal/featurespb"

var files = []string{
	"google/protobuf/cpp_features.proto",
	"google/protobuf/java_features.proto",
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func run() error {
	std := protocompile.WithStandardImports(&protocompile.SourceResolver{})
	// Both import descriptor.proto, which a plugin request must hold too.
	protos := []*descriptorpb.FileDescriptorProto{protodesc.ToFileDescriptorProto(descriptorpb.File_google_protobuf_descriptor_proto)}
	var params []string
	for _, name := range files {
		res, err := std.FindFileByPath(name)
		if err != nil || res.Desc == nil {
			return fmt.Errorf("protocompile has no %s: %v", name, err)
		}
		protos = append(protos, protodesc.ToFileDescriptorProto(res.Desc))
		params = append(params, "M"+name+"="+goPackage)
	}
	params = append(params, "paths=source_relative")
	req := &pluginpb.CodeGeneratorRequest{
		FileToGenerate: files,
		Parameter:      proto.String(strings.Join(params, ",")),
		ProtoFile:      protos,
	}
	plugin, err := protoplugin.ProtocGenGo()
	if err != nil {
		return err
	}
	resp, err := protoplugin.Run(context.Background(), plugin, req)
	if err != nil {
		return err
	}
	for _, f := range resp.GetFile() {
		if err := os.WriteFile(path.Base(f.GetName()), []byte(f.GetContent()), 0o644); err != nil {
			return err
		}
	}
	return nil
}

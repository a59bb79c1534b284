// Package protoplugin runs protoc plugins without protoc, for grpcx's code
// generators (testserver/internal/protogen and
// descsource/internal/featurespb/gen): a plugin is run with "go run
// module/path@version", so nothing needs to be installed.
package protoplugin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime/debug"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/pluginpb"
)

// ProtocGenGo names protoc-gen-go at the protobuf version the calling
// program was built with, so the generated code matches the runtime it
// links against.
func ProtocGenGo() (string, error) {
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

// Run runs plugin (a "go run" argument) on req and returns its response;
// a response carrying an error is returned as one. The plugin's standard
// error goes to the program's.
func Run(ctx context.Context, plugin string, req *pluginpb.CodeGeneratorRequest) (*pluginpb.CodeGeneratorResponse, error) {
	in, err := proto.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("marshal request: %w", err)
	}
	var stdout bytes.Buffer
	cmd := exec.CommandContext(ctx, "go", "run", plugin)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = bytes.NewReader(in), &stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("run %s: %w", plugin, err)
	}
	resp := new(pluginpb.CodeGeneratorResponse)
	if err := proto.Unmarshal(stdout.Bytes(), resp); err != nil {
		return nil, fmt.Errorf("%s: parse response: %w", plugin, err)
	}
	if resp.Error != nil {
		return nil, fmt.Errorf("%s: %s", plugin, resp.GetError())
	}
	return resp, nil
}

package descsource

import (
	"context"
	"fmt"
	"slices"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	reflectionv1 "google.golang.org/grpc/reflection/grpc_reflection_v1"
	reflectionv1alpha "google.golang.org/grpc/reflection/grpc_reflection_v1alpha"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
)

// FetchFileBytes asks the reflection service on cc, v1 or else v1alpha,
// for the file declaring symbol and the files it imports, and returns them
// as the server sent them, each a serialized FileDescriptorProto, without
// the well-known files (see [IsWellKnownFile]) and without decoding them:
// a caller that only compares them with files it already has (see
// [Entry.Holds]) pays for one round trip and nothing else. ctx carries the
// reflection metadata.
func FetchFileBytes(ctx context.Context, cc grpc.ClientConnInterface, symbol protoreflect.FullName) ([][]byte, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // ends the reflection stream
	raw, err := fetchV1(ctx, cc, symbol)
	// As the reflection client does: some servers end the stream of a
	// service they do not know with no status at all, which reads as
	// Unavailable (grpcurl issue 434).
	if c := status.Code(err); c == codes.Unimplemented || (c == codes.Unavailable && ctx.Err() == nil) {
		raw, err = fetchV1Alpha(ctx, cc, symbol)
	}
	if err != nil {
		return nil, reflectionError(err)
	}
	// grpcx has the well-known files compiled in: leave them out.
	return slices.DeleteFunc(raw, func(b []byte) bool { return IsWellKnownFile(fileName(b)) }), nil
}

// DecodeFiles decodes serialized FileDescriptorProtos into a set, in order.
func DecodeFiles(raw [][]byte) (*descriptorpb.FileDescriptorSet, error) {
	set := new(descriptorpb.FileDescriptorSet)
	for _, b := range raw {
		fdp := new(descriptorpb.FileDescriptorProto)
		if err := proto.Unmarshal(b, fdp); err != nil {
			return nil, fmt.Errorf("reflection sent a malformed file descriptor: %w", err)
		}
		set.File = append(set.File, fdp)
	}
	return set, nil
}

func fetchV1(ctx context.Context, cc grpc.ClientConnInterface, symbol protoreflect.FullName) ([][]byte, error) {
	stream, err := reflectionv1.NewServerReflectionClient(cc).ServerReflectionInfo(ctx)
	if err != nil {
		return nil, err
	}
	req := &reflectionv1.ServerReflectionRequest{MessageRequest: &reflectionv1.ServerReflectionRequest_FileContainingSymbol{FileContainingSymbol: string(symbol)}}
	if err := stream.Send(req); err != nil {
		_, err = stream.Recv() // the stream's status says why
		return nil, err
	}
	resp, err := stream.Recv()
	if err != nil {
		return nil, err
	}
	if e := resp.GetErrorResponse(); e != nil {
		return nil, status.Error(codes.Code(e.GetErrorCode()), e.GetErrorMessage())
	}
	return resp.GetFileDescriptorResponse().GetFileDescriptorProto(), nil
}

func fetchV1Alpha(ctx context.Context, cc grpc.ClientConnInterface, symbol protoreflect.FullName) ([][]byte, error) {
	stream, err := reflectionv1alpha.NewServerReflectionClient(cc).ServerReflectionInfo(ctx)
	if err != nil {
		return nil, err
	}
	req := &reflectionv1alpha.ServerReflectionRequest{MessageRequest: &reflectionv1alpha.ServerReflectionRequest_FileContainingSymbol{FileContainingSymbol: string(symbol)}}
	if err := stream.Send(req); err != nil {
		_, err = stream.Recv()
		return nil, err
	}
	resp, err := stream.Recv()
	if err != nil {
		return nil, err
	}
	if e := resp.GetErrorResponse(); e != nil {
		return nil, status.Error(codes.Code(e.GetErrorCode()), e.GetErrorMessage())
	}
	return resp.GetFileDescriptorResponse().GetFileDescriptorProto(), nil
}

// fileName reads the name (field 1) of a serialized FileDescriptorProto
// without decoding the rest.
func fileName(b []byte) string {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return ""
		}
		b = b[n:]
		if num == 1 && typ == protowire.BytesType {
			v, m := protowire.ConsumeBytes(b)
			if m < 0 {
				return ""
			}
			return string(v)
		}
		m := protowire.ConsumeFieldValue(num, typ, b)
		if m < 0 {
			return ""
		}
		b = b[m:]
	}
	return ""
}

package descsource

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/known/emptypb"
)

// FetchFileBytes asks the reflection service on cc, v1 or else v1alpha,
// for the file declaring symbol and the files it imports, and returns them
// as the server sent them, each a serialized FileDescriptorProto, without
// the well-known files (see [IsWellKnownFile]) and without decoding them:
// a caller that only compares them with files it already has (see
// [Entry.Holds]) pays for one round trip and nothing else. ctx carries the
// reflection metadata.
//
// It speaks the protocol in wire form (see [fetchRaw]) rather than through
// the generated reflection types: setting those types up takes a one-shot
// call about a third of a millisecond, for one request field and two
// response fields.
func FetchFileBytes(ctx context.Context, cc grpc.ClientConnInterface, symbol protoreflect.FullName) ([][]byte, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // ends the reflection stream
	raw, err := fetchRaw(ctx, cc, reflectionV1, symbol)
	// As the reflection client does: some servers end the stream of a
	// service they do not know with no status at all, which reads as
	// Unavailable (grpcurl issue 434).
	if c := status.Code(err); c == codes.Unimplemented || (c == codes.Unavailable && ctx.Err() == nil) {
		raw, err = fetchRaw(ctx, cc, reflectionV1Alpha, symbol)
	}
	if err != nil {
		return nil, reflectionError(err)
	}
	// grpcx has the well-known files compiled in: leave them out.
	return slices.DeleteFunc(raw, func(b []byte) bool { return IsWellKnownFile(fileName(b)) }), nil
}

// The reflection services' one method, v1 and v1alpha. Their messages are
// the same on the wire.
const (
	reflectionV1      = "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"
	reflectionV1Alpha = "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"
	reflectionStream  = "ServerReflectionInfo"
)

// Field numbers of the reflection messages that fetchRaw reads and writes.
const (
	requestFileContainingSymbol = 4    // ServerReflectionRequest.file_containing_symbol
	responseFileDescriptors     = 4    // ServerReflectionResponse.file_descriptor_response
	responseError               = 7    // ServerReflectionResponse.error_response
	fileDescriptorProtos        = 1    // FileDescriptorResponse.file_descriptor_proto
	errorCode, errorMessage     = 1, 2 // ErrorResponse's fields
)

// fetchRaw makes one file_containing_symbol request on the reflection
// method and returns the files of the answer. The messages go as the
// unknown fields of an Empty, which any codec and transport carry byte for
// byte.
func fetchRaw(ctx context.Context, cc grpc.ClientConnInterface, method string, symbol protoreflect.FullName) ([][]byte, error) {
	desc := &grpc.StreamDesc{StreamName: reflectionStream, ServerStreams: true, ClientStreams: true}
	stream, err := cc.NewStream(ctx, desc, method)
	if err != nil {
		return nil, err
	}
	req := new(emptypb.Empty)
	b := protowire.AppendTag(nil, requestFileContainingSymbol, protowire.BytesType)
	req.ProtoReflect().SetUnknown(protowire.AppendString(b, string(symbol)))
	if err := stream.SendMsg(req); err != nil {
		err = stream.RecvMsg(new(emptypb.Empty)) // the stream's status says why
		return nil, err
	}
	resp := new(emptypb.Empty)
	if err := stream.RecvMsg(resp); err != nil {
		return nil, err
	}
	return parseFileResponse(resp.ProtoReflect().GetUnknown())
}

// parseFileResponse reads a serialized ServerReflectionResponse: the files
// of its file_descriptor_response, or its error_response as an error. As
// the generated type decodes it, the answer is the last member of its
// message_response oneof that is present, a member present more than once
// is merged, and any other field is skipped; an answer of another member
// (or none) holds no files. Bytes that are no message are an Internal
// error.
func parseFileResponse(b []byte) ([][]byte, error) {
	var (
		last  protowire.Number // the oneof member seen last, 0 for none
		files [][]byte
		code  uint64
		msg   string
	)
	err := rangeFields(b, func(num protowire.Number, typ protowire.Type, v []byte) error {
		if typ != protowire.BytesType || !responseMembers[num] {
			return nil
		}
		if num != last {
			last, files, code, msg = num, nil, 0, ""
		}
		switch num {
		case responseFileDescriptors:
			return rangeFields(v, func(num protowire.Number, typ protowire.Type, v []byte) error {
				if num == fileDescriptorProtos && typ == protowire.BytesType {
					files = append(files, v)
				}
				return nil
			})
		case responseError:
			return rangeFields(v, func(num protowire.Number, typ protowire.Type, v []byte) error {
				switch {
				case num == errorCode && typ == protowire.VarintType:
					code, _ = protowire.ConsumeVarint(v)
				case num == errorMessage && typ == protowire.BytesType:
					msg = string(v)
				}
				return nil
			})
		}
		return nil
	})
	switch {
	case err != nil:
		return nil, status.Errorf(codes.Internal, "reflection sent a malformed answer: %v", err)
	case last == responseError:
		return nil, status.Error(codes.Code(int32(code)), msg)
	case last == responseFileDescriptors:
		return files, nil
	}
	return nil, nil
}

// responseMembers are the field numbers of ServerReflectionResponse's
// message_response oneof: file_descriptor_response (4),
// all_extension_numbers_response (5), list_services_response (6) and
// error_response (7).
var responseMembers = map[protowire.Number]bool{4: true, 5: true, 6: true, 7: true}

// rangeFields calls f with each field of the serialized message b: its
// number, its wire type, and its value (for a varint, its encoding; for
// bytes, the contents without the length).
func rangeFields(b []byte, f func(protowire.Number, protowire.Type, []byte) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		m := protowire.ConsumeFieldValue(num, typ, b)
		if m < 0 {
			return protowire.ParseError(m)
		}
		v := b[:m]
		if typ == protowire.BytesType {
			v, _ = protowire.ConsumeBytes(v)
		}
		if err := f(num, typ, v); err != nil {
			return err
		}
		b = b[m:]
	}
	return nil
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

// fileName reads the name (field 1) of a serialized FileDescriptorProto
// without decoding the rest; it is "" when the bytes end before one.
func fileName(b []byte) string {
	var name string
	_ = rangeFields(b, func(num protowire.Number, typ protowire.Type, v []byte) error {
		if num == 1 && typ == protowire.BytesType {
			name = string(v)
			return errStop
		}
		return nil
	})
	return name
}

// errStop ends a [rangeFields] early.
var errStop = errors.New("stop")

package descsource_test

import (
	"bytes"
	"slices"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	reflectionv1 "google.golang.org/grpc/reflection/grpc_reflection_v1"
	reflectionv1alpha "google.golang.org/grpc/reflection/grpc_reflection_v1alpha"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/grpcx/grpcx/descsource"
	"github.com/grpcx/grpcx/internal/testutil"
	"github.com/grpcx/grpcx/testserver"
)

// TestFetchFileBytesAsGeneratedClient: FetchFileBytes, which speaks
// reflection in wire form, gets the files that the generated reflection
// types get, over v1 and over v1alpha (whose messages are v1's on the
// wire, so v1's types ask both).
func TestFetchFileBytesAsGeneratedClient(t *testing.T) {
	t.Parallel()
	const symbol = "grpcx.test.v1.TestService"
	for _, tt := range []struct {
		alpha  bool
		method string
	}{
		{false, reflectionv1.ServerReflection_ServerReflectionInfo_FullMethodName},
		{true, reflectionv1alpha.ServerReflection_ServerReflectionInfo_FullMethodName},
	} {
		cc := serverConn(t, testserver.Options{OnlyV1Alpha: tt.alpha})
		stream, err := cc.NewStream(t.Context(), &grpc.StreamDesc{ServerStreams: true, ClientStreams: true}, tt.method)
		if err != nil {
			t.Fatal(err)
		}
		req := &reflectionv1.ServerReflectionRequest{MessageRequest: &reflectionv1.ServerReflectionRequest_FileContainingSymbol{FileContainingSymbol: symbol}}
		if err := stream.SendMsg(req); err != nil {
			t.Fatal(err)
		}
		resp := new(reflectionv1.ServerReflectionResponse)
		if err := stream.RecvMsg(resp); err != nil {
			t.Fatal(err)
		}
		want := slices.DeleteFunc(resp.GetFileDescriptorResponse().GetFileDescriptorProto(), func(b []byte) bool {
			set, err := descsource.DecodeFiles([][]byte{b})
			return err == nil && descsource.IsWellKnownFile(set.GetFile()[0].GetName())
		})
		got, err := descsource.FetchFileBytes(t.Context(), cc, symbol)
		if err != nil {
			t.Fatalf("v1alpha only %v: %v", tt.alpha, err)
		}
		if len(want) == 0 || !slices.EqualFunc(got, want, bytes.Equal) {
			t.Errorf("v1alpha only %v: FetchFileBytes got %d files, the generated types %d (or they differ)", tt.alpha, len(got), len(want))
		}
	}
}

// TestFetchFileBytesErrorResponse: the server's error_response is the
// error, with its code and message.
func TestFetchFileBytesErrorResponse(t *testing.T) {
	t.Parallel()
	_, err := descsource.FetchFileBytes(t.Context(), serverConn(t, testserver.Options{}), "no.such.Service")
	if s, _ := status.FromError(err); s.Code() != codes.NotFound || s.Message() == "" {
		t.Errorf("err = %v; want NotFound with the server's message", err)
	}
}

// TestFetchFileBytesAnswers feeds FetchFileBytes answers that the test
// server does not give: malformed ones, and ones holding several members
// of the response's oneof, or one member in parts, which are read as the
// generated type decodes them: the last member is the answer, and the
// parts of one are merged.
func TestFetchFileBytesAnswers(t *testing.T) {
	t.Parallel()
	files := func(names ...string) []byte {
		var list []byte
		for _, n := range names {
			list = protowire.AppendTag(list, 1, protowire.BytesType)
			list = protowire.AppendString(list, n)
		}
		b := protowire.AppendTag(nil, 4, protowire.BytesType)
		return protowire.AppendBytes(b, list)
	}
	failure := func(code codes.Code, msg string) []byte {
		var e []byte
		e = protowire.AppendTag(e, 1, protowire.VarintType)
		e = protowire.AppendVarint(e, uint64(code))
		e = protowire.AppendTag(e, 2, protowire.BytesType)
		e = protowire.AppendString(e, msg)
		b := protowire.AppendTag(nil, 7, protowire.BytesType)
		return protowire.AppendBytes(b, e)
	}
	validHost := protowire.AppendString(protowire.AppendTag(nil, 1, protowire.BytesType), "host")
	listServices := protowire.AppendBytes(protowire.AppendTag(nil, 6, protowire.BytesType), nil)
	codeOnly := protowire.AppendBytes(protowire.AppendTag(nil, 7, protowire.BytesType),
		protowire.AppendVarint(protowire.AppendTag(nil, 1, protowire.VarintType), uint64(codes.NotFound)))
	messageOnly := protowire.AppendBytes(protowire.AppendTag(nil, 7, protowire.BytesType),
		protowire.AppendString(protowire.AppendTag(nil, 2, protowire.BytesType), "x"))
	for _, tt := range []struct {
		name   string
		answer []byte
		files  int
		code   codes.Code
	}{
		{"files", slices.Concat(validHost, files("a", "b")), 2, codes.OK},
		{"error then files", slices.Concat(failure(codes.NotFound, "x"), files("a")), 1, codes.OK},
		{"files then error", slices.Concat(files("a"), failure(codes.NotFound, "x")), 0, codes.NotFound},
		{"files then another member", slices.Concat(files("a"), listServices), 0, codes.OK},
		{"files in two parts", slices.Concat(files("a"), files("b")), 2, codes.OK},
		{"an error in two parts", slices.Concat(codeOnly, messageOnly), 0, codes.NotFound},
		{"truncated", files("a")[:3], 0, codes.Internal},
		{"bad tag", []byte{0xff}, 0, codes.Internal},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// The table agrees with the generated type.
			gen := new(reflectionv1.ServerReflectionResponse)
			if err := proto.Unmarshal(tt.answer, gen); err == nil {
				code := codes.OK
				if e := gen.GetErrorResponse(); e != nil {
					code = codes.Code(e.GetErrorCode())
				}
				if n := len(gen.GetFileDescriptorResponse().GetFileDescriptorProto()); n != tt.files || code != tt.code {
					t.Fatalf("the generated type reads %d files, code %v; the table says %d, %v", n, code, tt.files, tt.code)
				}
			} else if tt.code != codes.Internal {
				t.Fatalf("the generated type cannot read the answer (%v); the table says %v", err, tt.code)
			}
			cc := fakeReflection(t, func(_ []byte, stream grpc.ServerStream) error {
				answer := new(emptypb.Empty)
				answer.ProtoReflect().SetUnknown(tt.answer)
				return stream.SendMsg(answer)
			})
			got, err := descsource.FetchFileBytes(t.Context(), cc, "a.B")
			if len(got) != tt.files || status.Code(err) != tt.code {
				t.Errorf("FetchFileBytes = %d files, %v; want %d files, code %v", len(got), err, tt.files, tt.code)
			}
		})
	}
}

// TestFetchFileBytesRequest: the request FetchFileBytes sends is the
// generated type's file_containing_symbol request, byte for byte.
func TestFetchFileBytesRequest(t *testing.T) {
	t.Parallel()
	got := make(chan []byte, 1)
	cc := fakeReflection(t, func(request []byte, _ grpc.ServerStream) error {
		got <- request
		return status.Error(codes.Unavailable, "enough")
	})
	_, _ = descsource.FetchFileBytes(t.Context(), cc, "pkg.Service")
	want, err := proto.Marshal(&reflectionv1.ServerReflectionRequest{MessageRequest: &reflectionv1.ServerReflectionRequest_FileContainingSymbol{FileContainingSymbol: "pkg.Service"}})
	if err != nil {
		t.Fatal(err)
	}
	if b := <-got; !bytes.Equal(b, want) {
		t.Errorf("request %x; want %x", b, want)
	}
}

// fakeReflection serves a v1 reflection service whose stream reads one
// request, in wire form, and hands it to answer, and returns a connection
// to it.
func fakeReflection(t *testing.T, answer func(request []byte, stream grpc.ServerStream) error) grpc.ClientConnInterface {
	t.Helper()
	s := grpc.NewServer()
	s.RegisterService(&grpc.ServiceDesc{
		ServiceName: "grpc.reflection.v1.ServerReflection",
		HandlerType: (*any)(nil),
		Streams: []grpc.StreamDesc{{StreamName: "ServerReflectionInfo", ServerStreams: true, ClientStreams: true,
			Handler: func(_ any, stream grpc.ServerStream) error {
				req := new(emptypb.Empty)
				if err := stream.RecvMsg(req); err != nil {
					return err
				}
				return answer(req.ProtoReflect().GetUnknown(), stream)
			}}},
	}, struct{}{})
	return testutil.Dial(t, testutil.Serve(t, "127.0.0.1:0", s))
}

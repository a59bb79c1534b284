package invoke

import (
	"context"
	"io"
	"net"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/grpcx/grpcx/testserver"
	"github.com/grpcx/grpcx/testserver/testpb"
)

// countingHandler counts responses and does nothing else, so the benchmark
// measures the engine and the transport.
type countingHandler struct{ n int }

func (h *countingHandler) OnSendHeaders(metadata.MD)                     {}
func (h *countingHandler) OnReceiveHeaders(metadata.MD)                  {}
func (h *countingHandler) OnReceiveResponse(proto.Message)               { h.n++ }
func (h *countingHandler) OnReceiveTrailers(*status.Status, metadata.MD) {}

func bufconnClient(b *testing.B) *grpc.ClientConn {
	b.Helper()
	lis := bufconn.Listen(1 << 20)
	s := testserver.NewServer(testserver.Options{})
	go s.Serve(lis)
	b.Cleanup(s.Stop)
	cc, err := grpc.NewClient("passthrough:///bufconn",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cc.Close() })
	return cc
}

func method(name string) protoreflect.MethodDescriptor {
	return testpb.File_grpcx_test_v1_test_proto.Services().ByName("TestService").Methods().ByName(protoreflect.Name(name))
}

// BenchmarkServerStream receives b.N messages of one server stream over an
// in-process connection: the cost per received message.
func BenchmarkServerStream(b *testing.B) {
	cc := bufconnClient(b)
	m := method("ServerStream")
	req := dynamicpb.NewMessage(m.Input())
	req.Set(m.Input().Fields().ByName("count"), protoreflect.ValueOfInt32(int32(b.N)))
	req.Set(m.Input().Fields().ByName("message"), protoreflect.ValueOfString("hello, stream"))
	sent := false
	next := func(msg proto.Message) error {
		if sent {
			return io.EOF
		}
		sent = true
		proto.Merge(msg, req)
		return nil
	}
	h := &countingHandler{}
	b.ReportAllocs()
	b.ResetTimer()
	if err := Invoke(context.Background(), cc, m, nil, next, h); err != nil {
		b.Fatal(err)
	}
	if h.n != b.N {
		b.Fatalf("received %d, want %d", h.n, b.N)
	}
}

// BenchmarkBidi sends and receives b.N messages on one bidi stream.
func BenchmarkBidi(b *testing.B) {
	cc := bufconnClient(b)
	m := method("Bidi")
	msgField := m.Input().Fields().ByName("message")
	left := b.N
	next := func(msg proto.Message) error {
		if left == 0 {
			return io.EOF
		}
		left--
		msg.ProtoReflect().Set(msgField, protoreflect.ValueOfString("hello, stream"))
		return nil
	}
	h := &countingHandler{}
	b.ReportAllocs()
	b.ResetTimer()
	if err := Invoke(context.Background(), cc, m, nil, next, h); err != nil {
		b.Fatal(err)
	}
	if h.n != b.N {
		b.Fatalf("received %d, want %d", h.n, b.N)
	}
}

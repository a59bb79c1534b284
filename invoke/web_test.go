package invoke_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/grpcx/grpcx/internal/testutil"
	"github.com/grpcx/grpcx/invoke"
	"github.com/grpcx/grpcx/testserver"
	"github.com/grpcx/grpcx/testserver/testpb"
)

// startWebServer serves the test server's gRPC, gRPC-web and Connect faces
// on a loopback port (HTTP/1.1 and h2c) until the test ends.
func startWebServer(t *testing.T) string {
	t.Helper()
	srv, err := testserver.NewWebServer(testserver.Options{})
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(lis)
	t.Cleanup(func() { srv.Close() })
	return lis.Addr().String()
}

func dialWeb(t *testing.T, target string, p invoke.Protocol, o invoke.DialOptions) *invoke.WebConn {
	t.Helper()
	o.Plaintext = true
	cc, err := invoke.DialWeb(t.Context(), target, p, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc
}

var webProtocols = []invoke.Protocol{invoke.ProtocolGRPCWeb, invoke.ProtocolConnect}

func TestWebKinds(t *testing.T) {
	addr := startWebServer(t)
	for _, p := range webProtocols {
		cc := dialWeb(t, addr, p, invoke.DialOptions{})
		t.Run(string(p), func(t *testing.T) {
			tests := []struct {
				method    string
				requests  []proto.Message
				responses int
			}{
				{"Unary", []proto.Message{&testpb.EchoRequest{Message: "u"}}, 1},
				{"ServerStream", []proto.Message{&testpb.StreamRequest{Count: 3, Message: "s"}}, 3},
				{"ClientStream", []proto.Message{&testpb.EchoRequest{Number: 1}, &testpb.EchoRequest{Number: 2}}, 1},
				{"Bidi", []proto.Message{&testpb.EchoRequest{Message: "a"}, &testpb.EchoRequest{Message: "b"}}, 2},
			}
			for _, tt := range tests {
				t.Run(tt.method, func(t *testing.T) {
					rec := &recorder{}
					err := invokeWithin(t, 10*time.Second, cc, method(t, protoreflect.Name(tt.method)), requests(tt.requests...), rec)
					if err != nil {
						t.Fatalf("%v (events %s)", err, rec.eventString())
					}
					if len(rec.raw) != tt.responses {
						t.Fatalf("got %d responses, want %d: %v", len(rec.raw), tt.responses, rec.raw)
					}
					if rec.status.Code() != codes.OK {
						t.Errorf("status %v", rec.status)
					}
					if got := rec.header.Get(testserver.PIDHeader); len(got) != 1 {
						t.Errorf("header %s = %q; headers %v", testserver.PIDHeader, got, rec.header)
					}
					if ev := rec.eventString(); !strings.HasPrefix(ev, "send-headers headers response") || !strings.HasSuffix(ev, "trailers") {
						t.Errorf("events %q", ev)
					}
				})
			}
		})
	}
}

func TestWebMetadataAndErrors(t *testing.T) {
	addr := startWebServer(t)
	for _, p := range webProtocols {
		cc := dialWeb(t, addr, p, invoke.DialOptions{UserAgent: "grpcx-test/1"})
		t.Run(string(p)+"/metadata", func(t *testing.T) {
			md := metadata.Pairs("x-custom", "v1", "x-raw-bin", "\x00\x01")
			rec := &recorder{}
			req := &testpb.MetadataRequest{ResponseHeaders: map[string]string{"x-h": "hv"}, ResponseTrailers: map[string]string{"x-t": "tv"}}
			if err := invoke.Invoke(t.Context(), cc, method(t, "EchoMetadata"), md, requests(req), rec); err != nil {
				t.Fatal(err)
			}
			if got := rec.header.Get("x-h"); len(got) != 1 || got[0] != "hv" {
				t.Errorf("header x-h = %q (headers %v)", got, rec.header)
			}
			if got := rec.trailer.Get("x-t"); len(got) != 1 || got[0] != "tv" {
				t.Errorf("trailer x-t = %q (trailers %v)", got, rec.trailer)
			}
			if _, ok := rec.trailer["grpc-status"]; ok {
				t.Errorf("grpc-status among the trailers: %v", rec.trailer)
			}
			var resp testpb.MetadataResponse
			b, _ := proto.Marshal(rec.raw[0])
			if err := proto.Unmarshal(b, &resp); err != nil {
				t.Fatal(err)
			}
			if got := resp.GetReceived()["x-custom"].GetValues(); len(got) != 1 || got[0] != "v1" {
				t.Errorf("server got x-custom %q", got)
			}
			if got := resp.GetReceived()["x-raw-bin"].GetValues(); len(got) != 1 || got[0] != "\x00\x01" {
				t.Errorf("server got x-raw-bin %q", got)
			}
			if got := resp.GetReceived()["user-agent"].GetValues(); len(got) != 1 || !strings.HasPrefix(got[0], "grpcx-test/1 connect-go/") {
				t.Errorf("server got user-agent %q", got)
			}
		})
		t.Run(string(p)+"/details", func(t *testing.T) {
			rec := &recorder{}
			err := invoke.Invoke(t.Context(), cc, method(t, "Fail"), nil, requests(&testpb.FailRequest{Code: 5, Message: "gone", Details: true}), rec)
			st, ok := status.FromError(err)
			if !ok || st.Code() != codes.NotFound || st.Message() != "gone" {
				t.Fatalf("got %v, want NotFound: gone", err)
			}
			if len(st.Proto().GetDetails()) != 4 {
				t.Fatalf("got %d details, want 4", len(st.Proto().GetDetails()))
			}
			var info *errdetails.ErrorInfo
			for _, d := range st.Details() {
				if i, ok := d.(*errdetails.ErrorInfo); ok {
					info = i
				}
			}
			if info.GetReason() != "TEST_FAILURE" {
				t.Errorf("ErrorInfo %v", info)
			}
			if rec.status.Code() != codes.NotFound {
				t.Errorf("handler saw %v", rec.status)
			}
			// Failed before any response: in gRPC-web a trailers-only
			// answer, whose one block of metadata is trailers, as grpc-go
			// reports a gRPC one, and not headers as well; Connect keeps
			// the headers of a failed call apart.
			inHeader, inTrailer := len(rec.header.Get(testserver.PIDHeader)), len(rec.trailer.Get(testserver.PIDHeader))
			if want := p == invoke.ProtocolGRPCWeb; inHeader+inTrailer != 1 || (inTrailer == 1) != want {
				t.Errorf("the server's pid header: %d in headers %v, %d in trailers %v; want it once, among the %s", inHeader, rec.header, inTrailer, rec.trailer, map[bool]string{true: "trailers", false: "headers"}[want])
			}
		})
		t.Run(string(p)+"/deadline", func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
			defer cancel()
			err := invoke.Invoke(ctx, cc, method(t, "Slow"), nil, requests(&testpb.SlowRequest{Duration: durationpb.New(5 * time.Second)}), &recorder{})
			if status.Code(err) != codes.DeadlineExceeded {
				t.Fatalf("got %v, want DeadlineExceeded", err)
			}
		})
		t.Run(string(p)+"/stream-error", func(t *testing.T) {
			rec := &recorder{}
			err := invoke.Invoke(t.Context(), cc, method(t, "ServerStream"), nil, requests(&testpb.StreamRequest{Count: 5, FailAfter: 2}), rec)
			if status.Code(err) != codes.Aborted || len(rec.raw) != 2 {
				t.Fatalf("got %v after %d responses, want Aborted after 2", err, len(rec.raw))
			}
		})
	}
}

// TestWebGeneratedStubs shows that a WebConn serves generated clients too,
// as the reflection client uses it.
func TestWebGeneratedStubs(t *testing.T) {
	cc := dialWeb(t, startWebServer(t), invoke.ProtocolConnect, invoke.DialOptions{})
	var header metadata.MD
	resp, err := testpb.NewTestServiceClient(cc).Pid(t.Context(), &emptypb.Empty{}, grpc.Header(&header))
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetPid() == 0 || len(header.Get(testserver.PIDHeader)) != 1 {
		t.Errorf("pid %d, header %v", resp.GetPid(), header)
	}
}

func TestWebCompression(t *testing.T) {
	cc := dialWeb(t, startWebServer(t), invoke.ProtocolGRPCWeb, invoke.DialOptions{})
	resp, err := testpb.NewTestServiceClient(cc).EchoMetadata(t.Context(), &testpb.MetadataRequest{}, grpc.UseCompressor("gzip"))
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetRequestCompression() != "gzip" {
		t.Errorf("request compression %q, want gzip", resp.GetRequestCompression())
	}
}

func TestWebHTTP1(t *testing.T) {
	addr := startWebServer(t)
	cc := dialWeb(t, "http://"+addr, invoke.ProtocolConnect, invoke.DialOptions{HTTP1: true})
	if cc.HTTPVersion() != "HTTP/1.1" {
		t.Errorf("version %s", cc.HTTPVersion())
	}
	rec := &recorder{}
	if err := invokeWithin(t, 10*time.Second, cc, method(t, "ServerStream"), requests(&testpb.StreamRequest{Count: 2}), rec); err != nil || len(rec.raw) != 2 {
		t.Fatalf("server stream over HTTP/1.1: %v, %d responses", err, len(rec.raw))
	}
	err := invokeWithin(t, 10*time.Second, cc, method(t, "Bidi"), requests(&testpb.EchoRequest{}), &recorder{})
	if !errors.Is(err, invoke.ErrBidiNeedsHTTP2) {
		t.Fatalf("bidi over HTTP/1.1: %v, want ErrBidiNeedsHTTP2", err)
	}
	if cc.Supports(invoke.Bidi) == nil || cc.Supports(invoke.ClientStreaming) != nil {
		t.Error("Supports")
	}
}

func TestWebPrefix(t *testing.T) {
	addr := startWebServer(t)
	// A proxy that serves the API below /api, as some deployments do.
	mux := http.NewServeMux()
	mux.Handle("/api/", http.StripPrefix("/api", &httpForwarder{addr: addr}))
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux}
	go srv.Serve(lis)
	t.Cleanup(func() { srv.Close() })
	cc := dialWeb(t, "http://"+lis.Addr().String()+"/api/", invoke.ProtocolConnect, invoke.DialOptions{HTTP1: true})
	if got, want := cc.BaseURL(), "http://"+lis.Addr().String()+"/api"; got != want {
		t.Errorf("base URL %s, want %s", got, want)
	}
	if _, err := testpb.NewTestServiceClient(cc).Unary(t.Context(), &testpb.EchoRequest{Message: "p"}); err != nil {
		t.Fatal(err)
	}
}

// httpForwarder sends requests on to addr over HTTP/1.1.
type httpForwarder struct{ addr string }

func (f *httpForwarder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	out := r.Clone(r.Context())
	out.RequestURI = ""
	out.URL.Scheme, out.URL.Host = "http", f.addr
	resp, err := http.DefaultTransport.RoundTrip(out)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(resp.StatusCode)
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		w.Write(buf[:n])
		if err != nil {
			return
		}
	}
}

func TestWebConnectErrors(t *testing.T) {
	_, err := invoke.DialWeb(t.Context(), "127.0.0.1:1", invoke.ProtocolConnect, invoke.DialOptions{Plaintext: true})
	var ce *invoke.ConnectError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("got %v, want a ConnectError saying connection refused", err)
	}
	if _, _, err := invoke.ParseHTTPTarget("http://host:1?x=1"); err == nil {
		t.Error("a query in the target should be refused")
	}
	for target, want := range map[string]invoke.HTTPTarget{
		"http://h":                {Addr: "h:80"},
		"https://h":               {Addr: "h:443", TLS: true},
		"https://127.0.0.1:8443/": {Addr: "127.0.0.1:8443", TLS: true},
		"http://[::1]:1/api/v1/":  {Addr: "[::1]:1", Prefix: "/api/v1"},
	} {
		got, ok, err := invoke.ParseHTTPTarget(target)
		if err != nil || !ok || got != want {
			t.Errorf("ParseHTTPTarget(%q) = %+v, %v, %v; want %+v", target, got, ok, err, want)
		}
	}
	if _, ok, _ := invoke.ParseHTTPTarget("localhost:50051"); ok {
		t.Error("host:port is not a URL target")
	}
}

func TestWebUnixSocket(t *testing.T) {
	srv, err := testserver.NewWebServer(testserver.Options{})
	if err != nil {
		t.Fatal(err)
	}
	target := "unix://" + filepath.Join(t.TempDir(), "web.sock")
	lis, err := testserver.Listen(target)
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(lis)
	t.Cleanup(func() { srv.Close() })
	cc := dialWeb(t, target, invoke.ProtocolGRPCWeb, invoke.DialOptions{})
	if got := cc.BaseURL(); got != "http://localhost" {
		t.Errorf("base URL %s", got)
	}
	resp, err := testpb.NewTestServiceClient(cc).Unary(t.Context(), &testpb.EchoRequest{Message: "sock"})
	if err != nil || resp.GetMessage() != "sock" {
		t.Fatalf("%v %v", resp, err)
	}
}

// TestEmptyResponsesMidStream: a stream whose later messages are empty (no
// bytes on the wire) shows them empty on every protocol, not as the message
// before them, although responses share storage (connect-go skips decoding
// an empty message).
func TestEmptyResponsesMidStream(t *testing.T) {
	addr := startWebServer(t)
	conns := map[string]grpc.ClientConnInterface{"grpc": conn(t)}
	for _, p := range webProtocols {
		conns[string(p)] = dialWeb(t, addr, p, invoke.DialOptions{})
	}
	// Long enough for responses to reuse storage (the receiver's ring has
	// 258 messages) that held a non-empty one: 5 does not divide 258.
	req := &testpb.StreamRequest{Count: 600, Message: "m", EmptyEvery: 5}
	var want []*testpb.EchoResponse
	for i := range req.Count {
		if i%req.EmptyEvery == 0 {
			want = append(want, &testpb.EchoResponse{})
		} else {
			want = append(want, &testpb.EchoResponse{Message: "m", Number: i, Index: i})
		}
	}
	for name, cc := range conns {
		t.Run(name, func(t *testing.T) {
			rec := &recorder{}
			if err := invokeWithin(t, 10*time.Second, cc, method(t, "ServerStream"), requests(req), rec); err != nil {
				t.Fatal(err)
			}
			if len(rec.responses) != len(want) {
				t.Fatalf("got %d responses, want %d: %v", len(rec.responses), len(want), rec.responses)
			}
			for i := range want {
				if !proto.Equal(rec.responses[i], want[i]) {
					t.Errorf("response %d = %v, want %v", i, rec.responses[i], want[i])
				}
			}
		})
	}
}

// wireRecorder is a recorder that wants every response's wire form.
type wireRecorder struct {
	recorder
	wires [][]byte
}

func (r *wireRecorder) WantWire() bool            { return true }
func (r *wireRecorder) OnReceiveWire(wire []byte) { r.wires = append(r.wires, wire) }

// everyProtocol returns a connection to addr for each protocol: gRPC and
// the web ones.
func everyProtocol(t *testing.T, addr string) map[string]grpc.ClientConnInterface {
	t.Helper()
	conns := map[string]grpc.ClientConnInterface{"grpc": testutil.Dial(t, addr)}
	for _, p := range webProtocols {
		conns[string(p)] = dialWeb(t, addr, p, invoke.DialOptions{})
	}
	return conns
}

// TestWireKept: a handler that asks for responses' wire forms gets each
// one, equal to the message's encoding, whatever the protocol and kind.
func TestWireKept(t *testing.T) {
	for name, cc := range everyProtocol(t, startWebServer(t)) {
		for _, tt := range []struct {
			method    protoreflect.Name
			requests  []proto.Message
			responses int
		}{
			{"Unary", []proto.Message{&testpb.EchoRequest{Message: "u", Number: 7}}, 1},
			{"ServerStream", []proto.Message{&testpb.StreamRequest{Count: 2, Message: "s"}}, 2},
			{"ClientStream", []proto.Message{&testpb.EchoRequest{Message: "c", Number: 2}}, 1},
		} {
			rec := &wireRecorder{}
			if err := invokeWithin(t, 10*time.Second, cc, method(t, tt.method), requests(tt.requests...), rec); err != nil {
				t.Fatalf("%s %s: %v", name, tt.method, err)
			}
			if len(rec.wires) != tt.responses || len(rec.raw) != tt.responses {
				t.Fatalf("%s %s: %d wire forms for %d responses, want %d", name, tt.method, len(rec.wires), len(rec.raw), tt.responses)
			}
			for i, w := range rec.wires {
				want, _ := proto.MarshalOptions{Deterministic: true}.Marshal(rec.raw[i])
				got := dynamicpb.NewMessage(rec.raw[i].ProtoReflect().Descriptor())
				if err := proto.Unmarshal(w, got); err != nil || !proto.Equal(got, rec.raw[i]) {
					t.Errorf("%s %s: wire form %d decodes to %v (%v), want %x", name, tt.method, i, got, err, want)
				}
			}
		}
	}
}

// TestClientStreamTrailersEverywhere: a client stream's trailers come back
// over every protocol, which over gRPC-web and Connect means reading on
// past the one response.
func TestClientStreamTrailersEverywhere(t *testing.T) {
	for name, cc := range everyProtocol(t, startWebServer(t)) {
		rec := &recorder{}
		reqs := requests(&testpb.EchoRequest{Number: 1}, &testpb.EchoRequest{Number: 2}, &testpb.EchoRequest{Number: 3})
		if err := invokeWithin(t, 10*time.Second, cc, method(t, "ClientStream"), reqs, rec); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got := rec.trailer.Get(testserver.RequestCountTrailer); len(got) != 1 || got[0] != "3" {
			t.Errorf("%s: trailer %s = %q, want [3] (trailers %v, events %s)", name, testserver.RequestCountTrailer, got, rec.trailer, rec.eventString())
		}
	}
}

package testserver_test

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionv1 "google.golang.org/grpc/reflection/grpc_reflection_v1"
	reflectionv1alpha "google.golang.org/grpc/reflection/grpc_reflection_v1alpha"
	"google.golang.org/grpc/status"

	"github.com/grpcx/grpcx/testserver"
	"github.com/grpcx/grpcx/testserver/testpb"
)

// startServer serves a fresh Service on a real loopback port and returns a
// plaintext client connection to it; both are torn down when the test ends.
func startServer(t *testing.T, opts testserver.Options) (*grpc.ClientConn, *testserver.Service) {
	t.Helper()
	addr, svc := serveService(t, opts)
	return dial(t, addr), svc
}

// serveService serves a fresh Service configured by opts on a real loopback
// port until the test ends and returns its address.
func serveService(t *testing.T, opts testserver.Options) (string, *testserver.Service) {
	t.Helper()
	lis, err := testserver.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer(testserver.ServerOptions(opts)...)
	svc := testserver.NewService()
	testserver.Register(s, svc, opts)
	go func() { _ = s.Serve(lis) }()
	t.Cleanup(s.Stop)
	return lis.Addr().String(), svc
}

// dial connects to target in plaintext unless opts bring other transport
// credentials, which override the default.
func dial(t *testing.T, target string, opts ...grpc.DialOption) *grpc.ClientConn {
	t.Helper()
	opts = append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, opts...)
	conn, err := grpc.NewClient(target, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

func testClient(t *testing.T) testpb.TestServiceClient {
	t.Helper()
	conn, _ := startServer(t, testserver.Options{})
	return testpb.NewTestServiceClient(conn)
}

func wantCode(t *testing.T, err error, want codes.Code) {
	t.Helper()
	if got := status.Code(err); got != want {
		t.Fatalf("got code %v (%v), want %v", got, err, want)
	}
}

func TestHealth(t *testing.T) {
	conn, _ := startServer(t, testserver.Options{})
	client := healthpb.NewHealthClient(conn)
	for _, service := range []string{"", "grpcx.test.v1.TestService", "grpcx.test.v1.AuthService"} {
		resp, err := client.Check(t.Context(), &healthpb.HealthCheckRequest{Service: service})
		if err != nil {
			t.Fatalf("Check(%q): %v", service, err)
		}
		if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("Check(%q) = %v, want SERVING", service, resp.GetStatus())
		}
	}
}

// reflect sends one request on a fresh v1 reflection stream.
func reflect(t *testing.T, conn *grpc.ClientConn, req *reflectionv1.ServerReflectionRequest) (*reflectionv1.ServerReflectionResponse, error) {
	t.Helper()
	stream, err := reflectionv1.NewServerReflectionClient(conn).ServerReflectionInfo(t.Context())
	if err != nil {
		return nil, err
	}
	// Send reports io.EOF when the call has failed; Recv has the status.
	if err := stream.Send(req); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return stream.Recv()
}

func TestReflectionListsServices(t *testing.T) {
	conn, _ := startServer(t, testserver.Options{})
	resp, err := reflect(t, conn, &reflectionv1.ServerReflectionRequest{
		MessageRequest: &reflectionv1.ServerReflectionRequest_ListServices{},
	})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, s := range resp.GetListServicesResponse().GetService() {
		got[s.GetName()] = true
	}
	for _, want := range []string{"grpcx.test.v1.TestService", "grpcx.test.v1.AuthService", "grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection"} {
		if !got[want] {
			t.Errorf("ListServices = %v, missing %s", got, want)
		}
	}
}

func TestReflectionServesTestProto(t *testing.T) {
	conn, _ := startServer(t, testserver.Options{})
	resp, err := reflect(t, conn, &reflectionv1.ServerReflectionRequest{
		MessageRequest: &reflectionv1.ServerReflectionRequest_FileContainingSymbol{FileContainingSymbol: "grpcx.test.v1.TestService"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.GetFileDescriptorResponse().GetFileDescriptorProto()) == 0 {
		t.Fatalf("no file for TestService: %v", resp)
	}
}

func TestReflectionHidesSecret(t *testing.T) {
	conn, _ := startServer(t, testserver.Options{})
	requests := map[string]*reflectionv1.ServerReflectionRequest{
		"symbol": {MessageRequest: &reflectionv1.ServerReflectionRequest_FileContainingSymbol{
			FileContainingSymbol: "grpcx.test.hidden.v1.Secret",
		}},
		"file": {MessageRequest: &reflectionv1.ServerReflectionRequest_FileByFilename{
			FileByFilename: "grpcx/hidden/v1/hidden.proto",
		}},
	}
	for name, req := range requests {
		t.Run(name, func(t *testing.T) {
			resp, err := reflect(t, conn, req)
			if err != nil {
				t.Fatal(err)
			}
			if got := codes.Code(resp.GetErrorResponse().GetErrorCode()); got != codes.NotFound {
				t.Errorf("got %v, want NOT_FOUND error response", resp)
			}
		})
	}
}

func TestReflectionVersions(t *testing.T) {
	for _, tc := range []struct {
		opts   testserver.Options
		wantV1 codes.Code
	}{
		{testserver.Options{}, codes.OK},
		{testserver.Options{OnlyV1Alpha: true}, codes.Unimplemented},
	} {
		conn, _ := startServer(t, tc.opts)
		_, err := reflect(t, conn, &reflectionv1.ServerReflectionRequest{
			MessageRequest: &reflectionv1.ServerReflectionRequest_ListServices{},
		})
		if got := status.Code(err); got != tc.wantV1 {
			t.Errorf("%+v: v1 reflection: got %v, want %v", tc.opts, err, tc.wantV1)
		}
		if err := listV1Alpha(t, conn); err != nil {
			t.Errorf("%+v: v1alpha reflection: %v", tc.opts, err)
		}
	}
}

func listV1Alpha(t *testing.T, conn *grpc.ClientConn) error {
	stream, err := reflectionv1alpha.NewServerReflectionClient(conn).ServerReflectionInfo(t.Context())
	if err != nil {
		return err
	}
	err = stream.Send(&reflectionv1alpha.ServerReflectionRequest{
		MessageRequest: &reflectionv1alpha.ServerReflectionRequest_ListServices{},
	})
	if err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	_, err = stream.Recv()
	return err
}

func TestListenUnix(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	for _, addr := range []string{"unix://" + filepath.Join(dir, "abs.sock"), "unix:rel.sock"} {
		t.Run(addr, func(t *testing.T) {
			lis, err := testserver.Listen(addr)
			if err != nil {
				t.Fatal(err)
			}
			go func() { _ = testserver.Serve(t.Context(), lis, testserver.Options{}) }()
			client := testpb.NewTestServiceClient(dial(t, addr))
			if _, err := client.Unary(t.Context(), &testpb.EchoRequest{Message: "hi"}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestListenRemovesStaleSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "stale.sock")
	old, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	// Simulate a crashed server: the socket file outlives its listener.
	old.(*net.UnixListener).SetUnlinkOnClose(false)
	_ = old.Close()

	lis, err := testserver.Listen("unix://" + path)
	if err != nil {
		t.Fatalf("Listen over a stale socket: %v", err)
	}
	_ = lis.Close()
}

// TestListenKeepsLiveSocket: a socket a server still listens on is not
// left behind. Taking it would cut that server off, and when that server
// stopped it would remove the new one's socket in turn.
func TestListenKeepsLiveSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "live.sock")
	live, err := testserver.Listen("unix://" + path)
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	if lis, err := testserver.Listen("unix://" + path); err == nil {
		lis.Close()
		t.Fatal("Listen over a live socket succeeded")
	} else if !strings.Contains(err.Error(), "a server is listening on it") {
		t.Errorf("Listen over a live socket: %v, want it to say a server listens there", err)
	}
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatalf("the live server's socket is gone: %v", err)
	}
	c.Close()
}

func TestListenErrors(t *testing.T) {
	regular := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(regular, []byte("keep me"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, addr := range []string{"unix://" + regular, "unix://host/x.sock", "unix:", "nohostport"} {
		if lis, err := testserver.Listen(addr); err == nil {
			_ = lis.Close()
			t.Errorf("Listen(%q) succeeded, want error", addr)
		}
	}
	if _, err := os.Stat(regular); err != nil {
		t.Errorf("Listen removed a regular file: %v", err)
	}
}

func TestServeStopsWithContext(t *testing.T) {
	lis, err := testserver.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	served := make(chan error, 1)
	go func() { served <- testserver.Serve(ctx, lis, testserver.Options{}) }()

	client := testpb.NewTestServiceClient(dial(t, lis.Addr().String()))
	if _, err := client.Unary(t.Context(), &testpb.EchoRequest{}); err != nil {
		t.Fatal(err)
	}
	cancel()
	select {
	case err := <-served:
		if err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			t.Errorf("Serve = %v, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after its context ended")
	}
}

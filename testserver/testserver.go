// Package testserver is the gRPC server that grpcx's tests, examples and demo
// talk to. It serves grpcx.test.v1.TestService, which has one method per call
// shape and per client feature under test, grpcx.test.v1.AuthService, which
// needs a bearer token, the standard health service and server reflection.
// Reflection deliberately hides grpcx.test.hidden.v1, so that clients must
// fall back to local descriptor files (proto/ or the protoset) to decode the
// Any values that hold it.
//
// [Options] turns on TLS (with [GenerateCerts] and [ServerTLSConfig] for the
// certificates), a smaller message size limit and another token, so that each
// connection and call option of a client can be exercised for real.
//
// The package is an independent peer of the client: it imports none of
// grpcx's client packages, so a bug there cannot mask itself in tests.
package testserver

//go:generate go run ./internal/protogen

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"strings"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
	reflectionv1 "google.golang.org/grpc/reflection/grpc_reflection_v1"
	reflectionv1alpha "google.golang.org/grpc/reflection/grpc_reflection_v1alpha"

	"github.com/grpcx/grpcx/testserver/testpb"
)

// Options configures what a test server offers beyond TestService.
type Options struct {
	// OnlyV1Alpha serves only the old grpc.reflection.v1alpha reflection
	// service instead of both it and grpc.reflection.v1, to exercise clients
	// against servers that predate v1.
	OnlyV1Alpha bool

	// TLS, when not nil, makes the server accept only TLS connections with
	// this configuration (see [ServerTLSConfig]); nil serves plaintext. The
	// configuration must not be modified after it is passed.
	TLS *tls.Config

	// MaxRecvMsgSize is the size in bytes of the largest request message the
	// server accepts; a larger one fails with RESOURCE_EXHAUSTED. Zero or less
	// keeps grpc-go's default of 4 MiB.
	MaxRecvMsgSize int

	// AuthToken is the bearer token AuthService requires in the metadata
	// "authorization: Bearer <token>". Empty means [DefaultAuthToken].
	AuthToken string

	// Web makes [Serve] answer gRPC-web, Connect and REST as well as gRPC,
	// through an HTTP server (see [NewWebServer]). [NewServer] ignores it.
	Web bool
}

// ServerOptions returns the grpc.ServerOptions that opts asks for, together
// with the interceptors and stats handler every test server needs: the
// [PIDHeader] on every response, the bearer-token guard of AuthService, and
// the recording of request compression for EchoMetadata. Interceptors are
// added with grpc.ChainUnaryInterceptor and grpc.ChainStreamInterceptor, so
// callers may add their own. [NewServer] and [Serve] use it; a server built
// by hand for [Register] should too, or AuthService refuses every call.
func ServerOptions(opts Options) []grpc.ServerOption {
	token := opts.AuthToken
	if token == "" {
		token = DefaultAuthToken
	}
	auth := bearerAuth{token: token}
	sopts := []grpc.ServerOption{
		// The PID header comes first so that calls the guard refuses carry it too.
		grpc.ChainUnaryInterceptor(pidUnary, auth.unary),
		grpc.ChainStreamInterceptor(pidStream, auth.stream),
		grpc.StatsHandler(compressionRecorder{}),
	}
	if opts.TLS != nil {
		sopts = append(sopts, grpc.Creds(credentials.NewTLS(opts.TLS)))
	}
	if opts.MaxRecvMsgSize > 0 {
		sopts = append(sopts, grpc.MaxRecvMsgSize(opts.MaxRecvMsgSize))
	}
	return sopts
}

// shutdownGrace bounds how long Serve waits for running calls after its
// context ends; an endless stream must not keep a test from finishing.
const shutdownGrace = 2 * time.Second

// NewServer returns a gRPC server configured with [ServerOptions](opts) and
// with a fresh [Service], AuthService, health and reflection registered as
// [Register] describes. grpcOpts are passed to [grpc.NewServer] after those
// of opts, so they take precedence where both set the same thing.
func NewServer(opts Options, grpcOpts ...grpc.ServerOption) *grpc.Server {
	s := grpc.NewServer(append(ServerOptions(opts), grpcOpts...)...)
	Register(s, NewService(), opts)
	return s
}

// Register registers svc as TestService on s, AuthService, the health
// service reporting SERVING for the server as a whole ("") and for both
// services, and server reflection as chosen by opts. Tests that want to
// inspect svc afterwards (see [Service.LastSlowOutcome]) use Register
// instead of [NewServer], creating s with [ServerOptions]: only those
// options carry the settings of opts other than OnlyV1Alpha.
//
// Register must be called before s starts serving. Reflection lists what is
// registered on s at the time it is asked, so other services registered on s
// are listed too.
func Register(s *grpc.Server, svc *Service, opts Options) {
	testpb.RegisterTestServiceServer(s, svc)
	testpb.RegisterAuthServiceServer(s, authService{})

	hs := health.NewServer()
	hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	hs.SetServingStatus(testpb.TestService_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
	hs.SetServingStatus(testpb.AuthService_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(s, hs)

	r := newHidingResolver()
	ropts := reflection.ServerOptions{Services: s, DescriptorResolver: r, ExtensionResolver: r}
	reflectionv1alpha.RegisterServerReflectionServer(s, reflection.NewServer(ropts))
	if !opts.OnlyV1Alpha {
		reflectionv1.RegisterServerReflectionServer(s, reflection.NewServerV1(ropts))
	}
}

// Listen opens a listener for addr, which is either "host:port" for TCP or a
// Unix socket in gRPC target syntax: "unix:///absolute/path" or
// "unix:relative/path". A socket file left behind by a previous run is
// removed first; any other file at that path is left alone and makes Listen
// fail.
func Listen(addr string) (net.Listener, error) {
	path, isUnix, err := unixPath(addr)
	if err != nil {
		return nil, err
	}
	if !isUnix {
		return net.Listen("tcp", addr)
	}
	if err := removeStaleSocket(path); err != nil {
		return nil, err
	}
	return net.Listen("unix", path)
}

// unixPath extracts the socket path from a "unix:" address.
func unixPath(addr string) (path string, isUnix bool, err error) {
	if rest, ok := strings.CutPrefix(addr, "unix://"); ok {
		// An authority is not meaningful for a socket, so unix://host/x is
		// refused rather than guessed at.
		if !strings.HasPrefix(rest, "/") {
			return "", true, fmt.Errorf("listen %q: unix:// needs an absolute path (unix:///path)", addr)
		}
		return rest, true, nil
	}
	if rest, ok := strings.CutPrefix(addr, "unix:"); ok {
		if rest == "" {
			return "", true, fmt.Errorf("listen %q: empty socket path", addr)
		}
		return rest, true, nil
	}
	return "", false, nil
}

func removeStaleSocket(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("listen unix %q: %w", path, err)
	}
	if fi.Mode().Type() != fs.ModeSocket {
		return fmt.Errorf("listen unix %q: file exists and is not a socket", path)
	}
	// Only a socket no server listens on is left behind: removing a live
	// one would take it from its server, which, stopping later, would
	// remove this server's in turn.
	if c, err := net.Dial("unix", path); err == nil {
		c.Close()
		return fmt.Errorf("listen unix %q: a server is listening on it", path)
	} else if !errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("listen unix %q: %w", path, err)
	}
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("remove stale socket: %w", err)
	}
	return nil
}

// Serve serves a [NewServer] server on lis until ctx is done, then stops it
// gracefully, cutting off calls still running after a short grace period.
// It returns nil after such a shutdown and the server's error if serving
// fails first. lis is closed in both cases.
func Serve(ctx context.Context, lis net.Listener, opts Options) error {
	if opts.Web {
		return serveWeb(ctx, lis, opts)
	}
	s := NewServer(opts)
	served := make(chan error, 1)
	go func() { served <- s.Serve(lis) }()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	stopGracefully(s, shutdownGrace)
	return <-served
}

func stopGracefully(s *grpc.Server, grace time.Duration) {
	stopped := make(chan struct{})
	go func() {
		s.GracefulStop()
		close(stopped)
	}()
	timer := time.NewTimer(grace)
	defer timer.Stop()
	select {
	case <-stopped:
	case <-timer.C:
		s.Stop()
		<-stopped
	}
}

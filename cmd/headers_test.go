package cmd

import (
	"context"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/grpcx/grpcx/internal/testutil"
	"github.com/grpcx/grpcx/testserver"
)

// TestHeadersReachReflection checks where each header flag goes: -H on
// reflection and the call, --reflect-header only on reflection,
// --rpc-header only on the call.
func TestHeadersReachReflection(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]metadata.MD{}
	record := func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		md, _ := metadata.FromIncomingContext(ss.Context())
		mu.Lock()
		seen[info.FullMethod] = metadata.Join(seen[info.FullMethod], md)
		mu.Unlock()
		return handler(srv, ss)
	}
	s := testserver.NewServer(testserver.Options{}, grpc.ChainStreamInterceptor(record))
	addr := testutil.Serve(t, "127.0.0.1:0", s)
	t.Setenv("XDG_CACHE_HOME", t.TempDir())

	var out, errOut strings.Builder
	code := Main(context.Background(), []string{"call", "--plaintext",
		"-H", "x-common: c", "--reflect-header", "x-reflect: r", "--rpc-header", "x-rpc: p",
		addr, "grpcx.test.v1.TestService/ServerStream", "-d", `{"count": 1}`},
		strings.NewReader(""), &out, &errOut)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	mu.Lock()
	defer mu.Unlock()
	refl := seen["/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"]
	call := seen["/grpcx.test.v1.TestService/ServerStream"]
	for _, c := range []struct {
		where string
		md    metadata.MD
		key   string
		want  bool
	}{
		{"reflection", refl, "x-common", true},
		{"reflection", refl, "x-reflect", true},
		{"reflection", refl, "x-rpc", false},
		{"the call", call, "x-common", true},
		{"the call", call, "x-rpc", true},
		{"the call", call, "x-reflect", false},
	} {
		if got := len(c.md.Get(c.key)) > 0; got != c.want {
			t.Errorf("%s received %s: %v, want %v (metadata %v)", c.where, c.key, got, c.want, c.md)
		}
	}
}

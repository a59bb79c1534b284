// Package testutil holds test helpers shared by the tests of grpcx's client
// packages (descsource, invoke, cmd): an in-process test server and a client
// connection to it, both torn down when the test ends. Nothing outside tests
// imports it.
package testutil

import (
	"net"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/grpcx/grpcx/testserver"
)

// StartServer serves a fresh test server on a free loopback port and returns
// its address (host:port). The server is stopped, cutting off running calls,
// when the test ends.
func StartServer(tb testing.TB, opts testserver.Options) string {
	tb.Helper()
	return Serve(tb, "127.0.0.1:0", testserver.NewServer(opts))
}

// Serve serves s on addr, which is "127.0.0.1:0" or a Unix socket
// ("unix:///path", for example under t.TempDir()), and returns the address
// in grpcx target syntax. s is stopped when the test ends.
func Serve(tb testing.TB, addr string, s *grpc.Server) string {
	tb.Helper()
	lis, err := testserver.Listen(addr)
	if err != nil {
		tb.Fatal(err)
	}
	go func() { _ = s.Serve(lis) }()
	tb.Cleanup(s.Stop)
	if path := lis.Addr().String(); lis.Addr().Network() == "unix" {
		if strings.HasPrefix(path, "/") {
			return "unix://" + path
		}
		return "unix:" + path
	}
	return lis.Addr().String()
}

// Dial returns a plaintext client connection to target, closed when the
// test ends. It uses grpc-go directly, so that tests of grpcx's own dialing
// do not depend on it.
func Dial(tb testing.TB, target string) *grpc.ClientConn {
	tb.Helper()
	cc, err := grpc.NewClient(target, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = cc.Close() })
	return cc
}

// SilentListener listens on a free loopback port, accepts connections and
// holds them open without a word, as a server that never speaks HTTP/2
// would, until the test ends. It returns the address (host:port).
func SilentListener(tb testing.TB) string {
	tb.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	var held []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			conn, err := lis.Accept()
			if err != nil {
				return
			}
			held = append(held, conn)
		}
	}()
	tb.Cleanup(func() {
		lis.Close()
		<-done
		for _, c := range held {
			c.Close()
		}
	})
	return lis.Addr().String()
}

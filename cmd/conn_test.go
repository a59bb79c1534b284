package cmd

import (
	"net"
	"strings"
	"testing"
)

// TestConnectTimeoutIsNotADeadline: a server that accepts connections but
// never speaks makes --connect-timeout run out, which is a failure to
// connect (exit 1), not an expired deadline (68, for --max-time).
func TestConnectTimeoutIsNotADeadline(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	go func() {
		for {
			conn, err := lis.Accept()
			if err != nil {
				return
			}
			defer conn.Close() // held open, silent, until the test ends
		}
	}()
	for _, args := range [][]string{
		{"list", "--plaintext", "--connect-timeout", "0.3", lis.Addr().String()},
		{"call", "--plaintext", "--no-cache", "--connect-timeout", "0.3", lis.Addr().String(), "a.B/C"},
		{"call", "--insecure", "--protocol", "grpc-web", "--proto", "../testserver/proto/grpcx/test/v1/test.proto", "-I", "../testserver/proto",
			"--connect-timeout", "0.3", lis.Addr().String(), "grpcx.test.v1.TestService/Unary"},
	} {
		code, _, errOut := runGrpcx(args...)
		if code != exitFailure || !strings.Contains(errOut, "no connection within the connect timeout") {
			t.Errorf("%s: exit %d, stderr %s; want exit %d and the connect timeout named", args[0], code, errOut, exitFailure)
		}
	}
	code, _, _ := runGrpcx("list", "--plaintext", "--max-time", "0.3", lis.Addr().String())
	if code != 68 {
		t.Errorf("list with --max-time: exit %d, want 68", code)
	}
}

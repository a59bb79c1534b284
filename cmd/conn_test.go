package cmd

import (
	"strings"
	"testing"

	"github.com/grpcx/grpcx/internal/testutil"
)

// TestConnectTimeoutIsNotADeadline: a server that accepts connections but
// never speaks makes --connect-timeout run out, which is a failure to
// connect (exit 1), not an expired deadline (68, for --max-time).
func TestConnectTimeoutIsNotADeadline(t *testing.T) {
	addr := testutil.SilentListener(t)
	for _, args := range [][]string{
		{"list", "--plaintext", "--connect-timeout", "0.3", addr},
		{"call", "--plaintext", "--no-cache", "--connect-timeout", "0.3", addr, "a.B/C"},
		{"call", "--insecure", "--protocol", "grpc-web", "--proto", "../testserver/proto/grpcx/test/v1/test.proto", "-I", "../testserver/proto",
			"--connect-timeout", "0.3", addr, "grpcx.test.v1.TestService/Unary"},
	} {
		code, _, errOut := runGrpcx(args...)
		if code != exitFailure || !strings.Contains(errOut, "no connection within the connect timeout") {
			t.Errorf("%s: exit %d, stderr %s; want exit %d and the connect timeout named", args[0], code, errOut, exitFailure)
		}
	}
	code, _, _ := runGrpcx("list", "--plaintext", "--max-time", "0.3", addr)
	if code != 68 {
		t.Errorf("list with --max-time: exit %d, want 68", code)
	}
}

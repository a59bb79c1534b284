package cmd

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

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
		{"call", "--protocol", "connect", "--proto", "../testserver/proto/grpcx/test/v1/test.proto", "-I", "../testserver/proto",
			"--connect-timeout", "0.3", "http://" + addr, "grpcx.test.v1.TestService/Unary", "-d", "{}"},
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

// TestInterruptedWhileConnecting: Ctrl-C (here, the context ending) while
// grpcx waits for a connection is the Canceled of a call, exit 65, and says
// it stopped rather than that something timed out.
func TestInterruptedWhileConnecting(t *testing.T) {
	addr := testutil.SilentListener(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	time.AfterFunc(300*time.Millisecond, cancel)
	var out, errOut bytes.Buffer
	code := Main(ctx, []string{"call", "--plaintext", "--no-cache", "--connect-timeout", "30", addr, "a.B/C"}, strings.NewReader(""), &out, &errOut)
	if code != 65 || !strings.Contains(errOut.String(), "stopped while waiting for the connection") {
		t.Errorf("exit %d, stderr %s; want 65 and the stop named", code, &errOut)
	}
}

// TestFormatErrorBeforeTheCall: with --format-error, a failure before the
// call that exits as a status (--max-time running out while connecting)
// is printed as the status's JSON object too, as scripts parsing stderr
// expect from that exit code.
func TestFormatErrorBeforeTheCall(t *testing.T) {
	addr := testutil.SilentListener(t)
	code, _, errOut := runGrpcx("call", "--format-error", "--plaintext", "--no-cache", "--max-time", "0.3", addr, "a.B/C")
	var st struct {
		Code    int    `json:"code"`
		Name    string `json:"name"`
		Message string `json:"message"`
	}
	if code != 68 || json.Unmarshal([]byte(errOut), &st) != nil || st.Code != 4 || st.Name != "DeadlineExceeded" || !strings.Contains(st.Message, "--max-time") {
		t.Errorf("exit %d, stderr %q; want 68 and a DeadlineExceeded status object", code, errOut)
	}
}

package cmd

import (
	"net"
	"net/http"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// TestSizeHintSaysWhoseLimit: the client and the server word a message
// over their limit alike; the limit named says which one refused it.
func TestSizeHintSaysWhoseLimit(t *testing.T) {
	for _, tt := range []struct {
		msg     string
		maxSize int
		want    string
	}{
		{"grpc: received message larger than max (5000005 vs. 4194304)", 0, "a message is larger than 4194304 bytes, the default limit of both sides: for a large response, raise grpcx's with --max-msg-sz"},
		{"grpc: received message larger than max (5000005 vs. 4194304)", 4194304, "a message is larger than 4194304 bytes, the default limit of both sides"},
		{"grpc: received message larger than max (9000005 vs. 8000000)", 8000000, "the response is larger than the receive limit of 8000000 bytes"},
		{"grpc: received message larger than max (5000005 vs. 4194304)", 10000000, "the server refused a request larger than its own limit of 4194304 bytes"},
		{"message size 5000005 is larger than configured max 4194304", 10000000, "the server refused a request larger than its own limit of 4194304 bytes"},
		{"message size 300 is larger than configured max 100", 100, "the response is larger than the receive limit of 100 bytes"},
	} {
		if got := statusHint(status.New(codes.ResourceExhausted, tt.msg), tt.maxSize); !strings.Contains(got, tt.want) {
			t.Errorf("%q with --max-msg-sz %d: hint %q, want %q", tt.msg, tt.maxSize, got, tt.want)
		}
	}
}

// TestHTTP1ServerHint: Connect over HTTP/2 to a server that speaks only
// HTTP/1.1 fails with "frame too large", for which --http1 is the fix.
func TestHTTP1ServerHint(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.NotFoundHandler()}
	go srv.Serve(lis)
	defer srv.Close()
	code, _, stderr := runGrpcx("call", "--protocol", "connect", "--reflect=false", "--protoset", "../testserver/proto/testserver.protoset",
		"http://"+lis.Addr().String(), "grpcx.test.v1.TestService/Unary")
	if code == 0 || !strings.Contains(stderr, "add --http1") {
		t.Errorf("exit %d, stderr: %q", code, stderr)
	}
}

package cmd

import (
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
		{"grpc: received message larger than max (5000005 vs. 4194304)", 0, "the response is larger than the receive limit of 4194304 bytes"},
		{"grpc: received message larger than max (5000005 vs. 4194304)", 10000000, "the server refused a request larger than its own limit of 4194304 bytes"},
		{"message size 5000005 is larger than configured max 4194304", 10000000, "the server refused a request larger than its own limit of 4194304 bytes"},
		{"message size 300 is larger than configured max 100", 100, "the response is larger than the receive limit of 100 bytes"},
	} {
		if got := statusHint(status.New(codes.ResourceExhausted, tt.msg), tt.maxSize); !strings.Contains(got, tt.want) {
			t.Errorf("%q with --max-msg-sz %d: hint %q, want %q", tt.msg, tt.maxSize, got, tt.want)
		}
	}
}

package cmd

import (
	"fmt"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// statusHint suggests the flag that addresses a failed call's status, or
// returns "".
func statusHint(st *status.Status, maxMsgSize int) string {
	msg := st.Message()
	switch {
	case st.Code() == codes.ResourceExhausted && (strings.Contains(msg, "received message larger than max") ||
		strings.Contains(msg, "larger than configured max")): // connect-go's words, for grpc-web and connect
		limit := maxMsgSize
		if limit == 0 {
			limit = 4 << 20
		}
		return fmt.Sprintf("the response is larger than the receive limit of %d bytes; raise it with --max-msg-sz", limit)
	case strings.Contains(msg, "HTTP status 415 Unsupported Media Type"): // connect-go: not a grpc-web or connect server
		return "the server does not take this protocol's content type: for a plain gRPC server drop --protocol, or put `grpcx gateway` in front of it"
	case st.Code() == codes.Unauthenticated:
		return "the server wants credentials: send them with -H 'authorization: Bearer TOKEN'"
	case st.Code() == codes.DeadlineExceeded:
		return "the deadline passed; allow more time with --max-time SECONDS"
	}
	return ""
}

package cmd

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// sizeLimit finds the limit in grpc-go's "(5000005 vs. 4194304)" and
// connect-go's "is larger than configured max 4194304"; compiled on first
// use, not at every start-up.
var sizeLimit = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`(?:vs\. |configured max )(\d+)`) })

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
		// The same words come back from a server that refused a request
		// over its own limit: the limit they name says whose it was.
		m := sizeLimit().FindStringSubmatch(msg)
		if m != nil && m[1] != strconv.Itoa(limit) {
			return fmt.Sprintf("the server refused a request larger than its own limit of %s bytes; send a smaller one (--max-msg-sz only limits responses)", m[1])
		}
		if limit == 4<<20 {
			// The server's limit is most likely the same default: the
			// words do not say which side refused which message.
			return fmt.Sprintf("a message is larger than %d bytes, the default limit of both sides: for a large response, raise grpcx's with --max-msg-sz; a large request is over the server's, which only the server can raise", limit)
		}
		return fmt.Sprintf("the response is larger than the receive limit of %d bytes; raise it with --max-msg-sz", limit)
	case strings.Contains(msg, "http2: frame too large"): // an HTTP/1.1 answer read as an HTTP/2 frame
		return "the server does not speak HTTP/2 (it most likely answered in HTTP/1.1): add --http1"
	case strings.Contains(msg, "http2: client conn could not be established"): // the server hung up first
		return "the server closed the connection before speaking HTTP/2: if it speaks only HTTP/1.1, add --http1; if it wants TLS, give an https:// target"
	case strings.Contains(msg, "HTTP status 415 Unsupported Media Type"): // connect-go: not a grpc-web or connect server
		return "the server does not take this protocol's content type: for a plain gRPC server drop --protocol, or put `grpcx gateway` in front of it"
	case st.Code() == codes.Unauthenticated:
		return "the server wants credentials: send them with -H 'authorization: Bearer TOKEN'"
	case st.Code() == codes.DeadlineExceeded:
		return "the deadline passed; allow more time with --max-time SECONDS"
	}
	return ""
}

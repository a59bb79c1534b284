package gateway

import (
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"

	"google.golang.org/grpc/codes"
)

// newProxy returns a handler that sends gRPC requests on to backend over
// transport, adding header, and streams the answers back as they come,
// trailers included. A backend that cannot be reached is answered with a
// gRPC UNAVAILABLE, which the transcoder turns into the client's protocol.
func newProxy(backend *url.URL, transport http.RoundTripper, header http.Header) http.Handler {
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(backend)
			// The gateway's -H headers replace the client's of the same
			// name: a client must not override the gateway's credentials.
			for k, vs := range header {
				pr.Out.Header[k] = append([]string(nil), vs...)
			}
		},
		Transport:     transport,
		FlushInterval: -1, // every message at once: streams must not wait
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if r.Context().Err() != nil {
				writeGRPCError(w, codes.Canceled, "the client went away")
				return
			}
			writeGRPCError(w, codes.Unavailable, fmt.Sprintf("gateway: the backend %s: %v", backend.Host, err))
		},
		ErrorLog: log.New(io.Discard, "", 0), // a library does not print
	}
}

// writeGRPCError answers a gRPC request with a trailers-only response
// carrying the status.
func writeGRPCError(w http.ResponseWriter, code codes.Code, msg string) {
	h := w.Header()
	h.Set("Content-Type", "application/grpc")
	h.Set("Grpc-Status", strconv.Itoa(int(code)))
	h.Set("Grpc-Message", percentEncode(msg))
	w.WriteHeader(http.StatusOK)
}

// percentEncode encodes grpc-message as the gRPC protocol asks: bytes
// outside printable ASCII, and %, as %XX.
func percentEncode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c > 0x7e || c == '%' {
			fmt.Fprintf(&b, "%%%02X", c)
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// grpcStatusOf finds the grpc-status a proxied response carried, in its
// headers (trailers-only) or trailers, as the status code's name; "" when
// there is none.
func grpcStatusOf(h http.Header) string {
	v := h.Get("Grpc-Status")
	if v == "" {
		v = h.Get(http.TrailerPrefix + "Grpc-Status")
	}
	if v == "" {
		return ""
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return v
	}
	return codes.Code(n).String()
}

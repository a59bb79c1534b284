package gateway

import (
	"context"
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
			if body, ok := r.Context().Value(watchedBodyKey{}).(*watchedBody); ok && body.err != nil {
				// The request could not be read (a gRPC-web body that is
				// not framed, say): the client's fault, not the backend's.
				writeGRPCError(w, codes.InvalidArgument, fmt.Sprintf("gateway: the request's body: %v", body.err))
				return
			}
			writeGRPCError(w, codes.Unavailable, fmt.Sprintf("gateway: the backend: %v", err))
		},
		ErrorLog: log.New(io.Discard, "", 0), // a library does not print
	}
}

// watchedBody is a request body that remembers why reading it failed, so
// that the proxy can tell a request it could not read from a backend it
// could not reach.
type watchedBody struct {
	io.ReadCloser
	err error
}

func (b *watchedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && err != io.EOF && b.err == nil {
		b.err = err
	}
	return n, err
}

// watchedBodyKey finds a request's watchedBody in its context: the proxy
// hands its error handler the request with the body wrapped again.
type watchedBodyKey struct{}

// watchBody returns r with its body, if it has one, in a watchedBody.
func watchBody(r *http.Request) *http.Request {
	if r.Body == nil || r.Body == http.NoBody {
		return r
	}
	body := &watchedBody{ReadCloser: r.Body}
	r = r.WithContext(context.WithValue(r.Context(), watchedBodyKey{}, body))
	r.Body = body
	return r
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

package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"time"

	"connectrpc.com/connect"
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
			// ReverseProxy keeps a client's Upgrade request (for
			// websockets), but the backend is spoken to over HTTP/2,
			// which forbids it: the request is answered as a plain one.
			pr.Out.Header.Del("Upgrade")
			pr.Out.Header.Del("Connection")
			// The gateway's -H headers replace the client's of the same
			// name: a client must not override the gateway's credentials.
			for k, vs := range header {
				pr.Out.Header[k] = append([]string(nil), vs...)
			}
		},
		Transport:     transport,
		FlushInterval: -1, // every message at once: streams must not wait
		ModifyResponse: func(resp *http.Response) error {
			if note := noteFrom(resp.Request.Context()); note != nil {
				note.answered = true
			}
			if t := restTrailersOf(resp.Request); t != nil {
				t.fromAnswer(resp)
			}
			if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/grpc") {
				resp.Body = &endedBody{ReadCloser: resp.Body, resp: resp, ctx: resp.Request.Context()}
			}
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			// A call whose deadline passed: the backend resets the stream
			// at its end of it, which reads as a transport error here.
			if errors.Is(r.Context().Err(), context.DeadlineExceeded) || deadlinePassed(r) {
				proxyError(w, r, codes.DeadlineExceeded, "gateway: the call's deadline passed")
				return
			}
			if r.Context().Err() != nil {
				proxyError(w, r, codes.Canceled, "the client went away")
				return
			}
			if body, ok := r.Context().Value(watchedBodyKey{}).(*watchedBody); ok && body.err != nil {
				// The request could not be read (a gRPC-web body that is
				// not framed, say): the client's fault, not the backend's,
				// with the transcoder's code when it gave one (a message
				// over the size limit is RESOURCE_EXHAUSTED).
				code := codes.InvalidArgument
				if c := connect.CodeOf(body.err); c != connect.CodeUnknown {
					code = codes.Code(c)
				}
				proxyError(w, r, code, fmt.Sprintf("gateway: the request's body: %v", body.err))
				return
			}
			proxyError(w, r, codes.Unavailable, fmt.Sprintf("gateway: the backend: %v", err))
		},
		ErrorLog: log.New(io.Discard, "", 0), // a library does not print
	}
}

// endedBody is a gRPC response body from the backend that ends with the
// status UNAVAILABLE, in its trailers, when the backend goes away in the
// middle of it (a crash, a cut connection): the proxy would otherwise
// pass on a response with no status, which gRPC-web and Connect clients
// read as an INTERNAL protocol error, and gRPC ones as a reset stream.
type endedBody struct {
	io.ReadCloser
	resp *http.Response
	ctx  context.Context // the client's request: its end is not the backend's
}

func (b *endedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == nil || err == io.EOF || b.ctx.Err() != nil || grpcStatusOf(b.resp.Trailer) != "" {
		return n, err
	}
	code, msg := codes.Unavailable, fmt.Sprintf("gateway: the backend went away during the call: %v", err)
	if deadlinePassed(b.resp.Request) {
		// The backend ends a call past its deadline by resetting it.
		code, msg = codes.DeadlineExceeded, "gateway: the call's deadline passed"
	}
	if b.resp.Trailer == nil {
		b.resp.Trailer = http.Header{}
	}
	b.resp.Trailer.Set("Grpc-Status", strconv.Itoa(int(code)))
	b.resp.Trailer.Set("Grpc-Message", percentEncode(msg))
	return n, io.EOF
}

// startedKey finds when the gateway sent a call on to the backend, in its
// request's context.
type startedKey struct{}

// withStart notes in r's context that it is sent on now.
func withStart(r *http.Request) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), startedKey{}, time.Now()))
}

// deadlinePassed reports whether the grpc-timeout r carries to the backend
// has run out since r was sent on.
func deadlinePassed(r *http.Request) bool {
	started, ok := r.Context().Value(startedKey{}).(time.Time)
	if !ok {
		return false
	}
	timeout, ok := parseGRPCTimeout(r.Header.Get("Grpc-Timeout"))
	return ok && time.Since(started) >= timeout
}

// parseGRPCTimeout reads a grpc-timeout value: up to eight digits and a
// unit, H, M, S, m (milliseconds), u or n.
func parseGRPCTimeout(v string) (time.Duration, bool) {
	if len(v) < 2 || len(v) > 9 {
		return 0, false
	}
	n, err := strconv.ParseInt(v[:len(v)-1], 10, 64)
	if err != nil || n < 0 {
		return 0, false
	}
	unit := map[byte]time.Duration{'H': time.Hour, 'M': time.Minute, 'S': time.Second, 'm': time.Millisecond, 'u': time.Microsecond, 'n': time.Nanosecond}[v[len(v)-1]]
	if unit == 0 {
		return 0, false
	}
	return time.Duration(n) * unit, true
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
	writeStatus(w, "application/grpc", code, msg)
}

// proxyError is writeGRPCError for the proxy's own answers, noted for the
// request log.
func proxyError(w http.ResponseWriter, r *http.Request, code codes.Code, msg string) {
	if note := noteFrom(r.Context()); note != nil {
		note.grpcStatus = code.String()
	}
	writeGRPCError(w, code, msg)
}

// writeStatus writes a trailers-only response of content type ct (gRPC's
// or gRPC-web's) carrying the status.
func writeStatus(w http.ResponseWriter, ct string, code codes.Code, msg string) {
	h := w.Header()
	h.Set("Content-Type", ct)
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

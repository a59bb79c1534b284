package gateway

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// requestLogger writes one line per request. A nil writer logs nothing.
type requestLogger struct {
	mu sync.Mutex
	w  io.Writer
}

// requestNote is what the backend handler learns about a request: the
// method it was transcoded to and its gRPC status.
type requestNote struct {
	method     string
	grpcStatus string
	// answered is set once the backend answered the call (whatever its
	// status): an error the transcoder then reports is not the client's.
	answered bool
}

type noteKey struct{}

func noteFrom(ctx context.Context) *requestNote {
	n, _ := ctx.Value(noteKey{}).(*requestNote)
	return n
}

// start wraps w to record the response, and r to carry a note for the
// backend handler.
func (l *requestLogger) start(w http.ResponseWriter, r *http.Request) (*responseRecorder, *http.Request) {
	note := &requestNote{}
	rec := &responseRecorder{ResponseWriter: w, logger: l, note: note, start: time.Now(),
		protocol: protocolOf(r), httpMethod: r.Method, path: r.URL.EscapedPath()}
	return rec, r.WithContext(context.WithValue(r.Context(), noteKey{}, note))
}

// responseRecorder notes the HTTP status of a response, and runs
// beforeHeader (CORS) just before the header is written. It keeps the
// writer's flushing, which streams need.
type responseRecorder struct {
	http.ResponseWriter
	logger       *requestLogger
	note         *requestNote
	start        time.Time
	protocol     string
	httpMethod   string
	path         string
	status       int
	beforeHeader func(http.Header)
}

func (rec *responseRecorder) WriteHeader(code int) {
	if rec.status == 0 {
		rec.status = code
		if rec.beforeHeader != nil {
			rec.beforeHeader(rec.Header())
		}
	}
	rec.ResponseWriter.WriteHeader(code)
}

func (rec *responseRecorder) Write(b []byte) (int, error) {
	if rec.status == 0 {
		rec.WriteHeader(http.StatusOK)
	}
	return rec.ResponseWriter.Write(b)
}

// Flush implements http.Flusher.
func (rec *responseRecorder) Flush() {
	if rec.status == 0 {
		rec.WriteHeader(http.StatusOK)
	}
	http.NewResponseController(rec.ResponseWriter).Flush()
}

// Unwrap lets http.ResponseController reach the server's writer.
func (rec *responseRecorder) Unwrap() http.ResponseWriter { return rec.ResponseWriter }

// finish logs the request:
//
//	15:04:05.000 rest GET /v1/echo/hi -> grpcx.test.v1.TestService/Unary OK (HTTP 200) 1.2ms
func (rec *responseRecorder) finish() {
	l := rec.logger
	if l.w == nil {
		return
	}
	status := rec.status
	if status == 0 {
		status = http.StatusOK
	}
	var b strings.Builder
	// The path as sent, escaped: a decoded one could hold a newline, and
	// so forge a line of the log (net/http refuses such methods itself).
	fmt.Fprintf(&b, "%s %s %s %s", rec.start.Format("15:04:05.000"), rec.protocol, rec.httpMethod, rec.path)
	if rec.note.method != "" && "/"+rec.note.method != rec.path {
		fmt.Fprintf(&b, " -> %s", rec.note.method)
	}
	if rec.note.grpcStatus != "" {
		fmt.Fprintf(&b, " %s", rec.note.grpcStatus)
	}
	fmt.Fprintf(&b, " (HTTP %d) %s\n", status, time.Since(rec.start).Round(time.Microsecond))
	l.mu.Lock()
	defer l.mu.Unlock()
	io.WriteString(l.w, b.String())
}

// protocolOf names a request's protocol as vanguard will see it.
func protocolOf(r *http.Request) string {
	ct := r.Header.Get("Content-Type")
	switch {
	case r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "":
		return "cors-preflight"
	case strings.HasPrefix(ct, "application/grpc-web"):
		return "grpc-web"
	case strings.HasPrefix(ct, "application/grpc"):
		return "grpc"
	case servedAsREST(r):
		return "rest"
	}
	return "connect"
}

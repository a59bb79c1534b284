package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"connectrpc.com/connect"
	"google.golang.org/grpc/codes"
)

// The transcoder answers its own failures to read a REST or Connect
// request (malformed JSON, an unknown query parameter, a value of the
// wrong type) with 500 UNKNOWN, as if the server had failed; clients and
// monitoring count that as a server error, and some retry it. Such an
// answer is told apart by the request note: the backend never answered,
// and the gateway's proxy noted nothing or the client's fault (a body it
// could not read). clientErrors then turns it into what the client did:
// 400 INVALID_ARGUMENT, or the status the proxy noted. A 500 UNKNOWN after
// the backend answered (its own UNKNOWN, a code beyond gRPC's, a response
// the transcoder could not encode) is left as it is: not the client's
// doing.

// clientErrors wraps w for a REST or Connect request noted in note.
type clientErrors struct {
	http.ResponseWriter
	note *requestNote
	// rest, for a REST request, receives the backend's trailers, which
	// go out as headers (see restTrailers).
	rest    *restTrailers
	status  int  // held back: 500, until the body says what it is
	decided bool // the header is written
	body    []byte
	// sniff is set for an error answer of the transcoder's own, whose
	// status the request log would otherwise lack: its first write names
	// the code.
	sniff bool
}

func (c *clientErrors) WriteHeader(code int) {
	if c.decided || c.status != 0 {
		return
	}
	if code >= 400 && strings.HasPrefix(c.Header().Get("Content-Type"), "text/plain") {
		// net/http's own plain-text errors (405 for a method a route does
		// not take, say) are held, to answer as Status JSON like the rest.
		c.status = code
		return
	}
	if code != http.StatusInternalServerError {
		c.decided = true
		c.sniff = code >= 400 && c.note != nil && c.note.grpcStatus == ""
		c.rest.addTo(c.Header())
		c.ResponseWriter.WriteHeader(code)
		return
	}
	c.status = code
}

func (c *clientErrors) Write(b []byte) (int, error) {
	if !c.decided && c.status == 0 {
		c.WriteHeader(http.StatusOK)
	}
	if c.decided {
		if c.sniff {
			c.sniff = false
			if code, ok := errorCode(b); ok {
				c.note.grpcStatus = code.String()
			}
		}
		return c.ResponseWriter.Write(b)
	}
	c.body = append(c.body, b...)
	if len(c.body) > maxErrorBody {
		c.flush()
	}
	return len(b), nil
}

// maxErrorBody is the most of a held 500 answer kept to read its status:
// the transcoder's error bodies are a line of JSON.
const maxErrorBody = 64 << 10

// Flush writes what is held: a streaming answer must not wait.
func (c *clientErrors) Flush() {
	c.flush()
	http.NewResponseController(c.ResponseWriter).Flush()
}

// Unwrap lets http.ResponseController reach the server's writer.
func (c *clientErrors) Unwrap() http.ResponseWriter { return c.ResponseWriter }

// finish writes a held answer once the transcoder is done.
func (c *clientErrors) finish() { c.flush() }

func (c *clientErrors) flush() {
	if c.decided || c.status == 0 {
		return
	}
	c.decided = true
	status, body := c.status, c.body
	if h := c.Header(); strings.HasPrefix(h.Get("Content-Type"), "text/plain") {
		code := codeOfHTTP(status)
		body, _ = json.Marshal(struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
			Details []any  `json:"details"`
		}{int(code), strings.TrimSpace(string(body)), []any{}})
		h.Set("Content-Type", "application/json")
		h.Del("X-Content-Type-Options")
		if c.note != nil && c.note.grpcStatus == "" {
			c.note.grpcStatus = code.String()
		}
	} else if code, ok := c.clientCode(); ok {
		if fixed, ok := recode(body, code); ok {
			status, body = httpStatusOf(code), fixed
			if c.note != nil {
				c.note.grpcStatus = code.String()
			}
		}
	}
	h := c.Header()
	if h.Get("Content-Length") != "" {
		h.Del("Content-Length")
	}
	c.rest.addTo(h)
	c.ResponseWriter.WriteHeader(status)
	c.ResponseWriter.Write(body)
}

// clientCode is the code the held answer should carry, when the client
// caused it.
func (c *clientErrors) clientCode() (codes.Code, bool) {
	if c.note == nil || c.note.answered {
		return 0, false
	}
	switch c.note.grpcStatus {
	case "":
		return codes.InvalidArgument, true
	case codes.InvalidArgument.String():
		return codes.InvalidArgument, true
	case codes.ResourceExhausted.String():
		return codes.ResourceExhausted, true
	}
	return 0, false
}

// recode rewrites an UNKNOWN error body, REST's ({"code": 2, ...}) or
// Connect's ({"code": "unknown", ...}), to code, in place, so the rest stays
// as written; ok is false for any other body, which is left as it is.
func recode(body []byte, code codes.Code) ([]byte, bool) {
	m := anyCode().FindSubmatchIndex(body)
	if c, ok := errorCode(body); !ok || c != codes.Unknown {
		return nil, false
	}
	value := strconv.Itoa(int(code))
	if body[m[2]] == '"' {
		value = strconv.Quote(connect.Code(code).String())
	}
	out := append(append(append([]byte(nil), body[:m[2]]...), value...), body[m[3]:]...)
	return out, true
}

// errorCode reads the code of an error body, REST's or Connect's.
func errorCode(body []byte) (codes.Code, bool) {
	m := anyCode().FindSubmatch(body)
	if m == nil {
		return 0, false
	}
	if n, err := strconv.Atoi(string(m[1])); err == nil {
		return codes.Code(n), true
	}
	var c connect.Code
	if err := c.UnmarshalText(bytes.Trim(m[1], `"`)); err != nil {
		return 0, false
	}
	return codes.Code(c), true
}

// anyCode matches the code of an error body, as its first member.
var anyCode = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^\s*\{\s*"code"\s*:\s*([0-9]+|"[a-z_]+")\s*[,}]`)
})

// codeOfHTTP is the gRPC code of an HTTP error status, as gRPC reads
// one from a server that is not gRPC.
func codeOfHTTP(status int) codes.Code {
	switch status {
	case http.StatusBadRequest:
		return codes.InvalidArgument
	case http.StatusUnauthorized:
		return codes.Unauthenticated
	case http.StatusForbidden:
		return codes.PermissionDenied
	case http.StatusNotFound:
		return codes.NotFound
	case http.StatusMethodNotAllowed, http.StatusNotImplemented, http.StatusUnsupportedMediaType:
		return codes.Unimplemented
	case http.StatusConflict:
		return codes.Aborted
	case http.StatusTooManyRequests, http.StatusRequestEntityTooLarge:
		return codes.ResourceExhausted
	case http.StatusServiceUnavailable, http.StatusBadGateway:
		return codes.Unavailable
	case http.StatusGatewayTimeout:
		return codes.DeadlineExceeded
	}
	if status >= 500 {
		return codes.Internal
	}
	return codes.Unknown
}

// httpStatusOf is the HTTP status of the codes a client error has.
func httpStatusOf(code codes.Code) int {
	if code == codes.ResourceExhausted {
		return http.StatusTooManyRequests
	}
	return http.StatusBadRequest
}

// restTrailers carries a REST call's trailers from the backend's answer to
// the client's: REST has no trailers (the transcoder drops them), so they
// go out as headers named Grpc-Trailer-KEY, as grpc-gateway sends them.
// The status trailers are left out: the HTTP status and the body carry
// the status. The backend's answer is complete before the transcoder
// writes a REST answer's header, which it holds until the call's end.
type restTrailers struct {
	trailers http.Header
	// announced are the trailers the backend named in a Trailer header,
	// which the transcoder takes out of the header it hands on, with how
	// many values of the same name the backend's headers held, which come
	// first in the header where the proxy adds the trailer's.
	announced map[string]int
}

type restTrailersKey struct{}

// withRESTTrailers gives r a place for its call's trailers.
func withRESTTrailers(r *http.Request) (*http.Request, *restTrailers) {
	t := &restTrailers{trailers: http.Header{}}
	return r.WithContext(context.WithValue(r.Context(), restTrailersKey{}, t)), t
}

func restTrailersOf(r *http.Request) *restTrailers {
	t, _ := r.Context().Value(restTrailersKey{}).(*restTrailers)
	return t
}

// fromAnswer reads what a REST call's trailers need from the backend's
// answer as it arrives: the names of the trailers it announces, and the
// metadata of a trailers-only answer (the status in the headers, as
// grpc-go sends a call that fails before any response), which are its
// trailers, as grpc-go's client reports them, and are taken out of the
// headers so that they are not sent as plain headers too. The protocol's
// own headers (content type, length, date, grpc-*) stay.
func (t *restTrailers) fromAnswer(resp *http.Response) {
	for name := range resp.Trailer {
		if t.announced == nil {
			t.announced = map[string]int{}
		}
		t.announced[name] = len(resp.Header[name])
	}
	if resp.Header.Get("Grpc-Status") == "" {
		return
	}
	for k, vs := range resp.Header {
		switch {
		case k == "Content-Type", k == "Content-Length", k == "Date", k == "Trailer", strings.HasPrefix(k, "Grpc-"):
			continue
		}
		t.trailers[k] = append(t.trailers[k], vs...)
		delete(resp.Header, k)
	}
}

// keepTrailers records the trailers that the proxy left in h, the
// backend-side header of a transcoded call, when r is a REST request.
func keepTrailers(r *http.Request, h http.Header) {
	t := restTrailersOf(r)
	if t == nil {
		return
	}
	for k, vs := range h {
		if name, ok := strings.CutPrefix(k, http.TrailerPrefix); ok {
			name = http.CanonicalHeaderKey(name)
			t.trailers[name] = append(t.trailers[name], vs...)
		}
	}
	for name, inHeader := range t.announced {
		if vs := h[name]; len(vs) > inHeader {
			t.trailers[name] = append(t.trailers[name], vs[inHeader:]...)
		}
	}
	for _, status := range []string{"Grpc-Status", "Grpc-Message", "Grpc-Status-Details-Bin"} {
		delete(t.trailers, status)
	}
}

// addTo sets the trailers in h, the client's header; t may be nil.
func (t *restTrailers) addTo(h http.Header) {
	if t == nil {
		return
	}
	for k, vs := range t.trailers {
		if len(vs) > 0 {
			h["Grpc-Trailer-"+k] = vs
		}
	}
}

package gateway

import (
	"net/http"
	"sort"
	"strings"
)

// cors answers browsers calling from other origins: preflights for REST,
// Connect and gRPC-web requests, and the headers that let scripts read
// responses. A nil *cors allows nothing.
type cors struct {
	any     bool
	origins map[string]bool
}

func newCORS(origins []string) *cors {
	if len(origins) == 0 {
		return nil
	}
	c := &cors{origins: map[string]bool{}}
	for _, o := range origins {
		if o == "*" {
			c.any = true
		}
		c.origins[strings.TrimSuffix(o, "/")] = true
	}
	return c
}

func (c *cors) allowed(origin string) bool {
	return c != nil && origin != "" && (c.any || c.origins[origin])
}

// Methods and headers allowed in preflights. The request headers a
// preflight asks for are allowed as asked; these are listed for clients
// that ask for none.
const (
	allowMethods = "GET, POST, PUT, PATCH, DELETE, OPTIONS"
	allowHeaders = "Content-Type, Connect-Protocol-Version, Connect-Timeout-Ms, Grpc-Timeout, X-Grpc-Web, X-User-Agent, Authorization"
	// exposedAlways are read by gRPC-web and Connect clients even when a
	// response does not carry them yet (trailers-only answers do).
	exposedAlways = "Grpc-Status, Grpc-Message, Grpc-Status-Details-Bin, Connect-Content-Encoding, Connect-Accept-Encoding"
)

// apply adds the response headers of an allowed cross-origin request and
// arranges for every header of the response to be readable by the page.
func (c *cors) apply(rec *responseRecorder, r *http.Request) {
	if c == nil {
		return
	}
	h := rec.Header()
	// The answer depends on the origin whether or not this one may read
	// it: a shared cache must not give one origin's answer to another.
	h.Add("Vary", "Origin")
	origin := r.Header.Get("Origin")
	if !c.allowed(origin) {
		return
	}
	h.Set("Access-Control-Allow-Origin", origin)
	rec.beforeHeader = exposeHeaders
}

// exposeHeaders lists the response's headers for the page to read.
func exposeHeaders(h http.Header) {
	names := []string{exposedAlways}
	for k := range h {
		if !safelisted[k] && !strings.HasPrefix(k, "Access-Control-") && !strings.HasPrefix(k, http.TrailerPrefix) {
			names = append(names, k)
		}
	}
	sort.Strings(names[1:])
	h.Set("Access-Control-Expose-Headers", strings.Join(names, ", "))
}

// safelisted response headers are readable without being exposed.
var safelisted = map[string]bool{
	"Cache-Control": true, "Content-Language": true, "Content-Length": true, "Content-Type": true,
	"Expires": true, "Last-Modified": true, "Pragma": true, "Vary": true,
	"Grpc-Status": true, "Grpc-Message": true, "Grpc-Status-Details-Bin": true, // in exposedAlways
	"Connect-Content-Encoding": true, "Connect-Accept-Encoding": true,
}

// preflight answers an OPTIONS preflight, and reports whether it did: an
// allowed origin gets 204 with what it may send, another 403.
func (c *cors) preflight(w http.ResponseWriter, r *http.Request) bool {
	if c == nil || r.Method != http.MethodOptions || r.Header.Get("Origin") == "" || r.Header.Get("Access-Control-Request-Method") == "" {
		return false
	}
	h := w.Header()
	h.Add("Vary", "Origin")
	if !c.allowed(r.Header.Get("Origin")) {
		w.WriteHeader(http.StatusForbidden)
		return true
	}
	h.Set("Access-Control-Allow-Origin", r.Header.Get("Origin"))
	h.Set("Access-Control-Allow-Methods", allowMethods)
	if asked := r.Header.Get("Access-Control-Request-Headers"); asked != "" {
		h.Set("Access-Control-Allow-Headers", asked)
	} else {
		h.Set("Access-Control-Allow-Headers", allowHeaders)
	}
	h.Set("Access-Control-Max-Age", "7200")
	h.Add("Vary", "Access-Control-Request-Method, Access-Control-Request-Headers")
	w.WriteHeader(http.StatusNoContent)
	return true
}

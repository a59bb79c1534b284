// Package gateway puts a REST/JSON, gRPC-web and Connect face on a running
// gRPC server, with no generated code: it learns the server's services from
// a [Discoverer] (reflection or descriptor files, which cmd's gateway verb
// chooses from its flags), transcodes each request with vanguard and proxies
// the call to the server over HTTP/2. Native gRPC requests, reflection
// included, pass through untouched, so one address serves every protocol.
//
// The package takes a writer for its request log and returns errors; it
// never prints or exits.
package gateway

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"google.golang.org/grpc/codes"
	"io"
	"math"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"connectrpc.com/vanguard"
	"google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// TypeResolver finds the message types of requests, responses and Any
// values (error details included) by name or URL.
type TypeResolver = vanguard.TypeResolver

// Schema is what a gateway serves.
type Schema struct {
	// Services are the backend's services.
	Services []protoreflect.ServiceDescriptor
	// Types resolves the types the services use, and those packed in Any
	// values, for JSON.
	Types TypeResolver
	// Close, when not nil, releases what the schema holds (such as a
	// reflection stream) once the gateway has replaced it.
	Close func()
}

// Discoverer finds the backend's schema. A gateway calls it when it is
// created and on each [Gateway.Reload].
type Discoverer func(ctx context.Context) (*Schema, error)

// Options configure a [Gateway].
type Options struct {
	// Backend is the gRPC server's base URL: http://host:port for HTTP/2
	// without TLS (h2c), https://host:port for TLS. Its host is sent as
	// the :authority.
	Backend *url.URL
	// Transport carries requests to the backend; it must speak HTTP/2.
	Transport http.RoundTripper
	// Header is added to every request sent to the backend (credentials
	// the backend wants, say).
	Header http.Header
	// Discover finds the services to serve.
	Discover Discoverer
	// Services, when not empty, are the only services exposed (full names);
	// reflection still passes through to native gRPC clients so that they
	// can discover what is exposed.
	Services []string
	// CORSOrigins are the origins browsers may call the gateway from
	// ("https://app.example.com"); "*" allows any. Empty means no CORS.
	CORSOrigins []string
	// Log receives one line per request: method, protocol, status and
	// latency. Nil logs nothing.
	Log io.Writer
	// MaxMessageBytes is the largest message the gateway buffers while it
	// transcodes one (REST and Connect requests and responses); zero means
	// 4 MiB, grpc-go's default receive limit. gRPC-web messages keep their
	// framing and stream through unbuffered: the backend's limits apply.
	MaxMessageBytes int
}

// Gateway is an http.Handler serving a backend's services to every
// protocol. Create one with [New]; it is safe for concurrent use.
type Gateway struct {
	opts    Options
	proxy   http.Handler
	current atomic.Pointer[routes]
	reload  sync.Mutex // one Reload at a time
	log     *requestLogger
	cors    *cors
}

// routes is one discovered schema, ready to serve.
type routes struct {
	schema     *Schema
	transcoder http.Handler
	exposed    map[string]bool // service full names
	names      []string
	// connectJSON are the paths of unary methods without the default
	// REST rule (see defaultRules), served as Connect unary JSON instead.
	connectJSON map[string]bool
	// methods are the exposed methods' REST routes, by /pkg.Service/Method.
	methods map[string]*methodRoutes
	// restUnserved says, for each exposed method whose google.api.http
	// rule REST cannot serve, why (see [Gateway.RESTUnserved]).
	restUnserved []string
}

// New discovers the backend's schema and returns a gateway serving it.
func New(ctx context.Context, opts Options) (*Gateway, error) {
	if opts.Backend == nil || opts.Transport == nil || opts.Discover == nil {
		return nil, errors.New("gateway: Backend, Transport and Discover are required")
	}
	g := &Gateway{
		opts:  opts,
		proxy: newProxy(opts.Backend, opts.Transport, opts.Header),
		log:   &requestLogger{w: opts.Log},
		cors:  newCORS(opts.CORSOrigins),
	}
	if err := g.Reload(ctx); err != nil {
		return nil, err
	}
	return g, nil
}

// Reload discovers the backend's schema again and serves it from the next
// request on. When discovery fails the gateway keeps serving what it had.
func (g *Gateway) Reload(ctx context.Context) error {
	g.reload.Lock()
	defer g.reload.Unlock()
	schema, err := g.opts.Discover(ctx)
	if err != nil {
		return fmt.Errorf("discover the backend's services: %w", err)
	}
	r, err := g.build(schema)
	if err != nil {
		if schema.Close != nil {
			schema.Close()
		}
		return err
	}
	if old := g.current.Swap(r); old != nil && old.schema.Close != nil {
		old.schema.Close()
	}
	return nil
}

// Services returns the full names of the services the gateway exposes,
// sorted.
func (g *Gateway) Services() []string {
	return append([]string(nil), g.current.Load().names...)
}

// RESTUnserved returns a sentence for each exposed method that has a
// google.api.http rule REST cannot serve, saying why: the transcoder
// streams over REST only a google.api.HttpBody (the request of a client
// stream, the response of a server stream), and no bidi stream. A REST
// request on such a rule's route fails; gRPC-web, Connect and gRPC serve
// the method. Start-up is the time to say so, rather than at the first
// failed request.
func (g *Gateway) RESTUnserved() []string {
	return append([]string(nil), g.current.Load().restUnserved...)
}

// restUnserved finds the methods of [Gateway.RESTUnserved], in order.
func restUnserved(services []protoreflect.ServiceDescriptor, exposed map[string]bool) []string {
	var out []string
	for _, sd := range services {
		if !exposed[string(sd.FullName())] {
			continue
		}
		for i := 0; i < sd.Methods().Len(); i++ {
			m := sd.Methods().Get(i)
			if !m.IsStreamingClient() && !m.IsStreamingServer() {
				continue
			}
			rule := httpRuleOf(m)
			if rule == nil {
				continue
			}
			var routes []string
			var why string
			for _, b := range bindingsOf(rule) {
				switch {
				case m.IsStreamingClient() && m.IsStreamingServer():
					why = "it is a bidi stream, which REST does not carry"
				case m.IsStreamingServer() && !isHTTPBody(m.Output(), b.responseBody):
					why = "it streams responses, which REST carries only as a google.api.HttpBody"
				case m.IsStreamingClient() && !isHTTPBody(m.Input(), b.body):
					why = "it streams requests, which REST carries only as a google.api.HttpBody"
				default:
					continue
				}
				routes = append(routes, b.verb+" "+b.template)
			}
			if len(routes) == 0 {
				continue
			}
			noun := "route"
			if len(routes) > 1 {
				noun = "routes"
			}
			out = append(out, fmt.Sprintf("%s: REST cannot serve its google.api.http %s %s: %s; gRPC-web, Connect and gRPC serve the method", methodPath(m), noun, strings.Join(routes, ", "), why))
		}
	}
	sort.Strings(out)
	return out
}

// isHTTPBody reports whether the part of msg that a rule's body or
// response_body names (the whole message for "" or "*") is one
// google.api.HttpBody: not a list or map of them, which the transcoder
// does not stream either.
func isHTTPBody(msg protoreflect.MessageDescriptor, field string) bool {
	if field != "" && field != "*" {
		fd := msg.Fields().ByName(protoreflect.Name(field))
		if fd == nil || fd.Message() == nil || fd.IsList() || fd.IsMap() {
			return false
		}
		msg = fd.Message()
	}
	return msg.FullName() == "google.api.HttpBody"
}

// build makes the transcoder for schema.
func (g *Gateway) build(schema *Schema) (*routes, error) {
	byName := map[string]protoreflect.ServiceDescriptor{}
	for _, sd := range schema.Services {
		byName[string(sd.FullName())] = sd
	}
	wanted := g.opts.Services
	if len(wanted) == 0 {
		for name := range byName {
			wanted = append(wanted, name)
		}
	}
	r := &routes{schema: schema, exposed: map[string]bool{}, connectJSON: map[string]bool{}}
	var types TypeResolver = protoregistry.GlobalTypes
	if schema.Types != nil {
		types = schema.Types
	}
	types = &lenientTypes{TypeResolver: types}
	var services []*vanguard.Service
	for _, name := range wanted {
		sd, ok := byName[name]
		if !ok {
			return nil, fmt.Errorf("--services: the backend has no service %s (it has %s)", name, strings.Join(sortedKeys(byName), ", "))
		}
		if r.exposed[name] {
			continue
		}
		r.exposed[name] = true
		r.names = append(r.names, name)
		services = append(services, vanguard.NewServiceWithSchema(sd, g.transcodedHandler(r),
			vanguard.WithTargetProtocols(vanguard.ProtocolGRPC),
			vanguard.WithTargetCodecs(vanguard.CodecProto),
			// Not every gRPC server has gzip: vanguard decompresses.
			vanguard.WithNoTargetCompression(),
			vanguard.WithTypeResolver(types),
			// vanguard buffers whole messages, decompressed: bound them as
			// gRPC does, so one request cannot take gigabytes.
			vanguard.WithMaxMessageBufferBytes(g.maxMessageBytes()),
		))
	}
	sort.Strings(r.names)
	r.restUnserved = restUnserved(schema.Services, r.exposed)
	rules, left := defaultRules(schema.Services, r.exposed)
	r.methods = methodBindings(schema.Services, r.exposed, rules)
	for _, m := range left {
		r.connectJSON[methodPath(m)] = true
	}
	t, err := vanguard.NewTranscoder(services,
		vanguard.WithRules(rules...),
		vanguard.WithUnknownHandler(http.HandlerFunc(notFound)),
	)
	if err != nil {
		return nil, fmt.Errorf("gateway routes: %w", err)
	}
	r.transcoder = t
	return r, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// defaultRules give every exposed unary method the REST route
// POST /pkg.Service/Method with the request as its JSON body, which is
// what a curl user tries first. vanguard matches a rule's selector as a
// prefix of method names, so a method whose name starts another's (Get and
// GetAll) gets no rule: it is returned in left, to be served as Connect
// unary JSON on the same path.
func defaultRules(all []protoreflect.ServiceDescriptor, exposed map[string]bool) (rules []*annotations.HttpRule, left []protoreflect.MethodDescriptor) {
	var methods []protoreflect.MethodDescriptor
	for _, sd := range all {
		if !exposed[string(sd.FullName())] {
			continue
		}
		for i := 0; i < sd.Methods().Len(); i++ {
			methods = append(methods, sd.Methods().Get(i))
		}
	}
	annotated := annotatedPosts(methods)
	for _, m := range methods {
		switch {
		case m.IsStreamingClient() || m.IsStreamingServer():
		case annotated[methodPath(m)]:
			// The method's own google.api.http rule (or another's) takes
			// the path already: a second route there is refused.
		case prefixesAnother(m, methods):
			left = append(left, m)
		default:
			rules = append(rules, &annotations.HttpRule{
				Selector: string(m.FullName()),
				Pattern:  &annotations.HttpRule_Post{Post: methodPath(m)},
				Body:     "*",
			})
		}
	}
	return rules, left
}

// annotatedPosts returns the paths that the methods' google.api.http rules,
// with their additional bindings, bind to POST.
func annotatedPosts(methods []protoreflect.MethodDescriptor) map[string]bool {
	posts := map[string]bool{}
	var add func(rule *annotations.HttpRule)
	add = func(rule *annotations.HttpRule) {
		if p := rule.GetPost(); p != "" {
			posts[p] = true
		}
		for _, b := range rule.GetAdditionalBindings() {
			add(b)
		}
	}
	for _, m := range methods {
		if rule := httpRuleOf(m); rule != nil {
			add(rule)
		}
	}
	return posts
}

// methodPath returns /pkg.Service/Method.
func methodPath(m protoreflect.MethodDescriptor) string {
	return "/" + string(m.Parent().FullName()) + "/" + string(m.Name())
}

func prefixesAnother(m protoreflect.MethodDescriptor, all []protoreflect.MethodDescriptor) bool {
	for _, o := range all {
		if o != m && strings.HasPrefix(string(o.FullName()), string(m.FullName())) {
			return true
		}
	}
	return false
}

// ServeHTTP answers CORS preflights, passes native gRPC through to the
// backend and hands every other request to the transcoder.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec, r := g.log.start(w, r)
	defer rec.finish()
	if g.cors.preflight(rec, r) {
		return
	}
	g.cors.apply(rec, r)
	routes := g.current.Load()
	if isNativeGRPC(r) {
		g.serveNative(rec, r, routes)
		return
	}
	if routes.connectJSON[r.URL.Path] && r.Method == http.MethodPost && r.Header.Get("Connect-Protocol-Version") == "" {
		r.Header.Set("Connect-Protocol-Version", "1")
		if r.Header.Get("Content-Type") == "" {
			r.Header.Set("Content-Type", "application/json")
		}
	}
	cw := &clientErrors{ResponseWriter: rec, note: noteFrom(r.Context())}
	if servedAsREST(r) {
		r, cw.rest = withRESTTrailers(r)
		r = withRoutingPath(r)
	}
	routes.transcoder.ServeHTTP(cw, withRESTRequest(r))
	cw.finish()
}

// withRoutingPath gives the transcoder a REST request's path unescaped
// but for %2F and %25. The transcoder splits a path at its slashes, finds
// a custom verb at a ':' of the last segment, compares fixed segments as
// they are and unescapes the segments of variables; it reads URL.Path,
// which Go's server has unescaped entirely, so a %2F in a variable (a/b as
// one segment) split it in two and a %25 was unescaped twice, and neither
// routed. Left escaped, they are unescaped once, by the transcoder: a
// single-segment variable gets a/b, and a multi-segment one ({name=**})
// keeps %2F, as the google.api.http rules say.
func withRoutingPath(r *http.Request) *http.Request {
	raw := r.URL.RawPath
	if unescaped, err := url.PathUnescape(raw); raw == "" || err != nil || unescaped != r.URL.Path {
		// RawPath is the path as sent when it is set, even where Go's
		// EscapedPath would escape the whole path again ("|" in it).
		raw = r.URL.EscapedPath()
	}
	if !strings.Contains(raw, "%") {
		return r
	}
	var b strings.Builder
	for i := 0; i < len(raw); i++ {
		if raw[i] == '%' && i+2 < len(raw) {
			if c, err := url.PathUnescape(raw[i : i+3]); err == nil && c != "/" && c != "%" {
				b.WriteString(c)
				i += 2
				continue
			}
		}
		b.WriteByte(raw[i])
	}
	u := *r.URL
	u.Path, u.RawPath = b.String(), ""
	r = r.WithContext(r.Context()) // a shallow copy
	r.URL = &u
	return r
}

// serveNative proxies a gRPC request whose service is exposed, or which
// asks reflection, and refuses the others with UNIMPLEMENTED.
func (g *Gateway) serveNative(w http.ResponseWriter, r *http.Request, routes *routes) {
	service, method, _ := strings.Cut(strings.TrimPrefix(r.URL.EscapedPath(), "/"), "/")
	if len(g.opts.Services) > 0 {
		// Only /Service/Method: a server takes the service from before
		// the last slash, and a proxy between may resolve dot segments,
		// so a longer path could reach a service the check did not see.
		if method == "" || strings.ContainsAny(method, "/%") || strings.Contains(service, "%") {
			writeGRPCError(w, 12, fmt.Sprintf("malformed method path %q: want /package.Service/Method", r.URL.EscapedPath()))
			return
		}
		if !routes.exposed[service] && !isReflection(service) {
			writeGRPCError(w, 12, fmt.Sprintf("service %s is not exposed by this gateway", service))
			return
		}
	}
	g.backendHandler().ServeHTTP(w, r)
}

// backendHandler proxies a gRPC request to the backend, noting the method
// and its status for the request log.
func (g *Gateway) backendHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		note := noteFrom(r.Context())
		if note != nil {
			note.method = strings.TrimPrefix(r.URL.EscapedPath(), "/")
		}
		r = withStart(watchBody(r))
		g.proxy.ServeHTTP(w, r)
		// The proxy's own answers (a backend it cannot reach) note their
		// status themselves: the transcoder may have taken the headers.
		if s := grpcStatusOf(w.Header()); note != nil && s != "" {
			note.grpcStatus = s
		}
	})
}

// transcodedHandler is backendHandler for the transcoder, which indexes a
// table of the codes gRPC defines with the backend's status: one beyond
// them (a server's own, say 17) would panic it, so it gets UNKNOWN, as a
// gRPC client reads a code it does not know. Native gRPC passes through as
// it is.
//
// It also refuses a REST request whose query would set a field its route
// binds to the path or the body (see queryConflict).
func (g *Gateway) transcodedHandler(routes *routes) http.Handler {
	backend := g.backendHandler()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mr := routes.methods[r.URL.Path]
		if mr != nil && !mr.method.IsStreamingClient() && r.Body != nil {
			r.Body = &oneMessageAtLeast{ReadCloser: r.Body}
		}
		if rr, ok := r.Context().Value(restRequestKey{}).(*restRequest); ok {
			if mr != nil {
				if msg := mr.queryConflict(rr); msg != "" {
					if note := noteFrom(r.Context()); note != nil {
						note.method, note.grpcStatus = strings.TrimPrefix(r.URL.Path, "/"), codes.InvalidArgument.String()
					}
					writeGRPCError(w, codes.InvalidArgument, msg)
					return
				}
			}
		}
		defer func() {
			// The proxy aborts when it cannot write the backend's answer
			// on; here the writer is the transcoder's, which refuses a
			// message over its limit and has answered the client with an
			// error already: let it finish that answer rather than cut
			// the connection.
			if v := recover(); v != nil && v != http.ErrAbortHandler {
				panic(v)
			}
		}()
		backend.ServeHTTP(&knownCodes{ResponseWriter: w}, r)
		clampStatus(w.Header()) // the trailers, set once the body is done
		keepTrailers(r, w.Header())
	})
}

// oneMessageAtLeast is the body of a transcoded call to a method that
// takes one request: when it ends empty, it is one empty message. The
// transcoder sends no message at all for an empty REST or Connect JSON
// body (a POST of nothing, the natural way to call a method taking
// Empty), which the backend refuses as a cardinality violation, a 500
// for the client's empty body; grpc-gateway reads it as an empty message.
type oneMessageAtLeast struct {
	io.ReadCloser
	seen bool // some bytes were read
	rest []byte
}

// emptyFrame is a gRPC message frame holding an empty, uncompressed
// message.
var emptyFrame = [5]byte{}

func (b *oneMessageAtLeast) Read(p []byte) (int, error) {
	if b.rest != nil {
		n := copy(p, b.rest)
		if b.rest = b.rest[n:]; len(b.rest) == 0 {
			return n, io.EOF
		}
		return n, nil
	}
	n, err := b.ReadCloser.Read(p)
	if n > 0 {
		b.seen = true
	}
	if err == io.EOF && !b.seen && n == 0 {
		b.seen = true
		b.rest = emptyFrame[:]
		return b.Read(p)
	}
	return n, err
}

// knownCodes writes a response with clampStatus applied to its headers
// (a trailers-only response carries its status there), once, as they go
// out with the first write.
type knownCodes struct {
	http.ResponseWriter
	headerDone bool
}

func (k *knownCodes) header() {
	if !k.headerDone {
		k.headerDone = true
		clampStatus(k.Header())
	}
}

func (k *knownCodes) WriteHeader(code int) {
	k.header()
	k.ResponseWriter.WriteHeader(code)
}

func (k *knownCodes) Write(b []byte) (int, error) {
	k.header()
	return k.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController flush the writer.
func (k *knownCodes) Unwrap() http.ResponseWriter { return k.ResponseWriter }

// clampStatus turns a grpc-status beyond the codes gRPC defines into
// UNKNOWN, in the headers and in the trailers.
func clampStatus(h http.Header) {
	for _, key := range []string{"Grpc-Status", http.TrailerPrefix + "Grpc-Status"} {
		if v := h.Get(key); v != "" {
			if n, err := strconv.Atoi(v); err != nil || n < 0 || n > int(codes.Unauthenticated) {
				h.Set(key, strconv.Itoa(int(codes.Unknown)))
			}
		}
	}
}

func isReflection(service string) bool {
	return service == "grpc.reflection.v1.ServerReflection" || service == "grpc.reflection.v1alpha.ServerReflection"
}

// isNativeGRPC reports a gRPC (not gRPC-web) request.
func isNativeGRPC(r *http.Request) bool {
	ct := r.Header.Get("Content-Type")
	return r.Method == http.MethodPost && (ct == "application/grpc" || strings.HasPrefix(ct, "application/grpc+") || strings.HasPrefix(ct, "application/grpc;"))
}

// notFound answers a request no route matches.
func notFound(w http.ResponseWriter, r *http.Request) {
	text := fmt.Sprintf("no method of this gateway answers %s %s", r.Method, r.URL.Path)
	ct := r.Header.Get("Content-Type")
	msg, _ := json.Marshal(text)
	if note := noteFrom(r.Context()); note != nil && protocolOf(r) != "rest" {
		note.grpcStatus = codes.Unimplemented.String() // what those clients read
	}
	switch {
	case protocolOf(r) == "grpc-web":
		// In the client's protocol: a trailers-only answer, UNIMPLEMENTED
		// as a gRPC server says it, in the content type it asked in.
		writeStatus(w, ct, codes.Unimplemented, text)
		return
	case strings.HasPrefix(ct, "application/connect+"):
		// A Connect stream: the error is the end-of-stream message.
		end := []byte(`{"error":{"code":"unimplemented","message":` + string(msg) + `}}`)
		w.Header().Set("Content-Type", ct)
		w.WriteHeader(http.StatusOK)
		w.Write(append([]byte{2, byte(len(end) >> 24), byte(len(end) >> 16), byte(len(end) >> 8), byte(len(end))}, end...))
		return
	case protocolOf(r) == "connect":
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprintf(w, `{"code":"unimplemented","message":%s}`+"\n", msg)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusNotFound)
	fmt.Fprintf(w, `{"code":5,"message":%s}`+"\n", msg)
}

// Server returns an HTTP server for g. Without tlsConfig it accepts
// HTTP/1.1 and HTTP/2 without TLS (h2c with prior knowledge, as gRPC
// clients speak it); with tlsConfig, both over TLS through ALPN.
func (g *Gateway) Server(tlsConfig *tls.Config) *http.Server {
	srv := &http.Server{Handler: g, Protocols: new(http.Protocols), ReadHeaderTimeout: 10 * time.Second}
	srv.Protocols.SetHTTP1(true)
	if tlsConfig != nil {
		srv.TLSConfig = tlsConfig
		srv.Protocols.SetHTTP2(true)
	} else {
		srv.Protocols.SetUnencryptedHTTP2(true)
	}
	return srv
}

// defaultMaxMessageBytes is the largest message the gateway buffers unless
// told otherwise: grpc-go's default receive limit.
const defaultMaxMessageBytes = 4 << 20

func (g *Gateway) maxMessageBytes() uint32 {
	if n := g.opts.MaxMessageBytes; n > 0 {
		return uint32(min(n, math.MaxUint32))
	}
	return defaultMaxMessageBytes
}

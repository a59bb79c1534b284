package invoke

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Protocol names the wire protocol a call is made with.
type Protocol string

// The protocols grpcx speaks.
const (
	ProtocolGRPC    Protocol = "grpc"
	ProtocolGRPCWeb Protocol = "grpc-web"
	ProtocolConnect Protocol = "connect"
)

// ParseProtocol checks a protocol name given by the user; "" means gRPC.
func ParseProtocol(name string) (Protocol, error) {
	switch p := Protocol(name); p {
	case "":
		return ProtocolGRPC, nil
	case ProtocolGRPC, ProtocolGRPCWeb, ProtocolConnect:
		return p, nil
	}
	return "", fmt.Errorf("unknown protocol %q: the protocols are grpc, grpc-web and connect", name)
}

// ErrBidiNeedsHTTP2 is returned for a bidi-streaming call on a [WebConn] that
// speaks HTTP/1.1, which cannot carry requests and responses at once.
var ErrBidiNeedsHTTP2 = errors.New("bidi-streaming calls need HTTP/2, and this connection is HTTP/1.1")

// defaultMaxRecvMsgSize is grpc-go's limit on a response, which a WebConn
// applies too so that --max-msg-sz means the same with every protocol.
const defaultMaxRecvMsgSize = 4 << 20

// WebConn makes calls with the gRPC-web or Connect protocol, through
// connect-go, behind grpc-go's [grpc.ClientConnInterface], so that [Invoke]
// and everything built on it (reflection clients too) use it unchanged. It
// honours the call options [Invoke] and the CLI pass (grpc.Header,
// grpc.Trailer, grpc.UseCompressor, grpc.MaxCallRecvMsgSize), sends the
// outgoing metadata of the context as request headers, sends the context's
// deadline as the protocol's timeout, and returns failures as gRPC status
// errors with their details. Create one with [DialWeb].
type WebConn struct {
	protocol  Protocol
	baseURL   string // scheme://host[/prefix], without a trailing slash
	client    *http.Client
	transport *http.Transport
	http1     bool
	userAgent string
	stats     []stats.Handler
}

var _ grpc.ClientConnInterface = (*WebConn)(nil)

// Protocol returns the protocol the connection speaks.
func (c *WebConn) Protocol() Protocol { return c.protocol }

// BaseURL returns the URL method paths are appended to.
func (c *WebConn) BaseURL() string { return c.baseURL }

// HTTPVersion returns "HTTP/2" or "HTTP/1.1": what the connection was
// told to use or, over TLS, what the server agreed to.
func (c *WebConn) HTTPVersion() string {
	if c.http1 {
		return "HTTP/1.1"
	}
	return "HTTP/2"
}

// Supports reports, before a call, whether the connection can carry calls of
// kind: bidi streams need HTTP/2.
func (c *WebConn) Supports(kind Kind) error {
	if kind == Bidi && c.http1 {
		return ErrBidiNeedsHTTP2
	}
	return nil
}

// Close releases the connection's idle HTTP connections.
func (c *WebConn) Close() error {
	c.transport.CloseIdleConnections()
	return nil
}

// schemaCallOption carries a method's descriptor from [Invoke] to a
// [WebConn], which gives it to connect-go as the call's schema; grpc-go
// ignores it.
type schemaCallOption struct {
	grpc.EmptyCallOption
	method protoreflect.MethodDescriptor
}

// callSettings are the call options a WebConn understands.
type callSettings struct {
	headers, trailers []*metadata.MD
	compressor        string
	maxRecv           int
	method            protoreflect.MethodDescriptor
}

func parseCallOptions(opts []grpc.CallOption) callSettings {
	s := callSettings{maxRecv: defaultMaxRecvMsgSize}
	for _, o := range opts {
		switch o := o.(type) {
		case grpc.HeaderCallOption:
			s.headers = append(s.headers, o.HeaderAddr)
		case grpc.TrailerCallOption:
			s.trailers = append(s.trailers, o.TrailerAddr)
		case grpc.CompressorCallOption:
			s.compressor = o.CompressorType
		case grpc.MaxRecvMsgSizeCallOption:
			s.maxRecv = o.MaxRecvMsgSize
		case schemaCallOption:
			s.method = o.method
		}
	}
	return s
}

// finish stores the call's response metadata where grpc.Header and
// grpc.Trailer asked for it.
func (s callSettings) finish(header, trailer metadata.MD) {
	for _, p := range s.headers {
		*p = header
	}
	for _, p := range s.trailers {
		*p = trailer
	}
}

// newClient builds a connect-go client for one call of method (a
// /pkg.Service/Method path). Requests and responses are proto.Message
// values passed through pointers, which [webCodec] unwraps, so that
// responses are decoded straight into the caller's message, dynamic or
// generated.
//
// reply, for a unary call, is where the response goes.
func (c *WebConn) newClient(method string, s callSettings, reply proto.Message) *connect.Client[proto.Message, proto.Message] {
	opts := []connect.ClientOption{
		connect.WithCodec(webCodec{}),
		connect.WithReadMaxBytes(s.maxRecv),
		connect.WithInterceptors(&requestHeaders{userAgent: c.userAgent, web: c.protocol == ProtocolGRPCWeb}),
	}
	if s.method != nil {
		// Only for interceptors that look (none of grpcx's do). A
		// compiled-in method, such as reflection's, goes without: looking
		// it up in the registry builds its whole file, a cost on the
		// critical path of a cached call's check.
		opts = append(opts, connect.WithSchema(s.method))
	}
	if reply != nil {
		opts = append(opts, connect.WithResponseInitializer(func(_ connect.Spec, m any) error {
			p, ok := m.(*proto.Message)
			if !ok {
				return fmt.Errorf("grpcx: unexpected response holder %T", m)
			}
			*p = reply
			return nil
		}))
	}
	if c.protocol == ProtocolGRPCWeb {
		opts = append(opts, connect.WithGRPCWeb())
	}
	if s.compressor != "" && s.compressor != "identity" {
		opts = append(opts, connect.WithSendCompression(s.compressor))
	}
	return connect.NewClient[proto.Message, proto.Message](c.client, c.baseURL+method, opts...)
}

// Invoke makes a unary call; it implements grpc.ClientConnInterface.
func (c *WebConn) Invoke(ctx context.Context, method string, args, reply any, opts ...grpc.CallOption) error {
	req, ok := args.(proto.Message)
	if !ok {
		return status.Errorf(codes.Internal, "grpcx: cannot send %T", args)
	}
	resp, ok := reply.(proto.Message)
	if !ok {
		return status.Errorf(codes.Internal, "grpcx: cannot receive into %T", reply)
	}
	s := parseCallOptions(opts)
	st := c.startStats(ctx, method, false, false)
	client := c.newClient(method, s, resp)
	ctx, info := connect.NewClientContext(st.ctx)
	_, err := client.CallUnary(ctx, connect.NewRequest(&req))
	header := responseHeader(info.ResponseHeader())
	trailer := toMetadata(info.ResponseTrailer())
	if err != nil && len(trailer) == 0 {
		// Connect reports a failed unary call's trailers with the error.
		trailer = errorTrailers(err, header)
	}
	s.finish(header, trailer)
	st.outPayload(req)
	if len(header) > 0 {
		st.inHeader(info.ResponseHeader(), header)
	}
	if err != nil {
		err = statusError(ctx, err)
		st.end(err)
		return err
	}
	st.inPayload(resp)
	st.end(nil)
	return nil
}

// NewStream starts a streaming call; it implements grpc.ClientConnInterface.
// The request headers are sent at once for client and bidi streams, and with
// the request for a server stream.
func (c *WebConn) NewStream(ctx context.Context, desc *grpc.StreamDesc, method string, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	if desc.ClientStreams && desc.ServerStreams && c.http1 {
		return nil, fmt.Errorf("%s %s: %w", c.protocol, method, ErrBidiNeedsHTTP2)
	}
	s := parseCallOptions(opts)
	st := c.startStats(ctx, method, desc.ClientStreams, desc.ServerStreams)
	client := c.newClient(method, s, nil)
	ws := &webStream{ctx: ctx, settings: s, stats: st, oneResponse: !desc.ServerStreams}
	var err error
	switch {
	case desc.ClientStreams && desc.ServerStreams:
		ws.conn, err = client.CallBidiStream(st.ctx).Conn()
	case desc.ClientStreams:
		ws.conn, err = client.CallClientStream(st.ctx).Conn()
	default:
		// The request goes with the call: wait for SendMsg.
		ws.startServerStream = func(req proto.Message) (connect.StreamingClientConn, error) {
			stream, err := client.CallServerStream(st.ctx, connect.NewRequest(&req))
			if err != nil {
				return nil, err
			}
			return stream.Conn()
		}
		return ws, nil
	}
	if err != nil {
		return nil, statusError(ctx, err)
	}
	// Send the headers now, as grpc-go does; a failure shows on receive.
	if err := ws.conn.Send(nil); err != nil && !errors.Is(err, io.EOF) {
		ws.conn.CloseResponse()
		return nil, statusError(ctx, err)
	}
	return ws, nil
}

// webStream is a streaming call on a [WebConn], as a grpc.ClientStream. Like
// grpc-go's streams, one goroutine may send while another receives.
type webStream struct {
	ctx      context.Context
	conn     connect.StreamingClientConn
	settings callSettings
	stats    *webStats

	// startServerStream, for server streams, makes the call with its request.
	startServerStream func(proto.Message) (connect.StreamingClientConn, error)
	// oneResponse is set for a client stream: the server sends one
	// response, then the status.
	oneResponse bool

	// Owned by the receiving goroutine.
	received    bool // the first RecvMsg has returned
	header      metadata.MD
	trailer     metadata.MD
	failed      error
	requestSize int64
}

func (s *webStream) Context() context.Context { return s.ctx }

func (s *webStream) SendMsg(m any) error {
	msg, ok := m.(proto.Message)
	if !ok {
		return status.Errorf(codes.Internal, "grpcx: cannot send %T", m)
	}
	before := s.stats.sent()
	if s.startServerStream != nil {
		if s.conn != nil {
			return status.Error(codes.Internal, "grpcx: a server-streaming call takes one request")
		}
		conn, err := s.startServerStream(msg)
		if err != nil {
			s.failed = statusError(s.ctx, err)
			return s.failed
		}
		s.conn = conn
	} else if err := s.conn.Send(msg); err != nil {
		if errors.Is(err, io.EOF) {
			return io.EOF
		}
		return statusError(s.ctx, err)
	}
	s.stats.outPayloadSince(msg, before)
	return nil
}

func (s *webStream) CloseSend() error {
	if s.startServerStream != nil || s.conn == nil {
		return nil // a server stream's request is closed when it is sent
	}
	if err := s.conn.CloseRequest(); err != nil {
		return statusError(s.ctx, err)
	}
	return nil
}

func (s *webStream) RecvMsg(m any) error {
	msg, ok := m.(proto.Message)
	if !ok {
		return status.Errorf(codes.Internal, "grpcx: cannot receive into %T", m)
	}
	if s.conn == nil {
		if s.failed != nil {
			return s.failed
		}
		return status.Error(codes.Internal, "grpcx: receive before the request was sent")
	}
	before := s.stats.received()
	err := s.conn.Receive(msg)
	if !s.received {
		s.received = true
		s.header = responseHeader(s.conn.ResponseHeader())
		if len(s.header) > 0 {
			s.stats.inHeader(s.conn.ResponseHeader(), s.header)
		}
	}
	if err == nil {
		s.stats.inPayloadSince(msg, before)
		if !s.oneResponse {
			return nil
		}
		// As grpc-go does for a call with one response: read on to the
		// status, so that the trailers are in and a failure after the
		// response is the call's.
		if err = s.conn.Receive(msg.ProtoReflect().New().Interface()); err == nil {
			err = connect.NewError(connect.CodeInternal, errors.New("the server sent more than one response to a client-streaming call"))
		}
		if errors.Is(err, io.EOF) {
			s.trailer = toMetadata(s.conn.ResponseTrailer())
			s.conn.CloseResponse()
			s.settings.finish(s.header, s.trailer)
			s.stats.end(nil)
			return nil
		}
	}
	s.trailer = toMetadata(s.conn.ResponseTrailer())
	s.conn.CloseResponse()
	s.settings.finish(s.header, s.trailer)
	if errors.Is(err, io.EOF) {
		s.stats.end(nil)
		return io.EOF
	}
	s.failed = statusError(s.ctx, err)
	s.stats.end(s.failed)
	return s.failed
}

// Header returns the response headers; [Invoke] asks after the first
// RecvMsg. A call that failed before any response has none.
func (s *webStream) Header() (metadata.MD, error) {
	if s.conn == nil {
		return nil, s.failed
	}
	if !s.received {
		return responseHeader(s.conn.ResponseHeader()), nil
	}
	if len(s.header) == 0 {
		return nil, s.failed
	}
	return s.header, nil
}

func (s *webStream) Trailer() metadata.MD { return s.trailer }

// requestHeaders is a connect-go interceptor that sends the outgoing
// metadata of ctx (grpcx's -H and --rpc-header) and grpcx's user agent.
type requestHeaders struct {
	userAgent string
	web       bool
}

func (r *requestHeaders) apply(ctx context.Context, h http.Header) {
	md, _ := metadata.FromOutgoingContext(ctx)
	for k, vs := range md {
		key := http.CanonicalHeaderKey(k)
		h.Del(key)
		for _, v := range vs {
			if strings.HasSuffix(k, "-bin") {
				v = connect.EncodeBinaryHeader([]byte(v))
			}
			h.Add(key, v)
		}
	}
	if r.userAgent != "" {
		ua := r.userAgent + " connect-go/" + connect.Version
		h.Set("User-Agent", ua)
		if r.web {
			h.Set("X-User-Agent", ua)
		}
	}
}

func (r *requestHeaders) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		r.apply(ctx, req.Header())
		return next(ctx, req)
	}
}

func (r *requestHeaders) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return func(ctx context.Context, spec connect.Spec) connect.StreamingClientConn {
		conn := next(ctx, spec)
		r.apply(ctx, conn.RequestHeader())
		return conn
	}
}

func (r *requestHeaders) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return next
}

// reservedHeaders carry the status and framing, not metadata; grpc-go
// keeps them out of headers and trailers too.
var reservedHeaders = map[string]bool{
	"grpc-status":             true,
	"grpc-message":            true,
	"grpc-status-details-bin": true,
}

// toMetadata turns HTTP headers into gRPC metadata: lower-case keys and
// decoded -bin values.
func toMetadata(h http.Header) metadata.MD {
	if h == nil {
		return nil
	}
	md := make(metadata.MD, len(h))
	for k, vs := range h {
		key := strings.ToLower(k)
		if reservedHeaders[key] {
			continue
		}
		for _, v := range vs {
			if strings.HasSuffix(key, "-bin") {
				if b, err := connect.DecodeBinaryHeader(v); err == nil {
					v = string(b)
				}
			}
			md[key] = append(md[key], v)
		}
	}
	return md
}

// responseHeader is the header metadata of an answer whose HTTP headers
// are h. A gRPC-web answer with the status in its headers is
// trailers-only: it has no headers, as grpc-go reports a gRPC one, and its
// one block of metadata is the trailers, which connect-go hands out as the
// trailers too (as the headers, it showed every header twice).
func responseHeader(h http.Header) metadata.MD {
	if h.Get("Grpc-Status") != "" {
		return nil // as grpc-go's Header() for such an answer
	}
	return toMetadata(h)
}

// errorTrailers is the part of a failed call's error metadata that was not
// among the response headers: connect-go merges the two for errors.
func errorTrailers(err error, header metadata.MD) metadata.MD {
	var ce *connect.Error
	if !errors.As(err, &ce) {
		return nil
	}
	all := toMetadata(ce.Meta())
	for k := range header {
		delete(all, k)
	}
	return all
}

// statusError turns a connect-go error into a gRPC status error with the
// same code, message and details (as Any values), so that the rest of grpcx
// cannot tell which protocol failed.
func statusError(ctx context.Context, err error) error {
	var silent *silentServerError
	if errors.As(err, &silent) {
		return &ConnectError{Target: silent.addr, Err: silent}
	}
	var ce *connect.Error
	if !errors.As(err, &ce) {
		if ctx.Err() != nil {
			return status.FromContextError(ctx.Err()).Err()
		}
		return status.Error(codes.Unknown, err.Error())
	}
	code := codes.Code(ce.Code())
	if code == codes.Canceled && errors.Is(context.Cause(ctx), context.DeadlineExceeded) {
		code = codes.DeadlineExceeded
	}
	st := status.New(code, ce.Message())
	if len(ce.Details()) == 0 {
		return st.Err()
	}
	p := st.Proto()
	for _, d := range ce.Details() {
		p.Details = append(p.Details, anyDetail(d))
	}
	return status.FromProto(p).Err()
}

// webStats reports a call's events to grpc-go stats handlers (grpcx's
// verbose printer), with sizes on the wire counted on the HTTP bodies.
type webStats struct {
	ctx      context.Context
	handlers []stats.Handler
	counter  *wireCounter
	begin    time.Time
}

func (c *WebConn) startStats(ctx context.Context, method string, clientStream, serverStream bool) *webStats {
	w := &webStats{ctx: ctx, handlers: c.stats, counter: &wireCounter{}, begin: time.Now()}
	w.ctx = withWireCounter(w.ctx, w.counter)
	for _, h := range c.stats {
		w.ctx = h.TagRPC(w.ctx, &stats.RPCTagInfo{FullMethodName: method})
	}
	w.handle(&stats.Begin{Client: true, BeginTime: w.begin, IsClientStream: clientStream, IsServerStream: serverStream})
	return w
}

func (w *webStats) handle(s stats.RPCStats) {
	for _, h := range w.handlers {
		h.HandleRPC(w.ctx, s)
	}
}

func (w *webStats) sent() int64     { return w.counter.out.Load() }
func (w *webStats) received() int64 { return w.counter.in.Load() }

func (w *webStats) inHeader(h http.Header, md metadata.MD) {
	if len(w.handlers) == 0 {
		return
	}
	enc := h.Get("Grpc-Encoding")
	if enc == "" {
		enc = h.Get("Connect-Content-Encoding")
	}
	if enc == "" {
		enc = h.Get("Content-Encoding")
	}
	w.handle(&stats.InHeader{Client: true, Compression: enc, Header: md})
}

func (w *webStats) outPayload(m proto.Message) { w.outPayloadSince(m, 0) }

func (w *webStats) outPayloadSince(m proto.Message, before int64) {
	if len(w.handlers) == 0 {
		return
	}
	w.handle(&stats.OutPayload{Client: true, Length: proto.Size(m), WireLength: int(w.sent() - before), SentTime: time.Now()})
}

func (w *webStats) inPayload(m proto.Message) { w.inPayloadSince(m, 0) }

func (w *webStats) inPayloadSince(m proto.Message, before int64) {
	if len(w.handlers) == 0 {
		return
	}
	w.handle(&stats.InPayload{Client: true, Length: proto.Size(m), WireLength: int(w.received() - before), RecvTime: time.Now()})
}

func (w *webStats) end(err error) {
	w.handle(&stats.End{Client: true, BeginTime: w.begin, EndTime: time.Now(), Error: err})
}

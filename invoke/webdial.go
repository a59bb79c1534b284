package invoke

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/dynamicpb"
	"google.golang.org/protobuf/types/known/anypb"
)

// HTTPTarget is a target written as a URL: http://host[:port][/prefix] for
// plaintext or https://host[:port][/prefix] for TLS.
type HTTPTarget struct {
	// Addr is the host:port to dial, with the scheme's default port when
	// the URL has none.
	Addr string
	// TLS is true for https.
	TLS bool
	// Prefix is the path method paths are appended to ("" or "/api"),
	// for servers mounted below the root by a proxy.
	Prefix string
}

// ParseHTTPTarget parses target when it is an http:// or https:// URL; ok
// is false for any other target (host:port, unix:path).
func ParseHTTPTarget(target string) (t HTTPTarget, ok bool, err error) {
	scheme, _, found := strings.Cut(target, "://")
	if !found || (scheme != "http" && scheme != "https") {
		return t, false, nil
	}
	u, err := url.Parse(target)
	if err != nil {
		return t, true, fmt.Errorf("target %q: %w", target, err)
	}
	if u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return t, true, fmt.Errorf("target %q: want %s://host:port[/prefix]", target, scheme)
	}
	t.TLS = scheme == "https"
	t.Addr = u.Host
	if u.Port() == "" {
		port := "80"
		if t.TLS {
			port = "443"
		}
		t.Addr = net.JoinHostPort(u.Hostname(), port)
	}
	t.Prefix = strings.TrimSuffix(u.EscapedPath(), "/")
	return t, true, nil
}

// DialWeb returns a connection that makes calls with protocol (gRPC-web or
// Connect) to target: host:port (plaintext or TLS as o says),
// unix:path, or an http:// or https:// URL, which decides about TLS itself.
// Like [Dial], it connects at once, so that an unreachable target or a
// failed TLS handshake is reported with the reason; the connection is then
// used for the calls. Calls use HTTP/2: prior knowledge (h2c) in plaintext,
// ALPN over TLS, where a server that only speaks HTTP/1.1 leaves the
// connection on HTTP/1.1. o.HTTP1 asks for HTTP/1.1 from the start; bidi
// calls then fail with [ErrBidiNeedsHTTP2].
func DialWeb(ctx context.Context, target string, protocol Protocol, o DialOptions) (*WebConn, error) {
	if protocol != ProtocolGRPCWeb && protocol != ProtocolConnect {
		return nil, fmt.Errorf("DialWeb: protocol %q is not a web protocol", protocol)
	}
	addr, plaintext, prefix := target, o.Plaintext, ""
	if ht, ok, err := ParseHTTPTarget(target); err != nil {
		return nil, err
	} else if ok {
		addr, plaintext, prefix = ht.Addr, !ht.TLS, ht.Prefix
	}
	host := addr
	if strings.HasPrefix(addr, "unix:") {
		host = "localhost"
	}
	if o.Authority != "" {
		host = o.Authority
	}
	scheme := "https"
	if plaintext {
		scheme = "http"
	}
	var cfg *tls.Config
	if !plaintext {
		cfg = webTLSConfig(o, host)
	}
	if o.ConnectTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, o.ConnectTimeout, &connectTimeoutError{o.ConnectTimeout})
		defer cancel()
	}
	first, http1, err := predial(ctx, addr, plaintext, cfg)
	if err != nil {
		// As in Dial: the connect timeout is a failure to connect, not a
		// deadline of the call's.
		var cte *connectTimeoutError
		if errors.As(context.Cause(ctx), &cte) {
			err = fmt.Errorf("%w (last attempt: %v)", cte, err)
		}
		return nil, &ConnectError{Target: target, Err: err}
	}
	if o.HTTP1 {
		http1 = true
	}
	tr := newTransport(&onceDialer{first: first, addr: addr, cfg: cfg}, plaintext, http1, o)
	return &WebConn{
		protocol:  protocol,
		baseURL:   scheme + "://" + host + prefix,
		client:    &http.Client{Transport: countingTransport{tr}},
		transport: tr,
		http1:     http1,
		userAgent: o.UserAgent,
		stats:     o.StatsHandlers,
	}, nil
}

// HTTP2Transport returns a transport that reaches the gRPC server at target
// (host:port or unix:path) over HTTP/2: prior knowledge (h2c) with
// o.Plaintext, TLS as o says otherwise, through HTTPS_PROXY like [Dial]. It
// also returns the base URL to send requests to (the scheme and
// o.Authority or target). It connects when the first request is sent: a
// gateway uses it to proxy gRPC requests.
func HTTP2Transport(target string, o DialOptions) (*http.Transport, *url.URL, error) {
	if _, ok, _ := ParseHTTPTarget(target); ok {
		return nil, nil, fmt.Errorf("HTTP2Transport: want host:port or unix:path, got %q", target)
	}
	host := target
	if strings.HasPrefix(target, "unix:") {
		host = "localhost"
	}
	if o.Authority != "" {
		host = o.Authority
	}
	base := &url.URL{Scheme: "https", Host: host}
	var cfg *tls.Config
	if o.Plaintext {
		base.Scheme = "http"
	} else {
		o.HTTP1 = false
		cfg = webTLSConfig(o, host)
		cfg.NextProtos = []string{"h2"}
	}
	return newTransport(&onceDialer{addr: target, cfg: cfg}, o.Plaintext, false, o), base, nil
}

// newTransport is an HTTP transport dialling with d and speaking HTTP/2
// unless http1.
func newTransport(d *onceDialer, plaintext, http1 bool, o DialOptions) *http.Transport {
	tr := &http.Transport{
		DialContext:       d.dial,
		DialTLSContext:    d.dialTLS,
		ForceAttemptHTTP2: !http1,
		Protocols:         new(http.Protocols),
	}
	switch {
	case http1:
		tr.Protocols.SetHTTP1(true)
	case plaintext:
		tr.Protocols.SetUnencryptedHTTP2(true)
	default:
		tr.Protocols.SetHTTP2(true)
	}
	if o.KeepaliveTime > 0 {
		tr.HTTP2 = &http.HTTP2Config{SendPingTimeout: o.KeepaliveTime, PingTimeout: o.KeepaliveTime}
	}
	if o.ConnectTimeout > 0 {
		d.timeout = o.ConnectTimeout
		// Over TLS the handshake shows the server speaks within the
		// timeout; over HTTP/1.1 a server speaks only to answer, which a
		// slow call may take long to do. Over plaintext HTTP/2 it sends
		// its SETTINGS at once: a server that accepted the connection and
		// says nothing is not connected, as for gRPC.
		d.firstWord = plaintext && !http1
	}
	return tr
}

// webTLSConfig is o's TLS configuration offering HTTP/2 through ALPN, and
// verifying the host the requests name when no server name is given, as
// grpc-go does with the authority.
func webTLSConfig(o DialOptions, host string) *tls.Config {
	cfg := &tls.Config{}
	if o.TLS != nil {
		cfg = o.TLS.Clone()
	}
	if cfg.ServerName == "" {
		name := host
		if h, _, err := net.SplitHostPort(host); err == nil {
			name = h
		}
		cfg.ServerName = name
	}
	cfg.NextProtos = []string{"h2", "http/1.1"}
	if o.HTTP1 {
		cfg.NextProtos = []string{"http/1.1"}
	}
	return cfg
}

// predial opens the first connection (through HTTPS_PROXY like [Dial]) and
// completes the TLS handshake, reporting failures with the flag that fixes
// them. http1 is true when the server chose HTTP/1.1 over TLS.
func predial(ctx context.Context, addr string, plaintext bool, cfg *tls.Config) (conn net.Conn, http1 bool, err error) {
	rec := &lastError{plaintext: plaintext}
	conn, err = rec.dial(ctx, addr)
	if err != nil {
		return nil, false, withHint(err, plaintext)
	}
	if plaintext {
		return conn, false, nil
	}
	tc := tls.Client(conn, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		conn.Close()
		return nil, false, withHint(fmt.Errorf("TLS handshake: %w", err), false)
	}
	return tc, tc.ConnectionState().NegotiatedProtocol != "h2", nil
}

// onceDialer hands the transport the connection [DialWeb] opened, then
// opens new ones to the same address when the transport needs more.
type onceDialer struct {
	mu      sync.Mutex
	first   net.Conn
	addr    string
	cfg     *tls.Config
	timeout time.Duration // for connections after the first
	// firstWord has each plaintext connection fail when the server sends
	// nothing within timeout (see newTransport).
	firstWord bool
}

func (d *onceDialer) take() net.Conn {
	d.mu.Lock()
	defer d.mu.Unlock()
	c := d.first
	d.first = nil
	return c
}

func (d *onceDialer) dial(ctx context.Context, _, _ string) (net.Conn, error) {
	c := d.take()
	if c == nil {
		ctx, cancel := d.withTimeout(ctx)
		defer cancel()
		var err error
		if c, _, err = predial(ctx, d.addr, true, nil); err != nil {
			return nil, err
		}
	}
	if d.firstWord {
		c = &firstWordConn{Conn: c, addr: d.addr, timeout: d.timeout, deadline: time.Now().Add(d.timeout)}
	}
	return c, nil
}

// firstWordConn is a connection whose first read fails with a
// silentServerError if nothing arrives by deadline.
type firstWordConn struct {
	net.Conn
	addr     string
	timeout  time.Duration
	deadline time.Time
	heard    bool // only the transport's reader reads
}

// silentServerError is a connection to addr on which the server said
// nothing within the connect timeout: a failure to connect, as over gRPC,
// which a call reports as a [ConnectError] (see statusError).
type silentServerError struct {
	addr    string
	timeout time.Duration
}

func (e *silentServerError) Error() string {
	return fmt.Sprintf("the server accepted the connection but sent nothing: %v", &connectTimeoutError{e.timeout})
}

func (e *silentServerError) Unwrap() error { return &connectTimeoutError{e.timeout} }

func (c *firstWordConn) Read(p []byte) (int, error) {
	if c.heard {
		return c.Conn.Read(p)
	}
	_ = c.Conn.SetReadDeadline(c.deadline)
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.heard = true
		_ = c.Conn.SetReadDeadline(time.Time{})
	}
	var ne net.Error
	if n == 0 && errors.As(err, &ne) && ne.Timeout() {
		return 0, &silentServerError{addr: c.addr, timeout: c.timeout}
	}
	return n, err
}

func (d *onceDialer) dialTLS(ctx context.Context, _, _ string) (net.Conn, error) {
	if c := d.take(); c != nil {
		return c, nil
	}
	ctx, cancel := d.withTimeout(ctx)
	defer cancel()
	c, _, err := predial(ctx, d.addr, false, d.cfg)
	return c, err
}

func (d *onceDialer) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if d.timeout > 0 {
		return context.WithTimeout(ctx, d.timeout)
	}
	return ctx, func() {}
}

// wireCounter counts the bytes of a call's request and response bodies.
type wireCounter struct {
	out, in atomic.Int64
}

type wireCounterKey struct{}

func withWireCounter(ctx context.Context, c *wireCounter) context.Context {
	return context.WithValue(ctx, wireCounterKey{}, c)
}

// countingTransport counts the body bytes of requests whose context has a
// wireCounter.
type countingTransport struct {
	next http.RoundTripper
}

func (t countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	c, _ := req.Context().Value(wireCounterKey{}).(*wireCounter)
	if c == nil {
		return t.next.RoundTrip(req)
	}
	if req.Body != nil && req.Body != http.NoBody {
		out := req.WithContext(req.Context()) // a shallow copy: RoundTrip must not change req
		out.Body = &countingBody{ReadCloser: req.Body, n: &c.out}
		req = out
	}
	resp, err := t.next.RoundTrip(req)
	if err == nil && resp.Body != nil {
		resp.Body = &countingBody{ReadCloser: resp.Body, n: &c.in}
	}
	return resp, err
}

type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	return n, err
}

// webCodec is [dynamicCodec] for connect-go: binary protobuf without the
// required-field walk, merging into the (empty) message it is given. It
// takes messages and pointers to proto.Message variables, which is how a
// connect.Client[proto.Message, proto.Message] passes them.
type webCodec struct{}

var _ connect.Codec = webCodec{}

func (webCodec) Name() string { return "proto" }

func (c webCodec) Marshal(v any) ([]byte, error) { return c.MarshalAppend(nil, v) }

// MarshalAppend lets connect-go marshal into its pooled buffers.
func (webCodec) MarshalAppend(b []byte, v any) ([]byte, error) {
	m, err := asMessage(v)
	if err != nil {
		return nil, err
	}
	if _, ok := m.(*dynamicpb.Message); !ok {
		// makes UseCachedSize safe; dynamicpb has no size cache, and
		// sizing it would only walk it twice (see dynamicCodec.Marshal)
		proto.Size(m)
	}
	return marshalOpts.MarshalAppend(b, m)
}

func (webCodec) Unmarshal(data []byte, v any) error {
	if p, ok := v.(*proto.Message); ok && p != nil && *p != nil {
		v = *p // a unary call's response (see WebConn.newClient)
	}
	if m, ok := v.(*sizedMessage); ok {
		m.decoded(data)
		return m.unmarshal(data)
	}
	m, err := asMessage(v)
	if err != nil {
		return err
	}
	return unmarshalOpts.Unmarshal(data, m)
}

func asMessage(v any) (proto.Message, error) {
	switch v := v.(type) {
	case proto.Message:
		return v, nil
	case *proto.Message:
		if v != nil && *v != nil {
			return *v, nil
		}
	}
	return nil, fmt.Errorf("grpcx codec: cannot handle %T", v)
}

// anyDetail turns a connect-go error detail back into the Any it travelled
// as.
func anyDetail(d *connect.ErrorDetail) *anypb.Any {
	return &anypb.Any{TypeUrl: "type.googleapis.com/" + d.Type(), Value: d.Bytes()}
}

package cmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"

	"github.com/grpcx/grpcx/descsource"
	"github.com/grpcx/grpcx/format"
	"github.com/grpcx/grpcx/invoke"
)

// connOptions are the flags that say where the server is and where
// descriptors come from; list, describe and call share them.
type connOptions struct {
	Target      string
	Plaintext   bool
	Reflect     bool
	Protos      []string
	ImportPaths []string
	Protosets   []string

	Headers        []string
	RPCHeaders     []string
	ReflectHeaders []string
	ExpandHeaders  bool
	UserAgent      string

	TLS       invoke.TLSFiles
	Authority string

	ConnectTimeout float64
	KeepaliveTime  float64
	MaxTime        float64
	MaxMsgSize     int

	// Protocol is the protocol of the method call: grpc (or ""), grpc-web
	// or connect (--protocol; the REPL's set protocol).
	Protocol string
	// ReflectProtocol is the protocol reflection requests use
	// (--reflect-protocol): grpc (or "") by default, whatever the call's.
	ReflectProtocol string
	// HTTP1 makes grpc-web and connect calls use HTTP/1.1 (--http1).
	HTTP1 bool
	// flags says which of the protocol flags the verb has, so that
	// checkProtocol suggests only flags the user can give.
	flags protocolFlags
	// proxiesHeaders is set for the gateway, which sends -H headers as
	// HTTP headers of the calls it proxies, not as gRPC metadata.
	proxiesHeaders bool
	// headerHints say, for names gRPC reserves, the verb's flag that sets
	// what they would ("user-agent": "put text ... with --user-agent").
	headerHints map[string]string

	// Extra dial options, set by verbs.
	extraDial []grpc.DialOption
	// statsHandlers watch the calls (call's verbose printer).
	statsHandlers []stats.Handler
	// started, when set, is given the gRPC connection reflection will use
	// as soon as it exists, with the reflection context, before it is
	// ready (see [invoke.DialOptions.Started]).
	started func(reflectCtx context.Context, cc grpc.ClientConnInterface)
}

// protocolFlags are the protocol flags of a verb.
type protocolFlags int

const (
	// noProtocolFlags: the verb calls methods over gRPC only (gateway),
	// and asks reflection over gRPC.
	noProtocolFlags protocolFlags = iota
	// reflectProtocolFlags: the verb calls no method, and asks reflection
	// over the protocol of --reflect-protocol (list, describe).
	reflectProtocolFlags
	// allProtocolFlags: the verb calls methods over the protocol of
	// --protocol, and asks reflection over that of --reflect-protocol
	// (call, repl, bench).
	allProtocolFlags
)

// addProtocolFlags adds the flags that choose the protocol of calls and of
// reflection, for the verbs that call methods over any of them.
func (o *connOptions) addProtocolFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Protocol, "protocol", "grpc", "`PROTOCOL` of the call: grpc, grpc-web or connect")
	o.addReflectProtocolFlags(fs)
	fs.BoolVar(&o.HTTP1, "http1", false, "make grpc-web and connect calls over HTTP/1.1 (no bidi streams) instead of HTTP/2")
	o.flags = allProtocolFlags
}

// addReflectProtocolFlags adds the flag that chooses the protocol of
// reflection, for list and describe, which call no method: they can
// explore a server that speaks only gRPC-web or Connect. They have no
// --http1: reflection is a bidi stream, which needs HTTP/2.
func (o *connOptions) addReflectProtocolFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.ReflectProtocol, "reflect-protocol", "grpc", "`PROTOCOL` of reflection requests: grpc, grpc-web or connect")
	o.flags = reflectProtocolFlags
}

func (o *connOptions) addFlags(fs *pflag.FlagSet) {
	o.headerHints = map[string]string{"user-agent": userAgentHint, "grpc-timeout": maxTimeHint}
	fs.BoolVar(&o.Plaintext, "plaintext", false, "connect without TLS")
	fs.BoolVar(&o.TLS.Insecure, "insecure", false, "use TLS but skip verifying the server's certificate")
	fs.StringVar(&o.TLS.CACert, "cacert", "", "PEM `FILE` of CA certificates to verify the server with (default: system roots)")
	fs.StringVar(&o.TLS.Cert, "cert", "", "PEM client certificate `FILE`, for mutual TLS (with --key)")
	fs.StringVar(&o.TLS.Key, "key", "", "PEM client key `FILE`, for mutual TLS (with --cert)")
	fs.StringVar(&o.TLS.ServerName, "servername", "", "`NAME` for SNI and to verify the server's certificate against")
	fs.StringVar(&o.Authority, "authority", "", "value of the :authority pseudo-header")
	fs.StringArrayVarP(&o.Headers, "header", "H", nil, "`'name: value'` sent on every request, reflection included (repeatable; @FILE reads one header a line)")
	fs.StringArrayVar(&o.RPCHeaders, "rpc-header", nil, "`'name: value'` sent only on the method call (repeatable)")
	fs.StringArrayVar(&o.ReflectHeaders, "reflect-header", nil, "`'name: value'` sent only on reflection requests (repeatable)")
	fs.BoolVar(&o.ExpandHeaders, "expand-headers", false, "replace ${NAME} in header values with environment variables")
	fs.StringVar(&o.UserAgent, "user-agent", "", "text put before grpcx's own user agent")
	fs.Float64Var(&o.ConnectTimeout, "connect-timeout", 10, "`SECONDS` allowed for connecting (fractions allowed; 0: no limit)")
	fs.Float64Var(&o.KeepaliveTime, "keepalive-time", 0, "send keepalive pings after `SECONDS` of inactivity (0: never)")
	fs.Float64Var(&o.MaxTime, "max-time", 0, "`SECONDS` for the whole operation, sent to the server as the call's deadline (0: no limit)")
	fs.IntVar(&o.MaxMsgSize, "max-msg-sz", 0, "largest response accepted, in `BYTES` (default 4 MiB)")
	fs.BoolVar(&o.Reflect, "reflect", true, "ask the server's reflection service for descriptors (--reflect=false: files only)")
	fs.StringArrayVar(&o.Protos, "proto", nil, "a .proto `FILE` to load descriptors from (repeatable)")
	fs.StringArrayVarP(&o.ImportPaths, "import-path", "I", nil, "a `DIR` to resolve .proto imports from (repeatable)")
	fs.StringArrayVar(&o.Protosets, "protoset", nil, "a protoset `FILE` (serialized FileDescriptorSet) to load descriptors from (repeatable)")
}

// splitTarget takes the target off the front of args when the first
// argument is one: a target always has a colon, a symbol never does.
func splitTarget(args []string) (target string, rest []string) {
	if len(args) > 0 && strings.Contains(args[0], ":") {
		return args[0], args[1:]
	}
	return "", args
}

func (o *connOptions) hasFiles() bool { return len(o.Protos) > 0 || len(o.Protosets) > 0 }

// check reports flag combinations that cannot work.
func (o *connOptions) check() error {
	if o.Target == "" && !o.hasFiles() {
		return usagef(errors.New("no target and no --proto or --protoset: give a server address (host:port or unix:///path) or descriptor files"))
	}
	if err := o.checkProtocol(); err != nil {
		return err
	}
	if o.Target != "" && !o.Reflect && !o.hasFiles() {
		return usagef(errors.New("--reflect=false needs --proto or --protoset to know the server's methods"))
	}
	if len(o.ImportPaths) > 0 && len(o.Protos) == 0 {
		return usagef(errors.New("-I/--import-path is only used with --proto"))
	}
	if o.Plaintext && !o.plaintext() {
		return usagef(errors.New("--plaintext contradicts the https:// target"))
	}
	if tlsFlags := o.TLS.Insecure || o.TLS.CACert != "" || o.TLS.Cert != "" || o.TLS.Key != "" || o.TLS.ServerName != ""; tlsFlags && o.Plaintext {
		return usagef(errors.New("--plaintext cannot be combined with TLS flags (--insecure, --cacert, --cert, --key, --servername)"))
	} else if tlsFlags && o.plaintext() {
		return usagef(errors.New("an http:// target means plaintext: use https:// with TLS flags (--insecure, --cacert, --cert, --key, --servername)"))
	}
	if (o.TLS.Cert == "") != (o.TLS.Key == "") {
		return usagef(errors.New("a client certificate needs both --cert and --key"))
	}
	if o.TLS.Insecure && o.TLS.CACert != "" {
		return usagef(errors.New("--insecure skips verifying the server, so --cacert would do nothing: give one of them"))
	}
	for _, v := range []struct {
		name string
		val  float64
	}{{"--connect-timeout", o.ConnectTimeout}, {"--keepalive-time", o.KeepaliveTime}, {"--max-time", o.MaxTime}} {
		if err := checkSeconds(v.name, v.val); err != nil {
			return err
		}
	}
	if o.MaxMsgSize < 0 {
		return usagef(errors.New("--max-msg-sz must not be negative"))
	}
	return nil
}

// maxSeconds is the most a SECONDS flag takes: about 31 years, well inside
// what a time.Duration holds (292 years).
const maxSeconds = 1e9

// checkSeconds reports a SECONDS flag's value that is not a number of
// seconds from 0 to maxSeconds: NaN, infinities and values past what a
// duration holds would otherwise turn into no limit at all.
func checkSeconds(name string, v float64) error {
	if math.IsNaN(v) || v < 0 || v > maxSeconds {
		return usagef(fmt.Errorf("%s %v: want a number of seconds from 0 to %g", name, v, float64(maxSeconds)))
	}
	return nil
}

// seconds turns a flag's fractional seconds into a duration; a positive
// value under a nanosecond is one, not the 0 that means no limit.
func seconds(s float64) time.Duration {
	d := time.Duration(s * float64(time.Second))
	if d == 0 && s > 0 {
		d = 1
	}
	return d
}

// withMaxTime applies --max-time to the whole operation.
func (o *connOptions) withMaxTime(ctx context.Context) (context.Context, context.CancelFunc) {
	if o.MaxTime > 0 {
		return context.WithTimeoutCause(ctx, seconds(o.MaxTime), errMaxTime)
	}
	return context.WithCancel(ctx)
}

var errMaxTime = errors.New("--max-time exceeded")

// headers parses -H, --rpc-header and --reflect-header into the metadata of
// the method call and of reflection requests.
func (o *connOptions) headers() (rpc, reflect metadata.MD, err error) {
	common, err := o.parseHeaders(o.Headers)
	if err != nil {
		return nil, nil, err
	}
	rpcOnly, err := o.parseHeaders(o.RPCHeaders)
	if err != nil {
		return nil, nil, err
	}
	reflectOnly, err := o.parseHeaders(o.ReflectHeaders)
	if err != nil {
		return nil, nil, err
	}
	return metadata.Join(common, rpcOnly), metadata.Join(common, reflectOnly), nil
}

// parseHeaders reads @FILE values (one header a line; blank lines and
// lines starting with # skipped) and parses the result.
func (o *connOptions) parseHeaders(values []string) (metadata.MD, error) {
	var lines []string
	for _, v := range values {
		file, ok := strings.CutPrefix(v, "@")
		if !ok {
			lines = append(lines, v)
			continue
		}
		data, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("read headers: %w", err)
		}
		for _, line := range strings.Split(string(data), "\n") {
			line = strings.TrimSpace(line)
			if line != "" && !strings.HasPrefix(line, "#") {
				lines = append(lines, line)
			}
		}
	}
	md, err := format.ParseHeaders(lines, o.ExpandHeaders)
	if err != nil {
		return nil, usagef(err)
	}
	check := md
	if o.proxiesHeaders {
		// The gateway sends its -H headers as HTTP headers of the calls it
		// proxies: a user-agent goes through. The other reserved names
		// would break or change every call (content-type, grpc-encoding).
		check = md.Copy()
		delete(check, "user-agent")
	}
	if err := format.CheckReserved(check, o.headerHints); err != nil {
		return nil, usagef(err)
	}
	return md, nil
}

// Hints for the names gRPC reserves, by the flag that sets each.
const (
	userAgentHint = "put text before grpcx's own with --user-agent"
	maxTimeHint   = "give the deadline with --max-time"
	compressHint  = "compress requests with --compress"
)

// userAgent is grpcx's user agent, after the user's.
func (o *connOptions) userAgent() string {
	ua := "grpcx/" + Version
	if o.UserAgent != "" {
		ua = o.UserAgent + " " + ua
	}
	return ua
}

func (o *connOptions) dialOptions() (invoke.DialOptions, error) {
	d := invoke.DialOptions{
		Plaintext:      o.plaintext(),
		HTTP1:          o.HTTP1,
		StatsHandlers:  o.statsHandlers,
		Authority:      o.Authority,
		UserAgent:      o.userAgent(),
		ConnectTimeout: seconds(o.ConnectTimeout),
		KeepaliveTime:  seconds(o.KeepaliveTime),
		Extra:          o.extraDial,
	}
	if !d.Plaintext {
		cfg, err := invoke.TLSConfig(o.TLS)
		if err != nil {
			return d, err
		}
		d.TLS = cfg
	}
	return d, nil
}

// session is an open connection (when there is a target) and the
// descriptor source built from the flags.
type session struct {
	// cc carries the method calls, with the protocol of --protocol: a
	// *grpc.ClientConn or an *invoke.WebConn.
	cc  grpc.ClientConnInterface
	src descsource.Source
	// rpcHeaders is the metadata of the method call.
	rpcHeaders metadata.MD
	// reflectCC and reflectCtx carry reflection requests (with their
	// metadata), for the descriptor cache's check.
	reflectCC  grpc.ClientConnInterface
	reflectCtx context.Context
	// closers release the connections, cc's and reflection's.
	closers []io.Closer
}

func (s *session) Close() {
	for _, c := range s.closers {
		c.Close()
	}
	s.closers = nil
}

// closeAtExit starts closing the connections and returns at once: it is
// what a one-shot verb does last, when grpcx is about to exit, which ends
// them anyway. grpc-go's Close sends the server a GOAWAY and waits for the
// transport's goroutines, 0.2 to 0.5 ms of a one-shot call (2% of its wall
// time over 201 paired rounds). When grpcx exits first, the server sees
// the connection end without the GOAWAY, as it does for any client that
// exits. Run in-process (tests, the demo's steps), the close completes in
// the background.
func (s *session) closeAtExit() {
	closers := s.closers
	s.closers = nil
	go func() {
		for _, c := range closers {
			c.Close()
		}
	}()
}

// types resolves Any and status detail types: the compiled-in well-known
// and google.rpc types first, then the source.
func (s *session) types() descsource.TypeResolver {
	return descsource.TypesOf(s.src)
}

// open connects when needed and builds the descriptor source. needConn
// forces a connection even when descriptors come from files only.
func (o *connOptions) open(ctx context.Context, needConn bool) (*session, error) {
	files, err := o.fileSource(ctx)
	if err != nil {
		return nil, err
	}
	rpcMD, reflectMD, err := o.headers()
	if err != nil {
		return nil, err
	}
	s := &session{src: files, rpcHeaders: rpcMD}
	if o.Target == "" || (!needConn && !o.Reflect) {
		return s, nil
	}
	callProto, reflectProto := o.protocols()
	reflectCtx := metadata.NewOutgoingContext(ctx, reflectMD)
	ownReflectConn := !needConn || reflectProto != callProto
	var started func(*grpc.ClientConn)
	if o.started != nil && o.Reflect {
		started = func(cc *grpc.ClientConn) { o.started(reflectCtx, cc) }
	}
	if needConn {
		callStarted := started // reflection shares the call's connection
		if ownReflectConn {
			callStarted = nil
		}
		if s.cc, err = o.dial(ctx, s, callProto, callStarted); err != nil {
			return nil, err
		}
	}
	if o.Reflect {
		rc := s.cc
		if ownReflectConn {
			if rc, err = o.dial(ctx, s, reflectProto, started); err != nil {
				s.Close()
				if needConn {
					err = fmt.Errorf("reflection over %s: %w; choose another protocol with --reflect-protocol, or give the schema with --proto or --protoset", reflectProto, err)
				}
				return nil, err
			}
		}
		s.reflectCC, s.reflectCtx = rc, reflectCtx
		s.src = descsource.FromReflection(s.reflectCtx, rc, files)
	}
	return s, nil
}

// dial connects to the target with protocol p, for s, which closes the
// connection; a gRPC connection is given to started, when not nil, before
// it is ready.
func (o *connOptions) dial(ctx context.Context, s *session, p invoke.Protocol, started func(*grpc.ClientConn)) (grpc.ClientConnInterface, error) {
	dopts, err := o.dialOptions()
	if err != nil {
		return nil, err
	}
	if p == invoke.ProtocolGRPC {
		dopts.Started = started
		cc, err := invoke.Dial(ctx, o.grpcTarget(), dopts)
		if err != nil {
			return nil, err
		}
		s.closers = append(s.closers, cc)
		return cc, nil
	}
	wc, err := invoke.DialWeb(ctx, o.Target, p, dopts)
	if err != nil {
		return nil, err
	}
	s.closers = append(s.closers, wc)
	return wc, nil
}

// protocols returns the protocols of the call and of reflection, which
// check has validated.
func (o *connOptions) protocols() (call, reflect invoke.Protocol) {
	call, _ = invoke.ParseProtocol(o.Protocol)
	reflect, _ = invoke.ParseProtocol(o.ReflectProtocol)
	return call, reflect
}

// checkProtocol checks --protocol, --reflect-protocol, --http1 and a URL
// target.
func (o *connOptions) checkProtocol() error {
	for _, p := range []struct{ flag, value string }{{"--protocol", o.Protocol}, {"--reflect-protocol", o.ReflectProtocol}} {
		if _, err := invoke.ParseProtocol(p.value); err != nil {
			return usagef(fmt.Errorf("%s: %w", p.flag, err))
		}
	}
	call, reflect := o.protocols()
	callsGRPC := o.flags != reflectProtocolFlags && call == invoke.ProtocolGRPC
	reflectsGRPC := o.Reflect && reflect == invoke.ProtocolGRPC
	if o.HTTP1 && callsGRPC && (reflectsGRPC || !o.Reflect) {
		return usagef(errors.New("--http1 is for --protocol grpc-web or connect: gRPC needs HTTP/2"))
	}
	ht, isURL, err := invoke.ParseHTTPTarget(o.Target)
	if err != nil {
		return usagef(err)
	}
	if isURL && ht.Prefix != "" && (callsGRPC || reflectsGRPC) {
		return usagef(fmt.Errorf("target %q has a path, which gRPC cannot use: %s", o.Target, o.pathHint(callsGRPC)))
	}
	return nil
}

// pathHint says how to reach a target with a path, naming only flags the
// verb has.
func (o *connOptions) pathHint(callsGRPC bool) string {
	switch {
	case o.flags == allProtocolFlags && callsGRPC && o.hasFiles():
		return "give --protocol grpc-web or connect (and --reflect-protocol, or --reflect=false to use only the --proto/--protoset files)"
	case o.flags == allProtocolFlags && callsGRPC:
		return "give --protocol grpc-web or connect (and --reflect-protocol, or --proto/--protoset)"
	case o.flags == noProtocolFlags && callsGRPC:
		return "this verb reaches the server over gRPC only: give its address without a path"
	case o.hasFiles():
		return "give --reflect-protocol grpc-web or connect, or --reflect=false to take the schema from the --proto/--protoset files alone"
	default:
		return "give --reflect-protocol grpc-web or connect, or the schema with --proto or --protoset"
	}
}

// plaintext reports whether to connect without TLS: --plaintext, or an
// http:// target.
func (o *connOptions) plaintext() bool {
	if ht, ok, err := invoke.ParseHTTPTarget(o.Target); ok && err == nil {
		return !ht.TLS
	}
	return o.Plaintext
}

// grpcTarget is the target for gRPC: an http(s):// URL's host and port, or
// the target as given.
func (o *connOptions) grpcTarget() string {
	if ht, ok, err := invoke.ParseHTTPTarget(o.Target); ok && err == nil {
		return ht.Addr
	}
	return o.Target
}

// describeProtocol names how calls travel, for -v.
func describeProtocol(cc grpc.ClientConnInterface) string {
	if w, ok := cc.(*invoke.WebConn); ok {
		return fmt.Sprintf("%s over %s, %s", w.Protocol(), w.HTTPVersion(), w.BaseURL())
	}
	return "grpc over HTTP/2"
}

func (o *connOptions) fileSource(ctx context.Context) (descsource.Source, error) {
	var srcs []descsource.Source
	if len(o.Protos) > 0 {
		s, err := descsource.FromProtoFiles(ctx, o.ImportPaths, o.Protos)
		if err != nil {
			return nil, err
		}
		srcs = append(srcs, s)
	}
	if len(o.Protosets) > 0 {
		s, err := descsource.FromProtosets(o.Protosets)
		if err != nil {
			return nil, err
		}
		srcs = append(srcs, s)
	}
	switch len(srcs) {
	case 0:
		return nil, nil
	case 1:
		return srcs[0], nil
	}
	return descsource.Composite(srcs[0], srcs[1]), nil
}

// withSource runs fn with the descriptor source of the flags, under
// --max-time, and explains its failure when something other than a gRPC
// server answered reflection.
func (o *connOptions) withSource(ctx context.Context, stderr io.Writer, fn func(descsource.Source) error) error {
	ctx, cancel := o.withMaxTime(ctx)
	defer cancel()
	s, err := o.open(ctx, false)
	if err != nil {
		return maxTimeError(ctx, err)
	}
	defer s.closeAtExit()
	err = describeSourceError(fn(s.src))
	o.explainNotGRPC(ctx, err, reflectionPath, nil, stderr, false)
	return maxTimeError(ctx, err)
}

// describeSourceError adds a hint to errors that the user can fix with a
// flag.
func describeSourceError(err error) error {
	if errors.Is(err, descsource.ErrReflectionNotSupported) {
		return fmt.Errorf("%w; give the schema with --proto or --protoset", err)
	}
	return err
}

// reflectionPath is where reflection requests go, for explainNotGRPC.
const reflectionPath = "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"

// explainNotGRPC tells what answered when err says it was not a gRPC server
// (a proxy's 401 or 503 page, say): the HTTP status, headers and the start
// of the body, which grpc-go does not keep.
func (o *connOptions) explainNotGRPC(ctx context.Context, err error, path string, md metadata.MD, w io.Writer, showSecrets bool) {
	st, ok := status.FromError(unwrapStatus(err))
	if !ok || !invoke.NotGRPC(st) {
		return
	}
	if ctx.Err() != nil {
		return
	}
	dopts, derr := o.dialOptions()
	if derr != nil {
		return
	}
	resp, perr := invoke.ProbeHTTP(ctx, o.grpcTarget(), dopts, path, md)
	if perr != nil {
		fmt.Fprintf(w, "grpcx: something other than a gRPC server answered; %v\n", perr)
		return
	}
	fmt.Fprintf(w, "grpcx: something other than a gRPC server answered (a proxy or web server?): HTTP %s\n", resp.Status)
	names := make([]string, 0, len(resp.Header))
	for k := range resp.Header {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		for _, v := range resp.Header[k] {
			fmt.Fprintf(w, "    %s: %s\n", strings.ToLower(k), format.HeaderValue(strings.ToLower(k), v, showSecrets))
		}
	}
	if body := strings.TrimSpace(resp.Body); body != "" {
		fmt.Fprintf(w, "  body:\n    %s\n", strings.ReplaceAll(body, "\n", "\n    "))
	}
}

// unwrapStatus finds a gRPC status error inside wrapped errors, which
// status.FromError does not look through when the text was extended.
func unwrapStatus(err error) error {
	for e := err; e != nil; e = errors.Unwrap(e) {
		if _, ok := e.(interface{ GRPCStatus() *status.Status }); ok {
			return e
		}
	}
	return err
}

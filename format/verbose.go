package format

import (
	"context"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// CallHandler receives the events of a call; it is invoke.Handler, declared
// here so that format does not depend on the engine.
type CallHandler interface {
	OnSendHeaders(md metadata.MD)
	OnReceiveHeaders(md metadata.MD)
	OnReceiveResponse(msg proto.Message)
	OnReceiveTrailers(st *status.Status, md metadata.MD)
}

// VerboseOptions configures a [VerbosePrinter].
type VerboseOptions struct {
	// Level 1 shows the method, metadata both ways, each message, the
	// status and the elapsed time; level 2 adds per-message timing and
	// sizes on the wire, and each request sent.
	Level int
	// ShowSecrets prints credentials in headers instead of masking them.
	ShowSecrets bool
	// RequestCompression is the compressor requests are sent with, if any.
	RequestCompression string
}

// VerbosePrinter narrates a call on a writer (stderr) while passing every
// event on to another handler that prints the responses. It is also a
// grpc stats.Handler: installed on the connection, it learns the wire sizes
// and the response's compression of the method it was made for, ignoring
// other calls on the connection such as reflection.
type VerbosePrinter struct {
	inner CallHandler
	opts  VerboseOptions
	path  atomic.Value // string: the watched method, set by OnResolveMethod

	mu       sync.Mutex // serializes writes: stats arrive from the sending goroutine
	w        io.Writer
	start    time.Time
	last     time.Time
	received int
	sent     int

	// inWire holds the wire sizes of responses received but not yet
	// handled, in order: the engine may decode ahead of the handler.
	wireMu     sync.Mutex
	inWire     []int
	inEncoding atomic.Value // string
}

// NewVerbosePrinter returns a printer narrating a call to w and forwarding
// its events to inner. It can be installed as a stats handler before the
// method is known; it watches the method named by OnResolveMethod.
func NewVerbosePrinter(w io.Writer, inner CallHandler, opts VerboseOptions) *VerbosePrinter {
	now := time.Now()
	p := &VerbosePrinter{inner: inner, opts: opts, w: w, start: now, last: now}
	p.path.Store("")
	return p
}

// SetInner replaces the handler events are forwarded to.
func (p *VerbosePrinter) SetInner(inner CallHandler) { p.inner = inner }

func (p *VerbosePrinter) printf(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, format, args...)
}

// Notef prints one line of narration.
func (p *VerbosePrinter) Notef(format string, args ...any) {
	p.printf("* "+format+"\n", args...)
}

// OnResolveMethod reports the method about to be called, by its HTTP/2
// path (/pkg.Service/Method), and its kind.
func (p *VerbosePrinter) OnResolveMethod(path, kind string) {
	p.path.Store(path)
	p.printf("* method %s (%s)\n", path, kind)
}

// OnSendHeaders prints the request metadata.
func (p *VerbosePrinter) OnSendHeaders(md metadata.MD) {
	p.mu.Lock()
	p.start, p.last = time.Now(), time.Now()
	fmt.Fprintf(p.w, "* request metadata:\n")
	WriteMetadata(p.w, "    ", md, p.opts.ShowSecrets)
	if p.opts.RequestCompression != "" {
		fmt.Fprintf(p.w, "* request compression: %s\n", p.opts.RequestCompression)
	}
	p.mu.Unlock()
	p.inner.OnSendHeaders(md)
}

// OnReceiveHeaders prints the response headers and their encoding.
func (p *VerbosePrinter) OnReceiveHeaders(md metadata.MD) {
	p.mu.Lock()
	fmt.Fprintf(p.w, "* response headers (+%s):\n", p.since(p.start))
	WriteMetadata(p.w, "    ", md, p.opts.ShowSecrets)
	if enc, _ := p.inEncoding.Load().(string); enc != "" {
		fmt.Fprintf(p.w, "* response compression: %s\n", enc)
	}
	p.mu.Unlock()
	p.inner.OnReceiveHeaders(md)
}

// OnReceiveResponse notes the message, then lets inner print it.
func (p *VerbosePrinter) OnReceiveResponse(msg proto.Message) {
	p.mu.Lock()
	p.received++
	if p.opts.Level >= 2 {
		now := time.Now()
		fmt.Fprintf(p.w, "* response %d received (+%s, %s since the previous; %d bytes, %d on the wire)\n",
			p.received, p.since(p.start), now.Sub(p.last).Round(time.Microsecond), proto.Size(msg), p.nextWireSize())
		p.last = now
	} else {
		fmt.Fprintf(p.w, "* response %d received\n", p.received)
	}
	p.mu.Unlock()
	p.inner.OnReceiveResponse(msg)
}

// OnReceiveTrailers lets inner finish, then prints the trailers, the status
// and the elapsed time.
func (p *VerbosePrinter) OnReceiveTrailers(st *status.Status, md metadata.MD) {
	p.inner.OnReceiveTrailers(st, md)
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, "* response trailers:\n")
	WriteMetadata(p.w, "    ", md, p.opts.ShowSecrets)
	fmt.Fprintf(p.w, "* status: %s", st.Code())
	if st.Message() != "" {
		fmt.Fprintf(p.w, ": %s", st.Message())
	}
	fmt.Fprintf(p.w, "\n* %d sent, %d received, elapsed %s\n", p.sent, p.received, p.since(p.start))
}

// CountSent counts a request sent, for a printer that is not the
// connection's stats handler (the REPL's, whose connection outlives its
// calls); a stats handler counts them itself.
func (p *VerbosePrinter) CountSent() {
	p.mu.Lock()
	p.sent++
	p.mu.Unlock()
}

func (p *VerbosePrinter) since(t time.Time) time.Duration {
	return time.Since(t).Round(time.Microsecond)
}

type verboseKey struct{}

// TagRPC marks the calls of the watched method.
func (p *VerbosePrinter) TagRPC(ctx context.Context, info *stats.RPCTagInfo) context.Context {
	if info.FullMethodName == p.path.Load().(string) {
		return context.WithValue(ctx, verboseKey{}, true)
	}
	return ctx
}

// HandleRPC records wire sizes and compression of the watched method.
func (p *VerbosePrinter) HandleRPC(ctx context.Context, s stats.RPCStats) {
	if ctx.Value(verboseKey{}) == nil {
		return
	}
	switch s := s.(type) {
	case *stats.InHeader:
		p.inEncoding.Store(s.Compression)
	case *stats.InPayload:
		if p.opts.Level >= 2 { // only -vv reads them, one per response
			p.wireMu.Lock()
			p.inWire = append(p.inWire, s.WireLength)
			p.wireMu.Unlock()
		}
	case *stats.OutPayload:
		p.mu.Lock()
		p.sent++
		if p.opts.Level >= 2 {
			fmt.Fprintf(p.w, "* request %d sent (+%s; %d bytes, %d on the wire)\n",
				p.sent, p.since(p.start), s.Length, s.WireLength)
		}
		p.mu.Unlock()
	}
}

// TagConn implements stats.Handler.
func (p *VerbosePrinter) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context {
	return ctx
}

// HandleConn implements stats.Handler.
func (p *VerbosePrinter) HandleConn(context.Context, stats.ConnStats) {}

// nextWireSize returns the wire size of the oldest response not yet
// handled.
func (p *VerbosePrinter) nextWireSize() int {
	p.wireMu.Lock()
	defer p.wireMu.Unlock()
	if len(p.inWire) == 0 {
		return 0
	}
	n := p.inWire[0]
	p.inWire = p.inWire[1:]
	return n
}

// Package invoke is grpcx's call engine: it connects to a server ([Dial] for
// gRPC, [DialWeb] for gRPC-web and Connect, both grpc.ClientConnInterface)
// and drives unary, server-streaming, client-streaming and bidi calls of any
// method given only its descriptor. Requests come in through a [RequestSupplier]
// and everything that happens on the call goes out through a [Handler], so
// the one-shot CLI, the REPL, tests and the load mode share this code and
// each decides how to print. Nothing here prints.
package invoke

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"google.golang.org/grpc"
	// Registers gzip, so compressed responses are always accepted and
	// requests can be compressed with grpc.UseCompressor("gzip").
	"google.golang.org/grpc/codes"
	_ "google.golang.org/grpc/encoding/gzip"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"
)

// RequestSupplier fills msg with the next request message. It returns io.EOF
// when there are no more, leaving msg as it was; any other error aborts the
// call. msg is reused between calls: the supplier must fill it completely
// each time. It runs on a goroutine of its own, which may still be inside
// it, or call it once more, after [Invoke] has returned (when the server
// ended the call early, or the call's context ended while the supplier
// waited for input): a supplier must not share state with a later call.
type RequestSupplier func(msg proto.Message) error

// Handler receives the events of one call, in order. All its methods are
// called from the goroutine that called [Invoke], never concurrently. The
// message passed to OnReceiveResponse is reused after the method returns.
type Handler interface {
	// OnSendHeaders is called with the request metadata before the call
	// starts.
	OnSendHeaders(md metadata.MD)
	// OnReceiveHeaders is called with the response headers, if the server
	// sent any, before the first response.
	OnReceiveHeaders(md metadata.MD)
	// OnReceiveResponse is called for each response message as it arrives.
	OnReceiveResponse(msg proto.Message)
	// OnReceiveTrailers is called last, with the call's final status (OK
	// included) and the trailers.
	OnReceiveTrailers(st *status.Status, md metadata.MD)
}

// A WireKeeper is a Handler that may want the wire form of responses as
// well as the decoded messages: one whose types may turn out not to be the
// server's, say, which then decodes the bytes again. Before each response
// is received the engine asks WantWire, from whichever goroutine receives
// it; when that said true, OnReceiveWire is called with a copy of the
// response's wire form, the handler's to keep, just before
// OnReceiveResponse with the same message.
type WireKeeper interface {
	Handler
	WantWire() bool
	OnReceiveWire(wire []byte)
}

// ErrTooManyRequests is returned when a unary or server-streaming call's
// supplier offers more than one request.
var ErrTooManyRequests = errors.New("this method takes exactly one request message, but the input holds more")

// Kind names the four call shapes.
type Kind string

// The call kinds.
const (
	Unary           Kind = "unary"
	ServerStreaming Kind = "server-streaming"
	ClientStreaming Kind = "client-streaming"
	Bidi            Kind = "bidi-streaming"
)

// KindOf returns the call shape of a method.
func KindOf(md protoreflect.MethodDescriptor) Kind {
	switch {
	case md.IsStreamingClient() && md.IsStreamingServer():
		return Bidi
	case md.IsStreamingClient():
		return ClientStreaming
	case md.IsStreamingServer():
		return ServerStreaming
	}
	return Unary
}

// MethodPath returns the HTTP/2 path of a method: /package.Service/Method.
func MethodPath(md protoreflect.MethodDescriptor) string {
	return "/" + string(md.Parent().FullName()) + "/" + string(md.Name())
}

// Invoke calls method on cc with the request metadata md, taking requests
// from next and reporting to h. It returns nil when the call ends with OK, the
// call's status error (see status.FromError) when it fails, or the error
// from next when the input fails (after cancelling the call).
func Invoke(ctx context.Context, cc grpc.ClientConnInterface, method protoreflect.MethodDescriptor,
	md metadata.MD, next RequestSupplier, h Handler, opts ...grpc.CallOption) error {
	opts = append([]grpc.CallOption{grpc.ForceCodecV2(dynamicCodec{}), schemaCallOption{method: method}}, opts...)
	c := &call{cc: cc, method: method, path: MethodPath(method), next: next, h: h, opts: opts}
	c.wire, _ = h.(WireKeeper)
	for _, o := range opts {
		if o, ok := o.(extensionsOption); ok {
			c.extensions = newNotFoundOnError(o.r) // made once, not per response
		}
	}
	if md == nil {
		md = metadata.MD{}
	}
	h.OnSendHeaders(md)
	ctx = metadata.NewOutgoingContext(ctx, md)
	switch KindOf(method) {
	case Unary:
		return c.unary(ctx)
	case ServerStreaming:
		return c.serverStream(ctx)
	default:
		return c.requestStream(ctx)
	}
}

type call struct {
	cc     grpc.ClientConnInterface
	method protoreflect.MethodDescriptor
	path   string
	next   RequestSupplier
	h      Handler
	wire   WireKeeper // h, when it is one
	opts   []grpc.CallOption
	// extensions resolves the extensions responses hold (see
	// WithExtensions); nil means those compiled into grpcx.
	extensions ExtensionResolver
}

// single reads the one request of a unary or server-streaming call. No
// input at all means an empty request. The input is read on a goroutine of
// its own, so that the call's end (a deadline, Ctrl-C) ends the wait for it:
// reading standard input cannot be interrupted, and a read left behind has
// its result dropped. Such an end is reported to the handler as the call's.
func (c *call) single(ctx context.Context) (proto.Message, error) {
	type read struct {
		req proto.Message
		err error
	}
	done := make(chan read, 1)
	go func() {
		req, err := c.readSingle()
		done <- read{req, err}
	}()
	select {
	case r := <-done:
		return r.req, r.err
	case <-ctx.Done():
		return nil, c.finish(status.FromContextError(ctx.Err()).Err(), nil)
	}
}

func (c *call) readSingle() (proto.Message, error) {
	req := dynamicpb.NewMessage(c.method.Input())
	if err := c.next(req); err != nil && err != io.EOF {
		return nil, err
	}
	// A second request is an error whatever it holds, so it may overwrite
	// the first; at the end of the input the supplier leaves it alone.
	switch err := c.next(req); err {
	case io.EOF:
		return req, nil
	case nil:
		return nil, ErrTooManyRequests
	default:
		return nil, err
	}
}

func (c *call) unary(ctx context.Context) error {
	req, err := c.single(ctx)
	if err != nil {
		return err
	}
	resp := dynamicpb.NewMessage(c.method.Output())
	var header, trailer metadata.MD
	opts := append(c.opts[:len(c.opts):len(c.opts)], grpc.Header(&header), grpc.Trailer(&trailer))
	into := c.into(resp)
	err = c.cc.Invoke(ctx, c.path, req, &into, opts...)
	if header != nil {
		c.h.OnReceiveHeaders(header)
	}
	if err == nil {
		c.deliver(resp, into.wire)
	}
	return c.finish(err, trailer)
}

// into returns what the codecs decode msg into: msg, measured, and with
// its wire form kept when the handler wants it.
func (c *call) into(msg *dynamicpb.Message) sizedMessage {
	return sizedMessage{msg: msg, keepWire: c.wire != nil && c.wire.WantWire(), extensions: c.extensions}
}

// deliver hands a response to the handler, with its wire form, when kept.
func (c *call) deliver(msg proto.Message, wire []byte) {
	if wire != nil {
		c.wire.OnReceiveWire(wire)
	}
	c.h.OnReceiveResponse(msg)
}

// okStatus is every successful call's status; a Status is not modified
// once made, so one serves all.
var okStatus = status.New(codes.OK, "")

func (c *call) finish(err error, trailer metadata.MD) error {
	st := okStatus
	if err != nil {
		st = status.Convert(err)
	}
	c.h.OnReceiveTrailers(st, trailer)
	return err
}

func (c *call) newStream(ctx context.Context) (grpc.ClientStream, error) {
	desc := &grpc.StreamDesc{
		StreamName:    string(c.method.Name()),
		ServerStreams: c.method.IsStreamingServer(),
		ClientStreams: c.method.IsStreamingClient(),
	}
	return c.cc.NewStream(ctx, desc, c.path, c.opts...)
}

func (c *call) serverStream(ctx context.Context) error {
	req, err := c.single(ctx)
	if err != nil {
		return err
	}
	stream, err := c.newStream(ctx)
	if err != nil {
		return c.finish(err, nil)
	}
	if err := stream.SendMsg(req); err != nil && err != io.EOF {
		return c.finish(err, nil)
	}
	if err := stream.CloseSend(); err != nil {
		return c.finish(err, nil)
	}
	return c.receiveAll(stream)
}

// receiveAll reads responses until the server ends the call, then reports
// the trailers and status.
func (c *call) receiveAll(stream grpc.ClientStream) error {
	if !c.method.IsStreamingServer() {
		return c.receiveOne(stream)
	}
	return c.receivePipelined(stream)
}

// receiveOne reads the single response of a client-streaming call.
func (c *call) receiveOne(stream grpc.ClientStream) error {
	resp := dynamicpb.NewMessage(c.method.Output())
	into := c.into(resp)
	err := stream.RecvMsg(&into)
	c.reportHeaders(stream)
	if err != nil && err != io.EOF {
		return c.finish(err, stream.Trailer())
	}
	if err == nil {
		c.deliver(resp, into.wire)
	}
	return c.finish(nil, stream.Trailer())
}

func (c *call) reportHeaders(stream grpc.ClientStream) {
	if hdr, err := stream.Header(); err == nil && hdr != nil {
		c.h.OnReceiveHeaders(hdr)
	}
}

// received is one result of RecvMsg on the receiving goroutine, or of the
// supplier on the parsing one.
type received struct {
	msg  *dynamicpb.Message
	size int    // bytes on the wire (a request's: 0 if not measured)
	wire []byte // a response's wire form, when the handler wants it
	err  error
}

// pipelineDepth is how many responses may be decoded ahead of the handler.
// A 100k server stream ran a seventh faster at 256 than at 64 (fewer
// hand-overs between the two goroutines), and no faster at 512.
const pipelineDepth = 256

// Large messages are held to a budget as well as a count: a stream of
// megabyte messages decoded 256 ahead of a slower printer (or parsed 256
// ahead of the network) would hold a quarter of a gigabyte. Smaller ones
// are held by the count alone: at most pipelineDepth+2 of them, 1 MiB of
// wire data, stay in a ring. Decoded, the wire's densest form (packed
// varints, 24 bytes each in a dynamic message) can grow twenty-fold, which
// is what the 64 messages of the old free list could reach at 16 KiB.
const (
	largeMessage = 4 << 10 // bytes on the wire
	largeBudget  = 4 << 20 // bytes of large messages decoded or parsed ahead
)

// The parsing goroutine measures the first sizeFirst requests and then one
// in sizeEvery to see whether a stream carries large ones (measuring costs
// a tenth of parsing a small one), and every request once one was large.
// Between two samples at most sizeEvery-1 requests go unmeasured, which
// is the bound the sender had before it had a budget.
const (
	sizeFirst = 8
	sizeEvery = 64
)

// A sizedMessage is what a response is decoded into: the codecs fill msg
// and note the size of its wire form in size, and keep a copy of that form
// in wire when keepWire is set.
type sizedMessage struct {
	msg        *dynamicpb.Message
	size       int
	keepWire   bool
	wire       []byte
	extensions ExtensionResolver // nil: those compiled into grpcx
}

// unmarshal decodes wire into the message.
func (m *sizedMessage) unmarshal(wire []byte) error {
	opts := unmarshalOpts
	if m.extensions != nil {
		opts.Resolver = m.extensions
	}
	return opts.Unmarshal(wire, m.msg)
}

// decoded records, for a codec, the wire form m was decoded from.
func (m *sizedMessage) decoded(wire []byte) {
	m.size = len(wire)
	if m.keepWire {
		m.wire = bytes.Clone(wire)
		if m.wire == nil {
			m.wire = []byte{}
		}
	}
}

// ProtoReflect makes a sizedMessage a proto.Message, so that every codec
// decodes into it as into msg; ours also note the size.
func (m *sizedMessage) ProtoReflect() protoreflect.Message { return m.msg }

// receivePipelined reads a stream's responses on a goroutine of its own,
// decoding each into one of a fixed ring of messages while the handler, on
// this goroutine, prints the previous ones: decoding and printing use two
// cores, and memory stays bounded whatever the stream's length.
//
// The ring needs no channel to hand messages back. With results holding at
// most pipelineDepth, once the receiver has sent response i-1 the handler
// has taken response i-1-pipelineDepth and so has finished with every one
// before it (that receive happens before the send completes), among them
// response i-len(ring), whose message response i reuses.
//
// The receiver empties a message's storage when it reuses it (on the
// handler's goroutine, which is the slower, that cost a tenth of a server
// stream's time); the handler empties a large one as soon as it is done
// with it too, so that the ring holds no large response but those in flight.
func (c *call) receivePipelined(stream grpc.ClientStream) error {
	// The ring holds pointers the receiver only reads once set, and all
	// that changes travels by channel: slots written by one goroutine next
	// to slots read by the other would share cache lines.
	ring := make([]*dynamicpb.Message, pipelineDepth+2)
	results := make(chan received, pipelineDepth)
	budget := &budget{drained: make(chan struct{}, 1)}
	go func() {
		var into sizedMessage
		for i := 0; ; i = (i + 1) % len(ring) {
			msg := ring[i]
			if msg == nil {
				msg = dynamicpb.NewMessage(c.method.Output())
				ring[i] = msg
			} else {
				// Emptied here, not by the codec: connect-go does not
				// call the codec for an empty message, counting on the
				// storage being empty already.
				clearFields(msg)
			}
			into = c.into(msg)
			err := stream.RecvMsg(&into)
			if into.size >= largeMessage {
				budget.take(into.size)
			}
			results <- received{msg, into.size, into.wire, err}
			if err != nil {
				return
			}
			budget.wait(nil)
		}
	}()
	first := true
	for r := range results {
		if first {
			first = false
			c.reportHeaders(stream)
		}
		if r.err == io.EOF {
			return c.finish(nil, stream.Trailer())
		}
		if r.err != nil {
			return c.finish(r.err, stream.Trailer())
		}
		c.deliver(r.msg, r.wire)
		if r.size >= largeMessage {
			clearFields(r.msg)
			budget.release(r.size)
		}
	}
	// The receiver always ends with an error (io.EOF at least).
	return c.finish(errors.New("invoke: the stream ended without a status"), nil)
}

// budget counts the bytes of large messages made ahead (responses decoded
// and not yet handled, requests parsed and not yet sent) and holds the
// goroutine making them while they exceed largeBudget.
type budget struct {
	inFlight atomic.Int64
	waiting  atomic.Bool
	drained  chan struct{} // capacity 1: a pending wake-up
}

// take counts n bytes in, before the message is handed over.
func (b *budget) take(n int) { b.inFlight.Add(int64(n)) }

// wait returns once at most largeBudget bytes are in flight, or done is
// closed. Only one goroutine calls it.
func (b *budget) wait(done <-chan struct{}) {
	for b.inFlight.Load() > largeBudget {
		b.waiting.Store(true)
		// Look again: a release since the first look may not have seen
		// the waiter. Go's atomics are sequentially consistent, so either
		// this load sees that release or that release sees waiting.
		if b.inFlight.Load() <= largeBudget {
			b.waiting.Store(false)
			return
		}
		select {
		case <-b.drained:
		case <-done:
		}
		b.waiting.Store(false)
		select {
		case <-done:
			return
		default:
		}
	}
}

// release counts n bytes out, once the message is done with, and wakes a
// waiting maker when they are back within budget.
func (b *budget) release(n int) {
	if b.inFlight.Add(-int64(n)) <= largeBudget && b.waiting.Load() {
		select {
		case b.drained <- struct{}{}:
		default: // a wake-up is already pending
		}
	}
}

// sendAll sends each request as soon as the supplier returns it, then
// half-closes. It returns only the supplier's errors: a send that fails
// because the server ended the call leaves the status to the receiving side.
//
// The supplier runs on a goroutine of its own, filling one of a fixed set of
// messages while the previous one is encoded and sent, so that parsing and
// encoding use two cores. Once sendAll has returned, that goroutine asks the
// supplier for nothing more; a read it is already blocked in is left behind
// (standard input cannot be interrupted), and its result dropped.
func (c *call) sendAll(stream grpc.ClientStream) error {
	// A ring as in receivePipelined: SendMsg has encoded a message when
	// it returns, so the sender is done with it by the time it takes the
	// next from parsed.
	ring := make([]*dynamicpb.Message, pipelineDepth+2)
	parsed := make(chan received, pipelineDepth)
	budget := &budget{drained: make(chan struct{}, 1)}
	done := make(chan struct{})
	defer close(done)
	go func() {
		sizing := false // measuring every request: one was large
		for i, n := 0, 0; ; i, n = (i+1)%len(ring), n+1 {
			msg := ring[i]
			if msg == nil {
				msg = dynamicpb.NewMessage(c.method.Input())
				ring[i] = msg
			}
			select {
			case <-done:
				return
			default:
			}
			err := c.next(msg)
			size := 0 // unmeasured: not large
			if err == nil && (sizing || n < sizeFirst || n%sizeEvery == 0) {
				if size = proto.Size(msg); size >= largeMessage {
					sizing = true
					budget.take(size)
				}
			}
			select {
			case parsed <- received{msg: msg, size: size, err: err}:
			case <-done:
				return
			}
			if err != nil {
				return
			}
			budget.wait(done)
		}
	}()
	for r := range parsed {
		if r.err == io.EOF {
			break
		}
		if r.err != nil {
			return r.err
		}
		if err := stream.SendMsg(r.msg); err != nil {
			// io.EOF: the server has ended the call; RecvMsg has the status.
			return nil
		}
		if r.size >= largeMessage {
			// Sent: let the ring hold no large request but those queued.
			clearFields(r.msg)
			budget.release(r.size)
		}
	}
	_ = stream.CloseSend()
	return nil
}

// requestStream makes a client-streaming or bidi call.
func (c *call) requestStream(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.newStream(ctx)
	if err != nil {
		return c.finish(err, nil)
	}
	var (
		mu      sync.Mutex
		sendErr error
	)
	// The sender runs on its own goroutine so that responses are handled
	// while the input is still being read, and so that the call's end (the
	// server's status, even before the input ends, a deadline, Ctrl-C)
	// ends the call while the input is idle. It never calls the handler. If
	// the call ends while the sender waits for input, the sender is left
	// behind: the input cannot be interrupted, and its later values have
	// nowhere to go.
	go func() {
		if err := c.sendAll(stream); err != nil {
			mu.Lock()
			sendErr = err
			mu.Unlock()
			cancel()
		}
	}()
	err = c.receiveAll(stream)
	mu.Lock()
	defer mu.Unlock()
	if sendErr != nil {
		return fmt.Errorf("%w (the call was cancelled)", sendErr)
	}
	return err
}

package load

import (
	"context"
	"errors"
	"io"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/grpcx/grpcx/invoke"
)

// Calls describes the calls of a run, made with [invoke.Invoke]. One call
// is one request: a unary call, or a whole stream. Unary and
// server-streaming calls send one message, taking the data's values in turn
// from call to call; client- and bidi-streaming calls send StreamMessages
// messages, the data's values in turn, starting over when they run out.
// Server streams are read to the end; responses are counted, not decoded
// beyond what gRPC needs.
type Calls struct {
	// Conns carry the calls: worker i uses Conns[i % len(Conns)].
	Conns []grpc.ClientConnInterface
	// Method is the method to call.
	Method protoreflect.MethodDescriptor
	// Metadata is sent with every call.
	Metadata metadata.MD
	// Requests are the request messages.
	Requests *Requests
	// StreamMessages is the number of messages each client- or
	// bidi-streaming call sends; 0 means as many as the data holds.
	StreamMessages int
	// Timeout is each call's deadline; 0 means none.
	Timeout time.Duration
	// ServerHeader names the response header whose value says which
	// process served the call (x-server-pid); "" means none.
	ServerHeader string
	// CallOptions are passed to every call.
	CallOptions []grpc.CallOption
}

// Callers returns one [Caller] for each of n workers.
func (c *Calls) Callers(n int) ([]Caller, error) {
	if len(c.Conns) == 0 || c.Method == nil || c.Requests == nil {
		return nil, errors.New("load: Calls needs connections, a method and requests")
	}
	md := c.Metadata
	if md == nil {
		md = metadata.MD{} // invoke would make one for every call
	}
	callers := make([]Caller, n)
	for i := range callers {
		ic := &invokeCaller{
			calls: c,
			md:    md,
			cc:    c.Conns[i%len(c.Conns)],
			kind:  invoke.KindOf(c.Method),
			h:     countingHandler{header: strings.ToLower(c.ServerHeader)},
		}
		if c.Requests.Templated() {
			ic.exp = c.Requests.newExpander(i)
		}
		callers[i] = ic
	}
	return callers, nil
}

// invokeCaller is the Caller of one worker. Without a template a call
// allocates only its sender: the encoded request is handed to the message
// invoke creates as its unknown fields, which protobuf writes out
// unchanged, so the server receives exactly the bytes of the parsed request
// and no call walks a message by reflection to build it.
type invokeCaller struct {
	calls *Calls
	md    metadata.MD
	cc    grpc.ClientConnInterface
	kind  invoke.Kind
	exp   *expander // nil without a template
	h     countingHandler
}

func (c *invokeCaller) Call(ctx context.Context, n int64) (Outcome, error) {
	next, err := c.supplier(n)
	if err != nil {
		return Outcome{}, err
	}
	if c.calls.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.calls.Timeout)
		defer cancel()
	}
	c.h.responses, c.h.server = 0, ""
	err = invoke.Invoke(ctx, c.cc, c.calls.Method, c.md, next, &c.h, c.calls.CallOptions...)
	return Outcome{Responses: c.h.responses, Server: c.h.server}, err
}

// supplier returns the request supplier of call n.
func (c *invokeCaller) supplier(n int64) (invoke.RequestSupplier, error) {
	// invoke asks for requests, of every kind of call, on a goroutine
	// that can outlive the call (one whose deadline passed first), so
	// each call has a sender and buffers of its own: shared, the next
	// call's requests could go to that goroutine and the call send an
	// empty request.
	if c.exp != nil {
		c.exp.encoded = nil
	}
	values, err := c.values(n)
	if err != nil {
		return nil, err
	}
	s := &sender{values: values, count: 1}
	switch c.kind {
	case invoke.ClientStreaming, invoke.Bidi:
		if s.count = c.calls.StreamMessages; s.count <= 0 {
			s.count = len(values)
		}
	default:
		s.base = int(n % int64(len(values)))
	}
	return s.next, nil
}

// values returns the encoded requests of call n.
func (c *invokeCaller) values(n int64) ([][]byte, error) {
	if c.exp == nil {
		return c.calls.Requests.encoded, nil
	}
	// A failure is not a gRPC status: the call counts as Unknown, with
	// the template's error as its message.
	return c.exp.expand(n)
}

// sender is the request supplier of one call: count messages, the values
// in turn from base.
type sender struct {
	values     [][]byte
	base, sent int
	count      int
}

func (s *sender) next(msg proto.Message) error {
	if s.sent == s.count {
		return io.EOF
	}
	msg.ProtoReflect().SetUnknown(s.values[(s.base+s.sent)%len(s.values)])
	s.sent++
	return nil
}

// countingHandler counts responses and notes the server header; it
// ignores everything else, so responses cost only their decoding.
type countingHandler struct {
	header    string
	responses int
	server    string
}

func (h *countingHandler) OnSendHeaders(metadata.MD) {}

func (h *countingHandler) OnReceiveHeaders(md metadata.MD) {
	if v := md[h.header]; len(v) > 0 {
		h.server = v[0]
	}
}

func (h *countingHandler) OnReceiveResponse(proto.Message) { h.responses++ }

func (h *countingHandler) OnReceiveTrailers(*status.Status, metadata.MD) {}

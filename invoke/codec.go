package invoke

import (
	"fmt"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/dynamicpb"
)

// dynamicCodec is grpc-go's proto codec tuned for a client that prints what
// it gets: it decodes without the required-field check (a walk of every
// message that proto3 never needs, and that would hide a proto2 message the
// user should see anyway), and merges into the message it is given rather
// than resetting it, which for a dynamic message allocates new maps: the
// caller passes an empty message, and a receiver that reuses one from
// response to response empties it with clearFields, keeping its storage.
type dynamicCodec struct{}

var _ encoding.CodecV2 = dynamicCodec{}

var (
	marshalOpts   = proto.MarshalOptions{AllowPartial: true, UseCachedSize: true}
	unmarshalOpts = proto.UnmarshalOptions{AllowPartial: true, Merge: true}
)

func (dynamicCodec) Name() string { return "proto" }

// dynamicGuess is the capacity a dynamic message is first marshaled into.
const dynamicGuess = 64

func (dynamicCodec) Marshal(v any) (mem.BufferSlice, error) {
	m, ok := v.(proto.Message)
	if !ok {
		return nil, fmt.Errorf("grpcx codec: cannot marshal %T", v)
	}
	if _, ok := m.(*dynamicpb.Message); ok {
		// dynamicpb keeps no size cache, so sizing first would walk and
		// sort the message's fields twice (a fifth of the cost of encoding
		// a small request): let append find the size. A large message
		// then goes to the garbage collector rather than back to the
		// buffer pool, which costs less than the walk for small ones.
		buf, err := marshalOpts.MarshalAppend(make([]byte, 0, dynamicGuess), m)
		if err != nil {
			return nil, err
		}
		return mem.BufferSlice{mem.SliceBuffer(buf)}, nil
	}
	size := proto.Size(m) // makes UseCachedSize safe
	if mem.IsBelowBufferPoolingThreshold(size) {
		buf, err := marshalOpts.MarshalAppend(make([]byte, 0, size), m)
		if err != nil {
			return nil, err
		}
		return mem.BufferSlice{mem.SliceBuffer(buf)}, nil
	}
	pool := mem.DefaultBufferPool()
	buf := pool.Get(size)
	if _, err := marshalOpts.MarshalAppend((*buf)[:0], m); err != nil {
		pool.Put(buf)
		return nil, err
	}
	return mem.BufferSlice{mem.NewBuffer(buf, pool)}, nil
}

func (dynamicCodec) Unmarshal(data mem.BufferSlice, v any) error {
	sized, _ := v.(*sizedMessage)
	if sized != nil {
		v = sized.msg
	}
	m, ok := v.(proto.Message)
	if !ok {
		return fmt.Errorf("grpcx codec: cannot unmarshal into %T", v)
	}
	buf := data.MaterializeToBuffer(mem.DefaultBufferPool())
	defer buf.Free()
	if sized != nil {
		sized.decoded(buf.ReadOnlyData())
		return sized.unmarshal(buf.ReadOnlyData())
	}
	return unmarshalOpts.Unmarshal(buf.ReadOnlyData(), m)
}

// clearFields empties m but keeps its storage, unlike Reset, which
// allocates new maps for a dynamic message.
//
// A small message is cleared field by field from its descriptor: for
// dynamicpb that costs about half of ranging over what is set and clearing
// that, which is cheaper only once a message has many more fields than
// are set.
func clearFields(m protoreflect.Message) {
	md := m.Descriptor()
	if fs := md.Fields(); fs.Len() <= smallMessage && md.ExtensionRanges().Len() == 0 {
		for i := range fs.Len() {
			if fd := fs.Get(i); m.Has(fd) {
				m.Clear(fd)
			}
		}
	} else {
		m.Range(func(fd protoreflect.FieldDescriptor, _ protoreflect.Value) bool {
			m.Clear(fd)
			return true
		})
	}
	if len(m.GetUnknown()) > 0 {
		m.SetUnknown(nil)
	}
}

// smallMessage is the most fields clearFields clears one by one.
const smallMessage = 8

// ExtensionResolver finds the extensions of a message type by number.
type ExtensionResolver interface {
	FindExtensionByName(field protoreflect.FullName) (protoreflect.ExtensionType, error)
	FindExtensionByNumber(message protoreflect.FullName, field protoreflect.FieldNumber) (protoreflect.ExtensionType, error)
}

// WithExtensions is a call option naming where the extensions that
// responses set are looked up: the call's descriptor source, say. Without
// it only the extensions compiled into grpcx are known, and any other is
// kept as an unknown field, its name and type lost to JSON output. A
// lookup is made only for a field number in a message's extension ranges
// that its type does not define.
func WithExtensions(r ExtensionResolver) grpc.CallOption { return extensionsOption{r: r} }

type extensionsOption struct {
	grpc.EmptyCallOption
	r ExtensionResolver
}

// notFoundOnError makes any failure to find an extension a plain "not
// found", which the decoder takes as an unknown field: a resolver that asks
// reflection can fail in other ways, and the response is not to be lost for
// it. It remembers each answer for the call: a reflection-backed resolver
// asks the server again on every miss, which would be a round trip per
// response of a stream whose messages hold such a field.
type notFoundOnError struct {
	r     ExtensionResolver
	mu    sync.Mutex
	known map[extensionKey]protoreflect.ExtensionType // nil: not found
}

type extensionKey struct {
	message protoreflect.FullName
	field   protoreflect.FieldNumber
}

func newNotFoundOnError(r ExtensionResolver) *notFoundOnError {
	return &notFoundOnError{r: r, known: map[extensionKey]protoreflect.ExtensionType{}}
}

func (n *notFoundOnError) FindExtensionByName(field protoreflect.FullName) (protoreflect.ExtensionType, error) {
	xt, err := n.r.FindExtensionByName(field)
	if err != nil {
		return nil, protoregistry.NotFound
	}
	return xt, nil
}

func (n *notFoundOnError) FindExtensionByNumber(message protoreflect.FullName, field protoreflect.FieldNumber) (protoreflect.ExtensionType, error) {
	key := extensionKey{message, field}
	n.mu.Lock()
	xt, seen := n.known[key]
	n.mu.Unlock()
	if !seen {
		var err error
		if xt, err = n.r.FindExtensionByNumber(message, field); err != nil {
			xt = nil
		}
		n.mu.Lock()
		n.known[key] = xt
		n.mu.Unlock()
	}
	if xt == nil {
		return nil, protoregistry.NotFound
	}
	return xt, nil
}

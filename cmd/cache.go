package cmd

import (
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/grpcx/grpcx/descsource"
	"github.com/grpcx/grpcx/invoke"
)

// cacheOptions control the descriptor cache of call.
type cacheOptions struct {
	NoCache bool
	TTL     time.Duration
}

// The cache rule, for help text and README: a repeat call takes the
// method's descriptors from the cache and makes no reflection round trip
// before it starts; it asks reflection at the same time as the call, on the
// same connection, and holds the responses until the answer is in. If the
// server's schema changed in a way that matters to the call (the request or
// response types, or anything they contain), the cache is refreshed, the
// responses are decoded with the server's current types, and a changed
// request type is reported as an error, since the request was encoded with
// the old one. A call that streams requests waits for the answer before it
// starts, and uses the server's current types. Entries older than
// --cache-ttl are not used.
const defaultCacheTTL = 24 * time.Hour

// openCache returns nil when the cache is off or unusable: it only ever
// saves time, so it never fails a call.
func (o *CallOptions) openCache() *descsource.MethodCache {
	if o.Cache.NoCache || !o.Conn.Reflect || o.Conn.hasFiles() {
		return nil
	}
	dir, err := descsource.DefaultCacheDir()
	if err != nil {
		return nil
	}
	_, reflectMD, err := o.Conn.headers()
	if err != nil {
		return nil
	}
	callProto, reflectProto := o.Conn.protocols()
	// The client certificate is a credential, like the headers.
	key := descsource.CacheKey(o.Conn.Target, reflectMD, o.Conn.Authority, o.Conn.TLS.ServerName, o.Conn.TLS.Cert,
		fmt.Sprint(o.Conn.Plaintext), fmt.Sprint(o.Conn.HTTP1), string(callProto), string(reflectProto))
	return (&descsource.Cache{Dir: dir, TTL: o.Cache.TTL}).ForKey(key)
}

// validatingHandler holds a cached call's responses until the validation
// is in, and decodes them with the server's current type if it changed,
// from their wire form: decoded with the old type, a widened field (int32
// to int64, say) would have lost its high bits.
type validatingHandler struct {
	invoke.Handler
	result <-chan descsource.Validation
	done   bool
	v      descsource.Validation
	// wantWire is whether responses may still need decoding again: until
	// the validation is in, and for good if the response type changed.
	// The engine reads it from the goroutine that receives responses.
	wantWire atomic.Bool
	wire     []byte // the next response's wire form
}

var _ invoke.WireKeeper = (*validatingHandler)(nil)

func newValidatingHandler(h invoke.Handler, result <-chan descsource.Validation) *validatingHandler {
	v := &validatingHandler{Handler: h, result: result}
	v.wantWire.Store(true)
	return v
}

func (h *validatingHandler) wait() {
	if !h.done {
		h.v, h.done = <-h.result, true
		h.wantWire.Store(h.v.OutputChanged)
	}
}

func (h *validatingHandler) WantWire() bool { return h.wantWire.Load() }

func (h *validatingHandler) OnReceiveWire(wire []byte) { h.wire = wire }

func (h *validatingHandler) OnReceiveHeaders(md metadata.MD) {
	h.wait()
	h.Handler.OnReceiveHeaders(md)
}

func (h *validatingHandler) OnReceiveResponse(msg proto.Message) {
	h.wait()
	wire := h.wire
	h.wire = nil
	if h.v.OutputChanged {
		// Decode the server's bytes again, with its type. Without them
		// (a codec that did not keep them), encode the message again,
		// which keeps all but what the old type truncated.
		var err error
		if wire == nil {
			wire, err = proto.MarshalOptions{AllowPartial: true}.Marshal(msg)
		}
		fresh := dynamicpb.NewMessage(h.v.Fresh.Output())
		if err == nil && (proto.UnmarshalOptions{AllowPartial: true}).Unmarshal(wire, fresh) == nil {
			msg = fresh
		}
	}
	h.Handler.OnReceiveResponse(msg)
}

func (h *validatingHandler) OnReceiveTrailers(st *status.Status, md metadata.MD) {
	h.wait()
	h.Handler.OnReceiveTrailers(st, md)
}

// settle ends a cached call whose Invoke returned callErr. It waits for the
// check if no response did (the call failed before one, or the request did
// not parse), so that a refreshed entry is stored before grpcx exits. It
// warns on warn when the check could not be made, since the call then used
// the cached descriptors unchecked (a failed call's own error says more).
// When the request type changed, it returns an error for a call that
// succeeded, the request having gone out in the old encoding, and notes
// the change on warn for one that failed, as it may be the reason.
func (h *validatingHandler) settle(callErr error, warn io.Writer) error {
	h.wait()
	if h.v.Err != nil && callErr == nil {
		warnUnchecked(warn, h.v.Err)
	}
	if !h.v.InputChanged {
		return nil
	}
	stale := fmt.Sprintf("the server's definition of %s changed since it was cached, and this call's request was built with the old one", h.v.Fresh.Input().FullName())
	if callErr == nil {
		return fmt.Errorf("%s, which the server may have misread (see the response above): check what it did before calling again; the cache is refreshed (--no-cache does not use it)", stale)
	}
	fmt.Fprintf(warn, "grpcx: note: %s, which may be why the call failed; the cache is refreshed: run the call again\n", stale)
	return nil
}

// warnUnchecked says that a cached call went ahead with descriptors
// reflection could not check.
func warnUnchecked(warn io.Writer, err error) {
	fmt.Fprintf(warn, "grpcx: warning: could not check the cached descriptors with reflection (%v); the call used them unchecked (--no-cache does not use the cache)\n", err)
}

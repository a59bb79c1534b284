package cmd

import (
	"context"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
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
// the old one. Entries older than --cache-ttl are not used.
const defaultCacheTTL = 24 * time.Hour

// methodCache is the cache as one call uses it.
type methodCache struct {
	cache *descsource.Cache
	key   string
	// entry is the entry as loaded, nil if none; the lookup goroutine
	// sets it before it delivers the method.
	entry *descsource.Entry
	// prefetched, when not nil, delivers the files reflection sent for a
	// service, asked for before the lookup (see prefetch); stopPrefetch
	// ends that request. Both are set on Dial's goroutine, before the
	// call goroutine reads them.
	prefetched   <-chan fetchedFiles
	stopPrefetch context.CancelFunc
}

// fetchedFiles is reflection's answer for a service.
type fetchedFiles struct {
	service protoreflect.FullName
	files   [][]byte
	err     error
}

// openCache returns nil when the cache is off or unusable: it only ever
// saves time, so it never fails a call.
func (o *CallOptions) openCache() *methodCache {
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
	return &methodCache{cache: &descsource.Cache{Dir: dir, TTL: o.Cache.TTL}, key: key}
}

// lookupAsync looks the method up in the cache on another goroutine and
// delivers it, or nil, on the channel it returns; mc.entry is not to be
// used until then (prefetch, which runs meanwhile, touches other fields).
func (mc *methodCache) lookupAsync(name string) <-chan protoreflect.MethodDescriptor {
	out := make(chan protoreflect.MethodDescriptor, 1)
	go func() { out <- mc.lookup(name) }()
	return out
}

// lookup returns the method from the cache, or nil.
func (mc *methodCache) lookup(name string) protoreflect.MethodDescriptor {
	entry, err := mc.cache.Load(mc.key)
	if err != nil || entry == nil {
		return nil
	}
	mc.entry = entry
	m, err := descsource.FindMethod(descsource.FromFiles(entry.Files), name)
	if err != nil {
		return nil
	}
	return m
}

// prefetch starts asking reflection on cc for the files of the service
// named in method, when the cache has an entry to check them against. It
// runs while the connection comes up and the entry is read, so that the
// check of a cached method is under way before the method is even found,
// and the server works on reflection while grpcx works on the cache.
func (mc *methodCache) prefetch(ctx context.Context, cc grpc.ClientConnInterface, method string) {
	service, _, ok := descsource.SplitMethodName(method)
	if !ok || !mc.cache.Fresh(mc.key) {
		return
	}
	out := make(chan fetchedFiles, 1)
	ctx, mc.stopPrefetch = context.WithCancel(ctx)
	mc.prefetched = out
	go func() {
		files, err := descsource.FetchFileBytes(ctx, cc, protoreflect.FullName(service))
		out <- fetchedFiles{protoreflect.FullName(service), files, err}
	}()
}

// fetch returns reflection's files for service: those prefetched when they
// are for it, else freshly asked for. A prefetch that found the connection
// unavailable is asked again: it went out before the connection was up,
// and a check that gives up is no check.
func (mc *methodCache) fetch(ctx context.Context, cc grpc.ClientConnInterface, service protoreflect.FullName) ([][]byte, error) {
	if mc.prefetched != nil {
		f := <-mc.prefetched
		if f.service == service && status.Code(f.err) != codes.Unavailable {
			return f.files, f.err
		}
	}
	return descsource.FetchFileBytes(ctx, cc, service)
}

// missed ends a prefetch that no check will read: the method is not in the
// cache, and resolving it asks reflection anyway.
func (mc *methodCache) missed() {
	if mc.stopPrefetch != nil {
		mc.stopPrefetch()
	}
}

// store records the files a freshly resolved method needs, keeping the
// other methods already cached for the target.
func (mc *methodCache) store(m protoreflect.MethodDescriptor) {
	files, err := descsource.Collect(m)
	if err != nil {
		return
	}
	raw, err := descsource.EncodeFiles(files)
	if err != nil {
		return
	}
	_ = mc.cache.StoreFiles(mc.key, raw, mc.entry)
}

// validation is what reflection said about a cached method.
type validation struct {
	fresh         protoreflect.MethodDescriptor // the server's, when it changed
	inputChanged  bool
	outputChanged bool
	// err says why the check could not tell whether the method changed.
	err error
}

// validate checks the cached method against reflection's files while the
// call runs. When they are the cached ones, byte for byte, that is all;
// otherwise it decodes and compares them, builds them if they differ,
// compares the method's types, and stores the server's files as sent, so
// that the next call's check is the cheap one again.
func (mc *methodCache) validate(ctx context.Context, cc grpc.ClientConnInterface, cached protoreflect.MethodDescriptor) <-chan validation {
	out := make(chan validation, 1)
	go func() {
		var v validation
		defer func() { out <- v }()
		raw, err := mc.fetch(ctx, cc, cached.Parent().FullName())
		if err != nil {
			v.err = err
			return
		}
		if mc.entry.Holds(raw) {
			return
		}
		fetched, err := descsource.DecodeFiles(raw)
		if err != nil {
			v.err = err
			return
		}
		older := mc.entry
		stored, err := mc.entry.Decode()
		if err != nil {
			v.err = err
			return
		}
		if !descsource.SameFiles(fetched, stored) {
			if v, err = compareMethod(fetched, cached); err != nil {
				v.err = err
				return
			}
			if v.fresh != nil {
				older = nil // the other cached files may describe the old schema too
			}
		}
		_ = mc.cache.StoreFiles(mc.key, raw, older)
	}()
	return out
}

// compareMethod builds the server's files and says whether the method's
// request or response type differs from the cached one's.
func compareMethod(fetched *descriptorpb.FileDescriptorSet, cached protoreflect.MethodDescriptor) (validation, error) {
	var v validation
	files, err := descsource.BuildFiles(fetched)
	if err != nil {
		return v, err
	}
	fresh, err := descsource.FindMethod(descsource.FromFiles(files), string(cached.FullName()))
	if err != nil {
		return v, err
	}
	v.inputChanged = descsource.Fingerprint(fresh.Input()) != descsource.Fingerprint(cached.Input())
	v.outputChanged = descsource.Fingerprint(fresh.Output()) != descsource.Fingerprint(cached.Output())
	if v.inputChanged || v.outputChanged {
		v.fresh = fresh
	}
	return v, nil
}

// validatingHandler holds a cached call's responses until the validation
// is in, and decodes them with the server's current type if it changed,
// from their wire form: decoded with the old type, a widened field (int32
// to int64, say) would have lost its high bits.
type validatingHandler struct {
	invoke.Handler
	result <-chan validation
	done   bool
	v      validation
	// wantWire is whether responses may still need decoding again: until
	// the validation is in, and for good if the response type changed.
	// The engine reads it from the goroutine that receives responses.
	wantWire atomic.Bool
	wire     []byte // the next response's wire form
}

var _ invoke.WireKeeper = (*validatingHandler)(nil)

func newValidatingHandler(h invoke.Handler, result <-chan validation) *validatingHandler {
	v := &validatingHandler{Handler: h, result: result}
	v.wantWire.Store(true)
	return v
}

func (h *validatingHandler) wait() {
	if !h.done {
		h.v, h.done = <-h.result, true
		h.wantWire.Store(h.v.outputChanged)
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
	if h.v.outputChanged {
		// Decode the server's bytes again, with its type. Without them
		// (a codec that did not keep them), encode the message again,
		// which keeps all but what the old type truncated.
		var err error
		if wire == nil {
			wire, err = proto.MarshalOptions{AllowPartial: true}.Marshal(msg)
		}
		fresh := dynamicpb.NewMessage(h.v.fresh.Output())
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
	if h.v.err != nil && callErr == nil {
		fmt.Fprintf(warn, "grpcx: warning: could not check the cached descriptors with reflection (%v); the call used them unchecked (--no-cache does not use the cache)\n", h.v.err)
	}
	if !h.v.inputChanged {
		return nil
	}
	stale := fmt.Sprintf("the server's definition of %s changed since it was cached, and this call's request was built with the old one", h.v.fresh.Input().FullName())
	if callErr == nil {
		return fmt.Errorf("%s; the cache is refreshed: run the call again (or use --no-cache)", stale)
	}
	fmt.Fprintf(warn, "grpcx: note: %s, which may be why the call failed; the cache is refreshed: run the call again\n", stale)
	return nil
}

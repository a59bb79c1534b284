package cmd

import (
	"fmt"
	"time"

	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
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
	old   *protoregistry.Files
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
	key := descsource.CacheKey(o.Conn.Target, reflectMD, o.Conn.Authority, o.Conn.TLS.ServerName, fmt.Sprint(o.Conn.Plaintext))
	return &methodCache{cache: &descsource.Cache{Dir: dir, TTL: o.Cache.TTL}, key: key}
}

// lookup returns the method from the cache, or nil.
func (mc *methodCache) lookup(name string) protoreflect.MethodDescriptor {
	files, err := mc.cache.Load(mc.key)
	if err != nil || files == nil {
		return nil
	}
	mc.old = files
	m, err := descsource.FindMethod(descsource.FromFiles(files), name)
	if err != nil {
		return nil
	}
	return m
}

// store records the files a freshly resolved method needs, keeping the
// other methods already cached for the target.
func (mc *methodCache) store(m protoreflect.MethodDescriptor) {
	files, err := descsource.Collect(m)
	if err != nil {
		return
	}
	if mc.old != nil {
		if merged, err := descsource.Merge(files, mc.old); err == nil {
			files = merged
		}
	}
	_ = mc.cache.Store(mc.key, files)
}

// validation is what reflection said about a cached method.
type validation struct {
	fresh         protoreflect.MethodDescriptor // nil when reflection did not answer
	inputChanged  bool
	outputChanged bool
}

// validate asks reflection for the method while the call runs, and
// refreshes the cache when the server's definition changed.
func (mc *methodCache) validate(src descsource.Source, cached protoreflect.MethodDescriptor) <-chan validation {
	out := make(chan validation, 1)
	go func() {
		var v validation
		if fresh, err := descsource.FindMethod(src, string(cached.FullName())); err == nil {
			v.fresh = fresh
			v.inputChanged = descsource.Fingerprint(fresh.Input()) != descsource.Fingerprint(cached.Input())
			v.outputChanged = descsource.Fingerprint(fresh.Output()) != descsource.Fingerprint(cached.Output())
			if v.inputChanged || v.outputChanged {
				mc.old = nil // the old files describe the old schema
				mc.store(fresh)
			}
		}
		out <- v
	}()
	return out
}

// validatingHandler holds a cached call's responses until the validation
// is in, and decodes them with the server's current type if it changed.
type validatingHandler struct {
	invoke.Handler
	result <-chan validation
	done   bool
	v      validation
}

func (h *validatingHandler) wait() {
	if !h.done {
		h.v, h.done = <-h.result, true
	}
}

func (h *validatingHandler) OnReceiveHeaders(md metadata.MD) {
	h.wait()
	h.Handler.OnReceiveHeaders(md)
}

func (h *validatingHandler) OnReceiveResponse(msg proto.Message) {
	h.wait()
	if h.v.outputChanged {
		// The bytes are the server's; decode them again with its type.
		b, err := proto.MarshalOptions{AllowPartial: true}.Marshal(msg)
		fresh := dynamicpb.NewMessage(h.v.fresh.Output())
		if err == nil && (proto.UnmarshalOptions{AllowPartial: true}).Unmarshal(b, fresh) == nil {
			msg = fresh
		}
	}
	h.Handler.OnReceiveResponse(msg)
}

func (h *validatingHandler) OnReceiveTrailers(st *status.Status, md metadata.MD) {
	h.wait()
	h.Handler.OnReceiveTrailers(st, md)
}

// staleRequestError reports a call whose request type changed on the server
// after it was cached: the request went out in the old encoding.
func (h *validatingHandler) staleRequestError() error {
	if !h.done || !h.v.inputChanged {
		return nil
	}
	return fmt.Errorf("the server's definition of %s changed since it was cached, and this call's request was encoded with the old one; the cache is refreshed: run the call again (or use --no-cache)", h.v.fresh.Input().FullName())
}

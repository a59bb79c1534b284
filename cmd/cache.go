package cmd

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/grpc"
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
	old   *descriptorpb.FileDescriptorSet // the entry as loaded, nil if none
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
	key := descsource.CacheKey(o.Conn.Target, reflectMD, o.Conn.Authority, o.Conn.TLS.ServerName,
		fmt.Sprint(o.Conn.Plaintext), string(callProto), string(reflectProto))
	return &methodCache{cache: &descsource.Cache{Dir: dir, TTL: o.Cache.TTL}, key: key}
}

// lookup returns the method from the cache, or nil.
func (mc *methodCache) lookup(name string) protoreflect.MethodDescriptor {
	set, files, err := mc.cache.Load(mc.key)
	if err != nil || files == nil {
		return nil
	}
	mc.old = set
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
	mc.storeSet(descsource.FileSet(files))
}

func (mc *methodCache) storeSet(set *descriptorpb.FileDescriptorSet) {
	if mc.old != nil {
		set = descsource.MergeSets(set, mc.old)
	}
	_ = mc.cache.Store(mc.key, set)
}

// validation is what reflection said about a cached method.
type validation struct {
	fresh         protoreflect.MethodDescriptor // the server's, when it changed
	inputChanged  bool
	outputChanged bool
}

// validate asks reflection for the method's files while the call runs. When
// they are the cached ones, byte for byte, that is all; otherwise it builds
// them, compares the method's types and stores the server's files, so that
// the next call's check is the cheap one again.
func (mc *methodCache) validate(ctx context.Context, cc grpc.ClientConnInterface, cached protoreflect.MethodDescriptor) <-chan validation {
	out := make(chan validation, 1)
	go func() {
		var v validation
		defer func() { out <- v }()
		fetched, err := descsource.FetchFiles(ctx, cc, cached.Parent().FullName())
		if err != nil || descsource.SameFiles(fetched, mc.old) {
			return
		}
		files, err := descsource.BuildFiles(fetched)
		if err != nil {
			return
		}
		fresh, err := descsource.FindMethod(descsource.FromFiles(files), string(cached.FullName()))
		if err != nil {
			return
		}
		v.inputChanged = descsource.Fingerprint(fresh.Input()) != descsource.Fingerprint(cached.Input())
		v.outputChanged = descsource.Fingerprint(fresh.Output()) != descsource.Fingerprint(cached.Output())
		if v.inputChanged || v.outputChanged {
			v.fresh = fresh
			mc.old = nil // the other cached files may describe the old schema too
		}
		mc.storeSet(fetched)
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

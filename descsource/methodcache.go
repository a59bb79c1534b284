package descsource

import (
	"context"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
)

// MethodCache is a [Cache] as one call uses it, for one target's entry: it
// finds the method in the entry, checks it with reflection while the call
// runs, and stores what reflection sent. The calls go in this order:
// LookupAsync, and Prefetch once the connection exists; then, when the
// lookup delivered a method, Validate, else Missed and, once the method is
// resolved another way, Store.
type MethodCache struct {
	cache *Cache
	key   string
	// entry is the entry as loaded, nil if none; the lookup goroutine
	// sets it before it delivers the method.
	entry *Entry
	// prefetched, when not nil, delivers the files reflection sent for a
	// service, asked for before the lookup (see Prefetch); stopPrefetch
	// ends that request. Both are set on the goroutine that calls
	// Prefetch, before the one that calls Validate reads them.
	prefetched   <-chan fetchedFiles
	stopPrefetch context.CancelFunc
}

// fetchedFiles is reflection's answer for a service.
type fetchedFiles struct {
	service protoreflect.FullName
	files   [][]byte
	err     error
}

// ForKey returns the cache as a call on the target named by key (see
// [CacheKey]) uses it.
func (c *Cache) ForKey(key string) *MethodCache { return &MethodCache{cache: c, key: key} }

// LookupAsync looks the method up in the cache on another goroutine and
// delivers it, or nil, on the channel it returns. Reading the entry and
// building its descriptors takes about as long as connecting on a fast
// network, so a caller connects meanwhile.
func (mc *MethodCache) LookupAsync(name string) <-chan protoreflect.MethodDescriptor {
	out := make(chan protoreflect.MethodDescriptor, 1)
	go func() { out <- mc.lookup(name) }()
	return out
}

// lookup returns the method from the cache, or nil.
func (mc *MethodCache) lookup(name string) protoreflect.MethodDescriptor {
	entry, err := mc.cache.Load(mc.key)
	if err != nil || entry == nil {
		return nil
	}
	mc.entry = entry
	m, err := FindMethod(FromFiles(entry.Files), name)
	if err != nil {
		return nil
	}
	return m
}

// Prefetch starts asking reflection on cc for the files of the service
// named in method, when the cache has an entry to check them against. It
// runs while the entry is read, so that the check of a cached method is
// under way before the method is even found, and the server works on
// reflection while grpcx works on the cache.
func (mc *MethodCache) Prefetch(ctx context.Context, cc grpc.ClientConnInterface, method string) {
	service, _, ok := SplitMethodName(method)
	if !ok || !mc.cache.Fresh(mc.key) {
		return
	}
	out := make(chan fetchedFiles, 1)
	ctx, mc.stopPrefetch = context.WithCancel(ctx)
	mc.prefetched = out
	go func() {
		files, err := FetchFileBytes(ctx, cc, protoreflect.FullName(service))
		out <- fetchedFiles{protoreflect.FullName(service), files, err}
	}()
}

// fetch returns reflection's files for service: those prefetched when they
// are for it, else freshly asked for. A prefetch that found the connection
// unavailable is asked again: it went out before the connection was up,
// and a check that gives up is no check.
func (mc *MethodCache) fetch(ctx context.Context, cc grpc.ClientConnInterface, service protoreflect.FullName) ([][]byte, error) {
	if mc.prefetched != nil {
		f := <-mc.prefetched
		if f.service == service && status.Code(f.err) != codes.Unavailable {
			return f.files, f.err
		}
	}
	return FetchFileBytes(ctx, cc, service)
}

// Missed ends a prefetch that no check will read: the method is not in the
// cache, and resolving it asks reflection anyway.
func (mc *MethodCache) Missed() {
	if mc.stopPrefetch != nil {
		mc.stopPrefetch()
	}
}

// Store records the files a freshly resolved method needs, keeping the
// other methods already cached for the target. The cache only ever saves
// time, so a failure to store is no failure of the call: it is not
// reported.
func (mc *MethodCache) Store(m protoreflect.MethodDescriptor) {
	files, err := Collect(m)
	if err != nil {
		return
	}
	raw, err := EncodeFiles(files)
	if err != nil {
		return
	}
	_ = mc.cache.StoreFiles(mc.key, raw, mc.entry)
}

// Validation is what reflection said about a cached method.
type Validation struct {
	// Fresh is the server's method, when its request or response type
	// changed; nil otherwise.
	Fresh         protoreflect.MethodDescriptor
	InputChanged  bool
	OutputChanged bool
	// Err says why the check could not tell whether the method changed.
	Err error
}

// Validate checks the cached method against reflection's files while the
// call runs. When they are the cached ones, byte for byte, that is all;
// otherwise it decodes and compares them, builds them if they differ,
// compares the method's types, and stores the server's files as sent, so
// that the next call's check is the cheap one again.
func (mc *MethodCache) Validate(ctx context.Context, cc grpc.ClientConnInterface, cached protoreflect.MethodDescriptor) <-chan Validation {
	out := make(chan Validation, 1)
	go func() {
		var v Validation
		defer func() { out <- v }()
		raw, err := mc.fetch(ctx, cc, cached.Parent().FullName())
		if err != nil {
			v.Err = err
			return
		}
		if mc.entry.Holds(raw) {
			return
		}
		fetched, err := DecodeFiles(raw)
		if err != nil {
			v.Err = err
			return
		}
		older := mc.entry
		stored, err := mc.entry.Decode()
		if err != nil {
			v.Err = err
			return
		}
		if !SameFiles(fetched, stored) {
			if v, err = compareMethod(fetched, cached); err != nil {
				v.Err = err
				return
			}
			if v.Fresh != nil {
				older = nil // the other cached files may describe the old schema too
			}
		}
		_ = mc.cache.StoreFiles(mc.key, raw, older)
	}()
	return out
}

// compareMethod builds the server's files and says whether the method's
// request or response type differs from the cached one's.
func compareMethod(fetched *descriptorpb.FileDescriptorSet, cached protoreflect.MethodDescriptor) (Validation, error) {
	var v Validation
	files, err := BuildFiles(fetched)
	if err != nil {
		return v, err
	}
	fresh, err := FindMethod(FromFiles(files), string(cached.FullName()))
	if err != nil {
		return v, err
	}
	v.InputChanged = Fingerprint(fresh.Input()) != Fingerprint(cached.Input())
	v.OutputChanged = Fingerprint(fresh.Output()) != Fingerprint(cached.Output())
	if v.InputChanged || v.OutputChanged {
		v.Fresh = fresh
	}
	return v, nil
}

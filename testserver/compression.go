package testserver

import (
	"context"

	"google.golang.org/grpc/stats"
)

// compressionRecorder is a stats handler that remembers each call's request
// grpc-encoding, which grpc-go consumes and keeps out of the incoming
// metadata. grpc-go calls TagRPC and then HandleRPC with the InHeader on the
// call's own goroutine before the handler runs, so the handler can read it
// without locking. Having a stats handler at all makes grpc-go report every
// message to it too, which slows the million-message stream by some 15%; no
// cheaper way reveals the encoding (tap.Info's header lacks it as well).
type compressionRecorder struct{}

var _ stats.Handler = compressionRecorder{}

type compressionKey struct{}

// TagRPC implements stats.Handler.
func (compressionRecorder) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context {
	return context.WithValue(ctx, compressionKey{}, new(string))
}

// HandleRPC implements stats.Handler.
func (compressionRecorder) HandleRPC(ctx context.Context, s stats.RPCStats) {
	if in, ok := s.(*stats.InHeader); ok {
		if p, ok := ctx.Value(compressionKey{}).(*string); ok {
			*p = in.Compression
		}
	}
}

// TagConn implements stats.Handler.
func (compressionRecorder) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context {
	return ctx
}

// HandleConn implements stats.Handler.
func (compressionRecorder) HandleConn(context.Context, stats.ConnStats) {}

// requestCompression returns the grpc-encoding of the call on ctx, or "" when
// the request was not compressed or the recorder is not installed.
func requestCompression(ctx context.Context) string {
	if p, ok := ctx.Value(compressionKey{}).(*string); ok {
		return *p
	}
	return ""
}

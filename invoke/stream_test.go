package invoke_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/grpcx/grpcx/testserver/testpb"
)

// countingConn counts the responses its streams have received, which the
// handler compares with those it has been given.
type countingConn struct {
	grpc.ClientConnInterface
	received atomic.Int64
}

func (c *countingConn) NewStream(ctx context.Context, desc *grpc.StreamDesc, method string, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	s, err := c.ClientConnInterface.NewStream(ctx, desc, method, opts...)
	if err != nil {
		return nil, err
	}
	return &countingStream{ClientStream: s, n: &c.received}, nil
}

type countingStream struct {
	grpc.ClientStream
	n *atomic.Int64
}

func (s *countingStream) RecvMsg(m any) error {
	err := s.ClientStream.RecvMsg(m)
	if err == nil {
		s.n.Add(1)
	}
	return err
}

// TestStreamDecodesAhead: a slow handler has small responses decoded far
// ahead of it, and large ones only within a budget of a few MiB (not one
// per slot of the pipeline), each intact although their storage is reused.
func TestStreamDecodesAhead(t *testing.T) {
	cc := &countingConn{ClientConnInterface: conn(t)}
	for _, tc := range []struct {
		name     string
		size     int
		count    int32
		minAhead int64 // the most decoded ahead must reach this
		maxAhead int64 // and never pass this
		handling time.Duration
	}{
		// 4 MiB of 100 KiB responses is 41; one more may be decoding.
		{"large", 100 << 10, 150, 8, 43, time.Millisecond},
		{"small", 10, 600, 100, 257, 100 * time.Microsecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			text := strings.Repeat("x", tc.size)
			var handled, maxAhead int64
			var bad []string
			rec := &recorder{onResponse: func(r *testpb.EchoResponse) {
				if r.Index != int32(handled) || r.Message != text {
					bad = append(bad, r.String()[:min(60, len(r.String()))])
				}
				handled++
				maxAhead = max(maxAhead, cc.received.Load()-handled)
				time.Sleep(tc.handling) // a printer slower than the network
			}}
			cc.received.Store(0)
			req := &testpb.StreamRequest{Count: tc.count, Message: text}
			if err := invokeWithin(t, 30*time.Second, cc, method(t, "ServerStream"), requests(req), rec); err != nil {
				t.Fatal(err)
			}
			if handled != int64(tc.count) || len(bad) > 0 {
				t.Fatalf("handled %d of %d; wrong: %q", handled, tc.count, bad)
			}
			t.Logf("decoded up to %d ahead", maxAhead)
			if maxAhead < tc.minAhead || maxAhead > tc.maxAhead {
				t.Errorf("decoded up to %d responses ahead of the handler, want %d to %d", maxAhead, tc.minAhead, tc.maxAhead)
			}
		})
	}
}

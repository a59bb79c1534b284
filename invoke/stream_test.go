package invoke_test

import (
	"context"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

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

// slowSender delays each request it sends, as a congested network would.
type slowSender struct {
	grpc.ClientConnInterface
	delay time.Duration
	sent  atomic.Int64
}

func (c *slowSender) NewStream(ctx context.Context, desc *grpc.StreamDesc, method string, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	s, err := c.ClientConnInterface.NewStream(ctx, desc, method, opts...)
	if err != nil {
		return nil, err
	}
	return &slowStream{ClientStream: s, c: c}, nil
}

type slowStream struct {
	grpc.ClientStream
	c *slowSender
}

func (s *slowStream) SendMsg(m any) error {
	time.Sleep(s.c.delay)
	err := s.ClientStream.SendMsg(m)
	s.c.sent.Add(1)
	return err
}

// TestStreamParsesAhead: small requests are parsed far ahead of a slow
// network, large ones only within the budget, also when the stream mixes
// them; every one arrives intact (a bidi call echoes them) although their
// storage is reused.
func TestStreamParsesAhead(t *testing.T) {
	const large, small = 100 << 10, 10
	for _, tc := range []struct {
		name     string
		count    int
		size     func(i int) int // of request i's message text
		minAhead int             // the most requests parsed ahead must reach this
		maxBytes int             // and the bytes of those never pass this
		delay    time.Duration
	}{
		// 4 MiB of the budget, one request being parsed and one sent.
		{"large", 150, func(int) int { return large }, 8, 4<<20 + 2*large, time.Millisecond},
		{"small, then large", 150, func(i int) int { return map[bool]int{true: small, false: large}[i == 0] }, 8, 4<<20 + 2*large, time.Millisecond},
		{"large and small in turn", 150, func(i int) int { return map[bool]int{true: large, false: small}[i%2 == 0] }, 8, 4<<20 + 2*large, time.Millisecond},
		{"small", 600, func(int) int { return small }, 100, 258 * (small + 8), 100 * time.Microsecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cc := &slowSender{ClientConnInterface: conn(t), delay: tc.delay}
			sizes := make([]int, tc.count)
			var supplied, maxAhead, maxBytes int
			next := func(msg proto.Message) error {
				if supplied == tc.count {
					return io.EOF
				}
				sent := int(cc.sent.Load())
				ahead := 0
				for _, n := range sizes[sent:supplied] {
					ahead += n
				}
				maxAhead, maxBytes = max(maxAhead, supplied-sent), max(maxBytes, ahead)
				sizes[supplied] = tc.size(supplied)
				supplied++
				b, _ := proto.Marshal(&testpb.EchoRequest{Message: strings.Repeat("y", sizes[supplied-1]), Number: int32(supplied)})
				proto.Reset(msg)
				return proto.Unmarshal(b, msg)
			}
			rec := &recorder{}
			if err := invokeWithin(t, 30*time.Second, cc, method(t, "Bidi"), next, rec); err != nil {
				t.Fatal(err)
			}
			t.Logf("parsed up to %d requests, %d bytes ahead", maxAhead, maxBytes)
			if maxAhead < tc.minAhead || maxBytes > tc.maxBytes {
				t.Errorf("parsed up to %d requests (%d bytes) ahead of sending, want %d or more (at most %d bytes)", maxAhead, maxBytes, tc.minAhead, tc.maxBytes)
			}
			// The server echoes each request: 1 to count, in order.
			if len(rec.responses) != tc.count {
				t.Fatalf("got %d responses, want %d", len(rec.responses), tc.count)
			}
			for i, r := range rec.responses {
				if r.Number != int32(i+1) || len(r.Message) != sizes[i] {
					t.Fatalf("response %d: number %d, message of %d bytes, want %d", i, r.Number, len(r.Message), sizes[i])
				}
			}
		})
	}
}

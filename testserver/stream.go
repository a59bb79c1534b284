package testserver

import (
	"context"
	"errors"
	"io"
	"strconv"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/grpcx/grpcx/testserver/testpb"
)

// ClientStream, answering, sets this trailer to how many requests it got.
const RequestCountTrailer = "x-request-count"

// AbortMessage, as the message of a ClientStream request, makes the server
// end the call with ABORTED at once, before the client half-closes.
const AbortMessage = "abort"

// ServerStream implements TestService.ServerStream. When fail_after is
// positive and count reaches it, the stream ends with ABORTED right after
// that many messages; a shorter stream completes normally. How the call
// ended is recorded for [Service.LastStreamOutcome].
func (s *Service) ServerStream(req *testpb.StreamRequest, stream grpc.ServerStreamingServer[testpb.EchoResponse]) (err error) {
	defer func() { s.setLastStreamOutcome(callOutcome(stream.Context(), err)) }()
	interval, err := streamInterval(req)
	if err != nil {
		return err
	}
	var timer *time.Timer
	if interval > 0 {
		timer = time.NewTimer(interval)
		defer timer.Stop()
	}
	failAfter := req.GetFailAfter()
	// The loop is the hot path of load tests (a million messages), so it
	// allocates nothing but the responses and logs nothing.
	for i := int32(0); i < req.GetCount(); i++ {
		if i > 0 && timer != nil {
			if err := wait(stream.Context(), timer, interval); err != nil {
				return err
			}
		}
		resp := &testpb.EchoResponse{Message: req.GetMessage(), Number: i, Index: i}
		if n := req.GetEmptyEvery(); n > 0 && i%n == 0 {
			resp.Reset()
		}
		if err := stream.Send(resp); err != nil {
			return err
		}
		if failAfter > 0 && i+1 == failAfter {
			return status.Errorf(codes.Aborted, "failing after %d messages", failAfter)
		}
	}
	return nil
}

func streamInterval(req *testpb.StreamRequest) (time.Duration, error) {
	if req.GetCount() < 0 {
		return 0, status.Errorf(codes.InvalidArgument, "count must not be negative, got %d", req.GetCount())
	}
	if req.GetInterval() == nil {
		return 0, nil
	}
	if err := req.GetInterval().CheckValid(); err != nil {
		return 0, status.Errorf(codes.InvalidArgument, "interval: %v", err)
	}
	d := req.GetInterval().AsDuration()
	if d < 0 {
		return 0, status.Errorf(codes.InvalidArgument, "interval must not be negative, got %v", d)
	}
	return d, nil
}

// wait sleeps for d on timer, which must have been started with d and is
// restarted for the next wait, or returns the status for ctx ending first.
func wait(ctx context.Context, timer *time.Timer, d time.Duration) error {
	select {
	case <-timer.C:
		timer.Reset(d)
		return nil
	case <-ctx.Done():
		return status.FromContextError(ctx.Err()).Err()
	}
}

// ClientStream implements TestService.ClientStream. Only the first 1000
// messages are repeated back, so memory stays bounded however long the
// client streams; count and sum cover every message, and so does the
// RequestCountTrailer. A request whose message is AbortMessage ends the
// call with ABORTED.
func (s *Service) ClientStream(stream grpc.ClientStreamingServer[testpb.EchoRequest, testpb.ClientStreamResponse]) error {
	resp := &testpb.ClientStreamResponse{}
	for {
		req, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			stream.SetTrailer(metadata.Pairs(RequestCountTrailer, strconv.Itoa(int(resp.Count))))
			return stream.SendAndClose(resp)
		}
		if err != nil {
			return err
		}
		if req.GetMessage() == AbortMessage {
			// Ends the call at once, whatever the client still sends.
			return status.Errorf(codes.Aborted, "aborted after %d requests", resp.Count)
		}
		resp.Count++
		resp.Sum += int64(req.GetNumber())
		if len(resp.Messages) < maxStreamMessages {
			resp.Messages = append(resp.Messages, req.GetMessage())
		}
	}
}

// Bidi implements TestService.Bidi.
func (s *Service) Bidi(stream grpc.BidiStreamingServer[testpb.EchoRequest, testpb.EchoResponse]) error {
	for i := int32(0); ; i++ {
		req, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		resp := &testpb.EchoResponse{Message: req.GetMessage(), Number: req.GetNumber(), Index: i}
		if err := stream.Send(resp); err != nil {
			return err
		}
	}
}

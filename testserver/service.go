package testserver

import (
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"time"

	"google.golang.org/genproto/googleapis/rpc/code"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/protoadapt"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/grpcx/grpcx/testserver/hiddenpb"
	"github.com/grpcx/grpcx/testserver/testpb"
)

// Limits that keep a misbehaving test from exhausting the machine.
const (
	maxPayload        = 64 << 20 // bytes a Payload call may ask for
	maxStreamMessages = 1000     // messages ClientStream repeats back
	defaultSlow       = time.Second
	deadlineSlack     = 100 * time.Millisecond // see contextOutcome
)

// Service implements grpcx.test.v1.TestService. Its zero value is not usable;
// create one with [NewService]. It is safe for concurrent calls.
type Service struct {
	testpb.UnimplementedTestServiceServer

	mu                sync.Mutex
	lastSlowOutcome   string
	lastStreamOutcome string
}

var _ testpb.TestServiceServer = (*Service)(nil)

// NewService returns a Service ready to be registered with [Register].
func NewService() *Service {
	return &Service{}
}

// LastSlowOutcome reports how the most recent Slow call ended: "completed",
// "deadline_exceeded" or "canceled", or "" before any Slow call has ended.
// It lets tests check that a client really cancelled or propagated its
// deadline. The server learns of a cancellation slightly after the client
// does, so tests should poll rather than read it once.
func (s *Service) LastSlowOutcome() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastSlowOutcome
}

func (s *Service) setLastSlowOutcome(outcome string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lastSlowOutcome = outcome
}

// LastStreamOutcome reports how the most recent ServerStream call ended:
// "completed", "canceled", "deadline_exceeded", "aborted" (when fail_after
// ended it), the lower-case name of another status code (such as
// "invalid_argument"), or "" before any ServerStream call has ended. Like
// [Service.LastSlowOutcome], it is recorded a moment after the client sees
// the end of the call, so tests should poll.
func (s *Service) LastStreamOutcome() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastStreamOutcome
}

func (s *Service) setLastStreamOutcome(outcome string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lastStreamOutcome = outcome
}

// Observed implements TestService.Observed, giving clients in other
// processes what [Service.LastSlowOutcome] and [Service.LastStreamOutcome]
// give in-process tests.
func (s *Service) Observed(context.Context, *emptypb.Empty) (*testpb.ObservedResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return &testpb.ObservedResponse{LastSlowOutcome: s.lastSlowOutcome, LastStreamOutcome: s.lastStreamOutcome}, nil
}

// Pid implements TestService.Pid.
func (s *Service) Pid(context.Context, *emptypb.Empty) (*testpb.PidResponse, error) {
	return &testpb.PidResponse{Pid: int32(os.Getpid())}, nil
}

// Unary implements TestService.Unary.
func (s *Service) Unary(_ context.Context, req *testpb.EchoRequest) (*testpb.EchoResponse, error) {
	return &testpb.EchoResponse{Message: req.GetMessage(), Number: req.GetNumber()}, nil
}

// EchoTypes implements TestService.EchoTypes.
func (s *Service) EchoTypes(_ context.Context, req *testpb.AllTypes) (*testpb.AllTypes, error) {
	return req, nil
}

// Fail implements TestService.Fail.
func (s *Service) Fail(_ context.Context, req *testpb.FailRequest) (*emptypb.Empty, error) {
	c := codes.Code(req.GetCode())
	if c < codes.Canceled || c > codes.Unauthenticated {
		return nil, status.Errorf(codes.InvalidArgument, "code must be 1..16, got %d", req.GetCode())
	}
	st := status.New(c, req.GetMessage())
	if !req.GetDetails() {
		return nil, st.Err()
	}
	withDetails, err := st.WithDetails(failDetails(c)...)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "attach details: %v", err)
	}
	return nil, withDetails.Err()
}

// failDetails covers the common google.rpc detail types plus one that
// reflection hides, so clients have to decode it from local files.
func failDetails(c codes.Code) []protoadapt.MessageV1 {
	// google.rpc.Code names (NOT_FOUND) rather than grpc-go's (NotFound),
	// because they are the same in every language.
	name := code.Code(c).String()
	return []protoadapt.MessageV1{
		&errdetails.ErrorInfo{Reason: "TEST_FAILURE", Domain: "grpcx.test", Metadata: map[string]string{"code": name}},
		&errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{
			{Field: "code", Description: "asked to fail"},
		}},
		&errdetails.RetryInfo{RetryDelay: durationpb.New(1500 * time.Millisecond)},
		&hiddenpb.Secret{Code: "s3cret", Level: 7},
	}
}

// Slow implements TestService.Slow.
func (s *Service) Slow(ctx context.Context, req *testpb.SlowRequest) (*testpb.SlowResponse, error) {
	d, err := slowDuration(req)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		s.setLastSlowOutcome("completed")
		return &testpb.SlowResponse{Outcome: "completed", Slept: durationpb.New(time.Since(start))}, nil
	case <-ctx.Done():
		s.setLastSlowOutcome(contextOutcome(ctx))
		return nil, status.FromContextError(ctx.Err()).Err()
	}
}

func slowDuration(req *testpb.SlowRequest) (time.Duration, error) {
	if req.GetDuration() == nil {
		return defaultSlow, nil
	}
	if err := req.GetDuration().CheckValid(); err != nil {
		return 0, status.Errorf(codes.InvalidArgument, "duration: %v", err)
	}
	d := req.GetDuration().AsDuration()
	if d < 0 {
		return 0, status.Errorf(codes.InvalidArgument, "duration must not be negative, got %v", d)
	}
	return d, nil
}

// contextOutcome names why ctx ended. When a client's deadline passes, the
// client resets the stream and grpc-go reports the reset as
// context.Canceled, usually just before the server's copy of the deadline
// (taken from grpc-timeout on arrival, so a little later) fires itself. A
// cancellation within deadlineSlack of the deadline therefore counts as the
// deadline, which is what a test checking deadline propagation means.
func contextOutcome(ctx context.Context) string {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return "deadline_exceeded"
	}
	if d, ok := ctx.Deadline(); ok && time.Until(d) < deadlineSlack {
		return "deadline_exceeded"
	}
	return "canceled"
}

// callOutcome names how a call that returned err on ctx ended, in the
// vocabulary of [Service.LastStreamOutcome].
func callOutcome(ctx context.Context, err error) string {
	if err == nil {
		return "completed"
	}
	if ctx.Err() != nil {
		return contextOutcome(ctx)
	}
	return strings.ToLower(code.Code(status.Code(err)).String())
}

// Payload implements TestService.Payload.
func (s *Service) Payload(_ context.Context, req *testpb.PayloadRequest) (*testpb.PayloadResponse, error) {
	size := req.GetSize()
	if size < 0 || size > maxPayload {
		return nil, status.Errorf(codes.InvalidArgument, "size must be 0..%d, got %d", maxPayload, size)
	}
	data := make([]byte, size)
	// A pattern rather than zeros, so a client that truncates or reorders
	// bytes is caught by comparing content, not just length.
	for i := range data {
		data[i] = byte(i)
	}
	return &testpb.PayloadResponse{Data: data}, nil
}

// Hidden implements TestService.Hidden.
func (s *Service) Hidden(context.Context, *emptypb.Empty) (*testpb.HiddenResponse, error) {
	detail, err := anypb.New(&hiddenpb.Secret{Code: "hidden-value", Level: 42})
	if err != nil {
		return nil, status.Errorf(codes.Internal, "pack secret: %v", err)
	}
	return &testpb.HiddenResponse{Detail: detail}, nil
}

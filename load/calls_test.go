package load

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/grpcx/grpcx/format"
	"github.com/grpcx/grpcx/internal/testutil"
	"github.com/grpcx/grpcx/testserver"
	"github.com/grpcx/grpcx/testserver/testpb"
)

// recorder keeps every EchoRequest the test server receives.
type recorder struct {
	mu   sync.Mutex
	reqs []*testpb.EchoRequest
}

func (r *recorder) add(m any) {
	if req, ok := m.(*testpb.EchoRequest); ok {
		r.mu.Lock()
		r.reqs = append(r.reqs, proto.Clone(req).(*testpb.EchoRequest))
		r.mu.Unlock()
	}
}

func (r *recorder) messages() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, q := range r.reqs {
		out = append(out, q.GetMessage())
	}
	return out
}

type recordingStream struct {
	grpc.ServerStream
	r *recorder
}

func (s recordingStream) RecvMsg(m any) error {
	err := s.ServerStream.RecvMsg(m)
	if err == nil {
		s.r.add(m)
	}
	return err
}

// startRecordingServer serves the test server on loopback, recording the
// requests it receives, and returns a connection to it.
func startRecordingServer(t testing.TB) (*grpc.ClientConn, *recorder) {
	t.Helper()
	rec := &recorder{}
	opts := append(testserver.ServerOptions(testserver.Options{}),
		grpc.ChainUnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			rec.add(req)
			return h(ctx, req)
		}),
		grpc.ChainStreamInterceptor(func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
			return h(srv, recordingStream{ss, rec})
		}))
	s := grpc.NewServer(opts...)
	testserver.Register(s, testserver.NewService(), testserver.Options{})
	return testutil.Dial(t, testutil.Serve(t, "127.0.0.1:0", s)), rec
}

func method(t testing.TB, name string) protoreflect.MethodDescriptor {
	t.Helper()
	return testpb.File_grpcx_test_v1_test_proto.Services().ByName("TestService").Methods().ByName(protoreflect.Name(name))
}

// runCalls makes n calls of the method with data from c workers.
func runCalls(t *testing.T, cc *grpc.ClientConn, name, data string, n int64, c, streamMessages int) *Result {
	t.Helper()
	m := method(t, name)
	reqs, err := NewRequests(data, m.Input(), format.ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	calls := &Calls{Conns: []grpc.ClientConnInterface{cc}, Method: m, Requests: reqs, StreamMessages: streamMessages, ServerHeader: testserver.PIDHeader}
	callers, err := calls.Callers(c)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Run(t.Context(), Options{Requests: n}, callers)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestCallsUnaryValuesInTurn(t *testing.T) {
	cc, rec := startRecordingServer(t)
	res := runCalls(t, cc, "Unary", `{"message": "a"} {"message": "b"}`, 10, 1, 0)
	if res.Count != 10 || res.Errors != 0 || res.Responses != 10 || len(res.Servers) != 1 {
		t.Fatalf("count %d errors %d responses %d servers %v", res.Count, res.Errors, res.Responses, res.Servers)
	}
	if got := strings.Join(rec.messages(), ""); got != "ababababab" {
		t.Errorf("server saw %q, want the two values in turn", got)
	}
}

// TestCallsTimedOutReaderKeepsItsRequests: invoke reads a unary call's
// request on a goroutine that outlives a call whose deadline passed first.
// Sharing a sender with the worker's next call, it could take that call's
// request, and the next call sent an empty one.
func TestCallsTimedOutReaderKeepsItsRequests(t *testing.T) {
	cc, rec := startRecordingServer(t)
	m := method(t, "Unary")
	for _, data := range []string{`{"message":"a"} {"message":"b"}`, `{"message":"r{{.RequestNumber}}"}`} {
		rec.mu.Lock()
		rec.reqs = nil
		rec.mu.Unlock()
		reqs, err := NewRequests(data, m.Input(), format.ParseOptions{})
		if err != nil {
			t.Fatal(err)
		}
		calls := &Calls{Conns: []grpc.ClientConnInterface{cc}, Method: m, Requests: reqs, Timeout: 150 * time.Microsecond}
		callers, err := calls.Callers(4)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Run(t.Context(), Options{Requests: 4000}, callers); err != nil {
			t.Fatal(err)
		}
		got := rec.messages()
		for _, s := range got {
			if s != "a" && s != "b" && !strings.HasPrefix(s, "r") {
				t.Fatalf("with %s the server received a request with message %q (of %d); every one is a, b or r<N>", data, s, len(got))
			}
		}
	}
}

func TestCallsTemplate(t *testing.T) {
	cc, rec := startRecordingServer(t)
	data := `{"message": "{{.WorkerID}}-{{.RequestNumber}}-{{randomString 6}}-{{.Timestamp}}", "number": {{randomInt 5 7}}}`
	res := runCalls(t, cc, "Unary", data, 200, 4, 0)
	if res.Count != 200 || res.Errors != 0 {
		t.Fatalf("count %d errors %d: %v", res.Count, res.Errors, res.Messages)
	}
	seen := map[string]bool{}
	numbers := map[string]bool{}
	for _, q := range rec.reqs {
		seen[q.GetMessage()] = true
		parts := strings.Split(q.GetMessage(), "-")
		numbers[parts[1]] = true
		if q.GetNumber() < 5 || q.GetNumber() > 7 || len(parts[2]) != 6 {
			t.Errorf("request %v: randomInt or randomString out of range", q)
		}
	}
	if len(seen) != 200 || len(numbers) != 200 || !numbers["0"] || !numbers["199"] {
		t.Errorf("server saw %d distinct messages and %d request numbers, want 200 of each, 0 to 199", len(seen), len(numbers))
	}
}

func TestCallsStreams(t *testing.T) {
	cc, rec := startRecordingServer(t)
	res := runCalls(t, cc, "ClientStream", `{"message": "x"} {"message": "y"}`, 6, 2, 3)
	if res.Count != 6 || res.Errors != 0 || res.Responses != 6 {
		t.Errorf("client stream: count %d errors %d responses %d", res.Count, res.Errors, res.Responses)
	}
	// Two workers' streams interleave at the server: count the messages.
	if got := strings.Join(rec.messages(), ""); len(got) != 18 || strings.Count(got, "x") != 12 {
		t.Errorf("server saw %q, want x y x on each of 6 calls", got)
	}
	res = runCalls(t, cc, "Bidi", `{"message": "p"}`, 5, 2, 4)
	if res.Count != 5 || res.Errors != 0 || res.Responses != 20 {
		t.Errorf("bidi: count %d errors %d responses %d, want 5 calls of 4 answers", res.Count, res.Errors, res.Responses)
	}
	res = runCalls(t, cc, "ServerStream", `{"count": 3}`, 5, 2, 0)
	if res.Count != 5 || res.Responses != 15 {
		t.Errorf("server stream: count %d responses %d, want 5 streams of 3", res.Count, res.Responses)
	}
}

func TestCallsFailures(t *testing.T) {
	cc, _ := startRecordingServer(t)
	res := runCalls(t, cc, "Fail", `{"code": 5, "message": "gone"} {"code": 14, "message": "later"}`, 20, 3, 0)
	if res.Errors != 20 || res.Status[codes.NotFound] != 10 || res.Status[codes.Unavailable] != 10 || len(res.Messages) != 2 {
		t.Errorf("errors %d status %v messages %v", res.Errors, res.Status, res.Messages)
	}
}

func TestNewRequestsErrors(t *testing.T) {
	in := method(t, "Unary").Input()
	for _, tc := range []struct{ data, want string }{
		{`{"nope": 1}`, "unknown field"},
		{`{"message": `, "malformed JSON"},
		{`{"message": "{{.Missing}}"}`, "Missing"},
		{`{"message": "{{randomInt 5 1}}"}`, "maximum is below the minimum"},
		{`{"message": "{{"}`, "request template"},
		{`{"number": "{{.WorkerID}}x"}`, "after template expansion"},
	} {
		_, err := NewRequests(tc.data, in, format.ParseOptions{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("NewRequests(%s) = %v, want an error with %q", tc.data, err, tc.want)
		}
	}
	var inErr *format.InputError
	if _, err := NewRequests(`{"nope": 1}`, in, format.ParseOptions{}); !errors.As(err, &inErr) {
		t.Errorf("bad data gave %T, want a *format.InputError inside", err)
	}
	if _, err := NewRequests(`{"nope": 1}`, in, format.ParseOptions{AllowUnknownFields: true}); err != nil {
		t.Errorf("AllowUnknownFields: %v", err)
	}
}

// The hot path of a run without a template: how much one unary call costs
// through invoke, next to the generated client doing the same call.
func BenchmarkUnaryInvoke(b *testing.B) {
	cc := dialTestServer(b)
	m := method(b, "Unary")
	reqs, err := NewRequests(`{"message": "hi"}`, m.Input(), format.ParseOptions{})
	if err != nil {
		b.Fatal(err)
	}
	callers, _ := (&Calls{Conns: []grpc.ClientConnInterface{cc}, Method: m, Requests: reqs, ServerHeader: testserver.PIDHeader}).Callers(1)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, err := callers[0].Call(b.Context(), int64(i)); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkUnaryStub(b *testing.B) {
	cc := dialTestServer(b)
	client := testpb.NewTestServiceClient(cc)
	req := &testpb.EchoRequest{Message: "hi"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := client.Unary(b.Context(), req); err != nil {
			b.Fatal(err)
		}
	}
}

// dialTestServer starts a plain test server and connects to it.
func dialTestServer(tb testing.TB) *grpc.ClientConn {
	tb.Helper()
	return testutil.Dial(tb, testutil.StartServer(tb, testserver.Options{}))
}

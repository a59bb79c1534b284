package invoke_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/grpcx/grpcx/internal/testutil"
	"github.com/grpcx/grpcx/invoke"
	"github.com/grpcx/grpcx/testserver"
	"github.com/grpcx/grpcx/testserver/testpb"
)

// method returns the descriptor of a TestService method.
func method(t testing.TB, name protoreflect.Name) protoreflect.MethodDescriptor {
	t.Helper()
	md := testpb.File_grpcx_test_v1_test_proto.Services().ByName("TestService").Methods().ByName(name)
	if md == nil {
		t.Fatalf("TestService has no method %s", name)
	}
	return md
}

// conn starts a test server and returns a connection to it.
func conn(t *testing.T) *grpc.ClientConn {
	t.Helper()
	return testutil.Dial(t, testutil.StartServer(t, testserver.Options{}))
}

// requests supplies reqs in order, then io.EOF. Each request is copied
// through the wire format into the dynamic message Invoke passes.
func requests(reqs ...proto.Message) invoke.RequestSupplier {
	return func(msg proto.Message) error {
		if len(reqs) == 0 {
			return io.EOF
		}
		b, err := proto.Marshal(reqs[0])
		reqs = reqs[1:]
		if err != nil {
			return err
		}
		return proto.Unmarshal(b, msg)
	}
}

// recorder is a Handler that records the events of a call.
type recorder struct {
	events    []string
	responses []*testpb.EchoResponse // for methods that return EchoResponse
	raw       []proto.Message
	header    metadata.MD
	trailer   metadata.MD
	status    *status.Status
	// onResponse, when set, is called with each response.
	onResponse func(*testpb.EchoResponse)
}

func (r *recorder) OnSendHeaders(metadata.MD) { r.events = append(r.events, "send-headers") }

func (r *recorder) OnReceiveHeaders(md metadata.MD) {
	r.events = append(r.events, "headers")
	r.header = md
}

func (r *recorder) OnReceiveResponse(msg proto.Message) {
	r.events = append(r.events, "response")
	// msg is reused after this returns, so keep a copy.
	r.raw = append(r.raw, proto.Clone(msg))
	if msg.ProtoReflect().Descriptor().FullName() == "grpcx.test.v1.EchoResponse" {
		b, _ := proto.Marshal(msg)
		resp := &testpb.EchoResponse{}
		_ = proto.Unmarshal(b, resp)
		r.responses = append(r.responses, resp)
		if r.onResponse != nil {
			r.onResponse(resp)
		}
	}
}

func (r *recorder) OnReceiveTrailers(st *status.Status, md metadata.MD) {
	r.events = append(r.events, "trailers")
	r.status, r.trailer = st, md
}

func (r *recorder) eventString() string { return strings.Join(r.events, " ") }

// invokeWithin runs Invoke and fails the test if it has not returned within
// timeout, so that a hung call fails instead of hanging the test run.
func invokeWithin(t *testing.T, timeout time.Duration, cc grpc.ClientConnInterface, md protoreflect.MethodDescriptor,
	next invoke.RequestSupplier, h invoke.Handler) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	return invoke.Invoke(ctx, cc, md, nil, next, h)
}

func TestInvokeKinds(t *testing.T) {
	cc := conn(t)
	tests := []struct {
		method    protoreflect.Name
		suffix    string
		requests  []proto.Message
		events    string
		responses []*testpb.EchoResponse
	}{
		{
			method:    "Unary",
			requests:  []proto.Message{&testpb.EchoRequest{Message: "hi", Number: 3}},
			events:    "send-headers headers response trailers",
			responses: []*testpb.EchoResponse{{Message: "hi", Number: 3}},
		},
		{
			method:    "Unary",
			requests:  nil, // no input is an empty request
			events:    "send-headers headers response trailers",
			responses: []*testpb.EchoResponse{{}},
		},
		{
			method:   "ServerStream",
			requests: []proto.Message{&testpb.StreamRequest{Count: 3, Message: "s"}},
			events:   "send-headers headers response response response trailers",
			responses: []*testpb.EchoResponse{
				{Message: "s", Number: 0, Index: 0},
				{Message: "s", Number: 1, Index: 1},
				{Message: "s", Number: 2, Index: 2},
			},
		},
		{
			method:   "ServerStream",
			suffix:   " asking for none",
			requests: []proto.Message{&testpb.StreamRequest{Count: 0}},
			events:   "send-headers headers trailers",
		},
		{
			method: "ClientStream",
			requests: []proto.Message{
				&testpb.EchoRequest{Message: "a", Number: 1},
				&testpb.EchoRequest{Message: "b", Number: 2},
				&testpb.EchoRequest{Message: "c", Number: 3},
			},
			events: "send-headers headers response trailers",
		},
		{
			method: "Bidi",
			requests: []proto.Message{
				&testpb.EchoRequest{Message: "x", Number: 1},
				&testpb.EchoRequest{Message: "y", Number: 2},
			},
			events: "send-headers headers response response trailers",
			responses: []*testpb.EchoResponse{
				{Message: "x", Number: 1, Index: 0},
				{Message: "y", Number: 2, Index: 1},
			},
		},
		{
			method: "Bidi",
			events: "send-headers headers trailers",
		},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s with %d requests", tt.method, len(tt.requests))+tt.suffix, func(t *testing.T) {
			t.Parallel()
			rec := &recorder{}
			err := invokeWithin(t, 10*time.Second, cc, method(t, tt.method), requests(tt.requests...), rec)
			if err != nil {
				t.Fatalf("Invoke: %v", err)
			}
			if got := rec.eventString(); got != tt.events {
				t.Errorf("events: %s\nwant:   %s", got, tt.events)
			}
			// A nil *status.Status is grpc-go's OK, so Code is the check.
			if rec.status.Code() != codes.OK {
				t.Errorf("trailers status = %v, want OK", rec.status)
			}
			if tt.method == "ClientStream" {
				checkClientStream(t, rec)
				return
			}
			if len(rec.responses) != len(tt.responses) {
				t.Fatalf("got %d responses %v, want %d", len(rec.responses), rec.responses, len(tt.responses))
			}
			for i, want := range tt.responses {
				if !proto.Equal(rec.responses[i], want) {
					t.Errorf("response %d = %v, want %v", i, rec.responses[i], want)
				}
			}
		})
	}
}

func checkClientStream(t *testing.T, rec *recorder) {
	t.Helper()
	if len(rec.raw) != 1 {
		t.Fatalf("got %d responses, want 1", len(rec.raw))
	}
	b, err := proto.Marshal(rec.raw[0])
	if err != nil {
		t.Fatal(err)
	}
	got := &testpb.ClientStreamResponse{}
	if err := proto.Unmarshal(b, got); err != nil {
		t.Fatal(err)
	}
	want := &testpb.ClientStreamResponse{Count: 3, Sum: 6, Messages: []string{"a", "b", "c"}}
	if !proto.Equal(got, want) {
		t.Errorf("response = %v, want %v", got, want)
	}
}

func TestInvokeMetadata(t *testing.T) {
	cc := conn(t)
	rec := &recorder{}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	req := &testpb.MetadataRequest{ResponseHeaders: map[string]string{"x-h": "hv"}, ResponseTrailers: map[string]string{"x-t": "tv"}}
	err := invoke.Invoke(ctx, cc, method(t, "EchoMetadata"), metadata.Pairs("x-sent", "yes"), requests(req), rec)
	if err != nil {
		t.Fatal(err)
	}
	if got := rec.header.Get("x-h"); len(got) != 1 || got[0] != "hv" {
		t.Errorf("header x-h = %q, want [hv]", got)
	}
	if got := rec.trailer.Get("x-t"); len(got) != 1 || got[0] != "tv" {
		t.Errorf("trailer x-t = %q, want [tv]", got)
	}
	b, _ := proto.Marshal(rec.raw[0])
	resp := &testpb.MetadataResponse{}
	if err := proto.Unmarshal(b, resp); err != nil {
		t.Fatal(err)
	}
	if got := resp.GetReceived()["x-sent"].GetValues(); len(got) != 1 || got[0] != "yes" {
		t.Errorf("server received x-sent = %q, want [yes]", got)
	}
}

func TestInvokeStatusError(t *testing.T) {
	cc := conn(t)
	rec := &recorder{}
	req := &testpb.FailRequest{Code: int32(codes.NotFound), Message: "no such thing", Details: true}
	err := invokeWithin(t, 10*time.Second, cc, method(t, "Fail"), requests(req), rec)
	if status.Code(err) != codes.NotFound {
		t.Fatalf("Invoke = %v, want code NotFound", err)
	}
	st, ok := status.FromError(err)
	if !ok || st.Message() != "no such thing" {
		t.Errorf("status = %v, want message %q", st, "no such thing")
	}
	var urls []string
	for _, d := range st.Proto().GetDetails() {
		urls = append(urls, d.GetTypeUrl())
	}
	wantURLs := "type.googleapis.com/google.rpc.ErrorInfo type.googleapis.com/google.rpc.BadRequest " +
		"type.googleapis.com/google.rpc.RetryInfo type.googleapis.com/grpcx.test.hidden.v1.Secret"
	if strings.Join(urls, " ") != wantURLs {
		t.Errorf("details %v, want %s", urls, wantURLs)
	}
	if got := rec.eventString(); got != "send-headers trailers" && got != "send-headers headers trailers" {
		t.Errorf("events: %s, want no response and trailers last", got)
	}
	if rec.status.Code() != codes.NotFound || len(rec.status.Proto().GetDetails()) != 4 {
		t.Errorf("handler got status %v with %d details", rec.status, len(rec.status.Proto().GetDetails()))
	}
}

func TestInvokeStreamStatusError(t *testing.T) {
	cc := conn(t)
	rec := &recorder{}
	req := &testpb.StreamRequest{Count: 5, FailAfter: 2}
	err := invokeWithin(t, 10*time.Second, cc, method(t, "ServerStream"), requests(req), rec)
	if status.Code(err) != codes.Aborted {
		t.Fatalf("Invoke = %v, want code Aborted", err)
	}
	if got, want := rec.eventString(), "send-headers headers response response trailers"; got != want {
		t.Errorf("events: %s\nwant:   %s", got, want)
	}
	if rec.status.Code() != codes.Aborted {
		t.Errorf("handler got status %v, want Aborted", rec.status)
	}
}

func TestInvokeTooManyRequests(t *testing.T) {
	cc := conn(t)
	for _, name := range []protoreflect.Name{"Unary", "ServerStream"} {
		t.Run(string(name), func(t *testing.T) {
			rec := &recorder{}
			md := method(t, name)
			two := requests(&testpb.EchoRequest{Number: 1}, &testpb.EchoRequest{Number: 2})
			if name == "ServerStream" {
				two = requests(&testpb.StreamRequest{Count: 1}, &testpb.StreamRequest{Count: 2})
			}
			err := invokeWithin(t, 10*time.Second, cc, md, two, rec)
			if !errors.Is(err, invoke.ErrTooManyRequests) {
				t.Fatalf("Invoke = %v, want ErrTooManyRequests", err)
			}
			if len(rec.raw) != 0 {
				t.Errorf("got responses %v: the call was made", rec.raw)
			}
		})
	}
}

func TestInvokeSupplierError(t *testing.T) {
	cc := conn(t)
	bad := errors.New("bad input on line 2")
	tests := []struct {
		method protoreflect.Name
		first  proto.Message
	}{
		{"Unary", &testpb.EchoRequest{}},
		{"ClientStream", &testpb.EchoRequest{}},
		{"Bidi", &testpb.EchoRequest{Message: "first"}},
	}
	for _, tt := range tests {
		t.Run(string(tt.method), func(t *testing.T) {
			t.Parallel()
			calls := 0
			next := func(msg proto.Message) error {
				calls++
				if calls == 1 {
					return requests(tt.first)(msg)
				}
				return bad
			}
			rec := &recorder{}
			// The bidi server keeps the stream open until the client
			// half-closes, which it never does here: only cancelling the
			// call ends it before the timeout.
			start := time.Now()
			err := invokeWithin(t, 10*time.Second, cc, method(t, tt.method), next, rec)
			if !errors.Is(err, bad) {
				t.Fatalf("Invoke = %v, want the supplier's error", err)
			}
			if elapsed := time.Since(start); elapsed > 5*time.Second {
				t.Errorf("Invoke took %v: the call was not cancelled", elapsed)
			}
			if status.Code(err) == codes.DeadlineExceeded {
				t.Errorf("Invoke = %v: the call ran into the timeout", err)
			}
			if tt.method == "Bidi" && (rec.status == nil || rec.status.Code() != codes.Canceled) {
				t.Errorf("bidi trailers status = %v, want Canceled", rec.status)
			}
		})
	}
}

// TestInvokeBidiInterleaves proves that responses are handled while requests
// are still being supplied: the supplier will not give request n+1 until the
// handler has seen the response to request n, which deadlocks an invoker
// that reads all the input before receiving.
func TestInvokeBidiInterleaves(t *testing.T) {
	cc := conn(t)
	const n = 5
	seen := make(chan int32, n)
	rec := &recorder{onResponse: func(r *testpb.EchoResponse) { seen <- r.GetNumber() }}
	sent := int32(0)
	next := func(msg proto.Message) error {
		if sent > 0 {
			select {
			case got := <-seen:
				if got != sent {
					return fmt.Errorf("handler saw response %d after request %d", got, sent)
				}
			case <-time.After(5 * time.Second):
				return fmt.Errorf("no response to request %d while the call is still sending", sent)
			}
		}
		if sent == n {
			return io.EOF
		}
		sent++
		return requests(&testpb.EchoRequest{Message: "m", Number: sent})(msg)
	}
	if err := invokeWithin(t, 20*time.Second, cc, method(t, "Bidi"), next, rec); err != nil {
		t.Fatalf("Invoke: %v", err)
	}
	if len(rec.responses) != n {
		t.Fatalf("got %d responses, want %d", len(rec.responses), n)
	}
	for i, r := range rec.responses {
		if r.GetIndex() != int32(i) || r.GetNumber() != int32(i+1) {
			t.Errorf("response %d = %v", i, r)
		}
	}
}

func TestKindOfAndMethodPath(t *testing.T) {
	t.Parallel()
	tests := []struct {
		method protoreflect.Name
		kind   invoke.Kind
		path   string
	}{
		{"Unary", invoke.Unary, "/grpcx.test.v1.TestService/Unary"},
		{"ServerStream", invoke.ServerStreaming, "/grpcx.test.v1.TestService/ServerStream"},
		{"ClientStream", invoke.ClientStreaming, "/grpcx.test.v1.TestService/ClientStream"},
		{"Bidi", invoke.Bidi, "/grpcx.test.v1.TestService/Bidi"},
		{"Fail", invoke.Unary, "/grpcx.test.v1.TestService/Fail"},
	}
	for _, tt := range tests {
		t.Run(string(tt.method), func(t *testing.T) {
			t.Parallel()
			md := method(t, tt.method)
			if got := invoke.KindOf(md); got != tt.kind {
				t.Errorf("KindOf = %s, want %s", got, tt.kind)
			}
			if got := invoke.MethodPath(md); got != tt.path {
				t.Errorf("MethodPath = %s, want %s", got, tt.path)
			}
		})
	}
}

// closedPort returns a loopback address nobody listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	lis.Close()
	return addr
}

func TestDialRefusedFailsFast(t *testing.T) {
	t.Parallel()
	addr := closedPort(t)
	const timeout = 10 * time.Second
	start := time.Now()
	cc, err := invoke.Dial(t.Context(), addr, invoke.DialOptions{Plaintext: true, ConnectTimeout: timeout})
	elapsed := time.Since(start)
	if err == nil {
		cc.Close()
		t.Fatalf("Dial(%s) succeeded", addr)
	}
	if elapsed > timeout/4 {
		t.Errorf("Dial took %v to fail, want well under the %v connect timeout", elapsed, timeout)
	}
	var ce *invoke.ConnectError
	if !errors.As(err, &ce) {
		t.Fatalf("error %v (%T) is not a *ConnectError", err, err)
	}
	if ce.Target != addr {
		t.Errorf("ConnectError.Target = %q, want %q", ce.Target, addr)
	}
	if !strings.Contains(err.Error(), "connection refused") || !strings.Contains(err.Error(), addr) {
		t.Errorf("error %q does not say the connection to %s was refused", err, addr)
	}
}

func TestDialTimeout(t *testing.T) {
	t.Parallel()
	// A listener that never completes the HTTP/2 handshake: the kernel
	// accepts the connection, nobody answers.
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lis.Close() })
	start := time.Now()
	cc, err := invoke.Dial(t.Context(), lis.Addr().String(), invoke.DialOptions{Plaintext: true, ConnectTimeout: 300 * time.Millisecond})
	if err == nil {
		cc.Close()
		t.Fatal("Dial succeeded against a silent listener")
	}
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Errorf("Dial took %v, want about the 300ms connect timeout", elapsed)
	}
	// A connect timeout is a failure to connect, not a deadline of the
	// call's (grpcx exits 1 for it, 68 for --max-time).
	var ce *invoke.ConnectError
	if !errors.As(err, &ce) || errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "connect timeout") {
		t.Errorf("error %v, want a *ConnectError naming the connect timeout, not wrapping context.DeadlineExceeded", err)
	}
}

func TestDialTargets(t *testing.T) {
	t.Parallel()
	sock := filepath.Join(t.TempDir(), "s.sock")
	tests := []struct {
		name, listen string
	}{
		{"tcp", "127.0.0.1:0"},
		{"unix socket", "unix://" + sock},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			target := testutil.Serve(t, tt.listen, testserver.NewServer(testserver.Options{}))
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			cc, err := invoke.Dial(ctx, target, invoke.DialOptions{Plaintext: true})
			if err != nil {
				t.Fatalf("Dial(%s): %v", target, err)
			}
			defer cc.Close()
			rec := &recorder{}
			if err := invoke.Invoke(ctx, cc, method(t, "Unary"), nil, requests(&testpb.EchoRequest{Message: "over " + tt.name}), rec); err != nil {
				t.Fatal(err)
			}
			if len(rec.responses) != 1 || rec.responses[0].GetMessage() != "over "+tt.name {
				t.Errorf("responses %v", rec.responses)
			}
		})
	}
}

// TestDialRelativeUnixSocket reaches a server through unix:relative/path,
// resolved against the working directory as a user would expect.
func TestDialRelativeUnixSocket(t *testing.T) {
	t.Chdir(t.TempDir())
	if err := os.Mkdir("run", 0o755); err != nil {
		t.Fatal(err)
	}
	testutil.Serve(t, "unix:run/grpcx.sock", testserver.NewServer(testserver.Options{}))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cc, err := invoke.Dial(ctx, "unix:run/grpcx.sock", invoke.DialOptions{Plaintext: true})
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	var got proto.Message
	h := &funcHandler{onResponse: func(m proto.Message) { got = proto.Clone(m) }}
	m := testpb.File_grpcx_test_v1_test_proto.Services().ByName("TestService").Methods().ByName("Unary")
	if err := invoke.Invoke(ctx, cc, m, nil, func(proto.Message) error { return io.EOF }, h); err != nil {
		t.Fatal(err)
	}
	if got == nil {
		t.Fatal("no response over unix:run/grpcx.sock")
	}
}

// funcHandler calls onResponse for each response and ignores the rest.
type funcHandler struct{ onResponse func(proto.Message) }

func (h *funcHandler) OnSendHeaders(metadata.MD)                     {}
func (h *funcHandler) OnReceiveHeaders(metadata.MD)                  {}
func (h *funcHandler) OnReceiveResponse(m proto.Message)             { h.onResponse(m) }
func (h *funcHandler) OnReceiveTrailers(*status.Status, metadata.MD) {}

// TestDialStarted starts a call from DialOptions.Started, before the
// connection is ready: it goes out once the connection is up.
func TestDialStarted(t *testing.T) {
	t.Parallel()
	target := testutil.StartServer(t, testserver.Options{})
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	unary := method(t, "Unary")
	early := make(chan error, 1)
	started := 0
	var state connectivity.State
	cc, err := invoke.Dial(ctx, target, invoke.DialOptions{Plaintext: true, Started: func(cc *grpc.ClientConn) {
		started++
		state = cc.GetState()
		go func() {
			rec := &recorder{}
			err := invoke.Invoke(ctx, cc, unary, nil, requests(&testpb.EchoRequest{Message: "early"}), rec)
			if err == nil && (len(rec.responses) != 1 || rec.responses[0].GetMessage() != "early") {
				err = fmt.Errorf("responses %v", rec.responses)
			}
			early <- err
		}()
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	if started != 1 {
		t.Fatalf("Started was called %d times, want once", started)
	}
	if state == connectivity.Ready {
		t.Error("Started was called once the connection was ready, not before")
	}
	if err := <-early; err != nil {
		t.Errorf("call started before the connection was ready: %v", err)
	}
}

// idleAfter supplies reqs, then waits for input that never comes, as a
// terminal or a quiet pipe does.
func idleAfter(reqs ...proto.Message) invoke.RequestSupplier {
	next := requests(reqs...)
	return func(msg proto.Message) error {
		if len(reqs) == 0 {
			select {} // standard input that stays open and quiet
		}
		reqs = reqs[1:]
		return next(msg)
	}
}

// TestCallEndsWhileInputIdle: the server ending a client stream, or the
// call's deadline, ends the call although the input has not ended.
func TestCallEndsWhileInputIdle(t *testing.T) {
	cc := conn(t)
	for _, tt := range []struct {
		name    string
		method  protoreflect.Name
		reqs    []proto.Message
		timeout time.Duration
		code    codes.Code
	}{
		{"server ends a client stream", "ClientStream", []proto.Message{&testpb.EchoRequest{Message: testserver.AbortMessage}}, 10 * time.Second, codes.Aborted},
		{"deadline, client stream", "ClientStream", []proto.Message{&testpb.EchoRequest{Number: 1}}, 300 * time.Millisecond, codes.DeadlineExceeded},
		{"deadline, unary", "Unary", []proto.Message{&testpb.EchoRequest{Number: 1}}, 300 * time.Millisecond, codes.DeadlineExceeded},
		{"deadline, server stream", "ServerStream", nil, 300 * time.Millisecond, codes.DeadlineExceeded},
	} {
		rec := &recorder{}
		ctx, cancel := context.WithTimeout(t.Context(), tt.timeout)
		done := make(chan error, 1)
		go func() { done <- invoke.Invoke(ctx, cc, method(t, tt.method), nil, idleAfter(tt.reqs...), rec) }()
		select {
		case err := <-done:
			if status.Code(err) != tt.code || rec.status.Code() != tt.code {
				t.Errorf("%s: Invoke = %v, handler saw %v; want %v", tt.name, err, rec.status, tt.code)
			}
		case <-time.After(tt.timeout + 5*time.Second):
			t.Errorf("%s: the call did not end while the input was idle", tt.name)
		}
		cancel()
	}
}

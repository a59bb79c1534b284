package testserver_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/grpcx/grpcx/testserver"
	"github.com/grpcx/grpcx/testserver/hiddenpb"
	"github.com/grpcx/grpcx/testserver/testpb"
)

func TestUnary(t *testing.T) {
	client := testClient(t)
	resp, err := client.Unary(t.Context(), &testpb.EchoRequest{Message: "hello", Number: 7})
	if err != nil {
		t.Fatal(err)
	}
	want := &testpb.EchoResponse{Message: "hello", Number: 7}
	if !proto.Equal(resp, want) {
		t.Errorf("got %v, want %v", resp, want)
	}
}

// receiveAll reads a server stream to its end, returning the final error
// (nil for a clean end).
func receiveAll(stream grpc.ServerStreamingClient[testpb.EchoResponse]) ([]*testpb.EchoResponse, error) {
	var got []*testpb.EchoResponse
	for {
		resp, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return got, nil
		}
		if err != nil {
			return got, err
		}
		got = append(got, resp)
	}
}

func TestServerStream(t *testing.T) {
	client := testClient(t)
	for _, tc := range []struct {
		name     string
		req      *testpb.StreamRequest
		wantN    int
		wantCode codes.Code
	}{
		{"plain", &testpb.StreamRequest{Count: 5, Message: "m"}, 5, codes.OK},
		{"empty", &testpb.StreamRequest{}, 0, codes.OK},
		{"fail after 2", &testpb.StreamRequest{Count: 5, FailAfter: 2}, 2, codes.Aborted},
		{"fail after all", &testpb.StreamRequest{Count: 3, FailAfter: 3}, 3, codes.Aborted},
		{"ends before failing", &testpb.StreamRequest{Count: 2, FailAfter: 3}, 2, codes.OK},
		{"negative count", &testpb.StreamRequest{Count: -1}, 0, codes.InvalidArgument},
		{"negative interval", &testpb.StreamRequest{Count: 1, Interval: durationpb.New(-time.Second)}, 0, codes.InvalidArgument},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stream, err := client.ServerStream(t.Context(), tc.req)
			if err != nil {
				t.Fatal(err)
			}
			got, err := receiveAll(stream)
			wantCode(t, err, tc.wantCode)
			if len(got) != tc.wantN {
				t.Fatalf("got %d messages, want %d", len(got), tc.wantN)
			}
			for i, resp := range got {
				want := &testpb.EchoResponse{Message: tc.req.GetMessage(), Number: int32(i), Index: int32(i)}
				if !proto.Equal(resp, want) {
					t.Errorf("message %d = %v, want %v", i, resp, want)
				}
			}
		})
	}
}

func TestServerStreamInterval(t *testing.T) {
	client := testClient(t)
	start := time.Now()
	stream, err := client.ServerStream(t.Context(), &testpb.StreamRequest{Count: 3, Interval: durationpb.New(50 * time.Millisecond)})
	if err != nil {
		t.Fatal(err)
	}
	first := time.Time{}
	got, err := receiveAllTimed(stream, &first)
	if err != nil || len(got) != 3 {
		t.Fatalf("got %d messages, %v", len(got), err)
	}
	if wait := first.Sub(start); wait > 40*time.Millisecond {
		t.Errorf("first message took %v; the interval must not come before it", wait)
	}
	if total := time.Since(start); total < 100*time.Millisecond {
		t.Errorf("3 messages took %v, want at least 2 intervals", total)
	}
}

func receiveAllTimed(stream grpc.ServerStreamingClient[testpb.EchoResponse], first *time.Time) ([]*testpb.EchoResponse, error) {
	resp, err := stream.Recv()
	*first = time.Now()
	if err != nil {
		return nil, err
	}
	rest, err := receiveAll(stream)
	return append([]*testpb.EchoResponse{resp}, rest...), err
}

func TestServerStreamCancel(t *testing.T) {
	client := testClient(t)
	ctx, cancel := context.WithCancel(t.Context())
	stream, err := client.ServerStream(ctx, &testpb.StreamRequest{Count: 1000, Interval: durationpb.New(10 * time.Millisecond)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); err != nil {
		t.Fatal(err)
	}
	cancel()
	_, err = receiveAll(stream)
	wantCode(t, err, codes.Canceled)
}

func TestServerStreamMillion(t *testing.T) {
	if testing.Short() {
		t.Skip("streams a million messages")
	}
	client := testClient(t)
	const count = 1_000_000
	stream, err := client.ServerStream(t.Context(), &testpb.StreamRequest{Count: count})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for {
		_, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("after %d messages: %v", n, err)
		}
		n++
	}
	if n != count {
		t.Errorf("got %d messages, want %d", n, count)
	}
}

func TestClientStream(t *testing.T) {
	client := testClient(t)
	stream, err := client.ClientStream(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	const sent = 1500 // more than the server repeats back
	for i := range sent {
		if err := stream.Send(&testpb.EchoRequest{Message: "m", Number: int32(i)}); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := stream.CloseAndRecv()
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetCount() != sent || resp.GetSum() != sent*(sent-1)/2 {
		t.Errorf("count, sum = %d, %d; want %d, %d", resp.GetCount(), resp.GetSum(), sent, sent*(sent-1)/2)
	}
	if n := len(resp.GetMessages()); n != 1000 {
		t.Errorf("got %d messages back, want the first 1000", n)
	}
}

func TestBidi(t *testing.T) {
	client := testClient(t)
	stream, err := client.Bidi(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	// Each answer must arrive before the next request is sent.
	for i, msg := range []string{"a", "b", "c"} {
		if err := stream.Send(&testpb.EchoRequest{Message: msg, Number: 10}); err != nil {
			t.Fatal(err)
		}
		resp, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		want := &testpb.EchoResponse{Message: msg, Number: 10, Index: int32(i)}
		if !proto.Equal(resp, want) {
			t.Errorf("got %v, want %v", resp, want)
		}
	}
	if err := stream.CloseSend(); err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); !errors.Is(err, io.EOF) {
		t.Errorf("after CloseSend: got %v, want EOF", err)
	}
}

func TestEchoTypes(t *testing.T) {
	client := testClient(t)
	attrs, _ := structpb.NewStruct(map[string]any{"k": "v", "n": 1.5})
	secret, _ := anypb.New(&hiddenpb.Secret{Code: "x"})
	req := &testpb.AllTypes{
		FDouble: 1.5, FInt64: -3, FUint64: 1 << 63, FSint32: -7, FBool: true, FString: "s", FBytes: []byte{0, 255},
		Color: testpb.Color_COLOR_BLUE, Maybe: proto.String(""), Tags: []string{"a", "b"},
		Items:  []*testpb.AllTypes_Nested{{Name: "n", Values: []int32{1, 2}, Child: &testpb.AllTypes_Nested{Name: "c"}}},
		Counts: map[string]int64{"x": 1}, ById: map[int32]*testpb.AllTypes_Nested{4: {Name: "four"}},
		Choice: &testpb.AllTypes_ChoiceNumber{ChoiceNumber: 9}, When: timestamppb.Now(),
		HowLong: durationpb.New(time.Minute), Attributes: attrs, Any: secret,
	}
	resp, err := client.EchoTypes(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(resp, req) {
		t.Errorf("got %v, want %v", resp, req)
	}
}

func TestFail(t *testing.T) {
	client := testClient(t)
	for _, tc := range []struct {
		code int32
		want codes.Code
	}{
		{5, codes.NotFound}, {16, codes.Unauthenticated}, {1, codes.Canceled},
		{0, codes.InvalidArgument}, {17, codes.InvalidArgument}, {-1, codes.InvalidArgument},
	} {
		_, err := client.Fail(t.Context(), &testpb.FailRequest{Code: tc.code, Message: "boom"})
		wantCode(t, err, tc.want)
	}
}

func TestFailDetails(t *testing.T) {
	client := testClient(t)
	_, err := client.Fail(t.Context(), &testpb.FailRequest{Code: int32(codes.NotFound), Message: "gone", Details: true})
	st := status.Convert(err)
	if st.Code() != codes.NotFound || st.Message() != "gone" {
		t.Fatalf("got %v", err)
	}
	want := []proto.Message{
		&errdetails.ErrorInfo{Reason: "TEST_FAILURE", Domain: "grpcx.test", Metadata: map[string]string{"code": "NOT_FOUND"}},
		&errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: "code", Description: "asked to fail"}}},
		&errdetails.RetryInfo{RetryDelay: durationpb.New(1500 * time.Millisecond)},
		&hiddenpb.Secret{Code: "s3cret", Level: 7},
	}
	got := st.Details()
	if len(got) != len(want) {
		t.Fatalf("got %d details %v, want %d", len(got), got, len(want))
	}
	for i := range want {
		if m, ok := got[i].(proto.Message); !ok || !proto.Equal(m, want[i]) {
			t.Errorf("detail %d = %v, want %v", i, got[i], want[i])
		}
	}
}

func TestEchoMetadata(t *testing.T) {
	client := testClient(t)
	ctx := metadata.AppendToOutgoingContext(t.Context(),
		"x-plain", "one", "x-plain", "two", "x-text-bin", "hello", "x-raw-bin", "\xff\x00")
	var header, trailer metadata.MD
	resp, err := client.EchoMetadata(ctx, &testpb.MetadataRequest{
		ResponseHeaders:  map[string]string{"x-h": "hv", "x-h-bin": "\x01\x02"},
		ResponseTrailers: map[string]string{"x-t": "tv"},
	}, grpc.Header(&header), grpc.Trailer(&trailer))
	if err != nil {
		t.Fatal(err)
	}
	received := map[string][]string{}
	for k, v := range resp.GetReceived() {
		received[k] = v.GetValues()
	}
	checkValues(t, "received", received, map[string][]string{
		"x-plain": {"one", "two"}, "x-text-bin": {"hello"}, "x-raw-bin": {"/wA="}, // not UTF-8, so base64
		"content-type": {"application/grpc"},
	})
	checkValues(t, "header", header, map[string][]string{"x-test-header": {"present"}, "x-h": {"hv"}, "x-h-bin": {"\x01\x02"}})
	checkValues(t, "trailer", trailer, map[string][]string{"x-test-trailer": {"present"}, "x-t": {"tv"}})
}

func checkValues(t *testing.T, what string, got, want map[string][]string) {
	t.Helper()
	for k, w := range want {
		if g := got[k]; !equalStrings(g, w) {
			t.Errorf("%s[%q] = %q, want %q", what, k, g, w)
		}
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestEchoMetadataRejectsBadKeys(t *testing.T) {
	client := testClient(t)
	for _, md := range []map[string]string{{"grpc-status": "0"}, {"bad key": "v"}, {"x-ok": "not\nprintable"}, {"connection": "close"}, {"te": "x"}, {"content-type": "text/plain"}} {
		_, err := client.EchoMetadata(t.Context(), &testpb.MetadataRequest{ResponseTrailers: md})
		wantCode(t, err, codes.InvalidArgument)
	}
}

func TestSlow(t *testing.T) {
	conn, svc := startServer(t, testserver.Options{})
	client := testpb.NewTestServiceClient(conn)

	resp, err := client.Slow(t.Context(), &testpb.SlowRequest{Duration: durationpb.New(10 * time.Millisecond)})
	if err != nil || resp.GetOutcome() != "completed" || resp.GetSlept().AsDuration() < 10*time.Millisecond {
		t.Fatalf("got %v, %v", resp, err)
	}
	waitOutcome(t, svc, "completed")

	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	_, err = client.Slow(ctx, &testpb.SlowRequest{Duration: durationpb.New(time.Minute)})
	wantCode(t, err, codes.DeadlineExceeded)
	waitOutcome(t, svc, "deadline_exceeded")

	ctx, cancel = context.WithCancel(t.Context())
	time.AfterFunc(50*time.Millisecond, cancel)
	_, err = client.Slow(ctx, &testpb.SlowRequest{})
	wantCode(t, err, codes.Canceled)
	waitOutcome(t, svc, "canceled")
}

// waitOutcome polls, because the server notices a deadline or cancellation
// slightly after the client does.
func waitOutcome(t *testing.T, svc *testserver.Service, want string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for svc.LastSlowOutcome() != want {
		if time.Now().After(deadline) {
			t.Fatalf("LastSlowOutcome = %q, want %q", svc.LastSlowOutcome(), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestPayload(t *testing.T) {
	client := testClient(t)
	resp, err := client.Payload(t.Context(), &testpb.PayloadRequest{Size: 1000})
	if err != nil {
		t.Fatal(err)
	}
	data := resp.GetData()
	if len(data) != 1000 || bytes.Count(data, []byte{0}) == len(data) {
		t.Errorf("got %d bytes starting %x, want 1000 patterned bytes", len(data), data[:min(8, len(data))])
	}
	for _, size := range []int32{-1, 64<<20 + 1} {
		_, err := client.Payload(t.Context(), &testpb.PayloadRequest{Size: size})
		wantCode(t, err, codes.InvalidArgument)
	}
}

func TestHidden(t *testing.T) {
	client := testClient(t)
	resp, err := client.Hidden(t.Context(), &emptypb.Empty{})
	if err != nil {
		t.Fatal(err)
	}
	var secret hiddenpb.Secret
	if err := resp.GetDetail().UnmarshalTo(&secret); err != nil {
		t.Fatal(err)
	}
	if secret.GetCode() != "hidden-value" || secret.GetLevel() != 42 {
		t.Errorf("got %v", &secret)
	}
}

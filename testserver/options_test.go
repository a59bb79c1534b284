package testserver_test

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding/gzip"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/grpcx/grpcx/testserver"
	"github.com/grpcx/grpcx/testserver/testpb"
)

func withToken(ctx context.Context, authorization string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", authorization)
}

func TestAuth(t *testing.T) {
	for _, tc := range []struct {
		name, serverToken, clientToken string
	}{
		{"default token", "", testserver.DefaultAuthToken},
		{"own token", "s3cr3t-token", "s3cr3t-token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn, _ := startServer(t, testserver.Options{AuthToken: tc.serverToken})
			auth := testpb.NewAuthServiceClient(conn)
			for _, bad := range []string{"", "Bearer wrong", "Basic " + tc.clientToken, tc.clientToken, "Bearer " + tc.clientToken + "x"} {
				ctx := t.Context()
				if bad != "" {
					ctx = withToken(ctx, bad)
				}
				_, err := auth.WhoAmI(ctx, &emptypb.Empty{})
				wantCode(t, err, codes.Unauthenticated)
				if msg := status.Convert(err).Message(); msg != "missing or invalid bearer token" {
					t.Errorf("authorization %q: message %q", bad, msg)
				}
			}
			for _, good := range []string{"Bearer " + tc.clientToken, "bearer " + tc.clientToken} {
				resp, err := auth.WhoAmI(withToken(t.Context(), good), &emptypb.Empty{})
				if err != nil {
					t.Fatalf("authorization %q: %v", good, err)
				}
				if want := "bearer:" + tc.clientToken[:4] + "…"; resp.GetSubject() != want {
					t.Errorf("subject = %q, want %q", resp.GetSubject(), want)
				}
			}
			// TestService needs no token, with or without a wrong one.
			client := testpb.NewTestServiceClient(conn)
			for _, ctx := range []context.Context{t.Context(), withToken(t.Context(), "Bearer wrong")} {
				if _, err := client.Unary(ctx, &testpb.EchoRequest{}); err != nil {
					t.Errorf("TestService.Unary: %v", err)
				}
			}
		})
	}
}

// TestAuthFailsClosed checks that AuthService refuses calls when the server
// was built without ServerOptions, and so without the guard.
func TestAuthFailsClosed(t *testing.T) {
	lis, err := testserver.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer()
	testserver.Register(s, testserver.NewService(), testserver.Options{})
	go func() { _ = s.Serve(lis) }()
	t.Cleanup(s.Stop)
	auth := testpb.NewAuthServiceClient(dial(t, lis.Addr().String()))
	_, err = auth.WhoAmI(withToken(t.Context(), "Bearer "+testserver.DefaultAuthToken), &emptypb.Empty{})
	wantCode(t, err, codes.Internal)
}

func TestRequestCompression(t *testing.T) {
	conn, _ := startServer(t, testserver.Options{})
	client := testpb.NewTestServiceClient(conn)
	for _, tc := range []struct {
		opts []grpc.CallOption
		want []string
	}{
		{nil, []string{"", "identity"}},
		{[]grpc.CallOption{grpc.UseCompressor(gzip.Name)}, []string{"gzip"}},
	} {
		resp, err := client.EchoMetadata(t.Context(), &testpb.MetadataRequest{}, tc.opts...)
		if err != nil {
			t.Fatal(err)
		}
		if got := resp.GetRequestCompression(); !contains(tc.want, got) {
			t.Errorf("request_compression = %q, want one of %q", got, tc.want)
		}
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func TestMaxRecvMsgSize(t *testing.T) {
	conn, _ := startServer(t, testserver.Options{MaxRecvMsgSize: 1024})
	client := testpb.NewTestServiceClient(conn)
	if _, err := client.Unary(t.Context(), &testpb.EchoRequest{Message: strings.Repeat("x", 900)}); err != nil {
		t.Fatalf("request under the limit: %v", err)
	}
	_, err := client.Unary(t.Context(), &testpb.EchoRequest{Message: strings.Repeat("x", 2048)})
	wantCode(t, err, codes.ResourceExhausted)
	// The limit is on requests only: a large response still arrives.
	if _, err := client.Payload(t.Context(), &testpb.PayloadRequest{Size: 1 << 20}); err != nil {
		t.Errorf("large response: %v", err)
	}
}

func TestPIDHeader(t *testing.T) {
	conn, _ := startServer(t, testserver.Options{})
	client := testpb.NewTestServiceClient(conn)
	want := strconv.Itoa(os.Getpid())
	check := func(what string, md metadata.MD) {
		t.Helper()
		if got := md.Get(testserver.PIDHeader); len(got) != 1 || got[0] != want {
			t.Errorf("%s: %s = %q, want %q", what, testserver.PIDHeader, got, want)
		}
	}

	var header metadata.MD
	resp, err := client.Pid(t.Context(), &emptypb.Empty{}, grpc.Header(&header))
	if err != nil {
		t.Fatal(err)
	}
	if strconv.Itoa(int(resp.GetPid())) != want {
		t.Errorf("Pid = %d, want %s", resp.GetPid(), want)
	}
	check("Pid", header)

	header = nil
	_, err = client.Fail(t.Context(), &testpb.FailRequest{Code: int32(codes.NotFound)}, grpc.Header(&header))
	wantCode(t, err, codes.NotFound)
	check("failed call", header)

	header = nil
	_, err = testpb.NewAuthServiceClient(conn).WhoAmI(t.Context(), &emptypb.Empty{}, grpc.Header(&header))
	wantCode(t, err, codes.Unauthenticated)
	check("unauthenticated call", header)

	stream, err := client.ServerStream(t.Context(), &testpb.StreamRequest{Count: 2})
	if err != nil {
		t.Fatal(err)
	}
	header, err = stream.Header()
	if err != nil {
		t.Fatal(err)
	}
	check("ServerStream", header)
}

// waitObserved polls Observed, because the server notices a deadline or
// cancellation slightly after the client does.
func waitObserved(t *testing.T, client testpb.TestServiceClient, get func(*testpb.ObservedResponse) string, want string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, err := client.Observed(t.Context(), &emptypb.Empty{})
		if err != nil {
			t.Fatal(err)
		}
		got := get(resp)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("observed %q, want %q", got, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func lastStream(r *testpb.ObservedResponse) string { return r.GetLastStreamOutcome() }
func lastSlow(r *testpb.ObservedResponse) string   { return r.GetLastSlowOutcome() }

func TestObservedStream(t *testing.T) {
	conn, svc := startServer(t, testserver.Options{})
	client := testpb.NewTestServiceClient(conn)

	resp, err := client.Observed(t.Context(), &emptypb.Empty{})
	if err != nil || resp.GetLastStreamOutcome() != "" || resp.GetLastSlowOutcome() != "" {
		t.Fatalf("before any call: %v, %v", resp, err)
	}

	stream, err := client.ServerStream(t.Context(), &testpb.StreamRequest{Count: 3})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := receiveAll(stream); err != nil {
		t.Fatal(err)
	}
	waitObserved(t, client, lastStream, "completed")

	stream, err = client.ServerStream(t.Context(), &testpb.StreamRequest{Count: 5, FailAfter: 2})
	if err != nil {
		t.Fatal(err)
	}
	_, err = receiveAll(stream)
	wantCode(t, err, codes.Aborted)
	waitObserved(t, client, lastStream, "aborted")

	ctx, cancel := context.WithCancel(t.Context())
	stream, err = client.ServerStream(ctx, &testpb.StreamRequest{Count: 1000, Interval: durationpb.New(10 * time.Millisecond)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); err != nil {
		t.Fatal(err)
	}
	cancel()
	waitObserved(t, client, lastStream, "canceled")

	ctx, cancel = context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	stream, err = client.ServerStream(ctx, &testpb.StreamRequest{Count: 1000, Interval: durationpb.New(10 * time.Millisecond)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = receiveAll(stream)
	wantCode(t, err, codes.DeadlineExceeded)
	waitObserved(t, client, lastStream, "deadline_exceeded")

	if got := svc.LastStreamOutcome(); got != "deadline_exceeded" {
		t.Errorf("LastStreamOutcome = %q", got)
	}
}

func TestObservedSlow(t *testing.T) {
	client := testClient(t)
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	_, err := client.Slow(ctx, &testpb.SlowRequest{Duration: durationpb.New(time.Minute)})
	wantCode(t, err, codes.DeadlineExceeded)
	waitObserved(t, client, lastSlow, "deadline_exceeded")
}

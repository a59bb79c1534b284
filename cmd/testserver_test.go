package cmd

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/grpcx/grpcx/testserver"
	"github.com/grpcx/grpcx/testserver/testpb"
)

// TestListenAddrIsATarget: the address testserver prints is one grpcx can
// call, for a Unix socket at a relative path too (unix://rel.sock would
// name a host, not a file).
func TestListenAddrIsATarget(t *testing.T) {
	t.Chdir(t.TempDir())
	for _, listen := range []string{"unix:rel.sock", "127.0.0.1:0"} {
		lis, err := testserver.Listen(listen)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		served := make(chan error, 1)
		go func() { served <- testserver.Serve(ctx, lis, testserver.Options{}) }()
		target := listenAddr(lis)
		cc, err := grpc.NewClient(target, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		callCtx, stop := context.WithTimeout(t.Context(), 5*time.Second)
		_, err = testpb.NewTestServiceClient(cc).Unary(callCtx, &testpb.EchoRequest{}, grpc.WaitForReady(true))
		stop()
		cc.Close()
		cancel()
		<-served
		if err != nil {
			t.Errorf("--listen %s printed %s, which does not reach the server: %v", listen, target, err)
		}
	}
}

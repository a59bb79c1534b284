package testserver

import (
	"context"
	"os"
	"strconv"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
)

// PIDHeader is the response header that carries the server's process ID on
// every call, failed ones included, so a client talking to several server
// processes can tell which one answered.
const PIDHeader = "x-server-pid"

var pidHeader = metadata.Pairs(PIDHeader, strconv.Itoa(os.Getpid()))

// The header is set before the handler runs; grpc-go then sends it in its own
// frame even when the call fails, instead of a trailers-only response.

func pidUnary(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if err := grpc.SetHeader(ctx, pidHeader); err != nil {
		return nil, err
	}
	return handler(ctx, req)
}

func pidStream(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	if err := ss.SetHeader(pidHeader); err != nil {
		return err
	}
	return handler(srv, ss)
}

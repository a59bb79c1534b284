package testserver

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"
	"unicode/utf8"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/grpcx/grpcx/testserver/testpb"
)

// EchoMetadata implements TestService.EchoMetadata. Besides the headers and
// trailers asked for, it always sends "x-test-header: present" and
// "x-test-trailer: present", so clients can be tested without a request body.
// It also reports the request's grpc-encoding, which grpc-go keeps out of the
// incoming metadata; that needs the stats handler in [ServerOptions].
func (s *Service) EchoMetadata(ctx context.Context, req *testpb.MetadataRequest) (*testpb.MetadataResponse, error) {
	header := metadata.Pairs("x-test-header", "present")
	trailer := metadata.Pairs("x-test-trailer", "present")
	if err := appendResponseMetadata(header, req.GetResponseHeaders()); err != nil {
		return nil, err
	}
	if err := appendResponseMetadata(trailer, req.GetResponseTrailers()); err != nil {
		return nil, err
	}
	if err := grpc.SetHeader(ctx, header); err != nil {
		return nil, err
	}
	if err := grpc.SetTrailer(ctx, trailer); err != nil {
		return nil, err
	}
	md, _ := metadata.FromIncomingContext(ctx)
	return &testpb.MetadataResponse{
		Received:           receivedMetadata(md),
		RequestCompression: requestCompression(ctx),
	}, nil
}

// receivedMetadata copies every request metadata entry, pseudo-headers and
// grpc-internal keys included, since clients may want to check those too.
// grpc-go has already base64-decoded -bin values; they are returned raw when
// they are valid UTF-8 and base64-encoded again otherwise, because a proto3
// string that is not UTF-8 cannot be marshalled.
func receivedMetadata(md metadata.MD) map[string]*testpb.MetadataResponse_Values {
	received := make(map[string]*testpb.MetadataResponse_Values, len(md))
	for key, vals := range md {
		out := make([]string, len(vals))
		for i, v := range vals {
			if strings.HasSuffix(key, "-bin") && !utf8.ValidString(v) {
				v = base64.StdEncoding.EncodeToString([]byte(v))
			}
			out[i] = v
		}
		received[key] = &testpb.MetadataResponse_Values{Values: out}
	}
	return received
}

// appendResponseMetadata adds the requested entries to md after checking
// them, because grpc-go does not validate a unary call's response metadata
// and a bad key would otherwise break the HTTP/2 response instead of failing
// the call with a readable error.
func appendResponseMetadata(md metadata.MD, entries map[string]string) error {
	for key, val := range entries {
		key = strings.ToLower(key)
		if err := checkResponseMetadata(key, val); err != nil {
			return status.Error(codes.InvalidArgument, err.Error())
		}
		md.Append(key, val)
	}
	return nil
}

// reservedHeaders cannot be response metadata: HTTP/2 forbids the
// connection-specific ones (RFC 9113, 8.2.2), which break the stream, and
// grpc-go drops those it sets itself, which would vanish from a call that
// succeeds.
var reservedHeaders = map[string]bool{
	"connection": true, "keep-alive": true, "proxy-connection": true, "transfer-encoding": true, "upgrade": true,
	"te": true, "content-type": true, "user-agent": true,
}

func checkResponseMetadata(key, val string) error {
	if key == "" {
		return fmt.Errorf("empty metadata key")
	}
	if strings.HasPrefix(key, "grpc-") {
		return fmt.Errorf("metadata key %q: the grpc- prefix is reserved", key)
	}
	if reservedHeaders[key] {
		return fmt.Errorf("metadata key %q: HTTP/2 forbids it or gRPC sets it itself", key)
	}
	for _, r := range key {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return fmt.Errorf("metadata key %q: only 0-9 a-z - _ . are allowed", key)
		}
	}
	if strings.HasSuffix(key, "-bin") {
		return nil
	}
	for i := 0; i < len(val); i++ {
		if val[i] < 0x20 || val[i] > 0x7e {
			return fmt.Errorf("metadata %q: value must be printable ASCII (use a -bin key for binary)", key)
		}
	}
	return nil
}

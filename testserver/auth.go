package testserver

import (
	"context"
	"crypto/subtle"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/grpcx/grpcx/testserver/testpb"
)

// DefaultAuthToken is the bearer token AuthService accepts when
// [Options.AuthToken] is empty.
const DefaultAuthToken = "grpcx-test-token"

// authService implements grpcx.test.v1.AuthService. It trusts the subject
// that bearerAuth put into the context and fails closed without one, so a
// server built without [ServerOptions] cannot serve it unguarded.
type authService struct {
	testpb.UnimplementedAuthServiceServer
}

var _ testpb.AuthServiceServer = authService{}

// WhoAmI implements AuthService.WhoAmI.
func (authService) WhoAmI(ctx context.Context, _ *emptypb.Empty) (*testpb.WhoAmIResponse, error) {
	subject, ok := ctx.Value(subjectKey{}).(string)
	if !ok {
		return nil, status.Error(codes.Internal, "AuthService is not guarded: build the server with testserver.ServerOptions")
	}
	return &testpb.WhoAmIResponse{Subject: subject}, nil
}

type subjectKey struct{}

// bearerAuth guards the methods of AuthService, and only those: health,
// reflection and TestService must stay usable without a token.
type bearerAuth struct {
	token string
}

var authPrefix = "/" + testpb.AuthService_ServiceDesc.ServiceName + "/"

var errBadToken = status.Error(codes.Unauthenticated, "missing or invalid bearer token")

func (a bearerAuth) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if !strings.HasPrefix(info.FullMethod, authPrefix) {
		return handler(ctx, req)
	}
	ctx, err := a.authenticate(ctx)
	if err != nil {
		return nil, err
	}
	return handler(ctx, req)
}

func (a bearerAuth) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	if !strings.HasPrefix(info.FullMethod, authPrefix) {
		return handler(srv, ss)
	}
	ctx, err := a.authenticate(ss.Context())
	if err != nil {
		return err
	}
	return handler(srv, &contextStream{ServerStream: ss, ctx: ctx})
}

// authenticate returns ctx carrying the caller's subject when one of its
// authorization entries is "Bearer <token>" (the scheme is case-insensitive,
// as in RFC 7235).
func (a bearerAuth) authenticate(ctx context.Context) (context.Context, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	for _, v := range md.Get("authorization") {
		scheme, token, ok := strings.Cut(v, " ")
		if !ok || !strings.EqualFold(scheme, "bearer") {
			continue
		}
		if subtle.ConstantTimeCompare([]byte(token), []byte(a.token)) == 1 {
			return context.WithValue(ctx, subjectKey{}, bearerSubject(token)), nil
		}
	}
	return nil, errBadToken
}

// bearerSubject names a caller by a prefix of its token, so WhoAmI is
// deterministic without echoing a whole credential.
func bearerSubject(token string) string {
	runes := []rune(token)
	if len(runes) <= 4 {
		return "bearer:" + token
	}
	return "bearer:" + string(runes[:4]) + "…"
}

// contextStream is a server stream with a replaced context, the way a
// stream interceptor hands values to the handler.
type contextStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *contextStream) Context() context.Context { return s.ctx }

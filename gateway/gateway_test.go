package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/grpcx/grpcx/gateway"
	"github.com/grpcx/grpcx/invoke"
	"github.com/grpcx/grpcx/testserver"
	"github.com/grpcx/grpcx/testserver/testpb"
	"google.golang.org/protobuf/proto"
)

// startBackend serves a plain gRPC test server on loopback until the test
// ends and returns its address.
func startBackend(t testing.TB) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := testserver.NewServer(testserver.Options{})
	go s.Serve(lis)
	t.Cleanup(s.Stop)
	return lis.Addr().String()
}

// registrySchema discovers the test services from Go's registry, as
// descriptor files would give them.
func registrySchema(names ...protoreflect.FullName) gateway.Discoverer {
	return func(context.Context) (*gateway.Schema, error) {
		s := &gateway.Schema{Types: protoregistry.GlobalTypes}
		for _, n := range names {
			d, err := protoregistry.GlobalFiles.FindDescriptorByName(n)
			if err != nil {
				return nil, err
			}
			s.Services = append(s.Services, d.(protoreflect.ServiceDescriptor))
		}
		return s, nil
	}
}

var testServices = []protoreflect.FullName{"grpcx.test.v1.TestService", "grpcx.test.v1.AuthService", "grpc.reflection.v1.ServerReflection"}

// startGateway serves a gateway in front of backend until the test ends and
// returns its base URL and the gateway. opts may leave Backend, Transport
// and Discover unset.
func startGateway(t testing.TB, backend string, opts gateway.Options) (string, *gateway.Gateway) {
	t.Helper()
	tr, base, err := invoke.HTTP2Transport(backend, invoke.DialOptions{Plaintext: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tr.CloseIdleConnections)
	opts.Backend, opts.Transport = base, tr
	if opts.Discover == nil {
		opts.Discover = registrySchema(testServices...)
	}
	g, err := gateway.New(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := g.Server(nil)
	go srv.Serve(lis)
	t.Cleanup(func() { srv.Close() })
	return "http://" + lis.Addr().String(), g
}

type response struct {
	status int
	header http.Header
	body   string
}

func do(t testing.TB, method, url, body string, header ...string) response {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Add(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{resp.StatusCode, resp.Header, string(b)}
}

// jsonField decodes body and returns the value at the dotted path.
func jsonField(t testing.TB, body, path string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatalf("%v in %s", err, body)
	}
	for _, k := range strings.Split(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

func TestREST(t *testing.T) {
	url, _ := startGateway(t, startBackend(t), gateway.Options{})
	tests := []struct {
		name, method, path, body string
		status                   int
		field                    string
		want                     any
	}{
		{"path variable and query", "GET", "/v1/echo/hello?number=3", "", 200, "number", 3.0},
		{"path variable", "GET", "/v1/echo/hello", "", 200, "message", "hello"},
		// A single-segment variable is unescaped once, a slash included.
		{"path variable with an escaped slash", "GET", "/v1/echo/a%2Fb", "", 200, "message", "a/b"},
		{"path variable with an escaped percent sign", "GET", "/v1/echo/100%25", "", 200, "message", "100%"},
		{"path variable of UTF-8", "GET", "/v1/echo/caf%C3%A9", "", 200, "message", "café"},
		{"path with a slash too many", "GET", "/v1/echo/a/b", "", 404, "code", 5.0},
		{"body *", "POST", "/v1/echo", `{"message": "posted", "number": 4}`, 200, "message", "posted"},
		{"body field and path", "PUT", "/v1/types/7", `{"name": "n", "values": [1, 2]}`, 200, "nested.name", "n"},
		{"body field and path, the path part", "PUT", "/v1/types/7", `{"name": "n"}`, 200, "fInt32", 7.0},
		{"query of a well-known type", "GET", "/v1/slow?duration=0.01s", "", 200, "outcome", "completed"},
		{"default POST route", "POST", "/grpcx.test.v1.TestService/Unary", `{"message": "default"}`, 200, "message", "default"},
		{"default POST route, unannotated method", "POST", "/grpcx.test.v1.TestService/Hidden", `{}`, 200, "detail.@type", "type.googleapis.com/grpcx.test.hidden.v1.Secret"},
		{"NotFound is 404 with details", "GET", "/v1/fail/5?message=gone&details=true", "", 404, "message", "gone"},
		{"InvalidArgument is 400", "GET", "/v1/fail/3", "", 400, "code", 3.0},
		{"Unauthenticated is 401", "GET", "/v1/whoami", "", 401, "code", 16.0},
		{"Unavailable is 503", "GET", "/v1/fail/14", "", 503, "code", 14.0},
		{"unknown route", "GET", "/v1/nothing", "", 404, "code", 5.0},
		// vanguard reports a body it cannot parse as UNKNOWN; it is the
		// client's mistake (see TestClientMistakesAreClientErrors).
		{"bad JSON", "POST", "/v1/echo", `{"message": `, 400, "code", 3.0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := do(t, tt.method, url+tt.path, tt.body)
			if resp.status != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.status, tt.status, resp.body)
			}
			if got := jsonField(t, resp.body, tt.field); got != tt.want {
				t.Errorf("%s = %#v, want %#v in %s", tt.field, got, tt.want, resp.body)
			}
		})
	}
	t.Run("error details", func(t *testing.T) {
		resp := do(t, "GET", url+"/v1/fail/5?details=true", "")
		details, _ := jsonField(t, resp.body, "details").([]any)
		if len(details) != 4 {
			t.Fatalf("details %s", resp.body)
		}
		if typ := details[0].(map[string]any)["@type"]; typ != "type.googleapis.com/google.rpc.ErrorInfo" {
			t.Errorf("first detail %v", details[0])
		}
		if resp.header.Get("Content-Type") != "application/json" {
			t.Errorf("content type %q", resp.header.Get("Content-Type"))
		}
	})
}

// TestRESTQueryCannotOverrideRoute: a query parameter may set only fields
// the route leaves to the query. The transcoder let it override the path
// and the body (GET /v1/echo/hello?message=evil called with "evil"), which
// defeats anything in front of the gateway that allows or denies by path.
func TestRESTQueryCannotOverrideRoute(t *testing.T) {
	url, _ := startGateway(t, startBackend(t), gateway.Options{})
	for _, tt := range []struct{ method, path, body, want string }{
		{"GET", "/v1/echo/hello?message=evil", "", `query parameter \"message\" would override {message}, which GET /v1/echo/{message} takes from the path`},
		{"GET", "/v1/echo/a%2Fb?message=evil", "", `would override {message}`},
		{"POST", "/v1/echo?message=evil", `{"message": "body"}`, `POST /v1/echo takes the whole request from the body`},
		{"PUT", "/v1/types/7?f_int32=8", `{"name": "n"}`, `would override {f_int32}`},
		{"PUT", "/v1/types/7?fInt32=8", `{"name": "n"}`, `query parameter \"fInt32\" would override {f_int32}`},
		{"PUT", "/v1/types/7?nested.name=x", `{"name": "n"}`, `would override nested, which PUT /v1/types/{f_int32} takes from the body`},
		{"POST", "/grpcx.test.v1.TestService/Unary?message=evil", `{"message": "default"}`, `takes the whole request from the body`},
	} {
		resp := do(t, tt.method, url+tt.path, tt.body)
		if resp.status != http.StatusBadRequest || !strings.Contains(resp.body, tt.want) {
			t.Errorf("%s %s: %d %s; want 400 saying %s", tt.method, tt.path, resp.status, resp.body, tt.want)
		}
	}
	// Two Connect-Protocol-Version headers: the transcoder serves it as
	// REST, and so it is checked as REST.
	if resp := do(t, "GET", url+"/v1/echo/hello?message=evil", "", "Connect-Protocol-Version", "1", "Connect-Protocol-Version", "1"); resp.status != http.StatusBadRequest {
		t.Errorf("with two Connect-Protocol-Version headers: %d %s; want 400", resp.status, resp.body)
	}
	// What the route leaves to the query still works, in either spelling.
	for _, tt := range []struct{ method, path, body, field string }{
		{"GET", "/v1/echo/hello?number=3", "", "number"},
		{"PUT", "/v1/types/7?fDouble=3", `{"name": "n"}`, "fDouble"},
		{"PUT", "/v1/types/7?f_double=3", `{"name": "n"}`, "fDouble"},
	} {
		resp := do(t, tt.method, url+tt.path, tt.body)
		if resp.status != http.StatusOK || jsonField(t, resp.body, tt.field) != 3.0 {
			t.Errorf("%s %s: %d %s; want %s 3", tt.method, tt.path, resp.status, resp.body, tt.field)
		}
	}
}

func TestHeaders(t *testing.T) {
	url, _ := startGateway(t, startBackend(t), gateway.Options{Header: http.Header{"X-Gateway": {"added"}}})
	resp := do(t, "POST", url+"/v1/metadata", `{"responseHeaders": {"x-back": "b1"}}`, "X-Client", "c1", "Authorization", "Bearer t")
	if resp.status != 200 {
		t.Fatalf("%d %s", resp.status, resp.body)
	}
	for name, want := range map[string]string{"x-client": "c1", "x-gateway": "added", "authorization": "Bearer t"} {
		vals, _ := jsonField(t, resp.body, "received."+name+".values").([]any)
		if len(vals) != 1 || vals[0] != want {
			t.Errorf("backend got %s = %v, want %q", name, vals, want)
		}
	}
	if got := resp.header.Get("X-Back"); got != "b1" {
		t.Errorf("response header x-back %q", got)
	}
	if resp.header.Get(testserver.PIDHeader) == "" {
		t.Errorf("no %s in %v", testserver.PIDHeader, resp.header)
	}
	ok := do(t, "GET", url+"/v1/whoami", "", "Authorization", "Bearer "+testserver.DefaultAuthToken)
	if ok.status != 200 || !strings.Contains(ok.body, "bearer:") {
		t.Errorf("whoami with a token: %d %s", ok.status, ok.body)
	}
}

// TestRESTTrailers: REST has no trailers, so a call's trailers reach a
// REST client as Grpc-Trailer- headers (grpc-gateway's names), readable by
// a page of an allowed origin, and without the status, which the HTTP
// status and body carry. Connect keeps its own Trailer- headers.
func TestRESTTrailers(t *testing.T) {
	url, _ := startGateway(t, startBackend(t), gateway.Options{CORSOrigins: []string{"https://app.example"}})
	body := `{"responseTrailers": {"x-t": "tv"}}`
	resp := do(t, "POST", url+"/v1/metadata", body, "Origin", "https://app.example")
	if resp.status != 200 || resp.header.Get("Grpc-Trailer-X-T") != "tv" {
		t.Fatalf("REST: %d, header %v", resp.status, resp.header)
	}
	for k := range resp.header {
		if strings.HasPrefix(k, "Grpc-Trailer-Grpc-") {
			t.Errorf("REST: the status went out as a trailer header too: %s", k)
		}
	}
	if exposed := resp.header.Get("Access-Control-Expose-Headers"); !strings.Contains(exposed, "Grpc-Trailer-X-T") {
		t.Errorf("REST: Access-Control-Expose-Headers %q lacks the trailer", exposed)
	}
	connect := do(t, "POST", url+"/grpcx.test.v1.TestService/EchoMetadata", body, "Connect-Protocol-Version", "1")
	if connect.status != 200 || connect.header.Get("Trailer-X-T") != "tv" || connect.header.Get("Grpc-Trailer-X-T") != "" {
		t.Errorf("Connect: %d, header %v", connect.status, connect.header)
	}
}

// trailersOnlyFailer fails Fail with a trailer and no headers: grpc-go
// then answers trailers-only, its metadata in the one block of headers.
type trailersOnlyFailer struct {
	testpb.UnimplementedTestServiceServer
}

func (trailersOnlyFailer) Fail(ctx context.Context, req *testpb.FailRequest) (*emptypb.Empty, error) {
	grpc.SetTrailer(ctx, metadata.Pairs("x-t", "tv"))
	return nil, status.Error(codes.Code(req.GetCode()), "failed")
}

// TestRESTTrailersOfOtherAnswers: the trailers of a trailers-only answer
// (grpc-go's for a call that fails before any response), and trailers a
// backend announces in a Trailer header (beside a header of the same
// name), reach a REST client as Grpc-Trailer- headers too, and only so.
func TestRESTTrailersOfOtherAnswers(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer()
	testpb.RegisterTestServiceServer(s, trailersOnlyFailer{})
	go s.Serve(lis)
	t.Cleanup(s.Stop)
	url, _ := startGateway(t, lis.Addr().String(), gateway.Options{})
	resp := do(t, "GET", url+"/v1/fail/5", "")
	if resp.status != 404 || resp.header.Get("Grpc-Trailer-X-T") != "tv" || resp.header.Get("X-T") != "" {
		t.Errorf("trailers-only: HTTP %d, header %v; want 404 with Grpc-Trailer-X-T only", resp.status, resp.header)
	}

	// A backend announcing its trailers, as an HTTP server may.
	announcing, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "application/grpc")
		h.Set("Trailer", "Grpc-Status, Grpc-Message, X-T")
		h.Set("X-T", "a header of the same name")
		w.WriteHeader(http.StatusOK)
		w.Write([]byte{0, 0, 0, 0, 0}) // one empty message
		h.Set("Grpc-Status", "0")
		h.Set("Grpc-Message", "")
		h.Set("X-T", "tv")
	}), Protocols: new(http.Protocols)}
	srv.Protocols.SetUnencryptedHTTP2(true)
	go srv.Serve(announcing)
	t.Cleanup(func() { srv.Close() })
	url, _ = startGateway(t, announcing.Addr().String(), gateway.Options{})
	resp = do(t, "POST", url+"/v1/metadata", `{}`)
	if got := resp.header.Values("Grpc-Trailer-X-T"); resp.status != 200 || len(got) != 1 || got[0] != "tv" {
		t.Errorf("announced trailers: HTTP %d, header %v; want Grpc-Trailer-X-T: tv, without the header's value", resp.status, resp.header)
	}
}

// TestUpgradeRequestIsAnsweredPlainly: a request asking to upgrade the
// connection (curl --http2 on an http:// URL asks for h2c; a browser may
// ask for a websocket) is answered as a plain request: the gateway's calls
// to the backend are HTTP/2, where Upgrade is forbidden, and passing it on
// failed every such request with 503 as if the backend were down.
func TestUpgradeRequestIsAnsweredPlainly(t *testing.T) {
	url, _ := startGateway(t, startBackend(t), gateway.Options{})
	for _, up := range []string{"h2c", "websocket"} {
		resp := do(t, "GET", url+"/v1/echo/up", "", "Connection", "Upgrade, HTTP2-Settings", "Upgrade", up, "HTTP2-Settings", "AAMAAABkAAQAoAAAAAIAAAAA")
		if resp.status != 200 || jsonField(t, resp.body, "message") != "up" {
			t.Errorf("Upgrade: %s: %d %s", up, resp.status, resp.body)
		}
	}
}

// TestEmptyBodyIsAnEmptyMessage: a POST with no body, the natural way to
// call a method whose request is empty, is an empty request over REST and
// Connect JSON alike, as grpc-gateway reads it, not a 500.
func TestEmptyBodyIsAnEmptyMessage(t *testing.T) {
	url, _ := startGateway(t, startBackend(t), gateway.Options{})
	for _, tc := range []struct{ path, ct, field string }{
		{"/v1/echo", "", "message"},
		{"/v1/echo", "application/json", "message"},
		{"/grpcx.test.v1.TestService/Unary", "application/json", "message"},
		{"/grpcx.test.v1.TestService/Pid", "", "pid"},
	} {
		var header []string
		if tc.ct != "" {
			header = []string{"Content-Type", tc.ct}
		}
		resp := do(t, "POST", url+tc.path, "", header...)
		if resp.status != 200 || jsonField(t, resp.body, tc.field) == nil {
			t.Errorf("POST %s (%q) with no body: %d %s", tc.path, tc.ct, resp.status, resp.body)
		}
	}
}

func dialGRPC(t *testing.T, url string) *grpc.ClientConn {
	t.Helper()
	cc, err := grpc.NewClient(strings.TrimPrefix(url, "http://"), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc
}

func TestNativeGRPCPassesThrough(t *testing.T) {
	url, _ := startGateway(t, startBackend(t), gateway.Options{Services: []string{"grpcx.test.v1.AuthService"}})
	cc := dialGRPC(t, url)
	ctx := metadata.AppendToOutgoingContext(t.Context(), "authorization", "Bearer "+testserver.DefaultAuthToken)
	if _, err := testpb.NewAuthServiceClient(cc).WhoAmI(ctx, &emptypb.Empty{}); err != nil {
		t.Fatalf("an exposed service: %v", err)
	}
	_, err := testpb.NewTestServiceClient(cc).Unary(t.Context(), &testpb.EchoRequest{})
	if status.Code(err) != codes.Unimplemented || !strings.Contains(err.Error(), "not exposed") {
		t.Errorf("a service not exposed: %v", err)
	}
	// Reflection passes through, so clients can discover the gateway.
	stream, err := grpc_reflection_v1.NewServerReflectionClient(cc).ServerReflectionInfo(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&grpc_reflection_v1.ServerReflectionRequest{
		MessageRequest: &grpc_reflection_v1.ServerReflectionRequest_ListServices{}}); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil || len(resp.GetListServicesResponse().GetService()) == 0 {
		t.Fatalf("reflection through the gateway: %v %v", resp, err)
	}
	stream.CloseSend()
	// REST and the default route answer only for exposed services.
	if resp := do(t, "GET", url+"/v1/echo/x", ""); resp.status != 404 {
		t.Errorf("REST of a service not exposed: %d", resp.status)
	}
	// A path that starts with an exposed service but goes on to another
	// (which a proxy resolving dot segments would reach) is refused.
	err = cc.Invoke(ctx, "/grpcx.test.v1.AuthService/../grpcx.test.v1.TestService/Unary", &testpb.EchoRequest{}, &testpb.EchoResponse{})
	if status.Code(err) != codes.Unimplemented || !strings.Contains(err.Error(), "malformed method path") {
		t.Errorf("a path past an exposed service: %v", err)
	}
}

func TestWebProtocolsThroughGateway(t *testing.T) {
	url, _ := startGateway(t, startBackend(t), gateway.Options{})
	for _, p := range []invoke.Protocol{invoke.ProtocolGRPCWeb, invoke.ProtocolConnect} {
		t.Run(string(p), func(t *testing.T) {
			cc, err := invoke.DialWeb(t.Context(), url, p, invoke.DialOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer cc.Close()
			client := testpb.NewTestServiceClient(cc)
			bidi, err := client.Bidi(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range []string{"a", "b"} {
				if err := bidi.Send(&testpb.EchoRequest{Message: m}); err != nil {
					t.Fatal(err)
				}
				resp, err := bidi.Recv()
				if err != nil || resp.GetMessage() != m {
					t.Fatalf("bidi: %v %v", resp, err)
				}
			}
			bidi.CloseSend()
			if _, err := bidi.Recv(); err != io.EOF {
				t.Fatalf("bidi end: %v", err)
			}
			_, err = client.Fail(t.Context(), &testpb.FailRequest{Code: 9, Message: "pre", Details: true})
			st, _ := status.FromError(err)
			if st.Code() != codes.FailedPrecondition || st.Message() != "pre" || len(st.Details()) == 0 {
				t.Errorf("status through the gateway: %v (%d details)", err, len(st.Details()))
			}
		})
	}
}

func TestCORS(t *testing.T) {
	backend := startBackend(t)
	url, _ := startGateway(t, backend, gateway.Options{CORSOrigins: []string{"https://app.example"}})
	preflights := map[string][]string{
		"rest":     {"GET", "/v1/echo/x", ""},
		"connect":  {"POST", "/grpcx.test.v1.TestService/Unary", "content-type,connect-protocol-version"},
		"grpc-web": {"POST", "/grpcx.test.v1.TestService/Unary", "content-type,x-grpc-web,x-user-agent"},
	}
	for name, p := range preflights {
		t.Run(name, func(t *testing.T) {
			h := []string{"Origin", "https://app.example", "Access-Control-Request-Method", p[0]}
			if p[2] != "" {
				h = append(h, "Access-Control-Request-Headers", p[2])
			}
			resp := do(t, "OPTIONS", url+p[1], "", h...)
			if resp.status != http.StatusNoContent {
				t.Fatalf("status %d", resp.status)
			}
			if got := resp.header.Get("Access-Control-Allow-Origin"); got != "https://app.example" {
				t.Errorf("allow-origin %q", got)
			}
			if !strings.Contains(resp.header.Get("Access-Control-Allow-Methods"), p[0]) {
				t.Errorf("allow-methods %q", resp.header.Get("Access-Control-Allow-Methods"))
			}
			if p[2] != "" && resp.header.Get("Access-Control-Allow-Headers") != p[2] {
				t.Errorf("allow-headers %q", resp.header.Get("Access-Control-Allow-Headers"))
			}
		})
	}
	if resp := do(t, "OPTIONS", url+"/v1/echo/x", "", "Origin", "https://evil.example", "Access-Control-Request-Method", "GET"); resp.status != http.StatusForbidden || resp.header.Get("Vary") != "Origin" {
		t.Errorf("another origin's preflight: %d, Vary %q", resp.status, resp.header.Get("Vary"))
	}
	// Every answer varies with the origin, allowed, refused or absent, so
	// that a shared cache keeps them apart.
	for _, origin := range []string{"https://evil.example", ""} {
		if resp := do(t, "GET", url+"/v1/echo/x", "", "Origin", origin); resp.header.Get("Vary") != "Origin" {
			t.Errorf("Origin %q: Vary %q, want Origin", origin, resp.header.Get("Vary"))
		}
	}
	resp := do(t, "GET", url+"/v1/echo/x", "", "Origin", "https://app.example")
	if resp.header.Get("Access-Control-Allow-Origin") != "https://app.example" ||
		!strings.Contains(resp.header.Get("Access-Control-Expose-Headers"), "X-Server-Pid") {
		t.Errorf("cross-origin response headers %v", resp.header)
	}
	if resp := do(t, "GET", url+"/v1/echo/x", "", "Origin", "https://evil.example"); resp.header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("another origin was allowed: %v", resp.header)
	}
	any, _ := startGateway(t, backend, gateway.Options{CORSOrigins: []string{"*"}})
	if resp := do(t, "OPTIONS", any+"/v1/echo/x", "", "Origin", "http://anything.example:3000", "Access-Control-Request-Method", "GET"); resp.status != http.StatusNoContent {
		t.Errorf("* refused a preflight: %d", resp.status)
	}
}

func TestReload(t *testing.T) {
	var mu sync.Mutex
	names := []protoreflect.FullName{"grpcx.test.v1.AuthService"}
	fail := false
	discover := func(ctx context.Context) (*gateway.Schema, error) {
		mu.Lock()
		defer mu.Unlock()
		if fail {
			return nil, errors.New("backend down")
		}
		return registrySchema(names...)(ctx)
	}
	url, g := startGateway(t, startBackend(t), gateway.Options{Discover: discover})
	if resp := do(t, "GET", url+"/v1/echo/x", ""); resp.status != 404 {
		t.Fatalf("before reload: %d", resp.status)
	}
	mu.Lock()
	names = append(names, "grpcx.test.v1.TestService")
	mu.Unlock()
	if err := g.Reload(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(g.Services(), " "); got != "grpcx.test.v1.AuthService grpcx.test.v1.TestService" {
		t.Errorf("services %q", got)
	}
	if resp := do(t, "GET", url+"/v1/echo/x", ""); resp.status != 200 {
		t.Fatalf("after reload: %d %s", resp.status, resp.body)
	}
	mu.Lock()
	fail = true
	mu.Unlock()
	if err := g.Reload(t.Context()); err == nil || !strings.Contains(err.Error(), "backend down") {
		t.Errorf("failed reload: %v", err)
	}
	if resp := do(t, "GET", url+"/v1/echo/x", ""); resp.status != 200 {
		t.Errorf("a failed reload lost the routes: %d", resp.status)
	}
}

func TestNewErrors(t *testing.T) {
	backend := startBackend(t)
	tr, base, err := invoke.HTTP2Transport(backend, invoke.DialOptions{Plaintext: true})
	if err != nil {
		t.Fatal(err)
	}
	_, err = gateway.New(t.Context(), gateway.Options{Backend: base, Transport: tr, Discover: registrySchema(testServices...), Services: []string{"no.Such"}})
	if err == nil || !strings.Contains(err.Error(), "the backend has no service no.Such (it has grpc.reflection.v1.ServerReflection, grpcx.test.v1.AuthService, grpcx.test.v1.TestService)") {
		t.Errorf("unknown service: %v", err)
	}
	if _, err := gateway.New(t.Context(), gateway.Options{}); err == nil {
		t.Error("New without a backend should fail")
	}
}

func TestBackendDown(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	lis.Close()
	var log syncBuffer
	url, _ := startGateway(t, addr, gateway.Options{Log: &log})
	resp := do(t, "GET", url+"/v1/echo/x", "")
	if resp.status != http.StatusServiceUnavailable || jsonField(t, resp.body, "code") != 14.0 {
		t.Errorf("backend down: %d %s", resp.status, resp.body)
	}
	// The log says what the client got.
	if !strings.Contains(log.String(), "grpcx.test.v1.TestService/Unary Unavailable (HTTP 503)") {
		t.Errorf("log:\n%s\nwant the Unavailable status", log.String())
	}
}

// syncBuffer is a log writer that tests may read while the gateway writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestLog(t *testing.T) {
	var log syncBuffer
	url, _ := startGateway(t, startBackend(t), gateway.Options{Log: &log})
	do(t, "GET", url+"/v1/echo/x", "")
	do(t, "GET", url+"/v1/fail/5", "")
	do(t, "POST", url+"/grpcx.test.v1.TestService/Unary", `{}`, "Connect-Protocol-Version", "1")
	cc, err := invoke.DialWeb(t.Context(), url, invoke.ProtocolGRPCWeb, invoke.DialOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	testpb.NewTestServiceClient(cc).Unary(t.Context(), &testpb.EchoRequest{})
	testpb.NewTestServiceClient(dialGRPC(t, url)).Unary(t.Context(), &testpb.EchoRequest{})
	do(t, "GET", url+"/nowhere", "")
	do(t, "GET", url+"/v1/echo/x?number=abc", "") // the transcoder's own 400
	// A newline in the path stays escaped in the log, and in the answer.
	if r := do(t, "GET", url+"/x%0A12:00:00.000%20rest%20GET%20/forged", ""); !json.Valid([]byte(r.body)) {
		t.Errorf("404 body is not JSON: %q", r.body)
	}
	if r := do(t, "GET", url+"/%01", ""); !json.Valid([]byte(r.body)) {
		t.Errorf("404 body is not JSON: %q", r.body)
	}
	want := []string{
		`rest GET /v1/echo/x -> grpcx.test.v1.TestService/Unary OK \(HTTP 200\) `,
		`rest GET /v1/fail/5 -> grpcx.test.v1.TestService/Fail NotFound \(HTTP 404\) `,
		`connect POST /grpcx.test.v1.TestService/Unary OK \(HTTP 200\) `,
		`grpc-web POST /grpcx.test.v1.TestService/Unary OK \(HTTP 200\) `,
		`grpc POST /grpcx.test.v1.TestService/Unary OK \(HTTP 200\) `,
		`rest GET /nowhere NotFound \(HTTP 404\) `,
		`rest GET /v1/echo/x -> grpcx.test.v1.TestService/Unary InvalidArgument \(HTTP 400\) `,
		`rest GET /x%0A12:00:00.000%20rest%20GET%20/forged NotFound \(HTTP 404\) `,
		`rest GET /%01 NotFound \(HTTP 404\) `,
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		lines := strings.Split(strings.TrimSpace(log.String()), "\n")
		if len(lines) == len(want) || time.Now().After(deadline) {
			if len(lines) != len(want) {
				t.Fatalf("%d log lines, want %d:\n%s", len(lines), len(want), log.String())
			}
			// A line is written after its response is sent, so two
			// requests in a row may log in either order.
			for _, w := range want {
				re := regexp.MustCompile(`^\d\d:\d\d:\d\d\.\d{3} ` + w + `[0-9.]+[µm]?s$`)
				if !slices.ContainsFunc(lines, re.MatchString) {
					t.Errorf("no log line matches %q:\n%s", w, log.String())
				}
			}
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestMaxMessageBytes: the gateway buffers each message it transcodes, up
// to 4 MiB unless told more.
func TestMaxMessageBytes(t *testing.T) {
	backend := startBackend(t)
	const call, body = "/grpcx.test.v1.TestService/Payload", `{"size": 5000000}`
	small, _ := startGateway(t, backend, gateway.Options{})
	// Refused with a whole answer, not a cut connection.
	if r := do(t, "POST", small+call, body); r.status == 200 || !json.Valid([]byte(r.body)) {
		t.Errorf("a 5 MB response through the default limit: status %d, body %q", r.status, r.body)
	}
	large, _ := startGateway(t, backend, gateway.Options{MaxMessageBytes: 8 << 20})
	if r := do(t, "POST", large+call, body); r.status != 200 || len(r.body) < 5000000 {
		t.Errorf("a 5 MB response through an 8 MiB limit: status %d, %d bytes", r.status, len(r.body))
	}
}

// TestUnreadableRequestIsTheClients: a gRPC-web request whose body is not
// framed is the client's mistake (INVALID_ARGUMENT), not a backend that
// cannot be reached (UNAVAILABLE).
func TestUnreadableRequestIsTheClients(t *testing.T) {
	url, _ := startGateway(t, startBackend(t), gateway.Options{})
	req, err := http.NewRequestWithContext(t.Context(), "POST", url+"/grpcx.test.v1.TestService/Unary", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/grpc-web+proto")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	// A trailers-only answer carries the status in the headers.
	if code := resp.Header.Get("Grpc-Status"); code == "14" || code == "" {
		t.Errorf("status %d, grpc-status %q, message %q, body %q; want the request refused, not the backend reported down",
			resp.StatusCode, code, resp.Header.Get("Grpc-Message"), body)
	}
}

// TestDeadlineIsDeadlineExceeded: a call whose deadline passes ends with
// DEADLINE_EXCEEDED (504), not UNAVAILABLE (503), which invites a retry.
// The backend resets the stream at its deadline, and the gateway used to
// read that as a backend it could not reach.
func TestDeadlineIsDeadlineExceeded(t *testing.T) {
	url, _ := startGateway(t, startBackend(t), gateway.Options{})
	for range 5 {
		if r := do(t, "GET", url+"/v1/slow?duration=1s", "", "X-Server-Timeout", "0.2"); r.status != http.StatusGatewayTimeout {
			t.Errorf("a REST call past its 0.2 s deadline: %d %s; want 504", r.status, r.body)
		}
	}
}

// TestRequestOverLimitIsResourceExhausted: a request body over the limit
// is RESOURCE_EXHAUSTED, whatever the protocol, not INVALID_ARGUMENT.
func TestRequestOverLimitIsResourceExhausted(t *testing.T) {
	url, _ := startGateway(t, startBackend(t), gateway.Options{MaxMessageBytes: 1000})
	big, err := proto.Marshal(&testpb.EchoRequest{Message: strings.Repeat("x", 5000)})
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequestWithContext(t.Context(), "POST", url+"/grpcx.test.v1.TestService/Unary", bytes.NewReader(big))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/proto")
	req.Header.Set("Connect-Protocol-Version", "1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(string(body), "resource_exhausted") {
		t.Errorf("a 5 KB Connect request through a 1000-byte limit: %d %s; want 429 resource_exhausted", resp.StatusCode, body)
	}
}

// TestUnknownRouteInTheClientsProtocol: a gRPC-web or Connect call of a
// method the gateway does not expose is answered in that protocol, as
// UNIMPLEMENTED with the gateway's reason, not with REST's JSON.
func TestUnknownRouteInTheClientsProtocol(t *testing.T) {
	url, _ := startGateway(t, startBackend(t), gateway.Options{Services: []string{"grpcx.test.v1.AuthService"}})
	for _, p := range []invoke.Protocol{invoke.ProtocolGRPCWeb, invoke.ProtocolConnect} {
		cc, err := invoke.DialWeb(t.Context(), url, p, invoke.DialOptions{})
		if err != nil {
			t.Fatal(err)
		}
		client := testpb.NewTestServiceClient(cc)
		_, err = client.Unary(t.Context(), &testpb.EchoRequest{})
		st, _ := status.FromError(err)
		if st.Code() != codes.Unimplemented || !strings.Contains(st.Message(), "no method of this gateway answers") {
			t.Errorf("%s unary: %v; want Unimplemented with the gateway's reason", p, err)
		}
		// A stream: Connect streams carry the error in their last message.
		if stream, err := client.ServerStream(t.Context(), &testpb.StreamRequest{Count: 1}); err == nil {
			_, err = stream.Recv()
			st, _ := status.FromError(err)
			if st.Code() != codes.Unimplemented || !strings.Contains(st.Message(), "no method of this gateway answers") {
				t.Errorf("%s stream: %v; want Unimplemented with the gateway's reason", p, err)
			}
		} else if !strings.Contains(err.Error(), "no method of this gateway answers") {
			t.Errorf("%s stream: %v", p, err)
		}
		cc.Close()
	}
}

// TestBackendGoneMidStream: a backend that goes away in the middle of a
// stream leaves its clients, in every protocol, with UNAVAILABLE, as when
// it cannot be reached at all: not an INTERNAL protocol error, which
// reads as a bug and which retry policies do not retry.
func TestBackendGoneMidStream(t *testing.T) {
	for _, p := range []invoke.Protocol{invoke.ProtocolGRPCWeb, invoke.ProtocolConnect, invoke.ProtocolGRPC} {
		t.Run(string(p), func(t *testing.T) {
			lis, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			backend := testserver.NewServer(testserver.Options{})
			go backend.Serve(lis)
			defer backend.Stop()
			url, _ := startGateway(t, lis.Addr().String(), gateway.Options{})
			var client testpb.TestServiceClient
			if p == invoke.ProtocolGRPC {
				client = testpb.NewTestServiceClient(dialGRPC(t, url))
			} else {
				cc, err := invoke.DialWeb(t.Context(), url, p, invoke.DialOptions{})
				if err != nil {
					t.Fatal(err)
				}
				defer cc.Close()
				client = testpb.NewTestServiceClient(cc)
			}
			stream, err := client.ServerStream(t.Context(), &testpb.StreamRequest{Count: 50, Interval: durationpb.New(50 * time.Millisecond)})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := stream.Recv(); err != nil {
				t.Fatal(err)
			}
			backend.Stop() // connections cut, as by a crash
			for {
				if _, err = stream.Recv(); err != nil {
					break
				}
			}
			if status.Code(err) != codes.Unavailable {
				t.Errorf("after the backend went away: %v; want Unavailable", err)
			}
		})
	}
}

// TestClientMistakesAreClientErrors: a REST or Connect request the
// transcoder cannot read (malformed JSON, an unknown query parameter, an
// int64 out of range) is the client's mistake, 400 INVALID_ARGUMENT, not
// the 500 UNKNOWN the transcoder answers with; an UNKNOWN the backend
// itself returns stays a 500.
func TestClientMistakesAreClientErrors(t *testing.T) {
	url, _ := startGateway(t, startBackend(t), gateway.Options{})
	for _, tc := range []struct {
		name, method, path, body string
		header                   []string
		status                   int
		code                     any
	}{
		{"unknown query parameter", "GET", "/v1/echo/hi?foo=1", "", nil, 400, float64(3)},
		{"malformed JSON", "POST", "/v1/echo", `{"message": "a"`, nil, 400, float64(3)},
		{"int64 out of range", "POST", "/v1/types", `{"fInt64": 99999999999999999999}`, nil, 400, float64(3)},
		{"malformed Connect JSON", "POST", "/grpcx.test.v1.TestService/Unary", `{"message":`, []string{"Connect-Protocol-Version", "1"}, 400, "invalid_argument"},
		{"the backend's own UNKNOWN", "GET", "/v1/fail/2", "", nil, 500, float64(2)},
		{"the backend's INTERNAL", "GET", "/v1/fail/13", "", nil, 500, float64(13)},
		// net/http's plain-text 405 is Status JSON too.
		{"a method the route does not take", "DELETE", "/v1/echo/hi", "", nil, 405, float64(12)},
	} {
		resp := do(t, tc.method, url+tc.path, tc.body, tc.header...)
		if resp.status != tc.status || jsonField(t, resp.body, "code") != tc.code {
			t.Errorf("%s: %d %s; want %d with code %v", tc.name, resp.status, resp.body, tc.status, tc.code)
		}
	}
}

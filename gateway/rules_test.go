package gateway

import (
	"testing"

	"context"
	"github.com/grpcx/grpcx/invoke"
	"google.golang.org/genproto/googleapis/api/annotations"
	_ "google.golang.org/genproto/googleapis/api/httpbody"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"
	"google.golang.org/protobuf/types/known/anypb"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
)

// itemService is a service whose Get method's name starts GetAll's.
func itemService(t *testing.T) protoreflect.ServiceDescriptor {
	t.Helper()
	s := func(v string) *string { return &v }
	yes := true
	fdp := &descriptorpb.FileDescriptorProto{
		Name: s("items.proto"), Package: s("items.v1"), Syntax: s("proto3"),
		MessageType: []*descriptorpb.DescriptorProto{{Name: s("Item")}},
		Service: []*descriptorpb.ServiceDescriptorProto{{
			Name: s("Items"),
			Method: []*descriptorpb.MethodDescriptorProto{
				{Name: s("Get"), InputType: s(".items.v1.Item"), OutputType: s(".items.v1.Item")},
				{Name: s("GetAll"), InputType: s(".items.v1.Item"), OutputType: s(".items.v1.Item")},
				{Name: s("Watch"), InputType: s(".items.v1.Item"), OutputType: s(".items.v1.Item"), ServerStreaming: &yes},
			},
		}},
	}
	fd, err := protodesc.NewFile(fdp, protoregistry.GlobalFiles)
	if err != nil {
		t.Fatal(err)
	}
	return fd.Services().Get(0)
}

func TestDefaultRules(t *testing.T) {
	sd := itemService(t)
	rules, left := defaultRules([]protoreflect.ServiceDescriptor{sd}, map[string]bool{"items.v1.Items": true})
	if len(rules) != 1 || rules[0].GetSelector() != "items.v1.Items.GetAll" || rules[0].GetPost() != "/items.v1.Items/GetAll" || rules[0].GetBody() != "*" {
		t.Errorf("rules %v", rules)
	}
	if len(left) != 1 || left[0].Name() != "Get" {
		t.Errorf("left %v", left)
	}
	if rules, left := defaultRules([]protoreflect.ServiceDescriptor{sd}, nil); len(rules)+len(left) != 0 {
		t.Errorf("a service not exposed got rules %v %v", rules, left)
	}
	// The transcoder accepts the rules, and serves Get through Connect.
	g := &Gateway{log: &requestLogger{}}
	r, err := g.build(&Schema{Services: []protoreflect.ServiceDescriptor{sd}, Types: protoregistry.GlobalTypes})
	if err != nil {
		t.Fatal(err)
	}
	if !r.connectJSON["/items.v1.Items/Get"] || r.connectJSON["/items.v1.Items/GetAll"] {
		t.Errorf("connectJSON %v", r.connectJSON)
	}
}

// TestDefaultRulesLeaveAnnotatedPaths: a method annotated with its own gRPC
// path (post: "/pkg.Service/Method", a grpc-gateway habit) keeps its rule,
// and gets no default one on the same path, which the transcoder would
// refuse.
func TestDefaultRulesLeaveAnnotatedPaths(t *testing.T) {
	s := func(v string) *string { return &v }
	opts := &descriptorpb.MethodOptions{}
	proto.SetExtension(opts, annotations.E_Http, &annotations.HttpRule{Pattern: &annotations.HttpRule_Post{Post: "/items.v1.Items/Get"}, Body: "*"})
	fdp := &descriptorpb.FileDescriptorProto{
		Name: s("annotated.proto"), Package: s("items.v1"), Syntax: s("proto3"),
		Dependency:  []string{"google/api/annotations.proto"},
		MessageType: []*descriptorpb.DescriptorProto{{Name: s("Item")}},
		Service: []*descriptorpb.ServiceDescriptorProto{{
			Name:   s("Items"),
			Method: []*descriptorpb.MethodDescriptorProto{{Name: s("Get"), InputType: s(".items.v1.Item"), OutputType: s(".items.v1.Item"), Options: opts}},
		}},
	}
	fd, err := protodesc.NewFile(fdp, protoregistry.GlobalFiles)
	if err != nil {
		t.Fatal(err)
	}
	sd := fd.Services().Get(0)
	if rules, _ := defaultRules([]protoreflect.ServiceDescriptor{sd}, map[string]bool{"items.v1.Items": true}); len(rules) != 0 {
		t.Errorf("default rules %v for a method whose own rule takes the path", rules)
	}
	g := &Gateway{log: &requestLogger{}}
	if _, err := g.build(&Schema{Services: []protoreflect.ServiceDescriptor{sd}, Types: protoregistry.GlobalTypes}); err != nil {
		t.Errorf("build: %v", err)
	}
}

func TestLenientTypes(t *testing.T) {
	types := &lenientTypes{TypeResolver: protoregistry.GlobalTypes}
	a := &anypb.Any{TypeUrl: "type.googleapis.com/hidden.v1.Secret", Value: []byte{0x0a, 0x01, 'x'}}
	b, err := protojson.MarshalOptions{Resolver: types}.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `{"@type":"type.googleapis.com/hidden.v1.Secret"}` {
		t.Errorf("got %s", b)
	}
	again, err := types.FindMessageByURL("type.googleapis.com/hidden.v1.Secret")
	if err != nil || again.Descriptor().FullName() != "hidden.v1.Secret" {
		t.Errorf("second lookup: %v %v", again, err)
	}
	if _, err := types.FindMessageByURL("type.googleapis.com/not a name"); err == nil {
		t.Error("an invalid name should not resolve")
	}
	if mt, err := types.FindMessageByURL("type.googleapis.com/google.protobuf.Empty"); err != nil || mt.Descriptor().FullName() != "google.protobuf.Empty" {
		t.Errorf("known type: %v %v", mt, err)
	}
}

// TestStatusBeyondKnownCodes: a backend's status code beyond those gRPC
// defines reaches a REST client as UNKNOWN (HTTP 500), rather than
// panicking the transcoder.
func TestStatusBeyondKnownCodes(t *testing.T) {
	sd := itemService(t)
	s := grpc.NewServer()
	s.RegisterService(&grpc.ServiceDesc{
		ServiceName: "items.v1.Items",
		HandlerType: (*any)(nil),
		Methods: []grpc.MethodDesc{{MethodName: "GetAll", Handler: func(_ any, _ context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
			return nil, status.Error(codes.Code(17), "a code of the server's own")
		}}},
	}, struct{}{})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(lis)
	defer s.Stop()
	tr, base, err := invoke.HTTP2Transport(lis.Addr().String(), invoke.DialOptions{Plaintext: true})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.CloseIdleConnections()
	g, err := New(t.Context(), Options{Backend: base, Transport: tr, Discover: func(context.Context) (*Schema, error) {
		return &Schema{Services: []protoreflect.ServiceDescriptor{sd}, Types: protoregistry.GlobalTypes}, nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(g)
	defer srv.Close()
	resp, err := http.Post(srv.URL+"/items.v1.Items/GetAll", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 500 || !strings.Contains(string(body), `"code":2`) {
		t.Errorf("status %d, body %s (%v); want 500 with code 2", resp.StatusCode, body, err)
	}
}

// TestRESTUnserved: the annotated routes that REST cannot carry (streams
// of anything but one google.api.HttpBody, bidi streams) are named, with
// why; unary methods, HttpBody server streams, routes of a method whose
// other routes are named, and methods without a rule are not.
func TestRESTUnserved(t *testing.T) {
	s := func(v string) *string { return &v }
	yes := true
	rule := func(get, responseBody string, more ...*annotations.HttpRule) *descriptorpb.MethodOptions {
		opts := &descriptorpb.MethodOptions{}
		proto.SetExtension(opts, annotations.E_Http, &annotations.HttpRule{Pattern: &annotations.HttpRule_Get{Get: get}, ResponseBody: responseBody, AdditionalBindings: more})
		return opts
	}
	post := &descriptorpb.MethodOptions{}
	proto.SetExtension(post, annotations.E_Http, &annotations.HttpRule{Pattern: &annotations.HttpRule_Post{Post: "/v1/upload"}, Body: "*"})
	repeated := descriptorpb.FieldDescriptorProto_LABEL_REPEATED.Enum()
	msgType := descriptorpb.FieldDescriptorProto_TYPE_MESSAGE.Enum()
	fdp := &descriptorpb.FileDescriptorProto{
		Name: s("streams.proto"), Package: s("streams.v1"), Syntax: s("proto3"),
		Dependency: []string{"google/api/annotations.proto", "google/api/httpbody.proto"},
		MessageType: []*descriptorpb.DescriptorProto{
			{Name: s("Item")},
			{Name: s("Wrapped"), Field: []*descriptorpb.FieldDescriptorProto{{Name: s("data"), Number: proto.Int32(1), Type: msgType, TypeName: s(".google.api.HttpBody"), JsonName: s("data")}}},
			{Name: s("Parts"), Field: []*descriptorpb.FieldDescriptorProto{{Name: s("parts"), Number: proto.Int32(1), Type: msgType, Label: repeated, TypeName: s(".google.api.HttpBody"), JsonName: s("parts")}}},
		},
		Service: []*descriptorpb.ServiceDescriptorProto{{
			Name: s("Streams"),
			Method: []*descriptorpb.MethodDescriptorProto{
				{Name: s("Get"), InputType: s(".streams.v1.Item"), OutputType: s(".streams.v1.Item"), Options: rule("/v1/get", "")},
				{Name: s("Watch"), InputType: s(".streams.v1.Item"), OutputType: s(".streams.v1.Item"), ServerStreaming: &yes, Options: rule("/v1/watch", "")},
				{Name: s("Download"), InputType: s(".streams.v1.Item"), OutputType: s(".google.api.HttpBody"), ServerStreaming: &yes, Options: rule("/v1/download", "")},
				{Name: s("DownloadWrapped"), InputType: s(".streams.v1.Item"), OutputType: s(".streams.v1.Wrapped"), ServerStreaming: &yes,
					Options: rule("/v1/wrapped", "data", &annotations.HttpRule{Pattern: &annotations.HttpRule_Get{Get: "/v1/wrapped-whole"}})},
				{Name: s("DownloadParts"), InputType: s(".streams.v1.Item"), OutputType: s(".streams.v1.Parts"), ServerStreaming: &yes, Options: rule("/v1/parts", "parts")},
				{Name: s("Upload"), InputType: s(".streams.v1.Item"), OutputType: s(".streams.v1.Item"), ClientStreaming: &yes, Options: post},
				{Name: s("Chat"), InputType: s(".streams.v1.Item"), OutputType: s(".streams.v1.Item"), ClientStreaming: &yes, ServerStreaming: &yes, Options: rule("/v1/chat", "")},
				{Name: s("Tail"), InputType: s(".streams.v1.Item"), OutputType: s(".streams.v1.Item"), ServerStreaming: &yes},
			},
		}},
	}
	fd, err := protodesc.NewFile(fdp, protoregistry.GlobalFiles)
	if err != nil {
		t.Fatal(err)
	}
	// The backend only notes what reaches it.
	reached := map[string]bool{}
	backend := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached[r.URL.Path] = true
		w.Header().Set("Content-Type", "application/grpc")
		w.Header().Set("Grpc-Status", "12")
		w.WriteHeader(http.StatusOK)
	})
	g := &Gateway{log: &requestLogger{}, proxy: backend}
	r, err := g.build(&Schema{Services: []protoreflect.ServiceDescriptor{fd.Services().Get(0)}, Types: protoregistry.GlobalTypes})
	if err != nil {
		t.Fatal(err)
	}
	g.current.Store(r)
	got := g.RESTUnserved()
	want := []string{
		"/streams.v1.Streams/Chat: REST cannot serve its google.api.http route GET /v1/chat: it is a bidi stream",
		"/streams.v1.Streams/DownloadParts: REST cannot serve its google.api.http route GET /v1/parts: it streams responses",
		"/streams.v1.Streams/DownloadWrapped: REST cannot serve its google.api.http route GET /v1/wrapped-whole: it streams responses",
		"/streams.v1.Streams/Upload: REST cannot serve its google.api.http route POST /v1/upload: it streams requests",
		"/streams.v1.Streams/Watch: REST cannot serve its google.api.http route GET /v1/watch: it streams responses",
	}
	if len(got) != len(want) {
		t.Fatalf("RESTUnserved = %q; want %d entries, beginning %q", got, len(want), want)
	}
	for i, w := range want {
		if !strings.HasPrefix(got[i], w) {
			t.Errorf("RESTUnserved[%d] = %q; want it to begin %q", i, got[i], w)
		}
	}
	// What the warnings say is so: the transcoder refuses the routes
	// named, and passes the HttpBody streams on to the backend.
	for path, method := range map[string]string{
		"/v1/watch": "", "/v1/parts": "", "/v1/wrapped-whole": "",
		"/v1/download": "Download", "/v1/wrapped": "DownloadWrapped",
	} {
		rec := httptest.NewRecorder()
		r.transcoder.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		served := method != "" && reached["/streams.v1.Streams/"+method]
		if served != (method != "") || (!served && rec.Code != http.StatusUnsupportedMediaType) {
			t.Errorf("GET %s: reached the backend %v, HTTP %d %s", path, served, rec.Code, rec.Body)
		}
	}
}

// TestRoutingPath: REST paths reach their routes with each part unescaped
// once: an escaped slash or percent sign in a single-segment variable, an
// escaped ':' before a custom verb, an escaped letter in a fixed segment,
// a path holding a character Go escapes itself; a multi-segment variable
// keeps %2F, as the google.api.http rules say.
func TestRoutingPath(t *testing.T) {
	s := func(v string) *string { return &v }
	rule := func(r *annotations.HttpRule) *descriptorpb.MethodOptions {
		opts := &descriptorpb.MethodOptions{}
		proto.SetExtension(opts, annotations.E_Http, r)
		return opts
	}
	fdp := &descriptorpb.FileDescriptorProto{
		Name: s("paths.proto"), Package: s("paths.v1"), Syntax: s("proto3"),
		Dependency: []string{"google/api/annotations.proto"},
		MessageType: []*descriptorpb.DescriptorProto{{Name: s("Item"), Field: []*descriptorpb.FieldDescriptorProto{{
			Name: s("name"), Number: proto.Int32(1), Type: descriptorpb.FieldDescriptorProto_TYPE_STRING.Enum(), JsonName: s("name"),
		}}}},
		Service: []*descriptorpb.ServiceDescriptorProto{{
			Name: s("Paths"),
			Method: []*descriptorpb.MethodDescriptorProto{
				{Name: s("Echo"), InputType: s(".paths.v1.Item"), OutputType: s(".paths.v1.Item"),
					Options: rule(&annotations.HttpRule{Pattern: &annotations.HttpRule_Get{Get: "/v1/echo/{name}"}})},
				{Name: s("Cancel"), InputType: s(".paths.v1.Item"), OutputType: s(".paths.v1.Item"),
					Options: rule(&annotations.HttpRule{Pattern: &annotations.HttpRule_Post{Post: "/v1/{name=items/*}:cancel"}})},
				{Name: s("File"), InputType: s(".paths.v1.Item"), OutputType: s(".paths.v1.Item"),
					Options: rule(&annotations.HttpRule{Pattern: &annotations.HttpRule_Get{Get: "/v1/files/{name=**}"}})},
			},
		}},
	}
	fd, err := protodesc.NewFile(fdp, protoregistry.GlobalFiles)
	if err != nil {
		t.Fatal(err)
	}
	item := fd.Messages().ByName("Item")
	// The backend notes the method and the name it was called with.
	var method, name string
	backend := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		method = r.URL.Path
		b, _ := io.ReadAll(r.Body)
		msg := dynamicpb.NewMessage(item)
		if len(b) >= 5 && proto.Unmarshal(b[5:], msg) == nil {
			name = msg.Get(item.Fields().ByName("name")).String()
		}
		w.Header().Set("Content-Type", "application/grpc")
		w.Header().Set("Grpc-Status", "12")
		w.WriteHeader(http.StatusOK)
	})
	g := &Gateway{log: &requestLogger{}, cors: newCORS(nil), proxy: backend}
	r, err := g.build(&Schema{Services: []protoreflect.ServiceDescriptor{fd.Services().Get(0)}, Types: protoregistry.GlobalTypes})
	if err != nil {
		t.Fatal(err)
	}
	g.current.Store(r)
	for _, tt := range []struct{ verb, path, method, name string }{
		{"GET", "/v1/echo/a%2Fb", "Echo", "a/b"},
		{"GET", "/v1/echo/100%25", "Echo", "100%"},
		{"GET", "/v1/echo/%2525", "Echo", "%25"},
		{"GET", "/v1/echo/a%20b", "Echo", "a b"},
		{"GET", "/v1/echo/caf%C3%A9", "Echo", "café"},
		{"GET", "/v1/echo/a%2Fb|c", "Echo", "a/b|c"},
		{"GET", "/v1/%65cho/hi", "Echo", "hi"},
		{"POST", "/v1/items/x:cancel", "Cancel", "items/x"},
		{"POST", "/v1/items/x%3Acancel", "Cancel", "items/x"},
		{"GET", "/v1/files/a/b", "File", "a/b"},
		{"GET", "/v1/files/a%2Fb", "File", "a%2Fb"},
	} {
		method, name = "", ""
		rec := httptest.NewRecorder()
		g.ServeHTTP(rec, httptest.NewRequest(tt.verb, tt.path, nil))
		if method != "/paths.v1.Paths/"+tt.method || name != tt.name {
			t.Errorf("%s %s: reached %q with name %q (HTTP %d %s); want %s with %q", tt.verb, tt.path, method, name, rec.Code, rec.Body, tt.method, tt.name)
		}
	}
}

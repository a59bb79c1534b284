package cmd

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bufbuild/protocompile"
	"google.golang.org/grpc"
	"google.golang.org/grpc/reflection"
	reflectionv1 "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/grpcx/grpcx/descsource"
	"github.com/grpcx/grpcx/internal/latencyproxy"
	"github.com/grpcx/grpcx/testserver"
)

// Three versions of one service: v2 renames and adds response fields, v3
// moves a request field to another number.
var schemaVersions = map[string]string{
	"v1": `syntax = "proto3"; package evolve.v1;
		message HelloRequest { string name = 1; }
		message HelloReply { string greeting = 1; }
		service Greeter { rpc Hello(HelloRequest) returns (HelloReply); }`,
	"v2": `syntax = "proto3"; package evolve.v1;
		message HelloRequest { string name = 1; }
		message HelloReply { string text = 1; int32 count = 2; }
		service Greeter { rpc Hello(HelloRequest) returns (HelloReply); }`,
	"v3": `syntax = "proto3"; package evolve.v1;
		message HelloRequest { string name = 7; }
		message HelloReply { string greeting = 1; }
		service Greeter { rpc Hello(HelloRequest) returns (HelloReply); }`,
	// v5 widens v2's count to int64.
	"v5": `syntax = "proto3"; package evolve.v1;
		message HelloRequest { string name = 1; }
		message HelloReply { string text = 1; int64 count = 2; }
		service Greeter { rpc Hello(HelloRequest) returns (HelloReply); }`,
	// stream-v1 and stream-v3 are v1 and v3 with a client-streaming
	// method, Collect, answering with the names it got, joined by commas.
	"stream-v1": `syntax = "proto3"; package evolve.v1;
		message HelloRequest { string name = 1; }
		message HelloReply { string greeting = 1; }
		service Greeter { rpc Hello(HelloRequest) returns (HelloReply); rpc Collect(stream HelloRequest) returns (HelloReply); }`,
	"stream-v3": `syntax = "proto3"; package evolve.v1;
		message HelloRequest { string name = 7; }
		message HelloReply { string greeting = 1; }
		service Greeter { rpc Hello(HelloRequest) returns (HelloReply); rpc Collect(stream HelloRequest) returns (HelloReply); }`,
	// v4 adds a request field.
	"v4": `syntax = "proto3"; package evolve.v1;
		message HelloRequest { string name = 1; string lang = 2; }
		message HelloReply { string greeting = 1; }
		service Greeter { rpc Hello(HelloRequest) returns (HelloReply); }`,
	// The v1 service, with a method option from a google.api file that
	// grpcx does not link.
	"visibility": `syntax = "proto3"; package evolve.v1;
		import "google/api/visibility.proto";
		message HelloRequest { string name = 1; }
		message HelloReply { string greeting = 1; }
		service Greeter {
			rpc Hello(HelloRequest) returns (HelloReply) { option (google.api.method_visibility).restriction = "PREVIEW"; }
		}`,
}

// Two versions of the v1 and v2 service with the messages in a file of
// their own, which the service's file imports.
var splitSchemas = map[string]map[string]string{
	"split-v1": {"evolve_msgs.proto": `syntax = "proto3"; package evolve.v1;
		message HelloRequest { string name = 1; }
		message HelloReply { string greeting = 1; }`},
	"split-v2": {"evolve_msgs.proto": `syntax = "proto3"; package evolve.v1;
		message HelloRequest { string name = 1; }
		message HelloReply { string text = 1; int32 count = 2; }`},
}

func init() {
	for version := range splitSchemas {
		schemaVersions[version] = `syntax = "proto3"; package evolve.v1;
			import "evolve_msgs.proto";
			service Greeter { rpc Hello(HelloRequest) returns (HelloReply); }`
	}
}

// schemaImports are the files any schema version may import besides the
// well-known ones: a cut-down google/api/visibility.proto.
var schemaImports = map[string]string{
	"google/api/visibility.proto": `syntax = "proto3"; package google.api;
		import "google/protobuf/descriptor.proto";
		extend google.protobuf.MethodOptions { VisibilityRule method_visibility = 72295727; }
		message VisibilityRule { string selector = 1; string restriction = 2; }`,
}

// serveSchema serves the Greeter of one schema version on addr, with
// reflection, answering with the request's first string field copied into
// every string field of the reply, 2 into any int32 and 2+2^40 into any
// int64.
func serveSchema(t *testing.T, addr, version string) (stop func()) {
	t.Helper()
	return serveSchemaWith(t, addr, version, true)
}

// serveSchemaWith is serveSchema, with the reflection service only when
// reflect is set.
func serveSchemaWith(t *testing.T, addr, version string, reflect bool) (stop func()) {
	t.Helper()
	sources := map[string]string{"evolve.proto": schemaVersions[version]}
	for name, src := range schemaImports {
		sources[name] = src
	}
	for name, src := range splitSchemas[version] {
		sources[name] = src
	}
	compiled, err := (&protocompile.Compiler{Resolver: protocompile.WithStandardImports(&protocompile.SourceResolver{
		Accessor: protocompile.SourceAccessorFromMap(sources),
	})}).Compile(context.Background(), "evolve.proto")
	if err != nil {
		t.Fatal(err)
	}
	fd := compiled[0]
	files := new(protoregistry.Files)
	if err := registerWithImports(files, fd); err != nil {
		t.Fatal(err)
	}
	method := fd.Services().Get(0).Methods().Get(0)
	s := grpc.NewServer()
	s.RegisterService(&grpc.ServiceDesc{
		ServiceName: string(fd.Services().Get(0).FullName()),
		HandlerType: (*any)(nil),
		Methods: []grpc.MethodDesc{{MethodName: "Hello", Handler: func(_ any, _ context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
			in := dynamicpb.NewMessage(method.Input())
			if err := dec(in); err != nil {
				return nil, err
			}
			name := in.Get(in.Descriptor().Fields().Get(0)).String()
			out := dynamicpb.NewMessage(method.Output())
			for i := 0; i < out.Descriptor().Fields().Len(); i++ {
				f := out.Descriptor().Fields().Get(i)
				switch f.Kind() {
				case protoreflect.StringKind:
					out.Set(f, protoreflect.ValueOfString(name))
				case protoreflect.Int64Kind:
					out.Set(f, protoreflect.ValueOfInt64(2+1<<40))
				default:
					out.Set(f, protoreflect.ValueOfInt32(2))
				}
			}
			return out, nil
		}}},
		Streams: collectStreams(fd.Services().Get(0)),
	}, struct{}{})
	if reflect {
		reflectionv1.RegisterServerReflectionServer(s, reflection.NewServerV1(reflection.ServerOptions{Services: s, DescriptorResolver: files}))
	}
	var lis net.Listener
	for i := 0; ; i++ { // the previous version may still hold the port for a moment
		if lis, err = net.Listen("tcp", addr); err == nil || i == 50 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(lis)
	return s.Stop
}

// collectStreams serves the service's client-streaming methods: each
// answers with the first string field of every request, joined by commas.
func collectStreams(sd protoreflect.ServiceDescriptor) []grpc.StreamDesc {
	var out []grpc.StreamDesc
	for i := range sd.Methods().Len() {
		m := sd.Methods().Get(i)
		if !m.IsStreamingClient() {
			continue
		}
		out = append(out, grpc.StreamDesc{StreamName: string(m.Name()), ClientStreams: true, Handler: func(_ any, stream grpc.ServerStream) error {
			var names []string
			for {
				in := dynamicpb.NewMessage(m.Input())
				if err := stream.RecvMsg(in); err == io.EOF {
					break
				} else if err != nil {
					return err
				}
				names = append(names, in.Get(in.Descriptor().Fields().Get(0)).String())
			}
			out := dynamicpb.NewMessage(m.Output())
			out.Set(out.Descriptor().Fields().Get(0), protoreflect.ValueOfString(strings.Join(names, ",")))
			return stream.SendMsg(out)
		}})
	}
	return out
}

// registerWithImports registers fd in files after the files it imports.
func registerWithImports(files *protoregistry.Files, fd protoreflect.FileDescriptor) error {
	if _, err := files.FindFileByPath(fd.Path()); err == nil {
		return nil
	}
	for i := range fd.Imports().Len() {
		if err := registerWithImports(files, fd.Imports().Get(i).FileDescriptor); err != nil {
			return err
		}
	}
	return files.RegisterFile(fd)
}

func freeAddr(t *testing.T) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	return lis.Addr().String()
}

// runGrpcx runs grpcx in-process and returns its exit code and output.
func runGrpcx(args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = Main(context.Background(), args, strings.NewReader(""), &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestCacheFollowsSchemaChange(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	addr := freeAddr(t)
	call := []string{"call", "--plaintext", "-o", "jsonl", "-v", addr, "evolve.v1.Greeter/Hello", "-d", `{"name": "ada"}`}

	stop := serveSchema(t, addr, "v1")
	code, out, errOut := runGrpcx(call...)
	if code != 0 || out != `{"greeting":"ada"}`+"\n" || strings.Contains(errOut, "from the cache") {
		t.Fatalf("first call (uncached): exit %d, stdout %q, stderr %s", code, out, errOut)
	}
	code, out, errOut = runGrpcx(call...)
	if code != 0 || out != `{"greeting":"ada"}`+"\n" || !strings.Contains(errOut, "from the cache") {
		t.Fatalf("second call (cached): exit %d, stdout %q, stderr %s", code, out, errOut)
	}
	stop()

	// The response type changed: the cached call must print what the
	// server means now, not the old field names.
	stop = serveSchema(t, addr, "v2")
	code, out, errOut = runGrpcx(call...)
	if code != 0 || out != `{"text":"ada","count":2}`+"\n" {
		t.Fatalf("cached call after the response type changed: exit %d, stdout %q, stderr %s", code, out, errOut)
	}
	code, out, errOut = runGrpcx(call...)
	if code != 0 || out != `{"text":"ada","count":2}`+"\n" || !strings.Contains(errOut, "from the cache") {
		t.Fatalf("call with the refreshed cache: exit %d, stdout %q, stderr %s", code, out, errOut)
	}
	stop()

	// The request type changed: the request went out in the old encoding,
	// which is reported, and the next call uses the new one.
	stop = serveSchema(t, addr, "v3")
	defer stop()
	code, _, errOut = runGrpcx(call...)
	if code != exitFailure || !strings.Contains(errOut, "definition of evolve.v1.HelloRequest changed since it was cached") {
		t.Fatalf("cached call after the request type changed: exit %d, stderr %s", code, errOut)
	}
	code, out, errOut = runGrpcx(call...)
	if code != 0 || out != `{"greeting":"ada"}`+"\n" {
		t.Fatalf("call after the refresh: exit %d, stdout %q, stderr %s", code, out, errOut)
	}
}

// TestCacheChecksARequestStreamBeforeItStarts: a call that streams
// requests waits for the check of its cached method before it sends any,
// so that after the request type changed (v3 moves the name field) every
// request goes out in the server's current encoding, not the cached one.
func TestCacheChecksARequestStreamBeforeItStarts(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	addr := freeAddr(t)
	call := []string{"call", "--plaintext", "-o", "jsonl", "-v", addr, "evolve.v1.Greeter/Collect", "-d", `{"name": "ada"} {"name": "bob"}`}
	stop := serveSchema(t, addr, "stream-v1")
	if code, out, errOut := runGrpcx(call...); code != 0 || out != `{"greeting":"ada,bob"}`+"\n" {
		t.Fatalf("first call: exit %d, stdout %q, stderr %s", code, out, errOut)
	}
	stop()
	stop = serveSchema(t, addr, "stream-v3")
	defer stop()
	code, out, errOut := runGrpcx(call...)
	if code != 0 || out != `{"greeting":"ada,bob"}`+"\n" || !strings.Contains(errOut, "from the cache") ||
		!strings.Contains(errOut, "the server's schema changed since it was cached: the call uses its current one") {
		t.Fatalf("cached call after the request type changed: exit %d, stdout %q, stderr %s", code, out, errOut)
	}
}

// TestCacheDecodesAgainFromTheWire widens a response field the entry has
// as int32 to int64: the held response, decoded with the old type, lost the
// value's high bits, so it must be decoded again from the server's bytes.
func TestCacheDecodesAgainFromTheWire(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	addr := freeAddr(t)
	call := []string{"call", "--plaintext", "-o", "jsonl", "-v", addr, "evolve.v1.Greeter/Hello", "-d", `{"name": "ada"}`}
	stop := serveSchema(t, addr, "v2")
	if code, _, errOut := runGrpcx(call...); code != 0 {
		t.Fatalf("first call: exit %d, stderr %s", code, errOut)
	}
	stop()
	defer serveSchema(t, addr, "v5")()
	code, out, errOut := runGrpcx(call...)
	if code != 0 || out != `{"text":"ada","count":"1099511627778"}`+"\n" || !strings.Contains(errOut, "from the cache") {
		t.Fatalf("cached call after count became int64: exit %d, stdout %q, stderr %s", code, out, errOut)
	}
}

// TestCacheRefreshesWhenTheRequestNoLongerParses sends a request with a
// field the server's schema has gained since the entry was made: the
// cached type rejects it, so the call fails, but it says why and leaves the
// cache refreshed, so that the next call succeeds.
func TestCacheRefreshesWhenTheRequestNoLongerParses(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	addr := freeAddr(t)
	call := []string{"call", "--plaintext", "-o", "jsonl", "-v", addr, "evolve.v1.Greeter/Hello"}
	stop := serveSchema(t, addr, "v1")
	if code, _, errOut := runGrpcx(append(call, "-d", `{"name": "ada"}`)...); code != 0 {
		t.Fatalf("first call: exit %d, stderr %s", code, errOut)
	}
	stop()
	defer serveSchema(t, addr, "v4")()
	withLang := append(call, "-d", `{"name": "ada", "lang": "en"}`)
	code, _, errOut := runGrpcx(withLang...)
	if code == 0 || !strings.Contains(errOut, "lang") || !strings.Contains(errOut, "definition of evolve.v1.HelloRequest changed since it was cached") {
		t.Fatalf("call with the new field and the old entry: exit %d, stderr %s", code, errOut)
	}
	code, out, errOut := runGrpcx(withLang...)
	if code != 0 || out != `{"greeting":"ada"}`+"\n" || !strings.Contains(errOut, "from the cache") {
		t.Fatalf("call after the refresh: exit %d, stdout %q, stderr %s", code, out, errOut)
	}
}

// TestCacheWarnsWhenTheCheckFails: a server that stopped serving
// reflection cannot confirm a cached method; the call still works from the
// cache, and says it was not checked.
func TestCacheWarnsWhenTheCheckFails(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	addr := freeAddr(t)
	call := []string{"call", "--plaintext", "-o", "jsonl", addr, "evolve.v1.Greeter/Hello", "-d", `{"name": "ada"}`}
	stop := serveSchema(t, addr, "v1")
	if code, _, errOut := runGrpcx(call...); code != 0 || errOut != "" {
		t.Fatalf("first call: exit %d, stderr %s", code, errOut)
	}
	if code, _, errOut := runGrpcx(call...); code != 0 || errOut != "" {
		t.Fatalf("checked call from the cache: exit %d, stderr %s", code, errOut)
	}
	stop()
	defer serveSchemaWith(t, addr, "v1", false)()
	code, out, errOut := runGrpcx(call...)
	if code != 0 || out != `{"greeting":"ada"}`+"\n" || !strings.Contains(errOut, "warning: could not check the cached descriptors") {
		t.Fatalf("call from the cache, without reflection: exit %d, stdout %q, stderr %s", code, out, errOut)
	}
}

// TestCacheFollowsSchemaChangeInAnImport changes the response type in a
// file that the service's file imports: reflection sends the service's file
// first, and the check must still see the change.
func TestCacheFollowsSchemaChangeInAnImport(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	addr := freeAddr(t)
	call := []string{"call", "--plaintext", "-o", "jsonl", "-v", addr, "evolve.v1.Greeter/Hello", "-d", `{"name": "ada"}`}
	stop := serveSchema(t, addr, "split-v1")
	for i, cached := range []bool{false, true} {
		code, out, errOut := runGrpcx(call...)
		if code != 0 || out != `{"greeting":"ada"}`+"\n" || strings.Contains(errOut, "from the cache") != cached {
			t.Fatalf("call %d: exit %d, stdout %q, stderr %s (want it served from the cache: %v)", i+1, code, out, errOut, cached)
		}
	}
	stop()
	defer serveSchema(t, addr, "split-v2")()
	for i := range 2 {
		code, out, errOut := runGrpcx(call...)
		if code != 0 || out != `{"text":"ada","count":2}`+"\n" || !strings.Contains(errOut, "from the cache") {
			t.Fatalf("call %d after the imported response type changed: exit %d, stdout %q, stderr %s", i+1, code, out, errOut)
		}
	}
}

// TestCacheKeepsGoogleAPIFilesGrpcxLacks: a schema may import a google/api
// file that grpcx has not compiled in; the cache keeps that file like any
// other, so the repeat call is served from it.
func TestCacheKeepsGoogleAPIFilesGrpcxLacks(t *testing.T) {
	if _, err := protoregistry.GlobalFiles.FindFileByPath("google/api/visibility.proto"); err == nil {
		t.Fatal("grpcx links google/api/visibility.proto now: pick another google/api file for this test")
	}
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	addr := freeAddr(t)
	defer serveSchema(t, addr, "visibility")()
	call := []string{"call", "--plaintext", "-o", "jsonl", "-v", addr, "evolve.v1.Greeter/Hello", "-d", `{"name": "ada"}`}
	for i, cached := range []bool{false, true, true} {
		code, out, errOut := runGrpcx(call...)
		if code != 0 || out != `{"greeting":"ada"}`+"\n" || strings.Contains(errOut, "from the cache") != cached {
			t.Fatalf("call %d: exit %d, stdout %q, stderr %s (want it served from the cache: %v)", i+1, code, out, errOut, cached)
		}
	}
}

func TestCacheRefreshesForUnknownMethodAndHonoursNoCache(t *testing.T) {
	cacheHome := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", cacheHome)
	addr := startTestserver(t)
	unary := []string{"call", "--plaintext", "-v", addr, "grpcx.test.v1.TestService/Unary"}
	if code, _, errOut := runGrpcx(unary...); code != 0 {
		t.Fatalf("first call: %d %s", code, errOut)
	}
	// Another service of the same target is not in the entry yet: it is
	// fetched and added, and both are then served from the cache.
	who := []string{"call", "--plaintext", "-v", "-H", "authorization: Bearer " + testserver.DefaultAuthToken, addr, "grpcx.test.v1.AuthService/WhoAmI"}
	if code, _, errOut := runGrpcx(who...); code != 0 || strings.Contains(errOut, "from the cache") {
		t.Fatalf("call of an uncached service: %d %s", code, errOut)
	}
	// -H is also sent on reflection, so it is part of the key: use the
	// same headers for the first call's entry.
	for _, args := range [][]string{unary} {
		if code, _, errOut := runGrpcx(args...); code != 0 || !strings.Contains(errOut, "from the cache") {
			t.Fatalf("repeat call: %d %s", code, errOut)
		}
	}
	if code, _, errOut := runGrpcx(append([]string{"call", "--no-cache"}, unary[1:]...)...); code != 0 || strings.Contains(errOut, "from the cache") {
		t.Fatalf("--no-cache: %d %s", code, errOut)
	}
	if code, _, errOut := runGrpcx(append([]string{"call", "--cache-ttl", "1ns"}, unary[1:]...)...); code != 0 || strings.Contains(errOut, "from the cache") {
		t.Fatalf("expired entry: %d %s", code, errOut)
	}
}

// TestCacheCheckSettlesOnServerBytes makes repeat calls and checks that,
// once a check has stored the files as the server sends them, later checks
// find them equal byte for byte and leave the entry alone.
func TestCacheCheckSettlesOnServerBytes(t *testing.T) {
	cacheHome := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", cacheHome)
	addr := startTestserver(t)
	call := []string{"call", "--plaintext", addr, "grpcx.test.v1.TestService/Unary", "-d", `{"message": "again"}`}
	entry := func() os.FileInfo {
		t.Helper()
		entries, _ := filepath.Glob(filepath.Join(cacheHome, "grpcx", "descriptors", "*.protoset"))
		if len(entries) != 1 {
			t.Fatalf("cache entries %v, want one", entries)
		}
		info, err := os.Stat(entries[0])
		if err != nil {
			t.Fatal(err)
		}
		return info
	}
	for i := 0; i < 2; i++ { // the first stores, the second checks
		if code, out, errOut := runGrpcx(call...); code != 0 || !strings.Contains(out, "again") {
			t.Fatalf("call %d: exit %d, stdout %q, stderr %s", i+1, code, out, errOut)
		}
	}
	settled := entry()
	time.Sleep(50 * time.Millisecond) // so that a rewrite has a later time
	// A write renames a new file into place, so after one more call the
	// same file means no write (after two, the first file's number could
	// be reused); the time covers the second call.
	for i := 0; i < 2; i++ {
		if code, out, errOut := runGrpcx(call...); code != 0 || !strings.Contains(out, "again") {
			t.Fatalf("repeat call: exit %d, stdout %q, stderr %s", code, out, errOut)
		}
		if i == 0 && !os.SameFile(settled, entry()) {
			t.Fatal("a check of unchanged files rewrote the cache entry: the byte-for-byte comparison did not match")
		}
	}
	if now := entry(); !now.ModTime().Equal(settled.ModTime()) {
		t.Error("checks of unchanged files rewrote the cache entry: the byte-for-byte comparison never matched")
	}
}

// TestCacheOverOtherProtocols makes cached calls whose reflection goes
// over a connection of its own (gRPC beside a gRPC-web call) or over
// Connect, where nothing can be asked before the connection is up, and
// whose check must succeed over them.
func TestCacheOverOtherProtocols(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	addr := startTestserverWith(t, testserver.Options{Web: true})
	for _, protocols := range [][]string{
		{"--protocol", "grpc-web"},
		{"--protocol", "connect", "--reflect-protocol", "connect"},
		{"--protocol", "connect", "--reflect-protocol", "grpc"},
	} {
		call := append([]string{"call", "-v", "-o", "jsonl"}, protocols...)
		call = append(call, "http://"+addr, "grpcx.test.v1.TestService/Unary", "-d", `{"message": "web"}`)
		for i, cached := range []bool{false, true} {
			code, out, errOut := runGrpcx(call...)
			if code != 0 || out != `{"message":"web"}`+"\n" || strings.Contains(errOut, "from the cache") != cached ||
				strings.Contains(errOut, "could not check") {
				t.Errorf("%v, call %d: exit %d, stdout %q, stderr %s", protocols, i+1, code, out, errOut)
			}
		}
	}
}

func startTestserver(t *testing.T) string { return startTestserverWith(t, testserver.Options{}) }

func startTestserverWith(t *testing.T, opts testserver.Options) string {
	t.Helper()
	lis, err := testserver.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { testserver.Serve(ctx, lis, opts); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return lis.Addr().String()
}

func TestCacheConcurrentWriters(t *testing.T) {
	cacheHome := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", cacheHome)
	addr := startTestserver(t)
	methods := []string{"Unary", "ServerStream", "EchoTypes", "Payload", "Slow", "Pid"}
	var wg sync.WaitGroup
	errs := make(chan string, len(methods)*3)
	for round := 0; round < 3; round++ {
		for _, m := range methods {
			wg.Add(1)
			go func() {
				defer wg.Done()
				d := `{}`
				if m == "Slow" {
					d = `{"duration": "0.001s"}`
				}
				if code, _, errOut := runGrpcx("call", "--plaintext", addr, "grpcx.test.v1.TestService/"+m, "-d", d); code != 0 {
					errs <- fmt.Sprintf("%s: exit %d: %s", m, code, errOut)
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	entries, _ := filepath.Glob(filepath.Join(cacheHome, "grpcx", "descriptors", "*"))
	if len(entries) != 1 || !strings.HasSuffix(entries[0], ".protoset") {
		t.Fatalf("cache directory holds %v, want one .protoset and no temporary files", entries)
	}
	c := &descsource.Cache{Dir: filepath.Dir(entries[0])}
	entry, err := c.Load(strings.TrimSuffix(filepath.Base(entries[0]), ".protoset"))
	if err != nil || entry == nil {
		t.Fatalf("cache entry after concurrent writes: %v", err)
	}
	if _, err := entry.Files.FindDescriptorByName("grpcx.test.v1.TestService"); err != nil {
		t.Fatalf("cache entry lacks the service: %v", err)
	}
	data, _ := os.ReadFile(entries[0])
	if set, err := entry.Decode(); err != nil || proto.Size(set) == 0 || len(data) == 0 {
		t.Fatal("empty cache entry")
	}
}

// TestCacheSavesRoundTrips puts a proxy adding 100 ms each way between grpcx
// and the server and counts the round trips grpcx waits for.
func TestCacheSavesRoundTrips(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: real network delays")
	}
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	proxy, err := latencyproxy.Start(startTestserver(t), 100*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	call := []string{"call", "--plaintext", proxy.Addr, "grpcx.test.v1.TestService/Unary", "-d", `{"message": "far"}`}
	// A round trip through the proxy costs 200 ms; grpcx's own work is a
	// few milliseconds, so the waits are the elapsed time in whole round
	// trips. The best of three runs keeps a busy machine from adding one.
	roundTrips := func(args ...string) int {
		best := time.Hour
		for i := 0; i < 3; i++ {
			start := time.Now()
			if code, _, errOut := runGrpcx(args...); code != 0 {
				t.Fatalf("call through the proxy: %d %s", code, errOut)
			}
			best = min(best, time.Since(start))
		}
		return int(best / (2 * proxy.Delay))
	}
	uncached := roundTrips(append([]string{"call", "--no-cache"}, call[1:]...)...)
	cached := roundTrips(call...)
	t.Logf("round trips waited for: uncached %d, cached %d", uncached, cached)
	if cached >= uncached {
		t.Errorf("a cached call waited for %d round trips, an uncached one %d: the cache saved none", cached, uncached)
	}
}

package invoke_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"

	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/grpcx/grpcx/invoke"
	"github.com/grpcx/grpcx/testserver"
	"github.com/grpcx/grpcx/testserver/testpb"
)

// printResponses is a Handler that prints each response as compact JSON
// and ignores the other events.
type printResponses struct{}

func (printResponses) OnSendHeaders(metadata.MD)                     {}
func (printResponses) OnReceiveHeaders(metadata.MD)                  {}
func (printResponses) OnReceiveTrailers(*status.Status, metadata.MD) {}

func (printResponses) OnReceiveResponse(msg proto.Message) {
	b, err := protojson.Marshal(msg)
	if err != nil {
		log.Fatal(err)
	}
	// protojson varies its spacing on purpose; compacting makes it stable.
	var out bytes.Buffer
	if err := json.Compact(&out, b); err != nil {
		log.Fatal(err)
	}
	fmt.Println(out.String())
}

func ExampleInvoke() {
	// Start the bundled test server on a free loopback port.
	lis, err := testserver.Listen("127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- testserver.Serve(ctx, lis, testserver.Options{}) }()
	defer func() { stop(); <-served }()

	cc, err := invoke.Dial(ctx, lis.Addr().String(), invoke.DialOptions{Plaintext: true})
	if err != nil {
		log.Fatal(err)
	}
	defer cc.Close()

	// Any method descriptor works: from reflection, .proto files or, as
	// here, generated code.
	unary := testpb.File_grpcx_test_v1_test_proto.Services().ByName("TestService").Methods().ByName("Unary")

	// The supplier fills one request, then reports the end of the input.
	sent := false
	next := func(msg proto.Message) error {
		if sent {
			return io.EOF
		}
		sent = true
		return protojson.Unmarshal([]byte(`{"message": "hello", "number": 7}`), msg)
	}
	if err := invoke.Invoke(ctx, cc, unary, nil, next, printResponses{}); err != nil {
		log.Fatal(err)
	}
	// Output: {"message":"hello","number":7}
}

func ExampleDialWeb() {
	// Start the bundled test server with its gRPC-web and Connect faces.
	lis, err := testserver.Listen("127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- testserver.Serve(ctx, lis, testserver.Options{Web: true}) }()
	defer func() { stop(); <-served }()

	// The same engine, another protocol: the connection is all that changes.
	cc, err := invoke.DialWeb(ctx, "http://"+lis.Addr().String(), invoke.ProtocolConnect, invoke.DialOptions{})
	if err != nil {
		log.Fatal(err)
	}
	defer cc.Close()

	bidi := testpb.File_grpcx_test_v1_test_proto.Services().ByName("TestService").Methods().ByName("Bidi")
	requests := []string{`{"message": "a"}`, `{"message": "b"}`}
	next := func(msg proto.Message) error {
		if len(requests) == 0 {
			return io.EOF
		}
		req := requests[0]
		requests = requests[1:]
		return protojson.Unmarshal([]byte(req), msg)
	}
	if err := invoke.Invoke(ctx, cc, bidi, nil, next, printResponses{}); err != nil {
		log.Fatal(err)
	}
	fmt.Println(cc.Protocol(), cc.HTTPVersion())
	// Output:
	// {"message":"a"}
	// {"message":"b","index":1}
	// connect HTTP/2
}

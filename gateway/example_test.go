package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/grpcx/grpcx/gateway"
	"github.com/grpcx/grpcx/invoke"
	"github.com/grpcx/grpcx/testserver"
)

func ExampleNew() {
	// A plain gRPC server: the bundled test server.
	backend, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	s := testserver.NewServer(testserver.Options{})
	go s.Serve(backend)
	defer s.Stop()

	// The gateway reaches it over HTTP/2 and learns its services, here
	// from Go's registry (grpcx's gateway verb asks reflection).
	transport, base, err := invoke.HTTP2Transport(backend.Addr().String(), invoke.DialOptions{Plaintext: true})
	if err != nil {
		log.Fatal(err)
	}
	discover := func(context.Context) (*gateway.Schema, error) {
		d, err := protoregistry.GlobalFiles.FindDescriptorByName("grpcx.test.v1.TestService")
		if err != nil {
			return nil, err
		}
		return &gateway.Schema{Services: []protoreflect.ServiceDescriptor{d.(protoreflect.ServiceDescriptor)}, Types: protoregistry.GlobalTypes}, nil
	}
	g, err := gateway.New(context.Background(), gateway.Options{Backend: base, Transport: transport, Discover: discover})
	if err != nil {
		log.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	srv := g.Server(nil)
	go srv.Serve(lis)
	defer srv.Close()

	// A REST call, routed by the method's google.api.http annotation.
	resp, err := http.Get("http://" + lis.Addr().String() + "/v1/echo/hello?number=3")
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var out bytes.Buffer
	json.Compact(&out, body) // protojson varies its spacing on purpose
	fmt.Println(resp.Status, out.String())
	// Output: 200 OK {"message":"hello","number":3,"index":0}
}

package gateway

import (
	"testing"

	"google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/known/anypb"
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

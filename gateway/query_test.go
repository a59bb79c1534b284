package gateway

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
)

func TestRouteTemplates(t *testing.T) {
	for _, tt := range []struct {
		template, path string
		match          bool
		vars           []string
	}{
		{"/v1/echo/{message}", "/v1/echo/hi", true, []string{"message"}},
		{"/v1/echo/{message}", "/v1/echo/hi/there", false, nil},
		{"/v1/echo", "/v1/echo", true, nil},
		{"/v1/{name=shelves/*/books/*}", "/v1/shelves/1/books/2", true, []string{"name"}},
		{"/v1/{name=shelves/*/books/*}", "/v1/shelves/1", false, nil},
		{"/v1/{parent=**}", "/v1/a/b/c", true, []string{"parent"}},
		{"/v1/{parent=shelves/**}", "/v1/shelves/a/b", true, []string{"parent"}},
		{"/v1/{parent=shelves/**}", "/v1/books/a", false, nil},
		{"/v1/{a}/{b.c}:publish", "/v1/x/y:publish", true, []string{"a", "b.c"}},
		{"/v1/{a}/{b.c}:publish", "/v1/x/y", false, nil},
		{"/v1/*/x", "/v1/anything/x", true, nil},
		{"/v1/{name=**}", "/v1", false, nil}, // ** takes one segment at least
		{"/v2/%41/{name}", "/v2/A/n", true, []string{"name"}},
		{"/v2/{name=%41/*}", "/v2/A/n", true, []string{"name"}},
		{"/v2/a%3Ab/{name}", "/v2/a:b/n", false, nil}, // the transcoder keeps %3A escaped, and so never routes it
	} {
		segs, verb, vars, ok := parseTemplate(tt.template)
		if !ok {
			t.Errorf("parseTemplate(%q) failed", tt.template)
			continue
		}
		if got := matchPath(segs, verb, tt.path); got != tt.match {
			t.Errorf("%s matching %s: %v, want %v", tt.template, tt.path, got, tt.match)
		}
		if tt.match && strings.Join(vars, ",") != strings.Join(tt.vars, ",") {
			t.Errorf("%s: variables %v, want %v", tt.template, vars, tt.vars)
		}
	}
}

func TestTemplateDoubleStarMustBeLast(t *testing.T) {
	if _, _, _, ok := parseTemplate("/v1/{parent=**}/items"); ok {
		t.Error("a template with ** before its end parsed")
	}
}

// queryMethod is a method taking a message whose field "message" has the
// JSON name "text", and whose field "text" has the JSON name "other", with
// a oneof of "left" and "right".
func queryMethod(t *testing.T) protoreflect.MethodDescriptor {
	t.Helper()
	s := func(v string) *string { return &v }
	i := func(v int32) *int32 { return &v }
	str := descriptorpb.FieldDescriptorProto_TYPE_STRING.Enum()
	opt := descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL.Enum()
	fdp := &descriptorpb.FileDescriptorProto{
		Name: s("query.proto"), Package: s("query.v1"), Syntax: s("proto3"),
		MessageType: []*descriptorpb.DescriptorProto{{
			Name: s("Req"),
			Field: []*descriptorpb.FieldDescriptorProto{
				{Name: s("message"), Number: i(1), Type: str, Label: opt, JsonName: s("text")},
				{Name: s("text"), Number: i(2), Type: str, Label: opt, JsonName: s("other")},
				{Name: s("left"), Number: i(3), Type: str, Label: opt, JsonName: s("left"), OneofIndex: i(0)},
				{Name: s("right"), Number: i(4), Type: str, Label: opt, JsonName: s("right"), OneofIndex: i(0)},
			},
			OneofDecl: []*descriptorpb.OneofDescriptorProto{{Name: s("side")}},
		}},
		Service: []*descriptorpb.ServiceDescriptorProto{{
			Name:   s("Q"),
			Method: []*descriptorpb.MethodDescriptorProto{{Name: s("Get"), InputType: s(".query.v1.Req"), OutputType: s(".query.v1.Req")}},
		}},
	}
	fd, err := protodesc.NewFile(fdp, protoregistry.GlobalFiles)
	if err != nil {
		t.Fatal(err)
	}
	return fd.Services().Get(0).Methods().Get(0)
}

// TestQueryConflicts: the check reads a query parameter as the transcoder
// does (JSON name first), and counts a oneof sibling of a bound field as
// overriding it, since setting it clears the bound one.
func TestQueryConflicts(t *testing.T) {
	mr := &methodRoutes{method: queryMethod(t), bindings: []binding{
		{verb: http.MethodGet, template: "/v1/q/{message}"},
		{verb: http.MethodGet, template: "/v1/side/{left}"},
		{verb: "*", template: "/v1/any/{message}"},
		// The transcoder prefers a literal segment to a variable: it
		// routes /v7/a/x to the second and /v1/q/special to the last.
		{verb: http.MethodGet, template: "/v7/{message}/x"},
		{verb: http.MethodGet, template: "/v7/a/{text}"},
		{verb: http.MethodGet, template: "/v1/q/special"},
		{verb: "*", template: "/v1/verb/{message}:do"},
	}}
	for _, tt := range []struct {
		method, path, query string
		conflict            bool
	}{
		{"GET", "/v1/q/hi", "text=evil", true},      // text is message's JSON name
		{"GET", "/v1/q/hi", "message=evil", true},   // and message its proto name
		{"GET", "/v1/q/hi", "other=fine", false},    // other is the field text
		{"GET", "/v1/side/l", "right=r", true},      // right would clear left
		{"GET", "/v1/side/l", "text=fine", false},   // message is not bound here
		{"PATCH", "/v1/any/hi", "text=evil", true},  // a custom "*" route takes every verb
		{"GET", "/v1/q/hi", "nosuchfield=1", false}, // the transcoder's to refuse
		{"GET", "/v7/a/x", "other=evil", true},      // other is text, bound by /v7/a/{text}
		{"GET", "/v7/a/x", "text=fine", false},      // message is bound only by /v7/{message}/x
		{"GET", "/v7/b/x", "text=evil", true},       // which takes /v7/b/x
		{"GET", "/v1/q/special", "text=legit", false},
		{"POST", "/v1/verb/hi:do", "text=evil", true},
		{"POST", "/v1/verb/hi", "text=fine", false},        // no verb: another route, if any
		{"GET", "/v1/q/special", "left=l&right=r", true},   // two members of one oneof
		{"GET", "/v1/q/special", "message=a&text=b", true}, // one field by its proto and JSON names
		{"GET", "/v1/q/special", "left=l&other=o", false},  // two fields
		{"GET", "/v1/q/special", "left=l&left=m", false},   // one parameter twice: the transcoder's to judge
	} {
		q, _ := url.ParseQuery(tt.query)
		got := mr.queryConflict(&restRequest{method: tt.method, path: tt.path, query: q})
		if (got != "") != tt.conflict {
			t.Errorf("%s %s?%s: %q, want a conflict %v", tt.method, tt.path, tt.query, got, tt.conflict)
		}
	}
}

// TestQueryOfOtherProtocolsIsTheirs: gRPC-web and Connect requests may
// carry a query (a cache buster, Connect's GET), which sets no field.
func TestQueryOfOtherProtocolsIsTheirs(t *testing.T) {
	// Served as REST whatever protocolOf says: two Connect-Protocol-Version
	// headers make the transcoder take it for REST.
	r := httptest.NewRequest(http.MethodGet, "/v1/echo/hi?message=evil", nil)
	r.Header.Add("Connect-Protocol-Version", "1")
	r.Header.Add("Connect-Protocol-Version", "1")
	if _, kept := withRESTRequest(r).Context().Value(restRequestKey{}).(*restRequest); !kept {
		t.Error("a REST request with two Connect-Protocol-Version headers was not kept for the check")
	}
	for ct, want := range map[string]bool{"application/grpc-web+proto": false, "application/connect+proto": false, "application/json": true, "": true} {
		r := httptest.NewRequest(http.MethodPost, "/pkg.S/M?x=1", nil)
		if ct != "" {
			r.Header.Set("Content-Type", ct)
		}
		_, kept := withRESTRequest(r).Context().Value(restRequestKey{}).(*restRequest)
		if kept != want {
			t.Errorf("Content-Type %q: query kept for the check %v, want %v", ct, kept, want)
		}
	}
}

package format_test

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/grpcx/grpcx/format"
	"github.com/grpcx/grpcx/testserver/testpb"
)

func TestTemplateParsesBack(t *testing.T) {
	t.Parallel()
	md := (&testpb.AllTypes{}).ProtoReflect().Descriptor()
	text := format.Template(md)
	// The skeleton is a valid request: every field, nested, one element in
	// each list and map.
	msg := dynamicpb.NewMessage(md)
	if err := protojson.Unmarshal([]byte(text), msg); err != nil {
		t.Fatalf("template does not parse as %s: %v\n%s", md.FullName(), err, text)
	}
	for _, want := range []string{`"fInt64": "0"`, `"color": "COLOR_UNSPECIFIED"`, `"tags": [`, `"counts": {`, `"when": "1970-01-01T00:00:00Z"`, `"choiceText": ""`, `"child": {}`} {
		if !strings.Contains(text, want) {
			t.Errorf("template lacks %s:\n%s", want, text)
		}
	}
}

// TestTemplateOfARecursiveTypeKeepsRequiredFields: where a recursive type
// stops, its proto2 required fields are still there, so that the
// template remains a valid request.
func TestTemplateOfARecursiveTypeKeepsRequiredFields(t *testing.T) {
	t.Parallel()
	fds := compileFiles(t, map[string]string{"req.proto": `syntax = "proto2";
package req.v1;
message Inner { required int32 n = 1; optional string s = 2; }
message L1 { required L2 l = 1; } message L2 { required L3 l = 1; } message L3 { required L4 l = 1; }
message L4 { required L5 l = 1; } message L5 { required L6 l = 1; } message L6 { required L7 l = 1; }
message L7 { required L8 l = 1; } message L8 { required L9 l = 1; } message L9 { required int32 n = 1; }
message Base { required string req = 1; map<string, Base> children = 2; optional Base child = 3; required Inner inner = 4; required L1 deep = 5; }`}, "req.proto")
	md := fds[0].Messages().ByName("Base")
	text := format.Template(md)
	msg := dynamicpb.NewMessage(md)
	if err := protojson.Unmarshal([]byte(text), msg); err != nil {
		t.Fatalf("template does not parse as a complete %s: %v\n%s", md.FullName(), err, text)
	}
}

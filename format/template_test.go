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

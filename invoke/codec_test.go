package invoke

import (
	"errors"
	"testing"

	"google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/grpcx/grpcx/testserver/testpb"
)

// TestClearFields empties dynamic messages of both sizes clearFields
// treats differently, and one with an extension set, then decodes another
// message into the same storage and checks nothing of the first is left.
func TestClearFields(t *testing.T) {
	opts := &descriptorpb.MethodOptions{Deprecated: proto.Bool(true)}
	proto.SetExtension(opts, annotations.E_Http, &annotations.HttpRule{Pattern: &annotations.HttpRule_Get{Get: "/x"}})
	for _, tc := range []struct {
		name        string
		full, later proto.Message
	}{
		{"small", &testpb.EchoResponse{Message: "m", Number: 1, Index: 2}, &testpb.EchoResponse{Index: 3}},
		{"large", &testpb.AllTypes{FString: "s", Tags: []string{"a"}, Counts: map[string]int64{"k": 1},
			Choice: &testpb.AllTypes_ChoiceText{ChoiceText: "c"}, Nested: &testpb.AllTypes_Nested{Name: "n"}},
			&testpb.AllTypes{Tags: []string{"b"}}},
		{"extension", opts, &descriptorpb.MethodOptions{IdempotencyLevel: descriptorpb.MethodOptions_IDEMPOTENT.Enum()}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := dynamicpb.NewMessage(tc.full.ProtoReflect().Descriptor())
			b, _ := proto.Marshal(tc.full)
			// An unknown field too: number 900 is in no message here.
			b = protowire.AppendString(protowire.AppendTag(b, 900, protowire.BytesType), "u")
			if err := unmarshalOpts.Unmarshal(b, m); err != nil {
				t.Fatal(err)
			}
			clearFields(m)
			if n := proto.Size(m); n != 0 {
				t.Errorf("cleared message still encodes to %d bytes: %v", n, m)
			}
			b, _ = proto.Marshal(tc.later)
			if err := unmarshalOpts.Unmarshal(b, m); err != nil {
				t.Fatal(err)
			}
			want := dynamicpb.NewMessage(m.Descriptor())
			_ = proto.Unmarshal(b, want)
			if !proto.Equal(m, want) {
				t.Errorf("after reuse: %v, want %v", m, want)
			}
		})
	}
}

// countingResolver finds no extension, failing as a reflection-backed
// resolver can, and counts the lookups.
type countingResolver struct{ lookups int }

func (c *countingResolver) FindExtensionByName(protoreflect.FullName) (protoreflect.ExtensionType, error) {
	c.lookups++
	return nil, errors.New("reflection: not found")
}

func (c *countingResolver) FindExtensionByNumber(protoreflect.FullName, protoreflect.FieldNumber) (protoreflect.ExtensionType, error) {
	c.lookups++
	return nil, errors.New("reflection: not found")
}

// TestExtensionLookupsAreRemembered: an extension field the resolver does
// not know is looked up once per call, not once per response (a
// reflection-backed resolver asks the server each time), and a failed
// lookup leaves the field unknown rather than failing the response.
func TestExtensionLookupsAreRemembered(t *testing.T) {
	wire := protowire.AppendTag(nil, 5000, protowire.VarintType)
	wire = protowire.AppendVarint(wire, 7)
	res := &countingResolver{}
	ext := newNotFoundOnError(res)
	md := (&descriptorpb.MethodOptions{}).ProtoReflect().Descriptor()
	for range 100 {
		m := sizedMessage{msg: dynamicpb.NewMessage(md), extensions: ext}
		if err := m.unmarshal(wire); err != nil {
			t.Fatal(err)
		}
		if len(m.msg.GetUnknown()) == 0 {
			t.Fatal("the unknown extension was dropped")
		}
	}
	if res.lookups != 1 {
		t.Errorf("%d lookups for 100 responses, want 1", res.lookups)
	}
}

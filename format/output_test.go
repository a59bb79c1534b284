package format_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"regexp"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/grpcx/grpcx/descsource"
	"github.com/grpcx/grpcx/format"
	"github.com/grpcx/grpcx/testserver/testpb"
)

// protosetPath holds every type of the test server, the hidden ones too.
const protosetPath = "../testserver/proto/testserver.protoset"

// dynamicOf returns a dynamic copy of a generated message, the kind of
// message the formatter prints in production.
func dynamicOf(t *testing.T, m proto.Message) *dynamicpb.Message {
	t.Helper()
	return convert(t, m, dynamicpb.NewMessage(m.ProtoReflect().Descriptor()))
}

func newFormatter(t *testing.T, opts format.Options) *format.Formatter {
	t.Helper()
	f, err := format.NewFormatter(opts)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func appendString(t *testing.T, f *format.Formatter, m proto.Message) string {
	t.Helper()
	out, err := f.Append(nil, m)
	if err != nil {
		t.Fatalf("Append(%v): %v", m, err)
	}
	return string(out)
}

func TestFormatterJSON(t *testing.T) {
	t.Parallel()
	stream := &testpb.StreamRequest{Count: 2, Interval: durationpb.New(1500_000_000), FailAfter: 1}
	tests := []struct {
		name string
		opts format.Options
		msg  proto.Message
		want string
	}{
		{
			name: "json is indented and skips zero fields",
			opts: format.Options{Output: format.JSON},
			msg:  &testpb.EchoResponse{Message: "hi", Number: 3},
			want: "{\n  \"message\": \"hi\",\n  \"number\": 3\n}\n",
		},
		{
			name: "empty output name means json",
			opts: format.Options{},
			msg:  &testpb.EchoResponse{Message: "hi"},
			want: "{\n  \"message\": \"hi\"\n}\n",
		},
		{
			name: "empty message",
			opts: format.Options{Output: format.JSON},
			msg:  &testpb.EchoResponse{},
			want: "{}\n",
		},
		{
			name: "jsonl is one compact line",
			opts: format.Options{Output: format.JSONL},
			msg:  stream,
			want: `{"count":2,"interval":"1.500s","failAfter":1}` + "\n",
		},
		{
			name: "proto names",
			opts: format.Options{Output: format.JSONL, ProtoNames: true},
			msg:  stream,
			want: `{"count":2,"interval":"1.500s","fail_after":1}` + "\n",
		},
		{
			name: "emit defaults",
			opts: format.Options{Output: format.JSONL, EmitDefaults: true},
			msg:  &testpb.StreamRequest{Count: 2},
			want: `{"count":2,"interval":null,"message":"","failAfter":0,"emptyEvery":0}` + "\n",
		},
		{
			name: "emit defaults with proto names",
			opts: format.Options{Output: format.JSON, EmitDefaults: true, ProtoNames: true},
			msg:  &testpb.EchoResponse{Message: "hi"},
			want: "{\n  \"message\": \"hi\",\n  \"number\": 0,\n  \"index\": 0\n}\n",
		},
		{
			name: "nested and repeated",
			opts: format.Options{Output: format.JSON},
			msg:  &testpb.ClientStreamResponse{Count: 2, Sum: 3, Messages: []string{"a", "b"}},
			want: "{\n  \"count\": 2,\n  \"sum\": \"3\",\n  \"messages\": [\n    \"a\",\n    \"b\"\n  ]\n}\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFormatter(t, tt.opts)
			msg := dynamicOf(t, tt.msg)
			first := appendString(t, f, msg)
			// The formatter reuses its buffers: a second run must not differ.
			second := appendString(t, f, msg)
			if first != tt.want {
				t.Errorf("output:\n%s\nwant:\n%s", first, tt.want)
			}
			if second != first {
				t.Errorf("second run differs:\n%s\nfirst:\n%s", second, first)
			}
			if tt.opts.Output == format.JSONL && strings.Count(first, "\n") != 1 {
				t.Errorf("jsonl output is not one line: %q", first)
			}
		})
	}
}

func TestFormatterAppendKeepsDst(t *testing.T) {
	t.Parallel()
	f := newFormatter(t, format.Options{Output: format.JSONL})
	out, err := f.Append([]byte("before\n"), dynamicOf(t, &testpb.EchoResponse{Number: 1}))
	if err != nil {
		t.Fatal(err)
	}
	out, err = f.Append(out, dynamicOf(t, &testpb.EchoResponse{Number: 2}))
	if err != nil {
		t.Fatal(err)
	}
	if want := "before\n{\"number\":1}\n{\"number\":2}\n"; string(out) != want {
		t.Errorf("got %q, want %q", out, want)
	}
}

// TestFormatterText checks the text output by reading it back: prototext
// varies its white space on purpose, so its exact bytes are not a contract.
func TestFormatterText(t *testing.T) {
	t.Parallel()
	want := &testpb.ClientStreamResponse{Count: 2, Sum: 3, Messages: []string{"a", "b"}}
	out := appendString(t, newFormatter(t, format.Options{Output: format.Text}), dynamicOf(t, want))
	// One field a line and the trailing newline, nothing more: prototext
	// only varies the spaces after the colons.
	shape := regexp.MustCompile(`^count: +2\nsum: +3\nmessages: +"a"\nmessages: +"b"\n$`)
	if !shape.MatchString(out) {
		t.Errorf("text output %q does not match %s", out, shape)
	}
	got := &testpb.ClientStreamResponse{}
	if err := prototext.Unmarshal([]byte(out), got); err != nil {
		t.Fatalf("output is not protobuf text: %v\n%s", err, out)
	}
	if !proto.Equal(got, want) {
		t.Errorf("read back %v, want %v", got, want)
	}
}

func TestNewFormatterRejectsUnknownOutput(t *testing.T) {
	t.Parallel()
	_, err := format.NewFormatter(format.Options{Output: "yaml"})
	if err == nil || !strings.Contains(err.Error(), `"yaml"`) || !strings.Contains(err.Error(), "jsonl") {
		t.Errorf("NewFormatter(yaml) = %v, want an error naming yaml and the accepted outputs", err)
	}
}

// protosetTypes resolves every type of the test server, as a protoset given
// with --protoset would. The test binary does not link the hidden types, so
// only this resolver knows them.
func protosetTypes(t *testing.T) descsource.TypeResolver {
	t.Helper()
	src, err := descsource.FromProtosets([]string{protosetPath})
	if err != nil {
		t.Fatal(err)
	}
	return src.Types()
}

// secretAny packs a grpcx.test.hidden.v1.Secret built from types.
func secretAny(t *testing.T, types descsource.TypeResolver) *anypb.Any {
	t.Helper()
	mt, err := types.FindMessageByName("grpcx.test.hidden.v1.Secret")
	if err != nil {
		t.Fatal(err)
	}
	secret := mt.New()
	fields := secret.Descriptor().Fields()
	secret.Set(fields.ByName("code"), protoreflect.ValueOfString("s3cret"))
	secret.Set(fields.ByName("level"), protoreflect.ValueOfInt64(7))
	a, err := anypb.New(secret.Interface())
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestFormatterAnyWithResolver(t *testing.T) {
	t.Parallel()
	types := protosetTypes(t)
	msg := dynamicOf(t, &testpb.HiddenResponse{Detail: secretAny(t, types)})

	f := newFormatter(t, format.Options{Output: format.JSON, Resolver: types})
	want := `{
  "detail": {
    "@type": "type.googleapis.com/grpcx.test.hidden.v1.Secret",
    "code": "s3cret",
    "level": "7"
  }
}
`
	if got := appendString(t, f, msg); got != want {
		t.Errorf("output:\n%s\nwant:\n%s", got, want)
	}

	// Without the resolver the type is unknown, which proves it was used.
	if out, err := newFormatter(t, format.Options{Output: format.JSON}).Append(nil, msg); err == nil {
		t.Errorf("formatting an Any of an unknown type succeeded:\n%s", out)
	}
}

// TestFormatterUnknownFields: JSON cannot show fields a message's type does
// not define, so Append says which it left out, wherever they are in the
// message; text format shows them.
func TestFormatterUnknownFields(t *testing.T) {
	t.Parallel()
	unknown := protowire.AppendVarint(protowire.AppendTag(nil, 99, protowire.VarintType), 42)
	for _, tc := range []struct {
		name string
		set  func(m *dynamicpb.Message)
	}{
		{"top level", func(m *dynamicpb.Message) { m.SetUnknown(unknown) }},
		{"in a nested message", func(m *dynamicpb.Message) {
			m.Get(m.Descriptor().Fields().ByName("nested")).Message().SetUnknown(unknown)
		}},
		{"in a list's message", func(m *dynamicpb.Message) {
			m.Get(m.Descriptor().Fields().ByName("items")).List().Get(1).Message().SetUnknown(unknown)
		}},
		{"in a map's message", func(m *dynamicpb.Message) {
			m.Get(m.Descriptor().Fields().ByName("by_id")).Map().Get(protoreflect.ValueOfInt32(7).MapKey()).Message().SetUnknown(unknown)
		}},
	} {
		msg := dynamicOf(t, &testpb.AllTypes{
			FString: "kept",
			Nested:  &testpb.AllTypes_Nested{Name: "n"},
			Items:   []*testpb.AllTypes_Nested{{Name: "a"}, {Name: "b"}},
			ById:    map[int32]*testpb.AllTypes_Nested{7: {Name: "seven"}},
		})
		tc.set(msg)
		out, err := newFormatter(t, format.Options{Output: format.JSONL}).Append(nil, msg)
		var ue *format.UnknownFieldsError
		if !errors.As(err, &ue) || len(ue.Numbers) != 1 || ue.Numbers[0] != 99 {
			t.Errorf("%s: Append error %v, want an UnknownFieldsError for field 99", tc.name, err)
		}
		if !strings.Contains(string(out), `"fString":"kept"`) {
			t.Errorf("%s: the known fields were not printed: %s", tc.name, out)
		}
		if text := appendString(t, newFormatter(t, format.Options{Output: format.Text}), msg); !regexp.MustCompile(`99:\s+42`).MatchString(text) {
			t.Errorf("%s: text output does not show the unknown field:\n%s", tc.name, text)
		}
	}
	clean := dynamicOf(t, &testpb.AllTypes{FString: "x", Nested: &testpb.AllTypes_Nested{Name: "n"}})
	if _, err := newFormatter(t, format.Options{Output: format.JSON}).Append(nil, clean); err != nil {
		t.Errorf("Append of a message without unknown fields: %v", err)
	}
}

// TestCallPrinterReportsUnknownFieldsOnce: a stream from a newer schema has
// unknown fields in every response; one warning says so.
func TestCallPrinterReportsUnknownFieldsOnce(t *testing.T) {
	t.Parallel()
	var out, warn strings.Builder
	p := format.NewCallPrinter(&out, &warn, newFormatter(t, format.Options{Output: format.JSONL}), 0)
	for range 3 {
		msg := dynamicOf(t, &testpb.EchoResponse{Message: "m"})
		msg.SetUnknown(protowire.AppendVarint(protowire.AppendTag(nil, 9, protowire.VarintType), 1))
		p.OnReceiveResponse(msg)
	}
	p.OnReceiveTrailers(nil, nil)
	if p.Err() != nil || strings.Count(out.String(), `"message":"m"`) != 3 {
		t.Errorf("printed %q, error %v; want three responses", out.String(), p.Err())
	}
	if strings.Count(warn.String(), "warning") != 1 || !strings.Contains(warn.String(), "response 1 holds fields its schema does not define (numbers 9)") {
		t.Errorf("warnings:\n%s\nwant one, about response 1's field 9", warn.String())
	}
}

// TestFormatterUnknownAnyStaysJSON: an Any of a type nobody describes is
// printed as a placeholder holding its bytes, at any depth (here inside the
// value of an Any that does resolve, and in a list), so that the output is
// still one JSON value a message, with nothing lost; jsonl keeps it on one
// line.
func TestFormatterUnknownAnyStaysJSON(t *testing.T) {
	t.Parallel()
	secret := secretAny(t, protosetTypes(t))
	outer, err := anypb.New(&testpb.HiddenResponse{Detail: secret})
	if err != nil {
		t.Fatal(err)
	}
	msg := dynamicOf(t, &testpb.HiddenResponse{Detail: outer})
	for _, output := range []format.Output{format.JSON, format.JSONL} {
		out, err := newFormatter(t, format.Options{Output: output}).Append(nil, msg)
		var fallback *format.FallbackError
		if !errors.As(err, &fallback) || !slices.Equal(fallback.Unresolved, []string{"type.googleapis.com/grpcx.test.hidden.v1.Secret"}) {
			t.Fatalf("%s: error %v, want a FallbackError naming the Secret type", output, err)
		}
		var got struct {
			Detail struct {
				Type   string `json:"@type"`
				Detail struct {
					Type  string `json:"@type"`
					Value []byte `json:"@value"`
					Error string `json:"@error"`
				} `json:"detail"`
			} `json:"detail"`
		}
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("%s: output is not JSON (%v):\n%s", output, err, out)
		}
		inner := got.Detail.Detail
		if got.Detail.Type != "type.googleapis.com/grpcx.test.v1.HiddenResponse" || inner.Type != "type.googleapis.com/grpcx.test.hidden.v1.Secret" ||
			!bytes.Equal(inner.Value, secret.GetValue()) || !strings.Contains(inner.Error, "--proto") {
			t.Errorf("%s: got %+v from\n%s", output, got, out)
		}
		if n := strings.Count(string(out), "\n"); output == format.JSONL && n != 1 {
			t.Errorf("jsonl output is %d lines, want 1:\n%s", n, out)
		}
	}
	// The message printed is a copy: the response itself is untouched.
	if got := msg.ProtoReflect().Get(msg.Descriptor().Fields().ByName("detail")).Message().Interface(); !proto.Equal(got, dynamicOf(t, outer)) {
		t.Errorf("the response was changed: %v", got)
	}
}

// TestFormatterPlaceholderKeepsItsKeys: the placeholder's keys are @value
// and @error with --proto-names too, and a message that also holds fields
// its type does not define says so, as any message would.
func TestFormatterPlaceholderKeepsItsKeys(t *testing.T) {
	t.Parallel()
	msg := dynamicOf(t, &testpb.HiddenResponse{Detail: secretAny(t, protosetTypes(t))})
	msg.SetUnknown(protowire.AppendVarint(protowire.AppendTag(nil, 99, protowire.VarintType), 1))
	out, err := newFormatter(t, format.Options{Output: format.JSONL, ProtoNames: true}).Append(nil, msg)
	if !strings.Contains(string(out), `"@value":`) || !strings.Contains(string(out), `"@error":`) {
		t.Errorf("--proto-names: %s", out)
	}
	if err == nil || !strings.Contains(err.Error(), "nobody describes") || !strings.Contains(err.Error(), "numbers 99") {
		t.Errorf("error %v; want the unknown Any and field 99 named", err)
	}
}

// TestFormatterJSONFailureStaysJSON: a message JSON cannot show for another
// reason (a Timestamp out of range) is printed as one JSON object holding
// the error and the message's text form.
func TestFormatterJSONFailureStaysJSON(t *testing.T) {
	t.Parallel()
	msg := dynamicOf(t, &testpb.AllTypes{FString: "kept", When: &timestamppb.Timestamp{Seconds: -62135596801}})
	out, err := newFormatter(t, format.Options{Output: format.JSONL}).Append(nil, msg)
	var fallback *format.FallbackError
	if !errors.As(err, &fallback) || len(fallback.Unresolved) != 0 {
		t.Fatalf("error %v, want a FallbackError", err)
	}
	var got struct {
		Error string `json:"@error"`
		Text  string `json:"@text"`
	}
	if err := json.Unmarshal(out, &got); err != nil || strings.Count(string(out), "\n") != 1 {
		t.Fatalf("output is not one line of JSON (%v):\n%s", err, out)
	}
	if !strings.Contains(got.Error, "Timestamp") || !strings.Contains(got.Text, `f_string:"kept"`) || !strings.Contains(got.Text, "-62135596801") {
		t.Errorf("got %+v", got)
	}
}

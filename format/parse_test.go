package format_test

import (
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/grpcx/grpcx/format"
	"github.com/grpcx/grpcx/testserver/testpb"
)

// newMessage returns an empty dynamic message of a grpcx.test.v1 type, the
// kind of message the parser fills in production (built from descriptors,
// not generated code).
func newMessage(t *testing.T, name protoreflect.Name) *dynamicpb.Message {
	t.Helper()
	md := testpb.File_grpcx_test_v1_test_proto.Messages().ByName(name)
	if md == nil {
		t.Fatalf("no message %s in test.proto", name)
	}
	return dynamicpb.NewMessage(md)
}

// convert copies a dynamic message into a generated one through the wire
// format, so that expectations are checked without going through protojson.
func convert[T proto.Message](t *testing.T, from proto.Message, to T) T {
	t.Helper()
	b, err := proto.Marshal(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := proto.Unmarshal(b, to); err != nil {
		t.Fatal(err)
	}
	return to
}

// parseAll reads every value of input as an EchoRequest.
func parseAll(t *testing.T, input string, opts format.ParseOptions) ([]*testpb.EchoRequest, error) {
	t.Helper()
	p := format.NewJSONParser(strings.NewReader(input), opts)
	var got []*testpb.EchoRequest
	for {
		msg := newMessage(t, "EchoRequest")
		err := p.Next(msg)
		if err == io.EOF {
			if p.Count() != len(got) {
				t.Errorf("Count() = %d after %d values", p.Count(), len(got))
			}
			return got, nil
		}
		if err != nil {
			return got, err
		}
		got = append(got, convert(t, msg, &testpb.EchoRequest{}))
	}
}

func TestJSONParserValues(t *testing.T) {
	t.Parallel()
	ab := []*testpb.EchoRequest{{Message: "a", Number: 1}, {Message: "b", Number: 2}}
	tests := []struct {
		name  string
		input string
		want  []*testpb.EchoRequest
	}{
		{"one value", `{"message": "a", "number": 1}`, ab[:1]},
		{"newline separated", "{\"message\": \"a\", \"number\": 1}\n{\"message\": \"b\", \"number\": 2}\n", ab},
		{"space separated", `{"message": "a", "number": 1} {"message": "b", "number": 2}`, ab},
		{"tabs and CRLF", "\t{\"message\": \"a\", \"number\": 1}\r\n\t{\"message\": \"b\", \"number\": 2}\r\n", ab},
		{"pretty printed", `{
  "message": "a",
  "number": 1
}
{
  "message": "b",
  "number": 2
}
`, ab},
		{"surrounded by blank lines", "\n\n   {\"message\": \"a\", \"number\": 1}\n\n\n", ab[:1]},
		{"empty object is an empty request", `{}`, []*testpb.EchoRequest{{}}},
		{"numbers may be quoted", `{"message": "a", "number": 1} {"message": "b", "number": "2"}`, ab},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := parseAll(t, tt.input, format.ParseOptions{})
			if err != nil {
				t.Fatalf("Next: %v", err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d values %v, want %d %v", len(got), got, len(tt.want), tt.want)
			}
			for i := range got {
				if !proto.Equal(got[i], tt.want[i]) {
					t.Errorf("value %d = %v, want %v", i+1, got[i], tt.want[i])
				}
			}
		})
	}
}

func TestJSONParserEmptyInput(t *testing.T) {
	t.Parallel()
	for _, input := range []string{"", " ", "\n\n", " \t\r\n "} {
		t.Run(strings.NewReplacer("\n", `\n`, "\t", `\t`, "\r", `\r`).Replace(input), func(t *testing.T) {
			t.Parallel()
			p := format.NewJSONParser(strings.NewReader(input), format.ParseOptions{})
			for i := 0; i < 2; i++ { // io.EOF again when asked again
				if err := p.Next(newMessage(t, "EchoRequest")); err != io.EOF {
					t.Fatalf("Next #%d = %v, want io.EOF", i+1, err)
				}
			}
			if p.Count() != 0 {
				t.Errorf("Count() = %d, want 0", p.Count())
			}
		})
	}
}

// inputError asserts that err is an *InputError and returns it.
func inputError(t *testing.T, err error) *format.InputError {
	t.Helper()
	var ie *format.InputError
	if !errors.As(err, &ie) {
		t.Fatalf("error %v (%T) is not an *InputError", err, err)
	}
	return ie
}

// TestJSONParserErrors checks that each kind of bad request is reported with
// its number in the input and where it is. Columns are counted by hand:
// they point at the offending character, key or value.
func TestJSONParserErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		message      protoreflect.Name
		input        string
		index        int
		line, column int
		unknownField bool
		contains     []string
	}{
		{
			name:    "malformed first value",
			message: "EchoRequest", input: `{"message": "a",, "number": 1}`,
			index: 1, line: 1, column: 17,
			contains: []string{"malformed JSON"},
		},
		{
			name:    "malformed second value on line 2",
			message: "EchoRequest", input: "{\"number\": 1}\n{\"number\": ]}\n",
			index: 2, line: 2, column: 12,
			contains: []string{"malformed JSON", "']'"},
		},
		{
			name:    "malformed third value after pretty printed ones",
			message: "EchoRequest", input: "{\n  \"number\": 1\n}\n{\n  \"number\": 2\n}\n{\n  \"number\" 3\n}\n",
			index: 3, line: 8, column: 12,
			contains: []string{"malformed JSON"},
		},
		{
			name:    "unknown field on line 3",
			message: "EchoRequest", input: "{\"message\": \"a\"}\n{\"message\": \"b\",\n \"nope\": 1}\n",
			index: 2, line: 3, column: 2, unknownField: true,
			contains: []string{`"nope"`, "grpcx.test.v1.EchoRequest"},
		},
		{
			name:    "unknown field in second value of a line",
			message: "EchoRequest", input: `{"number": 1} {"bogus": true}`,
			index: 2, line: 1, column: 16, unknownField: true,
			contains: []string{`"bogus"`, "grpcx.test.v1.EchoRequest"},
		},
		{
			name:    "string for an int32",
			message: "EchoRequest", input: `{"number": "abc"}`,
			index: 1, line: 1, column: 12,
			contains: []string{"number", "int32", "grpcx.test.v1.EchoRequest"},
		},
		{
			name:    "bad enum name after a good value",
			message: "AllTypes", input: "{\"color\": \"COLOR_RED\"}\n\n  {\"color\": \"PURPLE\"}",
			index: 2, line: 3, column: 13,
			contains: []string{"enum field color", "PURPLE", "grpcx.test.v1.AllTypes"},
		},
		{
			name:    "a string for a list, on the value's third line",
			message: "AllTypes", input: "{}\n\n{\n  \"fInt32\": 1,\n  \"tags\": \"x\"\n}",
			index: 2, line: 5, column: 11,
			contains: []string{`unexpected token "x"`, "grpcx.test.v1.AllTypes"},
		},
		{
			name:    "invalid UTF-8",
			message: "EchoRequest", input: "{}\n{\"message\":\"\xff\"}",
			index: 2, line: 2, column: 12,
			contains: []string{"invalid UTF-8"},
		},
		{
			// Columns count characters, not bytes, in every kind of error:
			// é is two bytes.
			name:    "a type error after non-ASCII text",
			message: "AllTypes", input: `{"fString": "ééé", "fInt32": "x"}`,
			index: 1, line: 1, column: 30,
			contains: []string{"int32"},
		},
		{
			name:    "a syntax error after non-ASCII text",
			message: "AllTypes", input: `{"fString": "ééé", "fInt32": x}`,
			index: 1, line: 1, column: 30,
			contains: []string{"malformed JSON"},
		},
		{
			name:    "a type error in the second value of a line after non-ASCII text",
			message: "EchoRequest", input: `{"message": "ééé"} {"number": "x"}`,
			index: 2, line: 1, column: 31,
			contains: []string{"int32"},
		},
		{
			name:    "non-ASCII text on an earlier line does not count",
			message: "EchoRequest", input: "{\"message\": \"ééé\"}\n{\"message\": \"é\", \"number\": \"x\"}",
			index: 2, line: 2, column: 28,
			contains: []string{"int32"},
		},
		{
			// What was forgotten of a long line still counts, in characters.
			name:    "after a thousand non-ASCII values on one line",
			message: "EchoRequest", input: strings.Repeat(`{"message": "é"} `, 1000) + `{"number": "x"}`,
			index: 1001, line: 1, column: 17012,
			contains: []string{"int32"},
		},
		{
			name:    "an Any of an unknown type",
			message: "AllTypes", input: `{"any": {"@type": "type.googleapis.com/nope.Missing"}}`,
			index: 1, line: 1, column: 19,
			contains: []string{`the type of Any "type.googleapis.com/nope.Missing" is not known to the descriptor source: give its .proto with --proto`},
		},
		{
			name:    "half a surrogate pair",
			message: "EchoRequest", input: `{"message": "\ud83d"}`,
			index: 1, line: 1, column: 1,
			contains: []string{"half a UTF-16 surrogate pair"},
		},
		{
			name:    "requests in an array",
			message: "EchoRequest", input: `[{"message": "a"}, {"message": "b"}]`,
			index: 1, line: 1, column: 1,
			contains: []string{"one after another, not in a JSON array"},
		},
		{
			name:    "bad duration",
			message: "StreamRequest", input: `{"count": 1, "interval": "soon"}`,
			index: 1, line: 1, column: 26,
			contains: []string{"google.protobuf.Duration", "grpcx.test.v1.StreamRequest"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := format.NewJSONParser(strings.NewReader(tt.input), format.ParseOptions{})
			var err error
			for i := 0; i < tt.index && err == nil; i++ {
				err = p.Next(newMessage(t, tt.message))
			}
			if err == nil || err == io.EOF {
				t.Fatalf("Next = %v after %d values, want an error", err, tt.index)
			}
			ie := inputError(t, err)
			if ie.Index != tt.index || ie.Line != tt.line || ie.Column != tt.column {
				t.Errorf("error at request %d, line %d, column %d; want request %d, line %d, column %d\n%v",
					ie.Index, ie.Line, ie.Column, tt.index, tt.line, tt.column, err)
			}
			if ie.UnknownField != tt.unknownField {
				t.Errorf("UnknownField = %v, want %v (%v)", ie.UnknownField, tt.unknownField, err)
			}
			for _, s := range tt.contains {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not mention %s", err, s)
				}
			}
		})
	}
}

// TestJSONParserSkipsByteOrderMark: editors on some systems start a file
// with a UTF-8 byte order mark, which is no JSON value.
func TestJSONParserSkipsByteOrderMark(t *testing.T) {
	t.Parallel()
	p := format.NewJSONParser(strings.NewReader("\ufeff{\"message\": \"a\"}\n{\"message\": \"b\", \"x\": 1}"), format.ParseOptions{})
	msg := newMessage(t, "EchoRequest")
	if err := p.Next(msg); err != nil {
		t.Fatalf("first value after a byte order mark: %v", err)
	}
	err := p.Next(newMessage(t, "EchoRequest"))
	if ie := inputError(t, err); ie.Line != 2 || ie.Column != 18 {
		t.Errorf("error at line %d, column %d, want line 2, column 18: %v", ie.Line, ie.Column, err)
	}
}

func TestJSONParserErrorText(t *testing.T) {
	t.Parallel()
	p := format.NewJSONParser(strings.NewReader("{\"message\": \"a\"}\n{\"message\": \"b\",\n \"nope\": 1}\n"), format.ParseOptions{})
	if err := p.Next(newMessage(t, "EchoRequest")); err != nil {
		t.Fatal(err)
	}
	err := p.Next(newMessage(t, "EchoRequest"))
	want := `request 2 (line 3, column 2): unknown field "nope" (request type grpcx.test.v1.EchoRequest)`
	if err == nil || err.Error() != want {
		t.Errorf("error:\n got %v\nwant %s", err, want)
	}
}

func TestJSONParserTruncatedInput(t *testing.T) {
	t.Parallel()
	p := format.NewJSONParser(strings.NewReader("{\"number\": 1}\n{\"message\": \"a\""), format.ParseOptions{})
	if err := p.Next(newMessage(t, "EchoRequest")); err != nil {
		t.Fatal(err)
	}
	ie := inputError(t, p.Next(newMessage(t, "EchoRequest")))
	if ie.Index != 2 || !strings.Contains(ie.Message, "ends inside a value") || ie.Line != 2 || ie.Column != 1 {
		t.Errorf("got %v, want request 2 reported as ending inside a value that starts at line 2, column 1", ie)
	}
}

func TestJSONParserAllowUnknownFields(t *testing.T) {
	t.Parallel()
	input := "{\"message\": \"a\", \"nope\": {\"deep\": [1, 2]}, \"number\": 1}\n{\"extra\": true, \"number\": 2}"
	got, err := parseAll(t, input, format.ParseOptions{AllowUnknownFields: true})
	if err != nil {
		t.Fatalf("Next: %v", err)
	}
	want := []*testpb.EchoRequest{{Message: "a", Number: 1}, {Number: 2}}
	if len(got) != len(want) {
		t.Fatalf("got %d values, want %d", len(got), len(want))
	}
	for i := range want {
		if !proto.Equal(got[i], want[i]) {
			t.Errorf("value %d = %v, want %v", i+1, got[i], want[i])
		}
	}
	// Only unknown keys are forgiven, not wrong values of known ones.
	_, err = parseAll(t, `{"extra": 1, "number": "abc"}`, format.ParseOptions{AllowUnknownFields: true})
	if ie := inputError(t, err); ie.UnknownField {
		t.Errorf("a bad value is reported as an unknown field: %v", err)
	}
}

// TestJSONParserDoesNotWaitForMoreInput proves that a value is returned as
// soon as it is complete, while the writer still holds the input open: a
// bidi call sends each request as the user types it.
func TestJSONParserDoesNotWaitForMoreInput(t *testing.T) {
	t.Parallel()
	pr, pw := io.Pipe()
	t.Cleanup(func() { pw.Close() })
	p := format.NewJSONParser(pr, format.ParseOptions{})

	type result struct {
		msg *dynamicpb.Message
		err error
	}
	next := func() <-chan result {
		c := make(chan result, 1)
		go func() {
			msg := newMessage(t, "EchoRequest")
			err := p.Next(msg)
			c <- result{msg, err}
		}()
		return c
	}
	write := func(s string) {
		t.Helper()
		done := make(chan error, 1)
		go func() { _, err := io.WriteString(pw, s); done <- err }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("writing %q: the parser is not reading", s)
		}
	}
	wait := func(c <-chan result, what string) result {
		t.Helper()
		select {
		case r := <-c:
			return r
		case <-time.After(5 * time.Second):
			t.Fatalf("Next did not return %s", what)
			return result{}
		}
	}

	first := next()
	write(`{"message": "a",`)
	select {
	case r := <-first:
		t.Fatalf("Next returned %v before the value was complete", r.err)
	case <-time.After(50 * time.Millisecond):
	}
	write(` "number": 1}` + "\n")
	r := wait(first, "once the first value was complete")
	if r.err != nil {
		t.Fatal(r.err)
	}
	if got := convert(t, r.msg, &testpb.EchoRequest{}); !proto.Equal(got, &testpb.EchoRequest{Message: "a", Number: 1}) {
		t.Errorf("first value = %v", got)
	}

	second := next()
	write(`{"number": 2}`)
	r = wait(second, "once the second value was complete")
	if r.err != nil {
		t.Fatal(r.err)
	}
	if got := convert(t, r.msg, &testpb.EchoRequest{}); got.GetNumber() != 2 {
		t.Errorf("second value = %v", got)
	}

	third := next()
	pw.Close()
	if r := wait(third, "at the end of the input"); r.err != io.EOF {
		t.Errorf("Next at end = %v, want io.EOF", r.err)
	}
}

package repl

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/grpcx/grpcx/descsource"
)

// An Any typed at a field prompt is resolved through the session's
// descriptor source, as a call's JSON input is: a type only the source
// knows is accepted, and one compiled into grpcx but absent from the source
// is not.
func TestFillAnyResolvesThroughTheSource(t *testing.T) {
	dir := t.TempDir()
	proto := "syntax = \"proto3\";\npackage other;\nmessage Thing { string s = 1; }\n"
	if err := os.WriteFile(filepath.Join(dir, "thing.proto"), []byte(proto), 0o600); err != nil {
		t.Fatal(err)
	}
	src, err := descsource.FromProtoFiles(context.Background(), []string{dir}, []string{"thing.proto"})
	if err != nil {
		t.Fatal(err)
	}
	s := &Session{cfg: Config{Files: src}}
	var a anypb.Any
	if err := s.unmarshalJSONValue(`{"@type": "type.googleapis.com/other.Thing", "s": "filled"}`, &a); err != nil {
		t.Fatalf("a type of the source: %v", err)
	}
	if a.GetTypeUrl() != "type.googleapis.com/other.Thing" || len(a.GetValue()) == 0 {
		t.Errorf("got %v", &a)
	}
	err = s.unmarshalJSONValue(`{"@type": "type.googleapis.com/grpcx.test.hidden.v1.Secret"}`, &a)
	if err == nil || !strings.Contains(err.Error(), "unable to resolve") {
		t.Errorf("a type compiled into grpcx but not in the source: got %v, want unable to resolve", err)
	}
}

// A bytes answer is base64 even when it reads as a JSON number.
func TestFillBytesThatLookLikeANumber(t *testing.T) {
	s := testSession(t)
	src, _ := s.source()
	d, err := descsource.FindSymbol(src, "grpcx.test.v1.AllTypes")
	if err != nil {
		t.Fatal(err)
	}
	fd := d.(protoreflect.MessageDescriptor).Fields().ByName("f_bytes")
	v, err := parseScalar(fd, "1234")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := v.Bytes(), []byte{0xd7, 0x6d, 0xf8}; string(got) != string(want) {
		t.Errorf("1234 as bytes: got %x, want %x", got, want)
	}
}

// answers is a terminal's worth of answers: a line, or Ctrl-D (eof).
type answers struct {
	lines []string
	eof   map[int]bool // the answers that are Ctrl-D instead, by index
	n     int
}

func (a *answers) ReadLine(string) (string, error) {
	i := a.n
	a.n++
	if a.eof[i] {
		return "", io.EOF
	}
	if i >= len(a.lines) {
		return "", io.EOF
	}
	return a.lines[i], nil
}

func (a *answers) Output() (io.Writer, io.Writer) { return io.Discard, io.Discard }

// TestFillCtrlD: on a terminal, Ctrl-D ends a repeated field's entries and
// the filling goes on; at any other prompt it abandons the request, which
// is not sent half-filled.
func TestFillCtrlD(t *testing.T) {
	s := testSession(t)
	s.cfg.Interactive = true
	s.err = io.Discard
	src, _ := s.source()
	d, err := descsource.FindSymbol(src, "grpcx.test.v1.AllTypes.Nested")
	if err != nil {
		t.Fatal(err)
	}
	md := d.(protoreflect.MessageDescriptor)
	// name, values[0], values[1] (Ctrl-D), child: fill it?
	s.lines = newLineSource(&answers{lines: []string{"a", "1", "", "n"}, eof: map[int]bool{2: true}})
	msg := dynamicpb.NewMessage(md)
	if err := s.fill(context.Background(), msg); err != nil {
		t.Fatalf("Ctrl-D ending a list: %v", err)
	}
	if got := prototext.Format(msg); !strings.Contains(got, `name:`) || !strings.Contains(got, "values:") || strings.Count(got, "values:") != 1 {
		t.Errorf("filled %s, want the name and one value", got)
	}
	s.lines = newLineSource(&answers{eof: map[int]bool{0: true}})
	if err := s.fill(context.Background(), dynamicpb.NewMessage(md)); !errors.Is(err, errFillEnded) {
		t.Errorf("Ctrl-D at the first field: %v, want the request abandoned", err)
	}
	// In a script, the input's end in a list abandons the request too.
	s.cfg.Interactive = false
	s.lines = newLineSource(&answers{lines: []string{"a", "1"}})
	if err := s.fill(context.Background(), dynamicpb.NewMessage(md)); !errors.Is(err, errFillEnded) {
		t.Errorf("a script ending in a list: %v, want the request abandoned", err)
	}
}

// TestFillRequiredFields: a proto2 required field is asked again when left
// empty (in a script the empty answer fails the request), and a required
// message is filled without asking whether to: a request without them is
// refused.
func TestFillRequiredFields(t *testing.T) {
	fds, err := descsource.CompileSources(context.Background(), map[string]string{"req.proto": `syntax = "proto2";
package req.v1;
message Inner { optional int32 n = 1; }
message Base { required string req = 1; optional Base child = 2; required Inner inner = 3; }`}, []string{"req.proto"})
	if err != nil {
		t.Fatal(err)
	}
	md := fds[0].Messages().ByName("Base")
	s := testSession(t)
	s.cfg.Interactive = true
	s.err = io.Discard
	// req (empty, asked again), req, child: fill it?, inner.n
	s.lines = newLineSource(&answers{lines: []string{"", "r", "n", ""}})
	msg := dynamicpb.NewMessage(md)
	if err := s.fill(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
	if err := proto.CheckInitialized(msg); err != nil {
		t.Errorf("filled %v: %v", prototext.Format(msg), err)
	}
	s.cfg.Interactive = false
	s.lines = newLineSource(&answers{lines: []string{""}})
	if err := s.fill(context.Background(), dynamicpb.NewMessage(md)); err == nil || !strings.Contains(err.Error(), "req is a required field") {
		t.Errorf("a script leaving a required field empty: %v", err)
	}
}

// TestFillRequiredRecursion: a required field whose type requires itself
// in turn (directly or through others) can never be complete: filling it
// fails at once, rather than filling forever.
func TestFillRequiredRecursion(t *testing.T) {
	fds, err := descsource.CompileSources(context.Background(), map[string]string{"rec.proto": `syntax = "proto2";
package rec.v1;
message R { required R r = 1; }
message A { optional string s = 1; required B b = 2; }
message B { required A a = 1; }
message Top { optional A a = 1; }`}, []string{"rec.proto"})
	if err != nil {
		t.Fatal(err)
	}
	s := testSession(t)
	s.cfg.Interactive = true
	s.err = io.Discard
	for _, name := range []protoreflect.Name{"R", "A"} {
		s.lines = newLineSource(&answers{lines: []string{"x", "y"}})
		err := s.fill(context.Background(), dynamicpb.NewMessage(fds[0].Messages().ByName(name)))
		if err == nil || !strings.Contains(err.Error(), "no request of it can be complete") {
			t.Errorf("%s: %v", name, err)
		}
	}
}

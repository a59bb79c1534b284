package repl

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"
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

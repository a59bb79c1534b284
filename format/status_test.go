package format_test

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/grpcx/grpcx/descsource"
	"github.com/grpcx/grpcx/format"
)

func writeStatus(t *testing.T, st *status.Status, res format.Resolver) string {
	t.Helper()
	var b strings.Builder
	if err := format.WriteStatus(&b, st, res); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestWriteStatusWithoutDetails(t *testing.T) {
	t.Parallel()
	got := writeStatus(t, status.New(codes.NotFound, "no such thing"), descsource.WellKnownTypes())
	want := "ERROR:\n  Code: NotFound\n  Message: no such thing\n"
	if got != want {
		t.Errorf("output:\n%s\nwant:\n%s", got, want)
	}
}

func TestWriteStatusDetails(t *testing.T) {
	t.Parallel()
	info, err := anypb.New(&errdetails.ErrorInfo{Reason: "TEST_FAILURE", Domain: "grpcx.test"})
	if err != nil {
		t.Fatal(err)
	}
	raw := []byte{0x0a, 0x03, 'a', 'b', 'c', 0x10, 0x07}
	unknown := &anypb.Any{TypeUrl: "type.googleapis.com/example.v1.Unknown", Value: raw}
	st := status.FromProto(&spb.Status{
		Code:    int32(codes.FailedPrecondition),
		Message: "not yet",
		Details: []*anypb.Any{info, unknown},
	})

	got := writeStatus(t, st, descsource.WellKnownTypes())

	wantPrefix := `ERROR:
  Code: FailedPrecondition
  Message: not yet
  Details:
  1) {
       "@type": "type.googleapis.com/google.rpc.ErrorInfo",
       "reason": "TEST_FAILURE",
       "domain": "grpcx.test"
     }
  2) {
`
	if !strings.HasPrefix(got, wantPrefix) {
		t.Fatalf("output:\n%s\nwant it to start with:\n%s", got, wantPrefix)
	}
	// The second detail cannot be decoded; it must keep its type and bytes.
	second := "{\n" + strings.TrimPrefix(got, wantPrefix)
	var fields map[string]string
	if err := json.Unmarshal([]byte(second), &fields); err != nil {
		t.Fatalf("unresolvable detail is not a JSON object: %v\n%s", err, second)
	}
	if fields["@type"] != unknown.TypeUrl {
		t.Errorf("@type = %q, want %q", fields["@type"], unknown.TypeUrl)
	}
	if want := base64.StdEncoding.EncodeToString(raw); fields["@value"] != want {
		t.Errorf("@value = %q, want %q", fields["@value"], want)
	}
	for _, line := range strings.Split(strings.TrimSuffix(second, "\n"), "\n")[1:] {
		if !strings.HasPrefix(line, "     ") {
			t.Errorf("detail line %q is not indented under its number", line)
		}
	}
}

// TestWriteStatusResolver shows the resolver decides what is decoded: the
// same detail is raw without the type and decoded with it.
func TestWriteStatusResolver(t *testing.T) {
	t.Parallel()
	types := protosetTypes(t)
	st := status.FromProto(&spb.Status{
		Code:    int32(codes.NotFound),
		Message: "gone",
		Details: []*anypb.Any{secretAny(t, types)},
	})
	decoded := writeStatus(t, st, descsource.ChainTypes(descsource.WellKnownTypes(), types))
	if !strings.Contains(decoded, `"code": "s3cret"`) || strings.Contains(decoded, "@value") {
		t.Errorf("with the protoset types the detail is not decoded:\n%s", decoded)
	}
	raw := writeStatus(t, st, descsource.WellKnownTypes())
	if !strings.Contains(raw, `"@value"`) || !strings.Contains(raw, "grpcx.test.hidden.v1.Secret") {
		t.Errorf("without the type the detail is not shown raw:\n%s", raw)
	}
}

func TestStatusJSON(t *testing.T) {
	t.Parallel()
	info, err := anypb.New(&errdetails.ErrorInfo{Reason: "R"})
	if err != nil {
		t.Fatal(err)
	}
	unknown := &anypb.Any{TypeUrl: "type.googleapis.com/example.v1.Unknown", Value: []byte{0x08, 0x01}}
	st := status.FromProto(&spb.Status{Code: int32(codes.NotFound), Message: `say "hi"`, Details: []*anypb.Any{info, unknown}})

	var got struct {
		Code    int                 `json:"code"`
		Name    string              `json:"name"`
		Message string              `json:"message"`
		Details []map[string]string `json:"details"`
	}
	out := format.StatusJSON(st, descsource.WellKnownTypes())
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("StatusJSON is not JSON: %v\n%s", err, out)
	}
	if got.Code != 5 || got.Name != "NotFound" || got.Message != `say "hi"` || len(got.Details) != 2 {
		t.Fatalf("StatusJSON = %+v", got)
	}
	if got.Details[0]["@type"] != "type.googleapis.com/google.rpc.ErrorInfo" || got.Details[0]["reason"] != "R" {
		t.Errorf("decoded detail = %v", got.Details[0])
	}
	if got.Details[1]["@type"] != unknown.TypeUrl || got.Details[1]["@value"] != "CAE=" {
		t.Errorf("raw detail = %v", got.Details[1])
	}
}

package format_test

import (
	"io"
	"regexp"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"

	"github.com/grpcx/grpcx/format"
	"github.com/grpcx/grpcx/testserver/testpb"
)

// recordingWriter keeps each Write separately, to show when output was
// flushed.
type recordingWriter struct{ writes []string }

func (w *recordingWriter) Write(p []byte) (int, error) {
	w.writes = append(w.writes, string(p))
	return len(p), nil
}

func TestCallPrinterFlushesEachResponse(t *testing.T) {
	t.Parallel()
	w := &recordingWriter{}
	p := format.NewCallPrinter(w, io.Discard, newFormatter(t, format.Options{Output: format.JSONL}), 0)
	p.OnSendHeaders(metadata.MD{})
	p.OnReceiveHeaders(metadata.Pairs("x-h", "1"))
	for i := int32(0); i < 3; i++ {
		p.OnReceiveResponse(dynamicOf(t, &testpb.EchoResponse{Number: i}))
		if len(w.writes) != int(i)+1 {
			t.Fatalf("after response %d the writer saw %d writes: %q", i+1, len(w.writes), w.writes)
		}
	}
	p.OnReceiveTrailers(status.New(codes.OK, ""), metadata.Pairs("x-t", "2"))

	want := []string{"{}\n", "{\"number\":1}\n", "{\"number\":2}\n"}
	if strings.Join(w.writes, "|") != strings.Join(want, "|") {
		t.Errorf("writes %q, want %q", w.writes, want)
	}
	if p.Count != 3 || p.Err() != nil {
		t.Errorf("Count = %d, Err = %v; want 3, nil", p.Count, p.Err())
	}
	if p.Header.Get("x-h")[0] != "1" || p.Trailer.Get("x-t")[0] != "2" || p.Status.Code() != codes.OK {
		t.Errorf("kept header %v, trailer %v, status %v", p.Header, p.Trailer, p.Status)
	}
}

// TestCallPrinterShowsEmptyTextMessages: text format renders a message
// with no field set as nothing, so a stream of them would print blank
// lines, and one empty response nothing at all.
func TestCallPrinterShowsEmptyTextMessages(t *testing.T) {
	t.Parallel()
	var out strings.Builder
	p := format.NewCallPrinter(&out, io.Discard, newFormatter(t, format.Options{Output: format.Text}), format.DefaultFlushDelay)
	p.OnReceiveResponse(dynamicOf(t, &testpb.EchoResponse{}))
	p.OnReceiveResponse(dynamicOf(t, &testpb.EchoResponse{Number: 2}))
	p.OnReceiveResponse(dynamicOf(t, &testpb.EchoResponse{}))
	p.OnReceiveTrailers(status.New(codes.OK, ""), nil)
	shape := regexp.MustCompile(`^# empty message\n\nnumber: +2\n\n# empty message\n$`)
	if !shape.MatchString(out.String()) {
		t.Fatalf("output %q, want each empty message shown as a comment (%s)", out.String(), shape)
	}
	// The output still parses as text format: the comment is skipped.
	var back testpb.EchoResponse
	if err := prototext.Unmarshal([]byte(strings.SplitN(out.String(), "\n\n", 2)[0]), &back); err != nil || proto.Size(&back) != 0 {
		t.Errorf("the empty message's text parses to %v, %v; want an empty message", &back, err)
	}
}

func TestCallPrinterSeparatesTextMessages(t *testing.T) {
	t.Parallel()
	var out strings.Builder
	p := format.NewCallPrinter(&out, io.Discard, newFormatter(t, format.Options{Output: format.Text}), format.DefaultFlushDelay)
	p.OnReceiveResponse(dynamicOf(t, &testpb.EchoResponse{Number: 1}))
	p.OnReceiveResponse(dynamicOf(t, &testpb.EchoResponse{Number: 2}))
	p.OnReceiveTrailers(status.New(codes.OK, ""), nil)
	// prototext varies the spaces after a colon, nothing else.
	shape := regexp.MustCompile(`^number: +1\n\nnumber: +2\n$`)
	if !shape.MatchString(out.String()) {
		t.Errorf("output %q, want two messages separated by one empty line (%s)", out.String(), shape)
	}
}

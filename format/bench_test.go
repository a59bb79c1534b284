package format

import (
	"io"
	"strings"
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/grpcx/grpcx/testserver/testpb"
)

// The per-message hot paths of a streaming call: one JSON request value in,
// one response out, on dynamic messages as in production.

func BenchmarkJSONParserNext(b *testing.B) {
	md := testpb.File_grpcx_test_v1_test_proto.Messages().ByName("EchoRequest")
	line := `{"message": "hello, stream", "number": 12345}` + "\n"
	input := strings.Repeat(line, 1024)
	msg := dynamicpb.NewMessage(md)
	b.ReportAllocs()
	b.SetBytes(int64(len(line)))
	var p *JSONParser
	for i := 0; i < b.N; i++ {
		if i%1024 == 0 {
			p = NewJSONParser(strings.NewReader(input), ParseOptions{})
		}
		if err := p.Next(msg); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkFormatterAppend(b *testing.B) {
	for _, out := range []Output{JSON, JSONL} {
		b.Run(string(out), func(b *testing.B) {
			md := testpb.File_grpcx_test_v1_test_proto.Messages().ByName("EchoResponse")
			msg := dynamicpb.NewMessage(md)
			msg.Set(md.Fields().ByName("message"), protoreflect.ValueOfString("hello, stream"))
			msg.Set(md.Fields().ByName("number"), protoreflect.ValueOfInt32(12345))
			msg.Set(md.Fields().ByName("index"), protoreflect.ValueOfInt32(67))
			f, err := NewFormatter(Options{Output: out})
			if err != nil {
				b.Fatal(err)
			}
			var buf []byte
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if buf, err = f.Append(buf[:0], msg); err != nil {
					b.Fatal(err)
				}
			}
			b.SetBytes(int64(len(buf)))
		})
	}
}

func BenchmarkCallPrinter(b *testing.B) {
	md := testpb.File_grpcx_test_v1_test_proto.Messages().ByName("EchoResponse")
	msg := dynamicpb.NewMessage(md)
	msg.Set(md.Fields().ByName("message"), protoreflect.ValueOfString("hello, stream"))
	f, _ := NewFormatter(Options{Output: JSONL})
	p := NewCallPrinter(io.Discard, io.Discard, f, DefaultFlushDelay)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		p.OnReceiveResponse(msg)
	}
	p.OnReceiveTrailers(nil, nil)
}

package format

import (
	"bufio"
	"errors"
	"fmt"
	"io"

	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// CallPrinter prints the events of a call: each response message to Out as
// it arrives, in the chosen format. It satisfies invoke.Handler. It keeps the
// final status and trailers for the caller, which decides how to report a
// failure once the call has returned.
type CallPrinter struct {
	out     *bufio.Writer
	warn    io.Writer
	f       *Formatter
	buf     []byte
	err     error
	Status  *status.Status // the call's final status, once it has ended
	Header  metadata.MD    // the response headers, if any arrived
	Trailer metadata.MD    // the response trailers, once the call has ended
	Count   int            // how many responses arrived
}

// NewCallPrinter returns a printer writing responses to out with f, and
// warnings (a response that had to be printed in text format) to warn.
func NewCallPrinter(out, warn io.Writer, f *Formatter) *CallPrinter {
	return &CallPrinter{out: bufio.NewWriterSize(out, 64<<10), warn: warn, f: f}
}

// OnSendHeaders does nothing: request metadata is shown only in verbose mode.
func (p *CallPrinter) OnSendHeaders(metadata.MD) {}

// OnReceiveHeaders keeps the response headers.
func (p *CallPrinter) OnReceiveHeaders(md metadata.MD) { p.Header = md }

// OnReceiveResponse prints msg and flushes, so that each message of a slow
// stream shows as soon as it arrives.
func (p *CallPrinter) OnReceiveResponse(msg proto.Message) {
	p.Count++
	if p.err != nil {
		return
	}
	var err error
	p.buf, err = p.f.Append(p.buf[:0], msg)
	var fallback *FallbackError
	if errors.As(err, &fallback) {
		fmt.Fprintf(p.warn, "grpcx: warning: response %d %v; give the missing type's .proto with --proto\n", p.Count, err)
	} else if err != nil {
		p.err = fmt.Errorf("format response %d: %w", p.Count, err)
		return
	}
	if p.f.output == Text && p.Count > 1 {
		p.out.WriteByte('\n')
	}
	p.out.Write(p.buf)
	if err := p.out.Flush(); err != nil {
		p.err = fmt.Errorf("write response %d: %w", p.Count, err)
	}
}

// OnReceiveTrailers keeps the final status and trailers.
func (p *CallPrinter) OnReceiveTrailers(st *status.Status, md metadata.MD) {
	p.Status, p.Trailer = st, md
	p.out.Flush()
}

// Err returns the first error met while printing responses.
func (p *CallPrinter) Err() error { return p.err }

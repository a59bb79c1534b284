package format

import (
	"fmt"
	"io"
	"time"

	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// CallPrinter prints the events of a call: each response message to Out as
// it arrives, in the chosen format. It satisfies invoke.Handler. It keeps the
// final status and trailers for the caller, which decides how to report a
// failure once the call has returned.
type CallPrinter struct {
	out     *delayedWriter
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
// warnings (a response that had to be printed in text format, or whose
// unknown fields JSON left out) to warn. Each
// response reaches out within flushDelay of its arrival (see
// [DefaultFlushDelay]); zero flushes each one before the next is handled.
func NewCallPrinter(out, warn io.Writer, f *Formatter, flushDelay time.Duration) *CallPrinter {
	return &CallPrinter{out: newDelayedWriter(out, flushDelay), warn: warn, f: f}
}

// OnSendHeaders does nothing: request metadata is shown only in verbose mode.
func (p *CallPrinter) OnSendHeaders(metadata.MD) {}

// OnReceiveHeaders keeps the response headers.
func (p *CallPrinter) OnReceiveHeaders(md metadata.MD) { p.Header = md }

// OnReceiveResponse prints msg. It is flushed within the printer's flush
// delay, so each message of a slow stream shows as soon as it arrives while
// a fast stream is written in large chunks.
func (p *CallPrinter) OnReceiveResponse(msg proto.Message) {
	p.Count++
	if p.err != nil {
		return
	}
	var err error
	p.buf, err = p.f.Append(p.buf[:0], msg)
	if warning, ok := appendWarning(err, p.Count); ok {
		io.WriteString(p.warn, warning)
	} else if err != nil {
		p.err = fmt.Errorf("format response %d: %w", p.Count, err)
		return
	}
	if p.f.output == Text && p.Count > 1 {
		p.out.Write(newline) // an empty line between text messages
	}
	if _, err := p.out.Write(p.buf); err != nil {
		p.err = fmt.Errorf("write response %d: %w", p.Count, err)
	}
}

// OnReceiveTrailers keeps the final status and trailers.
func (p *CallPrinter) OnReceiveTrailers(st *status.Status, md metadata.MD) {
	p.Status, p.Trailer = st, md
	if err := p.out.Flush(); err != nil && p.err == nil {
		p.err = fmt.Errorf("write responses: %w", err)
	}
}

// Err returns the first error met while printing responses.
func (p *CallPrinter) Err() error { return p.err }

var newline = []byte{'\n'}

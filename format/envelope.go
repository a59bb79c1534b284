package format

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// EnvelopePrinter prints a whole call as one JSON document: the method,
// request and response metadata, every response, the trailers, the status
// with its details and the elapsed time. The document is written as the
// call goes, each response as it arrives, so a long stream needs no memory
// and a reader sees progress; it is valid JSON once the call has ended.
type EnvelopePrinter struct {
	out         *bufio.Writer
	warn        io.Writer
	f           *Formatter
	res         Resolver
	method      string
	showSecrets bool

	start    time.Time
	started  bool
	headers  bool
	status   bool // the trailers and status are written
	count    int
	finished bool
	buf      []byte
	indented bytes.Buffer
	err      error
}

// NewEnvelopePrinter returns a printer for a call of method (its HTTP/2 path)
// writing to out, and warnings (as [NewCallPrinter] does) to warn. f
// renders the responses and must produce JSON; res decodes status details.
func NewEnvelopePrinter(out, warn io.Writer, method string, f *Formatter, res Resolver, showSecrets bool) *EnvelopePrinter {
	return &EnvelopePrinter{out: bufio.NewWriter(out), warn: warn, f: f, res: res, method: method, showSecrets: showSecrets}
}

// OnSendHeaders opens the document.
func (p *EnvelopePrinter) OnSendHeaders(md metadata.MD) {
	p.start, p.started = time.Now(), true
	method, _ := json.Marshal(p.method)
	fmt.Fprintf(p.out, "{\n  \"method\": %s,\n  \"requestHeaders\": %s", method, p.metadataJSON(md))
}

// OnReceiveHeaders adds the response headers.
func (p *EnvelopePrinter) OnReceiveHeaders(md metadata.MD) {
	p.headers = true
	fmt.Fprintf(p.out, ",\n  \"responseHeaders\": %s", p.metadataJSON(md))
}

// OnReceiveResponse adds one response and flushes.
func (p *EnvelopePrinter) OnReceiveResponse(msg proto.Message) {
	if !p.headers {
		p.OnReceiveHeaders(nil)
	}
	if p.count == 0 {
		p.out.WriteString(",\n  \"responses\": [\n    ")
	} else {
		p.out.WriteString(",\n    ")
	}
	p.count++
	var err error
	p.buf, err = p.f.Append(p.buf[:0], msg)
	if warning, ok := appendWarning(err, p.count); ok {
		// Flushed first, so that the warning follows what came before.
		p.out.Flush()
		io.WriteString(p.warn, warning)
	} else if err != nil && p.err == nil {
		p.err = fmt.Errorf("format response %d: %w", p.count, err)
	}
	p.indented.Reset()
	if json.Indent(&p.indented, bytes.TrimSpace(p.buf), "    ", "  ") != nil {
		quoted, _ := json.Marshal(string(p.buf))
		p.out.Write(quoted)
	} else {
		p.out.Write(p.indented.Bytes())
	}
	p.out.Flush()
}

// OnReceiveTrailers adds the trailers and the status; [EnvelopePrinter.Close]
// ends the document.
func (p *EnvelopePrinter) OnReceiveTrailers(st *status.Status, md metadata.MD) {
	p.closeResponses()
	fmt.Fprintf(p.out, ",\n  \"trailers\": %s", p.metadataJSON(md))
	stJSON := strings.ReplaceAll(string(StatusJSON(st, p.res)), "\n", "\n  ")
	fmt.Fprintf(p.out, ",\n  \"status\": %s", stJSON)
	p.status = true
	p.out.Flush()
}

// Close ends the document once the call is over, with the elapsed time
// and, when cause is not nil, an "error" saying what ended the call other
// than the server's status: bad input before the call (which has no
// status), or in the middle of a stream (whose status is then Canceled).
func (p *EnvelopePrinter) Close(cause error) {
	if !p.started || p.finished {
		return
	}
	if !p.status {
		p.closeResponses()
	}
	var text string
	if cause != nil {
		text = cause.Error()
	}
	p.finish(text)
}

func (p *EnvelopePrinter) closeResponses() {
	if !p.headers {
		p.OnReceiveHeaders(nil)
	}
	if p.count == 0 {
		p.out.WriteString(",\n  \"responses\": []")
	} else {
		p.out.WriteString("\n  ]")
	}
}

func (p *EnvelopePrinter) finish(errText string) {
	if errText != "" {
		e, _ := json.Marshal(errText)
		fmt.Fprintf(p.out, ",\n  \"error\": %s", e)
	}
	ms := float64(time.Since(p.start).Microseconds()) / 1000
	fmt.Fprintf(p.out, ",\n  \"elapsedMs\": %.3f\n}\n", ms)
	p.finished = true
	p.out.Flush()
}

// Err returns the first error met while printing responses, writing them
// included (the output is buffered, and a failed write fails every one
// after it, so the first is the one to report).
func (p *EnvelopePrinter) Err() error {
	if p.err != nil {
		return p.err
	}
	if err := p.out.Flush(); err != nil {
		return fmt.Errorf("write responses: %w", err)
	}
	return nil
}

// metadataJSON renders metadata as an object of name to values, binary
// values in base64 and secrets masked.
func (p *EnvelopePrinter) metadataJSON(md metadata.MD) string {
	if len(md) == 0 {
		return "{}"
	}
	names := make([]string, 0, len(md))
	for k := range md {
		names = append(names, k)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString("{")
	for i, k := range names {
		if i > 0 {
			b.WriteString(",")
		}
		vals := make([]string, len(md[k]))
		for j, v := range md[k] {
			switch {
			case !p.showSecrets && IsSecret(k):
				v = Mask(v)
			case strings.HasSuffix(k, "-bin"):
				v = base64.StdEncoding.EncodeToString([]byte(v))
			}
			vals[j] = v
		}
		name, _ := json.Marshal(k)
		values, _ := json.Marshal(vals)
		fmt.Fprintf(&b, "\n    %s: %s", name, values)
	}
	b.WriteString("\n  }")
	return b.String()
}

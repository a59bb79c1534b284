package load

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"text/template"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/grpcx/grpcx/format"
)

// Requests is the request data of a run: a stream of JSON values for the
// method's input type. Without "{{" in the data the values are parsed and
// encoded once, and every call sends those bytes. With it, the data is a
// text/template, parsed once and executed for each call, whose fields are
// those of [TemplateData] and whose functions are randomString N and
// randomInt MIN MAX.
type Requests struct {
	input   protoreflect.MessageDescriptor
	opts    format.ParseOptions
	encoded [][]byte           // the values, encoded; nil with a template
	tmpl    *template.Template // nil without one
}

// TemplateData is what a request template sees.
type TemplateData struct {
	// RequestNumber counts the calls of the run from 0, warm-up included.
	RequestNumber int64
	// WorkerID is the number of the worker making the call, from 0.
	WorkerID int
	// Timestamp is the time the call starts, in RFC 3339 format (UTC, with
	// nanoseconds), which is also the JSON form of google.protobuf.Timestamp.
	Timestamp string
}

// templateFuncs are the functions a request template can call. They use
// math/rand/v2's global generator, which needs no lock.
var templateFuncs = template.FuncMap{
	"randomString": randomString,
	"randomInt":    randomInt,
}

const randomLetters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

// randomString returns n random letters and digits, safe in a JSON string.
func randomString(n int) string {
	b := make([]byte, max(n, 0))
	for i := range b {
		b[i] = randomLetters[rand.IntN(len(randomLetters))]
	}
	return string(b)
}

// randomInt returns a random integer from lo to hi, both included.
func randomInt(lo, hi int64) (int64, error) {
	if hi < lo {
		return 0, fmt.Errorf("randomInt %d %d: the maximum is below the minimum", lo, hi)
	}
	if span := hi - lo + 1; span > 0 {
		return lo + rand.Int64N(span), nil
	}
	for { // a range wider than int64 can count: draw until inside
		if v := int64(rand.Uint64()); v >= lo && v <= hi {
			return v, nil
		}
	}
}

// NewRequests prepares data, a stream of JSON values for messages of type
// input. Without a template the values are parsed now, so that a bad one
// fails here; a template is parsed and executed once as call 0 of worker 0
// to check it. No data at all means one empty message.
func NewRequests(data string, input protoreflect.MessageDescriptor, opts format.ParseOptions) (*Requests, error) {
	r := &Requests{input: input, opts: opts}
	if !strings.Contains(data, "{{") {
		enc, err := r.encode(strings.NewReader(data), nil)
		if err != nil {
			return nil, err
		}
		r.encoded = enc
		return r, nil
	}
	tmpl, err := template.New("data").Funcs(templateFuncs).Option("missingkey=error").Parse(data)
	if err != nil {
		return nil, fmt.Errorf("request template: %w", err)
	}
	r.tmpl = tmpl
	if _, err := r.newExpander(0).expand(0); err != nil {
		return nil, err
	}
	return r, nil
}

// Templated reports whether the requests come from a template.
func (r *Requests) Templated() bool { return r.tmpl != nil }

// encode parses every JSON value of in and appends its encoding to into,
// reusing its storage. No value at all gives one empty message.
func (r *Requests) encode(in io.Reader, into [][]byte) ([][]byte, error) {
	p := format.NewJSONParser(in, r.opts)
	msg := dynamicpb.NewMessage(r.input)
	n := 0
	for {
		err := p.Next(msg)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("request data: %w", err)
		}
		var buf []byte
		if n < len(into) {
			buf = into[n][:0]
		}
		buf, err = proto.MarshalOptions{}.MarshalAppend(buf, msg)
		if err != nil {
			return nil, fmt.Errorf("request data: encode request %d: %w", n+1, err)
		}
		if n < len(into) {
			into[n] = buf
		} else {
			into = append(into, buf)
		}
		n++
	}
	if n == 0 {
		return [][]byte{{}}, nil
	}
	return into[:n], nil
}

// expander executes the template of one worker, reusing its buffers; it
// is not safe for concurrent use.
type expander struct {
	r       *Requests
	data    TemplateData
	text    bytes.Buffer
	encoded [][]byte
}

func (r *Requests) newExpander(worker int) *expander {
	return &expander{r: r, data: TemplateData{WorkerID: worker}}
}

// expand executes the template for call n and returns the encoded values,
// valid until the next call.
func (e *expander) expand(n int64) ([][]byte, error) {
	e.data.RequestNumber = n
	e.data.Timestamp = time.Now().UTC().Format(time.RFC3339Nano)
	e.text.Reset()
	if err := e.r.tmpl.Execute(&e.text, &e.data); err != nil {
		return nil, fmt.Errorf("request template: %w", err)
	}
	enc, err := e.r.encode(bytes.NewReader(e.text.Bytes()), e.encoded)
	if err != nil {
		return nil, fmt.Errorf("%w (after template expansion: %s)", err, firstLine(e.text.String()))
	}
	e.encoded = enc
	return enc, nil
}

func firstLine(s string) string {
	const limit = 200
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > limit {
		s = s[:limit] + "…"
	}
	return s
}

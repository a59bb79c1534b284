// Package format turns user input into request messages and messages,
// statuses and metadata into text. The cmd and repl packages use it to parse
// what the user typed and to print what the server sent; it never touches a
// connection and writes only to the io.Writers it is given.
package format

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// Resolver finds message types (for google.protobuf.Any) and extensions.
// descsource.TypeResolver satisfies it.
type Resolver interface {
	protoregistry.MessageTypeResolver
	protoregistry.ExtensionTypeResolver
}

// ParseOptions configures a request parser.
type ParseOptions struct {
	// AllowUnknownFields ignores JSON keys the message type does not have
	// instead of failing on them.
	AllowUnknownFields bool
	// Resolver resolves the types named in Any values; nil means the global
	// registry.
	Resolver Resolver
}

// InputError reports a request the parser could not turn into a message. It
// says which value of the input it was and where.
type InputError struct {
	Index        int    // 1-based number of the value in the input
	Line, Column int    // 1-based position in the whole input; 0 when unknown
	Message      string // what was wrong, without position
	UnknownField bool   // the value named a field the message does not have
}

func (e *InputError) Error() string {
	if e.Line == 0 {
		return fmt.Sprintf("request %d: %s", e.Index, e.Message)
	}
	return fmt.Sprintf("request %d (line %d, column %d): %s", e.Index, e.Line, e.Column, e.Message)
}

// JSONParser reads a stream of JSON values separated by any white space and
// unmarshals each into a message. Each value is returned as soon as it has
// been read, so requests can be sent while the user is still typing.
type JSONParser struct {
	in    *lineTracker
	dec   *json.Decoder
	opts  protojson.UnmarshalOptions
	raw   json.RawMessage
	count int
	err   error // a syntax error ends the input: the decoder cannot resync
}

// NewJSONParser returns a parser reading r. A UTF-8 byte order mark at the
// start of r is skipped.
func NewJSONParser(r io.Reader, opts ParseOptions) *JSONParser {
	in := &lineTracker{r: &bomSkipper{r: r}}
	dec := json.NewDecoder(in)
	return &JSONParser{
		in:  in,
		dec: dec,
		opts: protojson.UnmarshalOptions{
			DiscardUnknown: opts.AllowUnknownFields,
			Resolver:       opts.Resolver,
		},
	}
}

// Next fills msg with the next value of the input. It returns io.EOF when
// the input holds no more values, and an *InputError when a value is
// malformed or does not fit msg's type.
func (p *JSONParser) Next(msg proto.Message) error {
	if p.err != nil {
		return p.err
	}
	p.raw = p.raw[:0]
	err := p.dec.Decode(&p.raw)
	if err == io.EOF {
		return io.EOF
	}
	p.count++
	if err != nil {
		p.err = p.syntaxError(err)
		return p.err
	}
	end := p.dec.InputOffset()
	start := end - int64(len(p.raw))
	line, col := p.in.position(start)
	p.in.forget(start)
	if err := p.opts.Unmarshal(p.raw, keepStorage{msg.ProtoReflect()}); err != nil {
		return p.valueError(err, msg, line, col)
	}
	return nil
}

// keepStorage is a message without a Reset method, so that protojson,
// which resets the message before filling it, clears its fields instead:
// a dynamic message's Reset allocates new maps, which a stream of requests
// would do for every one.
type keepStorage struct{ m protoreflect.Message }

func (k keepStorage) ProtoReflect() protoreflect.Message { return k.m }

// Count returns how many values Next has read so far.
func (p *JSONParser) Count() int { return p.count }

func (p *JSONParser) syntaxError(err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		line, col := p.in.position(se.Offset - 1)
		return &InputError{Index: p.count, Line: line, Column: col, Message: "malformed JSON: " + se.Error()}
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		// Where the unfinished value starts: after the white space that
		// follows the last whole value, which the decoder holds still.
		start := p.dec.InputOffset()
		rest := p.dec.Buffered()
		for b := [1]byte{}; ; start++ {
			if n, _ := rest.Read(b[:]); n == 0 || !bytes.ContainsRune([]byte(" \t\r\n"), rune(b[0])) {
				break
			}
		}
		line, col := p.in.position(start)
		return &InputError{Index: p.count, Line: line, Column: col, Message: "malformed JSON: input ends inside a value that starts here"}
	}
	return &InputError{Index: p.count, Message: fmt.Sprintf("read input: %v", err)}
}

// protojsonPos matches the prefix of protojson's errors ("proto:", then
// "syntax error" for a value of the wrong JSON kind, then the position),
// whose separator is deliberately unstable (a space or a no-break space).
// It is compiled on first use, by a bad request, not at every start-up.
var protojsonPos = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^proto:[\s\x{00a0}]*(?:syntax error[\s\x{00a0}]*)?(?:\(line (\d+):(\d+)\):[\s\x{00a0}]*)?`)
})

// surrogateEscape matches a \u escape of a UTF-16 surrogate.
var surrogateEscape = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`\\u[dD][89a-fA-F][0-9a-fA-F]{2}`)
})

func (p *JSONParser) valueError(err error, msg proto.Message, line, col int) error {
	text := err.Error()
	e := &InputError{Index: p.count, Line: line, Column: col}
	if m := protojsonPos().FindStringSubmatch(text); m != nil {
		text = text[len(m[0]):]
		if m[1] != "" {
			l, _ := strconv.Atoi(m[1])
			c, _ := strconv.Atoi(m[2])
			if l > 1 {
				e.Line, e.Column = line+l-1, c
			} else {
				e.Column = col + c - 1
			}
		}
	}
	typeName := msg.ProtoReflect().Descriptor().FullName()
	switch {
	case strings.HasPrefix(text, "unable to resolve "):
		// protojson's own words are "unable to resolve URL: NAME: proto: not found".
		if url, _, ok := strings.Cut(strings.TrimPrefix(text, "unable to resolve "), ": "); ok {
			text = fmt.Sprintf("the type of Any %s is not known to the descriptor source: give its .proto with --proto (or a protoset with --protoset)", url)
		}
	case text == "unexpected EOF" && surrogateEscape().Match(p.raw):
		// protojson reads a \u escape of half a surrogate pair as input
		// that ends early, with no position.
		text = `a string holds a \u escape of half a UTF-16 surrogate pair (such as \ud83d without the \udcxx after it), which is no character`
	}
	e.UnknownField = strings.HasPrefix(text, "unknown field")
	e.Message = fmt.Sprintf("%s (request type %s)", text, typeName)
	if bytes.HasPrefix(p.raw, []byte("[")) {
		e.Message += "; a request is a JSON object: give several one after another, not in a JSON array"
	}
	return e
}

// bomSkipper reads r without the UTF-8 byte order mark some editors write
// at the start of a file.
type bomSkipper struct {
	r       io.Reader
	checked bool
	held    []byte // the start of r, read while looking for the mark
}

var byteOrderMark = []byte("\ufeff")

func (b *bomSkipper) Read(p []byte) (int, error) {
	if !b.checked {
		// Read until the mark is either there or ruled out; a short read
		// must not be taken for the end of the mark.
		var buf [3]byte
		n := 0
		for n < len(buf) && bytes.HasPrefix(byteOrderMark, buf[:n]) {
			m, err := b.r.Read(buf[n:])
			n += m
			if err != nil {
				if n == 0 {
					return 0, err
				}
				break
			}
		}
		b.checked = true
		if !bytes.Equal(buf[:n], byteOrderMark) {
			b.held = append([]byte(nil), buf[:n]...)
		}
	}
	if len(b.held) > 0 {
		n := copy(p, b.held)
		b.held = b.held[n:]
		return n, nil
	}
	return b.r.Read(p)
}

// lineTracker remembers where the newlines are in the part of the input
// that the JSON decoder has read but the parser has not finished with, so
// that errors can name a line and column. Columns count characters, as
// protojson's do, so it keeps that part of the input itself (the value
// being parsed and what the decoder read past it, which both hold too):
// what is forgotten is reduced to a count of the bytes that continued a
// UTF-8 character on the line forgetting stopped in.
type lineTracker struct {
	r        io.Reader
	read     int64   // bytes read so far
	newlines []int64 // offsets of newlines at or after base
	before   int     // newlines before base
	lastNL   int64   // offset of the last newline before base, or -1
	base     int64   // the offset of pending[0]: where forgetting stopped
	pending  []byte  // the input from base on
	// lineConts counts the continuation bytes before base on base's line.
	lineConts int
}

func (t *lineTracker) Read(b []byte) (int, error) {
	n, err := t.r.Read(b)
	for i := 0; i < n; {
		j := bytes.IndexByte(b[i:n], '\n')
		if j < 0 {
			break
		}
		t.newlines = append(t.newlines, t.read+int64(i+j))
		i += j + 1
	}
	t.pending = append(t.pending, b[:n]...)
	t.read += int64(n)
	return n, err
}

// continuations counts the bytes of b that continue a UTF-8 character.
func continuations(b []byte) int { return len(b) - utf8.RuneCount(b) }

// position returns the 1-based line and column (in characters) of an
// input offset, which must not be before the last offset passed to forget.
func (t *lineTracker) position(off int64) (line, col int) {
	line = t.before + 1
	lineStart := int64(0)
	if t.before > 0 {
		lineStart = t.lastNL + 1
	}
	onBaseLine := true
	for _, nl := range t.newlines {
		if nl >= off {
			break
		}
		line++
		lineStart = nl + 1
		onBaseLine = false
	}
	end := min(off-t.base, int64(len(t.pending)))
	if onBaseLine {
		return line, int(off-lineStart) + 1 - t.lineConts - continuations(t.pending[:max(end, 0)])
	}
	return line, int(off-lineStart) + 1 - continuations(t.pending[lineStart-t.base:max(end, lineStart-t.base)])
}

// forget drops what is known about the input before off.
func (t *lineTracker) forget(off int64) {
	i := 0
	for i < len(t.newlines) && t.newlines[i] < off {
		t.lastNL = t.newlines[i]
		i++
	}
	from := t.base
	if i > 0 {
		t.lineConts = 0 // a new line: what was counted was on earlier ones
		from = t.lastNL + 1
	}
	t.before += i
	t.newlines = t.newlines[i:] // resliced, like pending below
	cut := min(off-t.base, int64(len(t.pending)))
	t.lineConts += continuations(t.pending[from-t.base : cut])
	// Resliced, not moved: the read-ahead after off may be long, and
	// moving it for every value of a stream would copy it over and over;
	// the next append that needs room copies only what is left.
	t.pending = t.pending[cut:]
	t.base += cut
}

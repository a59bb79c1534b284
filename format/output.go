package format

import (
	"bytes"
	"encoding/json"
	"fmt"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"
)

// Output names a way to print messages.
type Output string

// The outputs a [Formatter] can produce.
const (
	// JSON prints each message as JSON indented by two spaces, then a
	// newline, so that one call's output can be piped into another.
	JSON Output = "json"
	// JSONL prints each message as compact JSON on one line.
	JSONL Output = "jsonl"
	// Text prints each message in protobuf text format, messages separated
	// by an empty line.
	Text Output = "text"
)

// Outputs lists the names accepted for [Options.Output].
var Outputs = []Output{JSON, JSONL, Text}

// Options configures a [Formatter].
type Options struct {
	Output Output
	// EmitDefaults prints fields that hold their zero value.
	EmitDefaults bool
	// ProtoNames uses the .proto field names instead of lowerCamelCase
	// JSON names.
	ProtoNames bool
	// Resolver resolves the types inside Any values; nil means the global
	// registry.
	Resolver Resolver
}

// Formatter renders messages. It keeps scratch buffers between calls, so a
// Formatter must not be used by two goroutines at once.
type Formatter struct {
	output  Output
	json    protojson.MarshalOptions
	text    prototext.MarshalOptions
	scratch []byte
	indent  bytes.Buffer
}

// NewFormatter returns a formatter for opts, or an error naming the
// accepted outputs when opts.Output is not one of them.
func NewFormatter(opts Options) (*Formatter, error) {
	switch opts.Output {
	case JSON, JSONL, Text:
	case "":
		opts.Output = JSON
	default:
		return nil, fmt.Errorf("unknown output format %q (want one of json, jsonl, text)", opts.Output)
	}
	return &Formatter{
		output: opts.Output,
		json: protojson.MarshalOptions{
			EmitUnpopulated: opts.EmitDefaults,
			UseProtoNames:   opts.ProtoNames,
			Resolver:        opts.Resolver,
		},
		text: prototext.MarshalOptions{
			Multiline:    true,
			Indent:       "  ",
			EmitUnknown:  true,
			Resolver:     opts.Resolver,
			AllowPartial: true,
		},
	}, nil
}

// Append appends the rendering of m, with its trailing newline, to dst.
func (f *Formatter) Append(dst []byte, m proto.Message) ([]byte, error) {
	if f.output == Text {
		return f.text.MarshalAppend(dst, m) // ends with a newline already
	}
	var err error
	f.scratch, err = f.json.MarshalAppend(f.scratch[:0], m)
	if err != nil {
		// JSON cannot show an Any whose type is unknown; text format shows
		// its raw type URL and bytes, so the message is not lost.
		text := f.text
		if f.output == JSONL {
			text.Multiline, text.Indent = false, "" // keep one line a message
		}
		out, terr := text.MarshalAppend(dst, m)
		if terr != nil {
			return dst, err
		}
		if len(out) == len(dst) || out[len(out)-1] != '\n' {
			out = append(out, '\n')
		}
		return out, &FallbackError{Err: err}
	}
	// protojson varies its white space on purpose; re-spacing it makes the
	// output stable for diffs and golden files.
	f.indent.Reset()
	if f.output == JSONL {
		err = json.Compact(&f.indent, f.scratch)
	} else {
		err = json.Indent(&f.indent, f.scratch, "", "  ")
	}
	if err != nil {
		return dst, err
	}
	dst = append(dst, f.indent.Bytes()...)
	return append(dst, '\n'), nil
}

// FallbackError is returned by [Formatter.Append] when a message could not be
// rendered as JSON (an Any of a type the resolver does not know) and was
// appended in protobuf text format instead.
type FallbackError struct{ Err error }

func (e *FallbackError) Error() string {
	return fmt.Sprintf("printed in text format because JSON failed: %v", e.Err)
}

func (e *FallbackError) Unwrap() error { return e.Err }

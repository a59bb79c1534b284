package format

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
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
	// by an empty line. A message with no field set, which text format
	// renders as nothing, is printed as the comment "# empty message", so
	// that it can be seen and counted and the output still parses.
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
	json    protojson.MarshalOptions // compact for JSONL, indented for JSON
	text    prototext.MarshalOptions
	scratch []byte
	// unknownFound is set once a message with unknown fields was reported:
	// a stream from a newer schema has them in every message, and one
	// report says it all, so later messages are not looked through.
	unknownFound bool
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
			Multiline:       opts.Output == JSON,
			AllowPartial:    true, // print what arrived; skip the required-field walk
			Indent:          jsonIndent(opts.Output),
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

// emptyTextMessage stands for a message text format renders as nothing: a
// comment, which text-format parsers skip.
const emptyTextMessage = "# empty message\n"

// Append appends the rendering of m, with its trailing newline, to dst.
func (f *Formatter) Append(dst []byte, m proto.Message) ([]byte, error) {
	if f.output == Text {
		out, err := f.text.MarshalAppend(dst, m) // ends with a newline already
		if err == nil && len(out) == len(dst) {
			out = append(out, emptyTextMessage...)
		}
		if err == nil && textVaries().multiline {
			out = out[:len(dst)+len(dropExtraSpace(out[len(dst):], ':'))]
		}
		return out, err
	}
	var err error
	f.scratch, err = f.json.MarshalAppend(f.scratch[:0], m)
	if err != nil {
		return f.appendFallback(dst, m, err)
	}
	dst = append(dst, f.respace(f.scratch)...)
	dst = append(dst, '\n')
	// JSON has no form for fields the message's type does not define
	// (text format shows them): say they were left out, for the first
	// message that has them.
	if !f.unknownFound {
		if nums := unknownFields(m.ProtoReflect(), nil); len(nums) > 0 {
			f.unknownFound = true
			return dst, &UnknownFieldsError{Numbers: nums}
		}
	}
	return dst, nil
}

// respace undoes, in place, the way protojson varies its white space on
// purpose: only in one way per binary, so that output stays stable for
// diffs and golden files without re-indenting every message.
func (f *Formatter) respace(out []byte) []byte {
	varies := jsonVaries()
	if f.output == JSONL && varies.compact {
		return dropExtraSpace(out, ',')
	} else if f.output == JSON && varies.indented {
		return dropExtraSpace(out, ':')
	}
	return out
}

// appendFallback appends m, which protojson refused with err, as JSON that
// loses nothing: each Any of a type nobody describes as a placeholder (see
// withPlaceholders) and, if JSON still fails, the whole message as
// {"@error": ..., "@text": <protobuf text format>}. Either way JSON
// consumers get one JSON value a message; the error says what was done.
func (f *Formatter) appendFallback(dst []byte, m proto.Message, err error) ([]byte, error) {
	res := f.json.Resolver
	if res == nil {
		res = protoregistry.GlobalTypes
	}
	if c, unresolved := withPlaceholders(m, res); c != nil {
		opts := f.json
		opts.Resolver = placeholderResolver{Resolver: res, unresolved: unresolved}
		if out, perr := opts.MarshalAppend(f.scratch[:0], c); perr == nil {
			f.scratch = out
			dst = append(dst, f.respace(out)...)
			fe := &FallbackError{Err: err, Unresolved: slices.Sorted(maps.Keys(unresolved))}
			if !f.unknownFound {
				if nums := unknownFields(m.ProtoReflect(), nil); len(nums) > 0 {
					f.unknownFound = true
					fe.Unknown = &UnknownFieldsError{Numbers: nums}
				}
			}
			return append(dst, '\n'), fe
		}
	}
	text := f.text
	text.Multiline, text.Indent = false, ""
	b, terr := text.Marshal(m)
	if terr != nil {
		return dst, err
	}
	if textVaries().singleLine {
		b = dropExtraSpace(b, ' ')
	}
	out := failedJSON(err, b)
	if f.output == JSON {
		var buf bytes.Buffer
		if json.Indent(&buf, out, "", "  ") == nil {
			out = buf.Bytes()
		}
	}
	dst = append(dst, out...)
	return append(dst, '\n'), &FallbackError{Err: err}
}

// maxUnknownReported is how many unknown field numbers an
// [UnknownFieldsError] lists at most.
const maxUnknownReported = 5

// unknownFields appends to nums the numbers of the fields that m and the
// messages in it carry but their types do not define, up to
// maxUnknownReported. A message with no message fields costs one look at
// its unknown bytes and its field kinds.
func unknownFields(m protoreflect.Message, nums []protowire.Number) []protowire.Number {
	for b := m.GetUnknown(); len(b) > 0 && len(nums) < maxUnknownReported; {
		num, _, n := protowire.ConsumeField(b)
		if n < 0 {
			break
		}
		if !slices.Contains(nums, num) {
			nums = append(nums, num)
		}
		b = b[n:]
	}
	if len(nums) >= maxUnknownReported || !holdsMessages(m.Descriptor()) {
		return nums
	}
	return nestedUnknownFields(m, nums)
}

// nestedUnknownFields is unknownFields for the messages in m, apart so that
// a message without any does not pay for the closure.
func nestedUnknownFields(m protoreflect.Message, nums []protowire.Number) []protowire.Number {
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.IsMap():
			if isMessage(fd.MapValue()) {
				v.Map().Range(func(_ protoreflect.MapKey, mv protoreflect.Value) bool {
					nums = unknownFields(mv.Message(), nums)
					return len(nums) < maxUnknownReported
				})
			}
		case fd.IsList():
			if isMessage(fd) {
				l := v.List()
				for i := 0; i < l.Len() && len(nums) < maxUnknownReported; i++ {
					nums = unknownFields(l.Get(i).Message(), nums)
				}
			}
		case isMessage(fd):
			nums = unknownFields(v.Message(), nums)
		}
		return len(nums) < maxUnknownReported
	})
	return nums
}

func holdsMessages(md protoreflect.MessageDescriptor) bool {
	fields := md.Fields()
	for i := range fields.Len() {
		if f := fields.Get(i); isMessage(f) {
			return true
		}
	}
	return md.ExtensionRanges().Len() > 0
}

func isMessage(fd protoreflect.FieldDescriptor) bool {
	return fd.Kind() == protoreflect.MessageKind || fd.Kind() == protoreflect.GroupKind
}

func jsonIndent(o Output) string {
	if o == JSON {
		return "  "
	}
	return ""
}

// jsonVaries reports how this binary's protojson varies its spacing: a
// space after each comma in compact output, or a second space after each
// colon in indented output. protojson decides once per binary; so does
// this, on first use rather than at start-up, which every command pays.
// The probe is a FeatureSet, a type protodesc sets up at start-up, so that
// probing sets up no other.
var jsonVaries = sync.OnceValue(func() (v struct{ compact, indented bool }) {
	probe := &descriptorpb.FeatureSet{
		FieldPresence: descriptorpb.FeatureSet_EXPLICIT.Enum(),
		EnumType:      descriptorpb.FeatureSet_OPEN.Enum(),
	}
	compact, _ := protojson.MarshalOptions{}.Marshal(probe)
	indented, _ := protojson.MarshalOptions{Multiline: true, Indent: "  "}.Marshal(probe)
	v.compact = bytes.Contains(compact, []byte(", "))
	v.indented = bytes.Contains(indented, []byte(":  "))
	return v
})

// textVaries is jsonVaries for prototext: a second space after each name
// in multi-line output, or between fields on a single line.
var textVaries = sync.OnceValue(func() (v struct{ multiline, singleLine bool }) {
	probe := &descriptorpb.FeatureSet{
		FieldPresence: descriptorpb.FeatureSet_EXPLICIT.Enum(),
		EnumType:      descriptorpb.FeatureSet_OPEN.Enum(),
	}
	multi, _ := prototext.MarshalOptions{Multiline: true, Indent: "  "}.Marshal(probe)
	single, _ := prototext.MarshalOptions{}.Marshal(probe)
	v.multiline = bytes.Contains(multi, []byte(":  "))
	v.singleLine = bytes.Contains(single, []byte("  "))
	return v
})

// dropExtraSpace removes the space protojson adds after sep outside
// strings, in place: ", " becomes "," and ":  " becomes ": ".
func dropExtraSpace(b []byte, sep byte) []byte {
	out := b[:0]
	inString := false
	for i := 0; i < len(b); i++ {
		c := b[i]
		out = append(out, c)
		switch {
		case inString && c == '\\':
			i++
			if i < len(b) {
				out = append(out, b[i])
			}
		case c == '"':
			inString = !inString
		case !inString && c == sep && i+1 < len(b) && b[i+1] == ' ':
			if sep == ':' {
				out = append(out, ' ') // the one space that belongs
				i++
			}
			if i+1 < len(b) && b[i+1] == ' ' {
				i++
			}
		}
	}
	return out
}

// FallbackError is returned by [Formatter.Append] when protojson refused a
// message (an Any of a type the resolver does not know, a Timestamp out of
// range) and it was appended as JSON that stands in for what JSON cannot
// show: each unknown Any as {"@type", "@value" (base64), "@error"} when
// that was the only trouble (Unresolved lists their type URLs), else the
// whole message as {"@error", "@text"} with its protobuf text form.
type FallbackError struct {
	Err        error
	Unresolved []string
	// Unknown, when not nil, says the message also holds fields its type
	// does not define, which the JSON leaves out (see UnknownFieldsError).
	Unknown *UnknownFieldsError
}

func (e *FallbackError) Error() string {
	if len(e.Unresolved) > 0 {
		msg := fmt.Sprintf("holds an Any of a type nobody describes (%s), printed as {\"@type\", \"@value\" (base64), \"@error\"}; give the missing type's .proto with --proto",
			strings.Join(e.Unresolved, ", "))
		if e.Unknown != nil {
			msg += "; it also " + e.Unknown.Error() + "; later responses are not checked"
		}
		return msg
	}
	return fmt.Sprintf("cannot be shown as JSON (%v); printed as {\"@error\", \"@text\"} with its protobuf text form (-o text shows it as it is)", e.Err)
}

func (e *FallbackError) Unwrap() error { return e.Err }

// UnknownFieldsError is returned by [Formatter.Append] for the first
// message, of those it formats, that holds (itself or in a message inside
// it) fields its type does not define, which JSON cannot show: the message
// was appended without them.
type UnknownFieldsError struct {
	Numbers []protowire.Number // the first few such fields' numbers
}

func (e *UnknownFieldsError) Error() string {
	nums := make([]string, len(e.Numbers))
	for i, n := range e.Numbers {
		nums[i] = strconv.Itoa(int(n))
	}
	return fmt.Sprintf("holds fields its schema does not define (numbers %s), which JSON output leaves out: the schema grpcx used may be older than the server's (-o text shows them)", strings.Join(nums, ", "))
}

// appendWarning returns what to warn of when [Formatter.Append] returned
// err, which still appended the message, with ok false for an err that is
// a failure (or nil).
func appendWarning(err error, response int) (warning string, ok bool) {
	if err == nil {
		return "", false // before errors.As, whose targets escape
	}
	var fallback *FallbackError
	var unknown *UnknownFieldsError
	switch {
	case errors.As(err, &fallback):
		return fmt.Sprintf("grpcx: warning: response %d %v\n", response, err), true
	case errors.As(err, &unknown):
		return fmt.Sprintf("grpcx: warning: response %d %v; later responses are not checked\n", response, err), true
	}
	return "", false
}

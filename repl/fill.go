package repl

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/grpcx/grpcx/descsource"
)

// fill asks for msg's fields one by one, with each field's type in the
// prompt: an empty answer leaves a field unset, enums take a value's name
// or number, nested messages are filled recursively, repeated fields and
// maps take entries until an empty one, oneofs ask which case to set, and
// well-known types take their JSON form. On a terminal a bad value is
// explained and asked again; in a script it fails the request (see
// askAgain). Ctrl-C abandons the request. Ctrl-D ends the entries of a
// repeated field or map, as an empty answer does, and at any other prompt
// abandons the request, as the end of a script's input there does: a
// request is sent only once every field was answered.
func (s *Session) fill(ctx context.Context, msg proto.Message) error {
	return s.fillMessage(ctx, msg.ProtoReflect(), "")
}

// errFillEnded is the end of the input (Ctrl-D) at a field prompt where it
// does not end a list.
var errFillEnded = errors.New("the input ended in the middle of the request's fields (Ctrl-D): that request was not sent")

// fieldEnded turns the end of the input at a prompt into errFillEnded.
func fieldEnded(err error) error {
	if errors.Is(err, io.EOF) {
		return errFillEnded
	}
	return err
}

// entriesEnded reports whether err, from the prompt of a list's or map's
// next entry, ends the entries: on a terminal Ctrl-D does, as evans users
// expect; the end of a script's input abandons the request instead.
func (s *Session) entriesEnded(err error) bool {
	return errors.Is(err, io.EOF) && s.cfg.Interactive
}

// requiresItself reports whether md's required message fields lead back
// to a type on path (md itself first): such a message has no end.
func requiresItself(md protoreflect.MessageDescriptor, path []protoreflect.FullName) bool {
	for _, name := range path {
		if name == md.FullName() {
			return true
		}
	}
	path = append(path, md.FullName())
	fields := md.Fields()
	for i := range fields.Len() {
		if fd := fields.Get(i); fd.Cardinality() == protoreflect.Required && fd.Message() != nil && requiresItself(fd.Message(), path) {
			return true
		}
	}
	return false
}

func (s *Session) fillMessage(ctx context.Context, m protoreflect.Message, prefix string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	fields := m.Descriptor().Fields()
	seenOneofs := map[protoreflect.FullName]bool{}
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		if od := fd.ContainingOneof(); od != nil && !od.IsSynthetic() {
			if seenOneofs[od.FullName()] {
				continue
			}
			seenOneofs[od.FullName()] = true
			chosen, err := s.chooseOneof(ctx, od, prefix)
			if err != nil {
				return fieldEnded(err)
			}
			if chosen == nil {
				continue
			}
			fd = chosen
		}
		if err := s.fillField(ctx, m, fd, prefix); err != nil {
			return err
		}
	}
	return nil
}

func (s *Session) chooseOneof(ctx context.Context, od protoreflect.OneofDescriptor, prefix string) (protoreflect.FieldDescriptor, error) {
	var names []string
	for i := 0; i < od.Fields().Len(); i++ {
		names = append(names, string(od.Fields().Get(i).Name()))
	}
	for {
		answer, err := s.askField(ctx, fmt.Sprintf("%s%s: one of %s (empty: none)> ", prefix, od.Name(), strings.Join(names, ", ")), names)
		if err != nil || answer == "" {
			return nil, err
		}
		if fd := od.Fields().ByName(protoreflect.Name(answer)); fd != nil {
			return fd, nil
		}
		if n, err := strconv.Atoi(answer); err == nil && n >= 1 && n <= od.Fields().Len() {
			return od.Fields().Get(n - 1), nil
		}
		if err := s.askAgain(fmt.Errorf("%s%s: choose one of %s", prefix, od.Name(), strings.Join(names, ", "))); err != nil {
			return nil, err
		}
	}
}

// askAgain reports a wrong answer. On a terminal the question is asked
// again; in a script the wrong answer fails the command, since the lines
// after it are commands, not more answers.
func (s *Session) askAgain(wrong error) error {
	if !s.cfg.Interactive {
		return wrong
	}
	fmt.Fprintf(s.err, "%v\n", wrong)
	return nil
}

func (s *Session) fillField(ctx context.Context, m protoreflect.Message, fd protoreflect.FieldDescriptor, prefix string) error {
	name := prefix + string(fd.Name())
	switch {
	case fd.IsMap():
		return s.fillMap(ctx, m, fd, name)
	case fd.IsList():
		list := m.Mutable(fd).List()
		for i := 0; ; i++ {
			v, ok, err := s.askValue(ctx, m, fd, fmt.Sprintf("%s[%d]", name, i), func() protoreflect.Value { return list.NewElement() })
			if err != nil || !ok {
				if list.Len() == 0 {
					m.Clear(fd)
				}
				if s.entriesEnded(err) {
					return nil
				}
				return fieldEnded(err)
			}
			list.Append(v)
		}
	default:
		v, ok, err := s.askValue(ctx, m, fd, name, func() protoreflect.Value { return m.NewField(fd) })
		if err == nil && ok {
			m.Set(fd, v)
		}
		return fieldEnded(err)
	}
}

func (s *Session) fillMap(ctx context.Context, m protoreflect.Message, fd protoreflect.FieldDescriptor, name string) error {
	mp := m.Mutable(fd).Map()
	for {
		keyText, err := s.askField(ctx, fmt.Sprintf("%s key (%s, empty to finish)> ", name, typeName(fd.MapKey())), nil)
		if err != nil || keyText == "" {
			if mp.Len() == 0 {
				m.Clear(fd)
			}
			if s.entriesEnded(err) {
				return nil
			}
			return fieldEnded(err)
		}
		key, err := parseScalar(fd.MapKey(), keyText)
		if err != nil {
			if err := s.askAgain(fmt.Errorf("%s key: %w", name, err)); err != nil {
				return err
			}
			continue
		}
		v, ok, err := s.askValue(ctx, m, fd.MapValue(), fmt.Sprintf("%s[%s]", name, keyText), func() protoreflect.Value { return mp.NewValue() })
		if err != nil {
			return fieldEnded(err)
		}
		if ok {
			mp.Set(key.MapKey(), v)
		}
	}
}

// askValue asks for one value of fd's type; ok is false for an empty
// answer. Messages other than well-known types are filled field by field.
func (s *Session) askValue(ctx context.Context, parent protoreflect.Message, fd protoreflect.FieldDescriptor, name string, newValue func() protoreflect.Value) (protoreflect.Value, bool, error) {
	required := fd.Cardinality() == protoreflect.Required // proto2: the request is refused without it
	if md := fd.Message(); md != nil && !isWellKnown(md) {
		if required && requiresItself(md, nil) {
			return protoreflect.Value{}, false, fmt.Errorf("%s is a required field of type %s, which requires a message of its own type in turn: no request of it can be complete", name, md.FullName())
		}
		if !required {
			answer, err := s.askField(ctx, fmt.Sprintf("%s (%s): fill it? [y/N]> ", name, md.FullName()), []string{"y", "n"})
			if err != nil || !isYes(answer) {
				return protoreflect.Value{}, false, err
			}
		}
		v := newValue()
		err := s.fillMessage(ctx, v.Message(), name+".")
		return v, err == nil, err
	}
	var choices []string
	if ed := fd.Enum(); ed != nil {
		for i := 0; i < ed.Values().Len(); i++ {
			choices = append(choices, string(ed.Values().Get(i).Name()))
		}
	}
	kind := typeName(fd)
	if required {
		kind += ", required"
	}
	for {
		answer, err := s.askField(ctx, fmt.Sprintf("%s (%s)> ", name, kind), choices)
		if err == nil && answer == "" && required {
			if err := s.askAgain(fmt.Errorf("%s is a required field: give it a value", name)); err != nil {
				return protoreflect.Value{}, false, err
			}
			continue
		}
		if err != nil || answer == "" {
			return protoreflect.Value{}, false, err
		}
		if fd.Message() != nil {
			v := newValue()
			if err := s.unmarshalJSONValue(answer, v.Message().Interface()); err != nil {
				if err := s.askAgain(fmt.Errorf("%s: %w", name, err)); err != nil {
					return protoreflect.Value{}, false, err
				}
				continue
			}
			return v, true, nil
		}
		v, err := parseScalar(fd, answer)
		if err != nil {
			if err := s.askAgain(fmt.Errorf("%s: %w", name, err)); err != nil {
				return protoreflect.Value{}, false, err
			}
			continue
		}
		return v, true, nil
	}
}

// askField asks one question of the filler; choices feed completion.
func (s *Session) askField(ctx context.Context, prompt string, choices []string) (string, error) {
	if choices == nil {
		choices = []string{} // a value, not a command: nothing to complete
	}
	s.setReading(lineKind{choices: choices})
	defer s.setReading(lineKind{})
	answer, err := s.ask(ctx, prompt)
	if errors.Is(err, ErrInterrupt) {
		return "", errCancelled
	}
	return strings.TrimSpace(answer), err
}

// parseScalar parses text as a value of a scalar or enum field, through
// protojson, so the rules and messages are those of JSON input. Text that is
// not JSON is taken as a string.
func parseScalar(fd protoreflect.FieldDescriptor, text string) (protoreflect.Value, error) {
	// Bytes are base64, which can look like a JSON number ("1234").
	if fd.Kind() == protoreflect.StringKind || fd.Kind() == protoreflect.BytesKind ||
		(fd.Kind() == protoreflect.EnumKind && !isNumber(text)) || !json.Valid([]byte(text)) {
		if !strings.HasPrefix(text, `"`) {
			quoted, _ := json.Marshal(text)
			text = string(quoted)
		}
	}
	holder := scalarHolder(fd)
	in := fmt.Sprintf(`{"v": %s}`, text)
	m := holder.New()
	if err := protojson.Unmarshal([]byte(in), m.Interface()); err != nil {
		msg := err.Error()
		if i := strings.Index(msg, "):"); i >= 0 {
			msg = strings.TrimSpace(msg[i+2:])
		}
		return protoreflect.Value{}, fmt.Errorf("not a valid %s: %s", typeName(fd), strings.Replace(msg, " field v", "", 1))
	}
	return m.Get(holder.Descriptor().Fields().ByName("v")), nil
}

func isNumber(s string) bool {
	_, err := strconv.ParseInt(s, 10, 64)
	return err == nil
}

// unmarshalJSONValue parses a message field's answer, resolving the types
// of Any values through the session's descriptor source, as a call's JSON
// input does.
func (s *Session) unmarshalJSONValue(text string, msg proto.Message) error {
	if !json.Valid([]byte(text)) {
		quoted, _ := json.Marshal(text)
		text = string(quoted)
	}
	src, _ := s.source()
	opts := protojson.UnmarshalOptions{Resolver: descsource.TypesOf(src), DiscardUnknown: s.allowUnknown}
	if err := opts.Unmarshal([]byte(text), msg); err != nil {
		return fmt.Errorf("not a valid %s in JSON form: %v", msg.ProtoReflect().Descriptor().FullName(), err)
	}
	return nil
}

// typeName is how prompts name a field's type.
func typeName(fd protoreflect.FieldDescriptor) string {
	switch fd.Kind() {
	case protoreflect.EnumKind:
		return "enum " + string(fd.Enum().Name())
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return string(fd.Message().FullName()) + ", JSON"
	case protoreflect.BytesKind:
		return "bytes, base64"
	}
	return fd.Kind().String()
}

func isWellKnown(md protoreflect.MessageDescriptor) bool {
	return md.ParentFile().Package() == "google.protobuf"
}

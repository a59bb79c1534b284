package repl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"

	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/grpcx/grpcx/descsource"
	"github.com/grpcx/grpcx/format"
	"github.com/grpcx/grpcx/invoke"
)

// errCancelled is what a request supplier returns when the user pressed
// Ctrl-C: invoke cancels the call.
var errCancelled = errors.New("cancelled")

func (s *Session) cmdCall(ctx context.Context, args string) error {
	fill := false
	if rest, ok := strings.CutPrefix(args, "--fill"); ok {
		fill, args = true, strings.TrimSpace(rest)
	}
	name, data, _ := strings.Cut(args, " ")
	if name == "" {
		return errors.New("call needs a METHOD")
	}
	m, err := s.findMethod(name)
	if err == nil && s.conn == nil {
		err = errors.New("not connected: connect TARGET first")
	}
	if err != nil {
		if !s.cfg.Interactive {
			// The JSON lines of a stream that never started are not
			// commands: they are skipped, up to the empty line ending them.
			s.lines.skipEntries()
		}
		return err
	}
	src, _ := s.source()
	types := descsource.TypesOf(src)

	formatOpts := s.format
	formatOpts.Resolver = types
	f, err := format.NewFormatter(formatOpts)
	if err != nil {
		return err
	}
	printer := format.NewCallPrinter(s.out, s.err, f, 0)

	// A one-request call asked field by field is filled before it starts:
	// the time the user takes to answer is no part of the call, whose
	// deadline would otherwise run while they type.
	var filled proto.Message
	if !m.IsStreamingClient() && strings.TrimSpace(data) == "" {
		msg := dynamicpb.NewMessage(m.Input())
		if err := s.fill(ctx, msg); err != nil {
			if errors.Is(err, errCancelled) {
				fmt.Fprintln(s.err, "call cancelled")
				return reported{err}
			}
			return err
		}
		filled = msg
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if s.deadline > 0 {
		ctx, cancel = context.WithTimeout(ctx, s.deadline)
		defer cancel()
	}
	// Ctrl-C while no line is being edited (a server stream, a slow unary
	// call) arrives as a signal: it cancels the call, not the session.
	stop := cancelOnInterrupt(ctx, cancel)
	defer stop()
	next := s.requests(ctx, m, strings.TrimSpace(data), fill, types, filled)
	if m.IsStreamingClient() && !fill && !s.cfg.Interactive {
		s.lines.startStream() // its lines end with an empty one
	}

	var handler invoke.Handler = printer
	if s.verbose {
		vp := format.NewVerbosePrinter(s.err, printer, format.VerboseOptions{Level: 1})
		vp.OnResolveMethod(invoke.MethodPath(m), string(invoke.KindOf(m)))
		handler = vp
		supply := next
		next = func(msg proto.Message) error {
			err := supply(msg)
			if err == nil {
				vp.CountSent()
			}
			return err
		}
	}
	callOpts := append(slices.Clip(s.cfg.CallOptions), invoke.WithExtensions(types))
	err = invoke.Invoke(ctx, s.conn.Conn, m, s.headers.Copy(), next, handler, callOpts...)
	if perr := printer.Err(); perr != nil && err == nil {
		err = perr
	}
	if err == nil {
		return nil
	}
	if errors.Is(err, errCancelled) {
		fmt.Fprintln(s.err, "call cancelled")
		return reported{err}
	}
	if st, ok := status.FromError(err); ok {
		if !s.cfg.Interactive {
			fmt.Fprintf(s.err, "line %d: ", s.lines.commandLine()) // which call of the script
		}
		format.WriteStatus(s.err, st, types)
		return reported{err}
	}
	return err
}

func cancelOnInterrupt(ctx context.Context, cancel func()) (stop func()) {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt)
	done := make(chan struct{})
	go func() {
		select {
		case <-sig:
			cancel()
		case <-done:
		case <-ctx.Done():
		}
	}()
	return func() {
		signal.Stop(sig)
		close(done)
	}
}

// requests returns the call's request supplier. The JSON given on the call
// line is the first request; after it, a unary or server-streaming method
// asks field by field when no JSON was given, and a streaming one reads a
// JSON message (or a filled one) per entry until an empty entry or the end
// of the input.
func (s *Session) requests(ctx context.Context, m protoreflect.MethodDescriptor, data string, fill bool, types format.Resolver, filled proto.Message) invoke.RequestSupplier {
	streaming := m.IsStreamingClient()
	first := data
	sent := 0
	return func(msg proto.Message) error {
		defer func() { sent++ }()
		if sent == 0 && first != "" {
			return parseOne(first, msg, s.parseOptions(types))
		}
		if !streaming {
			if sent > 0 {
				return io.EOF
			}
			if filled != nil {
				proto.Merge(msg, filled)
				return nil
			}
			return s.fill(ctx, msg)
		}
		if fill {
			if sent > 0 || first != "" {
				more, err := s.ask(ctx, fmt.Sprintf("another %s? [y/N] ", m.Input().Name()))
				if err != nil || !isYes(more) {
					return endOfInput(err)
				}
			}
			return s.fill(ctx, msg)
		}
		s.setReading(lineKind{entryOf: string(m.Parent().FullName()) + "/" + string(m.Name())})
		line, err := s.ask(ctx, fmt.Sprintf("%s (%s, empty line to end)> ", m.Name(), m.Input().Name()))
		s.setReading(lineKind{})
		if err != nil {
			return endOfInput(err)
		}
		if strings.TrimSpace(line) == "" {
			return io.EOF
		}
		s.remember(line)
		return s.placeEntryError(parseOne(line, msg, s.parseOptions(types)), sent+1)
	}
}

// placeEntryError makes the input error of a stream's entry, which was
// parsed alone, name the entry's place: request n of the call and, in a
// script, the script's line (the column stays: an entry is one line).
func (s *Session) placeEntryError(err error, n int) error {
	var ie *format.InputError
	if !errors.As(err, &ie) {
		return err
	}
	placed := *ie
	placed.Index = n
	if s.cfg.Interactive {
		placed.Line = 0
		if ie.Column > 0 {
			placed.Message = fmt.Sprintf("column %d: %s", ie.Column, ie.Message)
		}
	} else {
		placed.Line = s.lines.lastLine()
	}
	return &placed
}

// endOfInput turns the end of the user's input into the end of the
// requests, and Ctrl-C into cancelling the call.
func endOfInput(err error) error {
	switch {
	case err == nil, errors.Is(err, io.EOF):
		return io.EOF
	case errors.Is(err, ErrInterrupt), errors.Is(err, context.Canceled):
		return errCancelled
	}
	return err
}

func isYes(s string) bool {
	s = strings.ToLower(strings.TrimSpace(s))
	return s == "y" || s == "yes"
}

// parseOptions are how the session reads a request's JSON.
func (s *Session) parseOptions(types format.Resolver) format.ParseOptions {
	return format.ParseOptions{Resolver: types, AllowUnknownFields: s.allowUnknown}
}

// parseOne parses exactly one JSON message.
func parseOne(text string, msg proto.Message, opts format.ParseOptions) error {
	p := format.NewJSONParser(strings.NewReader(text), opts)
	if err := p.Next(msg); err != nil {
		return err
	}
	extra := msg.ProtoReflect().New().Interface()
	if err := p.Next(extra); err != io.EOF {
		return errors.New("one JSON message per entry")
	}
	return nil
}

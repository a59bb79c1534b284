// Package repl is grpcx's interactive shell: list, describe, use a service,
// build requests by template or field by field, and make calls of every kind
// with metadata and settings that persist between them. It runs on the same
// engine as the one-shot verbs (descsource, invoke, format); the cmd
// package's repl verb builds a [Config] from the command line and calls
// [Run]. Reading from a file or pipe instead of a terminal, it is a
// scripting mode.
package repl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync"
	"time"

	"github.com/chzyer/readline"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/grpcx/grpcx/descsource"
	"github.com/grpcx/grpcx/format"
)

// Connection is an open server connection with its descriptor source.
type Connection struct {
	Target string
	Conn   grpc.ClientConnInterface
	Source descsource.Source
	// Close releases the connection; nil when there is nothing to release.
	Close func()
}

// Config is what [Run] needs from its caller.
type Config struct {
	In          io.Reader
	Out, Err    io.Writer
	Interactive bool // In is a terminal: prompts, line editing, completion, history
	// Conn is the server to start on; nil works on Files only.
	Conn *Connection
	// Files are descriptors from local files, nil if none.
	Files descsource.Source
	// Connect opens a server, for the connect command and for set protocol,
	// with protocol grpc, grpc-web or connect.
	Connect func(ctx context.Context, target, protocol string) (*Connection, error)
	// Protocol is the protocol calls start with: grpc (or ""), grpc-web or
	// connect.
	Protocol string
	// Headers are sent on every call; the header command edits them.
	Headers metadata.MD
	// Format is how responses print; the set command edits it.
	Format format.Options
	// Deadline bounds each call; zero means none.
	Deadline time.Duration
	// CallOptions are added to every call (compression, message limits).
	CallOptions []grpc.CallOption
	// HistoryFile keeps interactive history across sessions; empty: none.
	HistoryFile string
	// StopOnError ends a script at its first failing command.
	StopOnError bool
	// AllowUnknownFields is where the allow-unknown-fields setting starts:
	// JSON keys a request does not have are ignored rather than refused.
	AllowUnknownFields bool
}

// ErrFailed is returned by [Run] when a command failed in scripting mode,
// so that the exit code says so.
var ErrFailed = errors.New("a command failed")

// Session is the state of one REPL: the connection, the current service,
// headers and settings. It is passed explicitly; nothing is global.
type Session struct {
	cfg      Config
	conn     *Connection
	service  protoreflect.ServiceDescriptor
	headers  metadata.MD
	format   format.Options
	deadline time.Duration
	protocol string
	verbose  bool // narrate calls on stderr, as call -v does
	// allowUnknown ignores JSON keys a request does not have, as call's
	// --allow-unknown-fields does.
	allowUnknown bool

	reader   LineReader
	lines    *lineSource
	terminal *terminalReader // nil in scripting mode
	out, err io.Writer
	history  []string
	failed   bool
	// reading is what the line being read is, for completion: a command
	// (the zero value), a field's answer or a stream's entry. The filler
	// and a stream's supplier run on a call's sending goroutine while the
	// line editor completes on its own: readingMu guards it.
	readingMu sync.Mutex
	reading   lineKind
}

// lineKind is what a line being read is, for completion.
type lineKind struct {
	// choices, when not nil, makes the line a field's answer, from these
	// (none: a value, with nothing to complete).
	choices []string
	// entryOf, when not "", makes the line a JSON request of this method
	// (pkg.Service/Method): a stream's next entry.
	entryOf string
}

// setReading says what the lines read from now on are; readingNow what
// the one being read is.
func (s *Session) setReading(k lineKind) {
	s.readingMu.Lock()
	s.reading = k
	s.readingMu.Unlock()
}

func (s *Session) readingNow() lineKind {
	s.readingMu.Lock()
	defer s.readingMu.Unlock()
	return s.reading
}

// Run reads and runs commands until the input ends or the user exits.
func Run(ctx context.Context, cfg Config) error {
	s := &Session{cfg: cfg, conn: cfg.Conn, headers: cfg.Headers.Copy(), format: cfg.Format, deadline: cfg.Deadline, protocol: cfg.Protocol, allowUnknown: cfg.AllowUnknownFields}
	if s.protocol == "" {
		s.protocol = "grpc"
	}
	if s.headers == nil {
		s.headers = metadata.MD{}
	}
	if s.format.Output == "" {
		s.format.Output = format.JSON
	}
	if cfg.Interactive {
		tr, err := newTerminalReader(&readline.Config{
			Stdin:                  io.NopCloser(cfg.In),
			Stdout:                 cfg.Out,
			Stderr:                 cfg.Err,
			HistoryFile:            cfg.HistoryFile,
			DisableAutoSaveHistory: true,
			HistorySearchFold:      true,
			AutoComplete:           &completer{s: s},
			InterruptPrompt:        "^C",
		})
		if err != nil {
			return fmt.Errorf("start the line editor: %w", err)
		}
		defer tr.Close()
		s.reader, s.terminal = tr, tr
		fmt.Fprintln(cfg.Out, "grpcx REPL: type help for commands, Tab to complete, Ctrl-D to leave.")
	} else {
		s.reader = newScriptReader(cfg.In, cfg.Out, cfg.Err)
	}
	s.out, s.err = s.reader.Output()
	s.lines = newLineSource(s.reader)
	defer s.closeConn()
	return s.loop(ctx)
}

// executeInterruptibly runs a command line, which Ctrl-C cancels: grpcx
// leaves Ctrl-C to the REPL, and outside the line editor (connecting, a
// slow reflection answer, a call) it arrives as a signal, which would
// otherwise end grpcx. It says whether Ctrl-C was pressed.
//
// The command's context is cancelled by Ctrl-C only, not when the command
// returns: what a command sets up for the session (the connection and the
// reflection source of connect, say) lives on in that context.
func (s *Session) executeInterruptibly(ctx context.Context, line string) (interrupted bool, err error) {
	ctx, cancel := context.WithCancel(ctx)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt)
	defer signal.Stop(sig)
	fired := make(chan bool, 1)
	done := make(chan struct{})
	go func() {
		select {
		case <-sig:
			cancel()
			fired <- true
		case <-done:
			fired <- false
		}
	}()
	err = s.execute(ctx, line)
	close(done)
	return <-fired, err
}

func (s *Session) loop(ctx context.Context) error {
	for {
		line, err := s.lines.readCommand(ctx, s.prompt())
		if errors.Is(err, ErrInterrupt) {
			continue // Ctrl-C at the prompt clears the line, nothing more
		}
		if err == io.EOF || ctx.Err() != nil {
			break
		}
		if err != nil {
			return err
		}
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		s.remember(line)
		interrupted, err := s.executeInterruptibly(ctx, line)
		if errors.Is(err, errExit) {
			break
		}
		if err != nil {
			s.report(err)
			if s.cfg.StopOnError && !s.cfg.Interactive {
				break
			}
		}
		if ctx.Err() != nil {
			break
		}
		if interrupted && !s.cfg.Interactive {
			s.failed = true
			break // Ctrl-C stops a script, not just its current command
		}
	}
	if s.failed && !s.cfg.Interactive {
		return ErrFailed
	}
	return nil
}

// errExit ends the loop.
var errExit = errors.New("exit")

// reported marks an error already shown to the user (a call's status).
type reported struct{ err error }

func (r reported) Error() string { return r.err.Error() }

func (s *Session) report(err error) {
	s.failed = true
	var r reported
	if errors.As(err, &r) {
		return
	}
	if !s.cfg.Interactive {
		// A script's error says which of its lines it was.
		fmt.Fprintf(s.err, "line %d: error: %v\n", s.lines.commandLine(), err)
		return
	}
	fmt.Fprintf(s.err, "error: %v\n", err)
}

// prompt shows the target and the current service.
func (s *Session) prompt() string {
	if !s.cfg.Interactive {
		return ""
	}
	where := "(no server)"
	if s.conn != nil {
		where = s.conn.Target
	}
	if s.service != nil {
		return where + " " + string(s.service.FullName()) + "> "
	}
	return where + "> "
}

// source is where descriptors come from now: the server's, else the files.
func (s *Session) source() (descsource.Source, error) {
	if s.conn != nil && s.conn.Source != nil {
		return s.conn.Source, nil
	}
	if s.cfg.Files != nil {
		return s.cfg.Files, nil
	}
	return nil, errors.New("no server and no descriptor files: connect TARGET first, or start with --proto/--protoset")
}

func (s *Session) closeConn() {
	if s.conn != nil && s.conn.Close != nil {
		s.conn.Close()
	}
}

// ask reads one answer for an operation that ctx bounds: a call's request
// supplier asks with the call's context, so that it never takes a line
// after its call has ended.
func (s *Session) ask(ctx context.Context, prompt string) (string, error) {
	return s.lines.read(ctx, prompt)
}

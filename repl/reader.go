package repl

import (
	"bufio"
	"errors"
	"io"
	"strings"
	"sync/atomic"
	"time"

	"github.com/chzyer/readline"
)

// ErrInterrupt is returned by a [LineReader] when the user pressed Ctrl-C.
var ErrInterrupt = errors.New("interrupted")

// LineReader reads the user's entries one line at a time. ReadLine returns
// io.EOF at the end of the input (Ctrl-D on an empty line) and
// [ErrInterrupt] for Ctrl-C. Output returns the writer that prints above the
// line being edited without corrupting it, so responses can arrive while
// the user types.
type LineReader interface {
	ReadLine(prompt string) (string, error)
	Output() (stdout, stderr io.Writer)
}

// scriptReader reads commands from a file or pipe: no prompts, no echo.
type scriptReader struct {
	sc          *bufio.Scanner
	out, errOut io.Writer
}

func newScriptReader(in io.Reader, out, errOut io.Writer) *scriptReader {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	return &scriptReader{sc: sc, out: out, errOut: errOut}
}

func (r *scriptReader) ReadLine(string) (string, error) {
	if !r.sc.Scan() {
		if err := r.sc.Err(); err != nil {
			return "", err
		}
		return "", io.EOF
	}
	return strings.TrimRight(r.sc.Text(), "\r"), nil
}

func (r *scriptReader) Output() (io.Writer, io.Writer) { return r.out, r.errOut }

// terminalReader is line editing on a terminal, with completion and a
// history kept across sessions.
type terminalReader struct {
	rl *readline.Instance
}

func newTerminalReader(cfg *readline.Config) (*terminalReader, error) {
	// With completions listed, readline takes Ctrl-C only to close the
	// list, and the next line typed went on with the old one (into a
	// field being abandoned, say). Close the list first, so that Ctrl-C
	// does what it says at once. The filter runs on the editor's own
	// goroutine, which owns that state; it may run before NewEx returns.
	var instance atomic.Pointer[readline.Instance]
	cfg.FuncFilterInputRune = func(r rune) (rune, bool) {
		if rl := instance.Load(); r == readline.CharInterrupt && rl != nil && rl.Operation.IsInCompleteMode() {
			rl.Operation.ExitCompleteMode(true)
		}
		return r, true
	}
	rl, err := readline.NewEx(cfg)
	if err != nil {
		return nil, err
	}
	instance.Store(rl)
	return &terminalReader{rl: rl}, nil
}

func (r *terminalReader) ReadLine(prompt string) (string, error) {
	r.rl.SetPrompt(prompt)
	line, err := r.rl.Readline()
	switch {
	case errors.Is(err, readline.ErrInterrupt):
		return "", ErrInterrupt
	case errors.Is(err, io.EOF):
		return "", io.EOF
	}
	return line, err
}

func (r *terminalReader) Output() (io.Writer, io.Writer) { return r.rl.Stdout(), r.rl.Stderr() }

// SetPrompt changes the prompt of the line being edited, and redraws it.
func (r *terminalReader) SetPrompt(prompt string) {
	r.rl.SetPrompt(prompt)
	r.rl.Refresh()
}

// saveHistory appends a line to the history file, as given (already masked).
func (r *terminalReader) saveHistory(line string) { _ = r.rl.SaveHistory(line) }

// Close restores the terminal and stops the line editor, waiting at most
// closeWait for its reader: after a Ctrl-D typed while a call printed (the
// terminal in normal mode), the session ends but that reader has gone on
// to another read of the terminal, which nothing can interrupt, and which
// would keep grpcx from exiting.
func (r *terminalReader) Close() error {
	done := make(chan error, 1)
	go func() { done <- r.rl.Close() }()
	select {
	case err := <-done:
		return err
	case <-time.After(closeWait):
		return nil
	}
}

// closeWait is how long Close waits for the line editor to stop.
const closeWait = 200 * time.Millisecond

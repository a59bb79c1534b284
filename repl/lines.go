package repl

import (
	"context"
	"strings"
	"sync"
)

// lineSource hands out the reader's lines to one consumer at a time: the
// command loop, or a call's request supplier, which runs on invoke's sending
// goroutine. When a call ends while its supplier waits for a line, the read
// already under way finishes and the line goes to whoever asks next,
// instead of two reads racing for the same input.
type lineSource struct {
	r       LineReader
	mu      sync.Mutex
	reading bool
	prompt  string // of the read under way
	results chan lineResult
	// inStream is set while a script's stream has lines left: those after
	// its call, up to an empty line. The command loop skips what the
	// call did not take (it ended before them), rather than run them as
	// commands. It changes as lines are handed out, in their order.
	inStream bool
	// skipping is set after a script's call failed before it started: the
	// lines after it that are JSON entries (they start with "{", which no
	// command does) are its stream's, and skipped up to an empty line.
	skipping bool
	// handed counts the lines handed out, and command is the number of
	// the last one read as a command: where a script's error was.
	handed, command int
}

// promptSetter is a LineReader that can change the prompt of the line
// being edited.
type promptSetter interface{ SetPrompt(prompt string) }

type lineResult struct {
	line string
	err  error
}

func newLineSource(r LineReader) *lineSource {
	return &lineSource{r: r, results: make(chan lineResult, 1)}
}

// read returns the next line, or ctx's error if ctx ends first.
func (l *lineSource) read(ctx context.Context, prompt string) (string, error) {
	l.mu.Lock()
	if !l.reading {
		l.reading, l.prompt = true, prompt
		go func() {
			line, err := l.r.ReadLine(prompt)
			l.results <- lineResult{line, err}
		}()
	} else if prompt != l.prompt {
		// A read asked for by someone else (a stream's supplier, whose
		// call has ended) is under way: its prompt says what the line is
		// for, and the line is now this reader's.
		l.prompt = prompt
		if p, ok := l.r.(promptSetter); ok {
			p.SetPrompt(prompt)
		}
	}
	l.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return "", err // a call that has ended takes no more lines
	}
	select {
	case r := <-l.results:
		l.mu.Lock()
		defer l.mu.Unlock()
		if ctx.Err() != nil {
			// The call ended as the line came: it is the next reader's.
			l.results <- r
			return "", ctx.Err()
		}
		l.reading = false
		if r.err == nil {
			l.handed++
		}
		if r.err != nil || strings.TrimSpace(r.line) == "" {
			l.inStream = false
		}
		return r.line, r.err
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// startStream marks the lines that follow as a stream's, up to an empty
// line.
func (l *lineSource) startStream() {
	l.mu.Lock()
	l.inStream = true
	l.mu.Unlock()
}

// skipEntries marks the JSON entry lines that follow, up to an empty line,
// as those of a stream that did not start (see skipping).
func (l *lineSource) skipEntries() {
	l.mu.Lock()
	l.skipping = true
	l.mu.Unlock()
}

// readCommand is read for the command loop: it skips the lines a stream
// left (see inStream and skipping).
func (l *lineSource) readCommand(ctx context.Context, prompt string) (string, error) {
	for {
		l.mu.Lock()
		leftover, skipping := l.inStream, l.skipping
		l.mu.Unlock()
		line, err := l.read(ctx, prompt)
		trimmed := strings.TrimSpace(line)
		if err == nil && skipping && !leftover {
			l.mu.Lock()
			l.skipping = strings.HasPrefix(trimmed, "{")
			l.mu.Unlock()
			if trimmed == "" || strings.HasPrefix(trimmed, "{") {
				continue
			}
		}
		if err != nil || !leftover {
			l.mu.Lock()
			l.command = l.handed
			l.skipping = false
			l.mu.Unlock()
			return line, err
		}
	}
}

// lastLine is the number of the last line handed out, from 1.
func (l *lineSource) lastLine() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.handed
}

// commandLine is the number of the last line read as a command, from 1.
func (l *lineSource) commandLine() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.command
}

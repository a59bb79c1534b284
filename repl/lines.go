package repl

import (
	"context"
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
	results chan lineResult
}

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
		l.reading = true
		go func() {
			line, err := l.r.ReadLine(prompt)
			l.results <- lineResult{line, err}
		}()
	}
	l.mu.Unlock()
	select {
	case r := <-l.results:
		l.mu.Lock()
		l.reading = false
		l.mu.Unlock()
		return r.line, r.err
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

package format

import (
	"bufio"
	"io"
	"sync"
	"time"
)

// DefaultFlushDelay is how long printed output may wait in the buffer. A
// stream that arrives faster than this is written in large chunks; a slow
// one still shows each message within this delay of its arrival.
const DefaultFlushDelay = 2 * time.Millisecond

// delayedWriter buffers writes and flushes them at most delay after the
// first unflushed byte, from a timer goroutine, or at once on Flush. With a
// zero delay every write is flushed before Write returns.
type delayedWriter struct {
	mu    sync.Mutex
	w     *bufio.Writer
	delay time.Duration
	timer *time.Timer
	armed bool
	err   error
}

func newDelayedWriter(w io.Writer, delay time.Duration) *delayedWriter {
	d := &delayedWriter{w: bufio.NewWriterSize(w, 64<<10), delay: delay}
	if delay > 0 {
		d.timer = time.AfterFunc(time.Hour, d.timedFlush)
		d.timer.Stop()
	}
	return d
}

func (d *delayedWriter) Write(p []byte) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.err != nil {
		return 0, d.err
	}
	n, err := d.w.Write(p)
	if err != nil {
		d.err = err
		return n, err
	}
	if d.delay <= 0 {
		d.err = d.w.Flush()
		return n, d.err
	}
	if !d.armed {
		d.armed = true
		d.timer.Reset(d.delay)
	}
	return n, nil
}

func (d *delayedWriter) timedFlush() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.armed = false
	if d.err == nil {
		d.err = d.w.Flush()
	}
}

// Flush writes out everything buffered now.
func (d *delayedWriter) Flush() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.armed {
		d.timer.Stop()
		d.armed = false
	}
	if d.err == nil {
		d.err = d.w.Flush()
	}
	return d.err
}

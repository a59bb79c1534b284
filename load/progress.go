package load

import (
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

const defaultProgressInterval = 250 * time.Millisecond

// progress rewrites a one-line summary of a running run: calls done (of
// how many), the rate over the last interval, failures. It reads the
// workers' atomic counters from its own goroutine.
type progress struct {
	w        io.Writer
	total    int64
	duration time.Duration
	workers  []*worker
	counting atomic.Bool // false during the warm-up

	done     chan struct{}
	stopOnce sync.Once
	finished chan struct{}
}

// startProgress starts the progress line if opts ask for one; the result's
// methods are no-ops otherwise.
func startProgress(opts Options, workers []*worker) *progress {
	if opts.Progress == nil {
		return nil
	}
	p := &progress{w: opts.Progress, total: opts.Requests, duration: opts.Duration, workers: workers,
		done: make(chan struct{}), finished: make(chan struct{})}
	p.counting.Store(opts.Warmup == 0)
	interval := opts.ProgressInterval
	if interval <= 0 {
		interval = defaultProgressInterval
	}
	go p.loop(interval)
	return p
}

// startCounting tells the line that the warm-up is over.
func (p *progress) startCounting() {
	if p != nil {
		p.counting.Store(true)
	}
}

// stop clears the line and waits for the goroutine to end.
func (p *progress) stop() {
	if p == nil {
		return
	}
	p.stopOnce.Do(func() {
		close(p.done)
		<-p.finished
		fmt.Fprint(p.w, "\r\x1b[K")
	})
}

func (p *progress) loop(interval time.Duration) {
	defer close(p.finished)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	var start, last time.Time
	var lastDone int64
	for {
		select {
		case <-p.done:
			return
		case now := <-tick.C:
			if !p.counting.Load() {
				fmt.Fprint(p.w, "\r\x1b[Kwarming up")
				continue
			}
			if start.IsZero() {
				start, last = now.Add(-interval), now.Add(-interval)
			}
			done, failed := p.sum()
			rate := float64(done-lastDone) / now.Sub(last).Seconds()
			fmt.Fprintf(p.w, "\r\x1b[K%s  %.0f req/s  %d errors", p.doneText(done, now.Sub(start)), rate, failed)
			last, lastDone = now, done
		}
	}
}

func (p *progress) sum() (done, failed int64) {
	for _, w := range p.workers {
		done += w.done.Load()
		failed += w.failed.Load()
	}
	return done, failed
}

func (p *progress) doneText(done int64, elapsed time.Duration) string {
	if p.total > 0 {
		return fmt.Sprintf("%d/%d requests", done, p.total)
	}
	return fmt.Sprintf("%d requests, %s/%s", done, elapsed.Truncate(time.Second), p.duration)
}

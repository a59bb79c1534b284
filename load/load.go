// Package load is grpcx's load generator: it makes many calls of one method
// from concurrent workers, with an optional rate limit, warm-up and time
// limit, and summarises them in a [Result] (latency histogram, status codes,
// error messages, serving processes) that [Write] prints as text, JSON or
// CSV.
//
// [Run] drives any [Caller]; [Calls] makes the callers that call through
// [invoke.Invoke], the engine every other grpcx verb uses, with requests
// prepared once by [NewRequests]. The bench verb of package cmd assembles
// them; nothing here prints except to the io.Writers it is given.
//
// The hot path is built to cost little beyond gRPC itself: each worker owns
// its caller, its counters and its latency histogram (merged when the run
// ends), so workers share nothing but one atomic counter of claimed calls.
package load

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// A Caller makes the calls of one worker. [Run] calls it from that worker's
// goroutine only, one call at a time, so it may keep state between calls.
type Caller interface {
	// Call makes call number n, counted from 0 over the whole run (warm-up
	// included), and returns what it saw and its error: nil, a gRPC status
	// error, or another failure, which counts as Unknown. A call that fails
	// because ctx ended is not counted.
	Call(ctx context.Context, n int64) (Outcome, error)
}

// Outcome is what a call saw besides its status.
type Outcome struct {
	// Responses is the number of response messages received.
	Responses int
	// Server names the process that served the call (the value of
	// [Options.ServerHeader]), or "" when unknown.
	Server string
}

// Options shape a run.
type Options struct {
	// Requests is the number of calls to count. Zero means as many as
	// Duration allows.
	Requests int64
	// Duration stops the run from starting calls after this long; calls in
	// flight finish and are counted. Zero means no time limit. With both
	// Requests and Duration, the first limit reached ends the run.
	Duration time.Duration
	// Warmup is the number of calls made before counting starts; they are
	// neither timed nor reported.
	Warmup int64
	// RPS limits the rate at which calls start, over all workers together.
	// Zero means as fast as the workers go.
	RPS float64
	// Progress, when not nil, receives a progress line, rewritten in place
	// ("\r"), every ProgressInterval (default 250 ms), and cleared at the
	// end. It is meant for a terminal.
	Progress io.Writer
	// ProgressInterval is how often the progress line is rewritten.
	ProgressInterval time.Duration
	// ServerHeader names the response header that identifies the serving
	// process, for the report's label (x-server-pid); the [Caller] reads it.
	ServerHeader string
}

// ErrNoLimit is returned when [Options] set neither Requests nor Duration.
var ErrNoLimit = errors.New("a run needs a number of requests or a duration")

func (o *Options) check(workers int) error {
	switch {
	case workers < 1:
		return errors.New("a run needs at least one worker")
	case o.Requests < 0 || o.Warmup < 0 || o.Duration < 0 || o.RPS < 0:
		return errors.New("requests, warm-up, duration and rate must not be negative")
	case math.IsNaN(o.RPS) || math.IsInf(o.RPS, 0):
		return fmt.Errorf("rate %v is not a number of calls per second", o.RPS)
	case o.Requests == 0 && o.Duration == 0:
		return ErrNoLimit
	}
	return nil
}

// Run makes calls with callers, one worker goroutine each, until
// opts.Requests calls have been counted, opts.Duration has passed or ctx
// ends, and returns what the counted calls did. When ctx ends early the
// calls it cut short are left out and the result is marked Interrupted;
// it is still a result, not an error. Run returns an error only for
// options it cannot run with.
func Run(ctx context.Context, opts Options, callers []Caller) (*Result, error) {
	if err := opts.check(len(callers)); err != nil {
		return nil, err
	}
	workers := make([]*worker, len(callers))
	messages := newFailureMessages()
	for i, c := range callers {
		workers[i] = newWorker(c, messages)
	}
	prog := startProgress(opts, workers)
	defer prog.stop()
	if opts.Warmup > 0 {
		warm := &phase{limit: opts.Warmup, rps: opts.RPS}
		warm.run(ctx, workers, false)
		prog.startCounting()
	}
	p := &phase{limit: opts.Requests, offset: opts.Warmup, duration: opts.Duration, rps: opts.RPS}
	elapsed := p.run(ctx, workers, true)
	prog.stop()
	res := merge(workers, messages, elapsed)
	res.Requested = opts.Requests
	res.ServerHeader = opts.ServerHeader
	res.Interrupted = ctx.Err() != nil
	return res, nil
}

// A phase is one stretch of calls: the warm-up, then the counted run.
type phase struct {
	limit    int64 // calls to make; 0: no limit
	offset   int64 // the call number of the phase's first call
	duration time.Duration
	rps      float64

	claimed atomic.Int64
	stop    chan struct{} // closed when the phase must start no more calls
	start   time.Time
}

// run runs every worker through the phase and returns how long it took.
func (p *phase) run(ctx context.Context, workers []*worker, record bool) time.Duration {
	p.stop = make(chan struct{})
	var once sync.Once
	halt := func() { once.Do(func() { close(p.stop) }) }
	unhook := context.AfterFunc(ctx, halt)
	defer unhook()
	if p.duration > 0 {
		t := time.AfterFunc(p.duration, halt)
		defer t.Stop()
	}
	p.start = time.Now()
	var wg sync.WaitGroup
	for _, w := range workers {
		wg.Go(func() { w.work(ctx, p, record) })
	}
	wg.Wait()
	halt()
	return time.Since(p.start)
}

// claim returns the number of the next call to make, within the phase, or
// false when the phase is over.
func (p *phase) claim() (int64, bool) {
	select {
	case <-p.stop:
		return 0, false
	default:
	}
	i := p.claimed.Add(1) - 1
	if p.limit > 0 && i >= p.limit {
		return 0, false
	}
	return i, true
}

// pace waits until call i of the phase is due under the rate limit, and
// reports false if the phase stopped meanwhile. Calls are due at fixed
// times from the start, so a stall is caught up and the average rate holds.
// Call i is due at (i+1)/rps, not i/rps: n calls then span n/rps, so the
// rate measured over the phase stays under the limit.
func (p *phase) pace(i int64, timer *time.Timer) bool {
	// A tiny rate puts the due time past what a duration holds; it is
	// then as good as never (the phase's duration or ctx ends it).
	due := p.start.Add(time.Duration(min(float64(i+1)*float64(time.Second)/p.rps, 1<<62)))
	wait := time.Until(due)
	if wait <= 0 {
		return true
	}
	timer.Reset(wait)
	select {
	case <-timer.C:
		return true
	case <-p.stop:
		timer.Stop()
		return false
	}
}

func (w *worker) work(ctx context.Context, p *phase, record bool) {
	for {
		i, ok := p.claim()
		if !ok {
			return
		}
		if p.rps > 0 && !p.pace(i, w.timer()) {
			return
		}
		start := time.Now()
		out, err := w.caller.Call(ctx, p.offset+i)
		elapsed := time.Since(start)
		if err != nil && ctx.Err() != nil {
			return // cut short by the end of the run: not a result
		}
		if record {
			w.record(elapsed, out, err)
		}
	}
}

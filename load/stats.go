package load

import (
	"cmp"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Latencies are kept in microseconds, from 1 µs to 10 minutes, to three
// significant digits: a histogram of fixed size whatever the call count.
const (
	minLatency  = 1
	maxLatency  = int64(10 * time.Minute / time.Microsecond)
	sigFigs     = 3
	maxMessages = 10 // distinct failure messages a run lists
)

func newHistogram() *hdrhistogram.Histogram {
	return hdrhistogram.New(minLatency, maxLatency, sigFigs)
}

// A worker is one goroutine of a run with its own caller and statistics, so
// that recording a call takes no lock; only a failure's message is counted
// in the table the workers share.
type worker struct {
	caller Caller
	pacer  *time.Timer // made on first use by a rate-limited run

	hist      *hdrhistogram.Histogram
	codes     [codes.Unauthenticated + 1]int64
	other     map[codes.Code]int64 // codes beyond the standard ones
	responses int64
	servers   map[string]int64
	messages  *failureMessages

	// done and failed are read by the progress line while the worker runs.
	done, failed atomic.Int64
	_            [64]byte // keeps other workers' fields off these counters' cache line
}

func newWorker(c Caller, messages *failureMessages) *worker {
	return &worker{
		caller:   c,
		hist:     newHistogram(),
		other:    map[codes.Code]int64{},
		servers:  map[string]int64{},
		messages: messages,
	}
}

// failureMessages counts a run's failures by message: the first
// maxMessages distinct ones each, the rest together. The workers share it,
// so that a message is counted whichever worker saw it, and listed in the
// order the run first saw it.
type failureMessages struct {
	mu       sync.Mutex
	byText   map[string]*ErrorMessage
	list     []*ErrorMessage
	unlisted int64
}

func newFailureMessages() *failureMessages {
	return &failureMessages{byText: map[string]*ErrorMessage{}}
}

func (f *failureMessages) add(text string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if m := f.byText[text]; m != nil {
		m.Count++
		return
	}
	if len(f.list) == maxMessages {
		f.unlisted++
		return
	}
	m := &ErrorMessage{Text: text, Count: 1}
	f.byText[text] = m
	f.list = append(f.list, m)
}

func (w *worker) timer() *time.Timer {
	if w.pacer == nil {
		w.pacer = time.NewTimer(time.Hour)
		w.pacer.Stop()
	}
	return w.pacer
}

// record counts one finished call.
func (w *worker) record(d time.Duration, out Outcome, err error) {
	// Within the histogram's bounds, RecordValue cannot fail.
	_ = w.hist.RecordValue(min(max(d.Microseconds(), minLatency), maxLatency))
	w.responses += int64(out.Responses)
	if out.Server != "" {
		w.servers[out.Server]++
	}
	if err == nil {
		w.codes[codes.OK]++
	} else {
		w.fail(err)
		w.failed.Add(1)
	}
	w.done.Add(1)
}

// fail counts a failed call under its status code and message; an error
// that is not a gRPC status counts as Unknown.
func (w *worker) fail(err error) {
	st, _ := status.FromError(err)
	if c := st.Code(); int(c) < len(w.codes) {
		w.codes[c]++
	} else {
		w.other[c]++
	}
	w.messages.add(st.Code().String() + ": " + st.Message())
}

// Result is what the counted calls of a run did.
type Result struct {
	// Count is the number of calls counted, failed ones included.
	Count int64
	// Errors is the number of calls that did not end with OK.
	Errors int64
	// Responses is the number of response messages received.
	Responses int64
	// Duration is the time from the start of the counted run to its last
	// call's end: the first call's start without a rate limit; with one,
	// the first call is due 1/RPS after it.
	Duration time.Duration
	// Requested is [Options.Requests]: 0 when the run was bounded by time.
	Requested int64
	// Status counts the calls by the status code they ended with.
	Status map[codes.Code]int64
	// Messages are the distinct failures ("NotFound: no such thing"), in
	// the order they were first seen, with their counts.
	Messages []ErrorMessage
	// Unlisted counts failures whose message is not in Messages, which
	// lists only the run's first ten distinct messages.
	Unlisted int64
	// Servers counts the calls by the process that served them, as the
	// Caller named it (the [Options.ServerHeader] header's value).
	Servers map[string]int64
	// ServerHeader is [Options.ServerHeader].
	ServerHeader string
	// Interrupted reports that the run's context ended before its limits.
	Interrupted bool

	latency *hdrhistogram.Histogram // µs
}

// ErrorMessage is one distinct failure and how often it happened.
type ErrorMessage struct {
	Text  string
	Count int64
}

// merge adds up the workers' statistics and the failure messages they
// counted.
func merge(workers []*worker, messages *failureMessages, elapsed time.Duration) *Result {
	r := &Result{Duration: elapsed, Status: map[codes.Code]int64{}, Servers: map[string]int64{}, latency: newHistogram()}
	for _, w := range workers {
		r.latency.Merge(w.hist)
		r.Responses += w.responses
		for c, n := range w.codes {
			if n > 0 {
				r.Status[codes.Code(c)] += n
			}
		}
		for c, n := range w.other {
			r.Status[c] += n
		}
		for s, n := range w.servers {
			r.Servers[s] += n
		}
	}
	messages.mu.Lock()
	for _, m := range messages.list {
		r.Messages = append(r.Messages, *m)
	}
	r.Unlisted = messages.unlisted
	messages.mu.Unlock()
	r.Count = r.latency.TotalCount()
	r.Errors = r.Count - r.Status[codes.OK]
	return r
}

// RPS returns the calls counted per second of the run.
func (r *Result) RPS() float64 {
	if r.Duration <= 0 {
		return 0
	}
	return float64(r.Count) / r.Duration.Seconds()
}

// Percentile returns the latency below which p percent of the calls
// finished (p from 0 to 100), or 0 when no call was counted.
func (r *Result) Percentile(p float64) time.Duration {
	if r.Count == 0 {
		return 0
	}
	return micros(r.latency.ValueAtPercentile(p))
}

// Mean returns the mean latency.
func (r *Result) Mean() time.Duration {
	if r.Count == 0 {
		return 0
	}
	return time.Duration(r.latency.Mean() * float64(time.Microsecond))
}

// Min returns the shortest latency.
func (r *Result) Min() time.Duration {
	if r.Count == 0 {
		return 0
	}
	return micros(r.latency.Min())
}

// Max returns the longest latency.
func (r *Result) Max() time.Duration {
	if r.Count == 0 {
		return 0
	}
	return micros(r.latency.Max())
}

func micros(us int64) time.Duration { return time.Duration(us) * time.Microsecond }

// Bucket is one bar of the latency histogram: Count calls took at most Le
// (and more than the previous bucket's Le).
type Bucket struct {
	Le    time.Duration
	Count int64
}

// Histogram returns the latency distribution in n buckets whose bounds
// grow geometrically from the shortest latency to the longest, so that a
// long tail does not squeeze every call into the first bar.
func (r *Result) Histogram(n int) []Bucket {
	if r.Count == 0 || n < 1 {
		return nil
	}
	lo, hi := float64(r.latency.Min()), float64(r.latency.Max())
	lo = max(lo, 1)
	buckets := make([]Bucket, n)
	ratio := math.Pow(hi/lo, 1/float64(n))
	for i := range buckets {
		buckets[i].Le = micros(int64(math.Ceil(lo * math.Pow(ratio, float64(i+1)))))
	}
	buckets[n-1].Le = micros(int64(hi))
	for _, bar := range r.latency.Distribution() {
		if bar.Count == 0 {
			continue
		}
		// A bar is a range of values the histogram does not tell apart;
		// its upper end is what Max reports for the longest call.
		v := micros(bar.To)
		i, _ := slices.BinarySearchFunc(buckets, v, func(b Bucket, v time.Duration) int { return cmp.Compare(b.Le, v) })
		buckets[min(i, n-1)].Count += bar.Count
	}
	return buckets
}

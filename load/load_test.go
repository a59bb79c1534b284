package load

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// fakeCaller answers every call after delay, failing the calls that fail
// picks, and names its server.
type fakeCaller struct {
	delay  time.Duration
	fail   func(n int64) error
	server string
	calls  *atomic.Int64
}

func (f *fakeCaller) Call(ctx context.Context, n int64) (Outcome, error) {
	f.calls.Add(1)
	if f.delay > 0 {
		select {
		case <-time.After(f.delay):
		case <-ctx.Done():
			return Outcome{}, status.FromContextError(ctx.Err()).Err()
		}
	}
	if f.fail != nil {
		if err := f.fail(n); err != nil {
			return Outcome{Server: f.server}, err
		}
	}
	return Outcome{Responses: 1, Server: f.server}, nil
}

func fakeCallers(n int, delay time.Duration, fail func(int64) error) ([]Caller, *atomic.Int64) {
	var calls atomic.Int64
	callers := make([]Caller, n)
	for i := range callers {
		callers[i] = &fakeCaller{delay: delay, fail: fail, server: []string{"a", "b"}[i%2], calls: &calls}
	}
	return callers, &calls
}

func TestRunCounts(t *testing.T) {
	t.Parallel()
	callers, calls := fakeCallers(7, 0, func(n int64) error {
		if n%10 == 0 {
			return status.Error(codes.NotFound, "no such thing")
		}
		if n%10 == 1 {
			return errors.New("not a status")
		}
		return nil
	})
	res, err := Run(t.Context(), Options{Requests: 1000, Warmup: 50, ServerHeader: "x-server-pid"}, callers)
	if err != nil {
		t.Fatal(err)
	}
	if got := calls.Load(); got != 1050 {
		t.Errorf("made %d calls, want 1000 + 50 warm-up", got)
	}
	if res.Count != 1000 || res.Errors != 200 || res.Status[codes.OK] != 800 ||
		res.Status[codes.NotFound] != 100 || res.Status[codes.Unknown] != 100 {
		t.Errorf("count %d errors %d status %v; want 1000, 200, 800 OK, 100 NotFound, 100 Unknown", res.Count, res.Errors, res.Status)
	}
	if res.Responses != 800 || res.Servers["a"]+res.Servers["b"] != 1000 || res.Interrupted {
		t.Errorf("responses %d, servers %v, interrupted %v", res.Responses, res.Servers, res.Interrupted)
	}
	var texts []string
	for _, m := range res.Messages {
		texts = append(texts, m.Text)
	}
	if len(texts) != 2 || !strings.Contains(strings.Join(texts, "|"), "NotFound: no such thing") ||
		!strings.Contains(strings.Join(texts, "|"), "Unknown: not a status") {
		t.Errorf("messages %q", texts)
	}
	var inBuckets int64
	for _, b := range res.Histogram(histogramBars) {
		inBuckets += b.Count
	}
	if inBuckets != res.Count {
		t.Errorf("histogram holds %d calls, want %d", inBuckets, res.Count)
	}
}

// TestFailureMessagesAcrossWorkers: a message is counted whichever worker
// saw it, even one that had seen ten other messages first, and only what
// the run does not list is unlisted.
func TestFailureMessagesAcrossWorkers(t *testing.T) {
	t.Parallel()
	messages := newFailureMessages()
	w0, w1 := newWorker(nil, messages), newWorker(nil, messages)
	fail := func(w *worker, text string) {
		w.record(time.Millisecond, Outcome{}, status.Error(codes.NotFound, text))
	}
	fail(w1, "common")
	for i := range 10 {
		fail(w0, fmt.Sprint("m", i))
	}
	for range 5 {
		fail(w0, "common")
	}
	fail(w0, "rare") // with m9, past the ten the run lists
	res := merge([]*worker{w0, w1}, messages, time.Second)
	if len(res.Messages) != maxMessages || res.Messages[0].Text != "NotFound: common" || res.Messages[0].Count != 6 {
		t.Errorf("messages %+v; want %d, the first NotFound: common with all 6 of its failures", res.Messages, maxMessages)
	}
	if res.Unlisted != 2 || res.Errors != 17 {
		t.Errorf("unlisted %d of %d errors; want 2 (m9 and rare) of 17", res.Unlisted, res.Errors)
	}
}

func TestRunDuration(t *testing.T) {
	t.Parallel()
	callers, _ := fakeCallers(4, time.Millisecond, nil)
	start := time.Now()
	res, err := Run(t.Context(), Options{Duration: 300 * time.Millisecond}, callers)
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < 300*time.Millisecond || took > 2*time.Second {
		t.Errorf("a 300ms run took %v", took)
	}
	if res.Count == 0 || res.Errors != 0 {
		t.Errorf("count %d errors %d", res.Count, res.Errors)
	}
}

func TestRunRate(t *testing.T) {
	t.Parallel()
	callers, _ := fakeCallers(8, 0, nil)
	res, err := Run(t.Context(), Options{Requests: 300, RPS: 500}, callers)
	if err != nil {
		t.Fatal(err)
	}
	if rps := res.RPS(); rps < 450 || rps > 550 {
		t.Errorf("rate %.1f/s, want 500 ± 10%%", rps)
	}
}

// TestRunRateFewCalls: n calls under a limit of r a second span at least
// n/r, so the measured rate is never over the limit, however few they are.
// (Due at i/r, 10 calls at 100/s spanned 90 ms: 111/s.)
func TestRunRateFewCalls(t *testing.T) {
	t.Parallel()
	callers, _ := fakeCallers(2, 0, nil)
	res, err := Run(t.Context(), Options{Requests: 10, RPS: 100}, callers)
	if err != nil {
		t.Fatal(err)
	}
	if rps := res.RPS(); res.Count != 10 || rps > 100 {
		t.Errorf("%d calls at %.1f/s, want 10 at no more than the limit of 100/s", res.Count, rps)
	}
}

// TestRunTinyRate: a rate so low that the first call's due time is past
// what a duration holds makes no call, rather than no limit.
func TestRunTinyRate(t *testing.T) {
	t.Parallel()
	callers, calls := fakeCallers(1, 0, nil)
	if _, err := Run(t.Context(), Options{Requests: 3, RPS: 1e-10, Duration: 50 * time.Millisecond}, callers); err != nil {
		t.Fatal(err)
	}
	if n := calls.Load(); n != 0 {
		t.Errorf("made %d calls at one per 317 years within 50 ms", n)
	}
}

func TestRunInterrupted(t *testing.T) {
	t.Parallel()
	callers, _ := fakeCallers(3, 5*time.Millisecond, nil)
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	res, err := Run(ctx, Options{Duration: time.Minute}, callers)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Interrupted || res.Count == 0 || res.Errors != 0 {
		t.Errorf("interrupted %v, count %d, errors %d: want a clean partial result", res.Interrupted, res.Count, res.Errors)
	}
}

func TestRunOptions(t *testing.T) {
	t.Parallel()
	callers, _ := fakeCallers(1, 0, nil)
	for _, o := range []Options{{}, {Requests: -1}, {Requests: 1, RPS: -2}, {Requests: 1, RPS: math.NaN()}, {Requests: 1, RPS: math.Inf(1)}} {
		if _, err := Run(t.Context(), o, callers); err == nil {
			t.Errorf("Run(%+v) succeeded", o)
		}
	}
	if _, err := Run(t.Context(), Options{Requests: 1}, nil); err == nil {
		t.Error("Run without callers succeeded")
	}
}

// syncBuffer is a bytes.Buffer safe for the progress goroutine and a test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestProgress(t *testing.T) {
	t.Parallel()
	callers, _ := fakeCallers(2, time.Millisecond, nil)
	var out syncBuffer
	_, err := Run(t.Context(), Options{Requests: 200, Progress: &out, ProgressInterval: 10 * time.Millisecond}, callers)
	if err != nil {
		t.Fatal(err)
	}
	got := out.String()
	if !strings.Contains(got, "/200 requests") || !strings.Contains(got, "req/s") || !strings.HasSuffix(got, "\r\x1b[K") {
		t.Errorf("progress output %q: want lines of done/total and rate, cleared at the end", got)
	}
}

func sampleResult(t *testing.T) *Result {
	t.Helper()
	callers, _ := fakeCallers(2, 0, func(n int64) error {
		if n%4 == 0 {
			return status.Error(codes.Unavailable, "try later")
		}
		return nil
	})
	res, err := Run(t.Context(), Options{Requests: 40, ServerHeader: "x-server-pid"}, callers)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestWriteText(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	if err := Write(&b, sampleResult(t), Text); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Count:", "40", "Errors:", "10", "Requests/s:", "p99.9", "Histogram", "|#",
		"Status codes:", "OK           30", "Unavailable  10", "Servers (x-server-pid):", "[10] Unavailable: try later"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("text report lacks %q:\n%s", want, b.String())
		}
	}
}

func TestWriteJSON(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	if err := Write(&b, sampleResult(t), JSON); err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Count   int64              `json:"count"`
		Errors  int64              `json:"errors"`
		RPS     float64            `json:"rps"`
		Latency map[string]float64 `json:"latency_ms"`
		Status  map[string]int64   `json:"status"`
		Servers map[string]int64   `json:"servers"`
	}
	if err := json.Unmarshal(b.Bytes(), &rep); err != nil {
		t.Fatalf("%v:\n%s", err, b.String())
	}
	if rep.Count != 40 || rep.Errors != 10 || rep.RPS <= 0 || rep.Status["OK"] != 30 || rep.Status["Unavailable"] != 10 || rep.Servers["a"]+rep.Servers["b"] != 40 {
		t.Errorf("report %+v", rep)
	}
	for _, k := range []string{"p50", "p90", "p95", "p99", "p999", "max", "mean"} {
		if _, ok := rep.Latency[k]; !ok {
			t.Errorf("latency_ms lacks %s", k)
		}
	}
}

func TestWriteCSV(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	if err := Write(&b, sampleResult(t), CSV); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&b).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[0][0] != "count" || rows[1][0] != "40" || len(rows[0]) != len(rows[1]) {
		t.Fatalf("csv %q", rows)
	}
	if got := rows[1][len(rows[1])-2]; got != "OK=30;Unavailable=10" {
		t.Errorf("status column %q", got)
	}
}

func TestParseOutput(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]Output{"": Text, "text": Text, "json": JSON, "csv": CSV} {
		if got, err := ParseOutput(name); err != nil || got != want {
			t.Errorf("ParseOutput(%q) = %q, %v", name, got, err)
		}
	}
	if _, err := ParseOutput("xml"); err == nil {
		t.Error("ParseOutput(xml) succeeded")
	}
}

// The engine's share of a call (claiming it, timing it, recording it)
// allocates nothing, so a run costs what its calls cost.
func TestHotPathAllocations(t *testing.T) {
	w := newWorker(nil, newFailureMessages())
	p := &phase{stop: make(chan struct{})}
	out := Outcome{Responses: 1, Server: "1234"}
	w.record(time.Millisecond, out, nil) // the first sighting of a server adds it
	allocs := testing.AllocsPerRun(1000, func() {
		if _, ok := p.claim(); !ok {
			t.Fatal("claim failed")
		}
		w.record(time.Millisecond, out, nil)
	})
	if allocs != 0 {
		t.Errorf("claiming and recording a call allocates %.1f times", allocs)
	}
}

func TestRandomInt(t *testing.T) {
	t.Parallel()
	for _, r := range [][2]int64{{1, 1}, {-3, 3}, {-1 << 63, 1<<63 - 1}, {-5, 1<<63 - 1}} {
		for range 100 {
			if v, err := randomInt(r[0], r[1]); err != nil || v < r[0] || v > r[1] {
				t.Fatalf("randomInt(%d, %d) = %d, %v", r[0], r[1], v, err)
			}
		}
	}
	if _, err := randomInt(2, 1); err == nil {
		t.Error("randomInt(2, 1) succeeded")
	}
}

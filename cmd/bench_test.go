package cmd

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/grpcx/grpcx/internal/testutil"
	"github.com/grpcx/grpcx/testserver"
	"github.com/grpcx/grpcx/testserver/testpb"
)

// benchReport is the part of bench -o json the tests read.
type benchReport struct {
	Count       int64              `json:"count"`
	Errors      int64              `json:"errors"`
	Responses   int64              `json:"responses"`
	DurationMS  float64            `json:"duration_ms"`
	RPS         float64            `json:"rps"`
	Interrupted bool               `json:"interrupted"`
	Latency     map[string]float64 `json:"latency_ms"`
	Histogram   []struct {
		Count int64 `json:"count"`
	} `json:"histogram"`
	Status        map[string]int64 `json:"status"`
	ErrorMessages []struct {
		Message string `json:"message"`
		Count   int64  `json:"count"`
	} `json:"error_messages"`
	Servers map[string]int64 `json:"servers"`
}

func benchJSON(t *testing.T, r runResult) benchReport {
	t.Helper()
	var rep benchReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("bench -o json printed %q: %v\nstderr: %s", r.stdout, err, r.stderr)
	}
	return rep
}

const unary = "grpcx.test.v1.TestService/Unary"

func TestBenchCountsAddUp(t *testing.T) {
	addr := testutil.StartServer(t, testserver.Options{})
	r := run(t, nil, "bench", "--plaintext", "-n", "500", "-c", "10", "--connections", "3", "-o", "json", addr, unary, "-d", `{"message": "hi"}`)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	rep := benchJSON(t, r)
	var inHistogram int64
	for _, b := range rep.Histogram {
		inHistogram += b.Count
	}
	if rep.Count != 500 || rep.Errors != 0 || rep.Responses != 500 || rep.Status["OK"] != 500 || inHistogram != 500 {
		t.Errorf("count %d errors %d responses %d status %v histogram %d: want 500 OK everywhere", rep.Count, rep.Errors, rep.Responses, rep.Status, inHistogram)
	}
	if len(rep.Servers) != 1 || rep.RPS <= 0 || rep.Latency["p50"] <= 0 || rep.Latency["max"] < rep.Latency["p99"] {
		t.Errorf("servers %v rps %v latency %v", rep.Servers, rep.RPS, rep.Latency)
	}
}

func TestBenchFailures(t *testing.T) {
	addr := testutil.StartServer(t, testserver.Options{})
	r := run(t, nil, "bench", "--plaintext", "-n", "40", "-c", "4", addr, "grpcx.test.v1.TestService/Fail",
		"-d", `{"code": 5, "message": "gone"} {"code": 14, "message": "later"}`)
	if r.code != 1 || !strings.Contains(r.stderr, "40 of 40 requests failed") {
		t.Fatalf("exit %d, stderr %q: want 1 and a count of failures", r.code, r.stderr)
	}
	for _, want := range []string{"Count:       40", "NotFound     20", "Unavailable  20", "[20] NotFound: gone", "[20] Unavailable: later"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("report lacks %q:\n%s", want, r.stdout)
		}
	}
}

func TestBenchDuration(t *testing.T) {
	addr := testutil.StartServer(t, testserver.Options{})
	start := time.Now()
	r := run(t, nil, "bench", "--plaintext", "-z", "1s", "-c", "4", "-o", "json", addr, unary)
	took := time.Since(start)
	rep := benchJSON(t, r)
	if r.code != 0 || rep.Count == 0 || rep.Errors != 0 {
		t.Fatalf("exit %d count %d errors %d: %s", r.code, rep.Count, rep.Errors, r.stderr)
	}
	if took < time.Second || took > 5*time.Second || rep.DurationMS < 1000 || rep.DurationMS > 2000 {
		t.Errorf("-z 1s ran %v (report: %.0f ms)", took, rep.DurationMS)
	}
}

func TestBenchRate(t *testing.T) {
	addr := testutil.StartServer(t, testserver.Options{})
	r := run(t, nil, "bench", "--plaintext", "--rps", "200", "-n", "300", "-c", "10", "-o", "json", addr, unary)
	rep := benchJSON(t, r)
	if r.code != 0 || rep.Count != 300 {
		t.Fatalf("exit %d count %d: %s", r.code, rep.Count, r.stderr)
	}
	if rep.RPS < 180 || rep.RPS > 220 {
		t.Errorf("--rps 200 ran at %.1f requests/s, beyond 10%%", rep.RPS)
	}
	// With a time limit, the count follows from the rate.
	r = run(t, nil, "bench", "--plaintext", "--rps", "100", "-z", "1500ms", "-c", "5", "-o", "json", addr, unary)
	if rep = benchJSON(t, r); rep.Count < 135 || rep.Count > 165 {
		t.Errorf("--rps 100 for 1.5s made %d requests, want 150 ± 10%%", rep.Count)
	}
}

// messageRecorder is a test server interceptor keeping the message of
// every EchoRequest.
type messageRecorder struct {
	mu   sync.Mutex
	seen []string
}

func (m *messageRecorder) intercept(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	if r, ok := req.(*testpb.EchoRequest); ok {
		m.mu.Lock()
		m.seen = append(m.seen, r.GetMessage())
		m.mu.Unlock()
	}
	return h(ctx, req)
}

func TestBenchTemplatesAndWarmup(t *testing.T) {
	rec := &messageRecorder{}
	s := grpc.NewServer(append(testserver.ServerOptions(testserver.Options{}), grpc.ChainUnaryInterceptor(rec.intercept))...)
	testserver.Register(s, testserver.NewService(), testserver.Options{})
	addr := testutil.Serve(t, "127.0.0.1:0", s)
	r := run(t, nil, "bench", "--plaintext", "-n", "100", "--warmup", "20", "-c", "5", "-o", "json", addr, unary,
		"-d", `{"message": "{{.RequestNumber}} {{.WorkerID}} {{randomString 8}} {{randomInt 1 9}}"}`)
	rep := benchJSON(t, r)
	if r.code != 0 || rep.Count != 100 {
		t.Fatalf("exit %d count %d: %s", r.code, rep.Count, r.stderr)
	}
	distinct := map[string]bool{}
	numbers := map[string]bool{}
	for _, m := range rec.seen {
		distinct[m] = true
		numbers[strings.Fields(m)[0]] = true
	}
	if len(rec.seen) != 120 || len(distinct) != 120 || len(numbers) != 120 {
		t.Errorf("the server saw %d requests, %d distinct, %d request numbers: want 120 (100 + 20 warm-up) of each", len(rec.seen), len(distinct), len(numbers))
	}
}

func TestBenchStreams(t *testing.T) {
	addr := testutil.StartServer(t, testserver.Options{})
	for _, tc := range []struct {
		method, data, messages string
		responses              int64
	}{
		{"ClientStream", `{"number": 1} {"number": 2}`, "5", 20},
		{"Bidi", `{"message": "b"}`, "3", 60},
		{"ServerStream", `{"count": 4}`, "0", 80},
	} {
		r := run(t, nil, "bench", "--plaintext", "-n", "20", "-c", "4", "--stream-messages", tc.messages, "-o", "json", addr,
			"grpcx.test.v1.TestService/"+tc.method, "-d", tc.data)
		rep := benchJSON(t, r)
		if r.code != 0 || rep.Count != 20 || rep.Responses != tc.responses {
			t.Errorf("%s: exit %d count %d responses %d, want 0, 20, %d (%s)", tc.method, r.code, rep.Count, rep.Responses, tc.responses, r.stderr)
		}
	}
}

func TestBenchOutputs(t *testing.T) {
	addr := testutil.StartServer(t, testserver.Options{})
	r := run(t, nil, "bench", "--plaintext", "-n", "30", "-c", "3", "-o", "csv", addr, unary)
	rows, err := csv.NewReader(strings.NewReader(r.stdout)).ReadAll()
	if r.code != 0 || err != nil || len(rows) != 2 || rows[0][0] != "count" || rows[1][0] != "30" {
		t.Errorf("-o csv: exit %d, %v, rows %q", r.code, err, rows)
	}
	r = run(t, nil, "bench", "--plaintext", "-n", "30", "-c", "3", addr, unary)
	for _, want := range []string{"Summary:", "Requests/s:", "Latency:", "p99.9", "Histogram", "Status codes:", "OK  30", "Servers (x-server-pid):"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("text report lacks %q:\n%s", want, r.stdout)
		}
	}
}

func TestBenchInterrupted(t *testing.T) {
	addr := testutil.StartServer(t, testserver.Options{})
	ctx, cancel := context.WithTimeout(t.Context(), 700*time.Millisecond)
	defer cancel()
	var stdout, stderr strings.Builder
	code := Main(ctx, []string{"bench", "--plaintext", "-z", "1m", "-c", "4", addr, "grpcx.test.v1.TestService/Slow", "-d", `{"duration": "0.1s"}`}, nil, &stdout, &stderr)
	if code != 1 || !strings.Contains(stdout.String(), "Interrupted: this report covers") || !strings.Contains(stdout.String(), "OK") ||
		strings.Contains(stdout.String(), "Canceled") {
		t.Errorf("exit %d\nstdout:\n%s\nstderr:\n%s\nwant exit 1 and a report of the completed calls only", code, &stdout, &stderr)
	}
}

func TestBenchUsage(t *testing.T) {
	addr := testutil.StartServer(t, testserver.Options{})
	for _, args := range [][]string{
		{"-c", "2", "--connections", "3"},
		{"-n", "0"},
		{"-o", "xml"},
		{"-c", "0"},
		{"--rps", "-1"},
		{"--compress", "br"},
	} {
		r := run(t, nil, append(append([]string{"bench", "--plaintext"}, args...), addr, unary)...)
		if r.code != 2 {
			t.Errorf("bench %s: exit %d, want 2 (%s)", strings.Join(args, " "), r.code, r.stderr)
		}
	}
	if r := run(t, nil, "bench", "--plaintext", addr, unary, "-d", `{"nope": 1}`); r.code != 1 || !strings.Contains(r.stderr, "--allow-unknown-fields") {
		t.Errorf("unknown field: exit %d, %q", r.code, r.stderr)
	}
}

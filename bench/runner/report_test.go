package main

import (
	"strings"
	"testing"
	"time"
)

func TestMedian(t *testing.T) {
	tests := []struct {
		in   []int64
		want int64
	}{
		{nil, 0},
		{[]int64{7}, 7},
		{[]int64{9, 1, 5}, 5},
		{[]int64{4, 1, 3, 2}, 2}, // (2+3)/2 in integers
		{[]int64{10, 30}, 20},
	}
	for _, tt := range tests {
		if got := median(tt.in); got != tt.want {
			t.Errorf("median(%v) = %d, want %d", tt.in, got, tt.want)
		}
	}
}

// TestMedianInterval checks the interval's ranks against the binomial
// tables: 1 to n below six values, 2 and 10 of 11, 6 and 16 of 21, 41 and
// 61 of 101.
func TestMedianInterval(t *testing.T) {
	tests := []struct {
		n, lo, hi int // 1-based ranks
	}{
		{1, 1, 1}, {5, 1, 5}, {6, 1, 6}, {11, 2, 10}, {21, 6, 16}, {101, 41, 61},
	}
	for _, tt := range tests {
		// The values are their ranks, shuffled by a stride coprime with n.
		xs := make([]float64, tt.n)
		for i := range xs {
			xs[i] = float64((i*13)%tt.n + 1)
		}
		if tt.n%13 == 0 {
			t.Fatalf("stride 13 does not shuffle %d values", tt.n)
		}
		lo, hi := medianInterval(xs)
		if lo != float64(tt.lo) || hi != float64(tt.hi) {
			t.Errorf("medianInterval of %d values = ranks %v–%v, want %d–%d", tt.n, lo, hi, tt.lo, tt.hi)
		}
	}
	if lo, hi := medianInterval(nil); lo != 0 || hi != 0 {
		t.Errorf("medianInterval(nil) = %v, %v, want zeros", lo, hi)
	}
}

func TestSelectCases(t *testing.T) {
	cases, err := selectCases("memory,unary")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range cases {
		names = append(names, c.name)
	}
	if got, want := strings.Join(names, ","), "unary,memory-10k,memory-1M"; got != want {
		t.Errorf("selectCases: got %s, want %s", got, want)
	}
	if _, err := selectCases("unary,nope"); err == nil {
		t.Error("selectCases accepted an unknown case")
	}
}

// result builds a finished case from one sample per client.
func result(name string, goal float64, samples map[string]sample) *caseResult {
	r := &caseResult{Name: name, Goal: goal, Clients: map[string]*clientResult{}}
	for client, s := range samples {
		r.Clients[client] = &clientResult{Samples: []sample{s}}
	}
	r.finish()
	return r
}

func TestWriteTable(t *testing.T) {
	ms := time.Millisecond
	rep := &report{Rounds: 1, Server: "127.0.0.1:1", Cases: []*caseResult{
		result("unary", 1.3, map[string]sample{
			"grpcx": {Wall: 12 * ms, CPU: 10 * ms, RSS: 20480},
			"stub":  {Wall: 10 * ms, CPU: 8 * ms, RSS: 10240},
		}),
		result(memorySmall, 0, map[string]sample{
			"grpcx": {Wall: 2 * time.Second, CPU: ms, RSS: 10240},
			"stub":  {Wall: ms, CPU: ms, RSS: 10240},
		}),
		result(memoryLarge, 0, map[string]sample{
			"grpcx": {Wall: ms, CPU: ms, RSS: 15360},
			"stub":  {Wall: ms, CPU: ms, RSS: 11264},
		}),
	}}
	rep.Memory = memoryCheck(rep.Cases)
	var b strings.Builder
	if err := writeTable(&b, rep); err != nil {
		t.Fatal(err)
	}
	want := `rounds: 1, server: 127.0.0.1:1
case        metric  grpcx    stub     grpcx/stub  95% CI           goal   result
unary       wall    12.0ms   10.0ms   1.20        1.20–1.20        ≤1.30  PASS
            cpu     10.0ms   8.0ms    1.25
            rss     20.0MiB  10.0MiB  2.00
memory-10k  wall    2.00s    1.0ms    2000.00     2000.00–2000.00
            cpu     1.0ms    1.0ms    1.00
            rss     10.0MiB  10.0MiB  1.00
memory-1M   wall    1.0ms    1.0ms    1.00        1.00–1.00
            cpu     1.0ms    1.0ms    1.00
            rss     15.0MiB  11.0MiB  1.36

memory: peak RSS of a ServerStream of 10,000 vs 1,000,000 messages
client  10k      1M       1M/10k  goal   result
grpcx   10.0MiB  15.0MiB  1.50    ≤1.20  MISS
stub    10.0MiB  11.0MiB  1.10
`
	if got := b.String(); got != want {
		t.Errorf("writeTable:\n%s\nwant:\n%s", got, want)
	}
}

func TestMoreRounds(t *testing.T) {
	rep := &report{Rounds: 5, Cases: []*caseResult{
		{Name: "unary", Rounds: 21}, {Name: "unary-1MiB", Rounds: 21}, {Name: "bidi-100k", Rounds: 5},
	}}
	if got, want := moreRounds(rep), " (21 for unary, unary-1MiB)"; got != want {
		t.Errorf("moreRounds = %q, want %q", got, want)
	}
	rep.Rounds = 30
	if got := moreRounds(rep); got != "" {
		t.Errorf("moreRounds with every case at the report's rounds = %q, want none", got)
	}
}

// TestPairedRatio: the ratio is the median of each round's ratio, which a
// drifting machine moves less than the ratio of the two medians.
func TestPairedRatio(t *testing.T) {
	ms := time.Millisecond
	r := &caseResult{Name: "x", Goal: 1.1, Clients: map[string]*clientResult{
		"grpcx": {Samples: []sample{{Wall: 10 * ms}, {Wall: 20 * ms}, {Wall: 30 * ms}}},
		"stub":  {Samples: []sample{{Wall: 9 * ms}, {Wall: 21 * ms}, {Wall: 27 * ms}}},
	}}
	r.finish()
	// Rounds: 1.11, 0.95, 1.11; the medians' ratio would be 20/21 = 0.95.
	if got, want := r.WallRatio, 10.0/9; got < want-1e-9 || got > want+1e-9 {
		t.Errorf("WallRatio = %v, want %v", got, want)
	}
	if r.Result != "MISS" {
		t.Errorf("Result = %s, want MISS", r.Result)
	}
	// Too few rounds for a 95% interval: it spans them all.
	if lo, hi := r.WallRange[0], r.WallRange[1]; lo != 20.0/21 || hi != 10.0/9 {
		t.Errorf("WallRange = %v–%v, want %v–%v", lo, hi, 20.0/21, 10.0/9)
	}
	if got := r.pairedRatio("grpcx", "other", func(s sample) float64 { return float64(s.Wall) }); got != 0 {
		t.Errorf("ratio against a client that did not run = %v, want 0", got)
	}
}

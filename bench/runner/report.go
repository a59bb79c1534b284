package main

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// report is everything the runner measured; -json prints it as is.
type report struct {
	Rounds int           `json:"rounds"`
	Server string        `json:"server"`
	Other  string        `json:"other,omitempty"` // the GRPCX_BENCH_OTHER command prefix
	Cases  []*caseResult `json:"cases"`
	Memory *memoryResult `json:"memory,omitempty"`
	Cache  *cacheResult  `json:"cache,omitempty"`
}

// caseResult is one case's samples and medians, by client name ("grpcx",
// "stub", "other").
type caseResult struct {
	Name      string                   `json:"name"`
	Method    string                   `json:"method"`
	Rounds    int                      `json:"rounds"`
	Clients   map[string]*clientResult `json:"clients"`
	WallRatio float64                  `json:"wall_ratio"` // median of the rounds' grpcx/stub wall times
	// WallRange is a 95% confidence interval of WallRatio (see
	// [medianInterval]), from the spread of this run's rounds alone: runs
	// minutes apart on a VM whose speed drifts can differ by more.
	WallRange [2]float64 `json:"wall_ratio_ci95"`
	Goal      float64    `json:"goal,omitempty"` // largest acceptable WallRatio
	Result    string     `json:"result,omitempty"`
}

// clientResult is one client's samples on a case and their medians.
type clientResult struct {
	Median  sample   `json:"median"`
	Samples []sample `json:"samples"`
}

// memoryResult compares each client's median peak RSS on the large memory
// case with the small one; only grpcx's growth has a goal.
type memoryResult struct {
	SmallRSS map[string]int64   `json:"small_rss_kib"` // by client name
	LargeRSS map[string]int64   `json:"large_rss_kib"`
	Growth   map[string]float64 `json:"rss_growth"` // large/small
	Goal     float64            `json:"goal"`
	Result   string             `json:"result"`
}

// finish computes the medians, the wall-time ratio and the verdict.
func (r *caseResult) finish() {
	for _, c := range r.Clients {
		c.Median = medians(c.Samples)
	}
	wall := r.pairedRatios("grpcx", "stub", func(s sample) float64 { return float64(s.Wall) })
	r.WallRatio = median(wall)
	r.WallRange[0], r.WallRange[1] = medianInterval(wall)
	if r.Goal > 0 {
		r.Result = verdict(r.WallRatio, r.Goal)
	}
}

// pairedRatio is the median over rounds of a's figure divided by b's in
// the same round. grpcx and the stub run back to back in every round (the
// order reversed every other round), so a machine whose speed drifts
// between rounds moves both alike and their ratio hardly; the ratio of the
// two medians would mix samples from different rounds. (A third client runs
// after them or before them, so its pairing with grpcx is looser.) Rounds
// where b's figure is zero are left out; zero if none is left.
func (r *caseResult) pairedRatio(a, b string, figure func(sample) float64) float64 {
	return median(r.pairedRatios(a, b, figure))
}

// pairedRatios returns each round's a/b ratio of figure, leaving out rounds
// where b's figure is zero; none if either client did not run.
func (r *caseResult) pairedRatios(a, b string, figure func(sample) float64) []float64 {
	ca, cb := r.Clients[a], r.Clients[b]
	if ca == nil || cb == nil {
		return nil
	}
	var ratios []float64
	for i := range min(len(ca.Samples), len(cb.Samples)) {
		if d := figure(cb.Samples[i]); d != 0 {
			ratios = append(ratios, figure(ca.Samples[i])/d)
		}
	}
	return ratios
}

// median returns the medians of client, zero if it did not run.
func (r *caseResult) median(client string) sample {
	if c := r.Clients[client]; c != nil {
		return c.Median
	}
	return sample{}
}

// memoryCheck returns the memory comparison, or nil unless both memory
// cases ran.
func memoryCheck(cases []*caseResult) *memoryResult {
	var small, large *caseResult
	for _, c := range cases {
		switch c.Name {
		case memorySmall:
			small = c
		case memoryLarge:
			large = c
		}
	}
	if small == nil || large == nil {
		return nil
	}
	m := &memoryResult{SmallRSS: map[string]int64{}, LargeRSS: map[string]int64{}, Growth: map[string]float64{}, Goal: memoryGoal}
	for name := range large.Clients {
		m.SmallRSS[name], m.LargeRSS[name] = small.median(name).RSS, large.median(name).RSS
		m.Growth[name] = ratio(float64(m.LargeRSS[name]), float64(m.SmallRSS[name]))
	}
	m.Result = verdict(m.Growth["grpcx"], m.Goal)
	return m
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

func verdict(ratio, goal float64) string {
	if ratio <= goal {
		return "PASS"
	}
	return "MISS"
}

// writeTable prints rep for people: three lines a case (wall, CPU, peak
// RSS) with the medians of each client and their ratios, then the memory
// comparison.
func writeTable(w io.Writer, rep *report) error {
	other := rep.Other != ""
	head := fmt.Sprintf("rounds: %d%s, server: %s", rep.Rounds, moreRounds(rep), rep.Server)
	if other {
		head += ", other: " + rep.Other
	}
	rows := [][]string{{"case", "metric", "grpcx", "stub", "grpcx/stub", "95% CI"}}
	if other {
		rows[0] = append(rows[0], "other", "other/grpcx")
	}
	rows[0] = append(rows[0], "goal", "result")
	for _, c := range rep.Cases {
		g, s, o := c.median("grpcx"), c.median("stub"), c.median("other")
		metrics := []struct {
			name   string
			figure func(sample) float64
			show   func(float64) string
		}{
			{"wall", func(s sample) float64 { return float64(s.Wall) }, duration},
			{"cpu", func(s sample) float64 { return float64(s.CPU) }, duration},
			{"rss", func(s sample) float64 { return float64(s.RSS) }, kib},
		}
		for i, m := range metrics {
			row := []string{"", m.name, m.show(m.figure(g)), m.show(m.figure(s)), fmt.Sprintf("%.2f", c.pairedRatio("grpcx", "stub", m.figure)), ""}
			if i == 0 {
				row[5] = fmt.Sprintf("%.2f–%.2f", c.WallRange[0], c.WallRange[1])
			}
			if other {
				row = append(row, m.show(m.figure(o)), fmt.Sprintf("%.2f", c.pairedRatio("other", "grpcx", m.figure)))
			}
			if i == 0 {
				row[0] = c.Name
				if c.Goal > 0 {
					row = append(row, fmt.Sprintf("≤%.2f", c.Goal), c.Result)
				}
			}
			rows = append(rows, row)
		}
	}
	if err := writeAligned(w, head, rows); err != nil {
		return err
	}
	m := rep.Memory
	if m == nil {
		return nil
	}
	rows = [][]string{{"client", "10k", "1M", "1M/10k", "goal", "result"}}
	for _, name := range []string{"grpcx", "stub", "other"} {
		if growth, ok := m.Growth[name]; ok {
			row := []string{name, kib(float64(m.SmallRSS[name])), kib(float64(m.LargeRSS[name])), fmt.Sprintf("%.2f", growth)}
			if name == "grpcx" {
				row = append(row, fmt.Sprintf("≤%.2f", m.Goal), m.Result)
			}
			rows = append(rows, row)
		}
	}
	return writeAligned(w, "\nmemory: peak RSS of a ServerStream of 10,000 vs 1,000,000 messages", rows)
}

// writeAligned prints a heading line and then rows in aligned columns,
// without trailing blanks. Short rows are padded to the first row's length,
// since tabwriter aligns a column only over consecutive rows that have it.
func writeAligned(w io.Writer, heading string, rows [][]string) error {
	var buf bytes.Buffer
	tw := tabwriter.NewWriter(&buf, 0, 0, 2, ' ', 0)
	for _, row := range rows {
		for range len(rows[0]) - len(row) {
			row = append(row, "")
		}
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	lines := []string{heading}
	for line := range strings.Lines(buf.String()) {
		lines = append(lines, strings.TrimRight(line, " \n"))
	}
	_, err := fmt.Fprintln(w, strings.Join(lines, "\n"))
	return err
}

// duration shows nanoseconds in ms below a second, in s above.
func duration(ns float64) string {
	if d := time.Duration(ns); d >= time.Second {
		return fmt.Sprintf("%.2fs", d.Seconds())
	}
	return fmt.Sprintf("%.1fms", ns/float64(time.Millisecond))
}

// kib shows a KiB count in MiB.
func kib(n float64) string { return fmt.Sprintf("%.1fMiB", n/1024) }

// moreRounds names the cases that ran more rounds than the report's, as
// " (21 for unary, unary-1MiB)".
func moreRounds(rep *report) string {
	byCount := map[int][]string{}
	var counts []int
	for _, c := range rep.Cases {
		if c.Rounds > rep.Rounds {
			if byCount[c.Rounds] == nil {
				counts = append(counts, c.Rounds)
			}
			byCount[c.Rounds] = append(byCount[c.Rounds], c.Name)
		}
	}
	var parts []string
	for _, n := range counts {
		parts = append(parts, fmt.Sprintf("%d for %s", n, strings.Join(byCount[n], ", ")))
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, "; ") + ")"
}

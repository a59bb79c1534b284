package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The load comparison (-load): grpcx bench against bench/stubload, a load
// generator compiled from the generated stubs, on the same test server.

// loadOptions are the flags of -load mode.
type loadOptions struct {
	enabled  bool
	stubload string
	requests int
	workers  int
	large    int // requests of the memory check
}

// addLoadFlags adds the flags of -load mode to fs.
func addLoadFlags(fs *flag.FlagSet, o *loadOptions) {
	fs.BoolVar(&o.enabled, "load", false, "compare `grpcx bench` with bench/stubload instead of timing calls (needs -grpcx and -stubload)")
	fs.StringVar(&o.stubload, "stubload", "", "built bench/stubload binary (`PATH`), for -load")
	fs.IntVar(&o.requests, "load-n", 50_000, "requests per run in -load mode (`N`)")
	fs.IntVar(&o.workers, "load-c", 50, "concurrent workers in -load mode (`C`)")
	fs.IntVar(&o.large, "load-large-n", 500_000, "requests of the -load memory check (`N`; 0 skips it)")
}

// loadGoal is the smallest acceptable grpcx/stub requests-per-second ratio,
// and loadMemoryGoal the largest acceptable growth of grpcx's peak RSS
// from -load-n to -load-large-n requests.
const (
	loadGoal       = 0.90
	loadMemoryGoal = 1.10
)

// A loadCase is one workload of the comparison.
type loadCase struct {
	name        string
	data        string
	connections int
}

func loadCases() []loadCase {
	// 98 characters: a 100-byte EchoRequest (tag, length, text), echoed back.
	hundred := `{"message":"` + strings.Repeat("x", 98) + `"}`
	return []loadCase{
		{"unary-empty-1conn", "{}", 1},
		{"unary-empty-4conn", "{}", 4},
		{"unary-100B-4conn", hundred, 4},
	}
}

// loadSample is one run of one load generator.
type loadSample struct {
	sample
	Count int64   `json:"count"`
	RPS   float64 `json:"rps"`
	P50   float64 `json:"p50_ms"`
	P99   float64 `json:"p99_ms"`
}

// cpuPerRequest is the client's CPU time per request.
func (s loadSample) cpuPerRequest() time.Duration {
	if s.Count == 0 {
		return 0
	}
	return s.CPU / time.Duration(s.Count)
}

// loadArgv returns the command lines of grpcx bench and the stub for n
// requests of c.
func loadArgv(o options, addr string, c loadCase, n int) (grpcx, stub []string) {
	common := []string{"-n", strconv.Itoa(n), "-c", strconv.Itoa(o.load.workers), "--connections", strconv.Itoa(c.connections)}
	grpcx = append([]string{o.grpcx, "bench", "--plaintext", "-o", "json"}, common...)
	grpcx = append(grpcx, addr, service+"/Unary", "-d", c.data)
	stub = append([]string{o.load.stubload, "-addr", addr, "-d", c.data}, common...)
	return grpcx, stub
}

// runLoad runs every load case for o.rounds paired rounds, printing each
// round as it completes, then the medians and the memory check.
func runLoad(ctx context.Context, o options, stdout, stderr io.Writer) error {
	if o.grpcx == "" || o.load.stubload == "" || o.rounds < 1 {
		return errors.New("-load needs -grpcx and -stubload binaries and -rounds of at least 1 (bench/load.sh builds and passes them)")
	}
	addr := o.serverAddr
	if addr == "" {
		var stop func()
		var err error
		if addr, stop, err = startServer(ctx, o.grpcx); err != nil {
			return err
		}
		defer stop()
	}
	fmt.Fprintf(stdout, "load: n=%d c=%d, %d rounds, server %s (grpcx testserver), %d CPUs\n",
		o.load.requests, o.load.workers, o.rounds, addr, runtime.NumCPU())
	medianRSS := map[string]int64{}
	for _, c := range loadCases() {
		g, s, err := loadRounds(ctx, o, addr, c, stdout, stderr)
		if err != nil {
			return fmt.Errorf("%s: %w", c.name, err)
		}
		if c.name == "unary-empty-4conn" {
			medianRSS["grpcx"], medianRSS["stub"] = medianOf(g, rssOf), medianOf(s, rssOf)
		}
	}
	if o.load.large > 0 {
		return loadMemory(ctx, o, addr, medianRSS, stdout, stderr)
	}
	return nil
}

// loadRounds runs one case and prints its table.
func loadRounds(ctx context.Context, o options, addr string, c loadCase, stdout, stderr io.Writer) (grpcx, stub []loadSample, err error) {
	rows := [][]string{{"round", "client", "req/s", "cpu/req", "p50", "p99", "rss"}}
	var ratios []float64
	for round := range o.rounds {
		fmt.Fprintf(stderr, "%s: round %d/%d\n", c.name, round+1, o.rounds)
		ga, sa := loadArgv(o, addr, c, o.load.requests)
		g, s, err := pairedRun(ctx, ga, sa, round%2 == 1)
		if err != nil {
			return nil, nil, err
		}
		grpcx, stub = append(grpcx, g), append(stub, s)
		ratios = append(ratios, ratio(g.RPS, s.RPS))
		rows = append(rows, loadRow(strconv.Itoa(round+1), "grpcx", g), loadRow("", "stub", s), ratioRow(g, s))
	}
	r := slices.Sorted(slices.Values(ratios))[len(ratios)/2]
	rows = append(rows, []string{"median", "grpcx/stub", fmt.Sprintf("%.2f", r), "", "", "", "",
		fmt.Sprintf("goal req/s ≥%.2f: %s", loadGoal, atLeast(r, loadGoal))})
	head := fmt.Sprintf("\n%s: --connections %d, -d %s", c.name, c.connections, shorten(c.data))
	return grpcx, stub, writeAligned(stdout, head, rows)
}

// pairedRun runs grpcx then the stub, or the other way round.
func pairedRun(ctx context.Context, grpcxArgv, stubArgv []string, stubFirst bool) (g, s loadSample, err error) {
	if stubFirst {
		if s, err = measureLoad(ctx, stubArgv); err != nil {
			return g, s, err
		}
		g, err = measureLoad(ctx, grpcxArgv)
		return g, s, err
	}
	if g, err = measureLoad(ctx, grpcxArgv); err != nil {
		return g, s, err
	}
	s, err = measureLoad(ctx, stubArgv)
	return g, s, err
}

func loadRow(round, client string, s loadSample) []string {
	return []string{round, client, fmt.Sprintf("%.0f", s.RPS), fmt.Sprintf("%.1fµs", float64(s.cpuPerRequest())/1e3),
		fmt.Sprintf("%.2fms", s.P50), fmt.Sprintf("%.2fms", s.P99), kib(float64(s.RSS))}
}

func ratioRow(g, s loadSample) []string {
	return []string{"", "grpcx/stub", fmt.Sprintf("%.2f", ratio(g.RPS, s.RPS)),
		fmt.Sprintf("%.2f", ratio(float64(g.cpuPerRequest()), float64(s.cpuPerRequest()))),
		fmt.Sprintf("%.2f", ratio(g.P50, s.P50)), fmt.Sprintf("%.2f", ratio(g.P99, s.P99)),
		fmt.Sprintf("%.2f", ratio(float64(g.RSS), float64(s.RSS)))}
}

// loadMemory runs each generator once with the large request count and
// compares its peak RSS with the median of the 4-connection empty case.
func loadMemory(ctx context.Context, o options, addr string, small map[string]int64, stdout, stderr io.Writer) error {
	c := loadCases()[1]
	fmt.Fprintf(stderr, "memory: %d requests each\n", o.load.large)
	ga, sa := loadArgv(o, addr, c, o.load.large)
	g, s, err := pairedRun(ctx, ga, sa, false)
	if err != nil {
		return fmt.Errorf("memory: %w", err)
	}
	large := fmt.Sprintf("%dk", o.load.large/1000)
	rows := [][]string{{"client", fmt.Sprintf("%dk", o.load.requests/1000), large, "growth", "goal", "result"}}
	for _, r := range []struct {
		name string
		s    loadSample
	}{{"grpcx", g}, {"stub", s}} {
		growth := ratio(float64(r.s.RSS), float64(small[r.name]))
		row := []string{r.name, kib(float64(small[r.name])), kib(float64(r.s.RSS)), fmt.Sprintf("%.2f", growth)}
		if r.name == "grpcx" {
			row = append(row, fmt.Sprintf("≤%.2f", loadMemoryGoal), verdict(growth, loadMemoryGoal))
		}
		rows = append(rows, row)
	}
	return writeAligned(stdout, fmt.Sprintf("\nmemory: peak RSS on %s, %s requests vs the median of %d", c.name, large, o.load.requests), rows)
}

func atLeast(r, goal float64) string {
	if r >= goal {
		return "PASS"
	}
	return "MISS"
}

func shorten(s string) string {
	if len(s) > 30 {
		return s[:24] + "…" + s[len(s)-3:]
	}
	return s
}

func rssOf(s loadSample) float64 { return float64(s.RSS) }

func medianOf(samples []loadSample, f func(loadSample) float64) int64 {
	v := make([]int64, len(samples))
	for i, s := range samples {
		v[i] = int64(f(s))
	}
	return median(v)
}

// launchLoadArg, as the first argument, makes the runner a launcher that
// keeps its child's standard output: see [launchLoad].
const launchLoadArg = "-launch-load"

// measureLoad runs a load generator from a fresh copy of the runner (for
// the reason [launch] gives) and returns its costs and its JSON report's
// figures.
func measureLoad(ctx context.Context, argv []string) (loadSample, error) {
	self, err := os.Executable()
	if err != nil {
		return loadSample{}, err
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, self, append([]string{launchLoadArg}, argv...)...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		if msg := tail(stderr.Bytes()); len(msg) > 0 {
			return loadSample{}, errors.New(string(msg))
		}
		return loadSample{}, fmt.Errorf("launcher: %w", err)
	}
	var s loadSample
	if err := json.Unmarshal(stdout.Bytes(), &s); err != nil {
		return loadSample{}, fmt.Errorf("launcher printed %q: %w", stdout.Bytes(), err)
	}
	return s, nil
}

// launchLoad is main for the runner started by [measureLoad]: it runs
// argv with standard input from /dev/null, reads the JSON report it prints
// and prints a loadSample.
func launchLoad(argv []string) int {
	var out bytes.Buffer
	wall, state, err := runChild(context.Background(), argv, os.DevNull, &out)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	var rep struct {
		Count   int64              `json:"count"`
		Errors  int64              `json:"errors"`
		RPS     float64            `json:"rps"`
		Latency map[string]float64 `json:"latency_ms"`
	}
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil || rep.Errors > 0 {
		fmt.Fprintf(os.Stderr, "%s: report %q (%v)\n", argv[0], out.Bytes(), err)
		return 1
	}
	ru := state.SysUsage().(*syscall.Rusage)
	rss := ru.Maxrss
	if runtime.GOOS == "darwin" {
		rss /= 1024
	}
	s := loadSample{
		sample: sample{Wall: wall, CPU: time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), RSS: rss},
		Count:  rep.Count, RPS: rep.RPS, P50: rep.Latency["p50"], P99: rep.Latency["p99"],
	}
	if err := json.NewEncoder(os.Stdout).Encode(s); err != nil {
		return 1
	}
	return 0
}

package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"
)

// A sample is what one run of a client cost.
type sample struct {
	Wall time.Duration `json:"wall_ns"`
	CPU  time.Duration `json:"cpu_ns"`  // user + system time of the child
	RSS  int64         `json:"rss_kib"` // the child's peak resident set
}

// launchArg, as the first argument, makes the runner a launcher: see
// [launch].
const launchArg = "-launch"

// measure runs argv once, with standard input from the file in and standard
// output to /dev/null, and returns what the run cost. It runs argv from a
// fresh copy of the runner, for the reason [launch] gives.
func measure(ctx context.Context, argv []string, in string) (sample, error) {
	self, err := os.Executable()
	if err != nil {
		return sample{}, err
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, self, append([]string{launchArg, in}, argv...)...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		if msg := tail(stderr.Bytes()); len(msg) > 0 {
			return sample{}, errors.New(string(msg)) // the launcher's report of the failure
		}
		return sample{}, fmt.Errorf("launcher: %w", err)
	}
	var s sample
	if err := json.Unmarshal(stdout.Bytes(), &s); err != nil {
		return sample{}, fmt.Errorf("launcher printed %q: %w", stdout.Bytes(), err)
	}
	return s, nil
}

// launch is main for the runner started by [measure]: it runs argv (args
// after the input file) with standard input from the file and standard
// output to /dev/null, and prints the sample as JSON.
//
// The extra process keeps the peak RSS honest. Linux starts a child's
// ru_maxrss at the peak RSS of the address space it replaced on exec, that
// is of the process that forked it: a child of the runner, which has grown
// with inputs and results, would report at least the runner's size. A
// freshly started runner is about 2 MiB, below any gRPC client.
func launch(args []string) int {
	devNull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	wall, state, err := runChild(context.Background(), args[1:], args[0], devNull)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ru := state.SysUsage().(*syscall.Rusage)
	rss := ru.Maxrss
	if runtime.GOOS == "darwin" {
		rss /= 1024 // bytes there, KiB on Linux
	}
	s := sample{Wall: wall, CPU: time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), RSS: rss}
	if err := json.NewEncoder(os.Stdout).Encode(s); err != nil {
		return 1
	}
	return 0
}

// outputHash runs argv once, untimed, and returns a hash of its standard
// output, so that clients can be checked to print the same bytes.
func outputHash(ctx context.Context, argv []string, in string) ([sha256.Size]byte, error) {
	h := sha256.New()
	_, _, err := runChild(ctx, argv, in, h)
	return [sha256.Size]byte(h.Sum(nil)), err
}

// runChild runs argv to completion with standard input from the file in and
// returns its wall time and final state. A failed run's error carries the
// end of its standard error.
func runChild(ctx context.Context, argv []string, in string, stdout io.Writer) (time.Duration, *os.ProcessState, error) {
	stdin, err := os.Open(in)
	if err != nil {
		return 0, nil, err
	}
	defer stdin.Close()
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, stdout, &stderr
	start := time.Now()
	err = cmd.Run()
	wall := time.Since(start)
	if err != nil {
		return 0, nil, fmt.Errorf("%s < %s: %w\n%s", strings.Join(argv, " "), in, err, tail(stderr.Bytes()))
	}
	return wall, cmd.ProcessState, nil
}

// tail returns the end of a failed child's standard error.
func tail(stderr []byte) []byte {
	return bytes.TrimSpace(stderr[max(0, len(stderr)-2000):])
}

// median returns the middle value of xs (the mean of the two middle ones
// for an even count), or 0 for none.
func median[T ~int64 | ~float64](xs []T) T {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(xs))
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// medianInterval returns a confidence interval of at least 95% for the
// median of the population xs were drawn from, assuming only that the
// draws are independent: the j-th smallest and j-th largest of xs, with j
// the largest rank for which the median falls outside them with a
// probability of at most 5%. Below six values no such rank exists, and it
// returns the smallest and largest; zeros for none.
func medianInterval(xs []float64) (lo, hi float64) {
	if len(xs) == 0 {
		return 0, 0
	}
	s := slices.Sorted(slices.Values(xs))
	n := len(s)
	// Each value is below the median with probability 1/2, so the median
	// is below the j-th smallest when fewer than j values are below it:
	// P(X ≤ j-1) for X ~ Binomial(n, 1/2), and the same above.
	j, below := 1, 0.0
	for k := 0; k < n/2; k++ {
		below += binomialHalf(n, k)
		if 2*below > 0.05 {
			break
		}
		j = k + 1
	}
	return s[j-1], s[n-j]
}

// binomialHalf is P(X = k) for X ~ Binomial(n, 1/2).
func binomialHalf(n, k int) float64 {
	ln, _ := math.Lgamma(float64(n + 1))
	lk, _ := math.Lgamma(float64(k + 1))
	lnk, _ := math.Lgamma(float64(n - k + 1))
	return math.Exp(ln - lk - lnk - float64(n)*math.Ln2)
}

// medians returns the median of each figure of samples.
func medians(samples []sample) sample {
	var wall, cpu []time.Duration
	var rss []int64
	for _, s := range samples {
		wall, cpu, rss = append(wall, s.Wall), append(cpu, s.CPU), append(rss, s.RSS)
	}
	return sample{Wall: median(wall), CPU: median(cpu), RSS: median(rss)}
}

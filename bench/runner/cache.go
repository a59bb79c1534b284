package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/grpcx/grpcx/internal/latencyproxy"
)

// cacheDelay is the latency the proxy adds in each direction, so that a
// round trip costs 100 ms and is visible next to grpcx's own milliseconds.
const cacheDelay = 50 * time.Millisecond

// cacheResult compares a one-shot unary call with and without the
// descriptor cache, through a proxy that adds cacheDelay each way.
type cacheResult struct {
	Uncached           time.Duration `json:"uncached_wall_ns"`
	Cached             time.Duration `json:"cached_wall_ns"`
	UncachedRoundTrips int           `json:"uncached_round_trips"`
	CachedRoundTrips   int           `json:"cached_round_trips"`
}

// cacheCheck times grpcx's unary call through the latency proxy, first with
// --no-cache and then with a warm cache in a directory of its own.
func cacheCheck(ctx context.Context, grpcx, addr, in string, rounds int, progress io.Writer) (*cacheResult, error) {
	proxy, err := latencyproxy.Start(addr, cacheDelay)
	if err != nil {
		return nil, err
	}
	defer proxy.Close()
	dir, err := os.MkdirTemp("", "grpcx-bench-cache-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	// The launcher passes its environment on to grpcx.
	os.Setenv("XDG_CACHE_HOME", filepath.Join(dir, "cache"))
	call := grpcxCall(grpcx, proxy.Addr, "Unary")
	time1 := func(argv []string) (time.Duration, error) {
		var walls []time.Duration
		for range rounds {
			s, err := measure(ctx, argv, in)
			if err != nil {
				return 0, err
			}
			walls = append(walls, s.Wall)
		}
		return median(walls), nil
	}
	fmt.Fprintf(progress, "cache: %d rounds through a proxy adding %v each way\n", rounds, cacheDelay)
	uncached, err := time1(append(append([]string{}, call[:2]...), append([]string{"--no-cache"}, call[2:]...)...))
	if err != nil {
		return nil, err
	}
	if _, err := measure(ctx, call, in); err != nil { // fill the cache
		return nil, err
	}
	cached, err := time1(call)
	if err != nil {
		return nil, err
	}
	return &cacheResult{
		Uncached: uncached, Cached: cached,
		UncachedRoundTrips: int(uncached / (2 * cacheDelay)),
		CachedRoundTrips:   int(cached / (2 * cacheDelay)),
	}, nil
}

func writeCache(w io.Writer, c *cacheResult) {
	fmt.Fprintf(w, "\ndescriptor cache: one unary call through a proxy adding %v each way\n", cacheDelay)
	fmt.Fprintf(w, "%-10s %-10s %s\n", "cache", "wall", "round trips waited for")
	fmt.Fprintf(w, "%-10s %-10s %d\n", "off", c.Uncached.Round(time.Millisecond), c.UncachedRoundTrips)
	fmt.Fprintf(w, "%-10s %-10s %d\n", "warm", c.Cached.Round(time.Millisecond), c.CachedRoundTrips)
}

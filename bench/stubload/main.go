// Command stubload is the reference limit for `grpcx bench`: a load
// generator for TestService/Unary written with the generated testpb client,
// so it has no reflection, no dynamic messages and no descriptors. It takes
// bench's load flags and prints the same JSON report keys (count, errors,
// duration_ms, rps, latency_ms), so bench/runner -load can compare them.
//
//	stubload -addr 127.0.0.1:50051 -n 50000 -c 50 --connections 4 -d '{"message": "hi"}'
//
// It is deliberately plain: workers claim calls from one atomic counter and
// record latencies in their own HDR histograms, merged at the end.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/grpcx/grpcx/testserver/testpb"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

// options are stubload's flags, named as grpcx bench's.
type options struct {
	addr        string
	requests    int64
	duration    time.Duration
	concurrency int
	connections int
	data        string
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var o options
	fs := flag.NewFlagSet("stubload", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.addr, "addr", "127.0.0.1:50051", "server `host:port` (plaintext)")
	fs.Int64Var(&o.requests, "n", 200, "`N` requests (0: until -z ends)")
	fs.DurationVar(&o.duration, "z", 0, "stop starting requests after `DURATION`")
	fs.IntVar(&o.concurrency, "c", 50, "`C` concurrent workers")
	fs.IntVar(&o.connections, "connections", 1, "`K` connections shared round-robin")
	fs.StringVar(&o.data, "d", "{}", "the EchoRequest as `JSON`")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if o.concurrency < 1 || o.connections < 1 || o.connections > o.concurrency || (o.requests <= 0 && o.duration <= 0) {
		fmt.Fprintln(stderr, "stubload: need -c ≥ 1, 1 ≤ --connections ≤ -c, and -n or -z")
		return 2
	}
	rep, err := load(ctx, o)
	if err == nil {
		err = json.NewEncoder(stdout).Encode(rep)
	}
	if err != nil {
		fmt.Fprintf(stderr, "stubload: %v\n", err)
		return 1
	}
	if rep.Errors > 0 {
		return 1
	}
	return 0
}

// report is the subset of grpcx bench's -o json that the runner reads.
type report struct {
	Count      int64              `json:"count"`
	Errors     int64              `json:"errors"`
	DurationMS float64            `json:"duration_ms"`
	RPS        float64            `json:"rps"`
	Latency    map[string]float64 `json:"latency_ms"`
}

func load(ctx context.Context, o options) (*report, error) {
	req := &testpb.EchoRequest{}
	if err := protojson.Unmarshal([]byte(o.data), req); err != nil {
		return nil, fmt.Errorf("-d: %w", err)
	}
	clients := make([]testpb.TestServiceClient, o.connections)
	for i := range clients {
		cc, err := dial(ctx, o.addr)
		if err != nil {
			return nil, err
		}
		defer cc.Close()
		clients[i] = testpb.NewTestServiceClient(cc)
	}
	var (
		claimed atomic.Int64
		stopped atomic.Bool
		wg      sync.WaitGroup
		hists   = make([]*hdrhistogram.Histogram, o.concurrency)
		errs    = make([]int64, o.concurrency)
	)
	if o.duration > 0 {
		time.AfterFunc(o.duration, func() { stopped.Store(true) })
	}
	start := time.Now()
	for w := range o.concurrency {
		hists[w] = hdrhistogram.New(1, int64(10*time.Minute/time.Microsecond), 3)
		client := clients[w%len(clients)]
		wg.Go(func() {
			for !stopped.Load() && (o.requests <= 0 || claimed.Add(1) <= o.requests) {
				t := time.Now()
				_, err := client.Unary(ctx, req)
				_ = hists[w].RecordValue(max(time.Since(t).Microseconds(), 1))
				if err != nil {
					errs[w]++
				}
			}
		})
	}
	wg.Wait()
	return summarise(hists, errs, time.Since(start)), nil
}

// dial connects and waits until the connection is ready, so that
// connecting is not timed.
func dial(ctx context.Context, addr string) (*grpc.ClientConn, error) {
	cc, err := grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cc.Connect()
	for s := cc.GetState(); s != connectivity.Ready; s = cc.GetState() {
		if !cc.WaitForStateChange(ctx, s) {
			cc.Close()
			return nil, errors.New("cannot connect to " + addr)
		}
	}
	return cc, nil
}

func summarise(hists []*hdrhistogram.Histogram, errs []int64, elapsed time.Duration) *report {
	all := hists[0]
	for _, h := range hists[1:] {
		all.Merge(h)
	}
	rep := &report{Count: all.TotalCount(), DurationMS: float64(elapsed.Microseconds()) / 1000, Latency: map[string]float64{}}
	for _, n := range errs {
		rep.Errors += n
	}
	rep.RPS = float64(rep.Count) / elapsed.Seconds()
	for key, p := range map[string]float64{"p50": 50, "p90": 90, "p95": 95, "p99": 99, "p999": 99.9} {
		rep.Latency[key] = float64(all.ValueAtPercentile(p)) / 1000
	}
	rep.Latency["max"] = float64(all.Max()) / 1000
	rep.Latency["mean"] = all.Mean() / 1000
	return rep
}

// Command runner times grpcx against bench/stubclient, a client compiled
// from the generated stubs, on the cases of the "Performance" issue, and
// prints the medians, their ratios and whether each goal is met.
// bench/run.sh builds both programs and runs it; see bench/README.md.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strings"
)

// otherEnv names the environment variable that adds a third client, a
// grpcurl-compatible command prefix such as "grpcurl -plaintext".
const otherEnv = "GRPCX_BENCH_OTHER"

func main() {
	if len(os.Args) > 1 && os.Args[1] == launchArg {
		os.Exit(launch(os.Args[2:]))
	}
	if len(os.Args) > 1 && os.Args[1] == launchLoadArg {
		os.Exit(launchLoad(os.Args[2:]))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintf(os.Stderr, "runner: %v\n", err)
		os.Exit(1)
	}
}

// options are the runner's flags.
type options struct {
	rounds     int
	cases      string
	grpcx      string
	stub       string
	serverAddr string
	verify     bool
	json       bool
	cache      bool
	load       loadOptions
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var opts options
	fs := flag.NewFlagSet("runner", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&opts.rounds, "rounds", 5, "paired `N` runs of each client per case; the table shows medians")
	fs.StringVar(&opts.cases, "cases", "", "comma-separated `CASES` to run (default all): unary, unary-1MiB, server-stream-100k, client-stream-100k, bidi-100k, memory")
	fs.StringVar(&opts.grpcx, "grpcx", "", "built grpcx binary (`PATH`, required)")
	fs.StringVar(&opts.stub, "stub", "", "built bench/stubclient binary (`PATH`, required)")
	fs.StringVar(&opts.serverAddr, "server-addr", "", "use the test server already running at `ADDR` instead of starting one")
	fs.BoolVar(&opts.verify, "verify", true, "before timing, check once per case that grpcx and the stub print the same bytes")
	fs.BoolVar(&opts.cache, "cache", true, "also time a unary call with and without the descriptor cache through a proxy adding 50 ms each way")
	fs.BoolVar(&opts.json, "json", false, "print the results as JSON instead of a table")
	addLoadFlags(fs, &opts.load)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if opts.load.enabled {
		return runLoad(ctx, opts, stdout, stderr)
	}
	if opts.grpcx == "" || opts.stub == "" || opts.rounds < 1 {
		return errors.New("need -grpcx and -stub binaries and -rounds of at least 1 (bench/run.sh builds and passes them)")
	}
	cases, err := selectCases(opts.cases)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "grpcx-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	inputs, err := writeInputs(dir, append(cases, benchCase{name: "cache", input: `{"message":"hi"}`}))
	if err != nil {
		return err
	}
	addr := opts.serverAddr
	if addr == "" {
		var stopServer func()
		if addr, stopServer, err = startServer(ctx, opts.grpcx); err != nil {
			return err
		}
		defer stopServer()
	}
	clients := newClients(opts.grpcx, opts.stub, strings.Fields(os.Getenv(otherEnv)))
	rep := &report{Rounds: opts.rounds, Server: addr, Other: os.Getenv(otherEnv)}
	for _, c := range cases {
		res, err := runCase(ctx, c, clients, addr, inputs[c.name], opts, stderr)
		if err != nil {
			return fmt.Errorf("case %s: %w", c.name, err)
		}
		rep.Cases = append(rep.Cases, res)
	}
	rep.Memory = memoryCheck(rep.Cases)
	if opts.cache {
		if rep.Cache, err = cacheCheck(ctx, opts.grpcx, addr, inputs["cache"], opts.rounds, stderr); err != nil {
			return fmt.Errorf("cache: %w", err)
		}
	}
	if opts.json {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	if err := writeTable(stdout, rep); err != nil {
		return err
	}
	if rep.Cache != nil {
		writeCache(stdout, rep.Cache)
	}
	return nil
}

// A client is one program under test.
type client struct {
	name string
	argv func(addr, method string) []string
}

// newClients returns grpcx, the stub and, when other is not empty, the
// grpcurl-compatible client it starts.
func newClients(grpcx, stub string, other []string) []client {
	clients := []client{
		{"grpcx", func(addr, method string) []string { return grpcxCall(grpcx, addr, method) }},
		{"stub", func(addr, method string) []string { return stubCall(stub, addr, method) }},
	}
	if len(other) > 0 {
		clients = append(clients, client{"other", func(addr, method string) []string { return otherCall(other, addr, method) }})
	}
	return clients
}

// runCase times every client on c for opts.rounds paired rounds, reversing
// the order of the clients every other round so that drift (a warming
// cache, a busier machine) weighs on them alike.
func runCase(ctx context.Context, c benchCase, clients []client, addr, in string, opts options, progress io.Writer) (*caseResult, error) {
	rounds := max(opts.rounds, c.minRounds)
	res := &caseResult{Name: c.name, Method: c.method, Goal: c.goal, Rounds: rounds, Clients: map[string]*clientResult{}}
	if opts.verify {
		fmt.Fprintf(progress, "%s: checking output\n", c.name)
		if err := sameOutput(ctx, clients[:2], addr, c.method, in); err != nil {
			return nil, err
		}
	}
	for round := range rounds {
		fmt.Fprintf(progress, "%s: round %d/%d\n", c.name, round+1, rounds)
		order := slices.Clone(clients)
		if round%2 == 1 {
			slices.Reverse(order)
		}
		for _, cl := range order {
			s, err := measure(ctx, cl.argv(addr, c.method), in)
			if err != nil {
				return nil, err
			}
			r := res.Clients[cl.name]
			if r == nil {
				r = &clientResult{}
				res.Clients[cl.name] = r
			}
			r.Samples = append(r.Samples, s)
		}
	}
	res.finish()
	return res, nil
}

// sameOutput checks that clients print the same bytes for the call; it
// also warms the page cache and the server before timing.
func sameOutput(ctx context.Context, clients []client, addr, method, in string) error {
	var first [32]byte
	for i, cl := range clients {
		h, err := outputHash(ctx, cl.argv(addr, method), in)
		if err != nil {
			return err
		}
		if i == 0 {
			first = h
		} else if h != first {
			return fmt.Errorf("%s and %s print different output (-verify=false to time them anyway)", clients[0].name, cl.name)
		}
	}
	return nil
}

// startServer starts grpcx's bundled test server on a free port and
// returns its address and a function that stops it.
func startServer(ctx context.Context, grpcx string) (string, func(), error) {
	cmd := exec.CommandContext(ctx, grpcx, "testserver", "--listen", "127.0.0.1:0")
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return "", nil, err
	}
	if err := cmd.Start(); err != nil {
		return "", nil, fmt.Errorf("start test server: %w", err)
	}
	stop := func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "listening on ")
	if err != nil || !ok {
		stop()
		return "", nil, fmt.Errorf("test server: want \"listening on ADDR\", got %q (%v)", line, err)
	}
	return addr, stop, nil
}

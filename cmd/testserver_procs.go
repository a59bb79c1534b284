package cmd

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/pflag"

	"github.com/grpcx/grpcx/testserver"
)

// procsChildFlag marks a test server started by a --procs supervisor: it
// listens with SO_REUSEPORT on the port the supervisor holds.
const procsChildFlag = "procs-child"

// Supervision limits.
const (
	childStartTimeout = 10 * time.Second // for a child to say it listens
	childStopTimeout  = 5 * time.Second  // after SIGINT, before SIGKILL
	restartWindow     = 10 * time.Second
	maxRestarts       = 5 // in restartWindow, before the supervisor gives up
)

// addProcsFlags adds --procs and the hidden flag of its child processes.
func (o *TestserverOptions) addProcsFlags(fl *pflag.FlagSet) {
	fl.IntVar(&o.Procs, "procs", 1, "serve with `N` processes sharing the address through SO_REUSEPORT (Linux), under one supervising process")
	fl.BoolVar(&o.procsChild, procsChildFlag, false, "serve as one of the processes of --procs")
	_ = fl.MarkHidden(procsChildFlag)
}

// checkProcs checks --procs and keeps the flags its child processes get.
func (o *TestserverOptions) checkProcs(fl *pflag.FlagSet) error {
	if o.Procs < 1 {
		return usagef(errors.New("--procs must be at least 1"))
	}
	if o.Procs == 1 || o.procsChild {
		return nil
	}
	if !testserver.ReusePortSupported {
		return usagef(errors.New("--procs needs Linux, whose SO_REUSEPORT spreads connections over the processes"))
	}
	if strings.HasPrefix(o.Listen, "unix:") {
		return usagef(errors.New("--procs needs a TCP address: a Unix socket cannot be shared with SO_REUSEPORT"))
	}
	o.childFlags = nil
	fl.Visit(func(f *pflag.Flag) {
		switch f.Name {
		case "procs", procsChildFlag, "listen", "tls", "tls-dir", "mtls":
			// The supervisor settles these: one port, one set of certificates.
		default:
			o.childFlags = append(o.childFlags, "--"+f.Name+"="+f.Value.String())
		}
	})
	return nil
}

// supervising reports whether this process runs --procs children rather
// than serving itself.
func (o *TestserverOptions) supervising() bool { return o.Procs > 1 && !o.procsChild }

// listener opens the server's listener: a shared one in a child of --procs.
func (o *TestserverOptions) listener() (net.Listener, error) {
	if o.procsChild {
		return testserver.ListenShared(o.Listen)
	}
	return testserver.Listen(o.Listen)
}

// superviseProcs holds the port, starts o.Procs test servers on it,
// prints the address once, restarts a server that dies, and stops them
// all on SIGINT or SIGTERM. cert, key and clientCA are the certificates
// generated for --tls, if any, which every child serves.
func (o *TestserverOptions) superviseProcs(ctx context.Context, cert, key, clientCA string) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := testserver.ReservePort(o.Listen)
	if err != nil {
		return err
	}
	defer res.Close()
	args := append([]string{"testserver", "--" + procsChildFlag, "--listen", res.Addr()}, o.childFlags...)
	if o.TLS {
		args = append(args, "--tls-cert", cert, "--tls-key", key)
		if o.MTLS {
			args = append(args, "--client-ca", clientCA)
		}
	}
	sup := &supervisor{args: args, stderr: o.IO.ErrOut, exits: make(chan *child), done: make(chan struct{})}
	defer sup.stopAll()
	addr, err := sup.startAll(ctx, o.Procs)
	if err != nil {
		if ctx.Err() != nil {
			return nil // interrupted while starting: a normal stop
		}
		return err
	}
	fmt.Fprintf(o.IO.Out, "listening on %s\n", addr)
	fmt.Fprintf(o.IO.Out, "%d processes: %s\n", o.Procs, sup.pids())
	return sup.watch(ctx)
}

// supervisor runs test servers as child processes of this one.
type supervisor struct {
	args     []string
	stderr   io.Writer
	children []*child
	exits    chan *child   // each child, when it exits, while watched
	done     chan struct{} // closed when the supervisor stops watching
	restarts []time.Time
}

// child is one test server process.
type child struct {
	cmd    *exec.Cmd
	exited chan struct{} // closed once the process has been reaped
	err    error         // Wait's result, set before exited is closed
}

func (s *supervisor) startAll(ctx context.Context, n int) (string, error) {
	var addr string
	for range n {
		c, a, err := s.start(ctx)
		if err != nil {
			return "", err
		}
		s.children = append(s.children, c)
		addr = a
	}
	return addr, nil
}

// start starts one child and waits until it listens; it returns the
// address the child printed.
func (s *supervisor) start(ctx context.Context) (*child, string, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, "", fmt.Errorf("--procs: find grpcx's executable: %w", err)
	}
	// argv[0] stays as grpcx was started, which test binaries that run as
	// grpcx rely on.
	cmd := &exec.Cmd{Path: exe, Args: append([]string{os.Args[0]}, s.args...), Stderr: s.stderr, SysProcAttr: childProcAttr()}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, "", err
	}
	if err := cmd.Start(); err != nil {
		return nil, "", fmt.Errorf("--procs: start a server process: %w", err)
	}
	c := &child{cmd: cmd, exited: make(chan struct{})}
	addr, err := waitListening(ctx, c, out)
	go func() {
		c.err = cmd.Wait()
		close(c.exited)
		select {
		case s.exits <- c:
		case <-s.done:
		}
	}()
	if err != nil {
		c.stop()
		return nil, "", err
	}
	return c, addr, nil
}

// waitListening reads the child's "listening on ADDR" line, then discards
// the rest of its output.
func waitListening(ctx context.Context, c *child, out io.Reader) (string, error) {
	lines := make(chan string, 1)
	r := bufio.NewReader(out)
	go func() {
		line, _ := r.ReadString('\n')
		lines <- line
		_, _ = io.Copy(io.Discard, r)
	}()
	timer := time.NewTimer(childStartTimeout)
	defer timer.Stop()
	select {
	case line := <-lines:
		if addr, ok := strings.CutPrefix(strings.TrimSpace(line), "listening on "); ok {
			return addr, nil
		}
		return "", fmt.Errorf("--procs: server process %d did not start (said %q)", c.cmd.Process.Pid, strings.TrimSpace(line))
	case <-timer.C:
		return "", fmt.Errorf("--procs: server process %d did not start within %v", c.cmd.Process.Pid, childStartTimeout)
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// watch replaces children that exit until ctx ends, or until they die too
// often.
func (s *supervisor) watch(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case c := <-s.exits:
			i := s.index(c)
			if i < 0 {
				continue // a child that failed to start, already reported
			}
			if ctx.Err() != nil {
				return nil // stopping: the children exit on their own signal
			}
			fmt.Fprintf(s.stderr, "grpcx testserver: process %d exited (%v); starting another\n", c.cmd.Process.Pid, c.err)
			if err := s.restart(ctx, i); err != nil {
				if ctx.Err() != nil {
					return nil // interrupted while restarting
				}
				return err
			}
		}
	}
}

func (s *supervisor) index(c *child) int {
	for i, have := range s.children {
		if have == c {
			return i
		}
	}
	return -1
}

// restart replaces child i, unless children have died too often lately.
func (s *supervisor) restart(ctx context.Context, i int) error {
	now := time.Now()
	recent := s.restarts[:0]
	for _, t := range s.restarts {
		if now.Sub(t) < restartWindow {
			recent = append(recent, t)
		}
	}
	s.restarts = append(recent, now)
	if len(s.restarts) > maxRestarts {
		return fmt.Errorf("--procs: server processes exited %d times in %v; giving up", len(s.restarts), restartWindow)
	}
	c, _, err := s.start(ctx)
	if err != nil {
		return err
	}
	s.children[i] = c
	fmt.Fprintf(s.stderr, "grpcx testserver: process %d serving\n", c.cmd.Process.Pid)
	return nil
}

func (s *supervisor) pids() string {
	pids := make([]string, len(s.children))
	for i, c := range s.children {
		pids[i] = strconv.Itoa(c.cmd.Process.Pid)
	}
	return strings.Join(pids, " ")
}

// stopAll interrupts every child, which stops serving gracefully, and
// kills those still running after childStopTimeout.
func (s *supervisor) stopAll() {
	close(s.done)
	for _, c := range s.children {
		_ = c.cmd.Process.Signal(os.Interrupt)
	}
	deadline := time.NewTimer(childStopTimeout)
	defer deadline.Stop()
	expired := false
	for _, c := range s.children {
		if !expired {
			select {
			case <-c.exited:
				continue
			case <-deadline.C:
				expired = true
			}
		}
		c.stop()
	}
	s.children = nil
}

// stop kills the child and waits until it has been reaped.
func (c *child) stop() {
	_ = c.cmd.Process.Kill()
	<-c.exited
}

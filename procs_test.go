//go:build linux

package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/grpcx/grpcx/cmd"
	"github.com/grpcx/grpcx/testserver"
)

// procsServer is a `grpcx testserver --procs N` running as a real process
// (the test binary, installed as grpcx on $PATH by TestMain), since its
// children are started by re-executing grpcx.
type procsServer struct {
	cmd    *exec.Cmd
	addr   string
	pids   []int
	stderr chan string // the supervisor's standard error, a line at a time
}

func startProcs(t *testing.T, n int) *procsServer {
	t.Helper()
	c := exec.Command("grpcx", "testserver", "--procs", strconv.Itoa(n), "--listen", "127.0.0.1:0")
	c.SysProcAttr = diesWithTest()
	stdout, err := c.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := c.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	s := &procsServer{cmd: c, stderr: make(chan string, 100)}
	t.Cleanup(func() { s.stop(t) })
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			s.stderr <- sc.Text()
		}
		close(s.stderr)
	}()
	r := bufio.NewReader(stdout)
	line, _ := r.ReadString('\n')
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "listening on ")
	pidLine, _ := r.ReadString('\n')
	_, pids, _ := strings.Cut(strings.TrimSpace(pidLine), ": ")
	if !ok || !strings.HasPrefix(pidLine, strconv.Itoa(n)+" processes: ") {
		t.Fatalf("testserver --procs printed %q then %q", line, pidLine)
	}
	s.addr = addr
	for f := range strings.FieldsSeq(pids) {
		pid, _ := strconv.Atoi(f)
		s.pids = append(s.pids, pid)
	}
	go io.Copy(io.Discard, r)
	return s
}

// stop ends the supervisor with SIGTERM and checks that no server process
// outlives it.
func (s *procsServer) stop(t *testing.T) {
	if s.cmd.ProcessState != nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- s.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("testserver --procs after SIGTERM: %v", err)
		}
	case <-time.After(15 * time.Second):
		_ = s.cmd.Process.Kill()
		t.Fatal("testserver --procs did not stop within 15s of SIGTERM")
	}
	for _, pid := range s.pids {
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("server process %d is still there after the supervisor stopped (%v)", pid, err)
		}
	}
}

// benchServers runs grpcx bench on Pid and returns the server PIDs it saw.
func benchServers(t *testing.T, addr string, connections int) map[string]int64 {
	t.Helper()
	var stdout, stderr bytes.Buffer
	n := strconv.Itoa(100 * connections)
	c := strconv.Itoa(connections)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	args := []string{"bench", "--plaintext", "-n", n, "-c", c, "--connections", c, "-o", "json", addr, "grpcx.test.v1.TestService/Pid"}
	if code := cmd.Main(ctx, args, nil, &stdout, &stderr); code != 0 {
		t.Fatalf("grpcx %s: exit %d\n%s%s", strings.Join(args, " "), code, &stdout, &stderr)
	}
	var rep struct {
		Count   int64            `json:"count"`
		Servers map[string]int64 `json:"servers"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	return rep.Servers
}

func TestTestserverProcs(t *testing.T) {
	if !testserver.ReusePortSupported {
		t.Skip("--procs needs SO_REUSEPORT as Linux has it")
	}
	s := startProcs(t, 3)
	if len(s.pids) != 3 {
		t.Fatalf("pids %v, want 3", s.pids)
	}
	// Ctrl-C on a terminal goes to the foreground process group: only the
	// supervisor may be in it, to stop the children gracefully itself.
	own, _ := syscall.Getpgid(s.cmd.Process.Pid)
	for _, pid := range s.pids {
		if pg, err := syscall.Getpgid(pid); err != nil || pg == own {
			t.Errorf("server process %d is in process group %d (%v), the supervisor's", pid, pg, err)
		}
	}
	// A second supervisor cannot take the port over (one that could would
	// serve until the timeout).
	var stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if code := cmd.Main(ctx, []string{"testserver", "--procs", "2", "--listen", s.addr}, nil, io.Discard, &stderr); code == 0 ||
		!strings.Contains(stderr.String(), "address already in use") {
		t.Errorf("a second testserver --procs on %s: exit %d, %s; want address already in use", s.addr, code, &stderr)
	}
	// The calls of one connection all go to one process...
	if servers := benchServers(t, s.addr, 1); len(servers) != 1 {
		t.Errorf("one connection reached %d processes: %v", len(servers), servers)
	}
	// ...and connections spread over processes. The kernel picks a process
	// by hashing each connection's addresses, so with 3 processes all of 6
	// connections land on one about once in 243 runs; 12 make that about
	// once in 177,000.
	servers := benchServers(t, s.addr, 12)
	if len(servers) < 2 {
		t.Errorf("12 connections reached only %v", servers)
	}
	for pid := range servers {
		if p, _ := strconv.Atoi(pid); !slices.Contains(s.pids, p) {
			t.Errorf("x-server-pid %s is none of the processes %v", pid, s.pids)
		}
	}
}

func TestTestserverProcsRestarts(t *testing.T) {
	if !testserver.ReusePortSupported {
		t.Skip("--procs needs SO_REUSEPORT as Linux has it")
	}
	s := startProcs(t, 2)
	victim := s.pids[0]
	if err := syscall.Kill(victim, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	timeout := time.After(15 * time.Second)
	for {
		select {
		case line, ok := <-s.stderr:
			if !ok {
				t.Fatal("the supervisor ended after a process was killed")
			}
			if rest, ok := strings.CutPrefix(line, "grpcx testserver: process "); ok && strings.HasSuffix(rest, " serving") {
				pid, _ := strconv.Atoi(strings.Fields(rest)[0])
				s.pids = append(s.pids, pid)
				if servers := benchServers(t, s.addr, 4); servers[strconv.Itoa(victim)] != 0 {
					t.Errorf("the killed process %d still answers: %v", victim, servers)
				}
				return
			}
		case <-timeout:
			t.Fatal("no replacement process within 15s")
		}
	}
}

// TestTestserverProcsStoppedWhileStarting: SIGTERM while the supervisor
// waits for its first server process to listen is a normal stop (exit 0),
// not a failure to start.
func TestTestserverProcsStoppedWhileStarting(t *testing.T) {
	if !testserver.ReusePortSupported {
		t.Skip("--procs needs SO_REUSEPORT as Linux has it")
	}
	c := exec.Command("grpcx", "testserver", "--procs", "2", "--listen", "127.0.0.1:0")
	c.SysProcAttr = diesWithTest()
	var stdout, stderr bytes.Buffer
	c.Stdout, c.Stderr = &stdout, &stderr
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	// The first child exists: the supervisor has its signal handler and
	// is waiting for the child to say it listens. (A signal that came after
	// the children were up would make the test pass without testing the
	// window, never fail it; polling every millisecond, it comes well
	// before a child has started.)
	// (Each thread has its own list of the children it forked.)
	children := "/proc/" + strconv.Itoa(c.Process.Pid) + "/task/*/children"
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		if hasChild(children) {
			break
		}
		if time.Now().After(deadline) {
			_ = c.Process.Kill()
			t.Fatal("the supervisor started no server process within 10 s")
		}
	}
	_ = c.Process.Signal(syscall.SIGTERM)
	if err := c.Wait(); err != nil {
		t.Errorf("testserver --procs stopped while starting: %v\nstdout: %s\nstderr: %s", err, &stdout, &stderr)
	}
}

// hasChild reports whether any of the children files pattern matches
// names a process.
func hasChild(pattern string) bool {
	files, _ := filepath.Glob(pattern)
	for _, f := range files {
		if b, _ := os.ReadFile(f); len(bytes.TrimSpace(b)) > 0 {
			return true
		}
	}
	return false
}

// diesWithTest has the kernel stop a supervisor when the test process
// dies, killed by a timeout say, which would leave it and its servers
// running with no one to stop them.
func diesWithTest() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}

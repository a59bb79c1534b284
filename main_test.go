package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/grpcx/grpcx/cmd"
	"github.com/grpcx/grpcx/internal/testutil"
	"github.com/grpcx/grpcx/testserver"
)

// TestMain lets the test binary run as the grpcx command inside scripts.
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"grpcx": func() { os.Exit(cmd.Main(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) },
	})
}

// TestScripts runs the end-to-end CLI scripts in testdata/script against
// the bundled test server, started in this process: $ADDR on 127.0.0.1,
// $UNIX_ADDR on a Unix socket, $V1ALPHA_ADDR serving only v1alpha
// reflection, $WEB_ADDR serving gRPC-web, Connect and REST too (testserver
// --web), $WEB_TLS_ADDR the same over TLS. $GATEWAY_ADDR is `grpcx
// gateway` in front of $ADDR (log in $GATEWAY_LOG), $GATEWAY_AUTH_ADDR one
// exposing only AuthService, $GATEWAY_TLS_ADDR one serving TLS in front of
// $TLS_ADDR.
// $SILENT_ADDR accepts connections and never speaks.
// $PROTO_DIR, $TEST_PROTO, $HIDDEN_PROTO and $PROTOSET name the test
// server's descriptor files.
func TestScripts(t *testing.T) {
	servers := startScriptServers(t)
	testscript.Run(t, testscript.Params{
		Dir:  "testdata/script",
		Cmds: map[string]func(*testscript.TestScript, bool, []string){"exits": cmdExits, "sleep": cmdSleep, "envsubst": cmdEnvsubst, "http": cmdHTTP},
		Setup: func(env *testscript.Env) error {
			for k, v := range servers {
				env.Setenv(k, v)
			}
			env.Setenv("XDG_CACHE_HOME", filepath.Join(env.WorkDir, ".cache"))
			return nil
		},
	})
}

// cmdExits runs a command and checks its exit code: exits CODE PROGRAM ARGS...
// Its stdout and stderr are kept for the stdout and stderr commands, as exec
// keeps them.
func cmdExits(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: exits CODE PROGRAM [ARGS...]")
	}
	want, err := strconv.Atoi(args[0])
	if err != nil {
		ts.Fatalf("exits: bad code %q", args[0])
	}
	got := 0
	if err := ts.Exec(args[1], args[2:]...); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			ts.Fatalf("exits: %v", err)
		}
		got = ee.ExitCode()
	}
	if got != want {
		ts.Fatalf("exit code %d, want %d", got, want)
	}
}

// cmdEnvsubst replaces $NAME in a file with the script's environment:
// envsubst FILE. Files fed to stdin are not expanded otherwise.
func cmdEnvsubst(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: envsubst FILE")
	}
	path := ts.MkAbs(args[0])
	data, err := os.ReadFile(path)
	ts.Check(err)
	ts.Check(os.WriteFile(path, []byte(os.Expand(string(data), ts.Getenv)), 0o644))
}

// cmdSleep pauses the script: sleep DURATION.
func cmdSleep(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: sleep DURATION")
	}
	d, err := time.ParseDuration(args[0])
	if err != nil {
		ts.Fatalf("sleep: %v", err)
	}
	time.Sleep(d)
}

var (
	scriptServersOnce sync.Once
	scriptServers     map[string]string
)

func startScriptServers(t *testing.T) map[string]string {
	t.Helper()
	scriptServersOnce.Do(func() {
		dir, err := os.MkdirTemp("", "grpcx")
		if err != nil {
			t.Fatal(err)
		}
		protoDir, err := filepath.Abs("testserver/proto")
		if err != nil {
			t.Fatal(err)
		}
		certs, err := testserver.GenerateCerts(filepath.Join(dir, "certs"))
		if err != nil {
			t.Fatal(err)
		}
		tlsOnly := tlsConfig(t, certs, "")
		mutual := tlsConfig(t, certs, certs.CA)
		scriptServers = map[string]string{
			"ADDR":          serve(t, "127.0.0.1:0", testserver.Options{}),
			"UNIX_ADDR":     serve(t, "unix://"+filepath.Join(dir, "s.sock"), testserver.Options{}),
			"V1ALPHA_ADDR":  serve(t, "127.0.0.1:0", testserver.Options{OnlyV1Alpha: true}),
			"TLS_ADDR":      serve(t, "127.0.0.1:0", testserver.Options{TLS: tlsOnly}),
			"TLS_UNIX_ADDR": serve(t, "unix://"+filepath.Join(dir, "tls.sock"), testserver.Options{TLS: tlsOnly}),
			// A server that accepts connections and never speaks.
			"SILENT_ADDR":  testutil.SilentListener(t),
			"MTLS_ADDR":    serve(t, "127.0.0.1:0", testserver.Options{TLS: mutual}),
			"SMALL_ADDR":   serve(t, "127.0.0.1:0", testserver.Options{MaxRecvMsgSize: 256}),
			"CANCEL_ADDR":  serve(t, "127.0.0.1:0", testserver.Options{}), // only cancel.txtar uses it
			"HTTP_ADDR":    serveHTTP(t),
			"CA":           certs.CA,
			"OTHER_CA":     certs.OtherCA,
			"CLIENT_CERT":  certs.ClientCert,
			"CLIENT_KEY":   certs.ClientKey,
			"PROTO_DIR":    protoDir,
			"TEST_PROTO":   filepath.Join(protoDir, "grpcx/test/v1/test.proto"),
			"HIDDEN_PROTO": filepath.Join(protoDir, "grpcx/hidden/v1/hidden.proto"),
			"PROTOSET":     filepath.Join(protoDir, "testserver.protoset"),
		}
		scriptServers["WEB_ADDR"] = serve(t, "127.0.0.1:0", testserver.Options{Web: true})
		scriptServers["GATEWAY_LOG"] = filepath.Join(dir, "gateway.log")
		scriptServers["GATEWAY_ADDR"] = startGateway(t, scriptServers["GATEWAY_LOG"],
			"--plaintext", "--cors-origin", "https://app.example", "-H", "x-gateway: added",
			"--proto", scriptServers["HIDDEN_PROTO"], "-I", protoDir, scriptServers["ADDR"])
		scriptServers["GATEWAY_AUTH_ADDR"] = startGateway(t, "", "--plaintext", "--quiet",
			"--services", "grpcx.test.v1.AuthService", scriptServers["ADDR"])
		scriptServers["WEB_TLS_ADDR"] = serve(t, "127.0.0.1:0", testserver.Options{Web: true, TLS: tlsOnly})
		scriptServers["GATEWAY_TLS_ADDR"] = startGateway(t, "", "--quiet", "--cacert", certs.CA,
			"--listen-cert", certs.ServerCert, "--listen-key", certs.ServerKey, scriptServers["TLS_ADDR"])
	})
	return scriptServers
}

// startGateway runs `grpcx gateway ARGS --listen 127.0.0.1:0` in this
// process for the life of the test binary, logging to the file logPath
// (or nowhere), and returns the address it listens on.
func startGateway(t *testing.T, logPath string, args ...string) string {
	t.Helper()
	var logw io.Writer = io.Discard
	if logPath != "" {
		f, err := os.Create(logPath)
		if err != nil {
			t.Fatal(err)
		}
		logw = f
	}
	out, in := io.Pipe()
	args = append([]string{"gateway", "--listen", "127.0.0.1:0"}, args...)
	go func() {
		code := cmd.Main(context.Background(), args, strings.NewReader(""), in, logw)
		in.CloseWithError(fmt.Errorf("grpcx gateway exited with %d", code))
	}()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("start gateway %q: %v", args, err)
	}
	go io.Copy(io.Discard, out)
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "listening on ")
	if !ok {
		t.Fatalf("start gateway: unexpected output %q", line)
	}
	return addr
}

// cmdHTTP sends an HTTP/1.1 request and prints the status line, the
// response headers (lower-case, sorted, without Date) and the body:
// http [-H 'name: value']... [-d BODY] METHOD URL.
func cmdHTTP(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("unsupported: ! http")
	}
	header := http.Header{}
	var body io.Reader
	for len(args) > 2 {
		switch args[0] {
		case "-H":
			k, v, ok := strings.Cut(args[1], ":")
			if !ok {
				ts.Fatalf("http: -H %q: want 'name: value'", args[1])
			}
			header.Add(strings.TrimSpace(k), strings.TrimSpace(v))
		case "-d":
			body = strings.NewReader(args[1])
		default:
			ts.Fatalf("usage: http [-H 'name: value']... [-d BODY] METHOD URL")
		}
		args = args[2:]
	}
	if len(args) != 2 {
		ts.Fatalf("usage: http [-H 'name: value']... [-d BODY] METHOD URL")
	}
	req, err := http.NewRequest(args[0], args[1], body)
	ts.Check(err)
	req.Header = header
	resp, err := http.DefaultClient.Do(req)
	ts.Check(err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	ts.Check(err)
	w := ts.Stdout()
	fmt.Fprintf(w, "HTTP %s\n", resp.Status)
	var lines []string
	for k, vs := range resp.Header {
		if k == "Date" {
			continue
		}
		for _, v := range vs {
			lines = append(lines, strings.ToLower(k)+": "+v)
		}
	}
	sort.Strings(lines)
	fmt.Fprintf(w, "%s\n\n%s\n", strings.Join(lines, "\n"), data)
}

func tlsConfig(t *testing.T, certs *testserver.CertFiles, clientCA string) *tls.Config {
	t.Helper()
	cfg, err := testserver.ServerTLSConfig(certs.ServerCert, certs.ServerKey, clientCA, clientCA != "")
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// serveHTTP starts a plain HTTP server (HTTP/1.1 and HTTP/2 without TLS)
// that answers everything like a proxy refusing a request: 401 with an HTML
// page. It stands for whatever non-gRPC server a user might reach.
func serveHTTP(t *testing.T) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.Header().Set("WWW-Authenticate", `Bearer realm="gateway"`)
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, "<html><body><h1>401 Authorization Required</h1></body></html>")
	})}
	srv.Protocols = new(http.Protocols)
	srv.Protocols.SetHTTP1(true)
	srv.Protocols.SetUnencryptedHTTP2(true)
	go srv.Serve(lis)
	return lis.Addr().String()
}

// serve starts a test server that lives as long as the test binary and
// returns its address as a grpcx target.
func serve(t *testing.T, addr string, opts testserver.Options) string {
	t.Helper()
	lis, err := testserver.Listen(addr)
	if err != nil {
		t.Fatal(err)
	}
	go testserver.Serve(context.Background(), lis, opts)
	if lis.Addr().Network() == "unix" {
		return "unix://" + lis.Addr().String()
	}
	return lis.Addr().String()
}

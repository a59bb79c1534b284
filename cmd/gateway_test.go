package cmd

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/grpcx/grpcx/testserver"
)

// lockedBuffer is an output stream tests read while a verb writes to it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// waitFor polls until b holds want.
func waitFor(t *testing.T, b *lockedBuffer, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(b.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q in:\n%s", want, b.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func postJSON(t *testing.T, url, body string) string {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// TestGatewayReloadsOnHangup changes the backend's schema under a running
// gateway: a hangup makes it serve the new one, and a failed reload keeps
// the old.
func TestGatewayReloadsOnHangup(t *testing.T) {
	backend := freeAddr(t)
	stop := serveSchema(t, backend, "v1")
	defer func() { stop() }()
	listen := freeAddr(t)

	var out, errOut lockedBuffer
	f := NewFactory(strings.NewReader(""), &out, &errOut)
	hangup := make(chan os.Signal, 1)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	cmd := NewCmdGateway(f, func(ctx context.Context, o *GatewayOptions) error {
		o.hangup = hangup
		return runGateway(ctx, o)
	})
	cmd.SetArgs([]string{"--plaintext", "--quiet", "--connect-timeout", "1", "--listen", listen, backend})
	go func() { done <- cmd.ExecuteContext(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("gateway: %v", err)
		}
	}()
	waitFor(t, &out, "serving http://"+listen+" as REST, gRPC-web, Connect and gRPC: evolve.v1.Greeter\n")
	// This server's reflection does not describe itself.
	waitFor(t, &errOut, "grpcx: gateway: leaving out grpc.reflection.v1.ServerReflection: ")

	url := "http://" + listen + "/evolve.v1.Greeter/Hello"
	if got := postJSON(t, url, `{"name": "ann"}`); !strings.Contains(got, `"greeting":"ann"`) {
		t.Fatalf("v1: %s", got)
	}
	stop()
	stop = serveSchema(t, backend, "v2")
	hangup <- os.Interrupt // any value: the channel stands for SIGHUP
	waitFor(t, &errOut, "grpcx: reloaded: evolve.v1.Greeter\n")
	if got := postJSON(t, url, `{"name": "bob"}`); !strings.Contains(got, `"text":"bob"`) || !strings.Contains(got, `"count":2`) {
		t.Fatalf("v2 after the reload: %s", got)
	}

	stop()
	stop = func() {}
	hangup <- os.Interrupt
	waitFor(t, &errOut, "(still serving the previous schema)")
}

// TestGatewayFromProtoFiles: descriptors compiled from .proto files hold
// their google.api.http rules as dynamic messages, which the gateway read
// as the generated type, and panicked on, at start-up.
func TestGatewayFromProtoFiles(t *testing.T) {
	listen := startCmdGateway(t, "--reflect=false", "-I", "../testserver/proto", "--proto", "grpcx/test/v1/test.proto")
	resp, err := http.Get("http://" + listen + "/v1/echo/annotated?number=2")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if b, _ := io.ReadAll(resp.Body); resp.StatusCode != 200 || !strings.Contains(string(b), `"message":"annotated"`) {
		t.Errorf("GET /v1/echo/annotated: %d %s", resp.StatusCode, b)
	}
}

// TestGatewayPassesReservedHeaders: the gateway sends -H headers as HTTP
// headers of the calls it proxies, so a name gRPC metadata reserves
// (user-agent) is not refused there as it is for call.
func TestGatewayPassesReservedHeaders(t *testing.T) {
	listen := startCmdGateway(t, "-H", "user-agent: gw-agent")
	if got := postJSON(t, "http://"+listen+"/v1/metadata", `{}`); !strings.Contains(got, "gw-agent") {
		t.Errorf("the backend did not see the gateway's user-agent: %s", got)
	}
}

// startCmdGateway runs grpcx gateway with args in front of a test server
// until the test ends, and returns the address it serves on.
func startCmdGateway(t *testing.T, args ...string) string {
	t.Helper()
	lis, err := testserver.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	serverCtx, stopServer := context.WithCancel(t.Context())
	go testserver.Serve(serverCtx, lis, testserver.Options{})
	listen := freeAddr(t)
	var out, errOut lockedBuffer
	f := NewFactory(strings.NewReader(""), &out, &errOut)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	cmd := NewCmdGateway(f, nil)
	cmd.SetArgs(append([]string{"--plaintext", "--quiet", "--listen", listen}, append(args, lis.Addr().String())...))
	go func() { done <- cmd.ExecuteContext(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("gateway: %v\n%s", err, errOut.String())
		}
		stopServer()
	})
	waitFor(t, &out, "serving http://"+listen)
	return listen
}

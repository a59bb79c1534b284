package invoke

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestProxyForReadsEnvironment(t *testing.T) {
	t.Setenv("HTTPS_PROXY", "http://proxy.internal:3128")
	t.Setenv("NO_PROXY", "skip.example")
	for _, tc := range []struct {
		addr, want string
	}{
		{"api.example:443", "http://proxy.internal:3128"},
		{"skip.example:443", ""},
		{"127.0.0.1:50051", ""}, // loopback never goes through a proxy
	} {
		got, err := proxyFor(tc.addr)
		if err != nil {
			t.Fatalf("proxyFor(%s): %v", tc.addr, err)
		}
		if s := urlString(got); s != tc.want {
			t.Errorf("proxyFor(%s) = %q, want %q", tc.addr, s, tc.want)
		}
	}
}

func urlString(u *url.URL) string {
	if u == nil {
		return ""
	}
	return u.String()
}

// TestDialProxyTunnels runs a CONNECT proxy on loopback and checks that the
// tunnel reaches the target and carries bytes both ways.
func TestDialProxyTunnels(t *testing.T) {
	target := echoServer(t)
	proxy, seen := connectProxy(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	u := &url.URL{Scheme: "http", Host: proxy, User: url.UserPassword("me", "pw")}
	conn, err := dialProxy(ctx, &net.Dialer{}, u, target)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte("ping\n")); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil || line != "ping\n" {
		t.Fatalf("echo through tunnel = %q, %v", line, err)
	}
	got := seen()
	if got.host != target || got.auth != "Basic bWU6cHc=" {
		t.Errorf("proxy saw CONNECT %q with auth %q, want %q with Basic me:pw", got.host, got.auth, target)
	}
}

func TestDialProxyRefused(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusProxyAuthRequired)
	})}
	go srv.Serve(lis)
	t.Cleanup(func() { srv.Close() })
	_, err = dialProxy(context.Background(), &net.Dialer{}, &url.URL{Host: lis.Addr().String()}, "127.0.0.1:1")
	if err == nil || !strings.Contains(err.Error(), "407") {
		t.Fatalf("dialProxy through a refusing proxy: %v, want an error naming 407", err)
	}
}

func echoServer(t *testing.T) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lis.Close() })
	go func() {
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); io.Copy(c, c) }()
		}
	}()
	return lis.Addr().String()
}

type connectSeen struct{ host, auth string }

// connectProxy is a minimal HTTP CONNECT proxy on loopback.
func connectProxy(t *testing.T) (addr string, seen func() connectSeen) {
	t.Helper()
	var mu sync.Mutex
	var last connectSeen
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		last = connectSeen{r.Host, r.Header.Get("Proxy-Authorization")}
		mu.Unlock()
		up, err := net.Dial("tcp", r.Host)
		if err != nil {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		w.WriteHeader(http.StatusOK)
		down, buffered, err := http.NewResponseController(w).Hijack()
		if err != nil {
			up.Close()
			return
		}
		// The server may have read ahead of the CONNECT: those bytes are in
		// the hijacked reader.
		go func() { defer up.Close(); io.Copy(up, buffered) }()
		go func() { defer down.Close(); io.Copy(down, up) }()
	})}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(lis)
	t.Cleanup(func() { srv.Close() })
	return lis.Addr().String(), func() connectSeen { mu.Lock(); defer mu.Unlock(); return last }
}

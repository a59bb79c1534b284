//go:build unix

package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"html"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/grpcx/grpcx/gateway"
)

// browserPage calls the gateway from another origin with fetch, as a web
// app would: a REST GET, a Connect JSON POST and a failing REST call. It
// writes what it saw into the page (for --dump-dom) as JSON.
const browserPage = `<!doctype html>
<html><head><title>grpcx gateway browser test</title></head>
<body><pre id="result">pending</pre>
<script>
const gateway = %q;
async function call(url, init) {
  try {
    const resp = await fetch(url, init);
    return {status: resp.status, pid: resp.headers.get("x-server-pid"), body: await resp.json()};
  } catch (e) {
    return {error: String(e)};
  }
}
async function run() {
  const out = {origin: location.origin};
  out.rest = await call(gateway + "/v1/echo/from-browser?number=7");
  out.connect = await call(gateway + "/grpcx.test.v1.TestService/Unary", {
    method: "POST",
    headers: {"Content-Type": "application/json", "Connect-Protocol-Version": "1", "X-From-Page": "yes"},
    body: JSON.stringify({message: "connect from browser", number: 8}),
  });
  out.fail = await call(gateway + "/v1/fail/5?message=gone");
  document.getElementById("result").textContent = JSON.stringify(out);
}
run();
</script></body></html>
`

// findChromium returns the browser to run, or "" when there is none.
func findChromium() string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	return ""
}

// TestBrowser loads a page from one origin in headless Chromium; the page
// calls the gateway, on another origin, with fetch, and the test checks
// what the page reports. CORS is what makes this work at all.
func TestBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a browser")
	}
	chromium := findChromium()
	if chromium == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("chromium is not installed (apt-get install chromium); CI must run the browser test")
		}
		t.Skip("chromium not found: install it (apt-get install chromium) to run the browser test")
	}
	page, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	pageOrigin := "http://" + page.Addr().String()
	gw, _ := startGateway(t, startBackend(t), gateway.Options{CORSOrigins: []string{pageOrigin}})
	pageSrv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, browserPage, gw)
	})}
	go pageSrv.Serve(page)
	t.Cleanup(func() { pageSrv.Close() })

	dom := runChromium(t, chromium, pageOrigin+"/")
	m := regexp.MustCompile(`(?s)<pre id="result">(.*?)</pre>`).FindStringSubmatch(dom)
	if m == nil {
		t.Fatalf("no result in the page:\n%s", dom)
	}
	var got struct {
		Origin string
		REST   struct {
			Status int
			Pid    string
			Body   map[string]any
			Error  string
		}
		Connect struct {
			Status int
			Body   map[string]any
			Error  string
		}
		Fail struct {
			Status int
			Body   map[string]any
			Error  string
		}
	}
	if err := json.Unmarshal([]byte(html.UnescapeString(m[1])), &got); err != nil {
		t.Fatalf("the page reported %q: %v", m[1], err)
	}
	if got.Origin != pageOrigin || strings.HasSuffix(gw, strings.TrimPrefix(pageOrigin, "http://")) {
		t.Fatalf("the page ran on %q, the gateway is %s: not cross-origin", got.Origin, gw)
	}
	if got.REST.Status != 200 || got.REST.Body["message"] != "from-browser" || got.REST.Body["number"] != 7.0 {
		t.Errorf("REST GET from the page: %+v", got.REST)
	}
	if got.REST.Pid == "" {
		t.Errorf("the page could not read the exposed x-server-pid header: %+v", got.REST)
	}
	if got.Connect.Status != 200 || got.Connect.Body["message"] != "connect from browser" || got.Connect.Body["number"] != 8.0 {
		t.Errorf("Connect POST from the page: %+v", got.Connect)
	}
	if got.Fail.Status != 404 || got.Fail.Body["message"] != "gone" {
		t.Errorf("failing REST call from the page: %+v", got.Fail)
	}
}

// runChromium loads url in headless Chromium and returns the DOM once the
// page's scripts, and the requests they make, are done.
func runChromium(t *testing.T, chromium, url string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, chromium,
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
		"--no-first-run", "--disable-background-networking", "--disable-component-update",
		"--disable-sync", "--disable-extensions", "--user-data-dir="+t.TempDir(),
		// Virtual time waits for the page's network requests to finish
		// before the DOM is dumped.
		"--virtual-time-budget=30000", "--dump-dom", url)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// Its own process group, so that the browser's helper processes end
	// with it if the test gives up.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium: %v\n%s", err, tail(stderr.String(), 2000))
	}
	return stdout.String()
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

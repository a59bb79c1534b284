package invoke

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"

	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// HTTPResponse is what a non-gRPC HTTP server answered to a gRPC request.
type HTTPResponse struct {
	Status string      // "401 Unauthorized"
	Header http.Header // response headers
	Body   string      // the start of the body
}

// NotGRPC reports whether a failed call's status says that something other
// than a gRPC server answered: an HTTP status other than 200, or a content
// type other than application/grpc.
func NotGRPC(st *status.Status) bool {
	msg := st.Message()
	return strings.Contains(msg, "unexpected HTTP status code") ||
		strings.Contains(msg, "unexpected content-type") ||
		strings.Contains(msg, "missing HTTP content-type")
}

// maxProbeBody bounds how much of a non-gRPC answer is kept: enough to
// recognise an error page.
const maxProbeBody = 512

// ProbeHTTP repeats a call's request as a plain HTTP/2 POST to path and
// returns the HTTP status, headers and start of the body, which grpc-go
// does not expose when a proxy or web server answers instead of a gRPC
// server.
func ProbeHTTP(ctx context.Context, target string, o DialOptions, path string, md metadata.MD) (*HTTPResponse, error) {
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&lastError{}).dial(ctx, strings.TrimPrefix(target, "passthrough:///"))
	}}
	tr.Protocols = new(http.Protocols)
	scheme := "https"
	if o.Plaintext {
		scheme = "http"
		tr.Protocols.SetUnencryptedHTTP2(true)
	} else {
		tr.Protocols.SetHTTP2(true)
		tr.TLSClientConfig = o.TLS
		if tr.TLSClientConfig == nil {
			tr.TLSClientConfig = &tls.Config{}
		}
	}
	defer tr.CloseIdleConnections()
	host := target
	if strings.HasPrefix(target, "unix:") {
		host = "localhost"
	}
	if o.Authority != "" {
		host = o.Authority
	}
	// An empty, uncompressed gRPC message frame.
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, scheme+"://"+host+path, bytes.NewReader(make([]byte, 5)))
	if err != nil {
		return nil, err
	}
	req.Header.Set("content-type", "application/grpc")
	req.Header.Set("te", "trailers")
	for k, vs := range md {
		for _, v := range vs {
			if strings.HasSuffix(k, "-bin") {
				v = base64.RawStdEncoding.EncodeToString([]byte(v))
			}
			req.Header.Add(k, v)
		}
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return nil, fmt.Errorf("probe %s over HTTP: %w", target, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxProbeBody))
	return &HTTPResponse{Status: resp.Status, Header: resp.Header, Body: string(body)}, nil
}

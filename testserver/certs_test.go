package testserver_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"os"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/grpcx/grpcx/testserver"
	"github.com/grpcx/grpcx/testserver/testpb"
)

func generateCerts(t *testing.T) *testserver.CertFiles {
	t.Helper()
	files, err := testserver.GenerateCerts(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// serveTLS starts a server with the generated server certificate, verifying
// client certificates against the generated CA as requireClientCert says.
func serveTLS(t *testing.T, files *testserver.CertFiles, requireClientCert bool) string {
	t.Helper()
	cfg, err := testserver.ServerTLSConfig(files.ServerCert, files.ServerKey, files.CA, requireClientCert)
	if err != nil {
		t.Fatal(err)
	}
	addr, _ := serveService(t, testserver.Options{TLS: cfg})
	return addr
}

// clientTLS trusts the CA in caFile and, when certFile is set, presents
// that client certificate.
func clientTLS(t *testing.T, caFile, certFile, keyFile string) grpc.DialOption {
	t.Helper()
	pem, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatalf("no certificate in %s", caFile)
	}
	cfg := &tls.Config{RootCAs: pool}
	if certFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return grpc.WithTransportCredentials(credentials.NewTLS(cfg))
}

func unary(t *testing.T, conn *grpc.ClientConn) error {
	t.Helper()
	_, err := testpb.NewTestServiceClient(conn).Unary(t.Context(), &testpb.EchoRequest{Message: "hi"})
	return err
}

func TestTLS(t *testing.T) {
	files := generateCerts(t)
	addr := serveTLS(t, files, false)
	_, port, _ := strings.Cut(addr, ":")
	// Both an IP and a name, since the certificate must cover each.
	for _, target := range []string{addr, "localhost:" + port} {
		if err := unary(t, dial(t, target, clientTLS(t, files.CA, "", ""))); err != nil {
			t.Errorf("%s, trusting ca.pem: %v", target, err)
		}
	}
	err := unary(t, dial(t, addr, clientTLS(t, files.OtherCA, "", "")))
	wantCode(t, err, codes.Unavailable)
	if !strings.Contains(err.Error(), "certificate") {
		t.Errorf("trusting other-ca.pem: got %v, want a certificate error", err)
	}
	// A plaintext client cannot talk to a TLS server.
	wantCode(t, unary(t, dial(t, addr)), codes.Unavailable)
}

func TestMutualTLS(t *testing.T) {
	files := generateCerts(t)
	addr := serveTLS(t, files, true)
	if err := unary(t, dial(t, addr, clientTLS(t, files.CA, files.ClientCert, files.ClientKey))); err != nil {
		t.Errorf("with the client certificate: %v", err)
	}
	err := unary(t, dial(t, addr, clientTLS(t, files.CA, "", "")))
	wantCode(t, err, codes.Unavailable)
	// The server certificate is no client certificate (wrong key usage).
	err = unary(t, dial(t, addr, clientTLS(t, files.CA, files.ServerCert, files.ServerKey)))
	wantCode(t, err, codes.Unavailable)
}

func TestOptionalClientCert(t *testing.T) {
	files := generateCerts(t)
	addr := serveTLS(t, files, false)
	if err := unary(t, dial(t, addr, clientTLS(t, files.CA, files.ClientCert, files.ClientKey))); err != nil {
		t.Errorf("with the client certificate: %v", err)
	}
	if err := unary(t, dial(t, addr, clientTLS(t, files.CA, "", ""))); err != nil {
		t.Errorf("without a client certificate: %v", err)
	}
}

func TestGenerateCerts(t *testing.T) {
	files := generateCerts(t)
	roots := x509.NewCertPool()
	roots.AddCert(readCert(t, files.CA))
	other := x509.NewCertPool()
	other.AddCert(readCert(t, files.OtherCA))

	server := readCert(t, files.ServerCert)
	for _, name := range []string{"localhost", "127.0.0.1", "::1"} {
		opts := x509.VerifyOptions{DNSName: name, Roots: roots}
		if _, err := server.Verify(opts); err != nil {
			t.Errorf("server certificate for %s: %v", name, err)
		}
	}
	client := readCert(t, files.ClientCert)
	if client.Subject.CommonName != "grpcx-test-client" {
		t.Errorf("client CN = %q", client.Subject.CommonName)
	}
	clientUse := []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	if _, err := client.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: clientUse}); err != nil {
		t.Errorf("client certificate: %v", err)
	}
	if _, err := client.Verify(x509.VerifyOptions{Roots: other, KeyUsages: clientUse}); err == nil {
		t.Error("client certificate verifies against other-ca.pem")
	}
	if left := time.Until(server.NotAfter); left < 9*365*24*time.Hour {
		t.Errorf("server certificate expires in %v, want years", left)
	}
	for _, key := range []string{files.ServerKey, files.ClientKey} {
		if fi, err := os.Stat(key); err != nil || fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s: %v, mode %v; want readable by the owner only", key, err, fi.Mode())
		}
	}
}

func readCert(t *testing.T, file string) *x509.Certificate {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	block, rest := pem.Decode(b)
	if block == nil || block.Type != "CERTIFICATE" || len(bytes.TrimSpace(rest)) != 0 {
		t.Fatalf("%s: want exactly one PEM certificate", file)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return cert
}

func TestServerTLSConfigErrors(t *testing.T) {
	files := generateCerts(t)
	for name, call := range map[string]func() (*tls.Config, error){
		"require without CA": func() (*tls.Config, error) {
			return testserver.ServerTLSConfig(files.ServerCert, files.ServerKey, "", true)
		},
		"missing key": func() (*tls.Config, error) {
			return testserver.ServerTLSConfig(files.ServerCert, files.ServerCert+".missing", "", false)
		},
		"CA not PEM": func() (*tls.Config, error) {
			return testserver.ServerTLSConfig(files.ServerCert, files.ServerKey, files.ServerKey, false)
		},
	} {
		if _, err := call(); err == nil {
			t.Errorf("%s: got no error", name)
		}
	}
}

// TestServeHonoursOptions checks the path the testserver verb takes: Serve
// builds its server from the same Options as the tests above.
func TestServeHonoursOptions(t *testing.T) {
	files := generateCerts(t)
	cfg, err := testserver.ServerTLSConfig(files.ServerCert, files.ServerKey, "", false)
	if err != nil {
		t.Fatal(err)
	}
	lis, err := testserver.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	served := make(chan error, 1)
	go func() {
		served <- testserver.Serve(ctx, lis, testserver.Options{TLS: cfg, MaxRecvMsgSize: 100, AuthToken: "tok-123"})
	}()
	t.Cleanup(func() {
		cancel()
		<-served
	})

	conn := dial(t, lis.Addr().String(), clientTLS(t, files.CA, "", ""))
	resp, err := testpb.NewAuthServiceClient(conn).WhoAmI(withToken(t.Context(), "Bearer tok-123"), &emptypb.Empty{})
	if err != nil || resp.GetSubject() != "bearer:tok-…" {
		t.Errorf("WhoAmI = %v, %v", resp, err)
	}
	_, err = testpb.NewTestServiceClient(conn).Unary(t.Context(), &testpb.EchoRequest{Message: strings.Repeat("x", 200)})
	wantCode(t, err, codes.ResourceExhausted)
}

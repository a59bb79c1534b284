package testserver

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// CertFiles names the files [GenerateCerts] writes, as paths inside its
// directory. Certificates and keys are PEM; keys are unencrypted PKCS #8.
type CertFiles struct {
	// CA is the certificate of the authority that signed the server and
	// client certificates (ca.pem): clients trust it to verify the server,
	// and the server trusts it to verify clients.
	CA string
	// ServerCert and ServerKey (server.pem, server-key.pem) are the server's
	// certificate, valid for localhost, 127.0.0.1 and ::1, and its key.
	ServerCert, ServerKey string
	// ClientCert and ClientKey (client.pem, client-key.pem) are a client
	// certificate for mutual TLS, with common name "grpcx-test-client", and
	// its key.
	ClientCert, ClientKey string
	// OtherCA (other-ca.pem) is an unrelated authority that signed nothing
	// here, for showing that verification against the wrong CA fails.
	OtherCA string
}

// certValidity is long so that a directory generated once for manual use
// keeps working; the certificates are for tests, never for production.
const certValidity = 10 * 365 * 24 * time.Hour

// GenerateCerts writes a fresh set of test certificates into dir, creating
// it if needed and overwriting files of the same names, and returns their
// paths. Each call makes new keys (ECDSA P-256), so certificates from
// different calls do not verify each other. They are valid from an hour ago,
// to tolerate clock skew, for ten years.
func GenerateCerts(dir string) (*CertFiles, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("generate certs: %w", err)
	}
	files := &CertFiles{
		CA:         filepath.Join(dir, "ca.pem"),
		ServerCert: filepath.Join(dir, "server.pem"),
		ServerKey:  filepath.Join(dir, "server-key.pem"),
		ClientCert: filepath.Join(dir, "client.pem"),
		ClientKey:  filepath.Join(dir, "client-key.pem"),
		OtherCA:    filepath.Join(dir, "other-ca.pem"),
	}
	ca, err := newCA("grpcx test CA")
	if err != nil {
		return nil, err
	}
	other, err := newCA("grpcx unrelated test CA")
	if err != nil {
		return nil, err
	}
	server, err := ca.issue(&x509.Certificate{
		Subject:     pkix.Name{CommonName: "localhost"},
		DNSNames:    []string{"localhost"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	if err != nil {
		return nil, err
	}
	client, err := ca.issue(&x509.Certificate{
		Subject:     pkix.Name{CommonName: "grpcx-test-client"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	if err != nil {
		return nil, err
	}
	writes := []struct {
		path string
		pem  []byte
		perm os.FileMode
	}{
		{files.CA, ca.certPEM, 0o644},
		{files.OtherCA, other.certPEM, 0o644},
		{files.ServerCert, server.certPEM, 0o644},
		{files.ServerKey, server.keyPEM, 0o600},
		{files.ClientCert, client.certPEM, 0o644},
		{files.ClientKey, client.keyPEM, 0o600},
	}
	for _, w := range writes {
		if err := os.WriteFile(w.path, w.pem, w.perm); err != nil {
			return nil, fmt.Errorf("generate certs: %w", err)
		}
	}
	return files, nil
}

// keyPair is a certificate with its private key, in parsed and PEM form.
type keyPair struct {
	cert    *x509.Certificate
	key     *ecdsa.PrivateKey
	certPEM []byte
	keyPEM  []byte
}

func newCA(name string) (*keyPair, error) {
	return sign(&x509.Certificate{
		Subject:               pkix.Name{CommonName: name},
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}, nil)
}

// issue signs a leaf certificate made from tmpl with the CA kp.
func (kp *keyPair) issue(tmpl *x509.Certificate) (*keyPair, error) {
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	return sign(tmpl, kp)
}

// sign completes tmpl with a new key, serial number and validity period and
// signs it with parent, or with its own key when parent is nil.
func sign(tmpl *x509.Certificate, parent *keyPair) (*keyPair, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, fmt.Errorf("generate serial number: %w", err)
	}
	now := time.Now()
	tmpl.SerialNumber = serial
	tmpl.NotBefore = now.Add(-time.Hour)
	tmpl.NotAfter = now.Add(certValidity)
	issuer, signer := tmpl, key
	if parent != nil {
		issuer, signer = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, issuer, &key.PublicKey, signer)
	if err != nil {
		return nil, fmt.Errorf("create certificate %q: %w", tmpl.Subject.CommonName, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parse certificate %q: %w", tmpl.Subject.CommonName, err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("marshal key: %w", err)
	}
	return &keyPair{
		cert:    cert,
		key:     key,
		certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		keyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
	}, nil
}

// ServerTLSConfig returns a TLS configuration for [Options.TLS] that serves
// the certificate in certFile with the key in keyFile. When clientCAFile is
// not empty, client certificates are verified against the CAs in it: any
// client may connect but one presenting a bad certificate is refused, or,
// with requireClientCert, every client must present a good one (mutual TLS).
// requireClientCert without a clientCAFile is an error.
func ServerTLSConfig(certFile, keyFile, clientCAFile string, requireClientCert bool) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("load server certificate: %w", err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if clientCAFile == "" {
		if requireClientCert {
			return nil, errors.New("requiring client certificates needs a client CA file to verify them")
		}
		return cfg, nil
	}
	pool, err := loadCertPool(clientCAFile)
	if err != nil {
		return nil, err
	}
	cfg.ClientCAs = pool
	cfg.ClientAuth = tls.VerifyClientCertIfGiven
	if requireClientCert {
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}

func loadCertPool(file string) (*x509.CertPool, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("load client CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("load client CA %q: no PEM certificate found", file)
	}
	return pool, nil
}

package web_test

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/sensorprobe/sensorprobe/internal/standin"
	"github.com/sensorprobe/sensorprobe/internal/web"
)

// pki is a server and a client CA with the files a web configuration names.
type pki struct {
	dir string
	// serverCA issued the server certificate (server.pem, server-key.pem).
	serverCA *standin.CA
	// clientCA issued client.pem; client-ca.pem is its certificate.
	clientCA *standin.CA
	// client is signed by clientCA; stranger by a CA the server does not know.
	client, stranger tls.Certificate
}

func newPKI(t testing.TB) *pki {
	t.Helper()
	p := &pki{dir: t.TempDir()}
	var err error
	if p.serverCA, err = standin.NewCA("server CA"); err != nil {
		t.Fatal(err)
	}
	if p.clientCA, err = standin.NewCA("client CA"); err != nil {
		t.Fatal(err)
	}
	otherCA, err := standin.NewCA("other CA")
	if err != nil {
		t.Fatal(err)
	}
	server, err := p.serverCA.Issue(standin.LeafOptions{CommonName: "localhost", DNSNames: []string{"localhost"}})
	if err != nil {
		t.Fatal(err)
	}
	if p.client, err = p.clientCA.Issue(standin.LeafOptions{CommonName: "prometheus", Client: true}); err != nil {
		t.Fatal(err)
	}
	if p.stranger, err = otherCA.Issue(standin.LeafOptions{CommonName: "stranger", Client: true}); err != nil {
		t.Fatal(err)
	}
	// A key that belongs to no certificate here, for the mismatch case.
	other, err := otherCA.Issue(standin.LeafOptions{CommonName: "other", DNSNames: []string{"localhost"}})
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := standin.KeyPairPEM(server)
	if err != nil {
		t.Fatal(err)
	}
	_, otherKeyPEM, err := standin.KeyPairPEM(other)
	if err != nil {
		t.Fatal(err)
	}
	p.write(t, "server.pem", certPEM)
	p.write(t, "server-key.pem", keyPEM)
	p.write(t, "other-key.pem", otherKeyPEM)
	p.write(t, "client-ca.pem", p.clientCA.PEM())
	return p
}

func (p *pki) write(t testing.TB, name string, b []byte) string {
	t.Helper()
	path := filepath.Join(p.dir, name)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// config writes a web configuration file next to the PKI files (so that
// relative paths resolve) and returns its path.
func (p *pki) config(t *testing.T, content string) string {
	t.Helper()
	return p.write(t, "web-config.yml", []byte(content))
}

// tlsClient returns a client that trusts the server CA, sends SNI
// localhost, and presents cert when it is not nil.
func (p *pki) tlsClient(t *testing.T, cert *tls.Certificate) *http.Client {
	t.Helper()
	cfg := &tls.Config{RootCAs: p.serverCA.Pool(), ServerName: "localhost", MinVersion: tls.VersionTLS12}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	tr := &http.Transport{TLSClientConfig: cfg}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: guard}
}

func bcryptHash(t *testing.T, password string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

const (
	tlsConfig  = "tls_server_config:\n  cert_file: server.pem\n  key_file: server-key.pem\n"
	mtlsConfig = tlsConfig + "  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: client-ca.pem\n"
)

// ValidateConfig accepts what the toolkit serves and rejects, in one line
// naming the problem, what it would refuse — before the daemon starts.
func TestValidateConfig(t *testing.T) {
	p := newPKI(t)
	hash := bcryptHash(t, "s3cret")
	tests := []struct {
		name    string
		config  string // file content; "-" for no file at all
		wantErr string // a substring of the error; "" for valid
	}{
		{name: "TLS", config: tlsConfig},
		{name: "client certificates", config: mtlsConfig},
		{name: "basic auth", config: "basic_auth_users:\n  prometheus: " + hash + "\n"},
		{name: "TLS and basic auth", config: tlsConfig + "basic_auth_users:\n  prometheus: " + hash + "\n"},
		{name: "empty file: plain HTTP", config: ""},
		{name: "missing file", config: "-", wantErr: "no such file or directory"},
		{name: "not YAML", config: "basic_auth_users: [\n", wantErr: "yaml"},
		{name: "unknown key", config: "tls_server_confg:\n  cert_file: server.pem\n", wantErr: "field tls_server_confg not found"},
		{name: "two unknown keys, one line", config: "a: 1\nb: 2\n", wantErr: "field a not found"},
		{name: "password not hashed", config: "basic_auth_users:\n  prometheus: s3cret\n", wantErr: "hash"},
		{name: "certificate without key", config: "tls_server_config:\n  cert_file: server.pem\n", wantErr: "missing one of key or key_file"},
		{name: "certificate file missing", config: "tls_server_config:\n  cert_file: nope.pem\n  key_file: server-key.pem\n", wantErr: "failed to read cert_file"},
		{name: "key of another certificate", config: "tls_server_config:\n  cert_file: server.pem\n  key_file: other-key.pem\n", wantErr: "private key does not match public key"},
		{name: "client CA without a policy", config: tlsConfig + "  client_ca_file: client-ca.pem\n", wantErr: "without a Client Auth Policy"},
		{name: "unknown client auth policy", config: tlsConfig + "  client_auth_type: Sometimes\n", wantErr: "invalid ClientAuth: Sometimes"},
		{name: "client CA file missing", config: tlsConfig + "  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: nope.pem\n", wantErr: "no such file or directory"},
		{name: "unknown TLS version", config: tlsConfig + "  min_version: TLS99\n", wantErr: "unknown TLS version"},
		{name: "header that cannot be set", config: "http_server_config:\n  headers:\n    X-Evil: 1\n", wantErr: "can not be configured"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(p.dir, "absent.yml")
			if tt.config != "-" {
				path = p.config(t, tt.config)
			}
			err := web.ValidateConfig(path)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("ValidateConfig: %v", err)
			case tt.wantErr == "":
			case err == nil:
				t.Fatalf("ValidateConfig accepted the file, want an error containing %q:\n%s", tt.wantErr, tt.config)
			case !strings.Contains(err.Error(), tt.wantErr):
				t.Errorf("error %q, want it to contain %q", err, tt.wantErr)
			case strings.Contains(err.Error(), "\n"):
				t.Errorf("error %q spans several lines, want one", err)
			}
		})
	}
	if err := web.ValidateConfig(""); err != nil {
		t.Errorf(`ValidateConfig("") = %v, want nil (no configuration file: plain HTTP)`, err)
	}
}

// With a TLS configuration the endpoint speaks only TLS, with the
// configured certificate.
func TestServeTLS(t *testing.T) {
	p := newPKI(t)
	path := p.config(t, tlsConfig)
	if err := web.ValidateConfig(path); err != nil {
		t.Fatal(err)
	}
	h := web.Handler(web.Options{Gatherer: registry(t), Ready: func() bool { return true }, Logger: discard()})
	url, cancel, errc := serve(t, h, path)
	httpsURL := "https://" + strings.TrimPrefix(url, "http://")

	got := get(t, p.tlsClient(t, nil), httpsURL+"/metrics")
	if got.Code != http.StatusOK || !strings.Contains(got.Body, "sensorprobe_test_value 42") {
		t.Errorf("GET /metrics over TLS: status %d, body %q", got.Code, got.Body)
	}

	// Plain HTTP is refused.
	if got := get(t, client(t), url+"/metrics"); got.Code != http.StatusBadRequest || strings.Contains(got.Body, "sensorprobe_") {
		t.Errorf("GET /metrics over plain HTTP: status %d, body %q; want 400 and no metrics", got.Code, got.Body)
	}

	// A client that does not trust the server's CA fails the handshake.
	tr := &http.Transport{TLSClientConfig: &tls.Config{ServerName: "localhost", RootCAs: x509.NewCertPool()}}
	defer tr.CloseIdleConnections()
	_, err := (&http.Client{Transport: tr, Timeout: guard}).Get(httpsURL + "/metrics")
	if ve := (*tls.CertificateVerificationError)(nil); !errors.As(err, &ve) {
		t.Errorf("client without the server CA: error %v, want a certificate verification error", err)
	}

	cancel()
	if err := wait(t, errc); err != nil {
		t.Errorf("Serve after cancel = %v, want nil", err)
	}
}

// With client_auth_type RequireAndVerifyClientCert only clients presenting
// a certificate of the client CA get an answer.
func TestServeClientCertificates(t *testing.T) {
	p := newPKI(t)
	path := p.config(t, mtlsConfig)
	if err := web.ValidateConfig(path); err != nil {
		t.Fatal(err)
	}
	h := web.Handler(web.Options{Gatherer: registry(t), Ready: func() bool { return true }, Logger: discard()})
	url, cancel, errc := serve(t, h, path)
	httpsURL := "https://" + strings.TrimPrefix(url, "http://")

	tests := []struct {
		name   string
		cert   *tls.Certificate
		wantOK bool
	}{
		{name: "no client certificate", cert: nil},
		{name: "certificate of an unknown CA", cert: &p.stranger},
		{name: "certificate of the client CA", cert: &p.client, wantOK: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := p.tlsClient(t, tt.cert)
			resp, err := c.Get(httpsURL + "/metrics")
			if !tt.wantOK {
				if err == nil {
					resp.Body.Close()
					t.Fatalf("GET /metrics: status %d, want the handshake to fail", resp.StatusCode)
				}
				// The server's alert arrives on the client's first read:
				// "remote error: tls: certificate required" or "bad certificate".
				if !strings.Contains(err.Error(), "remote error: tls:") {
					t.Errorf("error %v, want the server's TLS alert", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("GET /metrics: %v", err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("GET /metrics: status %d, want 200", resp.StatusCode)
			}
		})
	}
	cancel()
	if err := wait(t, errc); err != nil {
		t.Errorf("Serve after cancel = %v, want nil", err)
	}
}

// TLS and basic auth together: the password travels encrypted and is still required.
func TestServeTLSWithBasicAuth(t *testing.T) {
	p := newPKI(t)
	path := p.config(t, tlsConfig+fmt.Sprintf("basic_auth_users:\n  prometheus: %s\n", bcryptHash(t, "s3cret")))
	h := web.Handler(web.Options{Gatherer: registry(t), Ready: func() bool { return true }, Logger: discard()})
	url, _, _ := serve(t, h, path)
	httpsURL := "https://" + strings.TrimPrefix(url, "http://")
	c := p.tlsClient(t, nil)

	if got := get(t, c, httpsURL+"/metrics"); got.Code != http.StatusUnauthorized {
		t.Errorf("GET /metrics without credentials: status %d, want 401", got.Code)
	}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, httpsURL+"/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth("prometheus", "s3cret")
	if got := do(t, c, req); got.Code != http.StatusOK {
		t.Errorf("GET /metrics with credentials: status %d, want 200", got.Code)
	}
}

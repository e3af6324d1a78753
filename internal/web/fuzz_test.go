package web_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sensorprobe/sensorprobe/internal/web"
)

// FuzzValidateConfig gives ValidateConfig arbitrary web configuration files,
// next to a real key pair and client CA that they may name. It never panics,
// accepts or refuses the same file the same way twice, and its error is one line.
func FuzzValidateConfig(f *testing.F) {
	p := newPKI(f)
	for _, s := range []string{
		"", tlsConfig, mtlsConfig, "basic_auth_users:\n  prometheus: $2y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi\n",
		"basic_auth_users: [\n", "tls_server_config:\n  cert_file: server.pem\n",
		tlsConfig + "  min_version: TLS13\n  cipher_suites: [TLS_AES_128_GCM_SHA256]\n  curve_preferences: [X25519]\n",
		tlsConfig + "  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: client-ca.pem\n  client_allowed_sans: [prometheus]\n",
		"http_server_config:\n  http2: false\n  headers:\n    X-Frame-Options: deny\n",
		"rate_limit:\n  interval: 1s\n  burst: 10\n",
	} {
		f.Add(s)
	}
	path := filepath.Join(p.dir, "fuzz.yml")
	f.Fuzz(func(t *testing.T, content string) {
		// Only files beside the configuration may be named: no path
		// separator, no escape and no tag that could spell one, so that no
		// input makes the toolkit read /dev/zero or a FIFO.
		if strings.ContainsAny(content, "/\\!%") || strings.Contains(content, "..") {
			return
		}
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		err := web.ValidateConfig(path)
		// (Which of several problems is named may differ: users and
		// headers are maps.)
		if again := web.ValidateConfig(path); (err == nil) != (again == nil) {
			t.Fatalf("ValidateConfig said %v, then %v", err, again)
		}
		if err != nil && strings.Contains(err.Error(), "\n") {
			t.Fatalf("error spans several lines: %q", err)
		}
	})
}

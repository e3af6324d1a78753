package trust

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"log/slog"

	"github.com/sensorprobe/sensorprobe/internal/standin"
	"github.com/sensorprobe/sensorprobe/internal/testsupport"
)

// projected is a directory laid out as the kubelet lays out a projected
// volume: the files the pod sees are symlinks through ..data, which points
// at a timestamped directory; an update writes a new directory and swaps
// ..data in one rename.
type projected struct {
	t   *testing.T
	dir string
	n   int
}

func newProjected(t *testing.T, files map[string][]byte) *projected {
	p := &projected{t: t, dir: t.TempDir()}
	p.update(files)
	return p
}

// update writes files as the next generation and swaps ..data to it.
func (p *projected) update(files map[string][]byte) {
	p.t.Helper()
	p.n++
	gen := filepath.Join(p.dir, "..2026_11_30_00_00_0"+string(rune('0'+p.n)))
	if err := os.Mkdir(gen, 0o755); err != nil {
		p.t.Fatal(err)
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(gen, name), b, 0o644); err != nil {
			p.t.Fatal(err)
		}
		link := filepath.Join(p.dir, name)
		if _, err := os.Lstat(link); os.IsNotExist(err) {
			if err := os.Symlink(filepath.Join("..data", name), link); err != nil {
				p.t.Fatal(err)
			}
		}
	}
	tmp := filepath.Join(p.dir, "..data_tmp")
	if err := os.Symlink(filepath.Base(gen), tmp); err != nil {
		p.t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(p.dir, "..data")); err != nil {
		p.t.Fatal(err)
	}
}

func (p *projected) path(name string) string { return filepath.Join(p.dir, name) }

func newCA(t *testing.T, name string) *standin.CA {
	t.Helper()
	ca, err := standin.NewCA(name)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func verifies(t *testing.T, s *Store, ca *standin.CA) bool {
	t.Helper()
	leaf, err := ca.Issue(standin.LeafOptions{DNSNames: standin.SensorSANs("stackrox")})
	if err != nil {
		t.Fatal(err)
	}
	pool := s.Roots()
	if pool == nil {
		return false
	}
	_, err = leaf.Leaf.Verify(x509Opts(pool))
	return err == nil
}

func TestEveryInstallFlavourLoads(t *testing.T) {
	primary, secondary, bundleOnly := newCA(t, "primary"), newCA(t, "secondary"), newCA(t, "bundle")
	tests := []struct {
		name      string
		files     map[string][]byte
		trusted   []*standin.CA
		untrusted []*standin.CA
		wantCerts int
	}{
		{name: "nothing mounted (registration-secret install before its secrets exist)", files: map[string][]byte{},
			untrusted: []*standin.CA{primary}},
		{name: "collector-tls only (classic install)", files: map[string][]byte{"collector-tls-ca.pem": primary.PEM()},
			trusted: []*standin.CA{primary}, untrusted: []*standin.CA{secondary}, wantCerts: 1},
		{name: "tls-cert-collector (certificate refresh)", files: map[string][]byte{"tls-cert-collector-ca.pem": primary.PEM()},
			trusted: []*standin.CA{primary}, wantCerts: 1},
		{name: "during a CA rotation: ca.pem and ca-secondary.pem",
			files:   map[string][]byte{"collector-tls-ca.pem": primary.PEM(), "collector-tls-ca-secondary.pem": secondary.PEM()},
			trusted: []*standin.CA{primary, secondary}, wantCerts: 2},
		{name: "sensor's bundle of every trusted CA",
			files:   map[string][]byte{"ca-bundle.pem": append(append(primary.PEM(), secondary.PEM()...), bundleOnly.PEM()...)},
			trusted: []*standin.CA{primary, secondary, bundleOnly}, wantCerts: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newProjected(t, tt.files)
			s, err := Load(Config{CADir: p.dir}, nil)
			if err != nil {
				t.Fatalf("Load() = %v", err)
			}
			for _, ca := range tt.trusted {
				if !verifies(t, s, ca) {
					t.Errorf("a certificate of %s does not verify", ca.Cert.Subject.CommonName)
				}
			}
			for _, ca := range tt.untrusted {
				if verifies(t, s, ca) {
					t.Errorf("a certificate of %s verifies, want not", ca.Cert.Subject.CommonName)
				}
			}
			if got := s.Status().CACertificates; got != tt.wantCerts {
				t.Errorf("CACertificates = %d, want %d", got, tt.wantCerts)
			}
		})
	}
}

func TestRequiredCAFileMustExist(t *testing.T) {
	_, err := Load(Config{CAFiles: []string{filepath.Join(t.TempDir(), "missing.pem")}}, nil)
	if err == nil || !strings.Contains(err.Error(), "missing.pem") {
		t.Errorf("Load() = %v, want an error naming missing.pem", err)
	}
	bad := filepath.Join(t.TempDir(), "bad.pem")
	if err := os.WriteFile(bad, []byte("not a certificate"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(Config{CAFiles: []string{bad}}, nil); err == nil || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Errorf("Load(bad) = %v, want no PEM certificate", err)
	}
}

// TestRotation swaps ..data as the kubelet does: a new CA is picked up
// without a restart, a broken update keeps the last good pool and says so
// in the status and the log, and a good one after it recovers.
func TestRotation(t *testing.T) {
	oldCA, newCAx := newCA(t, "old"), newCA(t, "new")
	p := newProjected(t, map[string][]byte{"collector-tls-ca.pem": oldCA.PEM()})
	var logs testsupport.LockedBuffer
	s, err := Load(Config{CADir: p.dir}, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if !verifies(t, s, oldCA) || verifies(t, s, newCAx) {
		t.Fatal("initial pool does not hold exactly the old CA")
	}
	if s.Reload() {
		t.Error("Reload() without a change reported a change")
	}

	p.update(map[string][]byte{"collector-tls-ca.pem": newCAx.PEM()})
	if !s.Reload() {
		t.Fatal("Reload() after the swap reported no change")
	}
	if verifies(t, s, oldCA) || !verifies(t, s, newCAx) {
		t.Error("after rotation the pool does not hold exactly the new CA")
	}

	p.update(map[string][]byte{"collector-tls-ca.pem": []byte("-----BEGIN CERTIFICATE-----\ntruncated")})
	s.Reload()
	st := s.Status()
	if st.LastReloadOK || !strings.Contains(st.LastError, "no PEM certificate") {
		t.Errorf("status after a broken update = %+v, want LastReloadOK false with the reason", st)
	}
	if !verifies(t, s, newCAx) {
		t.Error("a broken update replaced the last good pool")
	}
	if !strings.Contains(logs.String(), "keeping the last good material") {
		t.Errorf("no log line about the broken update:\n%s", logs.String())
	}

	p.update(map[string][]byte{"collector-tls-ca.pem": append(newCAx.PEM(), oldCA.PEM()...)})
	s.Reload()
	if st := s.Status(); !st.LastReloadOK || st.CACertificates != 2 || st.Reloads != 2 {
		t.Errorf("status after recovery = %+v, want ok, 2 certificates, 2 reloads", st)
	}
}

// TestSourceAppearsLater: a secret created after the pod started (an
// optional projected item) is trusted at the next reload.
func TestSourceAppearsLater(t *testing.T) {
	a, b := newCA(t, "a"), newCA(t, "b")
	p := newProjected(t, map[string][]byte{"ca-bundle.pem": a.PEM()})
	s, err := Load(Config{CADir: p.dir}, nil)
	if err != nil {
		t.Fatal(err)
	}
	p.update(map[string][]byte{"ca-bundle.pem": a.PEM(), "tls-cert-collector-ca.pem": b.PEM()})
	s.Reload()
	if !verifies(t, s, b) {
		t.Error("the CA of a source that appeared later is not trusted")
	}
}

func TestClientCertificateRotation(t *testing.T) {
	ca := newCA(t, "ca")
	pair := func(cn string) (cert, key []byte) {
		c, err := ca.Issue(standin.LeafOptions{CommonName: cn, Client: true})
		if err != nil {
			t.Fatal(err)
		}
		cert, key, err = standin.KeyPairPEM(c)
		if err != nil {
			t.Fatal(err)
		}
		return cert, key
	}
	c1, k1 := pair("first")
	p := newProjected(t, map[string][]byte{"cert.pem": c1, "key.pem": k1})
	s, err := Load(Config{CertFile: p.path("cert.pem"), KeyFile: p.path("key.pem")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.ClientCertificate().Leaf.Subject.CommonName; got != "first" {
		t.Fatalf("client certificate %q, want first", got)
	}
	c2, k2 := pair("second")
	p.update(map[string][]byte{"cert.pem": c2, "key.pem": k1}) // key does not match: broken
	s.Reload()
	if got := s.ClientCertificate().Leaf.Subject.CommonName; got != "first" || s.Status().LastReloadOK {
		t.Errorf("after a mismatched pair: certificate %q, ok %v; want first, false", got, s.Status().LastReloadOK)
	}
	p.update(map[string][]byte{"cert.pem": c2, "key.pem": k2})
	s.Reload()
	if got := s.ClientCertificate().Leaf.Subject.CommonName; got != "second" {
		t.Errorf("after rotation: certificate %q, want second", got)
	}
	if _, err := Load(Config{CertFile: p.path("cert.pem")}, nil); err == nil {
		t.Error("Load() with a certificate but no key succeeded")
	}
}

// TestRunReloads checks that Run picks up a change on its own.
func TestRunReloads(t *testing.T) {
	a, b := newCA(t, "a"), newCA(t, "b")
	p := newProjected(t, map[string][]byte{"ca.pem": a.PEM()})
	s, err := Load(Config{CADir: p.dir, Interval: 10 * time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	p.update(map[string][]byte{"ca.pem": b.PEM()})
	testsupport.Eventually(t, 5*time.Second, func() (bool, string) {
		return verifies(t, s, b), "the new CA was not picked up"
	})
}

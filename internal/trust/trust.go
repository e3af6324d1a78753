// Package trust keeps the TLS material the prober uses — the CAs sensor's
// certificate must chain to, and an optional client certificate — current
// as Kubernetes rotates the files on disk.
//
// RHACS publishes its CAs in several places depending on the install
// flavour and on where a CA rotation stands: ConfigMap tls-ca-bundle
// (ca-bundle.pem, every CA sensor trusts), secret tls-cert-collector (ca.pem,
// installs with certificate refresh), secret collector-tls (ca.pem, and
// ca-secondary.pem during a rotation). The DaemonSet mounts them all as
// optional items of one projected volume; a Store loads every file that
// exists into one pool, and reloads when any file's content changes. A
// reload that fails (a file half-written, a PEM without a certificate, a key
// that does not match) keeps the last good material and says so in Status,
// the log and a metric.
package trust

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"
)

// Config says which files to read.
type Config struct {
	// CAFiles must exist and hold at least one certificate each
	// (--ca-file).
	CAFiles []string
	// OptionalCAFiles are read when they exist (the projected volume's
	// optional items); a missing one is skipped, a present one that holds no
	// certificate is an error.
	OptionalCAFiles []string
	// CADir, when set, adds every *.pem file in it as an optional CA file,
	// looked up afresh at each reload so that a source created after the
	// start (a secret the install makes later) is picked up.
	CADir string
	// CertFile and KeyFile are the client certificate pair; both or neither.
	CertFile, KeyFile string
	// Interval is how often the files are checked for changes; default 30s.
	Interval time.Duration
	// Now defaults to time.Now.
	Now func() time.Time
}

// Status is what a Store reports about its material.
type Status struct {
	// LastReloadOK is true when the latest load succeeded.
	LastReloadOK bool
	// LastSuccess is when material was last loaded successfully.
	LastSuccess time.Time
	// LastError is why the latest load failed, "" when it did not.
	LastError string
	// CACertificates counts the certificates in the pool in use.
	CACertificates int
	// CAFiles lists the CA files the pool in use was built from.
	CAFiles []string
	// ClientCertificate is true when a client certificate is in use.
	ClientCertificate bool
	// Reloads counts successful loads after the first.
	Reloads uint64
}

// material is one consistent set of pool and client certificate.
type material struct {
	pool     *x509.CertPool
	cert     *tls.Certificate
	certs    int
	files    []string
	checksum [32]byte
}

// Store holds the current material. It is safe for concurrent use.
type Store struct {
	cfg Config
	log *slog.Logger

	mu     sync.RWMutex
	cur    *material
	status Status
}

// Load reads the material once and returns a Store holding it; an error
// means the configuration is unusable at start (a missing --ca-file, a bad
// key pair). A Store without any CA file verifies nothing (Roots is nil).
func Load(cfg Config, logger *slog.Logger) (*Store, error) {
	if cfg.Interval <= 0 {
		cfg.Interval = 30 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if (cfg.CertFile == "") != (cfg.KeyFile == "") {
		return nil, fmt.Errorf("client certificate %q/%q: a client certificate needs both a certificate and a key file", cfg.CertFile, cfg.KeyFile)
	}
	s := &Store{cfg: cfg, log: logger.With("component", "trust")}
	m, err := s.read()
	if err != nil {
		return nil, err
	}
	s.cur = m
	s.status = Status{LastReloadOK: true, LastSuccess: cfg.Now(), CACertificates: m.certs,
		CAFiles: m.files, ClientCertificate: m.cert != nil}
	return s, nil
}

// SetLogger replaces the logger given to Load (nil there when the store is
// built while parsing flags, before logging is set up).
func (s *Store) SetLogger(logger *slog.Logger) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.log = logger.With("component", "trust")
}

// Roots returns the pool in use, nil when no CA file was found (then the
// prober completes handshakes without verifying).
func (s *Store) Roots() *x509.CertPool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.cur.pool
}

// ClientCertificate returns the client certificate in use, nil when none.
func (s *Store) ClientCertificate() *tls.Certificate {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.cur.cert
}

// Status returns a copy of the store's status.
func (s *Store) Status() Status {
	s.mu.RLock()
	defer s.mu.RUnlock()
	st := s.status
	st.CAFiles = append([]string(nil), s.status.CAFiles...)
	return st
}

// Run checks the files every Interval until ctx ends, then returns nil.
func (s *Store) Run(ctx context.Context) error {
	t := time.NewTicker(s.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			s.Reload()
		}
	}
}

// Reload reads the files and switches to them if their content changed. A
// failure keeps the material in use. It reports whether the material changed.
func (s *Store) Reload() bool {
	m, err := s.read()
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		if s.status.LastReloadOK || s.status.LastError != err.Error() {
			s.log.Warn("TLS material on disk is unusable; keeping the last good material", "err", err,
				"last_success", s.status.LastSuccess.UTC().Format(time.RFC3339))
		}
		s.status.LastReloadOK, s.status.LastError = false, err.Error()
		return false
	}
	if !s.status.LastReloadOK {
		s.log.Info("TLS material on disk is usable again")
	}
	s.status.LastReloadOK, s.status.LastError = true, ""
	s.status.LastSuccess = s.cfg.Now()
	if m.checksum == s.cur.checksum {
		return false
	}
	s.cur = m
	s.status.Reloads++
	s.status.CACertificates, s.status.CAFiles, s.status.ClientCertificate = m.certs, m.files, m.cert != nil
	s.log.Info("TLS material reloaded", "ca_certificates", m.certs, "ca_files", fmt.Sprint(m.files),
		"client_certificate", m.cert != nil)
	return true
}

// read loads every file into a new material.
func (s *Store) read() (*material, error) {
	m := &material{}
	h := sha256.New()
	pool := x509.NewCertPool()
	var errs []error
	add := func(path string, required bool) {
		b, err := os.ReadFile(path) // #nosec G304 -- the operator names these files (flags, the mounted volume)
		if errors.Is(err, fs.ErrNotExist) && !required {
			return
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("CA file %s: %w", path, unwrapPath(err)))
			return
		}
		n := countCerts(b)
		if n == 0 || !pool.AppendCertsFromPEM(b) {
			errs = append(errs, fmt.Errorf("CA file %s: no PEM certificate found", path))
			return
		}
		m.certs += n
		m.files = append(m.files, path)
		h.Write([]byte(path))
		h.Write(b)
	}
	for _, f := range s.cfg.CAFiles {
		add(f, true)
	}
	optional := append([]string(nil), s.cfg.OptionalCAFiles...)
	if s.cfg.CADir != "" {
		found, _ := filepath.Glob(filepath.Join(s.cfg.CADir, "*.pem")) // only ErrBadPattern, impossible here
		for _, f := range found {
			if !slices.Contains(optional, f) && !slices.Contains(s.cfg.CAFiles, f) {
				optional = append(optional, f)
			}
		}
	}
	for _, f := range optional {
		add(f, false)
	}
	if s.cfg.CertFile != "" {
		certPEM, err1 := os.ReadFile(s.cfg.CertFile)
		keyPEM, err2 := os.ReadFile(s.cfg.KeyFile)
		switch {
		case err1 != nil || err2 != nil:
			errs = append(errs, fmt.Errorf("client certificate: %w", errors.Join(err1, err2)))
		default:
			pair, err := tls.X509KeyPair(certPEM, keyPEM)
			if err != nil {
				errs = append(errs, fmt.Errorf("client certificate %q/%q: %w", s.cfg.CertFile, s.cfg.KeyFile, err))
			} else {
				m.cert = &pair
				h.Write(certPEM)
				h.Write(keyPEM)
			}
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if m.certs > 0 {
		m.pool = pool
	}
	copy(m.checksum[:], h.Sum(nil))
	return m, nil
}

// countCerts counts the CERTIFICATE blocks of a PEM bundle.
func countCerts(b []byte) int {
	return bytes.Count(b, []byte("-----BEGIN CERTIFICATE-----"))
}

// unwrapPath drops the *fs.PathError wrapper, whose path the message names already.
func unwrapPath(err error) error {
	if pe, ok := errors.AsType[*fs.PathError](err); ok {
		return fmt.Errorf("%s: %w", pe.Op, pe.Err)
	}
	return err
}

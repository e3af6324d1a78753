package dial

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sensorprobe/sensorprobe/internal/standin"
)

// certReasons are the reasons a failed verification may be classified as.
var certReasons = []Reason{ReasonCertUnknownAuthority, ReasonCertNameMismatch, ReasonCertExpired, ReasonTLSError}

// FuzzPeerCertificates feeds verifyPeer — the code that turns the chain a
// server sends into certificate facts and a verification result — with
// any chain that parses. The facts always describe the leaf; verification
// succeeds exactly when the facts say so; a failure is classified as a
// certificate or TLS problem; without a CA nothing is verified.
func FuzzPeerCertificates(f *testing.F) {
	ca, err := standin.NewCA(standin.CAName)
	if err != nil {
		f.Fatal(err)
	}
	other, err := standin.NewCA("Some Other CA")
	if err != nil {
		f.Fatal(err)
	}
	sans := standin.SensorSANs("stackrox")
	leaf := func(ca *standin.CA, o standin.LeafOptions) []byte {
		c, err := ca.Issue(o)
		if err != nil {
			f.Fatal(err)
		}
		return c.Certificate[0]
	}
	good := leaf(ca, standin.LeafOptions{CommonName: "SENSOR_SERVICE", DNSNames: sans})
	f.Add(good, "sensor.stackrox.svc")
	f.Add(slices.Concat(good, ca.Cert.Raw), "sensor.stackrox.svc")
	f.Add(good, "central.stackrox.svc")
	f.Add(leaf(other, standin.LeafOptions{DNSNames: sans}), "sensor.stackrox.svc")
	f.Add(leaf(ca, standin.LeafOptions{DNSNames: sans, NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-time.Hour)}), "sensor.stackrox.svc")
	f.Add(leaf(ca, standin.LeafOptions{CommonName: "no SANs"}), "")
	f.Add(ca.Cert.Raw, "sensor.stackrox.svc")

	verifying := &Prober{cfg: Config{RootCAs: ca.Pool(), Now: time.Now}}
	trusting := &Prober{cfg: Config{Now: time.Now}}
	f.Fuzz(func(t *testing.T, der []byte, serverName string) {
		certs, err := x509.ParseCertificates(der)
		if err != nil || len(certs) == 0 {
			return
		}
		leaf := certs[0]

		var facts TLSFacts
		err = verifying.verifyPeer(certs, serverName, &facts)
		if !facts.NotAfter.Equal(leaf.NotAfter) || facts.Issuer != leaf.Issuer.CommonName || !slices.Equal(facts.DNSNames, leaf.DNSNames) {
			t.Fatalf("facts %+v do not describe the leaf (not after %v, issuer %q, names %q)", facts, leaf.NotAfter, leaf.Issuer.CommonName, leaf.DNSNames)
		}
		if (err == nil) != facts.Verified || (err == nil) != (facts.VerifyError == "") {
			t.Fatalf("err %v, but facts.Verified %v and VerifyError %q", err, facts.Verified, facts.VerifyError)
		}
		if err != nil {
			if ve := (*tls.CertificateVerificationError)(nil); !errors.As(err, &ve) {
				t.Fatalf("verification error %T %v is not a *tls.CertificateVerificationError", err, err)
			}
			if r := Classify(&PhaseError{Phase: PhaseTLS, Err: err}); !slices.Contains(certReasons, r) {
				t.Fatalf("verification error %v classified %q, want one of %q", err, r, certReasons)
			}
		}

		var unverified TLSFacts
		if err := trusting.verifyPeer(certs, serverName, &unverified); err != nil || unverified.Verified || unverified.VerifyError != "" {
			t.Fatalf("without a CA: err %v, facts %+v; want no verification at all", err, unverified)
		}
	})
}

// chain builds an error from a program of bytes, read from the end: each
// byte either starts a new innermost error or wraps the error so far. It
// also reports whether the chain holds a *CheckError.
func chain(prog []byte) (err error, hasCheck bool) {
	leaves := []func(b byte) error{
		func(byte) error { return io.EOF },
		func(byte) error { return io.ErrUnexpectedEOF },
		func(byte) error { return context.DeadlineExceeded },
		func(byte) error { return context.Canceled },
		func(byte) error { return os.ErrDeadlineExceeded },
		func(byte) error { return syscall.ECONNREFUSED },
		func(byte) error { return syscall.ECONNRESET },
		func(byte) error { return syscall.EPIPE },
		func(byte) error { return syscall.EHOSTUNREACH },
		func(byte) error { return syscall.ENETUNREACH },
		func(byte) error { return syscall.ETIMEDOUT },
		func(b byte) error { return syscall.Errno(b) },
		func(b byte) error {
			return &net.DNSError{Err: "no such host", Name: "sensor", IsNotFound: b&1 == 0, IsTimeout: b&2 == 0}
		},
		func(byte) error { return x509.HostnameError{Certificate: &x509.Certificate{}, Host: "sensor"} },
		func(byte) error { return x509.UnknownAuthorityError{} },
		func(b byte) error {
			return x509.CertificateInvalidError{Cert: &x509.Certificate{}, Reason: x509.InvalidReason(b % 12)}
		},
		func(b byte) error { return tls.AlertError(b) },
		func(byte) error { return &CheckError{Detail: "HTTP 503"} },
		func(b byte) error { return status.Error(codes.Code(b%18), "grpc") },
		func(byte) error { return errors.New("plain") },
	}
	wrappers := []func(b byte, e error) error{
		func(b byte, e error) error { return &PhaseError{Phase: Phases()[b%4], Err: e} },
		func(b byte, e error) error {
			return &net.OpError{Op: []string{"dial", "read", "write", "remote error"}[b%4], Net: "tcp", Err: e}
		},
		func(_ byte, e error) error { return os.NewSyscallError("connect", e) },
		func(_ byte, e error) error { return &ClientCertRejectedError{Err: e} },
		func(_ byte, e error) error { return &tls.CertificateVerificationError{Err: e} },
		func(_ byte, e error) error { return fmt.Errorf("context: %w", e) },
		func(b byte, e error) error { return errors.Join(e, errors.New("second")) },
		func(b byte, e error) error { return fmt.Errorf("%w (%w)", e, tls.AlertError(b)) },
	}
	for _, b := range slices.Backward(prog) {

		op, arg := int(b>>3), b
		if err == nil || op < len(leaves) && b&4 == 0 {
			l := leaves[op%len(leaves)]
			if op%len(leaves) == 17 {
				hasCheck = true
			}
			if err == nil {
				err = l(arg)
				continue
			}
			// A leaf beside the chain so far.
			err = errors.Join(err, l(arg))
			continue
		}
		err = wrappers[op%len(wrappers)](arg, err)
	}
	return err, hasCheck
}

// FuzzClassify classifies synthetic error chains of every kind the network,
// crypto/tls, x509, gRPC and the prober produce, nested and joined at
// random. Classify always names a known reason, never ok for an error;
// wrapping with %w changes nothing; a *CheckError anywhere means
// check_failed; a failed resolve phase is a DNS error.
func FuzzClassify(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0})
	f.Add([]byte{5 << 3})                // connection refused
	f.Add([]byte{0<<3 | 4, 4 << 3})      // a phase around a deadline
	f.Add([]byte{1<<3 | 4, 6 << 3})      // net.OpError around ECONNRESET
	f.Add([]byte{17 << 3})               // CheckError
	f.Add([]byte{0<<3 | 4 + 2, 13 << 3}) // tls phase around a hostname error
	f.Add([]byte{3<<3 | 4, 0<<3 | 4, 7 << 3})
	reasons := Reasons()
	f.Fuzz(func(t *testing.T, prog []byte) {
		if len(prog) > 64 {
			return // deep enough
		}
		err, hasCheck := chain(prog)
		r := Classify(err)
		if !slices.Contains(reasons, r) {
			t.Fatalf("Classify(%v) = %q, not a known reason", err, r)
		}
		if err == nil {
			if r != ReasonOK {
				t.Fatalf("Classify(nil) = %q, want ok", r)
			}
			return
		}
		if r == ReasonOK {
			t.Fatalf("Classify(%v) = ok for an error", err)
		}
		if w := Classify(fmt.Errorf("wrapped: %w", err)); w != r {
			t.Fatalf("Classify(%v) = %q but %q once wrapped", err, r, w)
		}
		if hasCheck && r != ReasonCheckFailed {
			t.Fatalf("Classify(%v) = %q, want check_failed: a *CheckError is in the chain", err, r)
		}
		if !hasCheck {
			if got := Classify(&PhaseError{Phase: PhaseResolve, Err: err}); got != ReasonDNSError {
				t.Fatalf("Classify(resolve: %v) = %q, want dns_error", err, got)
			}
		}
	})
}

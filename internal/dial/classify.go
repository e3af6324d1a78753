package dial

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"os"
	"syscall"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// PhaseError is an error that happened in one phase of an attempt. Every
// error in a Result is a *PhaseError, so Classify knows where it happened.
type PhaseError struct {
	Phase Phase
	Err   error
}

// Error returns "phase: underlying error", keeping the underlying text intact
// so that the familiar "dial tcp …: i/o timeout" stays greppable.
func (e *PhaseError) Error() string { return string(e.Phase) + ": " + e.Err.Error() }

// Unwrap returns the underlying error.
func (e *PhaseError) Unwrap() error { return e.Err }

// CheckError is returned by the check phase when the server answered, but
// not with success: an HTTP status other than 200, or a gRPC status other than
// OK or Unimplemented.
type CheckError struct {
	// Detail is the answer, e.g. "HTTP 503" or "grpc Unauthenticated: …".
	Detail string
}

// Error returns the answer the check received.
func (e *CheckError) Error() string { return "unexpected answer: " + e.Detail }

// ClientCertRejectedError marks a connection that the server dropped right
// after a TLS 1.3 handshake in which a client certificate was presented. In
// TLS 1.3 the server checks the client certificate after the client has
// finished its handshake; when it rejects it, its alert can be lost to the
// reset that follows the client's first write. Classify counts it as a TLS
// error, not as a network reset.
type ClientCertRejectedError struct {
	Err error
}

// Error says what most likely happened, then the error seen.
func (e *ClientCertRejectedError) Error() string {
	return "connection dropped right after presenting the client certificate (rejected by the server?): " + e.Err.Error()
}

// Unwrap returns the error seen.
func (e *ClientCertRejectedError) Unwrap() error { return e.Err }

// Classify maps an attempt's error to a Reason. It relies only on error types
// and values (errors.Is / errors.As), never on error text. A nil error is
// ReasonOK. Errors wrapped in a *PhaseError are classified in the light of
// their phase: an i/o timeout while connecting is ReasonConnectTimeout, while
// handshaking ReasonTLSTimeout, while checking ReasonCheckTimeout.
func Classify(err error) Reason {
	if err == nil {
		return ReasonOK
	}
	var phase Phase
	if pe := (*PhaseError)(nil); errors.As(err, &pe) {
		phase = pe.Phase
	}

	if ce := (*CheckError)(nil); errors.As(err, &ce) {
		return ReasonCheckFailed
	}
	if de := (*net.DNSError)(nil); errors.As(err, &de) || phase == PhaseResolve {
		return ReasonDNSError
	}
	if r, ok := classifyCert(err); ok {
		return r
	}
	// A TLS alert names the cause better than the reset that follows it,
	// as when sensor rejects a client certificate.
	if cr := (*ClientCertRejectedError)(nil); errors.As(err, &cr) || isTLSAlert(err) {
		return ReasonTLSError
	}
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return ReasonRefused
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return ReasonReset
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return ReasonUnreachable
	}
	if isTimeout(err) {
		switch phase {
		case PhaseConnect:
			return ReasonConnectTimeout
		case PhaseTLS:
			return ReasonTLSTimeout
		case PhaseCheck:
			return ReasonCheckTimeout
		}
		if oe := (*net.OpError)(nil); errors.As(err, &oe) && oe.Op == "dial" {
			return ReasonConnectTimeout
		}
		return ReasonOther
	}
	if s, ok := status.FromError(err); ok && s.Code() != codes.Unknown {
		if s.Code() == codes.DeadlineExceeded {
			return ReasonCheckTimeout
		}
		return ReasonCheckFailed
	}
	switch phase {
	case PhaseTLS:
		// Alerts, protocol errors and a peer that closes mid-handshake.
		return ReasonTLSError
	case PhaseCheck:
		return ReasonCheckFailed
	}
	if errors.Is(err, io.EOF) {
		return ReasonTLSError
	}
	return ReasonOther
}

// isTLSAlert reports whether err carries a TLS alert, sent by us or received
// from the peer ("remote error: tls: bad certificate").
func isTLSAlert(err error) bool {
	if ae := (tls.AlertError)(0); errors.As(err, &ae) {
		return true
	}
	oe := (*net.OpError)(nil)
	return errors.As(err, &oe) && oe.Op == "remote error"
}

func classifyCert(err error) (Reason, bool) {
	if he := (x509.HostnameError{}); errors.As(err, &he) {
		return ReasonCertNameMismatch, true
	}
	if ue := (x509.UnknownAuthorityError{}); errors.As(err, &ue) {
		return ReasonCertUnknownAuthority, true
	}
	if ie := (x509.CertificateInvalidError{}); errors.As(err, &ie) {
		if ie.Reason == x509.Expired {
			return ReasonCertExpired, true
		}
		return ReasonTLSError, true
	}
	if ve := (*tls.CertificateVerificationError)(nil); errors.As(err, &ve) {
		return ReasonTLSError, true
	}
	return "", false
}

func isTimeout(err error) bool {
	if errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

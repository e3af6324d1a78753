// Package dial makes one attempt to reach sensor over one path and describes
// what happened as a Result value.
//
// The package neither logs nor touches metrics: callers (the scheduler, the
// one-shot check, the demo) decide what to do with a Result. An attempt is
// bounded by its timeout; when Probe returns, every connection and goroutine it
// opened has been closed.
package dial

import (
	"time"
)

// Phase names one timed step of an attempt.
type Phase string

// The phases of an attempt, in order. PhaseResolve is skipped when the target
// host is an IP address; PhaseTLS and PhaseCheck are skipped in CheckTCP mode.
const (
	PhaseResolve Phase = "resolve"
	PhaseConnect Phase = "connect"
	PhaseTLS     Phase = "tls"
	PhaseCheck   Phase = "check"
)

// Phases returns every phase in the order an attempt runs them. The slice is
// new on each call; callers may keep it.
func Phases() []Phase {
	return []Phase{PhaseResolve, PhaseConnect, PhaseTLS, PhaseCheck}
}

// Reason is the classified outcome of an attempt. It is a small fixed set, so
// it is safe as a metric label; the error text itself goes to logs and the
// status page.
type Reason string

// The reasons, documented in docs/metrics.md.
const (
	// ReasonOK: every phase succeeded.
	ReasonOK Reason = "ok"
	// ReasonDNSError: the target's host name did not resolve.
	ReasonDNSError Reason = "dns_error"
	// ReasonConnectTimeout: the TCP connect did not complete in time
	// ("dial tcp …: i/o timeout"): packets dropped on the way, typically by a
	// NetworkPolicy or by service routing that does not work from the host network.
	ReasonConnectTimeout Reason = "connect_timeout"
	// ReasonRefused: the peer (or something before it) answered the SYN with a reset.
	ReasonRefused Reason = "refused"
	// ReasonReset: an established connection was reset.
	ReasonReset Reason = "reset"
	// ReasonUnreachable: no route to the host or network.
	ReasonUnreachable Reason = "unreachable"
	// ReasonTLSTimeout: TCP connected but the TLS handshake stalled.
	ReasonTLSTimeout Reason = "tls_timeout"
	// ReasonTLSError: the TLS handshake failed for a reason other than the certificate.
	ReasonTLSError Reason = "tls_error"
	// ReasonCertUnknownAuthority: the server certificate does not chain to the CA bundle.
	ReasonCertUnknownAuthority Reason = "cert_unknown_authority"
	// ReasonCertNameMismatch: the server certificate is not valid for the server name.
	ReasonCertNameMismatch Reason = "cert_name_mismatch"
	// ReasonCertExpired: the server certificate is expired or not yet valid.
	ReasonCertExpired Reason = "cert_expired"
	// ReasonCheckTimeout: TLS completed but the check (HTTP /ready or gRPC) did not answer in time.
	ReasonCheckTimeout Reason = "check_timeout"
	// ReasonCheckFailed: the check answered, but not with success.
	ReasonCheckFailed Reason = "check_failed"
	// ReasonOther: an error that fits none of the above; see the error text.
	ReasonOther Reason = "other"
)

// Reasons returns every reason, ReasonOK first. The slice is new on each call.
func Reasons() []Reason {
	return []Reason{
		ReasonOK, ReasonDNSError, ReasonConnectTimeout, ReasonRefused, ReasonReset,
		ReasonUnreachable, ReasonTLSTimeout, ReasonTLSError, ReasonCertUnknownAuthority,
		ReasonCertNameMismatch, ReasonCertExpired, ReasonCheckTimeout, ReasonCheckFailed,
		ReasonOther,
	}
}

// IsTimeout reports whether r is one of the i/o-timeout reasons.
func (r Reason) IsTimeout() bool {
	return r == ReasonConnectTimeout || r == ReasonTLSTimeout || r == ReasonCheckTimeout
}

// CheckMode selects what an attempt does after connecting.
type CheckMode string

// The check modes.
const (
	// CheckHTTP performs a TLS handshake and GET /ready over the same connection
	// (HTTP/2 when negotiated); 200 is success. This is the default.
	CheckHTTP CheckMode = "http"
	// CheckGRPC performs a TLS handshake and calls grpc.health.v1.Health/Check
	// over the same connection. Unimplemented counts as success: sensor
	// registers no health service, and the answer proves TLS, HTTP/2 and gRPC work.
	CheckGRPC CheckMode = "grpc"
	// CheckTCP stops after the TCP connect.
	CheckTCP CheckMode = "tcp"
)

// Tier says how far an attempt goes. The scheduler makes most attempts
// connect-tier (resolve and TCP connect, then close: no cost to sensor beyond
// an accept) and some full (connect, TLS, check), so that the handshakes
// sensor serves stay within a cluster-wide budget.
type Tier string

// The tiers. The zero value means TierFull, so results built without a tier
// (older code, tests) are full attempts.
const (
	// TierFull runs every phase of the check mode.
	TierFull Tier = "full"
	// TierConnect resolves and connects, then closes the connection at once.
	TierConnect Tier = "connect"
)

// Path names used across sensorprobe. A path is a named way of reaching sensor.
const (
	PathClusterIP = "clusterip" // sensor Service ClusterIP:443
	PathDNS       = "dns"       // sensor.stackrox.svc:443
	PathHostPort  = "hostport"  // 127.0.0.1:8443, the hostPort workaround
	PathPodIP     = "podip"     // sensor pod IP:8443
	PathWebhook   = "webhook"   // sensor-webhook Service, port 443 → 9443
)

// Target is one path to dial.
type Target struct {
	// Name is the path's name, e.g. "clusterip". It is a metric label.
	Name string
	// Addr is host:port; host may be an IP address or a DNS name.
	Addr string
	// ServerName overrides the prober's default TLS server name when not empty.
	ServerName string
}

// PhaseTiming is how long one phase took.
type PhaseTiming struct {
	Phase    Phase
	Duration time.Duration
}

// TLSFacts describes the server certificate seen during the handshake.
// It is set whenever a handshake got as far as receiving a certificate, even
// when verification then failed.
type TLSFacts struct {
	// Version is the negotiated TLS version, e.g. "TLS 1.3"; empty when the handshake failed.
	Version string
	// ALPN is the negotiated application protocol, e.g. "h2".
	ALPN string
	// Verified is true when the chain verified against the configured CA for the server name.
	// It is false when no CA was configured (the handshake then skips verification).
	Verified bool
	// VerifyError is why verification failed, empty when it succeeded or did not run.
	VerifyError string
	// NotAfter is the leaf certificate's expiry.
	NotAfter time.Time
	// DNSNames are the leaf certificate's DNS SANs.
	DNSNames []string
	// Issuer is the leaf certificate's issuer common name.
	Issuer string
}

// Result is the outcome of one attempt on one path.
type Result struct {
	// Target is what was dialled.
	Target Target
	// ServerName is the TLS server name used (empty in CheckTCP mode).
	ServerName string
	// Check is the check mode used; CheckTCP for a connect-tier attempt.
	Check CheckMode
	// Tier is how far the attempt went: TierConnect or TierFull; "" means TierFull.
	Tier Tier
	// Start is when the attempt began.
	Start time.Time
	// Duration is the whole attempt's wall time.
	Duration time.Duration
	// RemoteAddr is the IP:port actually connected to (after resolution), empty if none.
	RemoteAddr string
	// Reason classifies the outcome; ReasonOK on success.
	Reason Reason
	// FailedPhase is the phase that failed; empty on success.
	FailedPhase Phase
	// Err is the error, nil on success.
	Err error
	// Phases lists the phases that ran, in order, with their durations; the
	// failed phase, if any, is last.
	Phases []PhaseTiming
	// TLS is set when a server certificate was received.
	TLS *TLSFacts
	// Detail is the check's answer, e.g. "HTTP 200" or "grpc Unimplemented".
	Detail string
}

// OK reports whether the attempt succeeded.
func (r Result) OK() bool { return r.Reason == ReasonOK }

// Full reports whether r is a full attempt (Tier TierFull or unset).
func (r Result) Full() bool { return r.Tier != TierConnect }

// PhaseDuration returns how long phase p took and whether it ran.
func (r Result) PhaseDuration(p Phase) (time.Duration, bool) {
	for _, pt := range r.Phases {
		if pt.Phase == p {
			return pt.Duration, true
		}
	}
	return 0, false
}

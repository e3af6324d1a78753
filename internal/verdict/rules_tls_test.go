package verdict

import (
	"testing"

	"github.com/sensorprobe/sensorprobe/internal/dial"
	"github.com/sensorprobe/sensorprobe/internal/state"
)

// tlsCases are the cases of rule 4: tls_trust (rules_tls.go).
func tlsCases() []decideCase {
	return []decideCase{
		{
			name: "tls: wrong CA on every 8443 path",
			in: Input{Paths: []state.PathState{p("clusterip", dial.ReasonCertUnknownAuthority),
				p("podip", dial.ReasonCertUnknownAuthority), p("webhook", ok)}},
			want:      got{Name: TLSTrust, Severity: SeverityCritical},
			wantCause: []string{"clusterip (cert_unknown_authority)", "podip (cert_unknown_authority)", "dial tcp"},
			wantFix:   []string{"collector-tls"},
		},
		{
			name:    "tls: name mismatch",
			in:      Input{Paths: []state.PathState{p("podip", dial.ReasonCertNameMismatch), p("clusterip", ok)}},
			want:    got{Name: TLSTrust, Severity: SeverityCritical},
			wantFix: []string{"sensor.stackrox.svc"},
		},
		{
			name:    "tls: expired",
			in:      Input{Paths: []state.PathState{p("clusterip", dial.ReasonCertExpired), p("webhook", dial.ReasonCertExpired)}},
			want:    got{Name: TLSTrust, Severity: SeverityCritical},
			wantFix: []string{"renew"},
		},
		{
			name: "tls: a tls_error that carries a verification error",
			in: Input{Paths: []state.PathState{{
				Target: dial.Target{Name: "podip", Addr: addrOf("podip")},
				Latest: &dial.Result{Reason: dial.ReasonTLSError, TLS: &dial.TLSFacts{VerifyError: "x509: bad"}},
			}, p("clusterip", ok)}},
			want:      got{Name: TLSTrust, Severity: SeverityCritical},
			wantCause: []string{"x509: bad"},
		},
		{
			name: "tls: wins over a NetworkPolicy-like pattern",
			in: Input{Paths: []state.PathState{p("clusterip", timeout), p("podip", dial.ReasonCertUnknownAuthority),
				p("webhook", ok)}},
			want: got{Name: TLSTrust, Severity: SeverityCritical},
		},
		{
			name: "not tls: tls_error without a verification error",
			in:   Input{Paths: []state.PathState{p("podip", dial.ReasonTLSError), p("clusterip", ok)}},
			want: got{Name: Degraded, Severity: SeverityWarning},
		},
	}
}

func TestTLSTrust(t *testing.T) { runCases(t, tlsCases()) }

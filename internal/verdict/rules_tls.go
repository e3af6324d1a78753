package verdict

import (
	"fmt"

	"github.com/sensorprobe/sensorprobe/internal/dial"
)

// tlsTrust is rule 4: some path reached a TLS server whose certificate did
// not verify. It comes before the network patterns because a certificate
// failure proves the connection got through.
func tlsTrust(p *picture) (finding, bool) {
	var bad []observed
	for _, o := range p.relevant() {
		if o.class == classTrust {
			bad = append(bad, o)
		}
	}
	if len(bad) == 0 {
		return finding{}, false
	}
	return blame(trustVerdict(bad, p.cl.namespace()), bad), true
}

// trustVerdict names the certificate failure of bad (not empty); the fix
// follows the first one's reason.
func trustVerdict(bad []observed, ns string) Verdict {
	first := bad[0]
	cause := fmt.Sprintf("connections reach a TLS server but its certificate does not verify on %s", names(bad))
	if first.err != "" {
		cause += ": " + oneLine(first.err)
	}
	var fix string
	switch first.reason {
	case dial.ReasonCertNameMismatch:
		fix = fmt.Sprintf("dial with server name sensor.%s.svc (sensor's certificate has no IP or localhost SANs); if it already does, the address reaches some other server", ns)
	case dial.ReasonCertExpired:
		fix = fmt.Sprintf("renew the secured cluster's certificates (secrets sensor-tls and collector-tls, or tls-cert-* with certificate refresh, in %s) and check the node's clock", ns)
	default:
		fix = fmt.Sprintf("verify with every StackRox CA (ConfigMap tls-ca-bundle, or ca.pem and ca-secondary.pem of secret collector-tls or tls-cert-collector, in %s); a different issuer means the address reaches some other server", ns)
	}
	return Verdict{Name: TLSTrust, Cause: cause, Fix: fix}
}

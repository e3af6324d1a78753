package trust

import "crypto/x509"

func x509Opts(pool *x509.CertPool) x509.VerifyOptions {
	return x509.VerifyOptions{Roots: pool, DNSName: "sensor.stackrox.svc"}
}

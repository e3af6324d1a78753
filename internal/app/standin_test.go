package app

import (
	"crypto/tls"
	"os"
	"path/filepath"
	"testing"

	"github.com/sensorprobe/sensorprobe/internal/standin"
)

// sensorStandIn is a sensor stand-in on loopback whose certificate has
// sensor's SANs in its namespace, with the CA that issued it and that CA
// in a file, for --ca-file.
type sensorStandIn struct {
	*standin.Sensor
	CA     *standin.CA
	CAFile string
}

// startSensorStandIn starts a sensor stand-in for namespace ns, closed at
// the end of the test.
func startSensorStandIn(t *testing.T, ns string) sensorStandIn {
	t.Helper()
	ca, err := standin.NewCA(standin.CAName)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.Issue(standin.LeafOptions{CommonName: "sensor." + ns, DNSNames: standin.SensorSANs(ns)})
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, ca.PEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	return sensorStandIn{Sensor: newTestSensor(t, cert), CA: ca, CAFile: caFile}
}

// newTestSensor starts a sensor stand-in serving cert, closed at the end of the test.
func newTestSensor(t *testing.T, cert tls.Certificate) *standin.Sensor {
	t.Helper()
	s, err := standin.NewSensor(standin.SensorConfig{Cert: cert})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

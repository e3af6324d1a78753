package bareclient_test

import (
	"context"
	"crypto/tls"
	"testing"
	"time"

	"github.com/sensorprobe/sensorprobe/internal/standin"
	"github.com/sensorprobe/sensorprobe/test/bareclient"
)

// TestClients runs every bare client against a sensor stand-in: each
// succeeds with the right CA, and the TLS ones fail against another CA, so
// a benchmark compares the probe with clients that really verify.
func TestClients(t *testing.T) {
	ca, err := standin.NewCA(standin.CAName)
	if err != nil {
		t.Fatal(err)
	}
	other, err := standin.NewCA(standin.CAName)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.Issue(standin.LeafOptions{DNSNames: standin.SensorSANs("stackrox")})
	if err != nil {
		t.Fatal(err)
	}
	s, err := standin.NewSensor(standin.SensorConfig{Cert: cert})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	good := &tls.Config{RootCAs: ca.Pool(), ServerName: "sensor.stackrox.svc"}
	bad := &tls.Config{RootCAs: other.Pool(), ServerName: "sensor.stackrox.svc"}
	tests := []struct {
		name    string
		check   string
		conf    *tls.Config
		wantErr bool
	}{
		{name: "tcp", check: "tcp", conf: good},
		{name: "http", check: "http", conf: good},
		{name: "grpc answered Unimplemented", check: "grpc", conf: good},
		{name: "tcp ignores the CA", check: "tcp", conf: bad},
		{name: "http unknown authority", check: "http", conf: bad, wantErr: true},
		{name: "grpc unknown authority", check: "grpc", conf: bad, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, err := bareclient.ForCheck(tc.check)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			defer cancel()
			before := s.Requests()
			err = f(ctx, s.Addr(), tc.conf)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error: %v", err, tc.wantErr)
			}
			if tc.check != "tcp" && !tc.wantErr && s.Requests() != before+1 {
				t.Errorf("stand-in served %d requests, want 1", s.Requests()-before)
			}
		})
	}
	if _, err := bareclient.ForCheck("udp"); err == nil {
		t.Error("ForCheck(udp): no error")
	}
}

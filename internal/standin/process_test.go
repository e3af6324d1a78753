package standin_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/sensorprobe/sensorprobe/internal/standin"
)

const processEnv = "SENSORPROBE_STANDIN_PROCESS_TEST"

func TestMain(m *testing.M) {
	if os.Getenv(processEnv) != "" {
		if err := standin.ServeProcess(os.Stdin, os.Stdout); err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestProcess starts the stand-ins in a child process, checks that the
// sensor stand-in answers /ready over TLS verified against the announced CA,
// that the request is counted, and that the blackhole never connects.
func TestProcess(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), processEnv+"=1")
	cmd.Stderr = os.Stderr
	p, err := standin.StartProcess(cmd)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(p.Info.CAPEM) {
		t.Fatalf("no CA in %q", p.Info.CAPEM)
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "sensor.stackrox.svc"}}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	resp, err := c.Get("https://" + p.Info.Sensor + "/ready")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET /ready: %s", resp.Status)
	}
	if n, err := p.Requests(); err != nil || n != 1 {
		t.Errorf("Requests() = %d, %v; want 1", n, err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	if conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", p.Info.Blackhole); err == nil {
		conn.Close()
		t.Errorf("dial blackhole %s: connected", p.Info.Blackhole)
	}
	if err := p.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}

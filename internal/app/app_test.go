package app

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"testing"
	"time"

	"github.com/sensorprobe/sensorprobe/internal/dial"
	"github.com/sensorprobe/sensorprobe/internal/monitor"
	"github.com/sensorprobe/sensorprobe/internal/standin"
	"github.com/sensorprobe/sensorprobe/internal/state"
	"github.com/sensorprobe/sensorprobe/internal/status"
	"github.com/sensorprobe/sensorprobe/internal/testsupport"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestDemo runs `probe demo` as a user would and checks that it shows the
// field problem: clusterip failing with connect_timeout, hostport healthy,
// the verdict naming service routing, and the same on /metrics and /status.
func TestDemo(t *testing.T) {
	var out testsupport.LockedBuffer
	// A 1 s bound: on a loaded machine 300 ms turned the good hostport handshake into a timeout.
	cfg := &DemoConfig{ListenAddress: "127.0.0.1:0", Interval: time.Second, Timeout: time.Second, Scenario: "service-routing"}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- RunDemo(ctx, cfg, &out, slog.New(slog.DiscardHandler)) }()

	portRE := regexp.MustCompile(`curl -s localhost:(\d+)/metrics`)
	var base string
	for deadline := time.Now().Add(10 * time.Second); base == ""; {
		if m := portRE.FindStringSubmatch(out.String()); m != nil {
			base = "http://127.0.0.1:" + m[1]
		} else if time.Now().After(deadline) {
			t.Fatalf("demo printed no metrics address:\n%s", out.String())
		} else {
			time.Sleep(20 * time.Millisecond)
		}
	}
	for deadline := time.Now().Add(10 * time.Second); ; {
		if code, _ := get(t, base+"/readyz"); code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("demo never became ready")
		}
		time.Sleep(50 * time.Millisecond)
	}
	_, body := get(t, base+"/metrics")
	exp := testsupport.ParseExposition(t, body)
	for _, want := range []struct {
		name   string
		labels []string
		ok     func(float64) bool
		want   string
	}{
		{"sensorprobe_path_up", []string{"path", "clusterip"}, func(v float64) bool { return v == 0 }, "0"},
		{"sensorprobe_path_up", []string{"path", "hostport"}, func(v float64) bool { return v == 1 }, "1"},
		{"sensorprobe_probe_attempts_total", []string{"path", "clusterip", "reason", "connect_timeout"}, func(v float64) bool { return v >= 1 }, ">= 1"},
		{"sensorprobe_probe_attempts_total", []string{"path", "hostport", "reason", "connect_timeout"}, func(v float64) bool { return v == 0 }, "0"},
		{"sensorprobe_connect_duration_seconds", []string{"path", "hostport"}, func(v float64) bool { return v >= 1 }, ">= 1"},
		{"sensorprobe_phase_duration_seconds", []string{"path", "hostport", "phase", "tls"}, func(v float64) bool { return v > 0 }, "> 0"},
		{"sensorprobe_verdict", []string{"verdict", "service_unreachable_from_host_network"}, func(v float64) bool { return v == 1 }, "1"},
		{"sensorprobe_probe_panics_total", nil, func(v float64) bool { return v == 0 }, "0"}, // no attempt panicked
	} {
		v, ok := exp.Value(want.name, want.labels...)
		if !ok || !want.ok(v) {
			t.Errorf("/metrics: %s = %v (present %v), want %s", testsupport.Describe(want.name, want.labels...), v, ok, want.want)
		}
	}
	if v, ok := exp.Value("sensorprobe_verdict", "verdict", "healthy"); ok {
		t.Errorf("/metrics: sensorprobe_verdict{verdict=\"healthy\"} = %v, want only the current verdict exported", v)
	}
	code, body := get(t, base+"/status")
	var rep status.Report
	if err := json.Unmarshal([]byte(body), &rep); err != nil || code != 200 {
		t.Fatalf("/status: %d %v", code, err)
	}
	if rep.Verdict.Name != "service_unreachable_from_host_network" {
		t.Errorf("/status verdict = %q", rep.Verdict.Name)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("demo: %v", err)
	}
	text := out.String()
	for _, re := range []string{
		`clusterip DOWN  connect_timeout: connect: dial tcp 127\.0\.0\.1:\d+: i/o timeout`,
		`hostport  UP`,
		`verdict   service_unreachable_from_host_network`,
		`(?m)^hostport \(control\)\s+127\.0\.0\.1:\d+\s+UP\s+ok`,
		`(?m)^clusterip \(relay\)\s+127\.0\.0\.1:\d+\s+DOWN\s+connect_timeout\s+connect`,
	} {
		if !regexp.MustCompile(re).MatchString(text) {
			t.Errorf("demo output lacks %s:\n%s", re, text)
		}
	}
}

func TestCheckRound(t *testing.T) {
	ca, err := standin.NewCA(standin.CAName)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := ca.Issue(standin.LeafOptions{DNSNames: standin.SensorSANs("stackrox")})
	s, err := standin.NewSensor(standin.SensorConfig{Cert: cert})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	refused, _ := standin.RefusedAddr()
	p, err := dial.New(dial.Config{Timeout: time.Second, RootCAs: ca.Pool()})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name        string
		targets     []dial.Target
		wantVerdict string
	}{
		{name: "healthy", targets: []dial.Target{{Name: "hostport", Addr: s.Addr()}, {Name: "webhook", Addr: s.Addr(), ServerName: "sensor-webhook.stackrox.svc"}}, wantVerdict: "healthy"},
		{name: "sensor down", targets: []dial.Target{{Name: "podip", Addr: refused}, {Name: "webhook", Addr: refused}}, wantVerdict: "sensor_unavailable"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := CheckRound(context.Background(), p, tc.targets, state.Uses{}, "node-a", monitor.Facts{})
			if r.Verdict.Name != tc.wantVerdict {
				t.Errorf("verdict = %s (%s), want %s", r.Verdict.Name, r.Verdict.Cause, tc.wantVerdict)
			}
			if len(r.Paths) != len(tc.targets) {
				t.Errorf("%d paths in report, want %d", len(r.Paths), len(tc.targets))
			}
			for _, path := range r.Paths {
				if path.State == status.StatePending {
					t.Errorf("path %s was not probed", path.Name)
				}
			}
		})
	}
}

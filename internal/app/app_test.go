package app

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sensorprobe/sensorprobe/internal/dial"
	"github.com/sensorprobe/sensorprobe/internal/monitor"
	"github.com/sensorprobe/sensorprobe/internal/standin"
	"github.com/sensorprobe/sensorprobe/internal/state"
	"github.com/sensorprobe/sensorprobe/internal/status"
	"github.com/sensorprobe/sensorprobe/internal/testsupport"
	"github.com/sensorprobe/sensorprobe/internal/verdict"
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

// runningDemo is a `probe demo` started by a test.
type runningDemo struct {
	out    *testsupport.LockedBuffer
	base   string
	cancel context.CancelFunc
	done   chan error
}

// startDemo starts `probe demo` with cfg and waits for its /readyz.
func startDemo(t *testing.T, cfg *DemoConfig) *runningDemo {
	t.Helper()
	d := &runningDemo{out: &testsupport.LockedBuffer{}, done: make(chan error, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	d.cancel = cancel
	t.Cleanup(cancel)
	go func() { d.done <- RunDemo(ctx, cfg, d.out, slog.New(slog.DiscardHandler)) }()

	portRE := regexp.MustCompile(`curl -s localhost:(\d+)/metrics`)
	for deadline := time.Now().Add(10 * time.Second); d.base == ""; {
		if m := portRE.FindStringSubmatch(d.out.String()); m != nil {
			d.base = "http://127.0.0.1:" + m[1]
		} else if time.Now().After(deadline) {
			t.Fatalf("demo printed no metrics address:\n%s", d.out.String())
		} else {
			time.Sleep(20 * time.Millisecond)
		}
	}
	for deadline := time.Now().Add(10 * time.Second); ; {
		if code, _ := get(t, d.base+"/readyz"); code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("demo never became ready")
		}
		time.Sleep(50 * time.Millisecond)
	}
	return d
}

// stop ends the demo and returns all it printed.
func (d *runningDemo) stop(t *testing.T) string {
	t.Helper()
	d.cancel()
	if err := <-d.done; err != nil {
		t.Fatalf("demo: %v", err)
	}
	return d.out.String()
}

// TestDemo runs `probe demo` as a user would and checks that it shows the
// field problem: clusterip failing with connect_timeout, hostport healthy,
// the verdict naming service routing, and the same on /metrics and /status.
func TestDemo(t *testing.T) {
	// A 1 s bound: on a loaded machine 300 ms turned the good hostport handshake into a timeout.
	d := startDemo(t, &DemoConfig{ListenAddress: "127.0.0.1:0", Interval: time.Second, Timeout: time.Second, Scenario: "service-routing"})
	base := d.base
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
	text := d.stop(t)
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

// TestDemoPull runs the pull scenario: the node's VMI without VSOCK is the
// verdict until the virt-handler stand-in stops, then virt_handler_down is,
// on the demo's output, /metrics and /status.
func TestDemoPull(t *testing.T) {
	d := startDemo(t, &DemoConfig{ListenAddress: "127.0.0.1:0", Interval: 300 * time.Millisecond, Timeout: 300 * time.Millisecond, Scenario: scenarioPull})
	testsupport.Eventually(t, 10*time.Second, func() (bool, string) {
		return strings.Contains(d.out.String(), "verdict   virt_handler_down"), d.out.String()
	})
	_, body := get(t, d.base+"/metrics")
	exp := testsupport.ParseExposition(t, body)
	for name, want := range map[string]float64{"sensorprobe_vmis_running": 3, "sensorprobe_vmis_without_vsock": 1, "sensorprobe_virt_handler_up": 0} {
		if v, ok := exp.Value(name); !ok || v != want {
			t.Errorf("/metrics: %s = %v (present %v), want %v", name, v, ok, want)
		}
	}
	_, body = get(t, d.base+"/status")
	var rep status.Report
	if err := json.Unmarshal([]byte(body), &rep); err != nil {
		t.Fatal(err)
	}
	if k := rep.Kubernetes; rep.Verdict.Name != verdict.VirtHandlerDown || k == nil || k.VMTransport != "pull" || k.VMs == nil ||
		!slices.Equal(k.VMs.WithoutVSOCK, []string{"vms/fedora-plain"}) {
		t.Errorf("/status: verdict %s, kubernetes %+v", rep.Verdict.Name, rep.Kubernetes)
	}
	text := d.stop(t)
	first, second := strings.Index(text, "verdict   vms_without_vsock"), strings.Index(text, "verdict   virt_handler_down")
	if first < 0 || second < first {
		t.Errorf("want vms_without_vsock, then virt_handler_down:\n%s", text)
	}
	// The VM table as the cluster check prints it: sensor's view of each VM,
	// first with the agent down, then with the virt-handler gone.
	for _, re := range []string{
		`(?s)verdict   vms_without_vsock.*vms/agent-down\s+demo-node\s+4\s+yes\s+agent_down.*vms/rhel9\s+demo-node\s+3\s+yes\s+success.*verdict   virt_handler_down`,
		`(?s)verdict   virt_handler_down.*vms/rhel9\s+demo-node\s+3\s+yes\s+dial_error/virt_handler_unreachable`,
		`vms/fedora-plain\s+demo-node\s+-\s+no\s+dial_error/vsock_not_attached`,
	} {
		if !regexp.MustCompile(re).MatchString(text) {
			t.Errorf("demo output lacks %s:\n%s", re, text)
		}
	}
	if !regexp.MustCompile(`(?m)^webhook \(control\)\s+127\.0\.0\.1:\d+\s+UP`).MatchString(text) {
		t.Errorf("the host-network paths are controls in pull mode:\n%s", text)
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

package status

import (
	"bytes"
	"context"
	"image/png"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sensorprobe/sensorprobe/internal/dial"
	"github.com/sensorprobe/sensorprobe/internal/state"
	"github.com/sensorprobe/sensorprobe/internal/verdict"
)

// browserTimeout bounds one browser run so a hung browser fails the test
// instead of hanging it; it is not an assertion about speed.
const browserTimeout = 2 * time.Minute

// needTool returns the path of the first of names found on PATH. When none
// is, the test is skipped with hint, or fails when the environment variable
// CI is set: CI must run every test.
//
// Browser tests are skipped under -short (make test-short).
func needTool(t *testing.T, hint string, names ...string) string {
	t.Helper()
	if testing.Short() {
		t.Skip("renders the page in a browser; run without -short")
	}
	for _, n := range names {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("none of %v found on PATH, and CI is set: %s", names, hint)
	}
	t.Skipf("none of %v found on PATH: %s", names, hint)
	return ""
}

// artifactsDir returns $ARTIFACTS_DIR, or artifacts/ at the module root
// (ignored by git), creating it.
func artifactsDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("ARTIFACTS_DIR")
	if dir == "" {
		wd, err := os.Getwd()
		if err != nil {
			t.Fatal(err)
		}
		root := wd
		for {
			if _, err := os.Stat(filepath.Join(root, "go.mod")); err == nil {
				break
			}
			parent := filepath.Dir(root)
			if parent == root {
				root = wd
				break
			}
			root = parent
		}
		dir = filepath.Join(root, "artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("create artifacts dir: %v", err)
	}
	return dir
}

// serveSample starts a loopback server with the status handler over r.
func serveSample(t *testing.T, r Report) string {
	t.Helper()
	srv := httptest.NewServer(Handler(func(context.Context) Report { return r }))
	t.Cleanup(srv.Close)
	return srv.URL + "/"
}

func run(t *testing.T, name string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), browserTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\nstderr:\n%s", name, strings.Join(args, " "), err, stderr.String())
	}
	return stdout.Bytes()
}

// TestStatusPageTextBrowser renders the page in w3m and checks that the
// verdict, its cause and fix, and each path's row read as text.
func TestStatusPageTextBrowser(t *testing.T) {
	w3m := needTool(t, "install w3m (apt-get install -y w3m) to check the page in a text browser", "w3m")
	url := serveSample(t, sampleReport())
	out := string(run(t, w3m, "-dump", "-cols", "250", "-T", "text/html", url))

	file := filepath.Join(artifactsDir(t), "status-page.txt")
	if err := os.WriteFile(file, []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("text rendering: %s", file)

	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`Verdict: relay_path_down_vms_connecting CRITICAL`),
		regexp.MustCompile(`Cause: +VMs are connecting to the relay`),
		regexp.MustCompile(`Fix: +add a separate NetworkPolicy in stackrox`),
		// A path row: name, target, result, reason and the connect timing on one line.
		regexp.MustCompile(`podip +control +10\.128\.2\.15:8443 +DOWN +connect_timeout.*2\.00s`),
		regexp.MustCompile(`webhook +control +sensor-webhook\.stackrox\.svc:443.* UP +ok`),
		regexp.MustCompile(`error: dial tcp 127\.0\.0\.1:8443: connect: connection refused`),
		regexp.MustCompile(`Relay listening +yes`),
		regexp.MustCompile(`Sensor on this node +no`),
		// The history reads as text too: the summary, the outage log, the verdict changes.
		regexp.MustCompile(`clusterip down since 15:54:05 \(46m00s\) · 3 outages in the last hour`),
		regexp.MustCompile(`clusterip down 15:48:05 – 15:50:05 \(2m00s\): refused, then reset; 4 attempts failed`),
		regexp.MustCompile(`clusterip down 15:45:05 – 15:45:35 \(30s\): connect_timeout; a blip \(one attempt\)`),
		regexp.MustCompile(`Verdict changes: 6, the latest at 15:54:05: healthy → relay_path_down_vms_connecting`),
		regexp.MustCompile(`15:40:05 to 16:40:05 \(now\)`),
	} {
		if !want.MatchString(out) {
			t.Errorf("text rendering does not match %q; got:\n%s", want, out)
		}
	}
}

// healthyReport is a node where every probed path answers, one path is not
// probed yet, and neither the VSOCK watch nor Kubernetes discovery is on.
func healthyReport() Report {
	webhook := samplePaths()[4]
	clusterIP := webhook
	clusterIP.Target = dial.Target{Name: dial.PathClusterIP, Addr: "172.30.12.7:443"}
	res := *webhook.Latest
	res.Target, res.ServerName, res.RemoteAddr = clusterIP.Target, "sensor.stackrox.svc", "172.30.12.7:443"
	clusterIP.Latest = &res
	podIP := state.PathState{Target: dial.Target{Name: dial.PathPodIP, Addr: "10.128.2.15:8443"}}
	up := []state.PathState{clusterIP, podIP, webhook}
	r := New("worker-0", fixtureNow(), up, verdict.Decide(verdict.Input{Paths: up}))
	r.Version = "0.1.0"
	// Up for ten minutes: the hour's strip only; podip never probed.
	r.SetHistory(historyOf(up, 10*time.Minute, func(path string, _ time.Duration) dial.Reason {
		if path == dial.PathPodIP {
			return ""
		}
		return dial.ReasonOK
	}))
	return r
}

// TestStatusPageChromium renders the page in headless Chromium, saves a
// screenshot as a test artefact and checks the rendered DOM's text.
func TestStatusPageChromium(t *testing.T) {
	chromium := needTool(t, "install Chromium (apt-get install -y chromium) to render the status page",
		"chromium", "chromium-browser")
	tests := []struct {
		name     string
		report   Report
		file     string
		wantText []string
	}{
		{
			name:   "escalated NetworkPolicy verdict",
			report: sampleReport(),
			file:   "status-page.png",
			wantText: []string{
				"Verdict: relay_path_down_vms_connecting CRITICAL",
				"Underlying: networkpolicy_blocks_host_network",
				"Cause: VMs are connecting to the relay (4 recent, 1 established) but its path clusterip (connect_timeout) is down",
				`Fix: add a separate NetworkPolicy in stackrox (sensor's own is reverted by the operator or Helm) admitting host-network sources to sensor port 8443: a namespaceSelector policy-group.network.openshift.io/host-network: ""`,
				"podip control 10.128.2.15:8443 server name sensor.stackrox.svc DOWN connect_timeout failed in connect – 2.00s ✗ – – 47m ago 93",
				"webhook control sensor-webhook.stackrox.svc:443 server name sensor-webhook.stackrox.svc UP ok 900µs 400µs 5.1ms 3.0ms",
				"Sensor on this node no",
			},
		},
		{
			name:   "healthy with a pending path and no VSOCK or Kubernetes",
			report: healthyReport(),
			file:   "status-page-healthy.png",
			wantText: []string{
				"Verdict: healthy OK",
				"Fix: nothing to do",
				"podip 10.128.2.15:8443 PENDING – – – – – never 0 –",
				"VSOCK watch is off.",
				"Kubernetes discovery is off.",
				// Up ten minutes: the hour's strip only (the tooltips are
				// text of the DOM too).
				"clusterip up · no outage since the probe started 10m00s ago last hour not probed 15:40:05 – 16:30:00 up 16:30:00 – 16:40:05 15:40:05 to 16:40:05 (now)",
				"podip pending last hour not probed 15:40:05 – 16:40:05",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url := serveSample(t, tt.report)
			common := func() []string {
				return []string{
					"--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
					"--disable-component-update", "--no-first-run",
					"--user-data-dir=" + t.TempDir(), "--window-size=1200,900",
				}
			}

			shot := filepath.Join(artifactsDir(t), tt.file)
			os.Remove(shot)
			run(t, chromium, append(common(), "--screenshot="+shot, url)...)
			f, err := os.Open(shot)
			if err != nil {
				t.Fatalf("chromium wrote no screenshot: %v", err)
			}
			defer f.Close()
			cfg, err := png.DecodeConfig(f)
			if err != nil {
				t.Fatalf("screenshot is not a PNG: %v", err)
			}
			if cfg.Width != 1200 || cfg.Height != 900 {
				t.Errorf("screenshot is %dx%d, want 1200x900", cfg.Width, cfg.Height)
			}
			t.Logf("screenshot: %s", shot)

			dom := string(run(t, chromium, append(common(), "--dump-dom", url)...))
			dom = regexp.MustCompile(`(?s)<style>.*?</style>`).ReplaceAllString(dom, " ")
			text := strings.Join(strings.Fields(regexp.MustCompile(`<[^>]*>`).ReplaceAllString(dom, " ")), " ")
			for _, want := range tt.wantText {
				if !strings.Contains(text, want) {
					t.Errorf("rendered page text does not contain %q; text:\n%s", want, text)
				}
			}
		})
	}
}

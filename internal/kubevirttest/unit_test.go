//go:build linux

package kubevirttest

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
)

// These tests need neither root nor a cluster.

func TestFormatLine(t *testing.T) {
	at := time.Date(2026, 8, 23, 10, 0, 0, 123456789, time.FixedZone("CEST", 2*3600))
	for _, c := range []struct {
		name string
		got  string
		want string
	}{
		{"scraping", formatLine(at, logScraping, "vms/rhel9", "poll", time.Duration(0)),
			`common/virtualmachine/vmscraper: 2026/08/23 08:00:00.123456 scraper.go:364: Info: VMScraper: scraping "vms/rhel9" (reason=poll backoff=0s)`},
		{"failed", formatLine(at, logFailed, "vms/rhel9", "retryable", 40*time.Second),
			`common/virtualmachine/vmscraper: 2026/08/23 08:00:00.123456 scraper.go:389: Info: VMScraper: scrape "vms/rhel9" failed retryable next=40s`},
		{"send", formatLine(at, logSendFailed, "vms/rhel9", errCentral),
			`common/virtualmachine/vmscraper: 2026/08/23 08:00:00.123456 scraper.go:418: Error: VMScraper: sending "vms/rhel9" report to Central failed: resource exhausted: Central is not reachable`},
		{"index", formatLine(at, logCentralUnreachable, "123"),
			`common/virtualmachine/index: 2026/08/23 08:00:00.123456 handler_impl.go:71: Warn: Cannot send index report for virtual machine with vsock_cid="123" to Central because Central is not reachable`},
	} {
		if c.got != c.want {
			t.Errorf("%s:\n got %s\nwant %s", c.name, c.got, c.want)
		}
	}
}

func TestProtocol(t *testing.T) {
	req := getReportRequest{requestID: newUUID(), capabilities: []string{"report_v1"}, lastGen: 3, knownEpoch: 1755936000, hasGetReport: true}
	got, err := parseGetReportRequest(req.marshal())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(req, got, cmp.AllowUnexported(getReportRequest{})); diff != "" {
		t.Errorf("request round trip (-want +got):\n%s", diff)
	}
	if len(req.requestID) != 36 || req.requestID[14] != '4' {
		t.Errorf("request ID %q is not a version 4 UUID", req.requestID)
	}

	report := indexReport("sha256:x", [][2]string{{"bash", "5.1"}, {"glibc", "2.34"}})
	for _, r := range []response{
		{agentVersion: "4.12.0", generation: 1, epoch: 7, generatedAt: 1755936000, indexReport: report},
		{agentVersion: "4.12.0", generation: 1, epoch: 7, unchanged: true},
		{epoch: 7, isError: true, errCode: codeNotReady, errMessage: notReadyMessage},
	} {
		var buf bytes.Buffer
		if err := writeFrame(&buf, r.marshal()); err != nil {
			t.Fatal(err)
		}
		data, err := readFrame(&buf, maxResponseSize)
		if err != nil {
			t.Fatal(err)
		}
		back, err := parseResponse(data)
		if err != nil {
			t.Fatal(err)
		}
		r.generatedAt, r.facts = 0, nil // not read back
		if diff := cmp.Diff(r, back, cmp.AllowUnexported(response{})); diff != "" {
			t.Errorf("response round trip (-want +got):\n%s", diff)
		}
	}
	if n, state, err := reportPackages(report); n != 2 || state != "IndexFinished" || err != nil {
		t.Errorf("reportPackages: %d %q %v", n, state, err)
	}
	if _, err := parseResponse(nil); !errors.Is(err, errMissingResult) {
		t.Errorf("empty response: %v", err)
	}
}

func TestReadFrame(t *testing.T) {
	for _, c := range []struct {
		name, in, want string
	}{
		{"closed", "", "reading frame length: EOF"},
		{"short length", "\x00\x00", "reading frame length: unexpected EOF"},
		{"short payload", "\x00\x00\x00\x05ab", "reading frame payload: unexpected EOF"},
		{"too large", "\x00\x01\x00\x01", "frame size exceeds limit: 65537 exceeds limit 1024"},
	} {
		_, err := readFrame(bytes.NewReader([]byte(c.in)), 1024)
		if err == nil || err.Error() != c.want {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
	if _, err := readFrame(bytes.NewReader(nil), 1); !errors.Is(err, io.EOF) {
		t.Errorf("a closed stream is io.EOF to sensor's classification: %v", err)
	}
}

func TestAgentError(t *testing.T) {
	for code, want := range map[int]string{
		codeBusy:     "agent is busy with another request: m",
		codeNotReady: "agent has not yet generated a report: m",
		codeInternal: "agent internal error: m",
		4:            "agent error (ERROR_CODE_MALFORMED_REQUEST): m",
		42:           "agent error (42): m",
	} {
		if got := agentError(code, "m").Error(); got != want {
			t.Errorf("code %d: %q, want %q", code, got, want)
		}
	}
}

func TestSchedule(t *testing.T) {
	s := &sensorStandIn{state: map[string]*vmState{"vms/a": {}}}
	s.configure(nil)
	var got []time.Duration
	for range 7 {
		got = append(got, s.schedule("vms/a", scrapeRetryable))
	}
	got = append(got, s.schedule("vms/a", scrapeOK), s.schedule("vms/a", scrapeRetryable))
	want := []time.Duration{10 * time.Second, 20 * time.Second, 40 * time.Second, 80 * time.Second, 160 * time.Second,
		5 * time.Minute, 5 * time.Minute, 5 * time.Minute, 10 * time.Second}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("next attempts (-want +got):\n%s", diff)
	}
}

func TestConfigure(t *testing.T) {
	for _, c := range []struct {
		name    string
		env     []corev1.EnvVar
		enabled bool
		perVM   time.Duration
		port    uint32
	}{
		{"unset", nil, false, 30 * time.Second, 818},
		{"true", []corev1.EnvVar{{Name: envVMs, Value: "true"}}, true, 30 * time.Second, 818},
		{"TRUE", []corev1.EnvVar{{Name: envVMs, Value: "TRUE"}}, true, 30 * time.Second, 818},
		{"1 is not true to RHACS", []corev1.EnvVar{{Name: envVMs, Value: "1"}}, false, 30 * time.Second, 818},
		{"settings", []corev1.EnvVar{{Name: envVMs, Value: "true"}, {Name: envPerVMTimeout, Value: "2s"}, {Name: envVsockPort, Value: "1818"}},
			true, 2 * time.Second, 1818},
		{"bad values keep defaults", []corev1.EnvVar{{Name: envPerVMTimeout, Value: "soon"}, {Name: envVsockPort, Value: "-1"}},
			false, 30 * time.Second, 818},
	} {
		s := &sensorStandIn{}
		s.configure(c.env)
		if s.enabled != c.enabled || s.perVM != c.perVM || s.port != c.port {
			t.Errorf("%s: enabled %v perVM %v port %d, want %v %v %d", c.name, s.enabled, s.perVM, s.port, c.enabled, c.perVM, c.port)
		}
	}
}

func TestSensorMetricsLint(t *testing.T) {
	m := newSensorMetrics()
	m.requests.WithLabelValues(StatusSuccess).Inc()
	m.sent.WithLabelValues("central not ready").Inc()
	problems, err := testutil.GatherAndLint(m.reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
}

func TestLogQuery(t *testing.T) {
	var buf bytes.Buffer
	lw := &limitWriter{w: &buf, n: 10}
	if !lw.write("abcdef\n") || lw.write("ghijkl\n") || buf.String() != "abcdef\nghi" {
		t.Errorf("limitBytes=10 wrote %q", buf.String())
	}
}

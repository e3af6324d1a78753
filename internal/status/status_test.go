package status

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/sensorprobe/sensorprobe/internal/dial"
	"github.com/sensorprobe/sensorprobe/internal/state"
	"github.com/sensorprobe/sensorprobe/internal/testsupport"
	"github.com/sensorprobe/sensorprobe/internal/verdict"
)

func TestPathOf(t *testing.T) {
	now := fixtureNow()
	start := now.Add(-time.Second)
	notAfter := fixtureNow().Add(24 * time.Hour)
	target := dial.Target{Name: "podip", Addr: "10.0.0.5:8443", ServerName: "sensor.stackrox.svc"}
	tests := []struct {
		name string
		in   state.PathState
		want PathStatus
	}{
		{
			name: "pending",
			in:   state.PathState{Target: target, Consumer: state.ConsumerRelay},
			want: PathStatus{Name: "podip", Target: "10.0.0.5:8443", ServerName: "sensor.stackrox.svc",
				Relay: true, Consumer: "relay", State: StatePending, Phases: []Phase{}, Outages: []Outage{}},
		},
		{
			name: "down in tls with a certificate that does not verify",
			in: state.PathState{
				Target: target,
				Latest: &dial.Result{
					Target: target, ServerName: "sensor.stackrox.svc", Check: dial.CheckGRPC,
					Start: start, Duration: 3 * time.Millisecond, RemoteAddr: "10.0.0.5:8443",
					Reason: dial.ReasonCertUnknownAuthority, FailedPhase: dial.PhaseTLS,
					Err: errors.New("tls: failed to verify certificate:\n x509: unknown authority"),
					Phases: []dial.PhaseTiming{
						{Phase: dial.PhaseConnect, Duration: time.Millisecond},
						{Phase: dial.PhaseTLS, Duration: 2 * time.Millisecond},
					},
					TLS: &dial.TLSFacts{VerifyError: "x509: unknown authority", NotAfter: notAfter,
						Issuer: "Other CA"},
				},
				Since:               start,
				ConsecutiveFailures: 2,
			},
			want: PathStatus{Name: "podip", Target: "10.0.0.5:8443", ServerName: "sensor.stackrox.svc",
				Check: "grpc", State: StateDown, Reason: "cert_unknown_authority", FailedPhase: "tls",
				Phases:          []Phase{{Phase: "connect", Seconds: 0.001}, {Phase: "tls", Seconds: 0.002, Failed: true}},
				DurationSeconds: 0.003, RemoteAddr: "10.0.0.5:8443",
				Error:       "tls: failed to verify certificate: x509: unknown authority",
				LastAttempt: &start, Since: &start, ConsecutiveFailures: 2,
				TLS: &TLS{VerifyError: "x509: unknown authority", NotAfter: &notAfter, DNSNames: []string{},
					Issuer: "Other CA"}, Outages: []Outage{}},
		},
		{
			name: "up",
			in: state.PathState{
				Target: target,
				Latest: &dial.Result{Target: target, ServerName: "sensor.stackrox.svc", Check: dial.CheckHTTP,
					Start: start, Duration: time.Millisecond, Reason: dial.ReasonOK, Detail: "HTTP 200",
					Phases: []dial.PhaseTiming{{Phase: dial.PhaseCheck, Duration: time.Millisecond}}},
				LastSuccess: fixtureNow(),
				Since:       start,
			},
			want: PathStatus{Name: "podip", Target: "10.0.0.5:8443", ServerName: "sensor.stackrox.svc",
				Check: "http", State: StateUp, Up: true, Reason: "ok",
				Phases:          []Phase{{Phase: "check", Seconds: 0.001}},
				DurationSeconds: 0.001, Detail: "HTTP 200", LastAttempt: &start,
				LastSuccess: &now, Since: &start, Outages: []Outage{}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, PathOf(tt.in)); diff != "" {
				t.Errorf("PathOf() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNew(t *testing.T) {
	v := verdict.Verdict{Name: verdict.Degraded, Severity: verdict.SeverityWarning, Cause: "c", Fix: "f"}
	got := New("n1", fixtureNow(), []state.PathState{{Target: dial.Target{Name: "a"}}}, v)
	want := Report{
		SchemaVersion: SchemaVersion, Node: "n1", GeneratedAt: fixtureNow(),
		Verdict: Verdict{Name: "degraded", Severity: "warning", Cause: "c", Fix: "f", Notes: []string{}},
		Paths:   []PathStatus{{Name: "a", State: StatePending, Phases: []Phase{}, Outages: []Outage{}}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("New() mismatch (-want +got):\n%s", diff)
	}
}

// drawnOnly leaves out what the page draws but the JSON does not carry.
var drawnOnly = cmpopts.IgnoreFields(PathStatus{}, "Timelines")

// golden compares got with testdata/name (go test -update rewrites it).
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	testsupport.Golden(t, filepath.Join("testdata", name), got)
}

func TestWriteTable(t *testing.T) {
	tests := []struct {
		name   string
		report Report
		file   string
	}{
		// As `probe check` prints it in the probe's pod, with the daemon's history.
		{name: "networkpolicy with a VM connecting", report: fromDaemon(sampleReport()), file: "check.txt"},
		{name: "nothing configured", report: New("", fixtureNow(), nil, verdict.Decide(verdict.Input{})),
			file: "check-empty.txt"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := WriteTable(&buf, tt.report); err != nil {
				t.Fatalf("WriteTable() = %v", err)
			}
			golden(t, tt.file, buf.Bytes())
		})
	}
}

// fromDaemon is r as `probe check --history` shows it: the history read
// from the daemon in the pod.
func fromDaemon(r Report) Report {
	h := *r.History
	h.Source = "http://127.0.0.1:9818/status"
	r.History = &h
	return r
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestWriteErrors(t *testing.T) {
	if err := WriteTable(failingWriter{}, sampleReport()); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("WriteTable(failing writer) = %v, want an error wrapping disk full", err)
	}
	if err := WriteJSON(failingWriter{}, sampleReport()); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("WriteJSON(failing writer) = %v, want an error wrapping disk full", err)
	}
}

func TestWriteJSON(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteJSON(&buf, sampleReport()); err != nil {
		t.Fatalf("WriteJSON() = %v", err)
	}
	golden(t, "status.json", buf.Bytes())

	var back Report
	if err := json.Unmarshal(buf.Bytes(), &back); err != nil {
		t.Fatalf("decode: %v", err)
	}
	if diff := cmp.Diff(sampleReport(), back, drawnOnly); diff != "" {
		t.Errorf("JSON round trip mismatch (-want +got):\n%s", diff)
	}
}

// TestJSONFieldNames keeps the schema's promise: lower_snake_case names, and
// null rather than absent for unknown sections.
func TestJSONFieldNames(t *testing.T) {
	r := sampleReport()
	r.Paths = append(r.Paths, PathOf(state.PathState{Target: dial.Target{Name: "pending"}}))
	var buf bytes.Buffer
	if err := WriteJSON(&buf, r); err != nil {
		t.Fatal(err)
	}
	var doc any
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	snake := regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)
	var walk func(string, any)
	walk = func(at string, v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				if !snake.MatchString(k) {
					t.Errorf("field %s.%s is not lower_snake_case", at, k)
				}
				walk(at+"."+k, x)
			}
		case []any:
			for _, x := range v {
				walk(at+"[]", x)
			}
		}
	}
	walk("$", doc)

	var empty map[string]any
	buf.Reset()
	if err := WriteJSON(&buf, New("n", fixtureNow(), nil, verdict.Decide(verdict.Input{}))); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(buf.Bytes(), &empty); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"vsock", "kubernetes"} {
		if v, ok := empty[k]; !ok || v != nil {
			t.Errorf("%s = %v (present %t), want null", k, v, ok)
		}
	}
	if p, ok := empty["paths"].([]any); !ok || len(p) != 0 {
		t.Errorf("paths = %v, want []", empty["paths"])
	}
}

type ctxKey struct{}

func TestHandler(t *testing.T) {
	report := sampleReport()
	report.Verdict.Cause = `<script>alert("x")</script> & more`
	var gotCtxValue any
	h := Handler(func(ctx context.Context) Report {
		gotCtxValue = ctx.Value(ctxKey{})
		return report
	})

	tests := []struct {
		name        string
		method      string
		path        string
		wantCode    int
		wantType    string
		wantBody    []string
		notWantBody []string
	}{
		{
			name: "html page", method: http.MethodGet, path: "/",
			wantCode: http.StatusOK, wantType: "text/html; charset=utf-8",
			wantBody: []string{
				`<meta http-equiv="refresh" content="10">`,
				"<table", "<th>connect</th>", "worker-2",
				"relay_path_down_vms_connecting", "networkpolicy_blocks_host_network",
				"&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; more",
				"dial tcp 172.30.12.7:443: i/o timeout",
				"policy-group.network.openshift.io/host-network",
				"stackrox/sensor-6d9f7c7b9-x2x7q",
			},
			// No script, no external assets.
			notWantBody: []string{"<script", "src=", "<link", "http://", "https://", "@import", "url("},
		},
		{
			name: "json", method: http.MethodGet, path: "/status",
			wantCode: http.StatusOK, wantType: "application/json",
			wantBody: []string{`"name": "relay_path_down_vms_connecting"`, `"schema_version": 1`},
		},
		{name: "head", method: http.MethodHead, path: "/", wantCode: http.StatusOK, wantType: "text/html; charset=utf-8"},
		{name: "post", method: http.MethodPost, path: "/", wantCode: http.StatusMethodNotAllowed},
		{name: "unknown path", method: http.MethodGet, path: "/nope", wantCode: http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(tt.method, tt.path, nil)
			req = req.WithContext(context.WithValue(req.Context(), ctxKey{}, tt.name))
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			res := rec.Result()
			body, _ := io.ReadAll(res.Body)
			if res.StatusCode != tt.wantCode {
				t.Fatalf("status = %d, want %d; body: %s", res.StatusCode, tt.wantCode, body)
			}
			if tt.wantType != "" {
				if got := res.Header.Get("Content-Type"); got != tt.wantType {
					t.Errorf("Content-Type = %q, want %q", got, tt.wantType)
				}
				if gotCtxValue != tt.name {
					t.Errorf("get saw context value %v, want the request's %q", gotCtxValue, tt.name)
				}
			}
			for _, s := range tt.wantBody {
				if !strings.Contains(string(body), s) {
					t.Errorf("body does not contain %q", s)
				}
			}
			for _, s := range tt.notWantBody {
				if strings.Contains(string(body), s) {
					t.Errorf("body contains %q", s)
				}
			}
		})
	}
}

func TestHandlerJSONMatchesWriteJSON(t *testing.T) {
	report := sampleReport()
	srv := httptest.NewServer(Handler(func(context.Context) Report { return report }))
	defer srv.Close()
	res, err := srv.Client().Get(srv.URL + "/status")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var got Report
	if err := json.NewDecoder(res.Body).Decode(&got); err != nil {
		t.Fatalf("decode /status: %v", err)
	}
	if diff := cmp.Diff(report, got, drawnOnly); diff != "" {
		t.Errorf("/status mismatch (-want +got):\n%s", diff)
	}
}

func TestAgo(t *testing.T) {
	tests := []struct {
		name string
		d    time.Duration
		want string
	}{
		{name: "future clamps to zero", d: -time.Second, want: "0s ago"},
		{name: "seconds", d: 12*time.Second + 900*time.Millisecond, want: "12s ago"},
		{name: "minutes", d: 47*time.Minute + 59*time.Second, want: "47m ago"},
		{name: "hours", d: 3*time.Hour + 5*time.Minute + 7*time.Second, want: "3h5m ago"},
		{name: "days", d: 50*time.Hour + 10*time.Minute, want: "2d2h ago"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			at := fixtureNow().Add(-tt.d)
			if got := ago(&at, fixtureNow()); got != tt.want {
				t.Errorf("ago(now-%v) = %q, want %q", tt.d, got, tt.want)
			}
		})
	}
	if got := ago(nil, fixtureNow()); got != "never" {
		t.Errorf("ago(nil) = %q, want never", got)
	}
}

func TestSeconds(t *testing.T) {
	tests := []struct {
		name string
		in   float64
		want string
	}{
		{name: "microseconds", in: 0.00015, want: "150µs"},
		{name: "milliseconds", in: 0.0051, want: "5.1ms"},
		{name: "seconds", in: 2.0003, want: "2.00s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := seconds(tt.in); got != tt.want {
				t.Errorf("seconds(%v) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

package deploy

// Every dashboard query against what a running probe exports: the real daemon (app.RunDaemon,
// discovery off) probes stand-ins on loopback — a sensor with sensor's certificate on every
// path but one, and a ClusterIP that drops packets, so exactly one path fails — and is scraped
// a dozen times. The scrapes become promtool input series (one every 30 s of promtool's clock,
// the PodMonitor's interval), every query of both dashboards becomes an alert that fires when
// the query returns data, and `promtool test rules` expects each to fire.
//
// Network: only loopback. The dns path resolves through a loopback DNS stand-in.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"sigs.k8s.io/yaml"

	"github.com/sensorprobe/sensorprobe/internal/app"
	"github.com/sensorprobe/sensorprobe/internal/standin"
	"github.com/sensorprobe/sensorprobe/internal/testsupport"
)

const (
	// expositionScrapes is how many times the test scrapes the probe.
	expositionScrapes = 12
	// expositionStep is promtool's time between two scrapes (the PodMonitor's interval).
	expositionStep = 30 * time.Second
	// expositionWaitLimit only bounds a broken test; nothing asserts how long a step took.
	expositionWaitLimit = 90 * time.Second
)

// expositionTarget are the labels Prometheus adds to every series of the scraped probe.
func expositionTarget(instance string) map[string]string {
	return map[string]string{
		"job": "sensorprobe", "namespace": "stackrox", "node": "worker-1",
		"pod": "sensorprobe-abcde", "instance": instance,
	}
}

// fixture is a series the dashboards read that a probe on loopback cannot export, with why.
// It is added only when the scraped exposition has no series of that name.
type fixture struct {
	Name   string
	Labels map[string]string
	// Values is promtool's notation for expositionScrapes samples.
	Values string
	Why    string
}

// expositionFixtures returns the fixtures: other exporters' series, and the probe's series
// that need a cluster, a VM relay or a kernel feature this machine may lack.
func expositionFixtures() []fixture {
	n := strconv.Itoa(expositionScrapes - 1)
	probe := func(extra map[string]string) map[string]string {
		l := expositionTarget("")
		delete(l, "instance")
		maps.Copy(l, extra)
		return l
	}
	relay := map[string]string{"job": "compliance", "namespace": "stackrox", "node": "worker-1"}
	sensor := func(extra map[string]string) map[string]string {
		l := map[string]string{"job": "sensor", "namespace": "stackrox", "pod": "sensor-6d8f9c7b5-x2k4q"}
		maps.Copy(l, extra)
		return l
	}
	const pullWhy = "RHACS 4.12 pull mode (issue 20): from the probe's VM watch, which needs a cluster with KubeVirt"
	withRelay := func(extra map[string]string) map[string]string {
		l := maps.Clone(relay)
		maps.Copy(l, extra)
		return l
	}
	fixtures := []fixture{
		{
			Name: "kube_daemonset_status_desired_number_scheduled", Values: "1x" + n,
			Labels: map[string]string{"job": "kube-state-metrics", "namespace": "stackrox", "daemonset": "sensorprobe"},
			Why:    "kube-state-metrics' series",
		},
		{
			Name: "sensorprobe_vsock_relay_listening", Values: "0x" + n, Labels: probe(nil),
			Why: "exported only where the kernel answers AF_VSOCK sock_diag dumps (module vsock_diag)",
		},
		{
			Name: "sensorprobe_vsock_relay_log_events_total", Values: "0+2x" + n, Labels: probe(map[string]string{"event": "report_sent"}),
			Why: "exported only while the probe follows the compliance container's log (in a cluster, with discovery)",
		},
		{
			Name: "sensorprobe_vsock_relay_send_errors_total", Values: "0x" + n, Labels: probe(map[string]string{"code": "resource_exhausted"}),
			Why: "planned in issue 10 (docs/metrics.md, Planned), not exported yet",
		},
		// Values that make the pull-mode row's failing-only queries return data: a VMI without
		// VSOCK, a virt-handler down.
		{Name: "sensorprobe_vm_transport_info", Values: "1x" + n, Labels: probe(map[string]string{"mode": "pull"}), Why: pullWhy},
		{Name: "sensorprobe_vmis_running", Values: "3x" + n, Labels: probe(nil), Why: pullWhy},
		{Name: "sensorprobe_vmis_without_vsock", Values: "1x" + n, Labels: probe(nil), Why: pullWhy},
		{Name: "sensorprobe_virt_handler_up", Values: "0x" + n, Labels: probe(nil), Why: pullWhy},
		{
			Name: "rox_sensor_vsock_pull_requests_total", Values: "0+2x" + n, Labels: sensor(map[string]string{"status": "unchanged"}),
			Why: "RHACS sensor's own metrics (the 4.12 line), scraped from its monitoring port",
		},
		{
			Name: "rox_sensor_vsock_pull_requests_total", Values: "0+1x" + n, Labels: sensor(map[string]string{"status": "dial_error"}),
			Why: "RHACS sensor's own metrics",
		},
		{Name: "rox_sensor_vsock_pull_tracked_vms", Values: "3x" + n, Labels: sensor(nil), Why: "RHACS sensor's own metrics"},
	}
	for _, phase := range []string{"dial", "read", "total"} {
		for _, b := range [][2]string{{"0.1", "0+2x" + n}, {"+Inf", "0+3x" + n}} {
			fixtures = append(fixtures, fixture{
				Name: "rox_sensor_vsock_pull_" + phase + "_duration_seconds_bucket", Values: b[1],
				Labels: sensor(map[string]string{"le": b[0]}), Why: "RHACS sensor's own metrics",
			})
		}
	}
	return append(fixtures, []fixture{
		{
			Name: relayMetricPrefix + "index_reports_received_total", Values: "0+2x" + n, Labels: relay,
			Why: "the RHACS VM relay's own metrics, scraped from collector's compliance container",
		},
		{
			Name: relayMetricPrefix + "index_reports_sent_total", Values: "0+2x" + n, Labels: withRelay(map[string]string{"failed": "false"}),
			Why: "the RHACS VM relay's own metrics",
		},
		{
			Name: relayMetricPrefix + "connections_accepted_total", Values: "0+2x" + n, Labels: relay,
			Why: "the RHACS VM relay's own metrics",
		},
		{
			Name: relayMetricPrefix + "index_report_send_attempts_total", Values: "0+2x" + n, Labels: withRelay(map[string]string{"result": "success"}),
			Why: "the RHACS VM relay's own metrics",
		},
	}...)
}

// runProbe starts the daemon against loopback stand-ins with one failing path and returns
// the address of its /metrics.
func runProbe(t *testing.T) string {
	t.Helper()
	ca, err := standin.NewCA(standin.CAName)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.Issue(standin.LeafOptions{CommonName: "sensor.stackrox", DNSNames: standin.SensorSANs("stackrox")})
	if err != nil {
		t.Fatal(err)
	}
	sensor, err := standin.NewSensor(standin.SensorConfig{Cert: cert})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sensor.Close() })
	webhook, err := standin.NewSensor(standin.SensorConfig{Cert: cert})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { webhook.Close() })
	hole, err := standin.NewBlackhole("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hole.Close() })
	dns, err := standin.NewDNS(map[string]string{"sensor.stackrox.svc": "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dns.Close() })
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, ca.PEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	_, sensorPort, _ := net.SplitHostPort(sensor.Addr())
	listen := freeLoopbackAddr(t)

	cfg, err := app.ParseDaemon([]string{
		"--kube=false",
		"--node=worker-1",
		"--interval=1s",
		"--timeout=500ms",
		"--web.listen-address=" + listen,
		"--ca-file=" + caFile,
		"--target=clusterip=" + hole.Addr(), // the failing path: connect times out
		"--target=dns=sensor.stackrox.svc:" + sensorPort,
		"--target=podip=" + sensor.Addr(),
		"--target=hostport=" + sensor.Addr(),
		"--target=webhook=" + webhook.Addr(),
	}, io.Discard, func(string) string { return "" })
	if err != nil {
		t.Fatalf("ParseDaemon: %v", err)
	}
	cfg.Dial.Resolver = dns.Resolver()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- app.RunDaemon(ctx, cfg, slog.New(slog.DiscardHandler)) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("RunDaemon: %v", err)
		}
	})
	return listen
}

// freeLoopbackAddr returns a loopback address with a port free a moment ago.
func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// scrapeProbe reads /metrics once.
func scrapeProbe(addr string) (string, error) {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	return string(b), nil
}

// families parses a scrape into metric families, histograms whole.
func families(t *testing.T, text string) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return fams
}

// oneFailingPath says whether the probe has made attempts on every path: timeouts on
// clusterip, successes on the others, and if not, what is missing.
func oneFailingPath(e testsupport.Exposition) (bool, string) {
	const attempts = "sensorprobe_probe_attempts_total"
	if v, _ := e.Value(attempts, "path", "clusterip", "reason", "connect_timeout"); v < 1 {
		return false, "no connect timeout on clusterip yet"
	}
	for _, p := range []string{"dns", "podip", "hostport", "webhook"} {
		if v, _ := e.Value(attempts, "path", p, "reason", "ok"); v < 1 {
			return false, "no success on " + p + " yet"
		}
	}
	return true, ""
}

// seriesKey renders a series in promtool's notation, labels sorted.
func seriesKey(name string, labels map[string]string) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		if labels[k] == "" {
			continue
		}
		parts = append(parts, k+"="+strconv.Quote(labels[k]))
	}
	return name + "{" + strings.Join(parts, ", ") + "}"
}

// inputSeries turns the scrapes into promtool input series, keyed by series: for each, its
// value in each scrape ("_" where absent). Only sensorprobe's own families are kept.
func inputSeries(scrapes []map[string]*dto.MetricFamily, target map[string]string) map[string][]string {
	series := map[string][]string{}
	set := func(i int, name string, labels map[string]string, v float64) {
		k := seriesKey(name, labels)
		if series[k] == nil {
			series[k] = slices.Repeat([]string{"_"}, len(scrapes))
		}
		series[k][i] = strconv.FormatFloat(v, 'g', -1, 64)
	}
	for i, fams := range scrapes {
		set(i, "up", target, 1)
		for name, f := range fams {
			if !strings.HasPrefix(name, "sensorprobe_") {
				continue
			}
			for _, m := range f.GetMetric() {
				labels := maps.Clone(target)
				for _, l := range m.GetLabel() {
					labels[l.GetName()] = l.GetValue()
				}
				switch f.GetType() {
				case dto.MetricType_COUNTER:
					set(i, name, labels, m.GetCounter().GetValue())
				case dto.MetricType_GAUGE:
					set(i, name, labels, m.GetGauge().GetValue())
				case dto.MetricType_HISTOGRAM:
					h := m.GetHistogram()
					for _, b := range h.GetBucket() {
						bl := maps.Clone(labels)
						bl["le"] = strconv.FormatFloat(b.GetUpperBound(), 'g', -1, 64)
						set(i, name+"_bucket", bl, float64(b.GetCumulativeCount()))
					}
					inf := maps.Clone(labels)
					inf["le"] = "+Inf"
					set(i, name+"_bucket", inf, float64(h.GetSampleCount()))
					set(i, name+"_sum", labels, h.GetSampleSum())
					set(i, name+"_count", labels, float64(h.GetSampleCount()))
				}
			}
		}
	}
	return series
}

// TestDashboardQueriesReturnData checks every query of both dashboards returns data for a
// running probe with one failing path (see the top of this file).
func TestDashboardQueriesReturnData(t *testing.T) {
	promtool(t)
	addr := runProbe(t)

	var first string
	testsupport.Eventually(t, expositionWaitLimit, func() (bool, string) {
		text, err := scrapeProbe(addr)
		if err != nil {
			return false, err.Error()
		}
		first = text
		return oneFailingPath(testsupport.ParseExposition(t, text))
	})
	scrapes := []map[string]*dto.MetricFamily{families(t, first)}
	for len(scrapes) < expositionScrapes {
		time.Sleep(time.Second) // the probe's interval: counters move between scrapes
		text, err := scrapeProbe(addr)
		if err != nil {
			t.Fatal(err)
		}
		scrapes = append(scrapes, families(t, text))
	}

	series := inputSeries(scrapes, expositionTarget(addr))
	exported := map[string]bool{}
	for k := range series {
		name, _, _ := strings.Cut(k, "{")
		exported[name] = true
	}
	fixtureNames := map[string]bool{}
	for _, f := range expositionFixtures() {
		fixtureNames[f.Name] = true
		if exported[f.Name] {
			continue // the real thing
		}
		t.Logf("fixture %s: %s", f.Name, f.Why)
		series[seriesKey(f.Name, f.Labels)] = strings.Fields(f.Values)
	}

	// The probe's own series every query relies on come from the probe, not from a fixture.
	queries := allDashboardQueries(t)
	for _, q := range queries {
		for _, m := range metricNames(q.Expr) {
			base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(m, "_bucket"), "_sum"), "_count")
			if strings.HasPrefix(m, "sensorprobe_") && !fixtureNames[m] && !exported[m] && !exported[base+"_bucket"] {
				t.Errorf("%s uses %s, which the running probe does not export", q.From, m)
			}
		}
	}

	out, ok := runQueriesAgainst(t, series, queries)
	if !ok {
		failed := regexp.MustCompile(`alertname: (Q\d+|Canary)`).FindAllStringSubmatch(out, -1)
		for _, m := range failed {
			if m[1] == "Canary" {
				t.Errorf("the canary query, which must return nothing, fired: the check is broken")
				continue
			}
			i, _ := strconv.Atoi(strings.TrimPrefix(m[1], "Q"))
			t.Errorf("%s returns no data: %s", queries[i].From, queries[i].Expr)
		}
		t.Fatalf("promtool test rules:\n%s", out)
	}
	if want := "SUCCESS"; !strings.Contains(out, want) {
		t.Errorf("promtool output lacks %s:\n%s", want, out)
	}
}

// runQueriesAgainst writes each query as an alert that fires when the query returns a sample
// that is not NaN, plus a canary that must not fire, and runs promtool on series.
func runQueriesAgainst(t *testing.T, series map[string][]string, queries []namedQuery) (string, bool) {
	t.Helper()
	type rule struct {
		Alert string `json:"alert"`
		Expr  string `json:"expr"`
	}
	var rules []rule
	type alertTest struct {
		EvalTime  string           `json:"eval_time"`
		Alertname string           `json:"alertname"`
		ExpAlerts []map[string]any `json:"exp_alerts"`
	}
	last := model.Duration(time.Duration(expositionScrapes-1) * expositionStep).String()
	var tests []alertTest
	for i, q := range queries {
		e := substituteGrafanaVariables(q.Expr)
		name := fmt.Sprintf("Q%03d", i)
		rules = append(rules, rule{Alert: name, Expr: fmt.Sprintf("count((%s) == (%s)) > 0", e, e)})
		tests = append(tests, alertTest{EvalTime: last, Alertname: name, ExpAlerts: []map[string]any{{"exp_labels": map[string]string{}}}})
	}
	rules = append(rules, rule{Alert: "Canary", Expr: `count(sensorprobe_path_up{path="no-such-path"}) > 0`})
	tests = append(tests, alertTest{EvalTime: last, Alertname: "Canary", ExpAlerts: []map[string]any{}})

	type input struct {
		Series string `json:"series"`
		Values string `json:"values"`
	}
	var inputs []input
	for _, k := range slices.Sorted(maps.Keys(series)) {
		inputs = append(inputs, input{Series: k, Values: strings.Join(series[k], " ")})
	}
	dir := t.TempDir()
	write := func(name string, v any) {
		b, err := yaml.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("queries.yaml", map[string]any{"groups": []any{map[string]any{"name": "queries", "rules": rules}}})
	write("test.yaml", map[string]any{
		"rule_files":          []string{"queries.yaml"},
		"evaluation_interval": model.Duration(expositionStep).String(),
		"tests": []any{map[string]any{
			"interval":        model.Duration(expositionStep).String(),
			"input_series":    inputs,
			"alert_rule_test": tests,
		}},
	})
	return runPromtool(t, dir, "test", "rules", "test.yaml")
}

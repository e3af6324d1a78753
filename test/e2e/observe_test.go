//go:build e2e && linux

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/sensorprobe/sensorprobe/internal/status"
)

// observation is what the probe and Prometheus say at one moment.
type observation struct {
	at      time.Time
	report  status.Report
	metrics map[string]*dto.MetricFamily
	// alerts are Prometheus's active alerts, by key (alertKey).
	alerts map[string]string // key → state: pending or firing
}

func (h *harness) get(ctx context.Context, url string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := h.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return b, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return b, nil
}

func (h *harness) status(ctx context.Context) (status.Report, error) {
	var r status.Report
	b, err := h.get(ctx, "http://"+probeAddr+"/status")
	if err != nil {
		return r, err
	}
	return r, json.Unmarshal(b, &r)
}

func (h *harness) metrics(ctx context.Context) (map[string]*dto.MetricFamily, error) {
	b, err := h.get(ctx, "http://"+probeAddr+"/metrics")
	if err != nil {
		return nil, err
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	return p.TextToMetricFamilies(strings.NewReader(string(b)))
}

// promAlert is one entry of Prometheus's /api/v1/alerts.
type promAlert struct {
	Labels map[string]string `json:"labels"`
	State  string            `json:"state"`
}

// alertKey names an alert instance in the tables: the alert name, and the
// path label in parentheses when the alert has one.
func alertKey(labels map[string]string) string {
	k := labels["alertname"]
	if p := labels["path"]; p != "" {
		k += "(" + p + ")"
	}
	return k
}

func (h *harness) alerts(ctx context.Context) (map[string]string, error) {
	b, err := h.get(ctx, "http://"+promAddr+"/api/v1/alerts")
	if err != nil {
		return nil, err
	}
	var resp struct {
		Status string `json:"status"`
		Data   struct {
			Alerts []promAlert `json:"alerts"`
		} `json:"data"`
	}
	if err := json.Unmarshal(b, &resp); err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, a := range resp.Data.Alerts {
		k := alertKey(a.Labels)
		if out[k] != "firing" {
			out[k] = a.State
		}
	}
	return out, nil
}

func (h *harness) observe(ctx context.Context) (observation, error) {
	o := observation{at: time.Now()}
	var err error
	if o.report, err = h.status(ctx); err != nil {
		return o, fmt.Errorf("probe /status: %w", err)
	}
	if o.metrics, err = h.metrics(ctx); err != nil {
		return o, fmt.Errorf("probe /metrics: %w", err)
	}
	if o.alerts, err = h.alerts(ctx); err != nil {
		return o, fmt.Errorf("prometheus /api/v1/alerts: %w", err)
	}
	return o, nil
}

// reasons maps every probed path to its latest reason, "ok" when up and
// "pending" before its first attempt.
func (o observation) reasons() map[string]string {
	m := map[string]string{}
	for _, p := range o.report.Paths {
		switch {
		case p.State == status.StatePending:
			m[p.Name] = "pending"
		case p.Up:
			m[p.Name] = "ok"
		default:
			m[p.Name] = p.Reason
		}
	}
	return m
}

// value returns the value of the sample of family name whose labels include
// kv (name, value pairs), and whether there is one.
func (o observation) value(name string, kv ...string) (float64, bool) {
	f := o.metrics[name]
	if f == nil {
		return 0, false
	}
	for _, m := range f.Metric {
		if !hasLabels(m, kv) {
			continue
		}
		switch {
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Untyped != nil:
			return m.Untyped.GetValue(), true
		}
	}
	return 0, false
}

// labelsOf returns, for family name, label lab of every sample, keyed by the
// sample's path label.
func (o observation) labelsOf(name, lab string) map[string]string {
	out := map[string]string{}
	f := o.metrics[name]
	if f == nil {
		return out
	}
	for _, m := range f.Metric {
		var path, v string
		found := false
		for _, l := range m.Label {
			switch l.GetName() {
			case "path":
				path = l.GetValue()
			case lab:
				v, found = l.GetValue(), true
			}
		}
		if found {
			out[path] = v
		}
	}
	return out
}

func hasLabels(m *dto.Metric, kv []string) bool {
	for i := 0; i+1 < len(kv); i += 2 {
		if !slices.ContainsFunc(m.Label, func(l *dto.LabelPair) bool { return l.GetName() == kv[i] && l.GetValue() == kv[i+1] }) {
			return false
		}
	}
	return true
}

// openFDs counts the open file descriptors of pid.
func openFDs(pid int) (int, error) {
	es, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	return len(es), err
}

// formatReasons renders reasons as "clusterip=connect_timeout dns=ok …",
// sorted by path, with the paths of want that are missing as "podip=-".
func formatReasons(got map[string]string, want map[string]string) string {
	names := map[string]bool{}
	for n := range got {
		names[n] = true
	}
	for n := range want {
		names[n] = true
	}
	var keys []string
	for n := range names {
		keys = append(keys, n)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, n := range keys {
		if i > 0 {
			b.WriteByte(' ')
		}
		r, ok := got[n]
		if !ok {
			r = "-"
		}
		fmt.Fprintf(&b, "%s=%s", n, r)
	}
	return b.String()
}

// checkFleet checks that the probe read its fleet size (1) from its own
// DaemonSet through the shipped Role, so that its full interval is the
// interval: every attempt a full one, as on any cluster under 100 nodes.
func (h *harness) checkFleet() error {
	mf, err := h.metrics(h.ctx)
	if err != nil {
		return err
	}
	gauge := func(name string) (float64, error) {
		f := mf[name]
		if f == nil || len(f.GetMetric()) != 1 {
			return 0, fmt.Errorf("%s not exported", name)
		}
		return f.GetMetric()[0].GetGauge().GetValue(), nil
	}
	size, err := gauge("sensorprobe_fleet_size")
	if err != nil {
		return err
	}
	full, err := gauge("sensorprobe_full_interval_seconds")
	if err != nil {
		return err
	}
	iv, err := time.ParseDuration(probeInterval)
	if err != nil {
		return err
	}
	if size != 1 || full != iv.Seconds() {
		return fmt.Errorf("fleet size %v and full interval %vs, want 1 and %vs (the DaemonSet's desired count was not read)", size, full, iv.Seconds())
	}
	return nil
}

package app

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sensorprobe/sensorprobe/internal/status"
)

func TestResolveHistory(t *testing.T) {
	inPod := func(k string) string {
		if k == "POD_NAME" {
			return "sensorprobe-abcde"
		}
		return ""
	}
	outside := func(string) string { return "" }
	tests := []struct {
		name, flag string
		getenv     func(string) string
		want       string
		wantErr    bool
	}{
		{name: "auto in the probe's pod", flag: "auto", getenv: inPod, want: DefaultHistoryURL},
		{name: "auto elsewhere", flag: "auto", getenv: outside, want: ""},
		{name: "none", flag: "none", getenv: inPod, want: ""},
		{name: "an address", flag: "https://10.0.0.5:9818/status", getenv: outside, want: "https://10.0.0.5:9818/status"},
		{name: "not an address", flag: "localhost:9818", getenv: outside, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p problems
			got := resolveHistory(&p, tt.flag, tt.getenv)
			if got != tt.want || (len(p) > 0) != tt.wantErr {
				t.Errorf("resolveHistory(%q) = %q, problems %v; want %q, error %v", tt.flag, got, p, tt.want, tt.wantErr)
			}
		})
	}
}

// TestWithHistory: a daemon's history replaces the round's for the paths it
// probes at the same target; one that cannot be read leaves the round's and
// says why.
func TestWithHistory(t *testing.T) {
	now := time.Date(2026, 11, 30, 6, 22, 30, 0, time.UTC)
	since := now.Add(-3 * time.Minute)
	started := now.Add(-2 * time.Hour)
	daemon := status.Report{
		Paths: []status.PathStatus{
			{Name: "clusterip", Target: "172.30.0.10:443", DownSince: &since, OutagesLastHour: 4,
				Outages: []status.Outage{{Start: since, Ongoing: true, StartReason: "connect_timeout"}}},
			{Name: "podip", Target: "10.0.0.9:8443", OutagesLastHour: 2, Outages: []status.Outage{{Start: since}}},
		},
		History: &status.History{StartedAt: &started, VerdictChanges: []status.VerdictChange{{At: since, From: "healthy", To: "degraded"}}},
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/status" {
			http.NotFound(w, r)
			return
		}
		_ = status.WriteJSON(w, daemon)
	}))
	defer srv.Close()
	round := func() status.Report {
		r := status.Report{GeneratedAt: now, Paths: []status.PathStatus{
			{Name: "clusterip", Target: "172.30.0.10:443", State: status.StateDown, Outages: []status.Outage{}},
			{Name: "podip", Target: "10.0.0.5:8443", State: status.StateUp, Up: true, Outages: []status.Outage{}},
		}}
		return r
	}

	r := round()
	withHistory(context.Background(), &r, srv.URL+"/status")
	if p := r.Paths[0]; p.DownSince == nil || !p.DownSince.Equal(since) || p.OutagesLastHour != 4 || len(p.Outages) != 1 {
		t.Errorf("clusterip = %+v, want the daemon's history", p)
	}
	if p := r.Paths[1]; p.OutagesLastHour != 0 || len(p.Outages) != 0 {
		t.Errorf("podip, another target in the daemon: %+v, want the round's own", p)
	}
	if h := r.History; h == nil || h.Source != srv.URL+"/status" || h.StartedAt == nil || !h.StartedAt.Equal(started) || len(h.VerdictChanges) != 1 || h.Error != "" {
		t.Errorf("history = %+v, want the daemon's, with its source", h)
	}

	r = round()
	withHistory(context.Background(), &r, srv.URL+"/nothing")
	if h := r.History; h == nil || h.StartedAt != nil || h.Source != srv.URL+"/nothing" || !strings.Contains(h.Error, "404 Not Found") {
		t.Errorf("history after a failed read = %+v, want none, with the error", h)
	}
	if p := r.Paths[0]; p.DownSince != nil || len(p.Outages) != 0 {
		t.Errorf("clusterip after a failed read = %+v, want no history", p)
	}
}

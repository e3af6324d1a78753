package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/sensorprobe/sensorprobe/internal/status"
)

// DefaultHistoryURL is where `probe check --history=auto` reads the outage
// history inside the probe's own pod: the daemon's /status on the port the
// manifests serve (deploy/base/metrics-port.yaml).
const DefaultHistoryURL = "http://127.0.0.1:9818/status"

// historyTimeout bounds reading a daemon's /status.
const historyTimeout = 3 * time.Second

// maxHistoryBytes bounds the /status document read.
const maxHistoryBytes = 8 << 20

// resolveHistory turns the --history flag into the address to read, "" for
// none: "auto" is DefaultHistoryURL inside the probe's pod (POD_NAME set by
// the downward API, which `oc exec` inherits) and none elsewhere.
func resolveHistory(p *problems, flag string, getenv func(string) string) string {
	switch flag {
	case "auto":
		if getenv("POD_NAME") != "" {
			return DefaultHistoryURL
		}
		return ""
	case "", "none":
		return ""
	}
	u, err := url.Parse(flag)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		p.add("--history: %q is not auto, none or an http(s) address of a probe's /status", flag)
		return ""
	}
	return flag
}

// readHistory reads the report of the probe daemon at addr.
func readHistory(ctx context.Context, addr string) (status.Report, error) {
	var r status.Report
	ctx, cancel := context.WithTimeout(ctx, historyTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, addr, nil)
	if err != nil {
		return r, fmt.Errorf("read history: %w", err)
	}
	resp, err := (&http.Client{}).Do(req)
	if err != nil {
		return r, fmt.Errorf("read history: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return r, fmt.Errorf("read history: GET %s: %s", addr, resp.Status)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxHistoryBytes)).Decode(&r); err != nil {
		return r, fmt.Errorf("read history: decode %s: %w", addr, err)
	}
	if r.History == nil {
		return r, fmt.Errorf("read history: the probe at %s keeps no outage history (a version before it)", addr)
	}
	return r, nil
}

// mergeHistory gives the one-shot report r the history of the daemon's
// report d, read from source: for every path that the daemon probes at the
// same target, its down_since, outages_last_hour and outages; and the
// daemon's verdict changes and start. The round's own results stay.
func mergeHistory(r *status.Report, d status.Report, source string) {
	daemon := make(map[string]status.PathStatus, len(d.Paths))
	for _, p := range d.Paths {
		daemon[p.Name] = p
	}
	for i := range r.Paths {
		p := &r.Paths[i]
		dp, ok := daemon[p.Name]
		if !ok || dp.Target != p.Target {
			continue
		}
		p.DownSince, p.OutagesLastHour, p.Outages, p.Timelines = dp.DownSince, dp.OutagesLastHour, dp.Outages, nil
		if p.Outages == nil {
			p.Outages = []status.Outage{}
		}
	}
	h := *d.History
	h.Source = source
	r.History = &h
}

// withHistory merges the history at addr into r; when it cannot be read,
// r's history says why.
func withHistory(ctx context.Context, r *status.Report, addr string) {
	if addr == "" {
		return
	}
	d, err := readHistory(ctx, addr)
	if err != nil {
		r.History = &status.History{Source: addr, Error: err.Error(), VerdictChanges: []status.VerdictChange{}}
		return
	}
	mergeHistory(r, d, addr)
}

package app

import (
	"context"
	"log/slog"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sensorprobe/sensorprobe/internal/dial"
	"github.com/sensorprobe/sensorprobe/internal/trust"
)

// documentedMetrics returns the metric names in the first column of the
// tables in docs/metrics.md.
func documentedMetrics(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile("../../docs/metrics.md")
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile("(?m)^\\| `(sensorprobe_[a-z0-9_]+)`")
	var names []string
	for _, m := range re.FindAllStringSubmatch(string(b), -1) {
		names = append(names, m[1])
	}
	slices.Sort(names)
	return slices.Compact(names)
}

var fqName = regexp.MustCompile(`fqName: "([^"]+)"`)

// exportable returns every sensorprobe_ metric the engine's collectors can
// export, from their descriptions (a family with no series yet still counts).
func exportable(cs []prometheus.Collector) []string {
	ch := make(chan *prometheus.Desc, 100)
	go func() {
		for _, c := range cs {
			c.Describe(ch)
		}
		close(ch)
	}()
	var names []string
	for d := range ch {
		if m := fqName.FindStringSubmatch(d.String()); m != nil && strings.HasPrefix(m[1], "sensorprobe_") {
			names = append(names, m[1])
		}
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// TestMetricsDocumented checks that docs/metrics.md lists exactly the metrics
// the daemon can export: nothing undocumented, nothing documented that is gone.
func TestMetricsDocumented(t *testing.T) {
	cfg := &DaemonConfig{
		Config: Config{
			Targets:   []dial.Target{{Name: "hostport", Addr: "127.0.0.1:1"}},
			Dial:      dial.Config{Timeout: time.Second},
			Namespace: "stackrox",
		},
		Schedule:       Schedule{Interval: 10 * time.Second},
		VSOCKRelayPort: 818, VSOCKInterval: 10 * time.Second, VSOCKWindow: time.Minute,
	}
	store, err := trust.Load(trust.Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Trust = store
	e, err := NewEngine(cfg.dialConfig(), cfg.Schedule.Interval, "node-a", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if err := addOptionalParts(context.Background(), e, cfg); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(documentedMetrics(t), exportable(e.collectors)); diff != "" {
		t.Errorf("docs/metrics.md (-) versus what the daemon exports (+):\n%s", diff)
	}
}

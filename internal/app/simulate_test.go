package app

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// A small simulated fleet: sensor sees the budget, not one handshake per
// attempt, every attempt still reaches it (connect tier), and every node
// sees the injected failure within about one interval and the timeout.
func TestSimulateSmallFleet(t *testing.T) {
	if testing.Short() {
		t.Skip("runs 8 s of simulated fleet")
	}
	cfg := &SimulateConfig{
		Nodes: 50, Paths: 5, Duration: 8 * time.Second, Interval: time.Second, Timeout: 500 * time.Millisecond,
		SensorBudget: 50, InjectAt: 4 * time.Second,
	}
	rep, err := RunSimulate(t.Context(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	// 50 nodes × 5 paths / 50 handshakes per second.
	if rep.FullInterval != 5*time.Second {
		t.Errorf("full interval %v, want 5s", rep.FullInterval)
	}
	if rep.Seconds < 6 || rep.Before < 3 {
		t.Fatalf("sampled %d seconds (%d before the injection), want about 8 (4)", rep.Seconds, rep.Before)
	}
	var hs, cs int64
	for i := range rep.Before {
		hs += rep.Handshakes[i]
		cs += rep.Connects[i]
	}
	secs := float64(rep.Before)
	// Counting, not timing: every path has one full attempt per 5 s, so the
	// seconds before the injection hold about budget × seconds handshakes.
	// The phases are uniform, not exact: ±35%.
	if mean := float64(hs) / secs; mean > 50*1.35 || mean < 50*0.65 {
		t.Errorf("handshakes per second before the injection: %.1f, want 50 ± 35%% (the budget)", mean)
	}
	var due int64
	for i := range rep.Before {
		due += rep.FullDue[i]
	}
	if mean := float64(due) / secs; mean > 50*1.35 || mean < 50*0.65 {
		t.Errorf("full attempts due per second before the injection: %.1f, want 50 ± 35%% (the budget)", mean)
	}
	// Without tiers it would be 250 per second; with them every attempt
	// still connects: 250 per second, each path once per interval.
	if mean := float64(cs) / secs; mean < 250*0.6 || mean > 250*1.4 {
		t.Errorf("connects per second before the injection: %.1f, want about 250", mean)
	}
	if len(rep.Detected) != cfg.Nodes {
		t.Fatalf("%d of %d nodes saw the injected failure", len(rep.Detected), cfg.Nodes)
	}
	// One interval (5% early jitter), the timeout, and a generous second for a busy machine.
	if limit := cfg.Interval*105/100 + cfg.Timeout + time.Second; Quantile(rep.Detected, 1) > limit {
		t.Errorf("slowest detection %v, want within %v", Quantile(rep.Detected, 1), limit)
	}
	var out bytes.Buffer
	if err := WriteSimulateReport(&out, rep, cfg); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"handshakes/s mean", "detected by 50 of 50 nodes"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
}

func TestParseSimulate(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr []string
	}{
		{name: "defaults", args: nil},
		{name: "all set", args: []string{"--nodes", "5000", "--duration", "10m", "--inject-at", "9m", "--sensor-budget", "0"}},
		{name: "bad values", args: []string{"--nodes", "0", "--paths", "6", "--sensor-budget", "-1", "--inject-at", "2m", "--duration", "1m"},
			wantErr: []string{"--nodes", "--paths", "--sensor-budget", "--inject-at"}},
		{name: "timeout longer than interval", args: []string{"--interval", "1s", "--timeout", "2s"}, wantErr: []string{"--timeout"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := ParseSimulate(tt.args, &bytes.Buffer{})
			if len(tt.wantErr) == 0 {
				if err != nil || cfg == nil {
					t.Fatalf("ParseSimulate: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %s", err, w)
				}
			}
		})
	}
}

// Quantile is the nearest rank, for the simulation's delays and make bench's
// scrape latencies.
func TestQuantile(t *testing.T) {
	var ds []time.Duration
	for i := 100; i >= 1; i-- {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	for _, tc := range []struct {
		q    float64
		want time.Duration
	}{{0.50, 50 * time.Millisecond}, {0.99, 99 * time.Millisecond}, {1, 100 * time.Millisecond}, {0.001, time.Millisecond}} {
		if got := Quantile(ds, tc.q); got != tc.want {
			t.Errorf("Quantile(%v) = %v, want %v", tc.q, got, tc.want)
		}
	}
	if got := Quantile(nil, 0.5); got != 0 {
		t.Errorf("Quantile(nil) = %v", got)
	}
}

// The --series help names the columns WriteSeries writes.
func TestSeriesColumns(t *testing.T) {
	var help bytes.Buffer
	if _, err := ParseSimulate([]string{"--help"}, &help); err == nil {
		t.Fatal("--help: want ErrHelp")
	}
	var csv bytes.Buffer
	if err := WriteSeries(&csv, &SimulateReport{Seconds: 1, Handshakes: []int64{2}, Connects: []int64{3}, FullDue: []int64{4}}); err != nil {
		t.Fatal(err)
	}
	header, _, _ := strings.Cut(csv.String(), "\n")
	if !strings.Contains(help.String(), "header: "+header) {
		t.Errorf("--series help does not name the header %q:\n%s", header, help.String())
	}
	if csv.String() != header+"\n1,2,3,4\n" {
		t.Errorf("WriteSeries = %q", csv.String())
	}
}

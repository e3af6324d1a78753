//go:build linux

package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sensorprobe/sensorprobe/internal/dial"
	"github.com/sensorprobe/sensorprobe/internal/standin"
	"github.com/sensorprobe/sensorprobe/internal/state"
	"github.com/sensorprobe/sensorprobe/internal/status"
)

// flapInterval is the probe's interval in TestOutagesFromAFlappingPath; the
// outages' durations must match the stand-in's within one interval.
const flapInterval = 500 * time.Millisecond

// downSpell is one outage the test injects: what it does to the stand-in's
// listener and the reason the probe must see.
type downSpell struct {
	reason dial.Reason
	down   func() error
	up     func() error
	// from and to are when the stand-in went down and came back.
	from, to time.Time
}

// TestOutagesFromAFlappingPath flaps a path through a real sensor stand-in,
// down 3 s and up 2 s, three times with a different fault each time
// (refused, connect_timeout, /ready 503), while the real engine probes it
// every 500 ms. Then it reads three outages, newest first, with the right
// reasons and durations within one interval of the stand-in's own, from
// /status, from `probe check --output json --history` and from the page's
// SVG.
func TestOutagesFromAFlappingPath(t *testing.T) {
	if testing.Short() {
		t.Skip("flaps a stand-in for 15 s; run without -short")
	}
	sensor := startSensorStandIn(t, "stackrox")
	addr, err := sensor.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, portText, _ := net.SplitHostPort(addr)
	var port int
	fmt.Sscan(portText, &port)

	e, err := NewEngineWith(EngineConfig{
		Dial:     dial.Config{Timeout: 300 * time.Millisecond, RootCAs: sensor.CA.Pool()},
		Schedule: Schedule{Interval: flapInterval}, Node: "node-a",
	}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	target := dial.Target{Name: dial.PathPodIP, Addr: addr}
	e.SetTargets([]dial.Target{target}, state.Uses{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx, ln, "") }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("engine: %v", err)
		}
	})
	base := "http://" + ln.Addr().String()
	awaitReport(t, base, "podip up", func(r status.Report) error {
		if p := r.Paths[0]; !p.Up {
			return fmt.Errorf("podip %s", p.State)
		}
		return nil
	})

	var hole *standin.Blackhole
	relisten := func() error { _, err := sensor.Listen(addr); return err }
	spells := []*downSpell{
		{reason: dial.ReasonRefused, down: func() error { return sensor.CloseListener(addr) }, up: relisten},
		{reason: dial.ReasonConnectTimeout,
			down: func() error {
				if err := sensor.CloseListener(addr); err != nil {
					return err
				}
				hole, err = standin.NewBlackholeAt("127.0.0.1", port)
				return err
			},
			up: func() error { return errors.Join(hole.Close(), relisten()) }},
		{reason: dial.ReasonCheckFailed,
			down: func() error { sensor.SetReadyStatus(http.StatusServiceUnavailable); return nil },
			up:   func() error { sensor.SetReadyStatus(http.StatusOK); return nil }},
	}
	for _, s := range spells {
		s.from = time.Now()
		if err := s.down(); err != nil {
			t.Fatalf("%s down: %v", s.reason, err)
		}
		time.Sleep(3 * time.Second)
		s.to = time.Now()
		if err := s.up(); err != nil {
			t.Fatalf("%s up: %v", s.reason, err)
		}
		time.Sleep(2 * time.Second)
	}
	r := awaitReport(t, base, "three outages, the last ended", func(r status.Report) error {
		if outs := r.Paths[0].Outages; len(outs) < 3 || outs[0].Ongoing {
			return fmt.Errorf("%d outages: %+v", len(outs), outs)
		}
		return nil
	})

	// newest first
	want := []*downSpell{spells[2], spells[1], spells[0]}
	t.Run("status", func(t *testing.T) { checkOutages(t, r.Paths[0].Outages, want) })

	t.Run("probe check --output json", func(t *testing.T) {
		cfg, err := ParseCheck([]string{"--kube=false", "--ca-file", sensor.CAFile, "--timeout", "1s",
			"--target", "podip=" + addr, "--output", "json", "--history", base + "/status"}, io.Discard, func(string) string { return "" })
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		if _, err := RunCheck(t.Context(), cfg, &out); err != nil {
			t.Fatal(err)
		}
		var cr status.Report
		if err := json.Unmarshal(out.Bytes(), &cr); err != nil {
			t.Fatalf("decode probe check's JSON: %v\n%s", err, out.String())
		}
		if cr.History == nil || cr.History.Source != base+"/status" || cr.History.Error != "" {
			t.Errorf("history = %+v, want the daemon's, read from %s/status", cr.History, base)
		}
		checkOutages(t, cr.Paths[0].Outages, want)
	})

	t.Run("page SVG", func(t *testing.T) {
		code, page := get(t, base+"/")
		if code != http.StatusOK {
			t.Fatalf("GET /: %d", code)
		}
		checkOutages(t, svgOutages(t, page, "podip", status.WindowHour), want)
	})
}

// awaitReport polls /status until cond holds (at most e2eWaitLimit; the
// limit only stops a broken test).
func awaitReport(t *testing.T, base, what string, cond func(status.Report) error) status.Report {
	t.Helper()
	var last error
	for deadline := time.Now().Add(e2eWaitLimit); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		code, body := get(t, base+"/status")
		var r status.Report
		if err := json.Unmarshal([]byte(body), &r); err != nil || code != http.StatusOK {
			last = fmt.Errorf("/status %d: %w", code, err)
			continue
		}
		if last = cond(r); last == nil {
			return r
		}
	}
	t.Fatalf("%s: not within %v: %v", what, e2eWaitLimit, last)
	return status.Report{}
}

// checkOutages compares the newest outages with the spells: the reason
// each started with, its start after the stand-in went down and its
// duration within one interval of the stand-in's.
func checkOutages(t *testing.T, got []status.Outage, want []*downSpell) {
	t.Helper()
	if len(got) < len(want) {
		t.Fatalf("%d outages, want at least %d: %+v", len(got), len(want), got)
	}
	slack := flapInterval + flapInterval/20 // attempts come up to 5 % early
	for i, w := range want {
		o := got[i]
		d := time.Duration(o.DurationSeconds * float64(time.Second))
		stood := w.to.Sub(w.from)
		if o.StartReason != string(w.reason) || o.Ongoing || o.End == nil {
			t.Errorf("outage %d: %s (ongoing %v), want %s, ended", i, o.StartReason, o.Ongoing, w.reason)
			continue
		}
		if o.Start.Before(w.from) || o.Start.After(w.from.Add(slack)) {
			t.Errorf("outage %d (%s) began %v after the stand-in went down, want within one interval", i, w.reason, o.Start.Sub(w.from))
		}
		t.Logf("outage %d: %s from %v after the fault for %v, the stand-in down %v", i, o.StartReason, o.Start.Sub(w.from).Round(time.Millisecond), d.Round(time.Millisecond), stood.Round(time.Millisecond))
		if diff := d - stood; diff < -slack || diff > slack {
			t.Errorf("outage %d (%s) lasted %v, the stand-in was down %v: %v apart, more than one interval", i, w.reason, d, stood, diff)
		}
	}
}

var svgOutageRE = regexp.MustCompile(`<rect class="outage [^"]*"[^>]*data-start="([^"]*)" data-end="([^"]*)" data-reason="([^"]*)"`)

// svgOutages reads the outages of one strip of the page, newest first.
func svgOutages(t *testing.T, page, path, window string) []status.Outage {
	t.Helper()
	open := fmt.Sprintf(`<svg class="strip" data-path="%s" data-window="%s"`, path, window)
	i := strings.Index(page, open)
	if i < 0 {
		t.Fatalf("the page has no strip %s", open)
	}
	svg := page[i:]
	svg = svg[:strings.Index(svg, "</svg>")]
	var out []status.Outage
	for _, m := range svgOutageRE.FindAllStringSubmatch(svg, -1) {
		start, err := time.Parse(time.RFC3339Nano, m[1])
		if err != nil {
			t.Fatalf("data-start %q: %v", m[1], err)
		}
		o := status.Outage{Start: start, StartReason: m[3], Ongoing: m[2] == ""}
		if !o.Ongoing {
			end, err := time.Parse(time.RFC3339Nano, m[2])
			if err != nil {
				t.Fatalf("data-end %q: %v", m[2], err)
			}
			o.End, o.DurationSeconds = &end, end.Sub(start).Seconds()
		}
		out = append([]status.Outage{o}, out...) // the SVG draws the oldest first
	}
	return out
}

//go:build e2e && linux

package e2e

import (
	"context"
	"fmt"
	"maps"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/sensorprobe/sensorprobe/test/e2e/topology"
)

const (
	// nfqueueNum is the NFQUEUE the delay program binds.
	nfqueueNum = "7"
	// addedDelay is fault 5's delay.
	addedDelay = 50 * time.Millisecond
)

// delayRule selects the SYNs of the podip path only: in mangle OUTPUT the
// destination is still the one dialled (the pod IP), before any DNAT, so
// the ClusterIP and hostPort paths, which reach the same pod after DNAT, do
// not match.
func delayRule(op string) []string {
	return []string{"iptables", "-t", "mangle", op, "OUTPUT", "-p", "tcp", "--syn",
		"-d", topology.SensorIP, "--dport", "8443",
		"-m", "comment", "--comment", "sensorprobe-e2e delay",
		"-j", "NFQUEUE", "--queue-num", nfqueueNum}
}

// delayPodIP starts the NFQUEUE delay program and then adds the rule that
// feeds it, or removes the rule and then stops the program.
func (h *harness) delayPodIP(on bool) error {
	if on {
		p, err := h.start("nfqdelay", procOpts{args: []string{filepath.Join(h.bin, "e2e-nfqdelay"), "--queue", nfqueueNum, "--delay", addedDelay.String()}})
		if err != nil {
			return err
		}
		h.nfq = p
		if err := p.awaitReadyLine(10 * time.Second); err != nil {
			return err
		}
		_, err = run(h.ctx, delayRule("-A")...)
		return err
	}
	_, err := run(h.ctx, delayRule("-D")...)
	if serr := h.nfq.stop(); serr != nil && err == nil {
		err = serr
	}
	return err
}

// sampleConnect reads /status every 200 ms for d and returns, per path, the
// connect phase of every successful attempt seen (each attempt once).
func (h *harness) sampleConnect(d time.Duration) (map[string][]float64, error) {
	out := map[string][]float64{}
	seen := map[string]bool{}
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		rep, err := h.status(h.ctx)
		if err != nil {
			return nil, err
		}
		for _, p := range rep.Paths {
			if !p.Up || p.LastAttempt == nil {
				continue
			}
			key := p.Name + "@" + p.LastAttempt.String()
			if seen[key] {
				continue
			}
			seen[key] = true
			for _, ph := range p.Phases {
				if ph.Phase == "connect" {
					out[p.Name] = append(out[p.Name], ph.Seconds)
				}
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	return out, nil
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	n := len(s)
	if n == 0 {
		return math.NaN()
	}
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// latencyVerdict compares the median connect phase of each path before and
// during the delay. The functional assertion: podip moved by at least the
// delay minus 2 ms (the delay is really applied to that path) and by less
// than twice the delay; every other path moved by less than 10 ms (it is
// not delayed). Whether podip's shift is within 50 ms ± 2 ms is measured and
// printed, not asserted: it depends on the machine's load.
func latencyVerdict(before, during map[string][]float64) (string, error) {
	var errs []string
	var notes []string
	for _, p := range slices.Sorted(maps.Keys(before)) {
		if len(before[p]) < 5 || len(during[p]) < 5 {
			errs = append(errs, fmt.Sprintf("%s: too few samples (%d before, %d during)", p, len(before[p]), len(during[p])))
			continue
		}
		b, d := median(before[p]), median(during[p])
		shift := time.Duration((d - b) * float64(time.Second))
		note := fmt.Sprintf("%s %s → %s (%+.1f ms, n=%d/%d)", p, ms(b), ms(d), shift.Seconds()*1000, len(before[p]), len(during[p]))
		if p == "podip" {
			within := (shift - addedDelay).Abs() <= 2*time.Millisecond
			note += fmt.Sprintf(" [50 ms ± 2 ms: %v]", map[bool]string{true: "yes", false: "NO"}[within])
			if shift < addedDelay-2*time.Millisecond || shift >= 2*addedDelay {
				errs = append(errs, fmt.Sprintf("podip connect moved by %v, want about %v", shift, addedDelay))
			}
		} else if shift.Abs() >= 10*time.Millisecond {
			errs = append(errs, fmt.Sprintf("%s connect moved by %v, want no change (only podip is delayed)", p, shift))
		}
		notes = append(notes, note)
	}
	note := "connect median: " + strings.Join(notes, "; ")
	if len(errs) > 0 {
		return note, fmt.Errorf("latency: %s", strings.Join(errs, "; "))
	}
	return note, nil
}

func ms(s float64) string { return fmt.Sprintf("%.2f ms", s*1000) }

// flap toggles the NetworkPolicy-like drop every 2 s for 36 s and records
// what the probe said. runRow then checks that no alert fired more than
// once and none but alertTable["6"] fired at all.
func flap(h *harness, r *row, w *alertWatch) error {
	const period, total = 2 * time.Second, 30 * time.Second
	start := time.Now()
	next, on := start, false
	reasons := map[string]map[string]bool{}
	verdicts := map[string]bool{}
	drops, prevUp := 0, true
	for time.Since(start) < total {
		if !time.Now().Before(next) {
			on = !on
			if err := h.netpolDrop(on); err != nil {
				return err
			}
			next = next.Add(period)
		}
		o, err := h.observe(h.ctx)
		if err != nil {
			return err
		}
		w.update(o.alerts)
		for p, rs := range o.reasons() {
			if reasons[p] == nil {
				reasons[p] = map[string]bool{}
			}
			reasons[p][rs] = true
		}
		verdicts[o.report.Verdict.Name] = true
		up := o.reasons()["clusterip"] == "ok"
		if prevUp && !up {
			drops++
		}
		prevUp = up
		time.Sleep(200 * time.Millisecond)
	}
	var parts []string
	for _, p := range slices.Sorted(maps.Keys(reasons)) {
		parts = append(parts, p+"="+strings.Join(slices.Sorted(maps.Keys(reasons[p])), "⇄"))
	}
	r.reasons = strings.Join(parts, " ")
	r.verdict = strings.Join(slices.Sorted(maps.Keys(verdicts)), "⇄")
	r.notes = append(r.notes, fmt.Sprintf("clusterip went down %d times in %v", drops, total))
	if drops < 4 {
		return fmt.Errorf("the probe saw clusterip go down only %d times in %v; the flapping did not reach it", drops, total)
	}
	return nil
}

// footprint is the probe's goroutines and open files at a checkpoint.
type footprint struct {
	at         string
	goroutines float64
	fds        int
}

// checkpoint records the probe's footprint after a row, with the node healthy.
func (h *harness) checkpoint(at string) {
	fp := footprint{at: at, goroutines: -1, fds: -1}
	if o, err := h.observe(h.ctx); err == nil {
		fp.goroutines, _ = o.value("go_goroutines")
	}
	if n, err := openFDs(h.probe.cmd.Process.Pid); err == nil {
		fp.fds = n
	}
	h.footprint = append(h.footprint, fp)
}

type footprintResult struct {
	series []footprint
	err    error
}

// Growth bounds: the idle keep-alive connections of Prometheus and the
// harness each hold a goroutine and a descriptor that may come and go.
const (
	maxGoroutineGrowth = 5
	maxFDGrowth        = 3
)

// checkFootprint compares the probe's goroutines and open files at the end
// with the baseline: flat within a few for idle connections.
func (h *harness) checkFootprint() footprintResult {
	res := footprintResult{series: h.footprint}
	if len(h.footprint) < 2 {
		res.err = fmt.Errorf("only %d checkpoints", len(h.footprint))
		return res
	}
	first, last := h.footprint[0], h.footprint[len(h.footprint)-1]
	if first.goroutines < 0 || last.goroutines < 0 || first.fds < 0 || last.fds < 0 {
		res.err = fmt.Errorf("could not read a checkpoint: %+v, %+v", first, last)
		return res
	}
	var errs []string
	if d := last.goroutines - first.goroutines; d > maxGoroutineGrowth {
		errs = append(errs, fmt.Sprintf("goroutines grew by %v (from %v to %v)", d, first.goroutines, last.goroutines))
	}
	if d := last.fds - first.fds; d > maxFDGrowth {
		errs = append(errs, fmt.Sprintf("open files grew by %d (from %d to %d)", d, first.fds, last.fds))
	}
	if len(errs) > 0 {
		res.err = fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return res
}

func getenv(k string) string { return os.Getenv(k) }

// runStdin is run with stdin.
func runStdin(ctx context.Context, stdin string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

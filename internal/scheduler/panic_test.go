package scheduler

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sensorprobe/sensorprobe/internal/dial"
)

// noPanics fails the test when the scheduler recovered a panic: in a normal
// run Panics stays 0.
func noPanics(t *testing.T, s *Scheduler) {
	t.Helper()
	if n := s.Panics(); n != 0 {
		t.Errorf("%d panics recovered in a normal run, want 0", n)
	}
	if v := s.Panics(); v != 0 {
		t.Errorf("Panics() = %v in a normal run, want 0", v)
	}
}

// syncBuffer is a bytes.Buffer safe for the loops' concurrent log lines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// A panic in one attempt is recovered at the attempt's boundary: it is
// logged with its stack and counted, the attempt counts as failed
// (ReasonOther), the path's loop goes on, and the other paths are untouched.
func TestPanicInAttemptIsRecovered(t *testing.T) {
	var mu sync.Mutex
	calls := map[string]int{}
	probe := func(_ context.Context, tg dial.Target) dial.Result {
		mu.Lock()
		calls[tg.Name]++
		n := calls[tg.Name]
		mu.Unlock()
		if tg.Name == "buggy" && n == 1 {
			var none []int
			_ = none[n-1] // a real runtime panic: index out of range
		}
		return dial.Result{Target: tg, Reason: dial.ReasonOK}
	}
	var logs syncBuffer
	rec := newRecorder()
	s := New(Config{Interval: 20 * time.Millisecond, Logger: slog.New(slog.NewJSONHandler(&logs, nil))}, probe, rec.report)
	s.SetTargets([]dial.Target{{Name: "buggy", Addr: "b:1"}, {Name: "fine", Addr: "f:1"}})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	// Enough reports for the buggy path's second attempt to have come in.
	deadline := time.Now().Add(5 * time.Second)
	for {
		rec.wait(t, 1)
		if rec.paths()["buggy=b:1"] >= 2 && rec.paths()["fine=f:1"] >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("reports by path: %v, want the buggy path to go on after its panic", rec.paths())
		}
	}
	cancel()
	<-done

	if n := s.Panics(); n != 1 {
		t.Errorf("Panics() = %d, want 1", n)
	}
	if v := s.Panics(); v != 1 {
		t.Errorf("Panics() = %v, want 1", v)
	}
	rec.mu.Lock()
	var first, later *dial.Result
	for i, r := range rec.got {
		if r.Target.Name != "buggy" {
			if r.Reason != dial.ReasonOK {
				t.Errorf("the fine path's result %+v, want ok", r)
			}
			continue
		}
		if first == nil {
			first = &rec.got[i]
		} else if later == nil {
			later = &rec.got[i]
		}
	}
	rec.mu.Unlock()
	if first.Reason != dial.ReasonOther || first.Err == nil || !strings.Contains(first.Err.Error(), "panicked") ||
		!strings.Contains(first.Err.Error(), "index out of range") {
		t.Errorf("result of the panicking attempt: reason %q, err %v; want other and the panic", first.Reason, first.Err)
	}
	if later.Reason != dial.ReasonOK {
		t.Errorf("the attempt after the panic: reason %q, want ok", later.Reason)
	}
	out := logs.String()
	for _, want := range []string{`"level":"ERROR"`, `"path":"buggy"`, `"stage":"probe"`, `index out of range`, `scheduler.TestPanicInAttemptIsRecovered`} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %s:\n%s", want, out)
		}
	}
	if n := strings.Count(out, "recovered from a panic"); n != 1 {
		t.Errorf("%d log lines about a panic, want 1:\n%s", n, out)
	}
}

// A panic while handling a result (the report function) is recovered too;
// the loop goes on with the next attempt.
func TestPanicInReportIsRecovered(t *testing.T) {
	var logs syncBuffer
	var mu sync.Mutex
	reports := 0
	next := make(chan struct{}, 10)
	report := func(dial.Result) {
		mu.Lock()
		reports++
		n := reports
		mu.Unlock()
		next <- struct{}{}
		if n == 1 {
			panic(errors.New("report failed"))
		}
	}
	s := New(Config{Interval: 10 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(&logs, nil))}, echo, report)
	s.SetTargets([]dial.Target{{Name: "p", Addr: "a:1"}})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	for range 3 {
		select {
		case <-next:
		case <-time.After(5 * time.Second):
			t.Fatal("the loop stopped after a panic in report")
		}
	}
	cancel()
	<-done
	if n := s.Panics(); n != 1 {
		t.Errorf("Panics() = %d, want 1", n)
	}
	if out := logs.String(); !strings.Contains(out, "stage=result") || !strings.Contains(out, "report failed") {
		t.Errorf("log lacks the report panic:\n%s", out)
	}
}

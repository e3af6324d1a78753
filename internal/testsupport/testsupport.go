// Package testsupport holds the helpers the project's tests share: a
// locked buffer for logs written from several goroutines, golden files with
// one -update flag, polling for a condition, and reading a /metrics
// exposition. Only tests import it.
package testsupport

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"k8s.io/apimachinery/pkg/util/wait"
)

// update is the one flag that rewrites golden files: go test ./... -update.
var update = flag.Bool("update", false, "rewrite golden files in testdata with what the tests produce")

// LockedBuffer is a bytes.Buffer safe for concurrent writers and readers,
// e.g. a logger's output read while the code under test still logs.
type LockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p.
func (b *LockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns what was written so far.
func (b *LockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Bytes returns a copy of what was written so far.
func (b *LockedBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.buf.Bytes())
}

// Golden compares got with the file at path (relative to the test's
// package); with -update it first writes got there.
func Golden(t testing.TB, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (go test -update writes it): %v", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s mismatch (-want +got; go test -update rewrites it):\n%s", path, diff)
	}
}

// Eventually polls cond every 10 ms until it returns true or timeout
// passes, then fails the test with what cond last said. It uses
// wait.PollUntilContextTimeout, as client-go's own tests do.
func Eventually(t testing.TB, timeout time.Duration, cond func() (bool, string)) {
	t.Helper()
	var last string
	err := wait.PollUntilContextTimeout(context.Background(), 10*time.Millisecond, timeout, true,
		func(context.Context) (bool, error) {
			ok, msg := cond()
			last = msg
			return ok, nil
		})
	if err != nil {
		t.Fatalf("not within %v: %s", timeout, last)
	}
}

// Exposition is a parsed Prometheus text exposition: every sample by
// metric name and its labels.
type Exposition map[string][]Sample

// Sample is one sample of an Exposition.
type Sample struct {
	Labels map[string]string
	Value  float64
}

// ParseExposition parses the text format served on /metrics; a parse
// error fails the test.
func ParseExposition(t testing.TB, text string) Exposition {
	t.Helper()
	e, err := ReadExposition(text)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// ReadExposition parses the text format served on /metrics, for callers
// that report a parse error themselves (a harness that keeps scraping).
func ReadExposition(text string) (Exposition, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		return nil, fmt.Errorf("parse exposition: %w", err)
	}
	e := Exposition{}
	for name, mf := range families {
		for _, m := range mf.GetMetric() {
			s := Sample{Labels: map[string]string{}, Value: value(mf.GetType(), m)}
			for _, l := range m.GetLabel() {
				s.Labels[l.GetName()] = l.GetValue()
			}
			e[name] = append(e[name], s)
		}
	}
	return e, nil
}

func value(typ dto.MetricType, m *dto.Metric) float64 {
	switch typ {
	case dto.MetricType_COUNTER:
		return m.GetCounter().GetValue()
	case dto.MetricType_GAUGE:
		return m.GetGauge().GetValue()
	case dto.MetricType_UNTYPED:
		return m.GetUntyped().GetValue()
	case dto.MetricType_HISTOGRAM:
		return float64(m.GetHistogram().GetSampleCount())
	case dto.MetricType_SUMMARY:
		return float64(m.GetSummary().GetSampleCount())
	}
	return 0
}

// Value returns the value of the one sample of name whose labels include
// labels ("k", "v" pairs), and whether exactly one matched. Histograms and
// summaries give their sample count.
func (e Exposition) Value(name string, labels ...string) (float64, bool) {
	var found []float64
	for _, s := range e[name] {
		if matches(s.Labels, labels) {
			found = append(found, s.Value)
		}
	}
	if len(found) != 1 {
		return 0, false
	}
	return found[0], true
}

// Sum adds the values of name's samples whose labels include labels ("k",
// "v" pairs); ok is false when none matched.
func (e Exposition) Sum(name string, labels ...string) (sum float64, ok bool) {
	for _, s := range e[name] {
		if matches(s.Labels, labels) {
			sum, ok = sum+s.Value, true
		}
	}
	return sum, ok
}

// Names returns the metric names of e, sorted.
func (e Exposition) Names() []string {
	names := make([]string, 0, len(e))
	for n := range e {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func matches(have map[string]string, want []string) bool {
	for i := 0; i+1 < len(want); i += 2 {
		if have[want[i]] != want[i+1] {
			return false
		}
	}
	return true
}

// Describe prints a selector for errors: name{k="v",…}.
func Describe(name string, labels ...string) string {
	var parts []string
	for i := 0; i+1 < len(labels); i += 2 {
		parts = append(parts, fmt.Sprintf("%s=%q", labels[i], labels[i+1]))
	}
	return name + "{" + strings.Join(parts, ",") + "}"
}

// GoldenExposition gathers g and compares the text exposition of the named
// families (all when names is empty) with the golden file at path; with
// -update it writes the file first.
func GoldenExposition(t testing.TB, g prometheus.Gatherer, path string, names ...string) {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	var buf bytes.Buffer
	for _, mf := range mfs {
		if len(names) > 0 && !slices.Contains(names, mf.GetName()) {
			continue
		}
		if _, err := expfmt.MetricFamilyToText(&buf, mf); err != nil {
			t.Fatal(err)
		}
	}
	Golden(t, path, buf.Bytes())
}

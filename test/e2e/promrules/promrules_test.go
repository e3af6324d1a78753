package promrules

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/yaml"
)

func TestCompressExpr(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
		factor         int
	}{
		{"range", `rate(x_total[5m])`, `rate(x_total[5s])`, 60},
		{"compound range", `rate(x_total[1h30m])`, `rate(x_total[1m30s])`, 60},
		{"below a second", `rate(x_total[30s])`, `rate(x_total[500ms])`, 60},
		{"offset", `quantile_over_time(0.5, r[6h] offset 15m)`, `quantile_over_time(0.5, r[6m] offset 15s)`, 60},
		{"negative offset", `x offset -10m`, `x offset -10s`, 60},
		{"subquery with step", `max_over_time(x[30m:1m])`, `max_over_time(x[30s:1s])`, 60},
		{"subquery default step", `max_over_time(x[30m:])`, `max_over_time(x[30s:])`, 60},
		{"spaces kept", `rate(x[ 10m ])`, `rate(x[ 10s ])`, 60},
		{"label matcher brackets untouched", `x{path=~"a|b"} > 0.05 and y[2m]`, `x{path=~"a|b"} > 0.05 and y[12s]`, 10},
		{"metric name containing offset", `x_offset > 3 * 86400`, `x_offset > 3 * 86400`, 60},
		{"factor one", `rate(x[5m])`, `rate(x[5m])`, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := CompressExpr(tc.in, tc.factor)
			if err != nil {
				t.Fatalf("CompressExpr: %v", err)
			}
			if got != tc.want {
				t.Errorf("CompressExpr(%q, %d) = %q, want %q", tc.in, tc.factor, got, tc.want)
			}
		})
	}
}

func TestCompressExprTooSmall(t *testing.T) {
	if got, err := CompressExpr(`rate(x[1ms])`, 60); err == nil {
		t.Errorf("CompressExpr = %q, nil; want an error for a range below a millisecond", got)
	}
}

func TestCompressFile(t *testing.T) {
	in := []byte(`groups:
  - name: g
    interval: 1m
    rules:
      - record: r:x:rate5m
        expr: rate(x_total[5m])
      - alert: A
        expr: r:x:rate5m > 0
        for: 10m
        keep_firing_for: 2m
        labels: {severity: warning}
        annotations: {summary: "fires after 10 minutes"}
      - alert: B
        expr: up == 0
`)
	out, err := Compress(in, 60)
	if err != nil {
		t.Fatalf("Compress: %v", err)
	}
	var got, want any
	if err := yaml.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal([]byte(`groups:
  - name: g
    interval: 1s
    rules:
      - record: r:x:rate5m
        expr: rate(x_total[5s])
      - alert: A
        expr: r:x:rate5m > 0
        for: 10s
        keep_firing_for: 2s
        labels: {severity: warning}
        annotations: {summary: "fires after 10 minutes"}
      - alert: B
        expr: up == 0
`), &want); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Compress (-want +got):\n%s", diff)
	}
}

func TestCompressRejects(t *testing.T) {
	for _, tc := range []struct{ name, in string }{
		{"no groups", "groups: []\n"},
		{"bad for", "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: up\n        for: soon\n"},
		{"no expr", "groups:\n  - name: g\n    rules:\n      - alert: A\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Compress([]byte(tc.in), 60); err == nil {
				t.Error("Compress succeeded, want an error")
			}
		})
	}
}

// TestShippedRulesCompressed compresses the project's rule file, as the
// harness does, and has promtool check the result.
func TestShippedRulesCompressed(t *testing.T) {
	src := filepath.Join("..", "..", "..", "deploy", "rules", "sensorprobe-rules.yaml")
	in, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	out, err := Compress(in, 60)
	if err != nil {
		t.Fatalf("Compress(%s): %v", src, err)
	}
	if strings.Contains(string(out), "for: 5m") {
		t.Errorf("a `for: 5m` survived compression:\n%s", out)
	}
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		hint := "promtool not found; install it with `apt-get install prometheus`"
		if os.Getenv("CI") != "" {
			t.Fatal(hint)
		}
		t.Skip(hint)
	}
	path := filepath.Join(t.TempDir(), "rules.yaml")
	if err := os.WriteFile(path, out, 0o600); err != nil {
		t.Fatal(err)
	}
	if b, err := exec.CommandContext(t.Context(), promtool, "check", "rules", path).CombinedOutput(); err != nil {
		t.Errorf("promtool check rules on the compressed file: %v\n%s\n--- file ---\n%s", err, b, out)
	}
}

// FuzzCompressExpr: any expression is handled without a panic, and a factor
// of 1 only normalises how durations are written (01y → 1y, 60s → 1m): doing
// it twice changes nothing more.
func FuzzCompressExpr(f *testing.F) {
	for _, s := range []string{`rate(x[5m])`, `q(0.5, r[6h] offset 15m)`, `max_over_time(x[30m:1m])`, `x offset -10m`, `[`, `[5m:`, `offset`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, expr string) {
		once, err := CompressExpr(expr, 1)
		if err == nil {
			if twice, err := CompressExpr(once, 1); err != nil || twice != once {
				t.Errorf("CompressExpr(%q, 1) = %q, and again = %q, %v; want the same text", expr, once, twice, err)
			}
		}
		_, _ = CompressExpr(expr, 60)
	})
}

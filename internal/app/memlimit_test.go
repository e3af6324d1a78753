package app

import (
	"bytes"
	"log/slog"
	"math"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseMemoryLimit(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		want    memoryLimit
		problem string
	}{
		{name: "none", want: memoryLimit{}},
		{name: "90% of the container's limit", env: map[string]string{"MEMORY_LIMIT": "67108864"},
			want: memoryLimit{bytes: 60397920, source: "MEMORY_LIMIT"}},
		{name: "GOMEMLIMIT wins", env: map[string]string{"GOMEMLIMIT": "40MiB", "MEMORY_LIMIT": "67108864"},
			want: memoryLimit{source: "GOMEMLIMIT"}},
		{name: "not a number", env: map[string]string{"MEMORY_LIMIT": "64Mi"}, problem: `MEMORY_LIMIT: "64Mi" is not a positive number of bytes`},
		{name: "zero", env: map[string]string{"MEMORY_LIMIT": "0"}, problem: `MEMORY_LIMIT: "0" is not`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p problems
			got := parseMemoryLimit(&p, func(k string) string { return tt.env[k] })
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(memoryLimit{})); diff != "" {
				t.Errorf("limit (-want +got):\n%s", diff)
			}
			switch {
			case tt.problem == "" && len(p) > 0:
				t.Errorf("problems: %v", p)
			case tt.problem != "" && (len(p) != 1 || !strings.Contains(p[0].Error(), tt.problem)):
				t.Errorf("problems: %v, want one containing %q", p, tt.problem)
			}
		})
	}
}

func TestMemoryLimitApply(t *testing.T) {
	old := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(old) })
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))

	memoryLimit{bytes: 60397920, source: MemoryLimitEnv}.apply(logger)
	if got := debug.SetMemoryLimit(-1); got != 60397920 {
		t.Errorf("runtime memory limit = %d, want 60397920", got)
	}
	debug.SetMemoryLimit(math.MaxInt64)
	memoryLimit{}.apply(logger)
	if got := debug.SetMemoryLimit(-1); got != math.MaxInt64 {
		t.Errorf("without a limit the runtime's was changed to %d", got)
	}
	for _, want := range []string{`msg="memory limit" bytes=60397920 from="90% of MEMORY_LIMIT"`, `no memory limit`} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs.String())
		}
	}
}

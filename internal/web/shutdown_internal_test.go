package web

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
)

// Once the serving context has ended /readyz answers 503, whatever the
// probe's own readiness says, while every other answer is unchanged.
func TestNotReadyWhenDone(t *testing.T) {
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.WriteHeader(http.StatusMethodNotAllowed)
			return
		}
		w.WriteHeader(http.StatusOK) // "ready", and every other path answers too
	})
	ctx, cancel := context.WithCancel(t.Context())
	h := notReadyWhenDone(ctx, inner)
	code := func(method, path string) int {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequestWithContext(t.Context(), method, path, nil))
		return rec.Code
	}
	tests := []struct {
		name         string
		method, path string
		before       int
		after        int
	}{
		{name: "readyz", method: http.MethodGet, path: "/readyz", before: http.StatusOK, after: http.StatusServiceUnavailable},
		{name: "readyz HEAD", method: http.MethodHead, path: "/readyz", before: http.StatusOK, after: http.StatusServiceUnavailable},
		{name: "readyz POST", method: http.MethodPost, path: "/readyz", before: http.StatusMethodNotAllowed, after: http.StatusMethodNotAllowed},
		{name: "healthz", method: http.MethodGet, path: "/healthz", before: http.StatusOK, after: http.StatusOK},
		{name: "metrics", method: http.MethodGet, path: "/metrics", before: http.StatusOK, after: http.StatusOK},
	}
	for _, tt := range tests {
		if got := code(tt.method, tt.path); got != tt.before {
			t.Errorf("%s before shutdown: %d, want %d", tt.name, got, tt.before)
		}
	}
	cancel()
	for _, tt := range tests {
		if got := code(tt.method, tt.path); got != tt.after {
			t.Errorf("%s after shutdown began: %d, want %d", tt.name, got, tt.after)
		}
	}
}

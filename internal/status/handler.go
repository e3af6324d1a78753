package status

import (
	"bytes"
	"context"
	_ "embed"
	"fmt"
	"html/template"
	"net/http"
	"strings"
	"time"

	"github.com/sensorprobe/sensorprobe/internal/dial"
	"github.com/sensorprobe/sensorprobe/internal/state"
)

// RefreshSeconds is how often the HTML page reloads itself.
const RefreshSeconds = 10

//go:embed status.html.tmpl
var pageTemplate string

// Handler serves the status page at "/" (HTML) and the same report as JSON
// at "/status". get is called once per request with the request's context
// and must return the current report; it must be safe for concurrent use.
// Other paths answer 404, methods other than GET and HEAD answer 405.
func Handler(get func(ctx context.Context) Report) http.Handler {
	page := template.Must(template.New("status").Funcs(template.FuncMap{
		"seconds": seconds,
		"ago":     ago,
		"upper":   strings.ToUpper,
		"deref":   func(b *bool) bool { return b != nil && *b },
		"join":    strings.Join,
		"rfc3339": func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
		"date":    func(t time.Time) string { return t.UTC().Format(time.DateOnly) },
		"phases":  dial.Phases,
		"phase": func(p PathStatus, name dial.Phase) *Phase {
			if ph, ok := p.Phase(name); ok {
				return &ph
			}
			return nil
		},
		// columns is the number of columns of the paths table: path, target,
		// result, reason, one per phase, last success, failures, certificate.
		"columns": func() int { return 7 + len(dial.Phases()) },
		"add":     func(a, b int) int { return a + b },
		// The history section (strip.go, history.go).
		"strip":       strip,
		"legend":      legend,
		"summary":     pathSummary,
		"outageTitle": outageTitle,
		"clock":       clock,
		"outageLimit": func() int { return state.OutageLimit },
		"placement": func(b *bool) string {
			switch {
			case b == nil:
				return "unknown"
			case *b:
				return "yes"
			}
			return "no"
		},
	}).Parse(pageTemplate))

	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, req *http.Request) {
		var buf bytes.Buffer
		data := struct {
			Report
			Refresh int
		}{get(req.Context()), RefreshSeconds}
		if err := page.Execute(&buf, data); err != nil {
			http.Error(w, fmt.Sprintf("render status page: %v", err), http.StatusInternalServerError)
			return
		}
		header(w, "text/html; charset=utf-8")
		_, _ = w.Write(buf.Bytes())
	})
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, req *http.Request) {
		var buf bytes.Buffer
		if err := WriteJSON(&buf, get(req.Context())); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		header(w, "application/json")
		_, _ = w.Write(buf.Bytes())
	})
	return mux
}

func header(w http.ResponseWriter, contentType string) {
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
}

// Package promrules compresses the time scale of a Prometheus rule file, so
// that the end-to-end harness can watch the project's own alerts fire and
// resolve in seconds rather than minutes: every duration is divided by the
// same factor — `for`, `keep_firing_for`, a group's `interval`, and in every
// expression the range selectors, subquery ranges and steps and offsets.
// Nothing else changes: names, labels, thresholds and the shape of each
// expression stay as shipped.
package promrules

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"sigs.k8s.io/yaml"
)

// duration is a PromQL duration literal such as 5m, 1h30m or 250ms.
const duration = `(?:\d+(?:ms|[smhdwy]))+`

var (
	// rangeRe matches [5m], [6h], subqueries [30m:1m] and [30m:].
	rangeRe = regexp.MustCompile(`\[(\s*)(` + duration + `)(\s*)(?::(\s*)(` + duration + `)?(\s*))?\]`)
	// offsetRe matches "offset 15m" and "offset -5m".
	offsetRe = regexp.MustCompile(`\boffset(\s+)(-?)(` + duration + `)\b`)
)

// Compress returns rules (a rule file as Prometheus loads it) with every
// duration divided by factor. Comments are not kept.
func Compress(rules []byte, factor int) ([]byte, error) {
	if factor < 1 {
		return nil, fmt.Errorf("factor %d: must be at least 1", factor)
	}
	var doc map[string]any
	if err := yaml.UnmarshalStrict(rules, &doc); err != nil {
		return nil, fmt.Errorf("parse rule file: %w", err)
	}
	groups, _ := doc["groups"].([]any)
	if len(groups) == 0 {
		return nil, fmt.Errorf("rule file has no groups")
	}
	for _, g := range groups {
		group, ok := g.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("group is %T, want a mapping", g)
		}
		if err := scaleField(group, "interval", factor); err != nil {
			return nil, fmt.Errorf("group %v: %w", group["name"], err)
		}
		rs, _ := group["rules"].([]any)
		for _, r := range rs {
			rule, ok := r.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("group %v: rule is %T, want a mapping", group["name"], r)
			}
			name := rule["alert"]
			if name == nil {
				name = rule["record"]
			}
			for _, f := range []string{"for", "keep_firing_for"} {
				if err := scaleField(rule, f, factor); err != nil {
					return nil, fmt.Errorf("rule %v: %w", name, err)
				}
			}
			expr, ok := rule["expr"].(string)
			if !ok {
				return nil, fmt.Errorf("rule %v: no expr", name)
			}
			scaled, err := CompressExpr(expr, factor)
			if err != nil {
				return nil, fmt.Errorf("rule %v: %w", name, err)
			}
			rule["expr"] = scaled
		}
	}
	return yaml.Marshal(doc)
}

func scaleField(m map[string]any, key string, factor int) error {
	v, ok := m[key]
	if !ok {
		return nil
	}
	s, ok := v.(string)
	if !ok {
		return fmt.Errorf("%s: %v is not a duration string", key, v)
	}
	scaled, err := scale(s, factor)
	if err != nil {
		return fmt.Errorf("%s: %w", key, err)
	}
	m[key] = scaled
	return nil
}

// CompressExpr divides the range, subquery and offset durations of a PromQL
// expression by factor. Durations inside string literals are not expected in
// rule expressions and would be scaled too.
func CompressExpr(expr string, factor int) (string, error) {
	var firstErr error
	keep := func(err error) {
		if firstErr == nil {
			firstErr = err
		}
	}
	out := rangeRe.ReplaceAllStringFunc(expr, func(m string) string {
		p := rangeRe.FindStringSubmatch(m)
		r, err := scale(p[2], factor)
		if err != nil {
			keep(err)
			return m
		}
		s := "[" + p[1] + r + p[3]
		if strings.Contains(m, ":") {
			step := p[5]
			if step != "" {
				if step, err = scale(step, factor); err != nil {
					keep(err)
					return m
				}
			}
			s += ":" + p[4] + step + p[6]
		}
		return s + "]"
	})
	out = offsetRe.ReplaceAllStringFunc(out, func(m string) string {
		p := offsetRe.FindStringSubmatch(m)
		d, err := scale(p[3], factor)
		if err != nil {
			keep(err)
			return m
		}
		return "offset" + p[1] + p[2] + d
	})
	return out, firstErr
}

// scale divides a Prometheus duration by factor, to the millisecond.
func scale(s string, factor int) (string, error) {
	d, err := model.ParseDuration(s)
	if err != nil {
		return "", err
	}
	scaled := (time.Duration(d) / time.Duration(factor)).Round(time.Millisecond)
	if scaled <= 0 {
		return "", fmt.Errorf("%s divided by %d is below a millisecond", s, factor)
	}
	return model.Duration(scaled).String(), nil
}

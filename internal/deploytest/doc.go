// Package deploytest holds the tests of what sensorprobe ships besides the
// binary: the kustomize base and overlays under deploy/, the alerting rules
// and their promtool tests under deploy/rules/, the Grafana dashboard under
// dashboards/, and the runbooks and install guide under docs/.
//
// The package has no code of its own; everything is in its _test.go files.
// Run it with
//
//	go test ./internal/deploytest/
//
// The promtool tests need promtool (Debian package prometheus). Without it
// they skip with a hint, except when the CI environment variable is set,
// where they fail.
//
// deploy/components/monitoring/prometheusrule.yaml is generated from
// deploy/rules/sensorprobe-rules.yaml; regenerate it with
//
//	SENSORPROBE_UPDATE=1 go test ./internal/deploytest/ -run TestPrometheusRuleMatchesRulesFile
package deploytest

// Package monitoringgen renders what sensorprobe ships for monitoring from its one source, the
// monitoring mixin under mixin/ (jsonnet, evaluated in-process with go-jsonnet):
//
//   - deploy/rules/sensorprobe-rules.yaml, the Prometheus rule file (recording rules, then
//     alerts) that promtool tests under deploy/rules/tests;
//   - deploy/components/monitoring/prometheusrule.yaml, the same groups as a PrometheusRule;
//   - dashboards/sensorprobe.json, the Grafana dashboard (the sidecar ConfigMap and the
//     grafana-operator GrafanaDashboard in deploy/ both serve this file);
//   - deploy/openshift-console/configmap.yaml, the same dashboard for the OpenShift console;
//   - deploy/helm/sensorprobe/files/, the Helm chart's copies of the rule file and of both
//     dashboards' JSON (a chart cannot read files outside its directory).
//
// Regenerate them with `make generate` (or `go generate ./internal/monitoringgen/`); the tests
// in test/deploy fail when a file differs from what Files returns. Why jsonnet and
// go-jsonnet: docs/monitoring.md.
package monitoringgen

//go:generate go run ../../hack/gen-monitoring -root ../..

// Package deploy holds the tests of what sensorprobe ships besides the
// binary: the kustomize base and overlays under deploy/, the alerting rules
// and their promtool tests under deploy/rules/, the Grafana dashboard under
// dashboards/, and the runbooks and install guide under docs/.
//
// The package has no code of its own; everything is in its _test.go files.
// Run it with
//
//	go test ./test/deploy/
//
// The promtool tests need promtool (Debian package prometheus), and the
// chart tests (helm lint, helm template, helm install against a real
// kube-apiserver) the helm binary named by HELM, which make helm builds
// from tools/helm and caches (hack/helm.sh prints its path). Without them
// they skip with a hint, except when the CI environment variable is set,
// where they fail.
//
// The rule files, the PrometheusRule and the dashboards are generated from
// the monitoring mixin (mixin/) by make generate; TestGeneratedFilesUpToDate
// fails when a file in the tree differs from what the mixin generates.
package deploy

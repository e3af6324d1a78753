// Package e2e is the end-to-end harness on a node's real plumbing: real
// kube-apiserver and etcd, real kube-proxy, the real CNI portmap plugin, a
// real Prometheus with the project's rules, sensor stand-ins as processes in
// a pod network namespace, and the probe binary as the DaemonSet runs it; then
// faults, each followed by recovery, each checked for the probe's reasons,
// its verdict and the alerts Prometheus fires. docs/e2e.md describes it.
//
// The harness itself (TestE2E) is behind the build tag e2e and runs inside
// the node namespace that test/e2e/run.sh (`make e2e`) builds; `go test ./...`
// compiles only the helper packages below this directory.
package e2e

//go:build linux

// Package kubevirttest is a lab for tests of RHACS 4.12's pull mode. Net is
// its network namespace: private addresses that only a namespace of the
// test's own holds, which the API server accepts as endpoints, nodes and
// pod IPs where it refuses loopback.
package kubevirttest

// Package vsockwatch tells whether VM index reports can flow, and are flowing,
// through this node's VSOCK relay.
//
// It looks in four ways, none of which binds the relay's port:
//
//   - Capability: whether /dev/vsock and /dev/vhost-vsock exist, whether
//     AF_VSOCK sockets can be created, and the local context ID.
//   - Activity: a periodic SOCK_DIAG_BY_FAMILY dump of the AF_VSOCK sockets in
//     this network namespace (the interface `ss -A vsock_stream` uses), from
//     which a Watcher learns whether something listens on the relay port, how
//     many connections it has, which peer CIDs were seen and when.
//   - Beacon: an optional listener on a port of the probe's own, which VMs can
//     dial with `probe vsock-ping` to test VM→node VSOCK without the relay.
//   - Relay log: optionally, the compliance container's log lines, matched
//     against a table of the relay's messages in RHACS 4.9 to 4.11.
//
// The package reports what it saw as a Snapshot. It does not know about
// Prometheus: internal/metrics (NewVSOCKCollector) turns a Snapshot into metrics.
package vsockwatch

package metrics

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sensorprobe/sensorprobe/internal/relaylog"
	"github.com/sensorprobe/sensorprobe/internal/vsockwatch"
)

// VSOCKSource is what the VSOCK collector reads; *vsockwatch.Watcher is one.
type VSOCKSource interface {
	Snapshot() vsockwatch.Snapshot
}

// VSOCKCollector exports what internal/vsockwatch saw, as
// sensorprobe_vsock_* metrics. Every value is read from a vsockwatch.Snapshot
// at scrape time, so the metrics are never out of step with the status page.
type VSOCKCollector struct {
	src VSOCKSource

	devicePresent, socketsSupported, localCID       *prometheus.Desc
	diagSupported, diagErrors                       *prometheus.Desc
	relayInfo, relayListening, relayConnections     *prometheus.Desc
	connectionsSeen, connectionsRecent              *prometheus.Desc
	peerCIDs, lastActivity                          *prometheus.Desc
	beaconConnections, relayLogFollowing, logEvents *prometheus.Desc
	sendErrors                                      *prometheus.Desc
}

// NewVSOCKCollector returns a collector reading src at every scrape.
// Register it on the probe's registry.
func NewVSOCKCollector(src VSOCKSource) *VSOCKCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(Namespace, "vsock", name), help, labels, nil)
	}
	return &VSOCKCollector{
		src:               src,
		devicePresent:     d("device_present", "1 if the device exists on this node: its node under /dev, or its /sys/class/misc entry (module loaded), else 0.", "device"),
		socketsSupported:  d("sockets_supported", "1 if AF_VSOCK sockets can be created on this node, else 0."),
		localCID:          d("local_context_id", "The node's local VSOCK context ID (2 on a hypervisor host). Absent when it cannot be read."),
		diagSupported:     d("diag_supported", "1 if the kernel answers AF_VSOCK sock_diag dumps, 0 if it cannot (module vsock_diag missing, no sock_diag, denied). Absent before the first dump."),
		diagErrors:        d("diag_errors_total", "sock_diag dumps that failed for a passing reason (timeout, truncated reply)."),
		relayInfo:         d("relay_info", "Always 1; the VSOCK port the relay is expected on.", "port"),
		relayListening:    d("relay_listening", "1 if a socket listens on the relay port in this network namespace, else 0. Absent while dumps are unsupported."),
		relayConnections:  d("relay_connections", "Established connections on the relay port at the latest dump. Absent while dumps are unsupported."),
		connectionsSeen:   d("connections_seen_total", "Connections on the relay port seen by the dumps, each counted once by its socket cookie."),
		connectionsRecent: d("connections_recent", "Connections to the relay seen within the window, by the dumps or in the relay log, whichever saw more."),
		peerCIDs:          d("peer_cids", "Distinct VM context IDs seen on the relay port (dumps and relay log) within the window."),
		lastActivity:      d("last_activity_timestamp_seconds", "Unix time a connection to the relay was last seen (dump or relay log). Absent until the first."),
		beaconConnections: d("beacon_connections_total", "Connections accepted by the probe's own VSOCK beacon. Absent when the beacon is off."),
		relayLogFollowing: d("relay_log_following", "1 while the compliance container's log is being followed, else 0. Absent when the relay log watch is off."),
		logEvents:         d("relay_log_events_total", "Relay log lines matched, by event. Absent when the relay log watch is off.", "event"),
		sendErrors:        d("relay_send_errors_total", "The relay's failed sends of index reports, by the gRPC code its log line names (none when it names none). Absent when the relay log watch is off.", "code"),
	}
}

// Describe sends every descriptor.
func (c *VSOCKCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		c.devicePresent, c.socketsSupported, c.localCID, c.diagSupported, c.diagErrors,
		c.relayInfo, c.relayListening, c.relayConnections, c.connectionsSeen, c.connectionsRecent, c.peerCIDs,
		c.lastActivity, c.beaconConnections, c.relayLogFollowing, c.logEvents, c.sendErrors,
	} {
		ch <- d
	}
}

// Collect reads one snapshot and sends its metrics.
func (c *VSOCKCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.src.Snapshot()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	for _, dev := range vsockwatch.Devices() {
		gauge(c.devicePresent, boolFloat(s.Capability.Devices[dev]), dev)
	}
	gauge(c.socketsSupported, boolFloat(s.Capability.SocketsSupported))
	if s.Capability.ContextIDError == "" {
		gauge(c.localCID, float64(s.Capability.ContextID))
	}
	if s.Diag.Support != vsockwatch.DiagUnknown {
		gauge(c.diagSupported, boolFloat(s.Diag.Support == vsockwatch.DiagSupported))
	}
	counter(c.diagErrors, s.Diag.Errors)
	gauge(c.relayInfo, 1, strconv.FormatUint(uint64(s.RelayPort), 10))
	if s.RelayKnown {
		gauge(c.relayListening, boolFloat(s.RelayListening))
		gauge(c.relayConnections, float64(s.RelayConnections))
	}
	counter(c.connectionsSeen, s.ConnectionsSeen)
	gauge(c.connectionsRecent, float64(s.ConnectionsRecent))
	gauge(c.peerCIDs, float64(len(s.PeerCIDs)))
	if !s.LastActivity.IsZero() {
		gauge(c.lastActivity, float64(s.LastActivity.UnixNano())/1e9)
	}
	if s.BeaconEnabled {
		counter(c.beaconConnections, s.BeaconConnections)
	}
	if s.RelayLog.Enabled {
		gauge(c.relayLogFollowing, boolFloat(s.RelayLog.Following))
		for _, e := range relaylog.Events() {
			counter(c.logEvents, s.RelayLogEvents[e], string(e))
		}
		for code, n := range s.RelaySendErrors {
			counter(c.sendErrors, n, code)
		}
	}
}

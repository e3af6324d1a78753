package metrics

import (
	"slices"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sensorprobe/sensorprobe/internal/relaylog"
	"github.com/sensorprobe/sensorprobe/internal/vsockwatch"
)

// PreinitialisedRelayEvents are the relay log events exported at 0 before
// their first line, for the dashboard's rate of sent reports and of failed
// sends; the other events appear on their first line.
var PreinitialisedRelayEvents = []relaylog.Event{relaylog.EventReportSent, relaylog.EventSendError}

// PreinitialisedSendErrorCodes are the gRPC codes of failed sends exported at
// 0 before their first line: the two that name a cause (sensor's rate limit,
// a sensor without VM support). The other codes appear on their first line.
var PreinitialisedSendErrorCodes = []relaylog.Code{relaylog.CodeResourceExhausted, relaylog.CodeUnimplemented}

// VSOCKSource is what the VSOCK collector reads; *vsockwatch.Watcher is one.
type VSOCKSource interface {
	Snapshot() vsockwatch.Snapshot
}

// VSOCKCollector exports what internal/vsockwatch saw, as
// sensorprobe_vsock_* metrics. Every value is read from a vsockwatch.Snapshot
// at scrape time, so the metrics are never out of step with the status page.
type VSOCKCollector struct {
	src VSOCKSource

	info, diagSupported, diagErrors                 *prometheus.Desc
	relayListening, relayConnections                *prometheus.Desc
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
		info:              d("info", "The node's VSOCK facts; always 1.", "relay_port", "devices", "sockets", "local_cid"),
		diagSupported:     d("diag_supported", "1 if sock_diag dumps work."),
		diagErrors:        d("diag_errors_total", "Failed sock_diag dumps."),
		relayListening:    d("relay_listening", "1 if the relay port listens."),
		relayConnections:  d("relay_connections", "Connections on the relay port."),
		connectionsSeen:   d("connections_seen_total", "Relay connections seen by dumps."),
		connectionsRecent: d("connections_recent", "Relay connections in the window."),
		peerCIDs:          d("peer_cids", "VM context IDs in the window."),
		lastActivity:      d("last_activity_timestamp_seconds", "Time of the latest relay connection."),
		beaconConnections: d("beacon_connections_total", "Connections to the beacon."),
		relayLogFollowing: d("relay_log_following", "1 while the relay's log is followed."),
		logEvents:         d("relay_log_events_total", "Relay log lines by event.", "event"),
		sendErrors:        d("relay_send_errors_total", "Relay's failed sends by gRPC code.", "code"),
	}
}

// Describe sends every descriptor.
func (c *VSOCKCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		c.info, c.diagSupported, c.diagErrors, c.relayListening, c.relayConnections, c.connectionsSeen, c.connectionsRecent, c.peerCIDs,
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
	gauge(c.info, 1, infoLabels(s)...)
	if s.Diag.Support != vsockwatch.DiagUnknown {
		gauge(c.diagSupported, boolFloat(s.Diag.Support == vsockwatch.DiagSupported))
	}
	counter(c.diagErrors, s.Diag.Errors)
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
			if n := s.RelayLogEvents[e]; n > 0 || slices.Contains(PreinitialisedRelayEvents, e) {
				counter(c.logEvents, n, string(e))
			}
		}
		for code, n := range s.RelaySendErrors {
			if n > 0 || slices.Contains(PreinitialisedSendErrorCodes, relaylog.Code(code)) {
				counter(c.sendErrors, n, code)
			}
		}
	}
}

// infoLabels returns the values of sensorprobe_vsock_info's labels: the
// relay's port, the devices present (comma-separated, or "none"), whether
// AF_VSOCK sockets work ("true"/"false") and the local context ID (empty when
// it cannot be read). Static facts of the node, one series instead of five.
func infoLabels(s vsockwatch.Snapshot) []string {
	var present []string
	for _, dev := range vsockwatch.Devices() {
		if s.Capability.Devices[dev] {
			present = append(present, dev)
		}
	}
	devices := "none"
	if len(present) > 0 {
		devices = strings.Join(present, ",")
	}
	cid := ""
	if s.Capability.ContextIDError == "" {
		cid = strconv.FormatUint(uint64(s.Capability.ContextID), 10)
	}
	return []string{
		strconv.FormatUint(uint64(s.RelayPort), 10), devices,
		strconv.FormatBool(s.Capability.SocketsSupported), cid,
	}
}

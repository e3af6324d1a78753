// Package status renders what the probe knows about its node for people and
// programs: an HTML page for a browser (also readable in lynx or w3m), JSON
// for /status and `probe check --output json`, and an aligned text table for
// `probe check` on a terminal.
//
// A Report is a plain value: the caller builds it (New, then VSOCK and
// Kubernetes when known) from the state store, the verdict and the watchers,
// and this package only formats it. The JSON field names are a documented,
// stable schema (docs/status.md); fields are added, never renamed.
package status

import (
	"strings"
	"time"

	"github.com/sensorprobe/sensorprobe/internal/dial"
	"github.com/sensorprobe/sensorprobe/internal/state"
	"github.com/sensorprobe/sensorprobe/internal/verdict"
)

// SchemaVersion is the value of Report.SchemaVersion. It changes only when a
// field is removed or changes meaning.
const SchemaVersion = 1

// The values of Path.State.
const (
	StateUp      = "up"
	StateDown    = "down"
	StatePending = "pending" // configured, not probed yet
)

// Report is everything the status page, /status and `probe check` show.
type Report struct {
	// SchemaVersion is SchemaVersion.
	SchemaVersion int `json:"schema_version"`
	// Node is the name of the node the probe runs on ("" when not known).
	Node string `json:"node"`
	// Version is sensorprobe's version string.
	Version string `json:"version"`
	// GeneratedAt is when the report was built.
	GeneratedAt time.Time `json:"generated_at"`
	// Verdict is the node's verdict.
	Verdict Verdict `json:"verdict"`
	// Paths lists every configured path, sorted by name.
	Paths []PathStatus `json:"paths"`
	// VSOCK is nil (JSON null) when the VSOCK watch is off.
	VSOCK *VSOCK `json:"vsock"`
	// Kubernetes is nil (JSON null) when Kubernetes discovery is off.
	Kubernetes *Kubernetes `json:"kubernetes"`
	// History is nil (JSON null) when no history was kept (a report of a
	// probe before outage logs); see SetHistory.
	History *History `json:"history"`
}

// Verdict is a verdict.Verdict in the report.
type Verdict struct {
	// Name is one of verdict.Names.
	Name string `json:"name"`
	// Severity is ok, warning, critical or unknown.
	Severity string `json:"severity"`
	// Cause is one line: what is wrong and where.
	Cause string `json:"cause"`
	// Fix is one line: what to do.
	Fix string `json:"fix"`
	// Underlying is the verdict an escalation was raised over, else "".
	Underlying string `json:"underlying"`
	// Notes are informational findings beside the verdict, such as
	// failures of paths nothing depends on; never null.
	Notes []string `json:"notes"`
}

// PathStatus is one path's latest state.
type PathStatus struct {
	// Name is the path's name, e.g. "clusterip".
	Name string `json:"name"`
	// Target is the host:port dialled.
	Target string `json:"target"`
	// ServerName is the TLS server name used ("" before the first attempt or in tcp mode).
	ServerName string `json:"server_name"`
	// Check is the check mode: http, grpc or tcp ("" before the first attempt).
	Check string `json:"check"`
	// Relay is true for the path whose address is the relay's configured
	// endpoint. PathOf knows only the consumer and marks the relay's path
	// (consumer relay); the monitor's report marks the endpoint's path from
	// the cluster facts, also for a relay in the pod network.
	Relay bool `json:"relay"`
	// Consumer says who depends on the path from the host network: relay,
	// none (a control) or unknown.
	Consumer string `json:"consumer"`
	// State is up, down or pending.
	State string `json:"state"`
	// Up is true when the latest attempt succeeded.
	Up bool `json:"up"`
	// Reason is the latest attempt's reason (see docs/metrics.md), "" when pending.
	Reason string `json:"reason"`
	// FailedPhase is the phase that failed, "" on success or when pending.
	FailedPhase string `json:"failed_phase"`
	// Phases lists the phases the latest attempt ran, in order; never null.
	Phases []Phase `json:"phases"`
	// DurationSeconds is the latest attempt's whole duration.
	DurationSeconds float64 `json:"duration_seconds"`
	// RemoteAddr is the address actually connected to, "" if none.
	RemoteAddr string `json:"remote_addr"`
	// Detail is the check's answer, e.g. "HTTP 200".
	Detail string `json:"detail"`
	// Error is the latest attempt's error text, "" on success.
	Error string `json:"error"`
	// LastAttempt is when the latest attempt began; null when pending.
	LastAttempt *time.Time `json:"last_attempt"`
	// LastSuccess is when the path last succeeded; null if never.
	LastSuccess *time.Time `json:"last_success"`
	// Since is when the path entered its current state; null when pending.
	Since *time.Time `json:"since"`
	// ConsecutiveFailures counts failed attempts since the last success.
	ConsecutiveFailures int `json:"consecutive_failures"`
	// TLS is null when no server certificate was received.
	TLS *TLS `json:"tls"`
	// DownSince is when the ongoing outage began (its first failed
	// attempt, whatever the reasons since); null when up or pending.
	DownSince *time.Time `json:"down_since"`
	// OutagesLastHour counts the outages under way at some time in the
	// last hour, the ongoing one included.
	OutagesLastHour int `json:"outages_last_hour"`
	// Outages are the path's last outages (at most state.OutageLimit),
	// newest first; never null.
	Outages []Outage `json:"outages"`
	// Timelines are the page's strips of the path's history: the last
	// hour, and the last 24 hours once the probe has been up longer than an
	// hour. They are drawn, not part of the JSON.
	Timelines []Timeline `json:"-"`
}

// Phase is one timed phase of an attempt.
type Phase struct {
	// Phase is resolve, connect, tls or check.
	Phase string `json:"phase"`
	// Seconds is how long the phase took.
	Seconds float64 `json:"seconds"`
	// Failed is true for the phase that failed.
	Failed bool `json:"failed"`
}

// TLS describes the server certificate seen on the latest handshake.
type TLS struct {
	// Version is the negotiated TLS version, "" if the handshake failed.
	Version string `json:"version"`
	// ALPN is the negotiated protocol.
	ALPN string `json:"alpn"`
	// Verified is true when the chain verified for the server name.
	Verified bool `json:"verified"`
	// VerifyError is why it did not verify, "" otherwise.
	VerifyError string `json:"verify_error"`
	// NotAfter is the leaf certificate's expiry; null if not known.
	NotAfter *time.Time `json:"not_after"`
	// DNSNames are the leaf's DNS SANs; never null.
	DNSNames []string `json:"dns_names"`
	// Issuer is the leaf's issuer common name.
	Issuer string `json:"issuer"`
}

// VSOCK is what the VSOCK watch saw on this node.
type VSOCK struct {
	// RelayPort is the VSOCK port the relay is expected on (818 by default).
	RelayPort uint32 `json:"relay_port"`
	// VSOCKDevice is true when /dev/vsock exists.
	VSOCKDevice bool `json:"vsock_device"`
	// VhostVSOCKDevice is true when /dev/vhost-vsock exists.
	VhostVSOCKDevice bool `json:"vhost_vsock_device"`
	// DiagSupported is true when the kernel answers AF_VSOCK sock_diag dumps.
	DiagSupported bool `json:"diag_supported"`
	// RelayListening is true when a socket listens on the relay port.
	RelayListening bool `json:"relay_listening"`
	// RelayConnections counts connections established to the relay port at the latest dump.
	RelayConnections int `json:"relay_connections"`
	// ConnectionsRecent counts connections to the relay port seen over the recent window.
	ConnectionsRecent int `json:"connections_recent"`
	// PeerCIDs counts distinct peer CIDs over the recent window.
	PeerCIDs int `json:"peer_cids"`
	// LastActivity is when a connection to the relay port was last seen; null if never.
	LastActivity *time.Time `json:"last_activity"`
	// Error is the latest watch error, "" if none.
	Error string `json:"error"`
	// Evidence says where the relay facts come from: "socket dumps and
	// relay log", or "relay log" when the relay runs in the pod network,
	// whose sockets the host-network probe cannot see.
	Evidence string `json:"evidence"`
	// SendErrorsRecent and ReportsSentRecent count the relay's failed and
	// sent reports in the window, from its log.
	SendErrorsRecent  int `json:"send_errors_recent"`
	ReportsSentRecent int `json:"reports_sent_recent"`
}

// Kubernetes is what Kubernetes discovery knows about this node.
type Kubernetes struct {
	// DiscoveryUp is true while the API server answers and the informers are synced.
	DiscoveryUp bool `json:"discovery_up"`
	// SensorOnThisNode is true or false, null when not known.
	SensorOnThisNode *bool `json:"sensor_on_this_node"`
	// SensorPod is the sensor pod as namespace/name, "" if not known.
	SensorPod string `json:"sensor_pod"`
	// SensorNode is the node sensor runs on, "" if not known.
	SensorNode string `json:"sensor_node"`
	// RelayEndpoint is the endpoint the relay is configured with (the
	// compliance container's ROX_ADVERTISED_ENDPOINT), "" if not known.
	RelayEndpoint string `json:"relay_endpoint"`
	// RelayPath is the name of the path that matches RelayEndpoint, "" if none.
	RelayPath string `json:"relay_path"`
	// RelayHostNetwork tells whether collector (the relay) runs on the host
	// network; null when not known.
	RelayHostNetwork *bool `json:"relay_host_network"`
	// Version is the RHACS version of the collector DaemonSet, "" if not known.
	Version string `json:"version"`
	// SensorReady tells whether sensor has a ready endpoint; null when not known.
	SensorReady *bool `json:"sensor_ready"`
	// SensorRestarts is the sensor container's restart count.
	SensorRestarts int32 `json:"sensor_restarts"`
	// SensorLastTermination is why sensor's container last ended, "" if never.
	SensorLastTermination string `json:"sensor_last_termination"`
	// Error is the latest discovery error, "" if none.
	Error string `json:"error"`
	// VMTransport is how VM index reports reach sensor: push (the relay,
	// 4.9 to 4.11), pull (sensor scrapes through KubeVirt, the 4.12 line),
	// off or unknown.
	VMTransport string `json:"vm_transport"`
	// VMs is this node's part of the pull path; null outside pull mode.
	VMs *VMs `json:"vms"`
}

// VMs is this node's part of the pull path: the VMIs sensor scrapes here
// and the virt-handler it scrapes them through.
type VMs struct {
	// Listed is false while the VMIs could not be listed (Error says why).
	Listed bool `json:"listed"`
	// Running are the Running VMIs on this node (namespace/name); never null.
	Running []string `json:"running"`
	// WithoutVSOCK are those of them without a VSOCK device; never null.
	WithoutVSOCK []string `json:"without_vsock"`
	// VirtHandler is this node's virt-handler; null while not listed.
	VirtHandler *VirtHandler `json:"virt_handler"`
}

// VirtHandler is this node's virt-handler pod.
type VirtHandler struct {
	// Pod is namespace/name, "" when none runs on the node.
	Pod string `json:"pod"`
	// Ready is the pod's Ready condition.
	Ready bool `json:"ready"`
	// Reachable tells whether its port 8186 accepted a TCP connection at the
	// latest try; null before one.
	Reachable *bool `json:"reachable"`
	// Error is that try's error, "" if none.
	Error string `json:"error"`
}

// New builds a report from the state of every path and the verdict. VSOCK,
// Kubernetes and Version are left for the caller to set.
func New(node string, now time.Time, paths []state.PathState, v verdict.Verdict) Report {
	r := Report{
		SchemaVersion: SchemaVersion,
		Node:          node,
		GeneratedAt:   now,
		Verdict: Verdict{
			Name:       v.Name,
			Severity:   string(v.Severity),
			Cause:      v.Cause,
			Fix:        v.Fix,
			Underlying: v.Underlying,
			Notes:      append([]string{}, v.Notes...),
		},
		Paths: make([]PathStatus, 0, len(paths)),
	}
	for _, p := range paths {
		r.Paths = append(r.Paths, PathOf(p))
	}
	return r
}

// PathOf converts one path's state into its report form.
func PathOf(p state.PathState) PathStatus {
	out := PathStatus{
		Name:                p.Target.Name,
		Target:              p.Target.Addr,
		ServerName:          p.Target.ServerName,
		Relay:               p.Consumer == state.ConsumerRelay,
		Consumer:            string(p.Consumer),
		State:               StatePending,
		Phases:              []Phase{},
		Outages:             []Outage{},
		LastSuccess:         timePtr(p.LastSuccess),
		ConsecutiveFailures: p.ConsecutiveFailures,
	}
	res := p.Current() // the latest full result, or a newer connect-tier failure
	if res == nil {
		return out
	}
	out.Up = res.OK()
	out.State = StateDown
	if out.Up {
		out.State = StateUp
	}
	if res.ServerName != "" {
		out.ServerName = res.ServerName
	}
	out.Check = string(res.Check)
	out.Reason = string(res.Reason)
	out.FailedPhase = string(res.FailedPhase)
	for _, pt := range res.Phases {
		out.Phases = append(out.Phases, Phase{
			Phase:   string(pt.Phase),
			Seconds: pt.Duration.Seconds(),
			Failed:  !out.Up && pt.Phase == res.FailedPhase,
		})
	}
	out.DurationSeconds = res.Duration.Seconds()
	out.RemoteAddr = res.RemoteAddr
	out.Detail = res.Detail
	if res.Err != nil {
		out.Error = oneLine(res.Err.Error())
	}
	out.LastAttempt = timePtr(res.Start)
	out.Since = timePtr(p.Since)
	t := res.TLS
	if t == nil && p.Latest != nil {
		// A connect-tier result has no handshake: show what the latest full one saw.
		t = p.Latest.TLS
	}
	if t != nil {
		out.TLS = &TLS{
			Version:     t.Version,
			ALPN:        t.ALPN,
			Verified:    t.Verified,
			VerifyError: oneLine(t.VerifyError),
			NotAfter:    timePtr(t.NotAfter),
			DNSNames:    append([]string{}, t.DNSNames...),
			Issuer:      t.Issuer,
		}
	}
	return out
}

// Phase returns the path's phase called name and whether it ran.
func (p PathStatus) Phase(name dial.Phase) (Phase, bool) {
	for _, ph := range p.Phases {
		if ph.Phase == string(name) {
			return ph, true
		}
	}
	return Phase{}, false
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// oneLine folds runs of white space, new lines included, into one space.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

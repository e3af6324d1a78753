package monitor

import (
	"time"

	"github.com/sensorprobe/sensorprobe/internal/status"
	"github.com/sensorprobe/sensorprobe/internal/verdict"
)

// Facts is what is known beside the paths, from the VSOCK watch and the
// relay log (VSOCK) and from Kubernetes discovery (Cluster); each is nil
// when unknown.
type Facts struct {
	VSOCK   *VSOCKFacts
	Cluster *ClusterFacts
}

// VSOCKFacts is what the VSOCK watch and the relay log know about this node:
// the verdict's input (verdict.VSOCK) and what the status report shows beside it.
type VSOCKFacts struct {
	verdict.VSOCK

	// RelayPort is the VSOCK port the relay is expected on (818 by default).
	RelayPort uint32
	// VSOCKDevice and VhostVSOCKDevice tell whether /dev/vsock and /dev/vhost-vsock exist.
	VSOCKDevice, VhostVSOCKDevice bool
	// DiagSupported is true when the kernel answers AF_VSOCK sock_diag dumps.
	DiagSupported bool
	// PeerCIDs counts distinct peer CIDs over the recent window.
	PeerCIDs int
	// LastActivity is when a connection to the relay port was last seen; zero if never.
	LastActivity time.Time
	// Error is the latest watch error or, when dumps are not supported, why.
	Error string
}

// ClusterFacts is what Kubernetes discovery knows: the verdict's input
// (verdict.Cluster) and what the status report shows beside it.
type ClusterFacts struct {
	verdict.Cluster

	// DiscoveryUp is true while the API server answers and the informers are synced.
	DiscoveryUp bool
	// SensorPod is the sensor pod as namespace/name, "" if not known.
	SensorPod string
	// RelayPath is the probed path whose address is the relay's configured
	// endpoint, "" if none is; the report shows it. It is the relay's path
	// in the verdict's sense (consumer relay) only for a host-network relay.
	RelayPath string
	// Error is the latest discovery error, "" if none.
	Error string
}

// verdictInput returns the verdict's view of f; nil when f is nil.
func (f *VSOCKFacts) verdictInput() *verdict.VSOCK {
	if f == nil {
		return nil
	}
	v := f.VSOCK
	return &v
}

// verdictInput returns the verdict's view of f; nil when f is nil.
func (f *ClusterFacts) verdictInput() *verdict.Cluster {
	if f == nil {
		return nil
	}
	c := f.Cluster
	return &c
}

// report returns f in its status-report form; nil when f is nil.
func (f *VSOCKFacts) report() *status.VSOCK {
	if f == nil {
		return nil
	}
	v := &status.VSOCK{
		RelayPort:         f.RelayPort,
		VSOCKDevice:       f.VSOCKDevice,
		VhostVSOCKDevice:  f.VhostVSOCKDevice,
		DiagSupported:     f.DiagSupported,
		RelayListening:    f.RelayListening,
		RelayConnections:  f.RelayConnections,
		ConnectionsRecent: f.ConnectionsRecent,
		PeerCIDs:          f.PeerCIDs,
		Error:             f.Error,
		SendErrorsRecent:  f.SendErrorsRecent,
		ReportsSentRecent: f.ReportsSentRecent,
	}
	if !f.LastActivity.IsZero() {
		t := f.LastActivity
		v.LastActivity = &t
	}
	return v
}

// report returns f in its status-report form; nil when f is nil.
func (f *ClusterFacts) report() *status.Kubernetes {
	if f == nil {
		return nil
	}
	k := &status.Kubernetes{
		DiscoveryUp:   f.DiscoveryUp,
		SensorPod:     f.SensorPod,
		SensorNode:    f.SensorNode,
		RelayEndpoint: f.RelayEndpoint,
		RelayPath:     f.RelayPath,
		Error:         f.Error,
		Version:       f.Version,

		SensorRestarts:        f.SensorRestarts,
		SensorLastTermination: f.SensorLastTermination,
	}
	if f.RelayHostNetwork != nil {
		hn := *f.RelayHostNetwork
		k.RelayHostNetwork = &hn
	}
	if f.SensorReady != nil {
		r := *f.SensorReady
		k.SensorReady = &r
	}
	if f.SensorOnThisNode != nil {
		on := *f.SensorOnThisNode
		k.SensorOnThisNode = &on
	}
	k.VMTransport = f.Transport
	k.VMs = vmsReport(f.VMs)
	return k
}

// vmsReport returns the pull facts in their status-report form; nil when vms is nil.
func vmsReport(vms *verdict.NodeVMs) *status.VMs {
	if vms == nil {
		return nil
	}
	r := &status.VMs{Listed: vms.VMIsKnown, Running: append([]string{}, vms.Running...),
		WithoutVSOCK: append([]string{}, vms.WithoutVSOCK...)}
	if vms.VirtHandlerKnown {
		vh := &status.VirtHandler{Pod: vms.VirtHandlerPod, Ready: vms.VirtHandlerReady, Error: vms.VirtHandlerError}
		if vms.VirtHandlerReachable != nil {
			up := *vms.VirtHandlerReachable
			vh.Reachable = &up
		}
		r.VirtHandler = vh
	}
	return r
}

package verdict

import "github.com/sensorprobe/sensorprobe/internal/cni"

// VSOCK is what is known about the VM relay's VSOCK port on this node.
type VSOCK struct {
	// RelayListening is true when a socket listens on the relay port.
	RelayListening bool
	// ConnectionsRecent counts connections to the relay port seen over the
	// watcher's recent window.
	ConnectionsRecent int
	// RelayConnections counts connections to the relay port established at the
	// latest observation.
	RelayConnections int
	// RelayKnown is true when the socket dumps can see the relay's port
	// (they work, and the relay shares the probe's network namespace), so
	// that RelayListening false means nothing listens.
	RelayKnown bool
	// RelayLog is true while the relay's log is followed, so that the
	// counts below are evidence.
	RelayLog bool
	// SendErrorsRecent counts the relay's failed sends to sensor within the
	// window; SendErrorCode is the gRPC code of the latest ("" if none was given).
	SendErrorsRecent int
	SendErrorCode    string
	// ReportsSentRecent counts reports the relay sent within the window.
	ReportsSentRecent int
	// ListenErrorsRecent counts failures to bind the VSOCK port within the window.
	ListenErrorsRecent int
}

// Connecting reports whether VMs are connecting to the relay.
func (v VSOCK) Connecting() bool { return v.ConnectionsRecent > 0 || v.RelayConnections > 0 }

// Cluster is what Kubernetes discovery knows about this node.
type Cluster struct {
	// SensorOnThisNode is true when a sensor pod runs on this node, false
	// when it runs elsewhere, nil when not known.
	SensorOnThisNode *bool
	// SensorNode is the node sensor runs on, "" if not known.
	SensorNode string
	// SensorHostPort is the hostPort sensor's pod declares for its api
	// port, 0 when it declares none (the stock install) or it is not known.
	SensorHostPort int
	// Namespace is the RHACS namespace, named in fixes; "" means stackrox.
	Namespace string
	// RelayHostNetwork tells whether the collector DaemonSet (the relay) is
	// on the host network; nil when not known.
	RelayHostNetwork *bool
	// RelayDNSPolicy is the collector DaemonSet's dnsPolicy.
	RelayDNSPolicy string
	// RelayEndpoint is the endpoint the relay dials ("" = the default
	// sensor.<namespace>.svc:443).
	RelayEndpoint string
	// NoRelay is true on versions without a push relay (the 4.12 line).
	NoRelay bool
	// Version is the RHACS version of the collector DaemonSet, "" if not known.
	Version string
	// SensorReady tells whether sensor has a ready endpoint; nil when not known.
	SensorReady *bool
	// SensorRestarts and SensorLastTermination describe sensor's container.
	SensorRestarts        int32
	SensorLastTermination string
	// RelaySkipsNode tells whether the relay starts on no node like this
	// one: 4.11 starts none on control-plane nodes unless
	// ROX_VIRTUAL_MACHINES_RELAY_ENABLED_ON_MASTER_NODES is true; nil when not known.
	RelaySkipsNode *bool
	// NodeTakesWorkloads tells whether this node accepts pods that tolerate
	// no taint (so VMs can run here); nil when not known.
	NodeTakesWorkloads *bool
	// ComplianceVirtualMachines and SensorVirtualMachines are the
	// ROX_VIRTUAL_MACHINES flags of compliance and sensor; nil when not set.
	ComplianceVirtualMachines, SensorVirtualMachines *bool
	// CNI is the node's network plugin; the zero value reads as cni.Other.
	CNI cni.Plugin
	// Transport is how VM index reports reach sensor: "push" (the relay,
	// 4.9 to 4.11), "pull" (sensor scrapes through KubeVirt, the 4.12 line),
	// "off" or "unknown"; "" when not known.
	Transport string
	// VMs is this node's part of the pull path; nil outside pull mode or
	// while not known.
	VMs *NodeVMs
}

// TransportPull is Cluster.Transport on the 4.12 line with VM scanning on.
const TransportPull = "pull"

// NodeVMs is what the pull path needs on this node: sensor scrapes every
// Running VMI through the virt-handler of the VMI's node.
type NodeVMs struct {
	// Running are the Running VMIs on this node (namespace/name); WithoutVSOCK
	// those of them without a VSOCK device and CID. nil while not listed.
	Running, WithoutVSOCK []string
	// VMIsKnown is true once the VMIs were listed.
	VMIsKnown bool
	// KubeVirtNamespace is where virt-handler runs, named in fixes.
	KubeVirtNamespace string
	// VirtHandlerKnown is true once the virt-handler pods were listed;
	// VirtHandlerPod is this node's (namespace/name), "" when none runs here.
	VirtHandlerKnown bool
	VirtHandlerPod   string
	VirtHandlerReady bool
	// VirtHandlerReachable tells whether its port 8186 accepted a TCP
	// connection at the latest try (a control: virt-api dials it from the
	// pod network); nil before the first try. VirtHandlerError is that
	// try's error.
	VirtHandlerReachable *bool
	VirtHandlerError     string
}

func (c *Cluster) namespace() string {
	if c == nil || c.Namespace == "" {
		return "stackrox"
	}
	return c.Namespace
}

// serviceEndpoint is the stock endpoint of sensor, sensor.<namespace>.svc:443.
func (c *Cluster) serviceEndpoint() string { return "sensor." + c.namespace() + ".svc:443" }

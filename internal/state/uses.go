package state

// Consumer says who depends on a path the way the probe dials it: from the
// node's host network.
type Consumer string

// The consumers.
const (
	// ConsumerRelay: the VM relay runs on the host network and is configured
	// with this path. A failure here loses index reports.
	ConsumerRelay Consumer = "relay"
	// ConsumerNone: nothing depends on this path from the host network; it is
	// probed as a control. On a stock install collector runs in the pod
	// network, so every path is a control and their failures are expected.
	ConsumerNone Consumer = "none"
	// ConsumerUnknown: the relay's configuration is not known (no Kubernetes
	// discovery, or no collector DaemonSet); treat the path as if it mattered.
	ConsumerUnknown Consumer = "unknown"
)

// Consumers returns every consumer, in a fixed order.
func Consumers() []Consumer { return []Consumer{ConsumerRelay, ConsumerNone, ConsumerUnknown} }

// Uses is what is known about who uses the probed paths.
type Uses struct {
	// RelayPath is the path whose address is the relay's configured
	// endpoint, "" when none is or the relay is not known.
	RelayPath string
	// RelayHostNetwork tells whether the collector DaemonSet, which runs the
	// relay, is on the host network; nil when not known.
	RelayHostNetwork *bool
	// NoRelay is true when the installed RHACS has no push relay (the 4.12
	// line: sensor pulls reports from VMs): nothing on the node dials sensor
	// for VMs.
	NoRelay bool
}

// Consumer returns who depends on the path called name.
func (u Uses) Consumer(name string) Consumer {
	switch {
	case u.NoRelay:
		return ConsumerNone
	case u.RelayHostNetwork == nil:
		return ConsumerUnknown
	case !*u.RelayHostNetwork:
		return ConsumerNone
	case u.RelayPath == "":
		// On the host network, but its endpoint matches no probed path.
		return ConsumerUnknown
	case name == u.RelayPath:
		return ConsumerRelay
	}
	return ConsumerNone
}

// RelayOnHostNetwork returns a Uses for a relay on the host network that
// dials path; for the demo and tests.
func RelayOnHostNetwork(path string) Uses {
	yes := true
	return Uses{RelayPath: path, RelayHostNetwork: &yes}
}

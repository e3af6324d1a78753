package kube

import (
	"strconv"
	"strings"
)

// FeatureFlag reads the value of a RHACS feature flag such as
// ROX_VIRTUAL_MACHINES as RHACS itself does (pkg/features/feature.go,
// unchanged from 4.9.0 to the master of 2026-08-22): "true" or "false" in
// any case. Any other value ("1", "yes", "t") or none leaves the flag at its
// default, and FeatureFlag returns nil.
func FeatureFlag(value string) *bool {
	var b bool
	switch strings.ToLower(value) {
	case "true":
		b = true
	case "false":
	default:
		return nil
	}
	return &b
}

// BooleanSetting reads the value of a RHACS boolean setting such as
// ROX_VIRTUAL_MACHINES_RELAY_ENABLED_ON_MASTER_NODES as RHACS does
// (pkg/env/booleansetting.go, 4.11.2): "" is the default; any other value
// is strconv.ParseBool's, and false when it does not parse.
func BooleanSetting(value string, def bool) bool {
	if value == "" {
		return def
	}
	b, err := strconv.ParseBool(value)
	return b && err == nil
}

// Transport is how VM index reports reach sensor.
type Transport string

// The transports.
const (
	// TransportPush: RHACS 4.9 to 4.11, VMs dial the node, compliance's relay
	// forwards to sensor (compliance's ROX_VIRTUAL_MACHINES on).
	TransportPush Transport = "push"
	// TransportPull: the 4.12 line, sensor fetches reports through KubeVirt's
	// vsock subresource (sensor's ROX_VIRTUAL_MACHINES on).
	TransportPull Transport = "pull"
	// TransportOff: VM scanning is not enabled on the component that would
	// carry it.
	TransportOff Transport = "off"
	// TransportUnknown: no collector DaemonSet to read the version from.
	TransportUnknown Transport = "unknown"
)

// Transports returns every transport, in a fixed order.
func Transports() []Transport {
	return []Transport{TransportPush, TransportPull, TransportOff, TransportUnknown}
}

// TransportOf names the transport of an install: its version (the
// collector DaemonSet's) decides between push and pull, the flag of the
// component that carries reports whether it is on. A flag that is not set
// is RHACS's default, off (pkg/features, 4.9.0 to the master of
// 2026-08-22; a pending RHACS change may turn it on by default).
func TransportOf(rc RelayConfig, complianceVMs, sensorVMs *bool) Transport {
	on := func(b *bool) bool { return b != nil && *b }
	switch {
	case !rc.Found:
		return TransportUnknown
	case rc.PullMode() && on(sensorVMs):
		return TransportPull
	case !rc.PullMode() && on(complianceVMs):
		return TransportPush
	}
	return TransportOff
}

// Package cni names the network plugin of a node or a cluster: the one
// vocabulary the node verdict, `probe check --cluster` and `probe fix` use
// to say which NetworkPolicy admits host-network sources (OVN-Kubernetes,
// Cilium and Calico each select them their own way).
package cni

import (
	"net"
	"slices"
	"strings"
)

// Plugin is a network plugin's name.
type Plugin string

// The plugins the probe tells apart.
const (
	OVNKubernetes Plugin = "ovn-kubernetes"
	Cilium        Plugin = "cilium"
	Calico        Plugin = "calico"
	// Other is any other plugin, or one that was not recognised. The zero
	// Plugin ("", not detected) reads the same.
	Other Plugin = "other"
)

// Plugins returns every plugin name, Other last.
func Plugins() []Plugin { return []Plugin{OVNKubernetes, Cilium, Calico, Other} }

// Parse returns the plugin called s, and false for a name not in Plugins.
func Parse(s string) (Plugin, bool) {
	p := Plugin(s)
	return p, slices.Contains(Plugins(), p)
}

// FromNetworkType names the plugin of an OpenShift Network.config
// networkType ("OVNKubernetes", "Cilium", "Calico", in any case); Other for
// the rest.
func FromNetworkType(t string) Plugin {
	switch strings.ToLower(t) {
	case "ovnkubernetes":
		return OVNKubernetes
	case "cilium":
		return Cilium
	case "calico":
		return Calico
	}
	return Other
}

// Detect names the node's plugin from the interfaces the host network
// shows (the probe runs there); Other when none is recognised or the
// interfaces cannot be read.
func Detect() Plugin {
	ifs, err := net.Interfaces()
	if err != nil {
		return Other
	}
	names := make([]string, len(ifs))
	for i, ifc := range ifs {
		names[i] = ifc.Name
	}
	return FromInterfaces(names)
}

// FromInterfaces names the plugin from a node's interface names:
// OVN-Kubernetes (ovn-k8s-mp0, or br-int with ovn-k8s*), Cilium
// (cilium_host), Calico (vxlan.calico, or cali* veths); Other otherwise.
func FromInterfaces(names []string) Plugin {
	has := func(match func(string) bool) bool { return slices.ContainsFunc(names, match) }
	is := func(want string) func(string) bool { return func(n string) bool { return n == want } }
	prefix := func(p string) func(string) bool { return func(n string) bool { return strings.HasPrefix(n, p) } }
	switch {
	case has(is("ovn-k8s-mp0")) || has(is("br-int")) && has(prefix("ovn-k8s")):
		return OVNKubernetes
	case has(is("cilium_host")):
		return Cilium
	case has(is("vxlan.calico")) || has(prefix("cali")):
		return Calico
	}
	return Other
}

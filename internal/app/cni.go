package app

import (
	"net"
	"slices"
	"strings"
)

// DetectCNI names the node's network plugin from the interfaces the host
// network shows (the probe runs there): "ovn-kubernetes" (ovn-k8s-mp0,
// br-int), "cilium" (cilium_host), "calico" (vxlan.calico, tunl0 with cali*
// veths), or "" when none is recognised or the interfaces cannot be read.
// The verdict's NetworkPolicy fix depends on it.
func DetectCNI() string {
	ifs, err := net.Interfaces()
	if err != nil {
		return ""
	}
	names := make([]string, len(ifs))
	for i, ifc := range ifs {
		names[i] = ifc.Name
	}
	return cniFromInterfaces(names)
}

func cniFromInterfaces(names []string) string {
	has := func(match func(string) bool) bool {
		return slices.ContainsFunc(names, match)
	}
	is := func(want string) func(string) bool { return func(n string) bool { return n == want } }
	switch {
	case has(is("ovn-k8s-mp0")) || has(is("br-int")) && has(func(n string) bool { return strings.HasPrefix(n, "ovn-k8s") }):
		return "ovn-kubernetes"
	case has(is("cilium_host")):
		return "cilium"
	case has(is("vxlan.calico")) || has(func(n string) bool { return strings.HasPrefix(n, "cali") }):
		return "calico"
	}
	return ""
}

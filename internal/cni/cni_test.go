package cni

import "testing"

func TestFromInterfaces(t *testing.T) {
	tests := []struct {
		name  string
		names []string
		want  Plugin
	}{
		{name: "OVN-Kubernetes management port", names: []string{"lo", "br-ex", "ovn-k8s-mp0", "genev_sys_6081"}, want: OVNKubernetes},
		{name: "OVN-Kubernetes bridge", names: []string{"lo", "br-int", "ovn-k8s-gw0"}, want: OVNKubernetes},
		{name: "br-int alone is not OVN", names: []string{"lo", "br-int"}, want: Other},
		{name: "Cilium", names: []string{"lo", "eth0", "cilium_host", "cilium_net", "lxc12ab"}, want: Cilium},
		{name: "Calico VXLAN", names: []string{"lo", "eth0", "vxlan.calico"}, want: Calico},
		{name: "Calico IPIP veths", names: []string{"lo", "eth0", "tunl0", "cali1234abcd"}, want: Calico},
		{name: "flannel", names: []string{"lo", "eth0", "flannel.1", "cni0"}, want: Other},
		{name: "nothing", names: nil, want: Other},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := FromInterfaces(tt.names); got != tt.want {
				t.Errorf("FromInterfaces(%q) = %q, want %q", tt.names, got, tt.want)
			}
		})
	}
}

func TestParseAndNetworkType(t *testing.T) {
	for _, p := range Plugins() {
		if got, ok := Parse(string(p)); !ok || got != p {
			t.Errorf("Parse(%q) = %q, %v", p, got, ok)
		}
	}
	if _, ok := Parse("weave"); ok {
		t.Error(`Parse("weave") accepted`)
	}
	for in, want := range map[string]Plugin{"OVNKubernetes": OVNKubernetes, "ovnkubernetes": OVNKubernetes, "Cilium": Cilium, "Calico": Calico, "OpenShiftSDN": Other, "": Other} {
		if got := FromNetworkType(in); got != want {
			t.Errorf("FromNetworkType(%q) = %q, want %q", in, got, want)
		}
	}
}

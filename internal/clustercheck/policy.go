package clustercheck

import (
	"fmt"
	"net/netip"
	"slices"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/sensorprobe/sensorprobe/internal/cni"
)

// HostNetworkNamespaceLabel is the namespace label through which
// OVN-Kubernetes lets a NetworkPolicy select host-network sources.
const HostNetworkNamespaceLabel = "policy-group.network.openshift.io/host-network"

const sensorAPIPort = 8443

// source is a traffic source to test against the policies selecting sensor.
type source struct {
	// pod network: the source pod's labels and namespace labels.
	podLabels, nsLabels map[string]string
	// host network: the node addresses the traffic comes from.
	hostNetwork bool
	nodeAddrs   []netip.Addr
}

// admission is the outcome of evaluating sensor's ingress for one source.
type admission struct {
	admitted bool
	// selecting are the policies that select sensor for ingress.
	selecting []string
	// by names the policy and rule that admits the source.
	by string
}

// admits evaluates the NetworkPolicies (and, on Cilium, the
// CiliumNetworkPolicies) that select a pod with sensorLabels for ingress
// to port 8443 ("api") from src.
func admits(pols []networkingv1.NetworkPolicy, cilium []unstructured.Unstructured, sensorLabels map[string]string, src source, plugin cni.Plugin) admission {
	var a admission
	for _, p := range pols {
		sel, err := metav1.LabelSelectorAsSelector(&p.Spec.PodSelector)
		if err != nil || !sel.Matches(labels.Set(sensorLabels)) || !hasIngress(p) {
			continue
		}
		a.selecting = append(a.selecting, p.Name)
		for i, rule := range p.Spec.Ingress {
			if !portMatches(rule.Ports) {
				continue
			}
			if peerMatches(rule.From, src, plugin) {
				a.admitted = true
				a.by = fmt.Sprintf("NetworkPolicy %s ingress[%d]", p.Name, i)
				return a
			}
		}
	}
	if src.hostNetwork && plugin == cni.Cilium {
		for _, cp := range cilium {
			if ciliumAdmitsHost(cp, sensorLabels) {
				a.admitted, a.by = true, "CiliumNetworkPolicy "+cp.GetName()
				return a
			}
		}
	}
	if len(a.selecting) == 0 {
		a.admitted, a.by = true, "no NetworkPolicy selects sensor"
	}
	return a
}

func hasIngress(p networkingv1.NetworkPolicy) bool {
	if len(p.Spec.PolicyTypes) == 0 {
		return true // ingress is implied
	}
	return slices.Contains(p.Spec.PolicyTypes, networkingv1.PolicyTypeIngress)
}

func portMatches(ports []networkingv1.NetworkPolicyPort) bool {
	if len(ports) == 0 {
		return true
	}
	for _, p := range ports {
		if p.Protocol != nil && *p.Protocol != corev1.ProtocolTCP {
			continue
		}
		switch {
		case p.Port == nil:
			return true
		case p.Port.Type == 1: // named port
			if p.Port.StrVal == "api" {
				return true
			}
		case p.Port.IntVal == sensorAPIPort:
			return true
		case p.EndPort != nil && p.Port.IntVal <= sensorAPIPort && *p.EndPort >= sensorAPIPort:
			return true
		}
	}
	return false
}

func peerMatches(peers []networkingv1.NetworkPolicyPeer, src source, plugin cni.Plugin) bool {
	if len(peers) == 0 {
		return true // from anywhere
	}
	for _, peer := range peers {
		if peer.IPBlock != nil {
			if src.hostNetwork && ipBlockCoversAll(*peer.IPBlock, src.nodeAddrs) {
				return true
			}
			continue
		}
		if src.hostNetwork {
			// Only OVN-Kubernetes maps host-network sources to a namespace label.
			if plugin == cni.OVNKubernetes && peer.PodSelector == nil && peer.NamespaceSelector != nil &&
				selects(peer.NamespaceSelector, map[string]string{HostNetworkNamespaceLabel: ""}) {
				return true
			}
			continue
		}
		nsOK := peer.NamespaceSelector == nil || selects(peer.NamespaceSelector, src.nsLabels)
		podOK := peer.PodSelector == nil || selects(peer.PodSelector, src.podLabels)
		if nsOK && podOK {
			return true
		}
	}
	return false
}

func selects(ls *metav1.LabelSelector, set map[string]string) bool {
	sel, err := metav1.LabelSelectorAsSelector(ls)
	return err == nil && sel.Matches(labels.Set(set))
}

func ipBlockCoversAll(b networkingv1.IPBlock, addrs []netip.Addr) bool {
	if len(addrs) == 0 {
		return false
	}
	pfx, err := netip.ParsePrefix(b.CIDR)
	if err != nil {
		return false
	}
	var except []netip.Prefix
	for _, e := range b.Except {
		if p, err := netip.ParsePrefix(e); err == nil {
			except = append(except, p)
		}
	}
	for _, a := range addrs {
		if !pfx.Contains(a) || slices.ContainsFunc(except, func(e netip.Prefix) bool { return e.Contains(a) }) {
			return false
		}
	}
	return true
}

// ciliumAdmitsHost reports whether a CiliumNetworkPolicy selecting sensor
// admits the host and remote-node entities to 8443.
func ciliumAdmitsHost(cp unstructured.Unstructured, sensorLabels map[string]string) bool {
	ml, _, _ := unstructured.NestedStringMap(cp.Object, "spec", "endpointSelector", "matchLabels")
	for k, v := range ml {
		if sensorLabels[k] != v {
			return false
		}
	}
	ingress, _, _ := unstructured.NestedSlice(cp.Object, "spec", "ingress")
	for _, r := range ingress {
		rule, ok := r.(map[string]any)
		if !ok {
			continue
		}
		ents, _, _ := unstructured.NestedStringSlice(rule, "fromEntities")
		host := slices.Contains(ents, "all") || slices.Contains(ents, "cluster") ||
			slices.Contains(ents, "host") && slices.Contains(ents, "remote-node")
		if host {
			return true
		}
	}
	return false
}

// nodeSourceAddrs returns the addresses host-network traffic from nodes may
// carry: InternalIPs and the tunnel addresses the CNI records in node
// annotations (Calico IPIP/VXLAN/WireGuard).
func nodeSourceAddrs(nodes []corev1.Node) []netip.Addr {
	var out []netip.Addr
	for _, n := range nodes {
		for _, a := range n.Status.Addresses {
			if a.Type != corev1.NodeInternalIP {
				continue
			}
			if ip, err := netip.ParseAddr(a.Address); err == nil {
				out = append(out, ip)
			}
		}
		for _, k := range tunnelAnnotations {
			if ip, err := netip.ParseAddr(n.Annotations[k]); err == nil {
				out = append(out, ip)
			}
		}
	}
	slices.SortFunc(out, func(a, b netip.Addr) int { return a.Compare(b) })
	return slices.Compact(out)
}

// tunnelAnnotations are node annotations holding the source address of
// host-network traffic on overlay CNIs.
var tunnelAnnotations = []string{
	"projectcalico.org/IPv4IPIPTunnelAddr",
	"projectcalico.org/IPv4VXLANTunnelAddr",
	"projectcalico.org/IPv4WireguardInterfaceAddr",
	"projectcalico.org/IPv6VXLANTunnelAddr",
}

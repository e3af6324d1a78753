//go:build linux

// Package topology builds and removes the end-to-end harness's network: three
// network namespaces standing for a node's host network and two pods on it,
// with private addresses that exist only inside them. It is the one place
// that names the namespaces and addresses; the harness and its cleanup both
// read them from here.
//
//	root namespace        only: unreachable routes for ServiceCIDR, PodCIDR, NodeCIDR
//	sp-e2e-node           the node's host network: eth0 10.162.0.10/24, routes to each pod
//	                      over its veth, the Service range toward a gateway that
//	                      silently drops (the "uplink" has no other end), ip_forward,
//	                      route_localnet; kube-apiserver, etcd, kube-proxy, portmap's
//	                      rules, the resolver, the probe and Prometheus run here
//	sp-e2e-sensor         sensor's pod: eth0 10.161.1.10/32, via the node
//	sp-e2e-collector      collector's pod: eth0 10.161.1.20/32, via the node
//
// Every namespace has an unreachable default route and IPv6 disabled, so
// nothing can be routed out of them. The pods reach everything through the
// node (a point-to-point veth each, the node's address as their gateway, as
// routed CNIs do), so the node's conntrack sees both directions of every
// connection, including pod-to-ClusterIP.
package topology

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Namespaces and addresses.
const (
	NodeNS      = "sp-e2e-node"
	SensorNS    = "sp-e2e-sensor"
	CollectorNS = "sp-e2e-collector"

	ServiceCIDR = "10.160.0.0/16" // kube-apiserver --service-cluster-ip-range
	PodCIDR     = "10.161.0.0/16" // the cluster's pod range (kube-proxy clusterCIDR)
	NodePodCIDR = "10.161.1.0/24" // this node's share of it
	NodeCIDR    = "10.162.0.0/24" // the node network

	NodeIP      = "10.162.0.10"
	GatewayIP   = "10.162.0.1" // where unrouted Service traffic goes, and vanishes
	SensorIP    = "10.161.1.10"
	CollectorIP = "10.161.1.20"

	// ResolverAddr is where the node's resolv.conf points (the harness runs
	// the resolver).
	ResolverAddr = NodeIP + ":53"

	// NodeVethSensor and NodeVethCollector are the node's ends of the pods' veths.
	NodeVethSensor    = "veth-sensor"
	NodeVethCollector = "veth-collector"

	// gatewayMAC is a static neighbour for GatewayIP that no interface has:
	// frames to it reach eth0's peer, which discards them.
	gatewayMAC = "02:00:00:00:00:01"
)

// RootRoutes are the unreachable routes held in the root namespace while the
// namespaces exist, so that nothing there can reach these ranges either.
func RootRoutes() []string { return []string{ServiceCIDR, PodCIDR, NodeCIDR} }

// Namespaces lists the namespaces, pods first.
func Namespaces() []string { return []string{SensorNS, CollectorNS, NodeNS} }

// ResolvConf is the node's /etc/resolv.conf (ip netns exec bind-mounts
// /etc/netns/<ns>/resolv.conf over it): the resolver and the search path
// that dnsPolicy ClusterFirstWithHostNet gives a host-network pod.
const ResolvConf = "nameserver " + NodeIP + "\n" +
	"search stackrox.svc.cluster.local svc.cluster.local cluster.local\n" +
	"options ndots:5\n"

func etcNetns() string { return filepath.Join("/etc/netns", NodeNS) }

// Up creates the namespaces and their links, addresses and routes, after
// adding the root namespace's unreachable routes. It fails if any part
// exists already: call Down first.
func Up(ctx context.Context) error {
	if left := Leftovers(ctx); len(left) > 0 {
		return fmt.Errorf("left over from an earlier run (run Down first): %s", strings.Join(left, "; "))
	}
	for _, cidr := range RootRoutes() {
		if err := ip(ctx, "", "route", "add", "unreachable", cidr); err != nil {
			return err
		}
	}
	for _, ns := range Namespaces() {
		if err := ip(ctx, "", "netns", "add", ns); err != nil {
			return err
		}
		// IPv6 off before any interface exists, so none gets an address.
		if err := sysctls(ctx, ns,
			"net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1",
			"net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.default.rp_filter=0",
		); err != nil {
			return err
		}
		if err := ip(ctx, ns, "link", "set", "lo", "up"); err != nil {
			return err
		}
	}
	steps := [][]string{
		// The node's uplink: both ends stay in the node namespace, and the
		// gateway's MAC belongs to neither, so what is sent there vanishes.
		{NodeNS, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0-wire"},
		{NodeNS, "addr", "add", NodeIP + "/24", "dev", "eth0"},
		{NodeNS, "link", "set", "eth0", "up"},
		{NodeNS, "link", "set", "eth0-wire", "up"},
		{NodeNS, "neigh", "add", GatewayIP, "lladdr", gatewayMAC, "nud", "permanent", "dev", "eth0"},
		{NodeNS, "route", "add", ServiceCIDR, "via", GatewayIP, "dev", "eth0"},
		{NodeNS, "route", "add", "unreachable", "default"},
	}
	for _, pod := range []struct{ ns, veth, ip string }{
		{SensorNS, NodeVethSensor, SensorIP},
		{CollectorNS, NodeVethCollector, CollectorIP},
	} {
		steps = append(steps,
			[]string{NodeNS, "link", "add", pod.veth, "type", "veth", "peer", "name", "eth0", "netns", pod.ns},
			[]string{NodeNS, "link", "set", pod.veth, "up"},
			[]string{NodeNS, "route", "add", pod.ip + "/32", "dev", pod.veth, "src", NodeIP},
			[]string{pod.ns, "addr", "add", pod.ip + "/32", "dev", "eth0"},
			[]string{pod.ns, "link", "set", "eth0", "up"},
			[]string{pod.ns, "route", "add", NodeIP + "/32", "dev", "eth0", "scope", "link"},
			[]string{pod.ns, "route", "add", ServiceCIDR, "via", NodeIP, "dev", "eth0"},
			[]string{pod.ns, "route", "add", PodCIDR, "via", NodeIP, "dev", "eth0"},
			[]string{pod.ns, "route", "add", NodeCIDR, "via", NodeIP, "dev", "eth0"},
			[]string{pod.ns, "route", "add", "unreachable", "default"},
		)
	}
	for _, s := range steps {
		if err := ip(ctx, s[0], s[1:]...); err != nil {
			return err
		}
	}
	// Pod traffic is forwarded by the node; the CNI portmap plugin's DNAT
	// of 127.0.0.1 needs route_localnet (it sets it on the veth too).
	if err := sysctls(ctx, NodeNS, "net.ipv4.ip_forward=1", "net.ipv4.conf.all.route_localnet=1"); err != nil {
		return err
	}
	if err := os.MkdirAll(etcNetns(), 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(etcNetns(), "resolv.conf"), []byte(ResolvConf), 0o644)
}

// Down stops every process in the namespaces (SIGTERM, then SIGKILL after
// 3 s; they are all the harness's), deletes the namespaces, the root
// namespace's unreachable routes and the node's resolv.conf. Whatever is
// already gone is skipped, so it also cleans up after an interrupted run.
func Down(ctx context.Context) error {
	var errs []error
	for _, ns := range Namespaces() {
		if !nsExists(ns) {
			continue
		}
		pids, err := nsPids(ctx, ns)
		if err != nil {
			errs = append(errs, err)
		}
		stopPids(pids)
		if err := ip(ctx, "", "netns", "del", ns); err != nil {
			errs = append(errs, err)
		}
	}
	for _, cidr := range RootRoutes() {
		if rootRouteExists(ctx, cidr) {
			if err := ip(ctx, "", "route", "del", "unreachable", cidr); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if err := os.RemoveAll(etcNetns()); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Leftovers lists what Up creates and still exists: namespaces, root
// routes, the resolv.conf directory. Empty after Down.
func Leftovers(ctx context.Context) []string {
	var left []string
	for _, ns := range Namespaces() {
		if nsExists(ns) {
			left = append(left, "network namespace "+ns)
		}
	}
	for _, cidr := range RootRoutes() {
		if rootRouteExists(ctx, cidr) {
			left = append(left, "root route unreachable "+cidr)
		}
	}
	if _, err := os.Stat(etcNetns()); err == nil {
		left = append(left, etcNetns())
	}
	return left
}

func nsExists(ns string) bool {
	_, err := os.Stat(filepath.Join("/run/netns", ns))
	return err == nil
}

func rootRouteExists(ctx context.Context, cidr string) bool {
	out, err := exec.CommandContext(ctx, "ip", "route", "show", "type", "unreachable", cidr).Output()
	return err == nil && len(bytes.TrimSpace(out)) > 0
}

func nsPids(ctx context.Context, ns string) ([]int, error) {
	out, err := exec.CommandContext(ctx, "ip", "netns", "pids", ns).Output()
	if err != nil {
		return nil, fmt.Errorf("ip netns pids %s: %w", ns, err)
	}
	var pids []int
	for f := range strings.FieldsSeq(string(out)) {
		if p, err := strconv.Atoi(f); err == nil && p != os.Getpid() {
			pids = append(pids, p)
		}
	}
	return pids, nil
}

// stopPids sends SIGTERM to each pid, waits up to 3 s, then SIGKILLs the rest.
func stopPids(pids []int) {
	for _, p := range pids {
		_ = syscall.Kill(p, syscall.SIGTERM)
	}
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		alive := 0
		for _, p := range pids {
			if syscall.Kill(p, 0) == nil {
				alive++
			}
		}
		if alive == 0 {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, p := range pids {
		_ = syscall.Kill(p, syscall.SIGKILL) // gone already is fine
	}
}

// ip runs `ip [-n ns] args...`.
func ip(ctx context.Context, ns string, args ...string) error {
	if ns != "" {
		args = append([]string{"-n", ns}, args...)
	}
	out, err := exec.CommandContext(ctx, "ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

// sysctls sets key=value pairs inside namespace ns.
func sysctls(ctx context.Context, ns string, kv ...string) error {
	args := append([]string{"netns", "exec", ns, "sysctl", "-q", "-w"}, kv...)
	out, err := exec.CommandContext(ctx, "ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("sysctl in %s: %v: %w: %s", ns, kv, err, bytes.TrimSpace(out))
	}
	return nil
}

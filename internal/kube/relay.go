package kube

import (
	"net"
	"net/netip"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/sensorprobe/sensorprobe/internal/dial"
)

// Names of RHACS objects that other packages use too.
const (
	// SensorDeployment is sensor's Deployment, its container and its pods'
	// app label.
	SensorDeployment = "sensor"
	// CollectorDaemonSet is collector's DaemonSet and its first container.
	CollectorDaemonSet = "collector"
	// ComplianceContainer is the collector pod's container that runs the VM relay.
	ComplianceContainer = "compliance"
	// CollectorPodSelector selects the collector DaemonSet's pods.
	CollectorPodSelector = "app=collector"
)

// Names of the RHACS objects, containers and settings discovery reads, as
// the stackrox sources (tags 4.9.0 to 4.11.2) and its Helm chart name them;
// docs/kubernetes.md lists what each is for.
const (
	sensorService        = SensorDeployment
	webhookService       = "sensor-webhook"
	collectorDaemonSet   = CollectorDaemonSet
	collectorContainer   = CollectorDaemonSet
	sensorContainer      = SensorDeployment
	versionLabel         = "app.kubernetes.io/version"
	sensorPodLabel       = "app=sensor"
	defaultVSOCKPort     = 818
	defaultHostPort      = 8443
	defaultServicePort   = 443
	envAdvertised        = "ROX_ADVERTISED_ENDPOINT"
	envSensorEndpoint    = "ROX_SENSOR_ENDPOINT"
	envRelayOnMasters    = "ROX_VIRTUAL_MACHINES_RELAY_ENABLED_ON_MASTER_NODES"
	envGRPCServer        = "GRPC_SERVER"
	envSNIHostname       = "SNI_HOSTNAME"
	envVSOCKPort         = "ROX_VIRTUAL_MACHINES_VSOCK_PORT"
	envVirtualMachines   = "ROX_VIRTUAL_MACHINES"
	serviceNameLabel     = "kubernetes.io/service-name"
	sensorServicePortTLS = "https"
	sensorPodPortAPI     = "api"
)

// RelayConfig is how the collector DaemonSet configures the VM relay, read
// from its pod template. Empty strings mean "not set in the template".
type RelayConfig struct {
	// Found is true when the DaemonSet collector exists in the namespace.
	Found bool
	// HostNetwork is the pod template's hostNetwork.
	HostNetwork bool
	// DNSPolicy is the pod template's dnsPolicy, e.g. "ClusterFirstWithHostNet".
	DNSPolicy string
	// AdvertisedEndpoint is the compliance container's ROX_ADVERTISED_ENDPOINT,
	// the endpoint the VM relay sends reports to (4.9 to 4.11).
	AdvertisedEndpoint string
	// SensorEndpoint is the compliance container's ROX_SENSOR_ENDPOINT, which
	// replaces ROX_ADVERTISED_ENDPOINT on the 4.12 line.
	SensorEndpoint string
	// RelayOnMasters is ROX_VIRTUAL_MACHINES_RELAY_ENABLED_ON_MASTER_NODES:
	// without it, 4.11 starts no relay on control-plane nodes.
	RelayOnMasters bool
	// Version is the RHACS version: the DaemonSet's app.kubernetes.io/version
	// label (Helm and operator set it), else the compliance image's tag
	// (e.g. "4.11.2"); "" when neither is a version.
	Version string
	// GRPCServer is the collector container's GRPC_SERVER.
	GRPCServer string
	// SNIHostname is the collector container's SNI_HOSTNAME.
	SNIHostname string
}

// relayFromDaemonSet reads the relay's configuration from the collector
// DaemonSet. ds may be nil (not found). It returns the configuration, the VSOCK
// port (0 when ds is nil) and whether ROX_VIRTUAL_MACHINES is on (nil when not
// set or not parseable).
func relayFromDaemonSet(ds *appsv1.DaemonSet) (RelayConfig, uint32, *bool) {
	if ds == nil {
		return RelayConfig{}, 0, nil
	}
	spec := ds.Spec.Template.Spec
	rc := RelayConfig{
		Found:       true,
		HostNetwork: spec.HostNetwork,
		DNSPolicy:   string(spec.DNSPolicy),
		// The chart and the operator label their objects with the version;
		// the operator pins images by digest, so the label comes first.
		Version: ds.Labels[versionLabel],
	}
	port := uint32(defaultVSOCKPort)
	var vms *bool
	for _, c := range spec.Containers {
		switch c.Name {
		case ComplianceContainer:
			rc.AdvertisedEndpoint = envValue(c, envAdvertised)
			rc.SensorEndpoint = envValue(c, envSensorEndpoint)
			rc.RelayOnMasters = BooleanSetting(envValue(c, envRelayOnMasters), false)
			if rc.Version == "" {
				rc.Version = imageVersion(c.Image)
			}
			if v := envValue(c, envVSOCKPort); v != "" {
				if p, err := strconv.ParseUint(v, 10, 32); err == nil && p > 0 {
					port = uint32(p)
				}
			}
			vms = FeatureFlag(envValue(c, envVirtualMachines))
		case collectorContainer:
			rc.GRPCServer = envValue(c, envGRPCServer)
			rc.SNIHostname = envValue(c, envSNIHostname)
		}
	}
	return rc, port, vms
}

// Endpoint is the endpoint the relay dials: ROX_SENSOR_ENDPOINT when set
// (the 4.12 line), else ROX_ADVERTISED_ENDPOINT; "" means the default,
// sensor.<namespace>.svc:443.
func (rc RelayConfig) Endpoint() string {
	if rc.SensorEndpoint != "" {
		return rc.SensorEndpoint
	}
	return rc.AdvertisedEndpoint
}

// PullMode reports whether the installed version has no push relay: from
// the 4.12 line on, sensor fetches index reports from VMs through KubeVirt's
// vsock subresource, and nothing on the node relays them.
func (rc RelayConfig) PullMode() bool {
	major, minor, ok := majorMinor(rc.Version)
	return ok && (major > 4 || major == 4 && minor >= 12)
}

// imageVersion returns the version in an image reference's tag, without a
// leading "v": "quay.io/stackrox-io/main:4.11.2" gives "4.11.2". A digest,
// no tag or a tag that does not start with a version gives "".
func imageVersion(image string) string {
	if i := strings.IndexByte(image, '@'); i >= 0 {
		image = image[:i]
	}
	i := strings.LastIndexByte(image, ':')
	if i < 0 || strings.Contains(image[i:], "/") {
		return ""
	}
	tag := strings.TrimPrefix(image[i+1:], "v")
	if _, _, ok := majorMinor(tag); !ok {
		return ""
	}
	return tag
}

// majorMinor parses the start of a version "MAJOR.MINOR[.…]".
func majorMinor(v string) (major, minor int, ok bool) {
	parts := strings.SplitN(v, ".", 3)
	if len(parts) < 2 {
		return 0, 0, false
	}
	major, err1 := strconv.Atoi(parts[0])
	digits := parts[1]
	for j, r := range digits {
		if r < '0' || r > '9' {
			digits = digits[:j]
			break
		}
	}
	minor, err2 := strconv.Atoi(digits)
	return major, minor, err1 == nil && err2 == nil
}

// envValue returns the literal value of env var name in c; values from
// ConfigMaps or Secrets (valueFrom) are not resolved and read as "".
func envValue(c corev1.Container, name string) string {
	for _, e := range c.Env {
		if e.Name == name {
			return strings.TrimSpace(e.Value)
		}
	}
	return ""
}

// RelayPath maps the relay's advertised endpoint to the name of the probed
// path that goes the same way, or "" when none does.
//
// endpoint is ROX_ADVERTISED_ENDPOINT as written in the DaemonSet ("" means
// unset: the relay then uses its default, sensor.<namespace>.svc:443). targets
// are the paths being probed. The rules, in order:
//  1. a target whose address equals the endpoint (after normalising the host
//     case, a missing port to 443 and a scheme prefix away) is the relay's path;
//  2. localhost, 127.0.0.1 or ::1 is the hostport path (the hostPort workaround);
//  3. the sensor Service's DNS names (sensor, sensor.<ns>, sensor.<ns>.svc,
//     sensor.<ns>.svc.<cluster domain>) are the dns path, and the
//     sensor-webhook Service's names are the webhook path.
func RelayPath(endpoint, namespace string, targets []dial.Target) string {
	if endpoint == "" {
		endpoint = sensorService + "." + namespace + ".svc:443"
	}
	host, port, ok := splitEndpoint(endpoint)
	if !ok {
		return ""
	}
	norm := net.JoinHostPort(host, port)
	for _, t := range targets {
		th, tp, ok := splitEndpoint(t.Addr)
		if ok && net.JoinHostPort(th, tp) == norm {
			return t.Name
		}
	}
	if host == "localhost" {
		return dial.PathHostPort
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		if ip.IsLoopback() {
			return dial.PathHostPort
		}
		return ""
	}
	switch {
	case serviceDNSName(host, sensorService, namespace):
		return dial.PathDNS
	case serviceDNSName(host, webhookService, namespace):
		return dial.PathWebhook
	}
	return ""
}

// splitEndpoint splits host:port, tolerating a scheme prefix, a trailing
// path and a missing port (443). The host is lower-cased, without brackets.
func splitEndpoint(s string) (host, port string, ok bool) {
	s = strings.TrimSpace(s)
	if i := strings.Index(s, "://"); i >= 0 {
		s = s[i+3:]
	}
	if i := strings.IndexByte(s, '/'); i >= 0 {
		s = s[:i]
	}
	if s == "" {
		return "", "", false
	}
	h, p, err := net.SplitHostPort(s)
	if err != nil {
		// No port: a bare name, a bare IPv4 or IPv6 address, or [v6].
		h, p = strings.TrimSuffix(strings.TrimPrefix(s, "["), "]"), strconv.Itoa(defaultServicePort)
	}
	if h == "" {
		return "", "", false
	}
	if ip, err := netip.ParseAddr(h); err == nil {
		h = ip.Unmap().String()
	}
	return strings.ToLower(strings.TrimSuffix(h, ".")), p, true
}

// serviceDNSName reports whether host is one of the in-cluster DNS names of
// Service svc in namespace ns.
func serviceDNSName(host, svc, ns string) bool {
	if host == svc || host == svc+"."+ns || host == svc+"."+ns+".svc" {
		return true
	}
	return strings.HasPrefix(host, svc+"."+ns+".svc.")
}

// ReadRelayConfig returns how DaemonSet ds (the collector) configures the VM
// relay, as discovery reads it; for one-shot cluster checks that fetched the
// DaemonSet themselves. ds may be nil (not found).
func ReadRelayConfig(ds *appsv1.DaemonSet) RelayConfig {
	rc, _, _ := relayFromDaemonSet(ds)
	return rc
}

// IsControlPlane reports whether node carries a control-plane role label.
func IsControlPlane(node *corev1.Node) bool { return isControlPlane(node) }

// SkipsControlPlane reports whether the relay starts on no control-plane
// node: 4.11 does so unless ROX_VIRTUAL_MACHINES_RELAY_ENABLED_ON_MASTER_NODES
// is true (4.9 and 4.10 start it everywhere; the 4.12 line has no relay).
func (rc RelayConfig) SkipsControlPlane() bool {
	major, minor, ok := majorMinor(rc.Version)
	return ok && major == 4 && minor == 11 && !rc.RelayOnMasters
}

// SkipsNode reports whether the relay starts on no node like node: a
// control-plane node while SkipsControlPlane.
func (rc RelayConfig) SkipsNode(node *corev1.Node) bool {
	return rc.SkipsControlPlane() && isControlPlane(node)
}

// TakesWorkloads reports whether node accepts pods (VMs among them) that
// tolerate no taint: it has no NoSchedule or NoExecute taint but the
// node.kubernetes.io/ ones, which Kubernetes sets and clears with the node's
// conditions (not-ready, unreachable, pressure; the API server's
// TaintNodesByCondition admission puts not-ready on every new node). The
// control-plane nodes of a compact cluster take workloads; those of a
// cluster with workers carry node-role.kubernetes.io/master:NoSchedule (or
// …/control-plane) and take none but what tolerates it.
func TakesWorkloads(node *corev1.Node) bool {
	for _, t := range node.Spec.Taints {
		if strings.HasPrefix(t.Key, "node.kubernetes.io/") {
			continue
		}
		if t.Effect == corev1.TaintEffectNoSchedule || t.Effect == corev1.TaintEffectNoExecute {
			return false
		}
	}
	return true
}

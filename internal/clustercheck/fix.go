package clustercheck

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"

	"github.com/sensorprobe/sensorprobe/internal/cni"
	"github.com/sensorprobe/sensorprobe/internal/kube"
)

// FieldManager is the server-side-apply field manager of `probe fix`.
const FieldManager = "sensorprobe"

// Strategies for the host-network problem.
const (
	// StrategyNetworkPolicy adds a separate NetworkPolicy admitting the host
	// network to sensor:8443 (the default).
	StrategyNetworkPolicy = "networkpolicy"
	// StrategyPodNetwork returns collector to the stock pod network.
	StrategyPodNetwork = "pod-network"
	// StrategyHostPort is the hostPort + localhost:8443 workaround, which
	// works only on sensor's node; only on request.
	StrategyHostPort = "hostport"
)

// HostNetworkPolicyName is the NetworkPolicy (or CiliumNetworkPolicy) `probe fix` adds.
const HostNetworkPolicyName = "sensorprobe-allow-host-network-to-sensor"

var (
	gvrNetworkPolicy = schema.GroupVersionResource{Group: "networking.k8s.io", Version: "v1", Resource: "networkpolicies"}
	gvrDaemonSet     = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "daemonsets"}
	gvrDeployment    = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}
)

// Action is one change: a server-side apply of Object.
type Action struct {
	// Check is the failed check this action fixes.
	Check string `json:"check"`
	// Summary says what the action does.
	Summary string                      `json:"summary"`
	GVR     schema.GroupVersionResource `json:"-"`
	Object  *unstructured.Unstructured  `json:"object"`
	// Command is the equivalent kubectl (or oc) command.
	Command string `json:"command"`
	// Rollout names the workload that restarts, e.g. "daemonset/collector"; "" for none.
	Rollout string `json:"rollout,omitempty"`
	// Owner is set when an operator or Helm owns the object: the next
	// reconcile reverts the change, and Snippet is what to change instead.
	Owner   string `json:"owner,omitempty"`
	Snippet string `json:"snippet,omitempty"`
}

// Plan is the remediation for a model.
type Plan struct {
	Strategy     string   `json:"strategy"`
	Actions      []Action `json:"actions"`
	Alternatives []string `json:"alternatives,omitempty"`
	Notes        []string `json:"notes,omitempty"`
}

// PlanFix chooses the remediation from the model's evidence.
func PlanFix(m *Model, strategy string) Plan {
	if strategy == "" {
		strategy = StrategyNetworkPolicy
	}
	p := Plan{Strategy: strategy}
	ns := m.ns()
	in := m.InstallOf()
	results := map[string]Result{}
	for _, r := range Evaluate(m) {
		results[r.Name] = r
	}
	failed := func(name string) bool { return results[name].Status == Fail }
	hostNet := m.Collector.Found() && m.Relay.HostNetwork

	switch {
	case hostNet && strategy == StrategyPodNetwork:
		p.Actions = append(p.Actions, m.workloadAction(in, workloadChange{
			check:           CheckCollectorNet,
			summary:         "return collector to the stock pod network (hostNetwork false, dnsPolicy ClusterFirst)",
			gvr:             gvrDaemonSet,
			kind:            kindDaemonSet,
			name:            kube.CollectorDaemonSet,
			podSpec:         map[string]any{"hostNetwork": false, "dnsPolicy": "ClusterFirst"},
			operatorSnippet: "remove the overlay that sets spec.template.spec.hostNetwork on DaemonSet collector",
			helmSnippet:     "remove the post-render patch that sets hostNetwork on DaemonSet collector",
		}))
		if m.RelayLoopback() {
			p.Actions = append(p.Actions, m.envAction(in, CheckHostPort, complianceContainer, "ROX_ADVERTISED_ENDPOINT", "sensor."+ns+".svc:443"))
		}
	case hostNet && strategy == StrategyHostPort:
		others := m.NodesWithoutSensor()
		p.Notes = append(p.Notes, fmt.Sprintf("the hostPort variant works only on sensor's node (%s); the relay on these %d nodes will be refused at localhost:8443: %s",
			orUnknown(m.SensorNode()), len(others), strings.Join(others, ", ")))
		if m.SensorHostPort() == 0 {
			p.Actions = append(p.Actions, m.workloadAction(in, workloadChange{
				check:   CheckHostPort,
				summary: "declare hostPort 8443 on sensor's api port",
				gvr:     gvrDeployment,
				kind:    "Deployment",
				name:    kube.SensorDeployment,
				containers: []any{map[string]any{"name": kube.SensorDeployment, "ports": []any{
					map[string]any{"containerPort": int64(8443), "protocol": "TCP", "name": "api", "hostPort": int64(8443)}}}},
				operatorSnippet: `add an overlay: {apiVersion: apps/v1, kind: Deployment, name: sensor, patches: [{path: "spec.template.spec.containers[name:sensor].ports[name:api].hostPort", value: "8443"}]}`,
				helmSnippet:     "the chart has no value for a hostPort: a post-render patch would be needed",
			}))
		}
		if !m.RelayLoopback() {
			p.Actions = append(p.Actions, m.envAction(in, CheckHostPort, complianceContainer, "ROX_ADVERTISED_ENDPOINT", "localhost:8443"))
		}
	case failed(CheckPolicy) && hostNet:
		p.Actions = append(p.Actions, m.policyAction())
		if m.RelayLoopback() {
			p.Actions = append(p.Actions, m.envAction(in, CheckHostPort, complianceContainer, "ROX_ADVERTISED_ENDPOINT", "sensor."+ns+".svc:443"))
		}
		p.Alternatives = append(p.Alternatives, "return collector to the stock pod network, which sensor's own policy admits: probe fix --strategy pod-network",
			"the hostPort + localhost:8443 variant (works only on sensor's node): probe fix --strategy hostport")
	case failed(CheckHostPort) && hostNet:
		// The workaround is in place and the policy admits the host network:
		// point the relay back at the Service.
		p.Actions = append(p.Actions, m.envAction(in, CheckHostPort, complianceContainer, "ROX_ADVERTISED_ENDPOINT", "sensor."+ns+".svc:443"))
	}
	if failed(CheckDNSPolicy) && strategy != StrategyPodNetwork {
		p.Actions = append(p.Actions, m.workloadAction(in, workloadChange{
			check:           CheckDNSPolicy,
			summary:         "resolve cluster names from the host network: dnsPolicy ClusterFirstWithHostNet",
			gvr:             gvrDaemonSet,
			kind:            kindDaemonSet,
			name:            kube.CollectorDaemonSet,
			podSpec:         map[string]any{"dnsPolicy": "ClusterFirstWithHostNet"},
			operatorSnippet: `add an overlay: {apiVersion: apps/v1, kind: DaemonSet, name: collector, patches: [{path: spec.template.spec.dnsPolicy, value: ClusterFirstWithHostNet}]}`,
			helmSnippet:     "add dnsPolicy: ClusterFirstWithHostNet to the post-render patch that sets hostNetwork",
		}))
	}
	if failed(CheckFeatureFlags) {
		flags := m.FlagState()
		if v, ok := flags[kube.SensorDeployment]; ok && !isTrue(v) {
			p.Actions = append(p.Actions, m.envAction(in, CheckFeatureFlags, kube.SensorDeployment, "ROX_VIRTUAL_MACHINES", "true"))
		}
		if v, ok := flags["compliance"]; ok && !isTrue(v) {
			p.Actions = append(p.Actions, m.envAction(in, CheckFeatureFlags, complianceContainer, "ROX_VIRTUAL_MACHINES", "true"))
		}
		if v, ok := flags["central"]; ok && !isTrue(v) {
			p.Notes = append(p.Notes, "Central lacks ROX_VIRTUAL_MACHINES=true: set it where Central is installed (Central resource spec.customize.envVars or the central-services chart's customize.envVars); probe fix does not edit Central")
		}
	}
	if failed(CheckControlPlane) {
		p.Actions = append(p.Actions, m.envAction(in, CheckControlPlane, complianceContainer, "ROX_VIRTUAL_MACHINES_RELAY_ENABLED_ON_MASTER_NODES", "true"))
	}
	m.planPull(&p, in, failed)
	return p
}

const (
	complianceContainer = kube.ComplianceContainer
	kindDaemonSet       = "DaemonSet"
)

// policyAction builds the CNI-aware policy admitting host-network sources to sensor:8443.
func (m *Model) policyAction() Action {
	ns := m.ns()
	sensorLabels := map[string]any{"app": kube.SensorDeployment}
	plugin := m.CNI()
	meta := map[string]any{"name": HostNetworkPolicyName, "namespace": ns,
		"labels": map[string]any{"app.kubernetes.io/managed-by": FieldManager}}
	var obj *unstructured.Unstructured
	gvr := gvrNetworkPolicy
	summary := "add NetworkPolicy " + HostNetworkPolicyName + " admitting "
	switch plugin {
	case cni.Cilium:
		gvr = GVRCiliumPolicy
		summary = "add CiliumNetworkPolicy " + HostNetworkPolicyName + " admitting the host and remote-node entities to sensor:8443 (CIDR rules do not match host-network sources on Cilium)"
		obj = &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "cilium.io/v2", "kind": "CiliumNetworkPolicy", "metadata": meta,
			"spec": map[string]any{
				"endpointSelector": map[string]any{"matchLabels": sensorLabels},
				"ingress": []any{map[string]any{
					"fromEntities": []any{"host", "remote-node"},
					"toPorts":      []any{map[string]any{"ports": []any{map[string]any{"port": "8443", "protocol": "TCP"}}}},
				}},
			},
		}}
	default:
		var from []any
		if plugin == cni.OVNKubernetes {
			summary += `the host network (namespaceSelector ` + HostNetworkNamespaceLabel + `: "") to sensor:8443`
			from = []any{map[string]any{"namespaceSelector": map[string]any{"matchLabels": map[string]any{HostNetworkNamespaceLabel: ""}}}}
		} else {
			addrs := nodeSourceAddrs(m.Nodes.Value)
			summary += fmt.Sprintf("the %d node addresses (InternalIPs and tunnel addresses) to sensor:8443", len(addrs))
			for _, a := range addrs {
				from = append(from, map[string]any{"ipBlock": map[string]any{"cidr": netip.PrefixFrom(a, a.BitLen()).String()}})
			}
		}
		obj = &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": meta,
			"spec": map[string]any{
				"podSelector": map[string]any{"matchLabels": sensorLabels},
				"policyTypes": []any{"Ingress"},
				"ingress": []any{map[string]any{
					"from":  from,
					"ports": []any{map[string]any{"port": int64(8443), "protocol": "TCP"}},
				}},
			},
		}}
	}
	return Action{Check: CheckPolicy, Summary: summary, GVR: gvr, Object: obj, Command: applyCommand(obj)}
}

// workloadChange is a change to the pod template of a workload in the RHACS
// namespace (DaemonSet collector or Deployment sensor), for workloadAction.
type workloadChange struct {
	// check is the failed check the change fixes; summary says what it does.
	check, summary string
	// gvr, kind and name are the workload's.
	gvr        schema.GroupVersionResource
	kind, name string
	// podSpec are fields of the pod template's spec to set; containers,
	// when not nil, are the containers to merge (by name) into it.
	podSpec    map[string]any
	containers []any
	// operatorSnippet and helmSnippet are what to change instead when the
	// RHACS operator or a Helm release owns the workload.
	operatorSnippet, helmSnippet string
}

// workloadAction patches a pod template's spec fields or containers as c
// says; in decides whether an owner would revert it.
func (m *Model) workloadAction(in Install, c workloadChange) Action {
	spec := map[string]any{}
	maps.Copy(spec, c.podSpec)
	if c.containers != nil {
		spec["containers"] = c.containers
	}
	obj := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apps/v1", "kind": c.kind,
		"metadata": map[string]any{"name": c.name, "namespace": m.ns()},
		"spec":     map[string]any{"template": map[string]any{"spec": spec}},
	}}
	a := Action{Check: c.check, Summary: c.summary, GVR: c.gvr, Object: obj, Command: applyCommand(obj),
		Rollout: strings.ToLower(c.kind) + "/" + c.name}
	setOwner(&a, in, c)
	return a
}

// envAction sets one env var on a container of sensor or collector.
func (m *Model) envAction(in Install, check, container, key, value string) Action {
	kind, name, gvr := kindDaemonSet, kube.CollectorDaemonSet, gvrDaemonSet
	if container == kube.SensorDeployment {
		kind, name, gvr = "Deployment", kube.SensorDeployment, gvrDeployment
	}
	a := m.workloadAction(in, workloadChange{
		check:           check,
		summary:         fmt.Sprintf("set %s=%s on %s/%s container %s", key, value, strings.ToLower(kind), name, container),
		gvr:             gvr,
		kind:            kind,
		name:            name,
		containers:      []any{map[string]any{"name": container, "env": []any{map[string]any{"name": key, "value": value}}}},
		operatorSnippet: fmt.Sprintf("spec:\n  overlays:\n  - apiVersion: apps/v1\n    kind: %s\n    name: %s\n    patches:\n    - path: spec.template.spec.containers[name:%s].env[-1]\n      value: |\n        name: %s\n        value: %q", kind, name, container, key, value),
		helmSnippet:     fmt.Sprintf("customize:\n  %s:\n    envVars:\n      %s: %q", map[string]string{kube.SensorDeployment: kube.SensorDeployment, complianceContainer: kube.CollectorDaemonSet}[container], key, value),
	})
	a.Command += fmt.Sprintf("\n# or: kubectl -n %s set env %s/%s -c %s %s=%s", m.ns(), strings.ToLower(kind), name, container, key, value)
	return a
}

// setOwner warns on a, when the operator or Helm installed RHACS, that the
// owner reverts change c, and gives c's snippet for that owner.
func setOwner(a *Action, in Install, c workloadChange) {
	switch in.Method {
	case MethodOperator:
		a.Owner = fmt.Sprintf("%s %s is managed by the RHACS operator (%s): its next reconcile reverts this change. Make it permanent in the SecuredCluster resource instead", c.kind, c.name, in.Owner)
		a.Snippet = c.operatorSnippet
	case "helm":
		a.Owner = fmt.Sprintf("%s %s belongs to %s: the next helm upgrade reverts this change. Make it permanent in the Helm values instead", c.kind, c.name, in.Owner)
		a.Snippet = c.helmSnippet
	}
}

func applyCommand(obj *unstructured.Unstructured) string {
	y, err := yaml.Marshal(obj.Object)
	if err != nil {
		return "# cannot render: " + err.Error()
	}
	return "kubectl apply --server-side --field-manager=" + FieldManager + " --force-conflicts -f - <<'EOF'\n" + string(y) + "EOF"
}

// WritePlan prints the plan: each action with its object, the equivalent
// command, and for owned objects the warning and the snippet.
func WritePlan(w io.Writer, p Plan) error {
	var b strings.Builder
	if len(p.Actions) == 0 {
		b.WriteString("Nothing to fix: no check calls for a change.\n")
	}
	for i, a := range p.Actions {
		fmt.Fprintf(&b, "%d. [%s] %s\n", i+1, a.Check, a.Summary)
		if a.Owner != "" {
			fmt.Fprintf(&b, "   WARNING: %s:\n%s\n", a.Owner, indent(a.Snippet, "     "))
		}
		fmt.Fprintf(&b, "   equivalent command (oc takes the same arguments):\n%s\n", indent(a.Command, "     "))
		if a.Rollout != "" {
			fmt.Fprintf(&b, "   restarts: %s\n", a.Rollout)
		}
	}
	for _, n := range p.Notes {
		fmt.Fprintf(&b, "note: %s\n", n)
	}
	for _, alt := range p.Alternatives {
		fmt.Fprintf(&b, "alternative: %s\n", alt)
	}
	_, err := io.WriteString(w, b.String())
	if err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return nil
}

func indent(s, pfx string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = pfx + l
	}
	return strings.Join(lines, "\n")
}

// Outcome is what applying one action did.
type Outcome struct {
	Action  string `json:"action"`
	Changed bool   `json:"changed"`
}

// Apply applies p: for each action a server-side dry run first (which also
// tells whether anything would change), then the apply with field manager
// sensorprobe; then it waits up to timeout for the changed workloads to roll
// out, telling progress about it. It returns what changed.
func Apply(ctx context.Context, c Clients, p Plan, timeout time.Duration, progress io.Writer) ([]Outcome, error) {
	var out []Outcome
	var rollouts []string
	for _, a := range p.Actions {
		ri := resourceFor(c, a)
		cur, err := ri.Get(ctx, a.Object.GetName(), metav1.GetOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return out, fmt.Errorf("get %s %s: %w", a.Object.GetKind(), a.Object.GetName(), err)
		}
		force := true
		dry, err := ri.Apply(ctx, a.Object.GetName(), a.Object, metav1.ApplyOptions{FieldManager: FieldManager, Force: force, DryRun: []string{metav1.DryRunAll}})
		if err != nil {
			return out, fmt.Errorf("server-side dry run of %s %s: %w", a.Object.GetKind(), a.Object.GetName(), err)
		}
		if cur != nil && sameObject(cur, dry) {
			out = append(out, Outcome{Action: a.Summary})
			continue
		}
		if _, err := ri.Apply(ctx, a.Object.GetName(), a.Object, metav1.ApplyOptions{FieldManager: FieldManager, Force: force}); err != nil {
			return out, fmt.Errorf("apply %s %s: %w", a.Object.GetKind(), a.Object.GetName(), err)
		}
		out = append(out, Outcome{Action: a.Summary, Changed: true})
		if a.Rollout != "" && !contains(rollouts, a.Rollout) {
			rollouts = append(rollouts, a.Rollout)
		}
	}
	for _, r := range rollouts {
		if err := WaitRollout(ctx, c, p, r, timeout, progress); err != nil {
			return out, err
		}
	}
	return out, nil
}

func contains(ss []string, s string) bool {
	return slices.Contains(ss, s)
}

type resourceClient interface {
	Get(ctx context.Context, name string, opts metav1.GetOptions, sub ...string) (*unstructured.Unstructured, error)
	Apply(ctx context.Context, name string, obj *unstructured.Unstructured, opts metav1.ApplyOptions, sub ...string) (*unstructured.Unstructured, error)
}

func resourceFor(c Clients, a Action) resourceClient {
	return c.Dynamic.Resource(a.GVR).Namespace(a.Object.GetNamespace())
}

// WaitRollout waits until workload ("daemonset/NAME" or "deployment/NAME"
// in the namespace of p's actions) has rolled out, at most timeout.
func WaitRollout(ctx context.Context, c Clients, p Plan, workload string, timeout time.Duration, progress io.Writer) error {
	ns := ""
	for _, a := range p.Actions {
		if a.Rollout == workload {
			ns = a.Object.GetNamespace()
		}
	}
	kind, name, _ := strings.Cut(workload, "/")
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	last := ""
	for {
		done, state, err := rolledOut(ctx, c, kind, ns, name)
		if err != nil {
			return fmt.Errorf("wait for %s: %w", workload, err)
		}
		if state != last && progress != nil {
			fmt.Fprintf(progress, "waiting for %s/%s: %s\n", ns, workload, state)
			last = state
		}
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for %s: %w", workload, ctx.Err())
		case <-deadline.C:
			return fmt.Errorf("rollout of %s/%s not finished after %s (%s): the change is applied; see kubectl -n %s rollout status %s and kubectl -n %s get events", ns, workload, timeout, state, ns, workload, ns)
		case <-tick.C:
		}
	}
}

func rolledOut(ctx context.Context, c Clients, kind, ns, name string) (bool, string, error) {
	switch kind {
	case "daemonset":
		ds, err := c.Kube.AppsV1().DaemonSets(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, "", fmt.Errorf("get daemonset: %w", err)
		}
		s := ds.Status
		state := fmt.Sprintf("observed generation %d of %d, %d of %d updated, %d available", s.ObservedGeneration, ds.Generation, s.UpdatedNumberScheduled, s.DesiredNumberScheduled, s.NumberAvailable)
		return s.ObservedGeneration >= ds.Generation && s.UpdatedNumberScheduled == s.DesiredNumberScheduled && s.NumberAvailable == s.DesiredNumberScheduled, state, nil
	case "deployment":
		d, err := c.Kube.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, "", fmt.Errorf("get deployment: %w", err)
		}
		want := int32(1)
		if d.Spec.Replicas != nil {
			want = *d.Spec.Replicas
		}
		s := d.Status
		state := fmt.Sprintf("observed generation %d of %d, %d of %d updated, %d available", s.ObservedGeneration, d.Generation, s.UpdatedReplicas, want, s.AvailableReplicas)
		return s.ObservedGeneration >= d.Generation && s.UpdatedReplicas == want && s.AvailableReplicas == want && s.Replicas == want, state, nil
	}
	return false, "", fmt.Errorf("unknown workload kind %q", kind)
}

// WriteBeforeAfter prints each check's mark before and after the fix.
func WriteBeforeAfter(w io.Writer, before, after []Result) error {
	var b strings.Builder
	b.WriteString("check                     before  after\n")
	prev := map[string]Status{}
	for _, r := range before {
		prev[r.Name] = r.Status
	}
	for _, r := range after {
		fmt.Fprintf(&b, "%-25s %-7s %s\n", r.Name, prev[r.Name].Mark(), r.Status.Mark())
	}
	fmt.Fprintf(&b, "failed checks: %d before, %d after\n", Failed(before), Failed(after))
	_, err := io.WriteString(w, b.String())
	if err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return nil
}

// sameObject reports whether b is a as far as an apply can change it: the
// same content but for the server's bookkeeping (managed fields, resource
// version, generation).
func sameObject(a, b *unstructured.Unstructured) bool {
	clean := func(u *unstructured.Unstructured) map[string]any {
		c := u.DeepCopy()
		for _, f := range []string{"managedFields", "resourceVersion", "generation"} {
			unstructured.RemoveNestedField(c.Object, "metadata", f)
		}
		return c.Object
	}
	return equality.Semantic.DeepEqual(clean(a), clean(b))
}

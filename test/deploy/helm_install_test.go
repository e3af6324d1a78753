//go:build linux

package deploy

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/restmapper"

	"github.com/sensorprobe/sensorprobe/internal/kube/kubetest"
	"github.com/sensorprobe/sensorprobe/internal/testsupport"
)

// helmCluster is a real kube-apiserver with an admin kubeconfig for helm.
type helmCluster struct {
	Kubeconfig string
	Client     kubernetes.Interface
	Dynamic    dynamic.Interface
	Discovery  discovery.DiscoveryInterface
}

// startHelmCluster starts kube-apiserver and etcd (kubetest) once helm is known to be there,
// and creates RHACS' namespace, as an installed secured cluster has it.
func startHelmCluster(t *testing.T) *helmCluster {
	t.Helper()
	helmBin(t)
	env := kubetest.StartForTest(t)
	kc := filepath.Join(t.TempDir(), "kubeconfig")
	if err := env.WriteKubeconfig(kc); err != nil {
		t.Fatal(err)
	}
	c := kubernetes.NewForConfigOrDie(env.Admin)
	kubetest.EnsureNamespace(t.Context(), t, c, releaseNamespace)
	return &helmCluster{Kubeconfig: kc, Client: c, Dynamic: dynamic.NewForConfigOrDie(env.Admin), Discovery: c.Discovery()}
}

// crdStandIn is the smallest CustomResourceDefinition that serves kind in group/v1: any
// content is accepted. It stands in for the Prometheus Operator's and OpenShift's CRDs, which
// the chart's objects need to exist but whose schemas are not under test here (the render
// tests decode every object strictly against the real Go types).
func crdStandIn(group, kind string, namespaced bool) *unstructured.Unstructured {
	plural := strings.ToLower(kind) + "s"
	scope := "Cluster"
	if namespaced {
		scope = "Namespaced"
	}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apiextensions.k8s.io/v1",
		"kind":       "CustomResourceDefinition",
		"metadata":   map[string]any{"name": plural + "." + group},
		"spec": map[string]any{
			"group": group,
			"names": map[string]any{"kind": kind, "plural": plural, "singular": strings.ToLower(kind), "listKind": kind + "List"},
			"scope": scope,
			"versions": []any{map[string]any{
				"name": "v1", "served": true, "storage": true,
				"schema": map[string]any{"openAPIV3Schema": map[string]any{"type": "object", "x-kubernetes-preserve-unknown-fields": true}},
			}},
		},
	}}
}

// createCRDs creates the stand-in CRDs and waits until the API server serves each kind.
func (hc *helmCluster) createCRDs(t *testing.T, crds ...*unstructured.Unstructured) {
	t.Helper()
	gvr := schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	for _, crd := range crds {
		if _, err := hc.Dynamic.Resource(gvr).Create(t.Context(), crd, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create CRD %s: %v", crd.GetName(), err)
		}
	}
	for _, crd := range crds {
		group, _, _ := unstructured.NestedString(crd.Object, "spec", "group")
		kind, _, _ := unstructured.NestedString(crd.Object, "spec", "names", "kind")
		testsupport.Eventually(t, 30*time.Second, func() (bool, string) {
			list, err := hc.Discovery.ServerResourcesForGroupVersion(group + "/v1")
			if err != nil {
				return false, err.Error()
			}
			return slices.ContainsFunc(list.APIResources, func(r metav1.APIResource) bool { return r.Kind == kind }),
				kind + " not served yet"
		})
	}
}

// helm runs helm against the cluster and fails the test when it fails.
func (hc *helmCluster) helm(t *testing.T, args ...string) helmResult {
	t.Helper()
	r := runHelm(t, hc.Kubeconfig, args...)
	if !r.OK {
		t.Fatalf("helm %s: %s%s", strings.Join(args, " "), r.Stdout, r.Stderr)
	}
	return r
}

// liveObjects returns, for each object of manifest (helm's rendering), whether the API server
// has it, keyed by ID, and fails the test when one it has is not Helm's of this release.
func (hc *helmCluster) liveObjects(t *testing.T, manifest []renderedObject) map[string]bool {
	t.Helper()
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(hc.Discovery))
	found := map[string]bool{}
	for _, o := range manifest {
		m, err := meta.Accessor(o.Obj)
		if err != nil {
			t.Fatal(err)
		}
		typ, err := meta.TypeAccessor(o.Obj)
		if err != nil {
			t.Fatal(err)
		}
		gvk := schema.FromAPIVersionAndKind(typ.GetAPIVersion(), typ.GetKind())
		mapping, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			t.Fatalf("%s: %v", o.ID, err)
		}
		live, err := hc.Dynamic.Resource(mapping.Resource).Namespace(m.GetNamespace()).Get(t.Context(), m.GetName(), metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			continue
		case err != nil:
			t.Fatalf("get %s: %v", o.ID, err)
		}
		found[o.ID] = true
		if got := live.GetAnnotations()["meta.helm.sh/release-name"]; got != releaseName {
			t.Errorf("%s: release-name annotation %q, want %s", o.ID, got, releaseName)
		}
	}
	return found
}

// checkAllLive checks every object of manifest exists in the cluster.
func (hc *helmCluster) checkAllLive(t *testing.T, manifest []renderedObject) {
	t.Helper()
	live := hc.liveObjects(t, manifest)
	for _, o := range manifest {
		if !live[o.ID] {
			t.Errorf("%s was not created", o.ID)
		}
	}
}

// checkNoneLive checks no object of manifest is left in the cluster.
func (hc *helmCluster) checkNoneLive(t *testing.T, manifest []renderedObject) {
	t.Helper()
	for id := range hc.liveObjects(t, manifest) {
		t.Errorf("%s is left after helm uninstall", id)
	}
}

// liveDaemonSet returns the probe's DaemonSet as the API server has it.
func (hc *helmCluster) liveDaemonSet(ctx context.Context, t *testing.T) *appsv1.DaemonSet {
	t.Helper()
	ds, err := hc.Client.AppsV1().DaemonSets(releaseNamespace).Get(ctx, "sensorprobe", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get DaemonSet: %v", err)
	}
	return ds
}

// TestHelmInstall installs the chart into a real kube-apiserver the way docs/install.md
// says, `helm install sensorprobe deploy/helm/sensorprobe -n stackrox`, with the Prometheus
// Operator's kinds served: a misspelt value is refused with a message naming it and nothing is
// created; then every object is created and the DaemonSet's pod is the kustomize overlay's;
// helm upgrade changes a flag, and refuses a misspelt value without a new revision; helm
// uninstall removes every object, the cluster-scoped ones included.
func TestHelmInstall(t *testing.T) {
	hc := startHelmCluster(t)
	hc.createCRDs(t, crdStandIn("monitoring.coreos.com", "PodMonitor", true), crdStandIn("monitoring.coreos.com", "PrometheusRule", true))
	manifest := helmTemplate(t)

	typo := runHelm(t, hc.Kubeconfig, "install", releaseName, chartDir, "-n", releaseNamespace, "--set", "intervall=30s")
	const refused = "Error: INSTALLATION FAILED: values don't meet the specifications of the schema(s) in the following chart(s):\n" +
		"sensorprobe:\n- at '': additional properties 'intervall' not allowed\n"
	if typo.OK || !strings.Contains(typo.Stderr, refused) {
		t.Errorf("helm install --set intervall=30s: ok %v, want the error\n%s\ngot:\n%s", typo.OK, refused, typo.Stderr)
	}
	hc.checkNoneLive(t, manifest)

	r := hc.helm(t, "install", releaseName, chartDir, "-n", releaseNamespace)
	for _, want := range []string{"STATUS: deployed", "REVISION: 1", "kubectl -n stackrox exec ds/sensorprobe -- probe check", "/proxy/status"} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("helm install printed no %q:\n%s", want, r.Stdout)
		}
	}
	hc.checkAllLive(t, manifest)
	kustomized := only[*appsv1.DaemonSet](t, render(t, "deploy/overlays/kubernetes"))
	ds := hc.liveDaemonSet(t.Context(), t)
	c, want := ds.Spec.Template.Spec.Containers[0], kustomized.Spec.Template.Spec.Containers[0]
	if c.Image != want.Image || !slices.Equal(c.Args, want.Args) || !ds.Spec.Template.Spec.HostNetwork {
		t.Errorf("live DaemonSet runs %s %q (hostNetwork %v), the kustomize overlay %s %q", c.Image, c.Args, ds.Spec.Template.Spec.HostNetwork, want.Image, want.Args)
	}

	hc.helm(t, "upgrade", releaseName, chartDir, "-n", releaseNamespace, "--set", "interval=30s")
	if args := hc.liveDaemonSet(t.Context(), t).Spec.Template.Spec.Containers[0].Args; !slices.Contains(args, "--interval=30s") {
		t.Errorf("after helm upgrade --set interval=30s the DaemonSet runs %q", args)
	}

	bad := runHelm(t, hc.Kubeconfig, "upgrade", releaseName, chartDir, "-n", releaseNamespace, "--set", "intervall=60s")
	if bad.OK || !strings.Contains(bad.Stderr, "additional properties 'intervall' not allowed") {
		t.Errorf("helm upgrade --set intervall=60s: ok %v, stderr:\n%s", bad.OK, bad.Stderr)
	}
	if hist := hc.helm(t, "history", releaseName, "-n", releaseNamespace, "-o", "json").Stdout; strings.Count(hist, `"revision"`) != 2 {
		t.Errorf("the refused upgrade made a revision: %s", hist)
	}

	hc.helm(t, "uninstall", releaseName, "-n", releaseNamespace)
	hc.checkNoneLive(t, manifest)
}

// TestHelmInstallOpenShift installs the OpenShift flavour (values-openshift.yaml) with
// OpenShift's SCC kind served: first --dry-run=server, which lets the API server validate
// every object and creates none, then for real; then uninstalls it.
func TestHelmInstallOpenShift(t *testing.T) {
	hc := startHelmCluster(t)
	hc.createCRDs(t,
		crdStandIn("monitoring.coreos.com", "PodMonitor", true), crdStandIn("monitoring.coreos.com", "PrometheusRule", true),
		crdStandIn("security.openshift.io", "SecurityContextConstraints", false))
	kubetest.EnsureNamespace(t.Context(), t, hc.Client, "openshift-config-managed")
	manifest := helmTemplate(t, "-f", chartOpenShiftFile)
	args := []string{"install", releaseName, chartDir, "-n", releaseNamespace, "-f", chartOpenShiftFile}

	hc.helm(t, append(slices.Clone(args), "--dry-run=server")...)
	hc.checkNoneLive(t, manifest)

	hc.helm(t, args...)
	hc.checkAllLive(t, manifest)
	if got := hc.liveDaemonSet(t.Context(), t).Spec.Template.Annotations; !cmp.Equal(got, map[string]string{"openshift.io/required-scc": "sensorprobe"}) {
		t.Errorf("pod annotations %v do not pin the SCC", got)
	}

	hc.helm(t, "uninstall", releaseName, "-n", releaseNamespace)
	hc.checkNoneLive(t, manifest)
}

//go:build linux

package kubevirttest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/websocket"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// APIServiceName is the APIService of KubeVirt's subresource API.
const APIServiceName = "v1." + subresourceGroup

// virtAPI is the virt-api stand-in: it serves the subresources.kubevirt.io
// discovery and the vsock subresource behind the aggregator, and answers
// as KubeVirt's virt-api does (pkg/virt-api: the requestheader
// authentication of the front-proxy certificate, a SubjectAccessReview,
// the VMI's checks, the dial of the node's virt-handler, then a WebSocket
// relayed both ways).
type virtAPI struct {
	lab *Lab
	ip  string
	// From ConfigMap kube-system/extension-apiserver-authentication, as
	// virt-api reads it.
	frontProxy                             *x509.CertPool
	allowedNames                           []string
	userHeaders, groupHeaders, extraPrefix []string
	dialer                                 websocket.Dialer
}

// startVirtAPI starts virt-api in the lab's namespace and registers it:
// pod, Service virt-api (443 → 8443), its EndpointSlice and the APIService,
// then waits until the aggregator finds it Available.
func (l *Lab) startVirtAPI(ctx context.Context) error {
	a := &virtAPI{lab: l, dialer: websocket.Dialer{TLSClientConfig: l.pki.virtHandlerClient(),
		Subprotocols: []string{subprotocol}, HandshakeTimeout: 10 * time.Second}}
	if err := a.readAuthConfig(ctx); err != nil {
		return err
	}
	ip, err := l.net.AddAddress(ctx)
	if err != nil {
		return err
	}
	a.ip = ip
	ln, err := l.net.Listen(net.JoinHostPort(ip, strconv.Itoa(virtAPIPort)))
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /apis", a.serveGroupList)
	mux.HandleFunc("GET /apis/"+subresourceGroup, a.serveGroup)
	mux.HandleFunc("GET /apis/"+subresourceGroup+"/v1", a.serveResources)
	mux.HandleFunc("GET /apis/"+subresourceGroup+"/v1/namespaces/{namespace}/virtualmachineinstances/{name}/vsock", a.serveVSOCK)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") })
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeStatus(w, apierrors.NewNotFound(schema.GroupResource{}, r.URL.Path))
	})
	l.serve(ln, &tls.Config{Certificates: []tls.Certificate{l.pki.virtAPIServing}, ClientAuth: tls.VerifyClientCertIfGiven,
		ClientCAs: a.frontProxy, MinVersion: tls.VersionTLS12}, mux)
	l.virtAPI = a
	if err := a.register(ctx); err != nil {
		return err
	}
	return a.waitAvailable(ctx)
}

// readAuthConfig reads the front-proxy CA and header names the API server
// publishes for aggregated API servers (it writes them soon after start).
func (a *virtAPI) readAuthConfig(ctx context.Context) error {
	var cm *corev1.ConfigMap
	err := poll(ctx, 30*time.Second, func() error {
		var err error
		cm, err = a.lab.client.CoreV1().ConfigMaps("kube-system").Get(ctx, "extension-apiserver-authentication", metav1.GetOptions{})
		if err == nil && cm.Data["requestheader-client-ca-file"] == "" {
			err = errors.New("no requestheader-client-ca-file yet")
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("configmap kube-system/extension-apiserver-authentication: %w", err)
	}
	a.frontProxy = x509.NewCertPool()
	if !a.frontProxy.AppendCertsFromPEM([]byte(cm.Data["requestheader-client-ca-file"])) {
		return errors.New("requestheader-client-ca-file holds no certificate")
	}
	for key, dst := range map[string]*[]string{
		"requestheader-allowed-names":        &a.allowedNames,
		"requestheader-username-headers":     &a.userHeaders,
		"requestheader-group-headers":        &a.groupHeaders,
		"requestheader-extra-headers-prefix": &a.extraPrefix,
	} {
		if v := cm.Data[key]; v != "" {
			if err := json.Unmarshal([]byte(v), dst); err != nil {
				return fmt.Errorf("%s: %w", key, err)
			}
		}
	}
	return nil
}

// register creates virt-api's pod, Service, EndpointSlice and APIService.
func (a *virtAPI) register(ctx context.Context) error {
	l, ns := a.lab, a.lab.opts.KubeVirtNamespace
	labels := map[string]string{labelKubeVirt: virtAPIName}
	node := ""
	if len(l.nodes) > 0 {
		node = l.nodes[0].Name
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "virt-api-6d8f7c9b5-" + podSuffix("virt-api", 5), Namespace: ns, Labels: labels},
		Spec: corev1.PodSpec{NodeName: node, ServiceAccountName: "kubevirt-apiserver", Containers: []corev1.Container{{
			Name: virtAPIName, Image: "registry.redhat.io/container-native-virtualization/virt-api-rhel9:v4.19.0",
			Ports: []corev1.ContainerPort{{Name: virtAPIName, ContainerPort: virtAPIPort, Protocol: corev1.ProtocolTCP}},
		}}},
	}
	if err := l.createPod(ctx, pod, a.ip, l.nodeIP(node), true); err != nil {
		return err
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: virtAPIName, Namespace: ns, Labels: labels},
		Spec:       corev1.ServiceSpec{Selector: labels, Ports: []corev1.ServicePort{{Port: 443, TargetPort: intstr.FromInt32(virtAPIPort), Protocol: corev1.ProtocolTCP}}},
	}
	if _, err := l.client.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create service virt-api: %w", err)
	}
	portName, port, proto, ready := "", int32(virtAPIPort), corev1.ProtocolTCP, true
	es := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: "virt-api-" + podSuffix("virt-api-slice", 5), Namespace: ns, Labels: map[string]string{discoveryv1.LabelServiceName: virtAPIName}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: &portName, Port: &port, Protocol: &proto}},
		Endpoints: []discoveryv1.Endpoint{{Addresses: []string{a.ip}, Conditions: discoveryv1.EndpointConditions{Ready: &ready},
			NodeName: &node, TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: pod.Name}}},
	}
	if _, err := l.client.DiscoveryV1().EndpointSlices(ns).Create(ctx, es, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create endpointslice virt-api: %w", err)
	}
	spec := map[string]any{"group": subresourceGroup, "version": "v1", "groupPriorityMinimum": int64(1000), "versionPriority": int64(15),
		"service": map[string]any{"namespace": ns, "name": virtAPIName, "port": int64(443)}}
	if l.opts.APIServiceInsecure {
		spec["insecureSkipTLSVerify"] = true
	} else {
		spec["caBundle"] = base64.StdEncoding.EncodeToString(l.pki.kubevirt.PEM())
	}
	return l.createObject(ctx, GVRAPIService, "", map[string]any{"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
		"metadata": map[string]any{"name": APIServiceName, "labels": map[string]any{labelKubeVirt: "virt-api-aggregator"}},
		"spec":     spec})
}

// waitAvailable waits for the APIService's Available condition and, if it
// never comes, says what the aggregator last said.
func (a *virtAPI) waitAvailable(ctx context.Context) error {
	var last string
	err := poll(ctx, 60*time.Second, func() error {
		u, err := a.lab.dyn.Resource(GVRAPIService).Get(ctx, APIServiceName, metav1.GetOptions{})
		if err != nil {
			return err
		}
		conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
		for _, c := range conds {
			m, _ := c.(map[string]any)
			if m["type"] == "Available" {
				last = fmt.Sprintf("%v %v: %v", m["status"], m["reason"], m["message"])
				if m["status"] == "True" {
					return nil
				}
			}
		}
		return fmt.Errorf("APIService %s not Available: %s", APIServiceName, last)
	})
	if err != nil {
		return fmt.Errorf("APIService %s never became Available (last condition: %s): %w", APIServiceName, last, err)
	}
	return nil
}

// Discovery, as virt-api serves it: an APIResourceList of subresources
// only, with names and scope (kubectl and the aggregator need no more).
func (a *virtAPI) serveGroupList(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, metav1.APIGroupList{TypeMeta: metav1.TypeMeta{Kind: "APIGroupList", APIVersion: "v1"}, Groups: []metav1.APIGroup{apiGroup()}})
}

func (a *virtAPI) serveGroup(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, apiGroup())
}

func (a *virtAPI) serveResources(w http.ResponseWriter, _ *http.Request) {
	list := metav1.APIResourceList{TypeMeta: metav1.TypeMeta{Kind: "APIResourceList", APIVersion: "v1"}, GroupVersion: subresourceGroup + "/v1"}
	for _, s := range []string{"console", "vnc", "vnc/screenshot", "portforward", "pause", "unpause", "freeze", "unfreeze",
		"softreboot", "guestosinfo", "userlist", "filesystemlist", "usbredir", "vsock"} {
		list.APIResources = append(list.APIResources, metav1.APIResource{Name: vmiResource + "/" + s, Namespaced: true})
	}
	writeJSON(w, http.StatusOK, list)
}

func apiGroup() metav1.APIGroup {
	gv := metav1.GroupVersionForDiscovery{GroupVersion: subresourceGroup + "/v1", Version: "v1"}
	return metav1.APIGroup{TypeMeta: metav1.TypeMeta{Kind: "APIGroup", APIVersion: "v1"}, Name: subresourceGroup,
		Versions: []metav1.GroupVersionForDiscovery{gv}, PreferredVersion: gv,
		ServerAddressByClientCIDRs: []metav1.ServerAddressByClientCIDR{{ClientCIDR: "0.0.0.0/0"}}}
}

// user is the identity the aggregator vouches for in its headers.
type user struct {
	name   string
	groups []string
	extra  map[string]authorizationv1.ExtraValue
}

// authenticate accepts a request only with a front-proxy client
// certificate (verified in the handshake) of an allowed name, and reads
// the user from the configured headers.
func (a *virtAPI) authenticate(r *http.Request) (user, bool) {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return user{}, false
	}
	if cn := r.TLS.PeerCertificates[0].Subject.CommonName; len(a.allowedNames) > 0 && !slices.Contains(a.allowedNames, cn) {
		return user{}, false
	}
	var u user
	for _, h := range a.userHeaders {
		if v := r.Header.Get(h); v != "" {
			u.name = v
			break
		}
	}
	for _, h := range a.groupHeaders {
		u.groups = append(u.groups, r.Header.Values(h)...)
	}
	for k, vs := range r.Header {
		for _, p := range a.extraPrefix {
			if strings.HasPrefix(strings.ToLower(k), strings.ToLower(p)) {
				key, err := url.PathUnescape(strings.ToLower(k[len(p):]))
				if err != nil {
					continue
				}
				if u.extra == nil {
					u.extra = map[string]authorizationv1.ExtraValue{}
				}
				u.extra[key] = append(u.extra[key], vs...)
			}
		}
	}
	return u, u.name != ""
}

// authorize asks the API server whether u may get
// virtualmachineinstances/vsock name in ns, as virt-api's authorizer does.
// Denied, it answers 403 with the text of the API server's own authorizer
// (which, in front of virt-api, has already refused such a request with
// the same words; KubeVirt itself would answer 401 with the review's reason).
func (a *virtAPI) authorize(ctx context.Context, u user, ns, name string) *apierrors.StatusError {
	sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User: u.name, Groups: u.groups, Extra: u.extra,
		ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: ns, Verb: "get", Group: subresourceGroup, Version: "v1",
			Resource: vmiResource, Subresource: "vsock", Name: name},
	}}
	res, err := a.lab.client.AuthorizationV1().SubjectAccessReviews().Create(ctx, sar, metav1.CreateOptions{})
	if err != nil {
		return apierrors.NewInternalError(fmt.Errorf("internal server error: %w", err))
	}
	if res.Status.Allowed {
		return nil
	}
	msg := fmt.Sprintf("User %q cannot get resource %q in API group %q in the namespace %q", u.name, vmiResource+"/vsock", subresourceGroup, ns)
	if res.Status.Reason != "" {
		msg += ": " + res.Status.Reason
	}
	return apierrors.NewForbidden(schema.GroupResource{Group: subresourceGroup, Resource: vmiResource}, name, errors.New(msg))
}

func (a *virtAPI) serveVSOCK(w http.ResponseWriter, r *http.Request) {
	ns, name := r.PathValue("namespace"), r.PathValue("name")
	u, ok := a.authenticate(r)
	if !ok {
		http.Error(w, "request is not authenticated", http.StatusUnauthorized)
		return
	}
	if se := a.authorize(r.Context(), u, ns, name); se != nil {
		writeStatus(w, se)
		return
	}
	handler, se := a.dialVirtHandler(r.Context(), ns, name, r.URL.Query())
	if se != nil {
		writeStatus(w, se)
		return
	}
	up := websocket.Upgrader{Subprotocols: []string{subprotocol}, HandshakeTimeout: 10 * time.Second,
		CheckOrigin: func(*http.Request) bool { return true }}
	client, err := up.Upgrade(w, r, nil)
	if err != nil {
		_ = handler.Close()
		return // the upgrader answered
	}
	a.lab.wg.Add(1)
	defer a.lab.wg.Done()
	relay(client, handler)
}

// dialVirtHandler checks the VMI as virt-api does, in its order, finds the
// virt-handler pod of the VMI's node and dials its vsock endpoint.
func (a *virtAPI) dialVirtHandler(ctx context.Context, ns, name string, q url.Values) (*websocket.Conn, *apierrors.StatusError) {
	vmi, err := a.lab.dyn.Resource(GVRVMI).Namespace(ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, apierrors.NewNotFound(schema.GroupResource{Group: kubevirtGroup, Resource: "virtualmachineinstance"}, name)
	}
	if err != nil {
		return nil, apierrors.NewInternalError(fmt.Errorf("unable to retrieve vmi [%s]: %w", name, err))
	}
	if vsock, _, _ := unstructured.NestedBool(vmi.Object, "spec", "domain", "devices", "autoattachVSOCK"); !vsock {
		return nil, apierrors.NewBadRequest("VSOCK is not attached.")
	}
	phase, _, _ := unstructured.NestedString(vmi.Object, "status", "phase")
	if phase != phaseRunning && phase != "Scheduled" {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("Unable to connect to VirtualMachineInstance because phase is %s instead of %s or %s", phase, phaseRunning, "Scheduled"))
	}
	node, _, _ := unstructured.NestedString(vmi.Object, "status", "nodeName")
	pods, err := a.lab.client.CoreV1().Pods(a.lab.opts.KubeVirtNamespace).List(ctx, metav1.ListOptions{
		FieldSelector: "spec.nodeName=" + node, LabelSelector: labelKubeVirt + " in (virt-handler)"})
	switch {
	case err != nil:
		return nil, apierrors.NewBadRequest(err.Error())
	case len(pods.Items) > 1:
		return nil, apierrors.NewBadRequest(fmt.Sprintf("Expected to find one Pod, found %d Pods", len(pods.Items)))
	case len(pods.Items) == 0:
		return nil, apierrors.NewBadRequest(fmt.Sprintf("No virt-handler on node %s found", node))
	}
	useTLS := valueTrue
	if t := q.Get("tls"); t != "" {
		useTLS = t
	}
	target := fmt.Sprintf("wss://%s/v1/namespaces/%s/virtualmachineinstances/%s/vsock?port=%s&tls=%s",
		net.JoinHostPort(pods.Items[0].Status.PodIP, strconv.Itoa(VirtHandlerPort)), ns, name, q.Get("port"), useTLS)
	conn, resp, err := a.dialer.DialContext(ctx, target, nil)
	if resp != nil && resp.Body != nil {
		_ = resp.Body.Close()
	}
	if err != nil {
		return nil, apierrors.NewInternalError(fmt.Errorf("dialing virt-handler: %w", err))
	}
	return conn, nil
}

// relay copies messages both ways between sensor's stream and
// virt-handler's. When virt-handler ends, the client gets a close frame
// and a moment to finish, so it reads a clean end, not a reset.
func relay(client, handler *websocket.Conn) {
	up := make(chan struct{})
	go func() {
		defer close(up)
		pump(handler, client)
		_ = handler.Close() // the client is gone: end the other direction too
	}()
	pump(client, handler)
	_ = client.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	_ = client.SetReadDeadline(time.Now().Add(2 * time.Second))
	<-up
	_ = client.Close()
}

// pump copies src's messages to dst until src ends; after a failed write it
// keeps reading (and dropping) so that src is drained.
func pump(dst, src *websocket.Conn) {
	var werr error
	for {
		typ, r, err := src.NextReader()
		if err != nil {
			return
		}
		if werr == nil {
			var w io.WriteCloser
			if w, werr = dst.NextWriter(typ); werr == nil {
				_, werr = io.Copy(w, r)
				if err := w.Close(); werr == nil {
					werr = err
				}
			}
		}
		_, _ = io.Copy(io.Discard, r)
	}
}

// writeStatus writes se as KubeVirt's writeError does: a v1 Status with its code.
func writeStatus(w http.ResponseWriter, se *apierrors.StatusError) {
	st := se.ErrStatus.DeepCopy()
	st.Kind, st.APIVersion = "Status", "v1"
	writeJSON(w, int(st.Code), st)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

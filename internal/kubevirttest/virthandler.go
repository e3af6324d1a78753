//go:build linux

package kubevirttest

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Agent is what the roxagent in a VMI does when a stream reaches it
// through virt-handler (roxagent serve, bed4a7b2427
// compliance/virtualmachines/roxagent/vsockserver).
type Agent int

const (
	// AgentOK serves its report: the full one when the request's
	// generation or epoch is not the agent's, else "unchanged". Like
	// roxagent it serves one connection at a time and answers BUSY to others.
	AgentOK Agent = iota
	// AgentDown means nothing answers on the VM's VSOCK port. virt-handler has
	// upgraded the WebSocket already and closes it at once: sensor reads
	// EOF (read_error, logged at debug only).
	AgentDown
	// AgentBusy answers ERROR_CODE_BUSY at once, as to a second connection.
	AgentBusy
	// AgentNotReady answers ERROR_CODE_NOT_READY: the first scan is still
	// running (not_ready, logged at debug only).
	AgentNotReady
	// AgentUnchanged answers "unchanged" to every request.
	AgentUnchanged
	// AgentHang reads the request and never answers: sensor's per-VM
	// timeout ends the attempt, counted as timeout or, when the read
	// deadline wins the race with the context, read_error (see the package
	// documentation).
	AgentHang
)

func (a Agent) String() string {
	switch a {
	case AgentOK:
		return "ok"
	case AgentDown:
		return "down"
	case AgentBusy:
		return "busy"
	case AgentNotReady:
		return "not-ready"
	case AgentUnchanged:
		return "unchanged"
	case AgentHang:
		return "hang"
	}
	return "agent(" + strconv.Itoa(int(a)) + ")"
}

// roxagent's texts (bed4a7b2427 compliance/virtualmachines/roxagent/vsockserver).
const (
	busyMessage     = "agent is already serving another request; retry after a backoff" // server.go rejectConn
	notReadyMessage = "initial scan in progress, try again later"                       // protocol.go handleGetReport
	unknownMethod   = "unknown or unset method"                                         // protocol.go dispatch
	// connTimeout is roxagent's 30 s per connection.
	connTimeout = 30 * time.Second
)

// agentState is one VMI's agent: its behaviour, report generation and
// epoch, and its single connection slot.
type agentState struct {
	mu       sync.Mutex
	behave   Agent
	epoch    uint32
	inFlight atomic.Bool
}

func (l *Lab) agent(key string) *agentState {
	l.mu.Lock()
	defer l.mu.Unlock()
	a, ok := l.agents[key]
	if !ok {
		// roxagent seeds its epoch from the time it started.
		a = &agentState{epoch: uint32(time.Now().Unix()) + uint32(len(l.agents))} //nolint:gosec // as roxagent's newEpoch
		l.agents[key] = a
	}
	return a
}

func (a *agentState) set(b Agent) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.behave = b
}

func (a *agentState) behaviour() Agent {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.behave
}

// reportGeneration is the generation of every agent's cached report: one
// scan since it started.
const reportGeneration = 1

// serve plays the agent on an upgraded stream and ends the stream as
// virt-handler does when the VSOCK connection ends.
func (a *agentState) serve(c *websocket.Conn, key, version string, done <-chan struct{}) {
	defer closeStream(c)
	s := &wsStream{conn: c}
	b := a.behaviour()
	if b == AgentDown {
		return
	}
	meta := response{agentVersion: version, epoch: a.epoch, generation: reportGeneration,
		generatedAt: time.Now().Add(-time.Minute).Unix(),
		facts:       map[string]string{"detected_os": "rhel", "activation_status": "ACTIVE", "dnf_metadata_status": "AVAILABLE"}}
	if b == AgentBusy || !a.inFlight.CompareAndSwap(false, true) {
		// roxagent writes BUSY first, then absorbs one request.
		busy := meta
		busy.errCode, busy.errMessage = codeBusy, busyMessage
		_ = writeFrame(s, busy.marshal())
		_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
		_, _ = readFrame(s, maxRequestSize)
		return
	}
	defer a.inFlight.Store(false)
	_ = c.SetReadDeadline(time.Now().Add(connTimeout))
	data, err := readFrame(s, maxRequestSize)
	if err != nil {
		return
	}
	req, err := parseGetReportRequest(data)
	resp := meta
	switch {
	case err != nil || !req.hasGetReport:
		resp.errCode, resp.errMessage = codeUnknownMethod, unknownMethod
	case b == AgentHang:
		select { // until sensor gives up and closes, or the lab stops
		case <-done:
		case <-readClosed(s):
		}
		return
	case b == AgentNotReady:
		resp = response{agentVersion: version, epoch: a.epoch, errCode: codeNotReady, errMessage: notReadyMessage}
	case b == AgentUnchanged || (req.lastGen == reportGeneration && (req.knownEpoch == 0 || req.knownEpoch == a.epoch)):
		resp.unchanged = true
	default:
		resp.indexReport = indexReport("sha256:"+key, [][2]string{{"bash", "5.1.8-9.el9"}, {"openssl-libs", "3.2.2-6.el9_5"}, {"glibc", "2.34-125.el9_5"}})
	}
	_ = writeFrame(s, resp.marshal())
}

// readClosed returns a channel closed when the peer closes the stream.
func readClosed(s *wsStream) <-chan struct{} {
	c := make(chan struct{})
	go func() {
		defer close(c)
		_ = s.conn.SetReadDeadline(time.Time{})
		buf := make([]byte, 512)
		for {
			if _, err := s.Read(buf); err != nil {
				return
			}
		}
	}()
	return c
}

// closeStream ends a WebSocket with a close frame and reads what the peer
// still sends (briefly), so that closing does not reset a connection with
// unread data: the peer then reads a clean end of stream.
func closeStream(c *websocket.Conn) {
	_ = c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	for {
		if _, _, err := c.NextReader(); err != nil {
			break
		}
	}
	_ = c.Close()
}

// virtHandler is the virt-handler stand-in of one node: a pod with an IP in
// the lab's namespace and, unless down, a mutual-TLS WebSocket server on
// VirtHandlerPort that plays the agent of the VMI asked for.
type virtHandler struct {
	lab      *Lab
	node, ip string
	conf     *tls.Config

	mu  sync.Mutex
	srv *http.Server
}

func (h *virtHandler) addr() string { return net.JoinHostPort(h.ip, strconv.Itoa(VirtHandlerPort)) }

// startVirtHandlers creates each virt-handler pod and starts those not down.
func (l *Lab) startVirtHandlers(ctx context.Context) error {
	for _, vh := range l.opts.VirtHandlers {
		ip, err := l.net.AddAddress(ctx)
		if err != nil {
			return err
		}
		conf, err := l.pki.virtHandlerServer(ip)
		if err != nil {
			return err
		}
		h := &virtHandler{lab: l, node: vh.Node, ip: ip, conf: conf}
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "virt-handler-" + podSuffix(vh.Node, 5), Namespace: l.opts.KubeVirtNamespace,
				Labels: map[string]string{labelKubeVirt: "virt-handler", "prometheus.kubevirt.io": valueTrue}},
			Spec: corev1.PodSpec{NodeName: vh.Node, ServiceAccountName: "kubevirt-handler", Containers: []corev1.Container{{
				Name: "virt-handler", Image: "registry.redhat.io/container-native-virtualization/virt-handler-rhel9:v4.19.0",
				Ports: []corev1.ContainerPort{{Name: "metrics", ContainerPort: 8443, Protocol: corev1.ProtocolTCP}},
			}}},
		}
		if err := l.createPod(ctx, pod, ip, l.nodeIP(vh.Node), !vh.NotReady); err != nil {
			return err
		}
		l.handlers[vh.Node] = h
		if !vh.Down {
			if err := h.start(); err != nil {
				return err
			}
		}
	}
	return nil
}

func (l *Lab) nodeIP(name string) string {
	for _, n := range l.nodes {
		if n.Name == name {
			return n.InternalIP
		}
	}
	return ""
}

// start listens (again) on the handler's address; a no-op when it runs.
func (h *virtHandler) start() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.srv != nil {
		return nil
	}
	select {
	case <-h.lab.done:
		return errLabClosed
	default:
	}
	ln, err := h.lab.net.Listen(h.addr())
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/namespaces/{namespace}/virtualmachineinstances/{name}/vsock", h.serveVSOCK)
	h.srv = h.lab.serve(ln, h.conf, mux)
	return nil
}

// stop closes the listener and the streams in flight.
func (h *virtHandler) stop() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.srv != nil {
		_ = h.srv.Close()
		h.srv = nil
	}
}

func (h *virtHandler) serveVSOCK(w http.ResponseWriter, r *http.Request) {
	key := r.PathValue("namespace") + "/" + r.PathValue("name")
	up := websocket.Upgrader{Subprotocols: []string{subprotocol}, HandshakeTimeout: 10 * time.Second,
		CheckOrigin: func(*http.Request) bool { return true }}
	c, err := up.Upgrade(w, r, nil)
	if err != nil {
		return // the upgrader answered
	}
	// A hijacked connection outlives the server's Close: the lab waits for it.
	h.lab.wg.Add(1)
	defer h.lab.wg.Done()
	h.lab.agent(key).serve(c, key, h.lab.opts.Version, h.lab.done)
}

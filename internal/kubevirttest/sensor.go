//go:build linux

package kubevirttest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sync/errgroup"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	wstransport "k8s.io/client-go/transport/websocket"
)

// ScrapeResult is the outcome of one VM's scrape, as sensor counts it.
type ScrapeResult struct {
	// VMI is "namespace/name".
	VMI string
	// Status is the status label sensor counts the attempt under
	// (StatusSuccess, StatusDialError, ...).
	Status string
	// Err is the error sensor got from the dial, the read or the send, as
	// client-go and the protocol client produced it; nil on success and
	// unchanged.
	Err error
}

// Sensor's scraper settings and their defaults (bed4a7b2427 pkg/env/virtualmachine.go).
const (
	envVMs              = "ROX_VIRTUAL_MACHINES"
	envVsockPort        = "ROX_VIRTUAL_MACHINES_VSOCK_PORT"
	envConcurrency      = "ROX_VIRTUAL_MACHINES_SCRAPER_CONCURRENCY"
	envPollInterval     = "ROX_VIRTUAL_MACHINES_SCRAPER_POLL_INTERVAL"
	envPerVMTimeout     = "ROX_VIRTUAL_MACHINES_SCRAPER_PER_VM_TIMEOUT"
	envInitialBackoff   = "ROX_VIRTUAL_MACHINES_SCRAPER_INITIAL_BACKOFF"
	envMandatoryRefresh = "ROX_VIRTUAL_MACHINES_SCRAPER_MANDATORY_REFRESH_INTERVAL"
	minPollInterval     = time.Minute
	maxBackoffCap       = 30 * time.Minute
)

// The protocol client's errors (bed4a7b2427 sensor/common/virtualmachine/vsockclient/client.go).
var (
	errNotReady      = errors.New("agent has not yet generated a report")
	errUnknownMethod = errors.New("agent does not support the requested method")
	errInternal      = errors.New("agent internal error")
	errBusy          = errors.New("agent is busy with another request")
	// errCentral is errox.ResourceExhausted.CausedBy(errCentralNotReachable)
	// of sensor/common/virtualmachine/index/handler_impl.go.
	errCentral = errors.New("resource exhausted: Central is not reachable")
)

// sensorStandIn does what sensor's VM scraper does (bed4a7b2427
// sensor/common/virtualmachine/vmscraper/scraper.go) on demand: list the
// Running VMIs, dial each through the API server as ServiceAccount
// sensor, ask its agent for a report, classify, log and count the outcome,
// and schedule the next attempt. Its VM store stands for sensor's
// informers and reads VMIs with the admin client; only the dial goes as
// sensor.
type sensorStandIn struct {
	lab      *Lab
	pod, ip  string
	cfg      *rest.Config
	log      *logStream
	metrics  *sensorMetrics
	enabled  bool
	port     uint32
	workers  int
	poll     time.Duration
	perVM    time.Duration
	backoff0 time.Duration
	refresh  time.Duration

	centralDown atomic.Bool
	mu          sync.Mutex
	state       map[string]*vmState
}

// vmState is what sensor remembers of a VM between scrapes.
type vmState struct {
	lastGen, lastEpoch uint32
	lastForwarded      time.Time
	backoff            time.Duration
}

// createSensorAccount creates ServiceAccount sensor, which the chart makes.
func (l *Lab) createSensorAccount(ctx context.Context) error {
	_, err := l.client.CoreV1().ServiceAccounts(l.opts.RHACSNamespace).Create(ctx,
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: sensorName, Labels: l.chartLabels()}}, metav1.CreateOptions{})
	return err
}

// startSensor creates Deployment sensor and its pod, serves the pod's
// metrics port in the lab's namespace and readies the scraper with sa,
// ServiceAccount sensor's client config.
func (l *Lab) startSensor(ctx context.Context, sa *rest.Config) error {
	ip, err := l.net.AddAddress(ctx)
	if err != nil {
		return err
	}
	s := &sensorStandIn{lab: l, ip: ip, cfg: sa, metrics: newSensorMetrics(), state: map[string]*vmState{},
		pod: "sensor-" + podSuffix(l.opts.Version, 10) + "-" + podSuffix(l.opts.RHACSNamespace, 5)}
	s.centralDown.Store(l.opts.CentralUnreachable)
	env := l.sensorEnv()
	s.configure(env)
	s.log = l.logs.stream(l.opts.RHACSNamespace, s.pod, sensorName)
	if err := l.createSensorWorkload(ctx, s.pod, ip, env); err != nil {
		return err
	}
	ln, err := l.net.Listen(net.JoinHostPort(ip, strconv.Itoa(SensorMetrics)))
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{}))
	l.serve(ln, nil, mux)
	l.sensor = s
	if s.enabled && s.poll < minPollInterval {
		s.logf(logPollClamped, s.poll, minPollInterval, minPollInterval)
		s.poll = minPollInterval
	}
	return nil
}

func (l *Lab) sensorEnv() []corev1.EnvVar {
	var env []corev1.EnvVar
	if l.opts.SensorVMs != EnvUnset {
		env = append(env, corev1.EnvVar{Name: envVMs, Value: l.opts.SensorVMs})
	}
	return append(env, l.opts.SensorEnv...)
}

// configure reads the scraper's settings from env as sensor reads its
// environment: unparsable values keep the default.
func (s *sensorStandIn) configure(env []corev1.EnvVar) {
	s.port, s.workers = 818, 20
	s.poll, s.perVM, s.backoff0, s.refresh = 5*time.Minute, 30*time.Second, 10*time.Second, 4*time.Hour
	for _, e := range env {
		switch e.Name {
		case envVMs:
			s.enabled = strings.EqualFold(e.Value, valueTrue)
		case envVsockPort:
			if p, err := strconv.ParseUint(e.Value, 10, 16); err == nil {
				s.port = uint32(p)
			}
		case envConcurrency:
			if n, err := strconv.Atoi(e.Value); err == nil && n >= 1 {
				s.workers = n
			}
		case envPollInterval, envPerVMTimeout, envInitialBackoff, envMandatoryRefresh:
			d, err := time.ParseDuration(e.Value)
			if err != nil {
				continue
			}
			*map[string]*time.Duration{envPollInterval: &s.poll, envPerVMTimeout: &s.perVM,
				envInitialBackoff: &s.backoff0, envMandatoryRefresh: &s.refresh}[e.Name] = d
		}
	}
}

// createSensorWorkload creates Deployment sensor (ready) and its pod, as
// the chart lays them out: ServiceAccount sensor, ports api, webhook and
// monitoring, the version label and image tag.
func (l *Lab) createSensorWorkload(ctx context.Context, pod, ip string, env []corev1.EnvVar) error {
	ns, labels := l.opts.RHACSNamespace, l.chartLabels()
	podLabels := map[string]string{"app": sensorName, "app.kubernetes.io/component": sensorName, labelVersion: l.opts.Version}
	spec := corev1.PodSpec{ServiceAccountName: sensorName, Containers: []corev1.Container{{
		Name: sensorName, Image: "quay.io/stackrox-io/main:" + l.opts.Version, Env: env,
		Ports: []corev1.ContainerPort{
			{Name: "api", ContainerPort: SensorAPIPort, Protocol: corev1.ProtocolTCP},
			{Name: "webhook", ContainerPort: 9443, Protocol: corev1.ProtocolTCP},
			{Name: "monitoring", ContainerPort: SensorMetrics, Protocol: corev1.ProtocolTCP},
		},
	}}}
	one := int32(1)
	d, err := l.client.AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: sensorName, Labels: labels},
		Spec: appsv1.DeploymentSpec{Replicas: &one, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": sensorName}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: podLabels}, Spec: spec}},
	}, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("create deployment sensor: %w", err)
	}
	d.Status = appsv1.DeploymentStatus{ObservedGeneration: d.Generation, Replicas: 1, UpdatedReplicas: 1, ReadyReplicas: 1, AvailableReplicas: 1}
	if _, err := l.client.AppsV1().Deployments(ns).UpdateStatus(ctx, d, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("deployment sensor status: %w", err)
	}
	node := ""
	if len(l.nodes) > 0 {
		node = l.nodes[0].Name
	}
	spec.NodeName = node
	return l.createPod(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: pod, Namespace: ns, Labels: podLabels}, Spec: spec},
		ip, l.nodeIP(node), true)
}

// logf writes site's line to sensor's container log unless it is a debug one.
func (s *sensorStandIn) logf(site callSite, args ...any) {
	if site.level == levelDebug {
		return
	}
	at := time.Now()
	s.log.write(at, formatLine(at, site, args...))
}

// vmInfo is a Running VMI as sensor's store holds it.
type vmInfo struct {
	namespace, name string
	cid             *int64
}

func (v vmInfo) key() string { return v.namespace + "/" + v.name }

// scrape runs one tick: reconcile the tracked VMs with the Running VMIs,
// then scrape every one of them, at most workers at a time.
func (s *sensorStandIn) scrape(ctx context.Context) ([]ScrapeResult, error) {
	if !s.enabled {
		return nil, nil
	}
	start := time.Now()
	vms, err := s.running(ctx)
	if err != nil {
		return nil, err
	}
	s.reconcile(vms)
	s.metrics.ticks.Inc()
	s.metrics.tracked.Set(float64(len(vms)))
	results := make([]ScrapeResult, len(vms))
	var g errgroup.Group
	g.SetLimit(s.workers)
	for i, vm := range vms {
		g.Go(func() error {
			results[i] = s.scrapeVM(ctx, vm)
			return nil
		})
	}
	_ = g.Wait()
	s.metrics.tick.Observe(time.Since(start).Seconds())
	return results, nil
}

// running lists the VMIs with phase Running, sorted by key: sensor scrapes
// those (and does not look at VSOCK).
func (s *sensorStandIn) running(ctx context.Context) ([]vmInfo, error) {
	list, err := s.lab.dyn.Resource(GVRVMI).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list VMIs: %w", err)
	}
	var vms []vmInfo
	for _, u := range list.Items {
		if phase, _, _ := unstructured.NestedString(u.Object, "status", "phase"); phase != phaseRunning {
			continue
		}
		v := vmInfo{namespace: u.GetNamespace(), name: u.GetName()}
		if cid, ok, _ := unstructured.NestedInt64(u.Object, "status", "VSOCKCID"); ok {
			v.cid = &cid
		}
		vms = append(vms, v)
	}
	slices.SortFunc(vms, func(a, b vmInfo) int { return strings.Compare(a.key(), b.key()) })
	return vms, nil
}

func (s *sensorStandIn) reconcile(vms []vmInfo) {
	s.mu.Lock()
	defer s.mu.Unlock()
	live := map[string]bool{}
	for _, v := range vms {
		live[v.key()] = true
		if _, ok := s.state[v.key()]; !ok {
			s.state[v.key()] = &vmState{}
		}
	}
	for k := range s.state {
		if !live[k] {
			delete(s.state, k)
		}
	}
}

type outcome int

const (
	scrapeOK outcome = iota
	scrapeRetryable
	scrapeNonRetryable
)

// scrapeVM is one VM's attempt, logged and counted as scrapeVM in
// scraper.go does it.
func (s *sensorStandIn) scrapeVM(ctx context.Context, vm vmInfo) ScrapeResult {
	key := vm.key()
	snap := s.snapshot(key)
	reason := "poll"
	if snap.backoff > 0 {
		reason = "retry"
	}
	s.logf(logScraping, key, reason, snap.backoff)
	vmCtx, cancel := context.WithTimeout(ctx, s.perVM)
	defer cancel()
	start := time.Now()
	lastGen, epoch := snap.lastGen, snap.lastEpoch
	if time.Since(snap.lastForwarded) > s.refresh {
		lastGen, epoch = 0, 0 // the mandatory refresh asks for the full report
	}
	resp, status, out, err := s.dialAndGetReport(vmCtx, vm, lastGen, epoch)
	if out != scrapeOK {
		kind := "retryable"
		if out == scrapeNonRetryable {
			kind = "non-retryable"
		}
		s.logf(logFailed, key, kind, s.schedule(key, out))
		return ScrapeResult{VMI: key, Status: status, Err: err}
	}
	if resp.unchanged {
		s.logf(logUnchanged, key, s.schedule(key, scrapeOK))
		s.metrics.requests.WithLabelValues(StatusUnchanged).Inc()
		return ScrapeResult{VMI: key, Status: StatusUnchanged}
	}
	if n, state, err := reportPackages(resp.indexReport); err == nil && n == 0 {
		s.logf(logReportWarning, key, fmt.Sprintf("zero packages (state=%s, size=%d bytes) — VM may have no package manager or scan failed silently",
			state, len(resp.indexReport)))
	}
	if err := s.send(vm); err != nil {
		s.logf(logSendFailed, key, err)
		s.metrics.requests.WithLabelValues(StatusSendError).Inc()
		s.logf(logSendRetry, key, s.schedule(key, scrapeRetryable))
		return ScrapeResult{VMI: key, Status: StatusSendError, Err: err}
	}
	s.commit(key, resp)
	s.logf(logForwarded, key, s.schedule(key, scrapeOK))
	s.metrics.requests.WithLabelValues(StatusSuccess).Inc()
	s.metrics.total.Observe(time.Since(start).Seconds())
	return ScrapeResult{VMI: key, Status: StatusSuccess}
}

// send stands for the index handler's Send: it fails as sensor's does while
// Central is not reachable.
func (s *sensorStandIn) send(vm vmInfo) error {
	if s.centralDown.Load() {
		cid := ""
		if vm.cid != nil {
			cid = strconv.FormatInt(*vm.cid, 10)
		}
		s.logf(logCentralUnreachable, cid)
		s.metrics.sent.WithLabelValues("central not ready").Inc()
		return errCentral
	}
	s.metrics.sent.WithLabelValues("success").Inc()
	return nil
}

func (s *sensorStandIn) snapshot(key string) vmState {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st, ok := s.state[key]; ok {
		return *st
	}
	return vmState{}
}

func (s *sensorStandIn) commit(key string, r response) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st, ok := s.state[key]; ok {
		st.lastGen, st.lastEpoch, st.lastForwarded = r.generation, r.epoch, time.Now()
	}
}

// schedule records the attempt's outcome and returns the delay to the next
// attempt: the poll interval after success or a permanent failure, a
// backoff of 10 s doubling up to min(poll, 30m) after a retryable one.
func (s *sensorStandIn) schedule(key string, out outcome) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.state[key]
	if !ok {
		return 0
	}
	if out != scrapeRetryable {
		st.backoff = 0
		return s.poll
	}
	limit := min(s.poll, maxBackoffCap)
	if st.backoff <= 0 {
		st.backoff = min(s.backoff0, limit)
	} else {
		st.backoff = min(st.backoff*2, limit)
	}
	return st.backoff
}

// dialAndGetReport dials the VM and asks once for its report, counting a
// failure under its status.
func (s *sensorStandIn) dialAndGetReport(ctx context.Context, vm vmInfo, lastGen, epoch uint32) (response, string, outcome, error) {
	key := vm.key()
	start := time.Now()
	stream, err := s.dial(ctx, vm.namespace, vm.name)
	s.metrics.dial.Observe(time.Since(start).Seconds())
	if err != nil {
		if ctx.Err() != nil {
			s.logf(logDialTimedOut, key, err)
			s.metrics.requests.WithLabelValues(StatusTimeout).Inc()
			if errors.Is(ctx.Err(), context.Canceled) {
				return response{}, StatusTimeout, scrapeNonRetryable, err
			}
			return response{}, StatusTimeout, scrapeRetryable, err
		}
		s.logf(logDialFailed, key, err)
		s.metrics.requests.WithLabelValues(StatusDialError).Inc()
		return response{}, StatusDialError, scrapeRetryable, err
	}
	defer stream.Close()
	start = time.Now()
	resp, err := getReport(ctx, stream, lastGen, epoch)
	s.metrics.read.Observe(time.Since(start).Seconds())
	if err != nil {
		status, out := s.readFailed(ctx, key, err)
		return response{}, status, out, err
	}
	return resp, "", scrapeOK, nil
}

// readFailed classifies a failed GetReport as handleGetReportError does.
func (s *sensorStandIn) readFailed(ctx context.Context, key string, err error) (string, outcome) {
	status, out := StatusReadError, scrapeRetryable
	switch {
	case ctx.Err() != nil:
		s.logf(logReadTimedOut, key, err)
		status = StatusTimeout
		if errors.Is(ctx.Err(), context.Canceled) {
			out = scrapeNonRetryable
		}
	case errors.Is(err, errNotReady):
		s.logf(logNotReady, key)
		status = StatusNotReady
	case errors.Is(err, errUnknownMethod):
		s.logf(logUnknownMethod, key)
		status, out = StatusUnknownMethod, scrapeNonRetryable
	case errors.Is(err, errInternal):
		s.logf(logAgentInternal, key, err)
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		s.logf(logConnClosed, key, err)
	case errors.Is(err, errBusy):
		s.logf(logBusy, key, err)
		status = StatusBusy
	default:
		s.logf(logProtocolError, key, err)
	}
	s.metrics.requests.WithLabelValues(status).Inc()
	return status, out
}

// dial opens the stream to a VM's agent as sensor's vsockdialer does
// (bed4a7b2427 sensor/kubernetes/virtualmachine/vsockdialer/dialer.go):
// client-go's WebSocket transport from sensor's REST config, subprotocol
// plain.kubevirt.io, port and tls=true in the query; the context's
// deadline becomes the connection's.
func (s *sensorStandIn) dial(ctx context.Context, ns, name string) (io.ReadWriteCloser, error) {
	wrap := func(err error) error { return fmt.Errorf("VSOCK dial %s/%s:%d: %w", ns, name, s.port, err) }
	u, err := url.Parse(s.cfg.Host)
	if err != nil {
		return nil, wrap(fmt.Errorf("parsing host: %w", err))
	}
	u = u.JoinPath("apis", subresourceGroup, "v1", "namespaces", ns, vmiResource, name, "vsock")
	u.RawQuery = url.Values{"port": {strconv.FormatUint(uint64(s.port), 10)}, "tls": {valueTrue}}.Encode()
	rt, holder, err := wstransport.RoundTripperFor(s.cfg)
	if err != nil {
		return nil, wrap(fmt.Errorf("building websocket round tripper: %w", err))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, wrap(fmt.Errorf("building request: %w", err))
	}
	conn, err := wstransport.Negotiate(rt, holder, req, subprotocol)
	if err != nil {
		return nil, wrap(fmt.Errorf("websocket dial: %w", err))
	}
	conn.SetReadLimit(maxResponseSize)
	if d, ok := ctx.Deadline(); ok {
		_ = conn.SetReadDeadline(d)
		_ = conn.SetWriteDeadline(d)
	}
	return &wsStream{conn: conn}, nil
}

// getReport is the protocol client's GetReport: one request, one response,
// the stream closed if ctx ends first.
func getReport(ctx context.Context, stream io.ReadWriteCloser, lastGen, epoch uint32) (response, error) {
	stop := context.AfterFunc(ctx, func() { _ = stream.Close() })
	defer stop()
	req := getReportRequest{requestID: newUUID(), capabilities: []string{"report_v1"}, lastGen: lastGen, knownEpoch: epoch}
	if err := writeFrame(stream, req.marshal()); err != nil {
		return response{}, streamErr(ctx, "sending request", err)
	}
	data, err := readFrame(stream, maxResponseSize)
	if err != nil {
		return response{}, streamErr(ctx, "reading response", err)
	}
	resp, err := parseResponse(data)
	switch {
	case errors.Is(err, errMissingResult):
		return response{}, err
	case err != nil:
		return response{}, fmt.Errorf("unmarshaling response: %w", err)
	case resp.isError:
		return response{}, agentError(resp.errCode, resp.errMessage)
	case resp.indexReport == nil && !resp.unchanged:
		return response{}, errors.New("agent returned a new report response but IndexReport is nil")
	}
	return resp, nil
}

func streamErr(ctx context.Context, op string, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("%s: %w", op, ctxErr)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// agentError maps an ErrorResponse to the client's errors.
func agentError(code int, msg string) error {
	switch code {
	case codeNotReady:
		return fmt.Errorf("%w: %s", errNotReady, msg)
	case codeUnknownMethod:
		return fmt.Errorf("%w: %s", errUnknownMethod, msg)
	case codeInternal:
		return fmt.Errorf("%w: %s", errInternal, msg)
	case codeBusy:
		return fmt.Errorf("%w: %s", errBusy, msg)
	}
	names := map[int]string{0: "ERROR_CODE_UNSPECIFIED", 4: "ERROR_CODE_MALFORMED_REQUEST", 5: "ERROR_CODE_REQUEST_TOO_LARGE",
		7: "ERROR_CODE_MAPPING_REQUIRED", 8: "ERROR_CODE_MAPPING_NOT_SENSOR_MANAGED"}
	name, ok := names[code]
	if !ok {
		name = strconv.Itoa(code)
	}
	return fmt.Errorf("agent error (%s): %s", name, msg)
}

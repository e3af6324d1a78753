//go:build linux

package kubevirttest

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log"
	"maps"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// startNodes gives each node an address in the lab's namespace, creates
// the Node with that InternalIP and the kubelet port, and starts the
// node's kubelet stand-in there.
func (l *Lab) startNodes(ctx context.Context) error {
	for _, n := range l.opts.Nodes {
		ip, err := l.net.AddAddress(ctx)
		if err != nil {
			return err
		}
		n.InternalIP = ip
		labels := map[string]string{"kubernetes.io/hostname": n.Name, "kubernetes.io/os": "linux"}
		maps.Copy(labels, n.Labels)
		n.Labels = labels
		if err := l.createNode(ctx, n); err != nil {
			return err
		}
		if err := l.startKubelet(ip); err != nil {
			return err
		}
		l.nodes = append(l.nodes, n)
	}
	return nil
}

func (l *Lab) createNode(ctx context.Context, n Node) error {
	node, err := l.client.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: n.Name, Labels: n.Labels}}, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("create node %s: %w", n.Name, err)
	}
	now := metav1.Now()
	node.Status = corev1.NodeStatus{
		Addresses:       []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: n.InternalIP}},
		DaemonEndpoints: corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: KubeletPort}},
		Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady",
			Message: "kubelet is posting ready status", LastHeartbeatTime: now, LastTransitionTime: now}},
		NodeInfo: corev1.NodeSystemInfo{KubeletVersion: "v1.37.2", OperatingSystem: "linux", Architecture: "amd64"},
	}
	if _, err := l.client.CoreV1().Nodes().UpdateStatus(ctx, node, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("node status %s: %w", n.Name, err)
	}
	return nil
}

// startKubelet serves the kubelet's container log endpoint on ip over TLS,
// admitting client certificates of the cluster CA (the API server's
// kubelet client certificate).
func (l *Lab) startKubelet(ip string) error {
	conf, err := l.pki.kubeletServer(ip, l.env.Admin.CAData)
	if err != nil {
		return err
	}
	ln, err := l.net.Listen(net.JoinHostPort(ip, strconv.Itoa(KubeletPort)))
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /containerLogs/{namespace}/{pod}/{container}", l.serveContainerLogs)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") })
	l.serve(ln, conf, mux)
	return nil
}

// serve runs an HTTPS server on ln until the lab closes.
func (l *Lab) serve(ln net.Listener, conf *tls.Config, h http.Handler) *http.Server {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, TLSConfig: conf,
		// A probe that connects and leaves is no error worth printing.
		ErrorLog: log.New(io.Discard, "", 0)}
	l.addCloser(srv)
	l.wg.Go(func() {
		var err error
		if conf != nil {
			err = srv.ServeTLS(ln, "", "")
		} else {
			err = srv.Serve(ln)
		}
		_ = err // http.ErrServerClosed once the lab closes
	})
	return srv
}

// serveContainerLogs answers GET /containerLogs/<ns>/<pod>/<container> with
// the parameters the API server passes from PodLogOptions: follow,
// timestamps, tailLines, sinceTime (RFC 3339), sinceSeconds, limitBytes.
// As the kubelet does, tailLines picks the last lines first, then the
// since filters drop older ones.
func (l *Lab) serveContainerLogs(w http.ResponseWriter, r *http.Request) {
	ns, pod, container := r.PathValue("namespace"), r.PathValue("pod"), r.PathValue("container")
	s, ok := l.logs.lookup(ns, pod, container)
	if !ok {
		http.Error(w, fmt.Sprintf("pod %q does not exist", ns+"/"+pod), http.StatusNotFound)
		return
	}
	q, err := parseLogQuery(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	out := &limitWriter{w: w, n: q.limitBytes}
	entries, next := s.since(0)
	if q.tail >= 0 && len(entries) > q.tail {
		entries = entries[len(entries)-q.tail:]
	}
	for {
		for _, e := range entries {
			if !q.since.IsZero() && e.at.Before(q.since) {
				continue
			}
			line := e.line + "\n"
			if q.timestamps {
				line = e.at.UTC().Format(time.RFC3339Nano) + " " + line
			}
			if !out.write(line) {
				return
			}
		}
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
		if !q.follow {
			return
		}
		select {
		case <-s.wait(next):
		case <-r.Context().Done():
			return
		case <-l.done:
			return
		}
		entries, next = s.since(next)
	}
}

type logQuery struct {
	follow, timestamps bool
	tail               int // -1: all
	since              time.Time
	limitBytes         int64 // 0: no limit
}

func parseLogQuery(r *http.Request) (logQuery, error) {
	v := r.URL.Query()
	q := logQuery{follow: v.Get("follow") == valueTrue, timestamps: v.Get("timestamps") == valueTrue, tail: -1}
	var err error
	if s := v.Get("tailLines"); s != "" {
		if q.tail, err = strconv.Atoi(s); err != nil {
			return q, fmt.Errorf("tailLines: %w", err)
		}
	}
	if s := v.Get("sinceTime"); s != "" {
		if q.since, err = time.Parse(time.RFC3339, s); err != nil {
			return q, fmt.Errorf("sinceTime: %w", err)
		}
	}
	if s := v.Get("sinceSeconds"); s != "" {
		secs, err := strconv.Atoi(s)
		if err != nil {
			return q, fmt.Errorf("sinceSeconds: %w", err)
		}
		q.since = time.Now().Add(-time.Duration(secs) * time.Second)
	}
	if s := v.Get("limitBytes"); s != "" {
		if q.limitBytes, err = strconv.ParseInt(s, 10, 64); err != nil {
			return q, fmt.Errorf("limitBytes: %w", err)
		}
	}
	return q, nil
}

// limitWriter writes at most n bytes (all when n is 0), cutting the last
// line as the kubelet does.
type limitWriter struct {
	w       io.Writer
	n, sent int64
}

// write reports whether more may be written.
func (lw *limitWriter) write(s string) bool {
	if lw.n > 0 && lw.sent+int64(len(s)) > lw.n {
		s = s[:lw.n-lw.sent]
	}
	k, err := io.WriteString(lw.w, s)
	lw.sent += int64(k)
	return err == nil && (lw.n == 0 || lw.sent < lw.n)
}

// logStore holds container logs by namespace/pod/container.
type logStore struct {
	mu      sync.Mutex
	streams map[string]*logStream
}

func newLogStore() *logStore { return &logStore{streams: map[string]*logStream{}} }

// stream returns the log of namespace/pod/container, creating it.
func (s *logStore) stream(ns, pod, container string) *logStream {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := ns + "/" + pod + "/" + container
	if st, ok := s.streams[k]; ok {
		return st
	}
	st := &logStream{grew: make(chan struct{})}
	s.streams[k] = st
	return st
}

func (s *logStore) lookup(ns, pod, container string) (*logStream, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.streams[ns+"/"+pod+"/"+container]
	return st, ok
}

// logStream is one container's log: lines with the time they were written.
type logStream struct {
	mu      sync.Mutex
	entries []logEntry
	grew    chan struct{} // closed and replaced on every write
}

type logEntry struct {
	at   time.Time
	line string
}

func (s *logStream) write(at time.Time, line string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.entries = append(s.entries, logEntry{at: at, line: line})
	close(s.grew)
	s.grew = make(chan struct{})
}

// since returns the entries from index i on and the index after them.
func (s *logStream) since(i int) ([]logEntry, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]logEntry(nil), s.entries[i:]...), len(s.entries)
}

// wait returns a channel that is closed once the log has more than n entries.
func (s *logStream) wait(n int) <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.entries) > n {
		c := make(chan struct{})
		close(c)
		return c
	}
	return s.grew
}

func (s *logStream) text() string {
	entries, _ := s.since(0)
	var b strings.Builder
	for _, e := range entries {
		b.WriteString(e.line)
		b.WriteByte('\n')
	}
	return b.String()
}

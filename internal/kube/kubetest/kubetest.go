//go:build linux

// Package kubetest runs a real etcd and kube-apiserver (RBAC on, loopback
// only) for integration tests. There is no controller-manager or scheduler:
// tests create Pods, EndpointSlices, ServiceAccounts and statuses themselves.
//
// The binaries come from hack/kube-assets.sh, which builds them once into
// ${XDG_CACHE_HOME:-$HOME/.cache}/sensorprobe/kube-<version>-etcd-<version>/.
// Set KUBE_ASSETS to use another directory. When the binaries are missing a
// test is skipped with a hint, unless the environment variable CI is set: then
// it fails.
package kubetest

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/sensorprobe/sensorprobe/internal/kube/kubeclient"
	"github.com/sensorprobe/sensorprobe/internal/standin"
	"github.com/sensorprobe/sensorprobe/internal/testsupport"
)

// AssetsVersion names the cache directory hack/kube-assets.sh builds into;
// keep it in step with tools/kube-apiserver/go.mod.
const AssetsVersion = "kube-v1.37.2-etcd-v3.7.0"

// AssetsDir returns where the kube-apiserver and etcd binaries are expected.
func AssetsDir() string {
	if d := os.Getenv("KUBE_ASSETS"); d != "" {
		return d
	}
	cache := os.Getenv("XDG_CACHE_HOME")
	if cache == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return ""
		}
		cache = filepath.Join(home, ".cache")
	}
	return filepath.Join(cache, "sensorprobe", AssetsVersion)
}

// RequireAssets returns the assets directory, or skips t (fails it when the
// environment variable CI is set) when the binaries are missing. Under
// go test -short (make test-short) it always skips: those are the unit
// tests alone.
func RequireAssets(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: this test runs a real kube-apiserver and etcd")
	}
	dir := AssetsDir()
	var missing []string
	for _, b := range []string{"kube-apiserver", "etcd"} {
		if _, err := os.Stat(filepath.Join(dir, b)); err != nil {
			missing = append(missing, b)
		}
	}
	if len(missing) == 0 {
		return dir
	}
	msg := fmt.Sprintf("%s missing in %s: run hack/kube-assets.sh first (builds them once, 15-30 min cold) or set KUBE_ASSETS",
		strings.Join(missing, " and "), dir)
	if os.Getenv("CI") != "" {
		t.Fatalf("CI is set and the integration test assets are missing: %s", msg)
	}
	t.Skip(msg)
	return ""
}

// Options adjust what Start runs. The zero value is what StartForTest uses.
type Options struct {
	// ServiceClusterIPRange is kube-apiserver's --service-cluster-ip-range;
	// empty means 10.96.0.0/16.
	ServiceClusterIPRange string
	// APIServerArgs are added to kube-apiserver's flags, e.g.
	// --advertise-address in a network namespace without a default route.
	APIServerArgs []string
	// Aggregation turns on what an aggregated API server and kubelets need
	// (see aggregation.go): a front-proxy CA and client certificate for the
	// aggregation layer (--requestheader-*, --proxy-client-*,
	// --enable-aggregator-routing=true, so APIServices are reached at their
	// Service's EndpointSlice addresses) and a kubelet client certificate
	// (--kubelet-client-*, InternalIP first) for pods/log, exec and the
	// like. The API server refuses loopback backends and nodes: they must
	// listen on other addresses (internal/kubevirttest makes some in a
	// network namespace).
	Aggregation bool
}

// Env is a running etcd and kube-apiserver. Create it with Start; Stop it
// when done (Start registers Stop with t.Cleanup only when asked to by
// StartForTest). Its methods are safe for use from one test goroutine.
type Env struct {
	// Admin is a client config for a system:masters user.
	Admin *rest.Config
	// Host is the API server's https://127.0.0.1:port.
	Host string

	dir, assets      string
	opts             Options
	etcdURL          string
	apiPort          int
	mu               sync.Mutex
	etcd, apiserver  *exec.Cmd
	etcdLog, apiLog  *testsupport.LockedBuffer
	apiDone, etcdEnd chan struct{}
	ca               *standin.CA // the cluster CA of ca.crt, for Options.Aggregation
}

// StartForTest is Start for one test: it skips or fails t when the assets are
// missing and stops the Env in t.Cleanup.
func StartForTest(t *testing.T) *Env {
	t.Helper()
	assets := RequireAssets(t)
	e, err := Start(t.Context(), assets, t.TempDir())
	if err != nil {
		t.Fatalf("start kube-apiserver: %v", err)
	}
	t.Cleanup(e.Stop)
	return e
}

// Start runs etcd and kube-apiserver from assets, with their data and
// certificates in dir, and waits until the API server is ready. The caller
// must call Stop.
func Start(ctx context.Context, assets, dir string) (*Env, error) {
	return StartWithOptions(ctx, assets, dir, Options{})
}

// StartWithOptions is Start with opts.
func StartWithOptions(ctx context.Context, assets, dir string, opts Options) (*Env, error) {
	if opts.ServiceClusterIPRange == "" {
		opts.ServiceClusterIPRange = "10.96.0.0/16"
	}
	e := &Env{dir: dir, assets: assets, opts: opts, etcdLog: &testsupport.LockedBuffer{}, apiLog: &testsupport.LockedBuffer{}}
	if err := e.writeCerts(); err != nil {
		return nil, err
	}
	if opts.Aggregation {
		if err := e.writeAggregationCerts(); err != nil {
			return nil, err
		}
	}
	if err := e.startEtcd(ctx); err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		e.Stop()
		return nil, err
	}
	e.apiPort = port
	e.Host = "https://127.0.0.1:" + strconv.Itoa(port)
	ca, _ := os.ReadFile(filepath.Join(dir, "ca.crt"))
	e.Admin = &rest.Config{
		Host: e.Host,
		TLSClientConfig: rest.TLSClientConfig{
			CAData:   ca,
			CertFile: filepath.Join(dir, "admin.crt"),
			KeyFile:  filepath.Join(dir, "admin.key"),
		},
		QPS:   100,
		Burst: 200,
	}
	if err := e.StartAPIServer(ctx); err != nil {
		e.Stop()
		return nil, err
	}
	return e, nil
}

// Logs returns what etcd and kube-apiserver have written so far, for failure messages.
func (e *Env) Logs() string {
	return "--- etcd ---\n" + tail(e.etcdLog.String(), 4000) + "\n--- kube-apiserver ---\n" + tail(e.apiLog.String(), 8000)
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

func (e *Env) startEtcd(ctx context.Context) error {
	client, err := freePort()
	if err != nil {
		return err
	}
	peer, err := freePort()
	if err != nil {
		return err
	}
	e.etcdURL = "http://127.0.0.1:" + strconv.Itoa(client)
	peerURL := "http://127.0.0.1:" + strconv.Itoa(peer)
	cmd := exec.Command(filepath.Join(e.assets, "etcd"),
		"--name=default",
		"--data-dir="+filepath.Join(e.dir, "etcd"),
		"--listen-client-urls="+e.etcdURL,
		"--advertise-client-urls="+e.etcdURL,
		"--listen-peer-urls="+peerURL,
		"--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=default="+peerURL,
		"--unsafe-no-fsync",
		"--log-level=warn",
	)
	cmd.Stdout, cmd.Stderr = e.etcdLog, e.etcdLog
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start etcd: %w", err)
	}
	e.etcd = cmd
	e.etcdEnd = make(chan struct{})
	go func() { _ = cmd.Wait(); close(e.etcdEnd) }()
	return waitFor(ctx, 60*time.Second, e.etcdEnd, func() error {
		resp, err := http.Get(e.etcdURL + "/health")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("etcd /health: %s", resp.Status)
		}
		return nil
	}, e.etcdLog)
}

// StartAPIServer starts kube-apiserver (again, after StopAPIServer) on the
// same port and etcd, and waits until /readyz answers.
func (e *Env) StartAPIServer(ctx context.Context) error {
	d := e.dir
	args := []string{
		"--etcd-servers=" + e.etcdURL,
		"--bind-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(e.apiPort),
		"--tls-cert-file=" + filepath.Join(d, "serving.crt"),
		"--tls-private-key-file=" + filepath.Join(d, "serving.key"),
		"--client-ca-file=" + filepath.Join(d, "ca.crt"),
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + filepath.Join(d, "sa.pub"),
		"--service-account-signing-key-file=" + filepath.Join(d, "sa.key"),
		"--authorization-mode=RBAC",
		"--service-cluster-ip-range=" + e.opts.ServiceClusterIPRange,
		"--profiling=false",
		"--v=0",
	}
	if !hasDefaultRoute() {
		// Without a default route the API server cannot pick an advertise
		// address for the kubernetes Service's endpoints.
		args = append(args, "--endpoint-reconciler-type=none")
	}
	if e.opts.Aggregation {
		args = append(args, e.aggregationArgs()...)
	}
	args = append(args, e.opts.APIServerArgs...)
	cmd := exec.Command(filepath.Join(e.assets, "kube-apiserver"), args...)
	cmd.Stdout, cmd.Stderr = e.apiLog, e.apiLog
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start kube-apiserver: %w", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	e.mu.Lock()
	e.apiserver, e.apiDone = cmd, done
	e.mu.Unlock()

	hc, err := rest.HTTPClientFor(e.Admin)
	if err != nil {
		return fmt.Errorf("admin client: %w", err)
	}
	return waitFor(ctx, 120*time.Second, done, func() error {
		resp, err := hc.Get(e.Host + "/readyz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("/readyz: %s", resp.Status)
		}
		return nil
	}, e.apiLog)
}

// StopAPIServer stops kube-apiserver (SIGTERM, then SIGKILL after 10 s) and
// waits for it to exit; etcd keeps running.
func (e *Env) StopAPIServer() {
	e.mu.Lock()
	cmd, done := e.apiserver, e.apiDone
	e.apiserver = nil
	e.mu.Unlock()
	stop(cmd, done)
}

// Stop stops kube-apiserver and etcd.
func (e *Env) Stop() {
	e.StopAPIServer()
	stop(e.etcd, e.etcdEnd)
	e.etcd = nil
}

func stop(cmd *exec.Cmd, done chan struct{}) {
	if cmd == nil || cmd.Process == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

// waitFor polls check every 200 ms until it succeeds, the process exits
// (exited is closed), ctx is done or limit passes.
func waitFor(ctx context.Context, limit time.Duration, exited <-chan struct{}, check func() error, log *testsupport.LockedBuffer) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		if last = check(); last == nil {
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("process exited before it was ready: %w\n%s", last, tail(log.String(), 4000))
		case <-ctx.Done():
			return fmt.Errorf("not ready: %w (last check: %w)\n%s", ctx.Err(), last, tail(log.String(), 4000))
		case <-tick.C:
		}
	}
}

// hasDefaultRoute reports whether the IPv4 main table has a default route
// that can carry packets: an unreachable or prohibit default (RTF_REJECT), as
// in a test network namespace, does not count.
func hasDefaultRoute() bool {
	b, err := os.ReadFile("/proc/net/route")
	if err != nil {
		return false
	}
	const rtfReject = 0x0200
	for _, line := range strings.Split(string(b), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) < 4 || f[1] != "00000000" {
			continue
		}
		if flags, err := strconv.ParseUint(f[3], 16, 32); err == nil && flags&rtfReject == 0 {
			return true
		}
	}
	return false
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// writeCerts writes a CA, the API server's serving pair (127.0.0.1,
// localhost), an admin client pair in group system:masters, and the service
// account signing key pair. The certificates come from the stand-in PKI the
// other tests use.
func (e *Env) writeCerts() error {
	ca, err := standin.NewCA("kubetest CA")
	if err != nil {
		return err
	}
	e.ca = ca
	if err := os.WriteFile(filepath.Join(e.dir, "ca.crt"), ca.PEM(), 0o600); err != nil {
		return fmt.Errorf("write ca.crt: %w", err)
	}
	for name, o := range map[string]standin.LeafOptions{
		"serving": {CommonName: "kube-apiserver", DNSNames: []string{"localhost"},
			IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}},
		"admin": {CommonName: "kubetest-admin", Organization: []string{"system:masters"}, Client: true},
	} {
		cert, err := ca.Issue(o)
		if err != nil {
			return fmt.Errorf("%s certificate: %w", name, err)
		}
		certPEM, keyPEM, err := standin.KeyPairPEM(cert)
		if err != nil {
			return fmt.Errorf("%s certificate: %w", name, err)
		}
		if err := os.WriteFile(filepath.Join(e.dir, name+".crt"), certPEM, 0o600); err != nil {
			return fmt.Errorf("write %s.crt: %w", name, err)
		}
		if err := os.WriteFile(filepath.Join(e.dir, name+".key"), keyPEM, 0o600); err != nil {
			return fmt.Errorf("write %s.key: %w", name, err)
		}
	}
	saKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return fmt.Errorf("service account key: %w", err)
	}
	pub, err := x509.MarshalPKIXPublicKey(&saKey.PublicKey)
	if err != nil {
		return fmt.Errorf("service account key: %w", err)
	}
	if err := writePEM(filepath.Join(e.dir, "sa.key"), "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(saKey)); err != nil {
		return err
	}
	return writePEM(filepath.Join(e.dir, "sa.pub"), "PUBLIC KEY", pub)
}

func writePEM(path, typ string, der []byte) error {
	b := pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// AdminClient returns a clientset for the system:masters user.
func (e *Env) AdminClient(t testing.TB) kubernetes.Interface {
	t.Helper()
	c, err := kubernetes.NewForConfig(e.Admin)
	if err != nil {
		t.Fatalf("admin client: %v", err)
	}
	return c
}

// ProbeClient returns the probe's own narrow client (internal/kube/kubeclient)
// for the system:masters user, for handing to the code under test; set up
// the cluster with AdminClient.
func (e *Env) ProbeClient(t testing.TB) kubeclient.Interface {
	t.Helper()
	return NewProbeClient(t, e.Admin)
}

// NewProbeClient returns the probe's own narrow client for cfg.
func NewProbeClient(t testing.TB, cfg *rest.Config) kubeclient.Interface {
	t.Helper()
	c, err := kubeclient.NewForConfig(cfg)
	if err != nil {
		t.Fatalf("probe client: %v", err)
	}
	return c
}

// ServiceAccountConfig returns a client config that authenticates as
// ServiceAccount namespace/name with a token from the TokenRequest API, the
// way a pod's projected token does. The ServiceAccount must exist.
func (e *Env) ServiceAccountConfig(ctx context.Context, t testing.TB, namespace, name string) *rest.Config {
	t.Helper()
	admin := e.AdminClient(t)
	exp := int64(3600)
	tr, err := admin.CoreV1().ServiceAccounts(namespace).CreateToken(ctx, name, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &exp},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("token for serviceaccount %s/%s: %v", namespace, name, err)
	}
	cfg := rest.AnonymousClientConfig(e.Admin)
	cfg.BearerToken = tr.Status.Token
	return cfg
}

// EnsureNamespace creates namespace ns and its default ServiceAccount (which
// the ServiceAccount admission plugin requires before Pods can be created, and
// which no controller-manager creates here). It is not an error if they exist.
func EnsureNamespace(ctx context.Context, t testing.TB, c kubernetes.Interface, ns string) {
	t.Helper()
	_, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("create namespace %s: %v", ns, err)
	}
	_, err = c.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("create serviceaccount %s/default: %v", ns, err)
	}
}

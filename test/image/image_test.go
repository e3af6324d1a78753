package image

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sensorprobe/sensorprobe/internal/standin"
)

// The DaemonSet's identity: distroless "nonroot" (deploy/base/daemonset.yaml).
const uid = "65532"

// guard bounds each wait; a deadlock guard, not a timing assertion.
const guard = 90 * time.Second

// requirePodman skips (or, under CI=true, fails) unless the test runs as
// root with podman and runc installed.
func requirePodman(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: builds and runs the container image")
	}
	var missing []string
	if os.Geteuid() != 0 {
		missing = append(missing, "root (podman's default storage and --network host)")
	}
	for _, tool := range []string{"podman", "runc", "go"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	if len(missing) == 0 {
		return
	}
	msg := fmt.Sprintf("the image test needs %s; on Debian: apt-get install podman runc (as root)", strings.Join(missing, ", "))
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// run runs a command, bounded by ctx, and returns its trimmed standard output.
func run(ctx context.Context, t *testing.T, name string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.CommandContext(ctx, name, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, stderr.String())
	}
	return strings.TrimSpace(string(out)), nil
}

// mustRun is run that fails the test on error.
func mustRun(ctx context.Context, t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := run(ctx, t, name, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// repoRoot is two levels above this package.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// procStatus returns the fields of /proc/PID/status.
func procStatus(t *testing.T, pid string) map[string]string {
	t.Helper()
	f, err := os.Open("/proc/" + pid + "/status")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), ":")
		m[k] = strings.TrimSpace(v)
	}
	return m
}

// rootMountOptions returns the mount options of the process's root
// filesystem, from /proc/PID/mountinfo.
func rootMountOptions(t *testing.T, pid string) string {
	t.Helper()
	b, err := os.ReadFile("/proc/" + pid + "/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		// id parent major:minor root mountpoint options ...
		f := strings.Fields(line)
		if len(f) > 5 && f[4] == "/" {
			return f[5]
		}
	}
	t.Fatalf("no root mount in /proc/%s/mountinfo", pid)
	return ""
}

// TestImageRunsLockedDown builds the image from the Dockerfile and runs it as
// the DaemonSet does — UID 65532, read-only root filesystem, no capabilities,
// no new privileges, host network, the StackRox CA mounted read-only — with a
// loopback TLS stand-in for sensor as the only target, scrapes /metrics from
// the host, and stops it as the kubelet would (SIGTERM).
func TestImageRunsLockedDown(t *testing.T) {
	requirePodman(t)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	defer cancel()
	suffix := make([]byte, 4)
	rand.Read(suffix)
	name := "sensorprobe-imagetest-" + hex.EncodeToString(suffix)
	image := "localhost/" + name + ":test"

	// The build context: the Dockerfile and a static binary for this
	// machine's architecture where the Dockerfile expects it
	// (bin/<os>_<arch>/probe, as `make image` lays it out).
	buildDir := t.TempDir()
	root := repoRoot(t)
	bin := filepath.Join(buildDir, "bin", "linux_"+runtime.GOARCH, "probe")
	build := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", bin, "./cmd/probe")
	build.Dir = root
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	dockerfile, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(buildDir, "Dockerfile"), dockerfile, 0o644); err != nil {
		t.Fatal(err)
	}

	// Clean up whatever happens below; registered before anything exists.
	t.Cleanup(func() {
		cctx, ccancel := context.WithTimeout(context.WithoutCancel(t.Context()), guard)
		defer ccancel()
		if t.Failed() {
			if logs, _ := run(cctx, t, "podman", "logs", name); logs != "" {
				t.Logf("container log:\n%s", logs)
			}
		}
		exec.CommandContext(cctx, "podman", "rm", "-f", "-t", "0", name).Run()
		exec.CommandContext(cctx, "podman", "rmi", "-f", image).Run()
		if out, _ := run(cctx, t, "podman", "ps", "-a", "-q", "--filter", "name=^"+name+"$"); out != "" {
			t.Errorf("container %s still exists after clean-up", name)
		}
		if out, _ := run(cctx, t, "podman", "images", "-q", image); out != "" {
			t.Errorf("image %s still exists after clean-up", image)
		}
	})
	mustRun(ctx, t, "podman", "build", "--pull=never", "--build-arg", "BASE=scratch",
		"--build-arg", "TARGETOS=linux", "--build-arg", "TARGETARCH="+runtime.GOARCH, "-t", image, buildDir)

	// Sensor's stand-in on loopback with the real SAN set, and the CA the
	// probe verifies it with, mounted where the DaemonSet mounts its CA
	// sources (as the ConfigMap tls-ca-bundle's ca-bundle.pem).
	ca, err := standin.NewCA(standin.CAName)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.Issue(standin.LeafOptions{CommonName: "SENSOR_SERVICE", DNSNames: standin.SensorSANs("stackrox")})
	if err != nil {
		t.Fatal(err)
	}
	sensor, err := standin.NewSensor(standin.SensorConfig{Addr: "127.0.0.1:0", Cert: cert})
	if err != nil {
		t.Fatal(err)
	}
	defer sensor.Close()
	certs := t.TempDir()
	if err := os.Chmod(certs, 0o755); err != nil { // readable by UID 65532
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(certs, "ca-bundle.pem"), ca.PEM(), 0o444); err != nil {
		t.Fatal(err)
	}

	port := freePort(t)
	mustRun(ctx, t, "podman", "run", "-d", "--name", name,
		"--runtime", "runc", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024",
		"--user", uid+":"+uid, "--read-only", "--cap-drop=ALL", "--security-opt", "no-new-privileges",
		"--network", "host",
		"-v", certs+":/run/secrets/stackrox.io/ca:ro", // the DaemonSet's projected volume, --ca-dir's default
		image,
		"--kube=false", "--target", "hostport="+sensor.Addr(),
		"--web.listen-address", "127.0.0.1:"+strconv.Itoa(port), "--log.format", "json")

	base := "http://127.0.0.1:" + strconv.Itoa(port)
	c := &http.Client{Timeout: 5 * time.Second}
	get := func(path string) (int, string) {
		resp, err := c.Get(base + path)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for deadline := time.Now().Add(guard); ; {
		if code, _ := get("/readyz"); code == http.StatusOK {
			break
		}
		if state, _ := run(ctx, t, "podman", "inspect", "--format", "{{.State.Status}}", name); state != "running" {
			t.Fatalf("the container is %q, not running", state)
		}
		if time.Now().After(deadline) {
			t.Fatal("the probe in the container never became ready")
		}
		time.Sleep(200 * time.Millisecond)
	}

	code, metrics := get("/metrics")
	if code != http.StatusOK {
		t.Fatalf("GET /metrics from the host: status %d", code)
	}
	for _, want := range []string{
		`sensorprobe_path_up{path="hostport"} 1`,           // reached the stand-in over the host network
		`sensorprobe_tls_cert_verified{path="hostport"} 1`, // with the mounted CA
		"sensorprobe_probe_panics_total 0",
	} {
		if !strings.Contains(metrics, "\n"+want+"\n") {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if sensor.Requests() == 0 {
		t.Error("the stand-in saw no request from the probe")
	}

	// The process runs as the DaemonSet says, seen from the host's /proc.
	pid := mustRun(ctx, t, "podman", "inspect", "--format", "{{.State.Pid}}", name)
	st := procStatus(t, pid)
	for _, check := range []struct{ field, want string }{
		{"Uid", uid + "\t" + uid + "\t" + uid + "\t" + uid},
		{"Gid", uid + "\t" + uid + "\t" + uid + "\t" + uid},
		{"CapInh", "0000000000000000"},
		{"CapPrm", "0000000000000000"},
		{"CapEff", "0000000000000000"},
		{"CapBnd", "0000000000000000"},
		{"CapAmb", "0000000000000000"},
		{"NoNewPrivs", "1"},
	} {
		if got := st[check.field]; got != check.want {
			t.Errorf("/proc/%s/status %s = %q, want %q", pid, check.field, got, check.want)
		}
	}
	if opts := strings.Split(rootMountOptions(t, pid), ","); opts[0] != "ro" {
		t.Errorf("root filesystem mounted %v, want read-only", opts)
	}
	hostNet, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	if ns, err := os.Readlink("/proc/" + pid + "/ns/net"); err != nil || ns != hostNet {
		t.Errorf("the container's network namespace is %q (%v), want the host's %q", ns, err, hostNet)
	}

	// Stopped as the kubelet stops it: SIGTERM, then SIGKILL after a grace
	// period (here 10 s, as terminationGracePeriodSeconds). Exit status 0
	// means the probe stopped on SIGTERM, before any SIGKILL.
	stopStart := time.Now()
	mustRun(ctx, t, "podman", "stop", "-t", "10", name)
	stopped := time.Since(stopStart)
	if exit := mustRun(ctx, t, "podman", "inspect", "--format", "{{.State.ExitCode}}", name); exit != "0" {
		t.Errorf("exit code after podman stop: %s, want 0 (stopped by SIGTERM, not killed)", exit)
	}
	t.Logf("image %s: ready and scraped; podman stop took %v", image, stopped)
}

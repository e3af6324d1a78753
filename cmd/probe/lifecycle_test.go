package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// buildOnce builds the probe binary for the tests that run it as a process.
var buildOnce = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "sensorprobe-bin-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "probe")
	cmd := exec.Command("go", "build", "-trimpath", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", errors.New("go build: " + err.Error() + "\n" + string(out))
	}
	return bin, nil
})

func TestMain(m *testing.M) {
	code := m.Run()
	if bin, err := buildOnce(); err == nil {
		os.RemoveAll(filepath.Dir(bin))
	}
	os.Exit(code)
}

// probeBinary returns the path of the built probe binary.
func probeBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: builds and runs the probe binary")
	}
	if _, err := exec.LookPath("go"); err != nil {
		t.Fatalf("the go command is needed to build the probe: %v", err)
	}
	bin, err := buildOnce()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// process is the probe running as a child process with JSON logs on stderr.
type process struct {
	cmd    *exec.Cmd
	addr   string // the metrics listener, from the start-up log line
	stderr *lockedBuffer
	exited chan struct{}
	err    error // cmd.Wait's result, set before exited is closed
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// startProbe runs the binary with args (plus a loopback listener on a free
// port and JSON logs) and waits for its start-up log line. The process is
// killed when the test ends, if still running.
func startProbe(t *testing.T, args ...string) *process {
	t.Helper()
	bin := probeBinary(t)
	args = append([]string{"--web.listen-address", "127.0.0.1:0", "--log.format", "json", "--log.level", "info"}, args...)
	cmd := exec.Command(bin, args...)
	cmd.Env = []string{"PATH=/usr/bin:/bin"} // no KUBECONFIG, no NODE_NAME from the test's environment
	pr, pw := io.Pipe()
	p := &process{cmd: cmd, stderr: &lockedBuffer{}, exited: make(chan struct{})}
	cmd.Stderr = io.MultiWriter(p.stderr, pw)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = cmd.Wait()
		pw.Close()
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			cmd.Process.Kill()
			<-p.exited
		}
		if t.Failed() {
			t.Logf("probe's log:\n%s", p.stderr.String())
		}
	})
	listen := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			var line struct{ Msg, Listen string }
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "starting sensorprobe" {
				listen <- line.Listen
			}
		}
		io.Copy(io.Discard, pr)
	}()
	select {
	case p.addr = <-listen:
	case <-p.exited:
		t.Fatalf("the probe exited at start: %v\n%s", p.err, p.stderr.String())
	case <-time.After(guard):
		t.Fatalf("no start-up line from the probe:\n%s", p.stderr.String())
	}
	return p
}

const guard = 20 * time.Second

// get returns the status code of GET url, or 0 when no answer came.
func getCode(c *http.Client, url string) (int, string) {
	resp, err := c.Get(url)
	if err != nil {
		return 0, ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// blackhole accepts connections and never answers on them, so an attempt's
// TLS handshake waits until its timeout — except the first connection,
// which it closes at once, so that the first round ends quickly and the
// probe becomes ready. Every accepted connection is sent on conns.
func blackhole(t *testing.T) (addr string, conns <-chan net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan net.Conn, 16)
	var held []net.Conn
	var mu sync.Mutex
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			c.Close()
		}
	})
	go func() {
		for first := true; ; first = false {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if first {
				c.Close()
				continue
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
			ch <- c
		}
	}()
	return ln.Addr().String(), ch
}

// On SIGTERM the probe stops being ready at once, cancels the attempt in
// flight (whose own timeout is 5 s away) and exits 0 within 2 s.
func TestSIGTERMCancelsAttemptsAndExitsPromptly(t *testing.T) {
	target, conns := blackhole(t)
	p := startProbe(t, "--kube=false", "--target", "hole="+target, "--timeout", "5s", "--interval", "5s")
	c := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	base := "http://" + p.addr

	// Ready after the first round (the first connection is closed at once).
	for deadline := time.Now().Add(guard); ; {
		if code, _ := getCode(c, base+"/readyz"); code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the probe never became ready")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Wait for the next attempt: connected, its TLS handshake now waiting
	// for an answer that never comes.
	var held net.Conn
	select {
	case held = <-conns:
	case <-time.After(guard):
		t.Fatal("no second attempt reached the blackhole")
	}
	if code, body := getCode(c, base+"/metrics"); code != http.StatusOK || !strings.Contains(body, "\nsensorprobe_probe_panics_total 0\n") {
		t.Errorf("GET /metrics: status %d; want 200 and sensorprobe_probe_panics_total 0", code)
	}

	sent := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// Not ready from the signal on: /readyz fails (503, or no answer once
	// the listener is closed) and never answers 200 again.
	var notReady time.Duration
	for {
		code, _ := getCode(c, base+"/readyz")
		if code != http.StatusOK {
			notReady = time.Since(sent)
			break
		}
		if time.Since(sent) > guard {
			t.Fatal("/readyz still answers 200 after SIGTERM")
		}
	}
	// The attempt in flight is cancelled: the probe closes its connection.
	held.SetReadDeadline(time.Now().Add(guard))
	if _, err := io.Copy(io.Discard, held); err != nil {
		t.Errorf("the attempt's connection after SIGTERM: %v, want it closed by the probe", err)
	}
	select {
	case <-p.exited:
	case <-time.After(guard):
		t.Fatal("the probe did not exit after SIGTERM")
	}
	exit := time.Since(sent)
	if p.err != nil {
		t.Errorf("exit after SIGTERM: %v, want status 0", p.err)
	}
	if exit > 2*time.Second {
		t.Errorf("exit took %v after SIGTERM, want at most 2s (the attempt in flight had 5s left)", exit)
	}
	if code, _ := getCode(c, base+"/readyz"); code == http.StatusOK {
		t.Error("/readyz answers 200 after the probe exited")
	}
	t.Logf("SIGTERM to /readyz failing: %v; SIGTERM to exit: %v", notReady, exit)
}

// With --web.status=false the status page and its JSON are not served;
// metrics and health are.
func TestWebStatusFalse(t *testing.T) {
	refused, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	target := refused.Addr().String()
	refused.Close() // nothing listens there now: each attempt is refused at once

	tests := []struct {
		name     string
		args     []string
		wantPage int
	}{
		{name: "default", wantPage: http.StatusOK},
		{name: "--web.status=false", args: []string{"--web.status=false"}, wantPage: http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := startProbe(t, append([]string{"--kube=false", "--target", "gone=" + target}, tt.args...)...)
			c := &http.Client{Timeout: 2 * time.Second}
			base := "http://" + p.addr
			for _, path := range []string{"/", "/status"} {
				if code, _ := getCode(c, base+path); code != tt.wantPage {
					t.Errorf("GET %s: status %d, want %d", path, code, tt.wantPage)
				}
			}
			for _, path := range []string{"/metrics", "/healthz"} {
				if code, _ := getCode(c, base+path); code != http.StatusOK {
					t.Errorf("GET %s: status %d, want 200", path, code)
				}
			}
			p.cmd.Process.Signal(syscall.SIGTERM)
			<-p.exited
			if p.err != nil {
				t.Errorf("exit: %v", p.err)
			}
		})
	}
}

// A web configuration file that the toolkit would refuse stops the daemon
// before it starts (exit 2, one line naming the flag), and --check-config
// finds it too; a good one passes.
func TestWebConfigValidatedAtStart(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yml")
	if err := os.WriteFile(bad, []byte("basic_auth_users:\n  prometheus: not-a-bcrypt-hash\nunknown_key: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	good := filepath.Join(dir, "good.yml")
	if err := os.WriteFile(good, []byte("basic_auth_users:\n  prometheus: $2y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string // prefix of the only stderr line
	}{
		{name: "daemon, malformed", args: []string{"--web.config.file", bad}, wantCode: exitUsage, wantErr: `--web.config.file: "` + bad + `": yaml: unmarshal errors:`},
		{name: "check-config, malformed", args: []string{"--check-config", "--web.config.file", bad}, wantCode: exitUsage, wantErr: `--web.config.file: "` + bad + `": `},
		{name: "check-config, missing", args: []string{"--check-config", "--web.config.file", filepath.Join(dir, "nope.yml")}, wantCode: exitUsage, wantErr: `--web.config.file: "` + filepath.Join(dir, "nope.yml") + `": open `},
		{name: "check-config, valid", args: []string{"--check-config", "--web.config.file", good}, wantCode: exitOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			args := append([]string{"--kube=false", "--target", "a=127.0.0.1:1", "--web.listen-address", "127.0.0.1:0"}, tt.args...)
			code := run(context.Background(), args, &stdout, &stderr)
			if code != tt.wantCode {
				t.Fatalf("exit %d, want %d; stderr:\n%s", code, tt.wantCode, stderr.String())
			}
			if tt.wantErr == "" {
				if !strings.Contains(stdout.String(), "configuration is valid") {
					t.Errorf("stdout %q, want the configuration", stdout.String())
				}
				return
			}
			lines := strings.Split(strings.TrimRight(stderr.String(), "\n"), "\n")
			if len(lines) != 1 || !strings.HasPrefix(lines[0], tt.wantErr) {
				t.Errorf("stderr:\n%s\nwant one line starting with %q", stderr.String(), tt.wantErr)
			}
		})
	}
}

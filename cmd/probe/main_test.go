package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/sensorprobe/sensorprobe/internal/standin"
)

// writePKI writes a CA, and a client key pair whose key belongs to another
// certificate, for the bad-input cases.
func writePKI(t *testing.T) (ca, cert, key, otherKey string) {
	t.Helper()
	dir := t.TempDir()
	c, err := standin.NewCA(standin.CAName)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := c.Issue(standin.LeafOptions{CommonName: "a", Client: true})
	b, _ := c.Issue(standin.LeafOptions{CommonName: "b", Client: true})
	aCert, aKey, _ := standin.KeyPairPEM(a)
	_, bKey, _ := standin.KeyPairPEM(b)
	files := map[string][]byte{"ca.pem": c.PEM(), "cert.pem": aCert, "key.pem": aKey, "other-key.pem": bKey}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(dir, "ca.pem"), filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"), filepath.Join(dir, "other-key.pem")
}

func TestBadInput(t *testing.T) {
	_, cert, _, otherKey := writePKI(t)
	tests := []struct {
		name  string
		args  []string
		lines []string
	}{
		{name: "unknown flag", args: []string{"--bogus"}, lines: []string{"flag provided but not defined: -bogus (see probe --help)"}},
		{name: "privileged beacon port", args: []string{"--kube=false", "--target", "hostport=127.0.0.1:8443", "--vsock.listen-port", "900"},
			lines: []string{"--vsock.listen-port: 900 is below 1024; binding it needs CAP_NET_BIND_SERVICE, which the pod drops (choose 1024 or above)"}},
		{name: "bad duration", args: []string{"--kube=false", "--target", "hostport=127.0.0.1:8443", "--interval", "soon"},
			lines: []string{`--interval: invalid duration "soon" (examples: 500ms, 10s, 1m)`}},
		{name: "port out of range", args: []string{"--kube=false", "--target", "podip=10.0.0.1:70000"},
			lines: []string{`--target: address "10.0.0.1:70000": port out of range (1 to 65535)`}},
		{name: "unreadable CA", args: []string{"--kube=false", "--target", "dns=sensor.stackrox.svc:443", "--ca-file", "/nonexistent/ca.pem"},
			lines: []string{`--ca-file: CA file /nonexistent/ca.pem: open: no such file or directory`}},
		{name: "cert and key mismatch", args: []string{"--kube=false", "--target", "dns=sensor.stackrox.svc:443", "--cert-file", cert, "--key-file", otherKey},
			lines: []string{`--cert-file/--key-file: client certificate "` + cert + `"/"` + otherKey + `": tls: private key does not match public key`}},
		{name: "cert without key", args: []string{"--kube=false", "--target", "dns=sensor.stackrox.svc:443", "--cert-file", cert},
			lines: []string{`--cert-file/--key-file: client certificate "` + cert + `"/"": a client certificate needs both a certificate and a key file`}},
		{name: "empty path set", args: []string{"--kube=false"},
			lines: []string{"--target: no paths to probe; give at least one --target NAME=HOST:PORT, or run in a cluster with --kube"}},
		{name: "every problem at once", args: []string{"--kube=false", "--interval", "x", "--timeout", "-1s", "--check", "icmp", "--log.format", "xml", "--target", "Bad Name=h:1"},
			lines: []string{
				`--timeout: must be positive, got "-1s"`,
				`--check: "icmp" is not one of http, grpc, tcp`,
				`--target: path name "Bad Name": use up to 32 of a-z, 0-9, _ and -`,
				`--log.format: "xml" is not one of text, json`,
				`--interval: invalid duration "x" (examples: 500ms, 10s, 1m)`,
			}},
		{name: "timeout longer than interval", args: []string{"--kube=false", "--target", "a=127.0.0.1:1", "--interval", "1s", "--timeout", "2s"},
			lines: []string{"--timeout: 2s is longer than --interval 1s; an attempt must end before the next is due"}},
		{name: "check: bad output", args: []string{"check", "--kube=false", "--target", "a=127.0.0.1:1", "--output", "yaml"},
			lines: []string{`--output: "yaml" is not one of table, json`}},
		{name: "check --cluster: bad output and port", args: []string{"check", "--cluster", "--output", "yaml", "--probe-port", "0"},
			lines: []string{`--output: "yaml" is not one of table, json`, `--probe-port: 0 out of range (1 to 65535)`}},
		{name: "fix: bad strategy", args: []string{"fix", "--strategy", "nodeport"},
			lines: []string{`--strategy: "nodeport" is not one of networkpolicy, pod-network, hostport`}},
		{name: "fix: missing kubeconfig", args: []string{"fix", "--kubeconfig", "/nonexistent/kubeconfig"},
			lines: []string{`probe: kubeconfig: stat /nonexistent/kubeconfig: no such file or directory`}},
		{name: "demo: bad scenario", args: []string{"demo", "--scenario", "chaos"},
			lines: []string{`--scenario: "chaos" is not one of healthy, networkpolicy, pull, sensor-down, service-routing, stock`}},
		{name: "stray argument", args: []string{"--kube=false", "extra"}, lines: []string{`unexpected argument "extra" (see probe --help)`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), tc.args, &stdout, &stderr)
			if code != exitUsage {
				t.Errorf("exit code = %d, want %d; stderr:\n%s", code, exitUsage, stderr.String())
			}
			got := strings.Split(strings.TrimRight(stderr.String(), "\n"), "\n")
			if diff := cmp.Diff(tc.lines, got); diff != "" {
				t.Errorf("stderr lines (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCheckConfig(t *testing.T) {
	ca, cert, key, _ := writePKI(t)
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"--kube=false", "--check-config", "--ca-file", ca, "--cert-file", cert, "--key-file", key,
		"--target", "hostport=127.0.0.1:8443", "--target", "hostport=127.0.0.1:9443"}, &stdout, &stderr)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	for _, want := range []string{"configuration is valid", "verify true, client certificate true", "target hostport = 127.0.0.1:9443"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("--check-config output lacks %q:\n%s", want, stdout.String())
		}
	}
}

func TestHelpExitsZero(t *testing.T) {
	tests := []struct {
		args []string
		head string // the usage's first line, printed exactly once
		flag string // a flag the usage lists
	}{
		{[]string{"--help"}, "Usage: probe [flags]", "-web.listen-address"},
		{[]string{"check", "-h"}, "Usage: probe check [flags]", "-output"},
		{[]string{"demo", "--help"}, "Usage: probe demo [flags]", "-scenario"},
		{[]string{"check", "--cluster", "--help"}, "Usage: probe check --cluster [flags]", "-probe-port"},
		{[]string{"fix", "--help"}, "Usage: probe fix [flags]", "-strategy"},
		{[]string{"vsock-ping", "--help"}, "Usage: probe vsock-ping", "-port"},
		{[]string{"simulate", "--help"}, "Usage: probe simulate", "-inject-at"},
	}
	for _, tt := range tests {
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), tt.args, &stdout, &stderr); code != exitOK {
			t.Errorf("%v: exit %d", tt.args, code)
		}
		out := stdout.String()
		if n := strings.Count(out, tt.head); n != 1 || !strings.Contains(out, tt.flag) {
			t.Errorf("%v: usage header printed %d times (want 1), flag %s listed: %v:\n%s", tt.args, n, tt.flag, strings.Contains(out, tt.flag), out)
		}
		if stderr.Len() > 0 {
			t.Errorf("%v: stderr %q, want nothing", tt.args, stderr.String())
		}
	}
}

// TestBusyPort checks the one-line message when the metrics port is taken,
// as it is when collector holds :9090 on a hostNetwork node.
func TestBusyPort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"--kube=false", "--target", "a=127.0.0.1:1", "--web.listen-address", ln.Addr().String(), "--log.format", "json"}, &stdout, &stderr)
	if code != exitFailure {
		t.Errorf("exit %d, want %d", code, exitFailure)
	}
	want := "address " + ln.Addr().String() + " is already in use (on a hostNetwork node collector holds :9090); choose another with --web.listen-address"
	if !strings.Contains(stderr.String(), want) || strings.Count(strings.TrimSpace(stderr.String()), "\n") != 0 {
		t.Errorf("stderr = %q, want one line containing %q", stderr.String(), want)
	}
}

// TestHelpPrintedOnce checks that -h and --help print each command's usage
// exactly once, on stdout, and nothing on stderr.
func TestHelpPrintedOnce(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		header string
	}{
		{name: "daemon --help", args: []string{"--help"}, header: "Usage: probe [flags]"},
		{name: "daemon -h", args: []string{"-h"}, header: "Usage: probe [flags]"},
		{name: "check --help", args: []string{"check", "--help"}, header: "Usage: probe check [flags]"},
		{name: "check -h", args: []string{"check", "-h"}, header: "Usage: probe check [flags]"},
		{name: "demo --help", args: []string{"demo", "--help"}, header: "Usage: probe demo [flags]"},
		{name: "demo -h", args: []string{"demo", "-h"}, header: "Usage: probe demo [flags]"},
		{name: "simulate --help", args: []string{"simulate", "--help"}, header: "Usage: probe simulate --nodes N --duration D [flags]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run(context.Background(), tc.args, &stdout, &stderr); code != exitOK {
				t.Errorf("exit %d, want %d", code, exitOK)
			}
			if n := strings.Count(stdout.String(), "Usage: probe"); n != 1 {
				t.Errorf("stdout holds %d usage headers, want 1:\n%s", n, stdout.String())
			}
			if !strings.HasPrefix(stdout.String(), tc.header+"\n") {
				t.Errorf("stdout does not start with %q:\n%s", tc.header, stdout.String())
			}
			if n := strings.Count(stdout.String(), "  -log.level"); n != 1 {
				t.Errorf("stdout lists -log.level %d times, want 1:\n%s", n, stdout.String())
			}
			if stderr.Len() != 0 {
				t.Errorf("stderr = %q, want nothing", stderr.String())
			}
		})
	}
}

// TestClusterCheckUnreachable: a kubeconfig whose server refuses (port 1 on
// loopback) gives one failed check and exit 1, for check and fix alike.
func TestClusterCheckUnreachable(t *testing.T) {
	kc := filepath.Join(t.TempDir(), "kubeconfig")
	cfg := "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:1\n    insecure-skip-tls-verify: true\n" +
		"users:\n- name: u\n  user:\n    token: t\ncontexts:\n- name: x\n  context:\n    cluster: c\n    user: u\ncurrent-context: x\n"
	if err := os.WriteFile(kc, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if code := run(t.Context(), []string{"check", "--cluster", "--kubeconfig", kc}, &stdout, &stderr); code != exitFailure {
		t.Errorf("check --cluster: exit %d, want %d; stderr %s", code, exitFailure, stderr.String())
	}
	if !strings.Contains(stdout.String(), "✗ cluster-reachable") || !strings.Contains(stdout.String(), "1 failed") {
		t.Errorf("check --cluster output:\n%s", stdout.String())
	}
	stdout.Reset()
	stderr.Reset()
	if code := run(t.Context(), []string{"fix", "--kubeconfig", kc}, &stdout, &stderr); code != exitFailure || !strings.Contains(stderr.String(), "cluster unreachable") {
		t.Errorf("fix: exit %d, want %d; stderr %s", code, exitFailure, stderr.String())
	}
}

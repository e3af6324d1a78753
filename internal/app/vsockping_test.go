package app

import (
	"bytes"
	"context"
	"errors"
	"net"
	"strings"
	"testing"

	"github.com/mdlayher/vsock"

	"github.com/sensorprobe/sensorprobe/internal/vsockwatch"
)

// tcpDialer dials addr over TCP loopback, standing in for a VSOCK dial.
func tcpDialer(addr string) vsockwatch.DialFunc {
	return func(ctx context.Context) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "tcp", addr)
	}
}

// serveBeacon serves a beacon on loopback TCP until the test ends.
func serveBeacon(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- (&vsockwatch.Beacon{Node: "worker-1"}).Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve() = %v, want nil", err)
		}
	})
	return ln.Addr().String()
}

func TestVSOCKPing(t *testing.T) {
	addr := serveBeacon(t)
	var dialled []string
	dialer := func(cid, port uint32) vsockwatch.DialFunc {
		dialled = append(dialled, (&vsock.Addr{ContextID: cid, Port: port}).String())
		return tcpDialer(addr)
	}
	tests := []struct {
		name       string
		args       []string
		wantOK     bool
		wantStdout []string
		wantDial   string
	}{
		{name: "one ping", args: []string{"--port", "7000"}, wantOK: true,
			wantStdout: []string{"vsock-ping host(2):7000: seq=1 connect=", `greeting="sensorprobe-beacon node=worker-1`}, wantDial: "host(2):7000"},
		{name: "three pings to another CID", args: []string{"--cid", "3", "--port", "7001", "--count", "3", "--interval", "1ms"}, wantOK: true,
			wantStdout: []string{"seq=3", "3 sent, 3 answered, 0 failed"}, wantDial: "vm(3):7001"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dialled = nil
			cfg, err := ParseVSOCKPing(tt.args, io2(t))
			if err != nil {
				t.Fatalf("ParseVSOCKPing(%q): %v", tt.args, err)
			}
			var stdout bytes.Buffer
			ok, err := RunVSOCKPing(context.Background(), cfg, &stdout, dialer)
			if err != nil || ok != tt.wantOK {
				t.Errorf("RunVSOCKPing() = %v, %v; want %v, nil\n%s", ok, err, tt.wantOK, stdout.String())
			}
			for _, s := range tt.wantStdout {
				if !strings.Contains(stdout.String(), s) {
					t.Errorf("stdout lacks %q:\n%s", s, stdout.String())
				}
			}
			if len(dialled) != 1 || dialled[0] != tt.wantDial {
				t.Errorf("dialled %v, want [%s]", dialled, tt.wantDial)
			}
		})
	}
}

func TestVSOCKPingUsage(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{name: "port missing", args: nil, want: []string{"--port: 0"}},
		{name: "every bad value named", args: []string{"--port", "4294967295", "--count", "0", "--timeout", "0s"},
			want: []string{"--port: 4294967295", "--count: 0", `--timeout: must be positive, got "0s"`}},
		{name: "extra argument", args: []string{"--port", "1", "extra"}, want: []string{`unexpected argument "extra"`}},
		{name: "unknown flag", args: []string{"--bogus"}, want: []string{"flag provided but not defined: -bogus"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseVSOCKPing(tt.args, io2(t))
			if err == nil {
				t.Fatal("ParseVSOCKPing() = nil error")
			}
			for _, s := range tt.want {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error lacks %q:\n%v", s, err)
				}
			}
		})
	}
	var out bytes.Buffer
	if _, err := ParseVSOCKPing([]string{"--help"}, &out); !errors.Is(err, ErrHelp) || strings.Count(out.String(), "Usage: probe vsock-ping") != 1 {
		t.Errorf("--help: err %v, usage printed %d times:\n%s", err, strings.Count(out.String(), "Usage: probe vsock-ping"), out.String())
	}
}

func TestVSOCKPingFailure(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	cfg, err := ParseVSOCKPing([]string{"--port", "7000", "--count", "2", "--interval", "0s"}, io2(t))
	if err != nil {
		t.Fatal(err)
	}
	var stdout bytes.Buffer
	ok, err := RunVSOCKPing(context.Background(), cfg, &stdout, func(uint32, uint32) vsockwatch.DialFunc { return tcpDialer(addr) })
	if ok || err != nil || !strings.Contains(stdout.String(), "2 sent, 0 answered, 2 failed") {
		t.Errorf("RunVSOCKPing() = %v, %v; want false, nil; stdout:\n%s", ok, err, stdout.String())
	}
}

// io2 is where a parser's usage goes in tests that do not ask for help:
// nothing may be written there.
func io2(t *testing.T) *bytes.Buffer {
	t.Helper()
	var b bytes.Buffer
	t.Cleanup(func() {
		if b.Len() > 0 {
			t.Errorf("parser wrote %q", b.String())
		}
	})
	return &b
}

package vsockwatch

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestCheckCapabilityDevices lays out a device directory and a sysfs misc
// class directory in temp dirs and checks which devices are reported, and
// where they were seen.
func TestCheckCapabilityDevices(t *testing.T) {
	type layout struct {
		dev, sysfs []string // names to create as files under dev and as directories under sysfs
		sysfsLinks []string // names to create under sysfs as symlinks into a devices tree, as the kernel does
	}
	tests := []struct {
		name   string
		layout layout
		noDirs bool // neither directory exists at all
		want   map[string]DeviceSource
	}{
		{
			name: "nothing",
			want: map[string]DeviceSource{DeviceVsock: {}, DeviceVhostVsock: {}},
		},
		{
			name:   "directories missing",
			noDirs: true,
			want:   map[string]DeviceSource{DeviceVsock: {}, DeviceVhostVsock: {}},
		},
		{
			name:   "device nodes only (host /dev mounted)",
			layout: layout{dev: []string{DeviceVsock, DeviceVhostVsock}},
			want:   map[string]DeviceSource{DeviceVsock: {Node: true}, DeviceVhostVsock: {Node: true}},
		},
		{
			name:   "sysfs only (a container without a hostPath)",
			layout: layout{sysfs: []string{DeviceVsock, DeviceVhostVsock}},
			want:   map[string]DeviceSource{DeviceVsock: {Sysfs: true}, DeviceVhostVsock: {Sysfs: true}},
		},
		{
			name:   "sysfs entries as symlinks",
			layout: layout{sysfsLinks: []string{DeviceVhostVsock}},
			want:   map[string]DeviceSource{DeviceVsock: {}, DeviceVhostVsock: {Sysfs: true}},
		},
		{
			name:   "vhost-vsock static node only, vsock from sysfs",
			layout: layout{dev: []string{DeviceVhostVsock}, sysfs: []string{DeviceVsock}},
			want:   map[string]DeviceSource{DeviceVsock: {Sysfs: true}, DeviceVhostVsock: {Node: true}},
		},
		{
			name:   "both",
			layout: layout{dev: []string{DeviceVsock, DeviceVhostVsock}, sysfs: []string{DeviceVsock, DeviceVhostVsock}},
			want: map[string]DeviceSource{
				DeviceVsock:      {Node: true, Sysfs: true},
				DeviceVhostVsock: {Node: true, Sysfs: true},
			},
		},
		{
			name:   "other misc devices only",
			layout: layout{dev: []string{"vhost-net", "vsock0"}, sysfs: []string{"vhost-net", "tun", "vsock_diag"}},
			want:   map[string]DeviceSource{DeviceVsock: {}, DeviceVhostVsock: {}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			dev, sysfs := filepath.Join(root, "dev"), filepath.Join(root, "sys", "class", "misc")
			if !tt.noDirs {
				devices := filepath.Join(root, "sys", "devices", "virtual", "misc")
				for _, d := range []string{dev, sysfs, devices} {
					if err := os.MkdirAll(d, 0o755); err != nil {
						t.Fatal(err)
					}
				}
				for _, n := range tt.layout.dev {
					if err := os.WriteFile(filepath.Join(dev, n), nil, 0o600); err != nil {
						t.Fatal(err)
					}
				}
				for _, n := range tt.layout.sysfs {
					if err := os.Mkdir(filepath.Join(sysfs, n), 0o755); err != nil {
						t.Fatal(err)
					}
				}
				for _, n := range tt.layout.sysfsLinks {
					if err := os.Mkdir(filepath.Join(devices, n), 0o755); err != nil {
						t.Fatal(err)
					}
					if err := os.Symlink(filepath.Join("..", "..", "devices", "virtual", "misc", n), filepath.Join(sysfs, n)); err != nil {
						t.Fatal(err)
					}
				}
			}
			c := CheckCapability(dev, sysfs, func() error { return nil }, func() (uint32, error) { return 2, nil })
			if diff := cmp.Diff(tt.want, c.DeviceSources); diff != "" {
				t.Errorf("device sources (-want +got):\n%s", diff)
			}
			wantPresent := map[string]bool{}
			for d, s := range tt.want {
				wantPresent[d] = s.Node || s.Sysfs
			}
			if diff := cmp.Diff(wantPresent, c.Devices); diff != "" {
				t.Errorf("devices (-want +got):\n%s", diff)
			}
		})
	}
}

// TestCheckCapabilitySocketAndContextID checks that the socket check and the
// context ID are reported, with the reason when they fail.
func TestCheckCapabilitySocketAndContextID(t *testing.T) {
	errNoCID := fmt.Errorf("open /dev/vsock: %w", os.ErrNotExist)
	errNoAF := errors.New("socket AF_VSOCK: address family not supported by protocol")
	tests := []struct {
		name      string
		socketErr error
		cid       uint32
		cidErr    error
		want      Capability
	}{
		{
			name: "hypervisor host",
			cid:  2,
			want: Capability{SocketsSupported: true, ContextID: 2},
		},
		{
			name:   "no context ID",
			cidErr: errNoCID,
			want:   Capability{SocketsSupported: true, ContextIDError: errNoCID.Error()},
		},
		{
			name:      "no AF_VSOCK",
			socketErr: errNoAF,
			cidErr:    errNoCID,
			want:      Capability{SocketError: errNoAF.Error(), ContextIDError: errNoCID.Error()},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			empty := t.TempDir()
			c := CheckCapability(empty, empty,
				func() error { return tt.socketErr },
				func() (uint32, error) { return tt.cid, tt.cidErr })
			c.Devices, c.DeviceSources = nil, nil
			if diff := cmp.Diff(tt.want, c); diff != "" {
				t.Errorf("capability (-want +got):\n%s", diff)
			}
		})
	}
}

// TestCheckCapabilityThisMachine runs the real checks: the socket check
// either works or says why, and the devices are reported however this
// machine has them.
func TestCheckCapabilityThisMachine(t *testing.T) {
	c := CheckCapability("/dev", "/sys/class/misc", ProbeSocket, func() (uint32, error) { return 0, errors.New("not read") })
	if c.SocketsSupported == (c.SocketError != "") {
		t.Errorf("sockets supported %v with error %q", c.SocketsSupported, c.SocketError)
	}
	for _, d := range Devices() {
		if c.Devices[d] != c.DeviceSources[d].Present() {
			t.Errorf("device %s: present %v, sources %+v", d, c.Devices[d], c.DeviceSources[d])
		}
	}
	t.Logf("this machine: AF_VSOCK sockets supported %v %s; devices %+v", c.SocketsSupported, c.SocketError, c.DeviceSources)
}

// TestWatcherDeviceSources checks that New looks under Config.SysMiscDir,
// logs where each device was seen, and that a Snapshot's device maps are
// copies.
func TestWatcherDeviceSources(t *testing.T) {
	dev, sysfs := t.TempDir(), t.TempDir()
	if err := os.Mkdir(filepath.Join(sysfs, DeviceVhostVsock), 0o755); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	w := New(Config{
		DevDir:      dev,
		SysMiscDir:  sysfs,
		ProbeSocket: func() error { return nil },
		ContextID:   func() (uint32, error) { return 2, nil },
	}, slog.New(slog.NewTextHandler(&logs, nil)))
	s := w.Snapshot()
	want := map[string]DeviceSource{DeviceVsock: {}, DeviceVhostVsock: {Sysfs: true}}
	if diff := cmp.Diff(want, s.Capability.DeviceSources); diff != "" {
		t.Errorf("device sources (-want +got):\n%s", diff)
	}
	if !s.Capability.Devices[DeviceVhostVsock] || s.Capability.Devices[DeviceVsock] {
		t.Errorf("devices %v, want vhost-vsock only", s.Capability.Devices)
	}
	if !strings.Contains(logs.String(), "vhost_vsock_seen=\"{Node:false Sysfs:true}\"") {
		t.Errorf("capability log line does not say where vhost-vsock was seen:\n%s", logs.String())
	}
	s.Capability.DeviceSources[DeviceVsock] = DeviceSource{Node: true}
	s.Capability.Devices[DeviceVsock] = true
	if again := w.Snapshot(); again.Capability.DeviceSources[DeviceVsock].Present() || again.Capability.Devices[DeviceVsock] {
		t.Error("changing a Snapshot's device maps changed the Watcher's")
	}
}

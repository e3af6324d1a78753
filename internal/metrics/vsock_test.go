package metrics

import (
	"log/slog"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sensorprobe/sensorprobe/internal/relaylog"
	"github.com/sensorprobe/sensorprobe/internal/testsupport"
	"github.com/sensorprobe/sensorprobe/internal/vsockwatch"
)

// fixedVSOCK is a VSOCKSource that returns one snapshot.
type fixedVSOCK vsockwatch.Snapshot

func (f fixedVSOCK) Snapshot() vsockwatch.Snapshot { return vsockwatch.Snapshot(f) }

func events(counts map[relaylog.Event]uint64) map[relaylog.Event]uint64 {
	out := map[relaylog.Event]uint64{}
	for _, e := range relaylog.Events() {
		out[e] = counts[e]
	}
	return out
}

func TestVSOCKCollector(t *testing.T) {
	tests := []struct {
		name   string
		golden string
		snap   vsockwatch.Snapshot
	}{
		{
			// A hypervisor node where everything works: the relay listens,
			// VMs connect, the beacon and the relay log watch are on.
			name:   "active node",
			golden: "vsock_active.prom",
			snap: vsockwatch.Snapshot{
				Capability: vsockwatch.Capability{
					Devices:          map[string]bool{vsockwatch.DeviceVsock: true, vsockwatch.DeviceVhostVsock: true},
					SocketsSupported: true, ContextID: 2,
				},
				RelayPort:         818,
				Diag:              vsockwatch.DiagStatus{Support: vsockwatch.DiagSupported, Dumps: 40, Errors: 1},
				RelayKnown:        true,
				RelayListening:    true,
				RelayConnections:  2,
				ConnectionsSeen:   7,
				ConnectionsRecent: 5,
				PeerCIDs:          []uint32{3001, 3002, 3003},
				LastActivity:      time.Unix(1795000000, 500_000_000),
				BeaconEnabled:     true,
				BeaconConnections: 4,
				RelayLog:          vsockwatch.RelayLogStatus{Enabled: true, Status: relaylog.Status{Following: true, Opens: 1}},
				RelayLogEvents:    events(map[relaylog.Event]uint64{relaylog.EventConnection: 5, relaylog.EventReportSent: 5, relaylog.EventSendError: 2}),
				RelaySendErrors: map[string]uint64{"resource_exhausted": 2, "unimplemented": 0, "not_implemented": 0,
					"unavailable": 0, "deadline_exceeded": 0, "canceled": 0, "other": 0, "none": 0},
			},
		},
		{
			// A node whose kernel has no vsock_diag and no context ID, with
			// the beacon and the relay log watch off: what cannot be known is
			// absent, the rest is there.
			name:   "no vsock_diag",
			golden: "vsock_no_diag.prom",
			snap: vsockwatch.Snapshot{
				Capability: vsockwatch.Capability{
					Devices:        map[string]bool{vsockwatch.DeviceVsock: true},
					SocketError:    "socket AF_VSOCK: address family not supported by protocol",
					ContextIDError: "open /dev/vsock: no such file or directory",
				},
				RelayPort:      818,
				Diag:           vsockwatch.DiagStatus{Support: vsockwatch.DiagNoModule},
				RelayLogEvents: events(nil),
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewVSOCKCollector(fixedVSOCK(tt.snap))
			if problems, err := testutil.CollectAndLint(c); err != nil || len(problems) > 0 {
				t.Errorf("CollectAndLint: %v %+v", err, problems)
			}
			reg := prometheus.NewPedanticRegistry()
			reg.MustRegister(c)
			testsupport.GoldenExposition(t, reg, filepath.Join("testdata", tt.golden))
		})
	}
}

// TestCollectorReadsWatcher registers the collector over a real Watcher on
// this machine and checks the families every node exports are there.
func TestVSOCKCollectorReadsWatcher(t *testing.T) {
	w := vsockwatch.New(vsockwatch.Config{}, slog.New(slog.DiscardHandler))
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(NewVSOCKCollector(w))
	n, err := testutil.GatherAndCount(reg,
		"sensorprobe_vsock_info", "sensorprobe_vsock_peer_cids",
		"sensorprobe_vsock_connections_seen_total", "sensorprobe_vsock_diag_errors_total")
	if err != nil {
		t.Fatal(err)
	}
	if n != 4 { // one of each family
		t.Errorf("gathered %d series, want 4", n)
	}
}

// TestVSOCKInfoLabels checks the one series that carries the node's static
// VSOCK facts, on a hypervisor host and on a node without VSOCK.
func TestVSOCKInfoLabels(t *testing.T) {
	for _, tc := range []struct {
		name string
		snap vsockwatch.Snapshot
		want []string // relay_port, devices, sockets, local_cid
	}{
		{"hypervisor host", vsockwatch.Snapshot{RelayPort: 818, Capability: vsockwatch.Capability{
			Devices:          map[string]bool{vsockwatch.DeviceVsock: true, vsockwatch.DeviceVhostVsock: true},
			SocketsSupported: true, ContextID: 2,
		}}, []string{"818", "vsock,vhost-vsock", "true", "2"}},
		{"no VSOCK", vsockwatch.Snapshot{RelayPort: 2000, Capability: vsockwatch.Capability{
			ContextIDError: "no such device",
		}}, []string{"2000", "none", "false", ""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := infoLabels(tc.snap); !slices.Equal(got, tc.want) {
				t.Errorf("infoLabels = %q, want %q", got, tc.want)
			}
		})
	}
}

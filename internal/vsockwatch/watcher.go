package vsockwatch

import (
	"context"
	"log/slog"
	"maps"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/mdlayher/vsock"

	"github.com/sensorprobe/sensorprobe/internal/relaylog"
)

// DefaultRelayPort is the relay's VSOCK port when ROX_VIRTUAL_MACHINES_VSOCK_PORT
// is not set.
const DefaultRelayPort = 818

// Config tunes a Watcher. Zero fields take the defaults given.
type Config struct {
	// RelayPort is the VSOCK port the relay listens on (DefaultRelayPort).
	RelayPort uint32
	// Interval is the time between two sock_diag dumps (10 s). A VM's
	// connection lasts as long as the relay takes to read one report (tens of
	// milliseconds when all is well), so most connections fall between two
	// dumps; the dumps see long ones (a relay stuck sending to sensor) and the
	// listener. The relay log watch sees every connection.
	Interval time.Duration
	// Window is how long a connection or a peer CID counts as recent (10 min).
	Window time.Duration
	// UnsupportedRetry is the time between two dumps once the kernel has
	// said it cannot answer them, as a module may be loaded later (5 min).
	UnsupportedRetry time.Duration
	// DumpTimeout bounds one dump (2 s).
	DumpTimeout time.Duration
	// DevDir holds the vsock and vhost-vsock device nodes ("/dev"). A
	// container's own /dev lacks them unless they are mounted.
	DevDir string
	// SysMiscDir lists the misc devices whose modules are loaded
	// ("/sys/class/misc"); a container sees the host's without a mount.
	SysMiscDir string
	// Dial opens the sock_diag socket (DialDiag); tests pass nltest.Dial.
	Dial func() (DiagConn, error)
	// ProbeSocket tells whether AF_VSOCK sockets can be created (ProbeSocket).
	ProbeSocket func() error
	// ContextID reads the local context ID (vsock.ContextID).
	ContextID func() (uint32, error)
	// Now is the clock (time.Now).
	Now func() time.Time
}

func (c Config) withDefaults() Config {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	if c.RelayPort == 0 {
		c.RelayPort = DefaultRelayPort
	}
	def(&c.Interval, 10*time.Second)
	def(&c.Window, 10*time.Minute)
	def(&c.UnsupportedRetry, 5*time.Minute)
	def(&c.DumpTimeout, 2*time.Second)
	if c.DevDir == "" {
		c.DevDir = "/dev"
	}
	if c.SysMiscDir == "" {
		c.SysMiscDir = "/sys/class/misc"
	}
	if c.Dial == nil {
		c.Dial = DialDiag
	}
	if c.ProbeSocket == nil {
		c.ProbeSocket = ProbeSocket
	}
	if c.ContextID == nil {
		c.ContextID = vsock.ContextID
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// DiagStatus is what the Watcher knows about its sock_diag dumps.
type DiagStatus struct {
	// Support says whether the kernel answers dumps.
	Support DiagSupport `json:"support"`
	// Hint explains Support in one line.
	Hint string `json:"hint"`
	// Dumps counts completed dumps.
	Dumps uint64 `json:"dumps"`
	// Errors counts failed dumps, except those that only proved a lack of support.
	Errors uint64 `json:"errors"`
	// LastDump is when the latest dump completed; zero if none did.
	LastDump time.Time `json:"last_dump,omitzero"`
	// Error is the latest failure's text, empty after a success.
	Error string `json:"last_error,omitempty"`
}

// RelayLogStatus says whether the relay log watch runs and follows a log.
type RelayLogStatus struct {
	// Enabled is true once FollowRelayLog has been called.
	Enabled bool `json:"enabled"`
	relaylog.Status
}

// Snapshot is everything the Watcher knows at one moment. It is a copy: the
// caller may keep and change it.
type Snapshot struct {
	// Capability is the node's VSOCK capability, checked when the Watcher was made.
	Capability Capability `json:"capability"`
	// RelayPort is the port watched.
	RelayPort uint32 `json:"relay_port"`
	// Diag describes the sock_diag dumps.
	Diag DiagStatus `json:"diag"`
	// RelayKnown is true while dumps work; RelayListening and
	// RelayConnections are meaningful only then.
	RelayKnown bool `json:"relay_known"`
	// RelayListening is true when a socket listens on RelayPort.
	RelayListening bool `json:"relay_listening"`
	// RelayConnections counts established connections on RelayPort at the latest dump.
	RelayConnections int `json:"relay_connections"`
	// ConnectionsSeen counts connections on RelayPort seen by the dumps since
	// start, each once (by socket cookie, so a long connection counts once).
	ConnectionsSeen uint64 `json:"connections_seen"`
	// ConnectionsRecent counts the connections seen within Window: by the
	// dumps or in the relay log, whichever saw more.
	ConnectionsRecent int `json:"connections_recent"`
	// PeerCIDs are the VM context IDs seen within Window, ascending, from the
	// dumps and from the relay log.
	PeerCIDs []uint32 `json:"peer_cids"`
	// Window is the window ConnectionsRecent and PeerCIDs cover.
	Window time.Duration `json:"window"`
	// LastActivity is when a connection to the relay was last seen, by a dump
	// or in the relay log; zero if never.
	LastActivity time.Time `json:"last_activity,omitzero"`
	// BeaconEnabled is true while the beacon serves.
	BeaconEnabled bool `json:"beacon_enabled"`
	// BeaconConnections counts the connections the beacon accepted.
	BeaconConnections uint64 `json:"beacon_connections"`
	// RelayLog describes the relay log watch.
	RelayLog RelayLogStatus `json:"relay_log"`
	// RelayLogEvents counts matched relay log lines by event; every event is
	// present, zero or not.
	RelayLogEvents map[relaylog.Event]uint64 `json:"relay_log_events"`
	// RelaySendErrors counts the relay log's failed sends by gRPC code
	// (relaylog.Codes, or SendErrorNoCode when the line names none); every
	// code is present, zero or not.
	RelaySendErrors map[string]uint64 `json:"relay_send_errors"`
	// SendErrorsRecent, ReportsSentRecent and ListenErrorsRecent count the
	// relay log's failed sends, reports sent and failed binds within Window.
	SendErrorsRecent   int `json:"send_errors_recent"`
	ReportsSentRecent  int `json:"reports_sent_recent"`
	ListenErrorsRecent int `json:"listen_errors_recent"`
	// LastSendErrorCode is the gRPC code of the latest failed send within
	// Window ("" when none, or when the line named no code).
	LastSendErrorCode relaylog.Code `json:"last_send_error_code,omitempty"`
}

// SendErrorNoCode is the code of a failed send whose log line names no gRPC status.
const SendErrorNoCode = "none"

// connKey identifies one connection across dumps. The cookie alone is unique;
// the addresses keep connections apart should a kernel report no cookie.
type connKey struct {
	cookie                 uint64
	dstCID, dstPort        uint32
	srcCID, srcPort, inode uint32
}

// Watcher keeps what the dumps, the beacon and the relay log reported. Run
// drives the dumps; ServeBeacon and FollowRelayLog add the optional parts. A
// Watcher is safe for concurrent use.
type Watcher struct {
	cfg    Config
	log    *slog.Logger
	dumper *Dumper
	mu     sync.Mutex
	snap   Snapshot             // counters and latest state; PeerCIDs, ConnectionsRecent unused
	conns  map[connKey]struct{} // relay connections present at the latest dump
	// recentDump and recentLog hold when each recent connection was first
	// seen by the dumps and in the relay log, oldest first. They are kept
	// apart because both sources can see the same connection.
	recentDump, recentLog []time.Time
	// sendErrors, sent and listenErrors hold when the relay log reported
	// each failed send, sent report and failed bind, oldest first.
	sendErrors, sent, listenErrors []time.Time
	lastCode                       relaylog.Code
	peers                          map[uint32]time.Time // peer CID → last seen
	logged                         DiagSupport          // support level last logged
	failing                        bool                 // a dump failed for a passing reason since the last success (logged)
}

// New checks the node's VSOCK capability, logs it once, and returns a
// Watcher. It keeps nothing open: Run opens the sock_diag socket and closes
// it when it returns.
func New(cfg Config, logger *slog.Logger) *Watcher {
	cfg = cfg.withDefaults()
	w := &Watcher{
		cfg:    cfg,
		log:    logger,
		dumper: NewDumper(cfg.Dial),
		conns:  map[connKey]struct{}{},
		peers:  map[uint32]time.Time{},
		logged: DiagUnknown,
	}
	c := CheckCapability(cfg.DevDir, cfg.SysMiscDir, cfg.ProbeSocket, cfg.ContextID)
	w.snap.Capability = c
	logger.Info("vsock: capability", "vsock", c.Devices[DeviceVsock], "vhost_vsock", c.Devices[DeviceVhostVsock],
		"vsock_seen", c.DeviceSources[DeviceVsock], "vhost_vsock_seen", c.DeviceSources[DeviceVhostVsock],
		"sockets", c.SocketsSupported, "context_id", c.ContextID, "relay_port", cfg.RelayPort)
	if !c.SocketsSupported {
		logger.Warn("vsock: AF_VSOCK sockets cannot be created on this node; the beacon cannot listen, the rest reports what it can",
			"err", c.SocketError)
	}
	w.snap.RelayPort = cfg.RelayPort
	w.snap.Window = cfg.Window
	w.snap.Diag = DiagStatus{Support: DiagUnknown, Hint: DiagUnknown.Hint()}
	w.snap.RelayLogEvents = map[relaylog.Event]uint64{}
	for _, e := range relaylog.Events() {
		w.snap.RelayLogEvents[e] = 0
	}
	w.snap.RelaySendErrors = map[string]uint64{}
	for _, c := range relaylog.Codes() {
		w.snap.RelaySendErrors[string(c)] = 0
	}
	w.snap.RelaySendErrors[SendErrorNoCode] = 0
	return w
}

// Run dumps every Interval (every UnsupportedRetry once the kernel has said it
// cannot) until ctx is done, then closes the sock_diag socket and returns nil.
func (w *Watcher) Run(ctx context.Context) error {
	defer w.dumper.Close()
	for {
		w.DumpOnce(ctx)
		wait := w.cfg.Interval
		if w.unsupported() {
			wait = w.cfg.UnsupportedRetry
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

func (w *Watcher) unsupported() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := w.snap.Diag.Support
	return s != DiagSupported && s != DiagUnknown
}

// DumpOnce runs one dump and folds its result into the Watcher's state. Run
// calls it; it must not be called concurrently with Run.
func (w *Watcher) DumpOnce(ctx context.Context) {
	dctx, cancel := context.WithTimeout(ctx, w.cfg.DumpTimeout)
	sockets, err := w.dumper.Dump(dctx)
	cancel()
	if ctx.Err() != nil {
		return // shutting down: neither a result nor an error
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if err != nil {
		w.recordErrorLocked(err)
		return
	}
	w.recordDumpLocked(sockets)
}

func (w *Watcher) recordErrorLocked(err error) {
	d := &w.snap.Diag
	d.Error = err.Error()
	support, lasting := ClassifyDiagError(err)
	if !lasting {
		d.Errors++
		if !w.failing {
			w.log.Warn("vsock: sock_diag dump failed; keeping the last known state", "err", err)
			w.failing = true
		}
		return
	}
	d.Support, d.Hint = support, support.Hint()
	w.snap.RelayKnown = false
	if support != w.logged {
		w.log.Warn("vsock: sock_diag dumps unavailable; the relay's listener and connections cannot be seen, all else keeps working",
			"support", string(support), "hint", support.Hint(), "err", err)
		w.logged = support
	}
}

func (w *Watcher) recordDumpLocked(sockets []Socket) {
	now := w.cfg.Now()
	d := &w.snap.Diag
	if w.logged != DiagSupported && w.logged != DiagUnknown {
		w.log.Info("vsock: sock_diag dumps work again", "was", string(w.logged))
	}
	if w.failing {
		w.log.Info("vsock: sock_diag dumps work again")
		w.failing = false
	}
	w.logged = DiagSupported
	d.Support, d.Hint = DiagSupported, DiagSupported.Hint()
	d.Dumps++
	d.LastDump = now
	d.Error = ""

	port := w.snap.RelayPort
	wasKnown, wasListening := w.snap.RelayKnown, w.snap.RelayListening
	listening, established := false, 0
	conns := make(map[connKey]struct{}, len(w.conns))
	for _, s := range sockets {
		if s.Type != SockStream || s.SrcPort != port {
			continue
		}
		if s.Listening() {
			listening = true
			continue
		}
		// The relay's end of a VM's connection, in whatever state: a
		// finished one lingers briefly as CLOSE.
		if s.State == StateEstablished {
			established++
		}
		k := connKey{cookie: s.Cookie, dstCID: s.DstCID, dstPort: s.DstPort, srcCID: s.SrcCID, srcPort: s.SrcPort, inode: s.Inode}
		conns[k] = struct{}{}
		if _, seen := w.conns[k]; !seen {
			w.snap.ConnectionsSeen++
			w.recentDump = append(w.recentDump, now)
		}
		w.notePeerLocked(s.DstCID, now)
		w.snap.LastActivity = now
	}
	w.conns = conns
	w.snap.RelayKnown = true
	w.snap.RelayListening = listening
	w.snap.RelayConnections = established
	w.pruneLocked(now)
	if !wasKnown || wasListening != listening {
		w.log.Info("vsock: relay listener", "port", port, "listening", listening)
	}
}

// notePeerLocked records a peer CID; the reserved CIDs 0 to 2 and
// VMADDR_CID_ANY are not VMs and are ignored.
func (w *Watcher) notePeerLocked(cid uint32, now time.Time) {
	if cid <= 2 || cid == CIDAny {
		return
	}
	w.peers[cid] = now
}

// pruneLocked forgets connections and peers older than the window.
func (w *Watcher) pruneLocked(now time.Time) {
	maps.DeleteFunc(w.peers, func(_ uint32, seen time.Time) bool {
		return now.Sub(seen) > w.cfg.Window
	})
	w.recentDump = dropOlder(w.recentDump, now, w.cfg.Window)
	w.recentLog = dropOlder(w.recentLog, now, w.cfg.Window)
	w.sendErrors = dropOlder(w.sendErrors, now, w.cfg.Window)
	w.sent = dropOlder(w.sent, now, w.cfg.Window)
	w.listenErrors = dropOlder(w.listenErrors, now, w.cfg.Window)
}

// dropOlder removes the times older than window from the front of ts.
func dropOlder(ts []time.Time, now time.Time, window time.Duration) []time.Time {
	i := 0
	for i < len(ts) && now.Sub(ts[i]) > window {
		i++
	}
	return slices.Delete(ts, 0, i)
}

// countRecent counts the times in ts within window of now.
func countRecent(ts []time.Time, now time.Time, window time.Duration) int {
	n := 0
	for _, t := range ts {
		if now.Sub(t) <= window {
			n++
		}
	}
	return n
}

// SetRelayPort changes the port watched, e.g. when Kubernetes discovery reads
// ROX_VIRTUAL_MACHINES_VSOCK_PORT. The next dump reports on the new port.
func (w *Watcher) SetRelayPort(port uint32) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if port == 0 || port == w.snap.RelayPort {
		return
	}
	w.log.Info("vsock: relay port changed", "old", w.snap.RelayPort, "new", port)
	w.snap.RelayPort = port
	w.snap.RelayKnown = false
	w.conns = map[connKey]struct{}{}
}

// ServeBeacon runs a Beacon on ln (see ListenVSOCK) until ctx is done,
// counting its connections, and closes ln. node names this node in the greeting.
func (w *Watcher) ServeBeacon(ctx context.Context, ln net.Listener, node string) error {
	w.setBeacon(true)
	defer w.setBeacon(false)
	b := &Beacon{Node: node, OnAccept: func(net.Addr) {
		w.mu.Lock()
		w.snap.BeaconConnections++
		w.mu.Unlock()
	}}
	return b.Serve(ctx, ln)
}

func (w *Watcher) setBeacon(on bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.snap.BeaconEnabled = on
}

// FollowRelayLog follows the relay's log, opened by open, until ctx is done,
// and counts its events. It returns nil when ctx ends.
func (w *Watcher) FollowRelayLog(ctx context.Context, open relaylog.OpenFunc) error {
	w.setRelayLogStatus(relaylog.Status{})
	return relaylog.NewFollower(open, w.log, w.RecordLogMatch, w.setRelayLogStatus).Run(ctx)
}

func (w *Watcher) setRelayLogStatus(s relaylog.Status) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.snap.RelayLog = RelayLogStatus{Enabled: true, Status: s}
}

// RecordLogMatch counts one recognised relay log line. The CID it names (if
// any) joins the peer CIDs; a connection also counts as a recent connection,
// and a connection or a report as activity.
func (w *Watcher) RecordLogMatch(m relaylog.Match) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.snap.RelayLogEvents[m.Event]++
	now := w.cfg.Now()
	w.notePeerLocked(m.CID, now)
	switch m.Event {
	case relaylog.EventConnection:
		w.recentLog = append(w.recentLog, now)
		w.snap.LastActivity = now
	case relaylog.EventReportSent:
		w.snap.LastActivity = now
		w.sent = append(w.sent, now)
	case relaylog.EventSendError:
		w.sendErrors = append(w.sendErrors, now)
		w.lastCode = m.Code
		code := string(m.Code)
		if m.Code == relaylog.CodeNone {
			code = SendErrorNoCode
		}
		w.snap.RelaySendErrors[code]++
	case relaylog.EventListenError:
		w.listenErrors = append(w.listenErrors, now)
	}
	w.pruneLocked(now)
}

// Snapshot returns a copy of the current state.
func (w *Watcher) Snapshot() Snapshot {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := w.snap
	s.Capability.Devices = maps.Clone(w.snap.Capability.Devices)
	s.Capability.DeviceSources = maps.Clone(w.snap.Capability.DeviceSources)
	s.RelayLogEvents = maps.Clone(w.snap.RelayLogEvents)
	s.RelaySendErrors = maps.Clone(w.snap.RelaySendErrors)
	now := w.cfg.Now()
	s.PeerCIDs = make([]uint32, 0, len(w.peers))
	for cid, seen := range w.peers {
		if now.Sub(seen) <= w.cfg.Window {
			s.PeerCIDs = append(s.PeerCIDs, cid)
		}
	}
	slices.Sort(s.PeerCIDs)
	// The log sees every connection, the dumps a sample: the larger count
	// is the better estimate, and adding them would count some twice.
	s.ConnectionsRecent = max(countRecent(w.recentDump, now, w.cfg.Window), countRecent(w.recentLog, now, w.cfg.Window))
	s.SendErrorsRecent = countRecent(w.sendErrors, now, w.cfg.Window)
	s.ReportsSentRecent = countRecent(w.sent, now, w.cfg.Window)
	s.ListenErrorsRecent = countRecent(w.listenErrors, now, w.cfg.Window)
	if s.SendErrorsRecent > 0 {
		s.LastSendErrorCode = w.lastCode
	}
	return s
}

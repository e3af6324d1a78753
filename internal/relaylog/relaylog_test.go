package relaylog

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Sample lines, one or more per RHACS version and event. The message of each
// is quoted from the log call of the stackrox/stackrox tag named in its
// comment (file:line in that tag), with example values for its %v and %s.
// The layout around it is StackRox's console logger (pkg/logging): module,
// date, time, file:line, level, message; the module is the package path
// after "compliance/" ("main" for the compliance package itself). Lines
// logged through StackRox's rate-limited logger carry a "file:line - "
// prefix in the message; their outer caller is a guess. Error texts from
// outside the relay (sensor's, grpc-go's, the kernel's) are as those sources
// print them, quoted in the comments.
func TestMatchLine(t *testing.T) {
	tests := []struct {
		name      string
		line      string
		wantEvent Event
		wantCID   uint32
		wantCode  Code
		versions  string
	}{
		// RHACS 4.9: tags 4.9.0 and 4.9.10 have the same relay.go.
		{ // 4.9.0 relay.go:70 log.Info("Starting virtual machine relay")
			"4.9 started", "virtualmachines/relay: 2025/11/04 10:00:00.100000 relay.go:70: Info: Starting virtual machine relay",
			EventStarted, 0, CodeNone, "4.9-4.11"},
		{ // 4.9.0 relay.go:128 log.Infof("Handling vsock connection from %s", conn.RemoteAddr())
			"4.9 connection", "virtualmachines/relay: 2025/11/04 10:00:08.801795 relay.go:128: Info: Handling vsock connection from vm(404660805):1856700015",
			EventConnection, 404660805, CodeNone, "4.9"},
		{ // 4.9.0 relay.go:214 log.Infof("Sending index report to sensor (vsockCID: %s)", report.VsockCid)
			"4.9 report", "virtualmachines/relay: 2025/11/04 10:00:08.841930 relay.go:214: Info: Sending index report to sensor (vsockCID: 404660805)",
			EventReportSent, 404660805, CodeNone, "4.9"},
		{ // 4.9.0 relay.go:245 log.Warnf("Error sending index report to sensor, retrying. Error was: %v", e);
			// the error is sensor's answer while central is away (sensor/common/virtualmachine/index).
			"4.9 send retry", `virtualmachines/relay: 2025/11/04 10:00:09.000001 relay.go:245: Warn: Error sending index report to sensor, retrying. Error was: rpc error: code = ResourceExhausted desc = sending virtual machine index report with vsock_cid="404660805" to Central: resource exhausted: Central is not reachable`,
			EventSendRetry, 0, CodeResourceExhausted, "4.9-4.10"},
		{ // 4.9.0 relay.go:157 log.Errorf("Error sending index report to sensor (vsock CID: %d): %v", vsockCID, err);
			// grpc-go's answer for a service sensor did not register (no ROX_VIRTUAL_MACHINES).
			"4.9 send failed", "virtualmachines/relay: 2025/11/04 10:00:10.000002 relay.go:157: Error: Error sending index report to sensor (vsock CID: 404660805): rpc error: code = Unimplemented desc = unknown service sensor.VirtualMachineIndexReportService",
			EventSendError, 404660805, CodeUnimplemented, "4.9"},
		{ // 4.9.0 relay.go:105 log.Errorf("Error handling vsock connection: %v", err), with
			// relay.go:153's "mismatch between reported (%s) and real (%d) vsock CIDs".
			"4.9 handle error", "virtualmachines/relay: 2025/11/04 10:01:40.000002 relay.go:105: Error: Error handling vsock connection: mismatch between reported (404660806) and real (404660805) vsock CIDs",
			EventHandleError, 0, CodeNone, "4.9"},
		{ // 4.9.0 compliance.go:132 log.Errorf("Error running virtual machine relay: %v", err), wrapping
			// relay.go's "starting vsock server" and "listening on port %d" around mdlayher/vsock's error.
			"4.9 bind failure", "main: 2025/11/04 10:00:00.200000 compliance.go:132: Error: Error running virtual machine relay: starting vsock server: listening on port 818: listen vsock host(2):818: bind: cannot assign requested address",
			EventListenError, 0, CodeNone, "4.9-4.11"},
		// RHACS 4.10: tags 4.10.0 and 4.10.6 have the same relay.
		{ // 4.10.0 relay.go:36 log.Info("Starting virtual machine relay")
			"4.10 started", "virtualmachines/relay: 2026/03/10 08:00:00.000001 relay.go:36: Info: Starting virtual machine relay",
			EventStarted, 0, CodeNone, "4.9-4.11"},
		{ // 4.10.0 stream/vsock_index_report_stream.go:150 log.Infof("Handling connection from %s", conn.RemoteAddr())
			"4.10 connection", "virtualmachines/relay/stream: 2026/03/10 08:00:05.123456 vsock_index_report_stream.go:150: Info: Handling connection from vm(3141592):40001",
			EventConnection, 3141592, CodeNone, "4.10-4.11"},
		{ // 4.10.0 sender/index_report_sender.go:47 log.Infof("Sending VM report to sensor (vsockCID: %s)", ...)
			"4.10 report", "virtualmachines/relay/sender: 2026/03/10 08:00:05.160000 index_report_sender.go:47: Info: Sending VM report to sensor (vsockCID: 3141592)",
			EventReportSent, 3141592, CodeNone, "4.10-4.11"},
		{ // 4.10.0 sender/index_report_sender.go:78 log.Warnf("Error sending index report to sensor, retrying. Error was: %v", e)
			"4.10 send retry", `virtualmachines/relay/sender: 2026/03/10 08:00:10.200000 index_report_sender.go:78: Warn: Error sending index report to sensor, retrying. Error was: rpc error: code = Unavailable desc = connection error: desc = "transport: Error while dialing: dial tcp 172.30.12.7:443: i/o timeout"`,
			EventSendRetry, 0, CodeUnavailable, "4.9-4.10"},
		{ // 4.10.0 relay.go:53 log.Errorf("Failed to send VM report (vsock CID: %s): %v", ...)
			"4.10 send failed", `virtualmachines/relay: 2026/03/10 08:01:45.000000 relay.go:53: Error: Failed to send VM report (vsock CID: 3141592): rpc error: code = ResourceExhausted desc = sending virtual machine index report with vsock_cid="3141592" to Central: resource exhausted: Central is not reachable`,
			EventSendError, 3141592, CodeResourceExhausted, "4.10"},
		{ // 4.10.0 stream/vsock_index_report_stream.go:154 log.Errorf("Error handling connection from %v: %v", ...), with
			// the stream's "validating reported vsock CID" and "mismatch between reported (%s) and real (%d) vsock CIDs".
			"4.10 handle error", "virtualmachines/relay/stream: 2026/03/10 08:02:00.000000 vsock_index_report_stream.go:154: Error: Error handling connection from vm(3141592):40002: validating reported vsock CID: mismatch between reported (3141593) and real (3141592) vsock CIDs",
			EventHandleError, 3141592, CodeNone, "4.10-4.11"},
		{ // 4.10.0 stream/vsock_index_report_stream.go:121 rate-limited WarnL("relay semaphore timeout",
			// "Failed to acquire semaphore to handle connection: %v", err), err from acquireSemaphore.
			"4.10 too many connections", "pkg/logging: 2026/03/10 08:03:00.000000 rate_limited_logger.go:298: Warn: vsock_index_report_stream.go:121 - Failed to acquire semaphore to handle connection: failed to acquire semaphore: context deadline exceeded",
			EventReportDropped, 0, CodeNone, "4.10-4.11"},
		{ // 4.10.0 compliance.go:135 log.Errorf("Error creating report stream: %v", err), wrapping stream.New's
			// "creating vsock listener" and vsock.NewListener's "listening on vsock port %d".
			"4.10 bind failure", "main: 2026/03/10 08:00:00.000000 compliance.go:135: Error: Error creating report stream: creating vsock listener: listening on vsock port 818: listen vsock host(2):818: socket: address family not supported by protocol",
			EventListenError, 0, CodeNone, "4.9-4.11"},
		// RHACS 4.11: tags 4.11.0 and 4.11.2 (and the 4.12.x nightlies up to
		// 2026-08-12) have the same messages.
		{ // 4.11.0 relay.go:109 log.Info("Starting virtual machine relay")
			"4.11 started", "virtualmachines/relay: 2026/06/20 07:39:00.450000 relay.go:109: Info: Starting virtual machine relay",
			EventStarted, 0, CodeNone, "4.9-4.11"},
		{ // 4.11.0 stream/vsock_index_report_stream.go:167 log.Infof("Handling connection from %s", conn.RemoteAddr())
			"4.11 connection", "virtualmachines/relay/stream: 2026/06/20 07:40:00.000001 vsock_index_report_stream.go:167: Info: Handling connection from vm(77):1025",
			EventConnection, 77, CodeNone, "4.10-4.11"},
		{ // 4.11.0 sender/index_report_sender.go:45 log.Infof("Sending VM report to sensor (vsockCID: %s)", ...)
			"4.11 report", "virtualmachines/relay/sender: 2026/06/20 07:40:00.000300 index_report_sender.go:45: Info: Sending VM report to sensor (vsockCID: 77)",
			EventReportSent, 77, CodeNone, "4.10-4.11"},
		{ // 4.11.0 relay.go:185 log.Errorf("Failed to send report (vsock CID: %s): %v", vsockID, err); sensor's
			// answer when central lacks the capability (errox.NotImplemented, sent as Unimplemented).
			"4.11 send failed, central lacks the capability", `virtualmachines/relay: 2026/06/20 07:40:00.004000 relay.go:185: Error: Failed to send report (vsock CID: 77): rpc error: code = Unimplemented desc = sending virtual machine index report with vsock_cid="77" to Central: not implemented: Central does not have virtual machine capability`,
			EventSendError, 77, CodeNotImplemented, "4.11"},
		{ // 4.11.0 relay.go:185, the 5 s timeout of sender/index_report_sender.go
			"4.11 send timed out", "virtualmachines/relay: 2026/06/20 07:40:05.000400 relay.go:185: Error: Failed to send report (vsock CID: 78): rpc error: code = DeadlineExceeded desc = context deadline exceeded",
			EventSendError, 78, CodeDeadlineExceeded, "4.11"},
		{ // 4.11.0 relay.go:185, cancelled while compliance stops
			"4.11 send cancelled", "virtualmachines/relay: 2026/06/20 07:41:00.000000 relay.go:185: Error: Failed to send report (vsock CID: 79): rpc error: code = Canceled desc = context canceled",
			EventSendError, 79, CodeCanceled, "4.11"},
		{ // 4.11.0 relay.go:185, sender/index_report_sender.go:60's status.Error(codes.Internal, ...)
			"4.11 send failed otherwise", "virtualmachines/relay: 2026/06/20 07:42:00.000000 relay.go:185: Error: Failed to send report (vsock CID: 80): rpc error: code = Internal desc = sensor failed to handle virtual machine index report",
			EventSendError, 80, CodeOther, "4.11"},
		{ // 4.11.0 relay.go:175 log.Warnf("Rate limited for VSOCK %s and last ACK is stale or missing (threshold=%s); dropping report", ...)
			"4.11 rate limited, stale ACK", "virtualmachines/relay: 2026/06/20 07:40:30.000000 relay.go:175: Warn: Rate limited for VSOCK 77 and last ACK is stale or missing (threshold=4h0m0s); dropping report",
			EventReportDropped, 77, CodeNone, "4.11"},
		{ // 4.11.0 relay.go:178 log.Debugf("Rate limited for VSOCK %s; dropping report and relying on agent retry", vsockID)
			"4.11 rate limited", "virtualmachines/relay: 2026/06/20 07:40:31.000000 relay.go:178: Debug: Rate limited for VSOCK 77; dropping report and relying on agent retry",
			EventReportDropped, 77, CodeNone, "4.11"},
		{ // 4.11.0 relay.go:164 log.Warn("Received VM report without a valid vsock CID; dropping")
			"4.11 no CID", "virtualmachines/relay: 2026/06/20 07:40:32.000000 relay.go:164: Warn: Received VM report without a valid vsock CID; dropping",
			EventReportDropped, 0, CodeNone, "4.11"},
		{ // 4.11.0 stream/vsock_index_report_stream.go:138 rate-limited WarnL("relay semaphore timeout", ...)
			"4.11 too many connections", "pkg/logging: 2026/06/20 07:43:00.000000 rate_limited_logger.go:299: Warn: vsock_index_report_stream.go:138 - Failed to acquire semaphore to handle connection: failed to acquire semaphore: context deadline exceeded - 3 log suppressed for limiter \"relay semaphore timeout\"",
			EventReportDropped, 0, CodeNone, "4.10-4.11"},
		{ // 4.11.0 stream/vsock_index_report_stream.go:171 log.Errorf("Error handling connection from %v: %v", ...), with
			// connutil.go's "data size exceeds the limit (%d bytes, remote: %v)".
			"4.11 handle error", "virtualmachines/relay/stream: 2026/06/20 07:44:00.000000 vsock_index_report_stream.go:171: Error: Error handling connection from vm(77):1026: reading from connection (vsock CID: 77): data size exceeds the limit (16777216 bytes, remote: vm(77):1026)",
			EventHandleError, 77, CodeNone, "4.10-4.11"},
		{ // 4.11.0 retry.go:74 rate-limited WarnL("vm-relay-retry", "VM relay failed: %v", err), wrapping
			// stream.New's "creating vsock listener" (vsock.NewListener no longer wraps).
			"4.11 bind failure", "pkg/logging: 2026/06/20 07:39:00.460000 rate_limited_logger.go:299: Warn: retry.go:74 - VM relay failed: creating vsock listener: listen vsock host(2):818: bind: address already in use",
			EventListenError, 0, CodeNone, "4.9-4.11"},
		// Kubernetes timestamps in front change nothing.
		{"with a timestamp", "2026-06-20T07:40:00.000001234Z virtualmachines/relay/stream: 2026/06/20 07:40:00.000001 vsock_index_report_stream.go:167: Info: Handling connection from vm(78):1025",
			EventConnection, 78, CodeNone, "4.10-4.11"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, ok := MatchLine(tt.line)
			if !ok {
				t.Fatalf("MatchLine(%q) did not match", tt.line)
			}
			type result struct {
				Event    Event
				CID      uint32
				Code     Code
				Versions string
			}
			got := result{m.Event, m.CID, m.Code, m.Pattern.Versions}
			want := result{tt.wantEvent, tt.wantCID, tt.wantCode, tt.versions}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("MatchLine (-want +got):\n%s", diff)
			}
		})
	}
}

// TestMatchLineNonMatches: lines of the compliance container that are not
// relay events, or that repeat one, are not matched.
func TestMatchLineNonMatches(t *testing.T) {
	for _, tt := range []struct{ name, line string }{
		{"empty", ""},
		{"4.11.0 compliance.go:77 version", "main: 2026/06/20 07:39:00.442346 compliance.go:77: Info: Running StackRox Version: 4.11.0"},
		{"4.9.0 compliance.go:129 enabled", "main: 2025/11/04 10:00:00.000100 compliance.go:129: Info: Virtual machine relay enabled"},
		{"4.11.0 compliance.go:155 not on a master node", "main: 2026/06/20 07:39:00.000100 compliance.go:155: Info: Virtual machine relay not started on master node; set ROX_VIRTUAL_MACHINES_RELAY_ENABLED_ON_MASTER_NODES=true to enable"},
		{"4.9.0 relay.go:136 debug read", "virtualmachines/relay: 2025/11/04 10:00:08.801887 relay.go:136: Debug: Reading from connection (max bytes: 4194304, timeout: 10s"},
		{"4.9.0 relay.go:161 finished", "virtualmachines/relay: 2025/11/04 10:00:08.842985 relay.go:161: Debug: Finished handling vsock connection from vm(404660805):1856700015"},
		{"4.10.0 stream.go:158 finished", "virtualmachines/relay/stream: 2026/03/10 08:00:05.200000 vsock_index_report_stream.go:158: Info: Finished handling connection from vm(3141592):40001"},
		// 4.10.0 stream.go:66: always follows "Starting virtual machine relay", which counts the start.
		{"4.10.0 stream.go:66 stream started", "virtualmachines/relay/stream: 2026/03/10 08:00:00.000002 vsock_index_report_stream.go:66: Info: Starting report stream"},
		{"4.10.0 stream.go:95 stream stopped", "virtualmachines/relay/stream: 2026/03/10 08:05:00.000000 vsock_index_report_stream.go:95: Info: Stopping report stream"},
		// 4.9.0 relay.go:152: the handling error that follows counts it.
		{"4.9.0 relay.go:152 CID mismatch", "virtualmachines/relay: 2025/11/04 10:01:40.000001 relay.go:152: Error: Received index report with invalid vsock CID: 404660805"},
		// 4.9.0 relay.go:105 after relay.go:157: the same failed send again.
		{"4.9.0 relay.go:105 repeated send failure", "virtualmachines/relay: 2025/11/04 10:00:10.000003 relay.go:105: Error: Error handling vsock connection: sending report to sensor (vsock CID: 404660805): rpc error: code = Unimplemented desc = unknown service sensor.VirtualMachineIndexReportService"},
		// 4.10.0 sender.go:65: a retry or the final failure follows.
		{"4.10.0 sender.go:65 unsuccessful answer", "virtualmachines/relay/sender: 2026/03/10 08:00:06.000000 index_report_sender.go:65: Error: Sending index report didn't return an error but response indicated failure: success:false"},
		{"4.10.0 relay.go:49 nil report", "virtualmachines/relay: 2026/03/10 08:00:07.000000 relay.go:49: Warn: Received nil VM report, skipping"},
		// Texts no released tag prints: master between 4.9 and 4.10, and a guess.
		{"unreleased handle error", "virtualmachines/relay: 2025/12/01 08:00:00.000000 relay.go:117: Error: Error handling vsock connection from vm(404660805):1856700020: boom"},
		{"never printed", "virtualmachines/relay/sender: 2026/05/02 10:00:00.000000 index_report_sender.go:41: Info: Sending vsock message to sensor (vsockCID: 77)"},
		{"other module", "node/inventory: 2026/06/20 07:39:00.442255 node_scanner.go:50: Info: Initialized gRPC connection to node-inventory container"},
		{"lower case", "handling connection from vm(3):1"},
	} {
		if m, ok := MatchLine(tt.line); ok {
			t.Errorf("%s: MatchLine(%q) = %+v, want no match", tt.name, tt.line, m)
		}
	}
}

// TestCodeIn reads the gRPC status a line names.
func TestCodeIn(t *testing.T) {
	tests := []struct {
		name, in string
		want     Code
	}{
		{"none", "Failed to send report (vsock CID: 7): VM report missing required index_report field", CodeNone},
		{"resource exhausted", "x: rpc error: code = ResourceExhausted desc = y", CodeResourceExhausted},
		{"unknown service", "rpc error: code = Unimplemented desc = unknown service sensor.VirtualMachineIndexReportService", CodeUnimplemented},
		{"central lacks the capability", `rpc error: code = Unimplemented desc = sending virtual machine index report with vsock_cid="7" to Central: not implemented: Central does not have virtual machine capability`, CodeNotImplemented},
		{"unavailable", "rpc error: code = Unavailable desc = connection error", CodeUnavailable},
		{"deadline", "rpc error: code = DeadlineExceeded desc = context deadline exceeded", CodeDeadlineExceeded},
		{"canceled", "rpc error: code = Canceled desc = context canceled", CodeCanceled},
		{"unauthenticated", "rpc error: code = Unauthenticated desc = credentials not found", CodeOther},
		{"numeric", "rpc error: code = Code(99) desc = ?", CodeOther},
		{"cut short", "rpc error: code = ", CodeOther},
		{"first of two", "rpc error: code = Unavailable desc = rpc error: code = Canceled desc = x", CodeUnavailable},
		{"prefix only", "Unavailable desc = x", CodeNone},
		{"unimplemented without desc", "rpc error: code = Unimplemented", CodeUnimplemented},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := codeIn(tt.in); got != tt.want {
				t.Errorf("codeIn(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// TestPatternTable keeps the table sound: every event has a pattern, no
// pattern is shadowed by an earlier one or by a repeat, and the CID markers
// are honoured.
func TestPatternTable(t *testing.T) {
	seen := map[Event]bool{}
	ps := Patterns()
	for i, p := range ps {
		seen[p.Event] = true
		if p.Text == "" || p.Versions == "" || p.Source == "" {
			t.Errorf("pattern %d has an empty field: %+v", i, p)
		}
		for _, q := range append(Repeats(), ps[:i]...) {
			if strings.Contains(p.Text, q.Text) {
				t.Errorf("pattern %q is shadowed by the earlier %q", p.Text, q.Text)
			}
		}
	}
	for _, r := range Repeats() {
		if m, ok := MatchLine(r.Text); ok {
			t.Errorf("repeat %q matched %+v", r.Text, m)
		}
	}
	for _, e := range Events() {
		if !seen[e] {
			t.Errorf("event %q has no pattern", e)
		}
	}
	for _, tt := range []struct {
		in   string
		want uint32
	}{
		{"vm(12):3", 12}, {"(vsockCID: 99)", 99}, {"(vsock CID: 7): x", 7}, {"Rate limited for VSOCK 5;", 5},
		{"vm():1", 0}, {"vm(99999999999):1", 0}, {"host(2):818", 0},
	} {
		if got := cidIn(tt.in); got != tt.want {
			t.Errorf("cidIn(%q) = %d, want %d", tt.in, got, tt.want)
		}
	}
}

// FuzzMatchLine: a match contains its pattern's text, names an event and a
// code of the fixed sets, and no line with a repeat's text matches.
func FuzzMatchLine(f *testing.F) {
	f.Add("virtualmachines/relay: 2025/11/04 10:00:08.801795 relay.go:128: Info: Handling vsock connection from vm(404660805):1856700015")
	f.Add("Sending VM report to sensor (vsockCID: ")
	f.Add("2026-04-23T07:40:00Z listen vsock host(2):818: x")
	f.Add("Failed to send report (vsock CID: 77): rpc error: code = Unimplemented desc = x: not implemented: y")
	f.Add("Error sending index report to sensor, retrying. Error was: rpc error: code = ")
	f.Add("Error handling vsock connection: sending report to sensor (vsock CID: 1): rpc error: code = Canceled desc = z")
	f.Add("Rate limited for VSOCK 4294967296; dropping report")
	events := map[Event]bool{}
	for _, e := range Events() {
		events[e] = true
	}
	codes := map[Code]bool{CodeNone: true}
	for _, c := range Codes() {
		codes[c] = true
	}
	f.Fuzz(func(t *testing.T, line string) {
		m, ok := MatchLine(line)
		if !ok {
			if m != (Match{}) {
				t.Fatalf("no match but %+v", m)
			}
		} else {
			if !strings.Contains(line, m.Pattern.Text) {
				t.Fatalf("matched %q without its text %q", line, m.Pattern.Text)
			}
			if !events[m.Event] || m.Event != m.Pattern.Event {
				t.Fatalf("matched %q as event %q (pattern %+v)", line, m.Event, m.Pattern)
			}
			if m.CID != 0 && !strings.Contains(line, strconv.FormatUint(uint64(m.CID), 10)) {
				t.Fatalf("matched %q with CID %d, not in the line", line, m.CID)
			}
			for _, r := range Repeats() {
				if strings.Contains(line, r.Text) {
					t.Fatalf("matched %q, which repeats an earlier line (%q)", line, r.Text)
				}
			}
		}
		if !codes[m.Code] {
			t.Fatalf("code %q of %q is not in the fixed set", m.Code, line)
		}
		if m.Code != CodeNone && !strings.Contains(line, "rpc error: code = ") {
			t.Fatalf("code %q from %q, which names no gRPC status", m.Code, line)
		}
		if c := codeIn(line); !codes[c] {
			t.Fatalf("codeIn(%q) = %q, not in the fixed set", line, c)
		}
		_, _ = SplitTimestamp(line)
	})
}

// TestPatternsDocumented keeps docs/vsock.md's tables in step with the code.
func TestPatternsDocumented(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "vsock.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range Patterns() {
		row := fmt.Sprintf("| `%s` | %s | `%s` | %s |", p.Event, p.Versions, p.Text, p.Source)
		if !strings.Contains(string(doc), row) {
			t.Errorf("docs/vsock.md lacks the row %s", row)
		}
	}
	for _, p := range Repeats() {
		row := fmt.Sprintf("| (repeat of `%s`) | %s | `%s` | %s |", p.Event, p.Versions, p.Text, p.Source)
		if !strings.Contains(string(doc), row) {
			t.Errorf("docs/vsock.md lacks the row %s", row)
		}
	}
	for _, c := range Codes() {
		if !strings.Contains(string(doc), "| `"+string(c)+"` |") {
			t.Errorf("docs/vsock.md lacks the code %s", c)
		}
	}
}

package app

import (
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
)

// FuzzParseTarget checks that ParseTarget never panics and that what it
// accepts is a valid metric label and a dialable HOST:PORT that parses back
// to the same target.
func FuzzParseTarget(f *testing.F) {
	for _, s := range []string{
		"hostport=127.0.0.1:8443", "clusterip=172.30.0.10:443", "dns=sensor.stackrox.svc:443",
		"podip=[fd00::1]:8443", "webhook=sensor-webhook.stackrox.svc:443", "=h:1", "a=", "a=h:0",
		"a=h:65536", "Bad Name=h:1", "a=b=c:1", "a=[::1", "a=:443", "x_y-1=h:+1", "a=h:0x10",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tg, err := ParseTarget(s)
		if err != nil {
			if tg.Name != "" || tg.Addr != "" {
				t.Fatalf("ParseTarget(%q) failed (%v) but returned %+v", s, err, tg)
			}
			return
		}
		if tg.Name == "" || len(tg.Name) > 32 || strings.Trim(tg.Name, "abcdefghijklmnopqrstuvwxyz0123456789_-") != "" {
			t.Fatalf("ParseTarget(%q) accepted path name %q", s, tg.Name)
		}
		host, port, err := net.SplitHostPort(tg.Addr)
		if err != nil || host == "" {
			t.Fatalf("ParseTarget(%q) accepted address %q: %v", s, tg.Addr, err)
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			t.Fatalf("ParseTarget(%q) accepted port %q", s, port)
		}
		if again, err := ParseTarget(tg.Name + "=" + tg.Addr); err != nil || again != tg {
			t.Fatalf("ParseTarget(%q) = %+v, but its own form parses to %+v, %v", s, tg, again, err)
		}
	})
}

// FuzzParseDaemonValues gives the daemon's value flags arbitrary text.
// ParseDaemon never panics; every problem it reports is one line naming its
// flag; a configuration it accepts is internally consistent.
func FuzzParseDaemonValues(f *testing.F) {
	f.Add("10s", "5s", "hostport=127.0.0.1:8443", ":9818", "818", "0", "10s", "10m", "http", "info", "text")
	f.Add("1s", "2s", "a=h:1", "127.0.0.1:0", "4294967295", "818", "0s", "-1m", "icmp", "loud", "xml")
	f.Add("", "", "", "", "", "", "", "", "", "", "")
	f.Add("1e9", "9223372036854775807ns", "a=[::1]:1", "[::1]:99999", "-1", "x", "1h", "1ns", "grpc", "debug", "json")
	f.Fuzz(func(t *testing.T, interval, timeout, target, listen, relayPort, listenPort, vInterval, vWindow, check, level, format string) {
		args := []string{
			"--kube=false",
			"--interval=" + interval, "--timeout=" + timeout, "--target=" + target,
			"--web.listen-address=" + listen, "--vsock.relay-port=" + relayPort,
			"--vsock.listen-port=" + listenPort, "--vsock.interval=" + vInterval,
			"--vsock.window=" + vWindow, "--check=" + check, "--log.level=" + level, "--log.format=" + format,
		}
		cfg, err := ParseDaemon(args, io.Discard, func(string) string { return "" })
		if err != nil {
			for line := range strings.SplitSeq(err.Error(), "\n") {
				if !strings.HasPrefix(line, "--") {
					t.Fatalf("problem %q does not name its flag; all problems:\n%v", line, err)
				}
			}
			return
		}
		if iv := cfg.Schedule.Interval; iv <= 0 || cfg.Dial.Timeout <= 0 || cfg.Dial.Timeout > iv {
			t.Fatalf("accepted interval %v, timeout %v", cfg.Schedule.Interval, cfg.Dial.Timeout)
		}
		if cfg.VSOCKInterval <= 0 || cfg.VSOCKWindow <= 0 {
			t.Fatalf("accepted vsock interval %v, window %v", cfg.VSOCKInterval, cfg.VSOCKWindow)
		}
		if cfg.VSOCKListenPort != 0 && cfg.VSOCKListenPort == cfg.VSOCKRelayPort {
			t.Fatalf("accepted the beacon on the relay's port %d", cfg.VSOCKRelayPort)
		}
		if len(cfg.Targets) != 1 {
			t.Fatalf("accepted %d targets from one --target", len(cfg.Targets))
		}
		if tg, err := ParseTarget(target); err != nil || tg.Addr != cfg.Targets[0].Addr {
			t.Fatalf("accepted --target %q as %+v; ParseTarget says %+v, %v", target, cfg.Targets[0], tg, err)
		}
		if _, port, err := net.SplitHostPort(cfg.ListenAddress); err != nil {
			t.Fatalf("accepted --web.listen-address %q: %v", cfg.ListenAddress, err)
		} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
			t.Fatalf("accepted --web.listen-address port %q", port)
		}
	})
}

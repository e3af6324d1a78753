#!/usr/bin/env bash
# run.sh is `make e2e`: the end-to-end harness on a node's real plumbing
# (docs/e2e.md). As root it builds the binaries, builds the network namespaces
# (package topology), runs the harness (TestE2E, build tag e2e) inside the
# node namespace, and removes every namespace, route, file and process it
# made: on success, on failure, on Ctrl-C or SIGTERM. A run killed with
# SIGKILL leaves them behind; the next run removes them before it starts.
#
# Without root or a needed tool it prints why and exits 0 (skipped), unless
# the environment variable CI is set: then it fails.
#
# Environment: KUBE_ASSETS (default: hack/kube-assets.sh builds or finds them),
# E2E_ARTIFACTS (default artifacts/e2e: component logs, the result table),
# E2E_FAULTS (comma-separated fault ids, e.g. 4e,5: run only those rows).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$repo"
start=$(date +%s)

skip() {
	if [[ -n "${CI:-}" ]]; then
		echo "e2e: FAIL (CI is set, so it must not skip): $*" >&2
		exit 1
	fi
	echo "e2e: SKIP: $*" >&2
	exit 0
}

[[ "$(id -u)" == 0 ]] || skip "needs root (network namespaces, nftables, iptables): sudo -E make e2e"
for tool in ip nft iptables sysctl flock prometheus; do
	command -v "$tool" >/dev/null || skip "$tool not found: apt-get install iproute2 nftables iptables procps util-linux prometheus"
done
[[ -x /usr/lib/cni/portmap ]] || skip "/usr/lib/cni/portmap not found: apt-get install containernetworking-plugins"

# One run at a time on this machine: the namespaces and routes have fixed names.
exec 8>/run/sensorprobe-e2e.lock
if ! flock -n 8; then
	echo "e2e: another run holds /run/sensorprobe-e2e.lock; waiting for it" >&2
	flock 8
fi

# The root namespace's firewall, to show that the run added nothing to it:
# no rule may name the run's addresses, tables, chains or queue. (Other
# programs on the machine, such as podman's CNI plugins, may change it
# meanwhile; that is reported, not failed.)
root_rules() { { nft list ruleset; iptables-save | sed '/^#/d'; } 2>&1; }
ours='10\.16[0-2]\.|sp[-_]e2e|KUBE-|kube-proxy|CNI-HOSTPORT|CNI-DN-|NFQUEUE|sensorprobe'
root_before="$(root_rules | sha256sum)"
if root_rules | grep -Eq "$ours"; then
	echo "e2e: the root namespace already has rules naming the harness's addresses or chains:" >&2
	root_rules | grep -E "$ours" >&2
fi

work="$(mktemp -d /tmp/sensorprobe-e2e.XXXXXX)"
chmod 755 "$work"
artifacts="${E2E_ARTIFACTS:-$repo/artifacts/e2e}"
mkdir -p "$artifacts"
bin="$work/bin"
child=""

cleanup() {
	local rc=$?
	trap - EXIT INT TERM HUP
	if [[ -n "$child" ]] && kill -0 "$child" 2>/dev/null; then
		kill -TERM "$child" 2>/dev/null || true
	fi
	if [[ -x "$bin/e2e-netns" ]]; then
		"$bin/e2e-netns" down || rc=1
		if left="$("$bin/e2e-netns" check)"; then
			echo "e2e: cleanup: no namespace, route or process left behind" >&2
		else
			echo "e2e: cleanup FAILED, left behind:" >&2
			echo "$left" >&2
			rc=1
		fi
	fi
	if root_rules | grep -Eq "$ours"; then
		echo "e2e: FAIL: rules in the root namespace name the harness's addresses or chains:" >&2
		root_rules | grep -E "$ours" >&2
		rc=1
	elif [[ "$(root_rules | sha256sum)" == "$root_before" ]]; then
		echo "e2e: the root namespace's nftables and iptables rules are as they were" >&2
	else
		echo "e2e: the root namespace's rules changed during the run, but none names the harness's addresses or chains (another program's)" >&2
	fi
	rm -rf "$work"
	echo "e2e: $( ((rc == 0)) && echo PASS || echo "FAIL (exit $rc)" ) after $(( $(date +%s) - start ))s; logs in $artifacts" >&2
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

echo "e2e: building the probe, the harness and its helpers" >&2
mkdir -p "$bin"
# The probe as the image ships it: static, version stamped.
make -s build >/dev/null &
b1=$!
go build -o "$bin/" ./test/e2e/cmd/e2e-netns ./test/e2e/cmd/e2e-sensor ./test/e2e/cmd/e2e-nfqdelay &
b2=$!
go test -c -tags e2e -o "$bin/e2e.test" ./test/e2e &
b3=$!
wait "$b1"
wait "$b2"
wait "$b3"
cp bin/probe "$bin/probe"
chmod 755 "$bin" "$bin"/*

KUBE_ASSETS="${KUBE_ASSETS:-$(hack/kube-assets.sh | tail -n1)}"
[[ -x "$KUBE_ASSETS/kube-proxy" ]] || { echo "e2e: no kube-proxy in $KUBE_ASSETS (run hack/kube-assets.sh)" >&2; exit 1; }

# Leftovers of an earlier run that was killed.
if ! left="$("$bin/e2e-netns" check)"; then
	echo "e2e: removing what an earlier, killed run left behind:" $left >&2
	"$bin/e2e-netns" down
fi
"$bin/e2e-netns" up
echo "e2e: namespaces up after $(( $(date +%s) - start ))s" >&2

# The harness runs inside the node namespace: it and everything it starts
# (kube-apiserver, etcd, kube-proxy, the probe, Prometheus) see the node's
# network, and its resolv.conf. `wait` returns at once on a signal, so the
# traps run even while the harness is busy.
run_args=(-test.v -test.count=1 -test.timeout=15m -test.run '^TestE2E$')
E2E_WORK="$work" E2E_BIN="$bin" E2E_ARTIFACTS="$artifacts" E2E_REPO="$repo" KUBE_ASSETS="$KUBE_ASSETS" \
	ip netns exec sp-e2e-node "$bin/e2e.test" "${run_args[@]}" &
child=$!
wait "$child"

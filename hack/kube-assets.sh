#!/usr/bin/env bash
# kube-assets.sh builds kube-apiserver and etcd for internal/kube's integration
# tests, and kube-proxy for the end-to-end harness (test/e2e), and caches them
# outside the repository, keyed by version, so that every clone on this machine
# (and CI in a fresh clone) reuses one build. A binary already in the cache is
# not built again: adding kube-proxy to a cache that holds the other two builds
# kube-proxy alone.
#
# Usage: hack/kube-assets.sh [--print-dir]
#   Builds if needed, then prints the asset directory as the last line of
#   stdout. With --print-dir it only prints the directory (no build).
#   Use it as:  export KUBE_ASSETS="$(hack/kube-assets.sh | tail -n1)"
#
# Environment:
#   XDG_CACHE_HOME   cache root (default $HOME/.cache)
#   KUBE_ASSETS_DIR  use this directory instead of the cache default
#
# Sources: tools/kube-apiserver (a separate Go module) pins k8s.io/kubernetes
# and go.etcd.io/etcd/server/v3; every binary comes from the Go module proxy,
# nothing else is downloaded. A cold build takes about 15-30 minutes on 2 cores;
# kube-proxy shares most of its packages with kube-apiserver, so after it a
# few minutes more.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="$repo/tools/kube-apiserver"

# Versions come from the tools module's go.mod so there is one place to bump.
kube_version="$(awk '$1=="k8s.io/kubernetes" && $2 ~ /^v/ {print $2; exit}' "$tools/go.mod")"
etcd_version="$(awk '$1=="go.etcd.io/etcd/server/v3" && $2 ~ /^v/ {print $2; exit}' "$tools/go.mod")"
if [[ -z "$kube_version" || -z "$etcd_version" ]]; then
	echo "kube-assets: cannot read versions from $tools/go.mod" >&2
	exit 1
fi

dir="${KUBE_ASSETS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/sensorprobe/kube-${kube_version}-etcd-${etcd_version}}"

if [[ "${1:-}" == "--print-dir" ]]; then
	echo "$dir"
	exit 0
fi

# binary → Go package. The Kubernetes binaries get their version stamped in.
declare -A pkgs=(
	[kube-apiserver]=k8s.io/kubernetes/cmd/kube-apiserver
	[kube-proxy]=k8s.io/kubernetes/cmd/kube-proxy
	[etcd]=go.etcd.io/etcd/server/v3
)
order=(kube-apiserver kube-proxy etcd)

missing() {
	local b
	for b in "${order[@]}"; do
		[[ -x "$dir/$b" ]] || echo "$b"
	done
}

if [[ -z "$(missing)" ]]; then
	echo "kube-assets: using cached kube-apiserver and kube-proxy $kube_version, etcd $etcd_version" >&2
	echo "$dir"
	exit 0
fi

mkdir -p "$dir"
# Only one build at a time per cache directory.
exec 9>"$dir/.lock"
if ! flock -n 9; then
	echo "kube-assets: another build is running for $dir; waiting for it" >&2
	flock 9
fi
mapfile -t todo < <(missing)
if ((${#todo[@]} == 0)); then
	echo "$dir"
	exit 0
fi

major="${kube_version#v}"; major="${major%%.*}"
minor="${kube_version#v*.}"; minor="${minor%%.*}"
pkg=k8s.io/component-base/version
ldflags="-s -w \
 -X $pkg.gitVersion=$kube_version \
 -X $pkg.gitMajor=$major \
 -X $pkg.gitMinor=$minor \
 -X $pkg.gitTreeState=clean \
 -X $pkg.gitCommit=module-$kube_version \
 -X $pkg.buildDate=$(date -u +%Y-%m-%dT%H:%M:%SZ)"

echo "kube-assets: BUILDING ${todo[*]} (kube $kube_version, etcd $etcd_version) from source" >&2
echo "kube-assets: this takes about 15-30 minutes on 2 cores (cold; 28 min measured on 2 busy shared cores), a few seconds when cached" >&2
echo "kube-assets: output goes to $dir" >&2
start=$(date +%s)
tmp="$(mktemp -d "$dir/.build.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
for b in "${todo[@]}"; do
	(
		cd "$tools"
		export GOFLAGS=-mod=mod CGO_ENABLED=0
		flags="$ldflags"
		[[ "$b" == etcd ]] && flags="-s -w"
		go build -trimpath -ldflags "$flags" -o "$tmp/$b" "${pkgs[$b]}"
	)
	# Each binary is moved in as soon as it is built, so an interrupted run
	# keeps what it finished.
	mv "$tmp/$b" "$dir/"
	echo "kube-assets: $b done after $(( $(date +%s) - start ))s" >&2
done
echo "kube-assets: built in $(( $(date +%s) - start ))s: $("$dir/kube-apiserver" --version), $("$dir/kube-proxy" --version), etcd $etcd_version" >&2
echo "$dir"

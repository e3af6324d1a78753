#!/usr/bin/env bash
# helm.sh builds the helm binary that lints, renders and installs the chart
# (deploy/helm/sensorprobe) in the tests and in CI, and caches it outside the
# repository, keyed by version, so that every clone on this machine (and CI in
# a fresh clone) reuses one build. A binary already in the cache is not built
# again.
#
# Usage: hack/helm.sh [--print-path]
#   Builds if needed, then prints the binary's path as the last line of
#   stdout. With --print-path it only prints the path (no build).
#   Use it as:  export HELM="$(hack/helm.sh | tail -n1)"
#
# Environment:
#   XDG_CACHE_HOME  cache root (default $HOME/.cache)
#   HELM_DIR        use this directory instead of the cache default
#
# Source: tools/helm (a separate Go module, so that the main module's go.mod
# never sees helm) pins helm.sh/helm/v4 with a tool directive; the binary comes
# from the Go module proxy, nothing else is downloaded. Cold it takes a few
# minutes on 2 cores (docs/performance.md has the measured time).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="$repo/tools/helm"
pkg=helm.sh/helm/v4

# The version comes from the tools module's go.mod so there is one place to bump.
version="$(awk -v m="$pkg" '$1==m && $2 ~ /^v/ {print $2; exit}' "$tools/go.mod")"
if [[ -z "$version" ]]; then
	echo "helm.sh: cannot read the version of $pkg from $tools/go.mod" >&2
	exit 1
fi

dir="${HELM_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/sensorprobe/helm-${version}}"
bin="$dir/helm"

if [[ "${1:-}" == "--print-path" ]]; then
	echo "$bin"
	exit 0
fi
if [[ $# -gt 0 ]]; then
	echo "usage: hack/helm.sh [--print-path]" >&2
	exit 2
fi

if [[ -x "$bin" ]]; then
	echo "helm.sh: using cached helm $version" >&2
	echo "$bin"
	exit 0
fi

mkdir -p "$dir"
# Only one build at a time per cache directory.
exec 9>"$dir/.lock"
if ! flock -n 9; then
	echo "helm.sh: another build is running for $dir; waiting for it" >&2
	flock 9
fi
if [[ -x "$bin" ]]; then
	echo "$bin"
	exit 0
fi

# What helm's own Makefile stamps in for a release build.
ver=helm.sh/helm/v4/internal/version
ldflags="-s -w -X $ver.version=$version -X $ver.metadata= -X $ver.gitTreeState=clean"

echo "helm.sh: BUILDING helm $version from the Go module proxy (a few minutes cold on 2 cores)" >&2
echo "helm.sh: output goes to $bin" >&2
start=$(date +%s)
tmp="$(mktemp -d "$dir/.build.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
(
	cd "$tools"
	CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$tmp/helm" "$pkg/cmd/helm"
)
"$tmp/helm" version --short >/dev/null
mv "$tmp/helm" "$bin"
echo "helm.sh: built in $(( $(date +%s) - start ))s: $("$bin" version --short)" >&2
echo "$bin"

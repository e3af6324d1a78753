#!/usr/bin/env bash
# Builds the multi-arch image offline (make image BASE=scratch) and checks the manifest list:
# one image per architecture OpenShift runs on, the OCI labels, and the amd64 image runs.
# Needs podman (with runc). Usage: hack/check-image.sh [IMAGE]
set -euo pipefail
cd "$(dirname "$0")/.."
image="${1:-localhost/sensorprobe:check}"
make image BASE=scratch IMAGE="$image"

fail() { echo "check-image: $*" >&2; exit 1; }
manifest="$(podman manifest inspect "$image")"
for arch in amd64 arm64 ppc64le s390x; do
	grep -q "\"architecture\": \"$arch\"" <<<"$manifest" || fail "no linux/$arch image in $image"
done
count="$(grep -c '"architecture"' <<<"$manifest")"
[ "$count" = 4 ] || fail "$count images in $image, want 4"

for arch in amd64 arm64 ppc64le s390x; do
	digest="$(podman manifest inspect "$image" | awk -v a="\"$arch\"" '
		/"digest"/ { d = $2 } /"architecture"/ && $2 ~ a { gsub(/[",]/, "", d); print d; exit }')"
	[ -n "$digest" ] || fail "no digest for $arch"
	for label in title version revision created source; do
		v="$(podman image inspect --format "{{ index .Labels \"org.opencontainers.image.$label\" }}" "$image@$digest")"
		[ -n "$v" ] && [ "$v" != "<no value>" ] || fail "$arch image lacks org.opencontainers.image.$label"
	done
	os_arch="$(podman image inspect --format '{{.Os}}/{{.Architecture}}' "$image@$digest")"
	[ "$os_arch" = "linux/$arch" ] || fail "$digest is $os_arch, want linux/$arch"
done

# The host's own image runs: the static binary needs nothing from the (empty) base.
case "$(uname -m)" in
x86_64) host=amd64 ;;
aarch64) host=arm64 ;;
*) host="$(uname -m)" ;;
esac
podman run --rm --runtime runc --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 \
	--platform "linux/$host" "$image" version | head -n 1
echo "check-image: $image has linux/amd64, linux/arm64, linux/ppc64le and linux/s390x, labelled"

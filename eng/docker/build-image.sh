#!/usr/bin/env bash
# Builds the QEMU image without a registry: a Debian root file system made by debootstrap from Debian's own
# packages (the same QEMU packages a Debian host installs), imported with `docker import`.
# Cached: skipped when the tag exists and its org.qemutestkit.recipe label equals this recipe's hash.
#
#   eng/docker/build-image.sh [tag [suite]]   default tag: qemutestkit/qemu:local, default suite: bookworm
#
# The suite picks the QEMU build: bookworm (Debian 12) has QEMU 7.2, trixie (Debian 13) QEMU 10.0; both come from the
# same mirror, so images of both build offline side by side (./build.sh setup builds qemutestkit/qemu:local and
# qemutestkit/qemu:10).
#
# Environment: QTK_DEBIAN_MIRROR (default http://deb.debian.org/debian), QTK_IMAGE_FORCE=1 rebuilds.
# Needs root (debootstrap) and a Docker engine (DOCKER_HOST is honoured).
set -euo pipefail

tag="${1:-qemutestkit/qemu:local}"
suite="${2:-bookworm}"
mirror="${QTK_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
packages=qemu-system-x86,qemu-utils
here="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd -P)"

# The recipe is this script plus the inputs it depends on: a change to either rebuilds the image.
recipe="$( { cat "$here/build-image.sh"; echo "$suite $mirror $packages"; } | sha256sum | cut -c1-16)"

err() { printf 'build-image.sh: %s\n' "$*" >&2; }

if ! docker version >/dev/null 2>&1; then
    err "no Docker engine answers (DOCKER_HOST=${DOCKER_HOST:-unix:///var/run/docker.sock}): start one (./build.sh setup does, as root)"
    exit 1
fi

existing="$(docker image inspect --format '{{ index .Config.Labels "org.qemutestkit.recipe" }}' "$tag" 2>/dev/null || true)"
if [[ "$existing" == "$recipe" && "${QTK_IMAGE_FORCE:-0}" != 1 ]]; then
    echo "image $tag is up to date (recipe $recipe)"
    exit 0
fi

if [[ "$(id -u)" != 0 ]]; then
    err "building $tag needs root (debootstrap); run as root: $0 $tag"
    exit 1
fi
command -v debootstrap >/dev/null 2>&1 || { err "debootstrap is missing: apt-get install debootstrap"; exit 1; }

rootfs="$(mktemp -d /var/tmp/qtk-rootfs.XXXXXX)"
trap 'rm -rf "$rootfs"' EXIT
echo "building $tag: debootstrap $suite with $packages (a few minutes, once)"
debootstrap --variant=minbase --include="$packages" "$suite" "$rootfs" "$mirror" >"$rootfs.log" 2>&1 || {
    err "debootstrap failed (last lines of $rootfs.log follow)"; tail -n 20 "$rootfs.log" >&2; exit 1; }
rm -f "$rootfs.log"

# What the runtime needs to know about the QEMU build inside without starting it: written once, read by the backend.
binary=/usr/bin/qemu-system-x86_64
sha="$(sha256sum "$rootfs$binary" | cut -d' ' -f1)"
version="$(dpkg-query --admindir="$rootfs/var/lib/dpkg" -W -f '${Version}' qemu-system-x86)"
mkdir -p "$rootfs/qtk/run" "$rootfs/qtk/in"
printf '{"binary":"%s","sha256":"%s","package":"%s"}\n' "$binary" "$sha" "$version" >"$rootfs/qtk/qemu-build.json"

# Smaller image: documentation, manuals, locales and the apt cache are not needed to run QEMU.
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* \
    "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/locale/*

tar -C "$rootfs" --numeric-owner -c . | docker import \
    --change "LABEL org.qemutestkit.recipe=$recipe" \
    --change "LABEL org.qemutestkit.qemu.sha256=$sha" \
    --change "LABEL org.qemutestkit.qemu.package=$version" \
    --change "WORKDIR /qtk/run" \
    --change 'CMD ["qemu-system-x86_64", "--version"]' \
    - "$tag" >/dev/null
echo "built $tag (qemu-system-x86 $version, recipe $recipe)"

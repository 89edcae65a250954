#!/usr/bin/env bash
# Runs `./build.sh test` from a fresh clone inside a clean Debian 12 container: what CI's next, never-used machine
# does. Only Debian 12 (minbase), git, the .NET SDK's own dependencies and the host's .NET SDK (mounted read-only)
# are there; everything else (QEMU, gdb, the test guest, the Docker client, NuGet packages) must come from
# `./build.sh setup`. The one thing shared with the host is its Docker engine (see below). Not part of `./build.sh test`: run it before saying an issue is resolved.
#
#   eng/clean-machine/run.sh [git-ref]      default: HEAD of this repository (committed work only)
#
# Output: the container's whole log on stdout (also kept in artifacts/clean-machine/<ref>.log); the last line is
# build.sh's "N passed, N failed, N skipped"; the exit code is build.sh's.
# Needs root and a Docker engine (./build.sh setup starts one). The base image is built offline with debootstrap
# from Debian's mirror and cached by its recipe (QTK_IMAGE_FORCE=1 rebuilds it).
set -euo pipefail

here="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd -P)"
repo_root="$(cd "$here/../.." && pwd -P)"
ref="${1:-HEAD}"
tag=qemutestkit/clean-debian12:local
suite=bookworm
mirror="${QTK_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
# What a fresh Debian 12 machine with the .NET SDK has beyond minbase: git for the clone, the SDK's libraries.
packages=git,ca-certificates,libicu72,libssl3,zlib1g,libstdc++6,procps
dotnet_root="$(dirname "$(readlink -f "$(command -v dotnet)")")"

err() { printf 'clean-machine: %s\n' "$*" >&2; }
[[ "$(id -u)" == 0 ]] || { err "needs root (debootstrap, a privileged container): run it as root"; exit 1; }
docker version >/dev/null 2>&1 || { err "no Docker engine answers: ./build.sh setup starts one"; exit 1; }
[[ -x "$dotnet_root/dotnet" ]] || { err "no .NET SDK found on PATH (dotnet)"; exit 1; }
commit="$(git -C "$repo_root" rev-parse --verify "$ref^{commit}")" || { err "no such git ref: $ref"; exit 1; }

# Bump the last word when the image's content changes otherwise (the sources.list below).
recipe="$(echo "$suite $mirror $packages sources-v1" | sha256sum | cut -c1-16)"
existing="$(docker image inspect --format '{{ index .Config.Labels "org.qemutestkit.recipe" }}' "$tag" 2>/dev/null || true)"
if [[ "$existing" != "$recipe" || "${QTK_IMAGE_FORCE:-0}" == 1 ]]; then
    command -v debootstrap >/dev/null 2>&1 || { err "debootstrap is missing: apt-get install debootstrap"; exit 1; }
    rootfs="$(mktemp -d /var/tmp/qtk-clean.XXXXXX)"
    trap 'rm -rf "$rootfs"' EXIT
    echo "clean-machine: building $tag (debootstrap $suite minbase; a few minutes, once)"
    debootstrap --variant=minbase --include="$packages" "$suite" "$rootfs" "$mirror" >"$rootfs.log" 2>&1 || {
        err "debootstrap failed (last lines of $rootfs.log follow)"; tail -n 20 "$rootfs.log" >&2; exit 1; }
    rm -f "$rootfs.log"
    # Debian 12's own sources, security included (the guest's kernel package is served from there).
    cat >"$rootfs/etc/apt/sources.list" <<EOF
deb $mirror $suite main
deb $mirror $suite-updates main
deb ${mirror%/debian}/debian-security $suite-security main
EOF
    rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/archives/*.deb
    tar -C "$rootfs" --numeric-owner -c . | docker import --change "LABEL org.qemutestkit.recipe=$recipe" - "$tag" >/dev/null
    rm -rf "$rootfs"
    trap - EXIT
fi

work="$(mktemp -d /var/tmp/qtk-clean-run.XXXXXX)"
name="qtk-clean-$$"
cleanup() { docker rm -f "$name" >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT
git clone -q "$repo_root" "$work/qtk"
git -C "$work/qtk" checkout -q "$commit"

log_dir="$repo_root/artifacts/clean-machine"
mkdir -p "$log_dir"
log="$log_dir/${commit:0:12}.log"
echo "clean-machine: ./build.sh test at ${commit:0:12} in a clean Debian 12 container (log: $log)"

# The host's own certificate authorities (/usr/local/share/ca-certificates) go in too: they are this network's, not
# installed software, and NuGet's and Debian's mirrors are reached through them here.
# The container tests use this host's engine (its socket, and 127.0.0.1:2375 through the host's network): this
# sandbox refuses privileged containers, so an engine of the container's own cannot run. Machines' files reach their
# containers through the engine's API (copies, not bind mounts), so host paths and container paths need not agree.
# The QEMU image is the engine's, cached by its recipe: setup inside finds it up to date.
set +e
docker run --name "$name" --rm --network host \
    -v /var/run/docker.sock:/var/run/docker.sock \
    -v "$work/qtk:/work/qtk" \
    -v "$dotnet_root:/usr/share/dotnet:ro" \
    -v /usr/local/share/ca-certificates:/usr/local/share/ca-certificates:ro \
    -e NUGET_CERT_REVOCATION_MODE \
    -e CI=true -e DOTNET_CLI_TELEMETRY_OPTOUT=1 \
    -w /work/qtk \
    "$tag" \
    bash -c 'update-ca-certificates >/dev/null && ln -sf /usr/share/dotnet/dotnet /usr/bin/dotnet && exec bash .ci/run' </dev/null 2>&1 | tee "$log"
rc="${PIPESTATUS[0]}"
set -e
exit "$rc"

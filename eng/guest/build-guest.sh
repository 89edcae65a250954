#!/usr/bin/env bash
# Builds the QemuTestKit test guest into <repo>/artifacts/guest/:
#   vmlinuz              Debian kernel (from the package linux-image-amd64 depends on)
#   initramfs.cpio.gz    busybox-static initramfs, byte-for-byte reproducible
#   guest.json           paths + boot parameters for the test runtime
#   cache/               downloaded kernel .deb (re-used while the version is unchanged)
#   .stamp               hash of the inputs of the last successful build
#
# No root needed. Needs: apt-cache/apt-get with current package lists (run
# `apt-get update` once, ./build.sh setup does), dpkg-deb, cpio, gzip, /bin/busybox.
#
# Environment overrides (optional):
#   QTK_GUEST_OUT     output directory (default <repo>/artifacts/guest)
#   QTK_GUEST_FORCE=1 rebuild even when the stamp says up to date
set -euo pipefail

script_path="$(readlink -f "${BASH_SOURCE[0]}")"
script_dir="$(dirname "$script_path")"
repo_root="$(cd "$script_dir/../.." && pwd -P)"
out_dir="${QTK_GUEST_OUT:-$repo_root/artifacts/guest}"
cache_dir="$out_dir/cache"
busybox_bin=/bin/busybox
append="console=ttyS0 quiet panic=-1"
ready_pattern="QTK-GUEST-READY"

export LC_ALL=C
umask 022

log() { printf '==> %s\n' "$*"; }
die() { printf 'build-guest: error: %s\n' "$*" >&2; exit 1; }

for tool in apt-cache apt-get dpkg-deb dpkg-query cpio gzip sha256sum flock; do
    command -v "$tool" >/dev/null 2>&1 || die "'$tool' not found (run ./build.sh setup)"
done
[[ -x "$busybox_bin" ]] || die "$busybox_bin not found: install the Debian package busybox-static"

mkdir -p "$out_dir" "$cache_dir"
out_dir="$(cd "$out_dir" && pwd -P)"
cache_dir="$out_dir/cache"

# One build at a time (test runs and setup may race).
exec 9>"$out_dir/.lock"
flock 9

# ---------------------------------------------------------------- inputs
# Kernel package: whatever linux-image-amd64 currently depends on (equivalent of
# `apt-cache depends linux-image-amd64`; one apt-cache call, as each costs ~0.6 s here).
# The metapackage pins its dependency: "Depends: linux-image-6.1.0-56-amd64 (= 6.1.192-2)".
kernel_pkg="" kernel_pkg_version=""
# (No early-exiting grep here: with pipefail, SIGPIPE in apt-cache would fail the pipeline.)
if dep_line="$(apt-cache show --no-all-versions linux-image-amd64 2>/dev/null \
        | awk '/^Depends:/ && !found { print; found = 1 }')" && [[ -n "$dep_line" ]]; then
    dep_re='(linux-image-[0-9][^[:space:],]*)([[:space:]]*[(]=[[:space:]]*([^)[:space:]]+)[)])?'
    if [[ "$dep_line" =~ $dep_re ]]; then
        kernel_pkg="${BASH_REMATCH[1]}"
        kernel_pkg_version="${BASH_REMATCH[3]}"
    fi
fi
if [[ -n "$kernel_pkg" && -z "$kernel_pkg_version" ]]; then
    kernel_pkg_version="$(apt-cache policy "$kernel_pkg" 2>/dev/null \
        | awk '$1 == "Candidate:" { print $2; exit }')" || true
    [[ "$kernel_pkg_version" == "(none)" ]] && kernel_pkg_version=""
fi
if [[ -z "$kernel_pkg" || -z "$kernel_pkg_version" ]]; then
    # Offline / no package lists: fall back to the newest cached .deb, if any.
    cached="$(ls -1 "$cache_dir"/linux-image-[0-9]*_amd64.deb 2>/dev/null | sort -V | tail -n 1)" || true
    [[ -n "$cached" ]] || die "cannot resolve the kernel package from linux-image-amd64 (no apt lists?). Run 'apt-get update' (or ./build.sh setup) first."
    kernel_pkg="$(dpkg-deb -f "$cached" Package)"
    kernel_pkg_version="$(dpkg-deb -f "$cached" Version)"
    printf 'build-guest: warning: apt cannot resolve linux-image-amd64; using cached %s %s\n' \
        "$kernel_pkg" "$kernel_pkg_version" >&2
fi

busybox_version="$(dpkg-query -W -f='${Version}' busybox-static 2>/dev/null || true)"
busybox_sha="$(sha256sum "$busybox_bin" | cut -d' ' -f1)"
script_sha="$(sha256sum "$script_path" | cut -d' ' -f1)"

stamp_content="$(printf 'script=%s\nkernelPackage=%s\nkernelPackageVersion=%s\nbusyboxVersion=%s\nbusyboxSha256=%s\nout=%s\n' \
    "$script_sha" "$kernel_pkg" "$kernel_pkg_version" "$busybox_version" "$busybox_sha" "$out_dir")"

if [[ "${QTK_GUEST_FORCE:-0}" != 1 && -f "$out_dir/.stamp" \
      && -s "$out_dir/vmlinuz" && -s "$out_dir/initramfs.cpio.gz" && -s "$out_dir/guest.json" ]] \
   && [[ "$(cat "$out_dir/.stamp")" == "$stamp_content" ]]; then
    echo "guest is up to date ($out_dir, $kernel_pkg $kernel_pkg_version)"
    exit 0
fi

work="$(mktemp -d "$out_dir/.work.XXXXXX")"
trap 'rm -rf "$work"' EXIT

# ---------------------------------------------------------------- kernel
# apt-get download names files <pkg>_<version with ':' as %3a>_<arch>.deb
deb_name="${kernel_pkg}_${kernel_pkg_version//:/%3a}_amd64.deb"
deb="$cache_dir/$deb_name"
if [[ -s "$deb" ]] && dpkg-deb -f "$deb" Version >/dev/null 2>&1; then
    log "kernel: using cached $deb_name"
else
    log "kernel: downloading $kernel_pkg=$kernel_pkg_version"
    dl="$work/download"
    mkdir -p "$dl"
    apt_opts=(-q)
    # As root, apt drops to the _apt user, which cannot write into our 0700 temp dir.
    [[ "$(id -u)" == 0 ]] && apt_opts+=(-o APT::Sandbox::User=root)
    (cd "$dl" && apt-get download "${apt_opts[@]}" "$kernel_pkg=$kernel_pkg_version") \
        || die "apt-get download $kernel_pkg=$kernel_pkg_version failed"
    got="$(ls -1 "$dl"/*.deb | head -n 1)"
    [[ -n "$got" ]] || die "apt-get download produced no .deb"
    # Drop older cached kernels, then move the new one in place atomically.
    find "$cache_dir" -maxdepth 1 -name 'linux-image-*.deb' ! -name "$deb_name" -delete
    mv -f "$got" "$deb"
fi

log "kernel: extracting vmlinuz"
dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$work" --wildcards './boot/vmlinuz-*' \
    || die "cannot extract boot/vmlinuz-* from $deb"
vmlinuz_src="$(ls -1 "$work"/boot/vmlinuz-* | head -n 1)"
kernel_version="${vmlinuz_src##*/vmlinuz-}"

# ---------------------------------------------------------------- initramfs
log "initramfs: busybox $busybox_version"
root="$work/root"
mkdir -p "$root"
for d in bin dev etc mnt proc root sys tmp; do mkdir -p "$root/$d"; done
chmod 0755 "$root" "$root"/bin "$root"/dev "$root"/etc "$root"/mnt "$root"/proc "$root"/sys
chmod 0700 "$root/root"
chmod 1777 "$root/tmp"
ln -s bin "$root/sbin"
mkdir -p "$root/usr"
chmod 0755 "$root/usr"
ln -s ../bin "$root/usr/bin"
ln -s ../bin "$root/usr/sbin"

cp "$busybox_bin" "$root/bin/busybox"
chmod 0755 "$root/bin/busybox"
while IFS= read -r applet; do
    [[ -z "$applet" || "$applet" == busybox ]] && continue
    ln -s busybox "$root/bin/$applet"
done < <("$busybox_bin" --list | sort -u)

printf 'qtk-guest\n' >"$root/etc/hostname"
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$root/etc/passwd"
printf 'root:x:0:\n' >"$root/etc/group"
chmod 0644 "$root"/etc/*

cat >"$root/init" <<'INIT'
#!/bin/sh
# QemuTestKit test guest init (generated by eng/guest/build-guest.sh).
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
export HOME=/root
export TERM=vt100
export PS1='# '
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /tmp
hostname qtk-guest
# Serial console: a wide line so that line editing never wraps long commands.
stty -F /dev/ttyS0 cols 4096 rows 64 2>/dev/null
exec </dev/ttyS0 >/dev/ttyS0 2>&1
cd /root
echo QTK-GUEST-READY
# Interactive shell on the console, with ttyS0 as its controlling terminal
# (cttyhack opens the active console; setsid makes a new session for it).
setsid cttyhack sh
poweroff -f
INIT
chmod 0755 "$root/init"

# Fixed metadata: mtime 0, sorted entries, owner root, no gzip name/time.
find "$root" -exec touch -h -d @0 {} +
(cd "$root" && find . -mindepth 1 -print | sort \
    | cpio --quiet --reproducible -o -H newc -R 0:0) \
    | gzip -n -9 >"$work/initramfs.cpio.gz"
initrd_sha="$(sha256sum "$work/initramfs.cpio.gz" | cut -d' ' -f1)"

# ---------------------------------------------------------------- outputs
json_escape() { local s="$1"; s="${s//\\/\\\\}"; s="${s//\"/\\\"}"; printf '%s' "$s"; }
cat >"$work/guest.json" <<JSON
{
  "kernel": "$(json_escape "$out_dir/vmlinuz")",
  "initrd": "$(json_escape "$out_dir/initramfs.cpio.gz")",
  "append": "$append",
  "readyPattern": "$ready_pattern",
  "kernelPackage": "$kernel_pkg",
  "kernelPackageVersion": "$kernel_pkg_version",
  "kernelVersion": "$kernel_version",
  "busyboxVersion": "$busybox_version",
  "initrdSha256": "$initrd_sha"
}
JSON

cp "$vmlinuz_src" "$work/vmlinuz.new"
chmod 0644 "$work/vmlinuz.new" "$work/initramfs.cpio.gz" "$work/guest.json"
rm -f "$out_dir/.stamp"
mv -f "$work/vmlinuz.new" "$out_dir/vmlinuz"
mv -f "$work/initramfs.cpio.gz" "$out_dir/initramfs.cpio.gz"
mv -f "$work/guest.json" "$out_dir/guest.json"
printf '%s\n' "$stamp_content" >"$work/stamp"
mv -f "$work/stamp" "$out_dir/.stamp"

log "guest built: kernel $kernel_version ($kernel_pkg $kernel_pkg_version), initramfs sha256 $initrd_sha"
echo "$out_dir/guest.json"

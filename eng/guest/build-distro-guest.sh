#!/usr/bin/env bash
# Builds the QemuTestKit distro guest: Debian 12 (bookworm, minbase) with systemd on a qcow2 root disk, booted with
# the test guest's Debian kernel (eng/guest/build-guest.sh) and a small busybox initramfs that loads the disk/NIC
# drivers, mounts /dev/vda and switches root to systemd. Running mkinitramfs in a chroot would need the kernel
# package (~400 MiB of modules) inside the image and minutes of TCG-free but still slow work on 2 cores; this
# initramfs holds only the ~15 modules the machine needs.
#
# Output, outside the clone (built guests are reused by every clone on the machine, keyed by recipe):
#   ${XDG_CACHE_HOME:-$HOME/.cache}/qemutestkit/guests/distro-<recipe hash>/
#     vmlinuz            the test guest's kernel (copied)
#     initramfs.cpio.gz  busybox + modules, mounts /dev/vda rw and runs /sbin/init (systemd)
#     root.qcow2         the root file system (ext4, 1 GiB virtual). Never written by runs: they use overlays.
#     guest.json         paths + boot parameters for tests (like artifacts/guest/guest.json)
# and <repo>/artifacts/distro-guest, a symlink to that directory (what the sample and QEMUTESTKIT_DISTRO_GUEST use).
#
# The recipe hash covers this script, the package list, the suite, the kernel package and version and the busybox
# version: change any and a new directory is built; an unchanged recipe costs one hash and a symlink.
#
# Needs root (debootstrap), debootstrap, e2fsprogs (mkfs.ext4 -d), qemu-img, busybox-static, cpio, network access
# to the Debian mirror. ./build.sh setup installs them and runs this script.
#
# Environment overrides (optional):
#   QTK_GUEST_OUT           the test guest's directory (default <repo>/artifacts/guest; built first if missing)
#   QTK_DISTRO_CACHE        cache root (default ${XDG_CACHE_HOME:-$HOME/.cache}/qemutestkit/guests)
#   QTK_DISTRO_MIRROR       Debian mirror (default: the first deb.debian.org-style URI apt uses, else deb.debian.org)
#   QTK_DISTRO_FORCE=1      rebuild even when the cache has this recipe
set -euo pipefail

script_path="$(readlink -f "${BASH_SOURCE[0]}")"
script_dir="$(dirname "$script_path")"
repo_root="$(cd "$script_dir/../.." && pwd -P)"
guest_dir="${QTK_GUEST_OUT:-$repo_root/artifacts/guest}"
cache_root="${QTK_DISTRO_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/qemutestkit/guests}"
link="$repo_root/artifacts/distro-guest"
busybox_bin=/bin/busybox
suite=bookworm
# Kept small: minbase plus what the sample's tests use (systemd as init, udev for devices, iproute2 for `ip`,
# less as the pager `systemctl status` starts on a tty, procps for ps/free). Changing it changes the recipe hash.
packages=(systemd systemd-sysv udev iproute2 less procps)
# net.ifnames=0: the NIC stays eth0 whatever its PCI slot. init_on_free=1: a smaller ready snapshot (see
# build-guest.sh). quiet: systemd prints status only on errors, so a boot's console output is short.
append="console=ttyS0 quiet panic=-1 init_on_free=1 net.ifnames=0 root=/dev/vda rw"
ready_pattern="QTK-DISTRO-READY"
# Drivers the initramfs loads (closure by modinfo depends=, as in build-guest.sh). ext4 needs crc32c at mount time
# (metadata_csum) through the crypto API, which no depends= names: crc32c_generic is listed for that.
guest_modules=(virtio_pci virtio_blk crc32c_generic ext4 virtio_net e1000)

export LC_ALL=C
umask 022

log() { printf '==> distro-guest: %s\n' "$*"; }
die() { printf 'build-distro-guest: error: %s\n' "$*" >&2; exit 1; }

[[ "$(id -u)" == 0 ]] || die "must run as root (debootstrap needs it): run ./build.sh setup, or sudo $0"
for tool in debootstrap mkfs.ext4 qemu-img dpkg-deb cpio gzip sha256sum flock; do
    command -v "$tool" >/dev/null 2>&1 || die "'$tool' not found (run ./build.sh setup)"
done
[[ -x "$busybox_bin" ]] || die "$busybox_bin not found: install the Debian package busybox-static"

# The kernel and its modules come from the test guest's build (same kernel package, cached .deb).
if [[ ! -s "$guest_dir/guest.json" ]]; then
    log "building the test guest first (its kernel is this guest's kernel)"
    QTK_GUEST_OUT="$guest_dir" "$script_dir/build-guest.sh" >/dev/null
fi
json_field() { sed -n "s/^  \"$1\": \"\\(.*\\)\",\\{0,1\\}\$/\\1/p" "$guest_dir/guest.json"; }
kernel_pkg="$(json_field kernelPackage)"
kernel_pkg_version="$(json_field kernelPackageVersion)"
[[ -n "$kernel_pkg" && -n "$kernel_pkg_version" ]] || die "cannot read the kernel package from $guest_dir/guest.json"
deb="$guest_dir/cache/${kernel_pkg}_${kernel_pkg_version//:/%3a}_amd64.deb"
[[ -s "$deb" ]] || die "$deb missing: rebuild the test guest (QTK_GUEST_FORCE=1 eng/guest/build-guest.sh)"

mirror="${QTK_DISTRO_MIRROR:-}"
if [[ -z "$mirror" ]]; then
    mirror="$(grep -rhoE '^(URIs:|deb)[[:space:]]+https?://[^[:space:]]+/debian/?([[:space:]]|$)' \
        /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null \
        | awk '{ print $2; exit }')" || true
    mirror="${mirror:-http://deb.debian.org/debian}"
fi

busybox_version="$(dpkg-query -W -f='${Version}' busybox-static 2>/dev/null || true)"
recipe="$(printf 'script=%s\nsuite=%s\npackages=%s\nkernel=%s=%s\nbusybox=%s\nmodules=%s\nappend=%s\n' \
    "$(sha256sum "$script_path" | cut -d' ' -f1)" "$suite" "${packages[*]}" "$kernel_pkg" "$kernel_pkg_version" \
    "$busybox_version" "${guest_modules[*]}" "$append")"
recipe_hash="$(printf '%s' "$recipe" | sha256sum | cut -c1-16)"
out_dir="$cache_root/distro-$recipe_hash"

mkdir -p "$cache_root" "$repo_root/artifacts"
exec 9>"$cache_root/.distro.lock"
flock 9

point_link() {
    ln -sfn "$out_dir" "$link.new" && mv -Tf "$link.new" "$link"
}

if [[ "${QTK_DISTRO_FORCE:-0}" != 1 && -s "$out_dir/guest.json" && -s "$out_dir/root.qcow2" ]]; then
    point_link
    echo "distro guest is up to date ($out_dir)"
    exit 0
fi

started=$SECONDS
work="$(mktemp -d "$cache_root/.work.XXXXXX")"
cleanup() {
    # debootstrap leaves /proc and friends mounted in the chroot when it fails.
    for m in proc sys dev/pts dev; do umount -l "$work/root/$m" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

# ---------------------------------------------------------------- root file system
log "debootstrap --variant=minbase $suite ($mirror) + ${packages[*]}"
root="$work/root"
debootstrap --variant=minbase --include="$(IFS=,; echo "${packages[*]}")" "$suite" "$root" "$mirror" \
    >"$work/debootstrap.log" 2>&1 || { tail -n 30 "$work/debootstrap.log" >&2; die "debootstrap failed"; }

log "configuring systemd: serial autologin, DHCP, no timers"
printf 'qtk-distro\n' >"$root/etc/hostname"
printf '127.0.0.1 localhost\n127.0.1.1 qtk-distro\n' >"$root/etc/hosts"
printf '/dev/vda / ext4 rw,errors=remount-ro 0 1\n' >"$root/etc/fstab"
# A fixed machine id: every run starts from the same ready snapshot anyway, and an empty one makes systemd treat
# the first boot as "first boot" (presets, firstboot questions).
printf '5174b0c9d1a54e4c9c6f0e4b2d0a7e11\n' >"$root/etc/machine-id"
: >"$root/etc/motd"
passwd_root_line='root::0:0:root:/root:/bin/bash'
sed -i "s|^root:[^:]*:0:0:.*|$passwd_root_line|" "$root/etc/passwd"

# Root logs in on the serial console by itself (the getty generator starts serial-getty@ttyS0 for console=ttyS0).
mkdir -p "$root/etc/systemd/system/serial-getty@ttyS0.service.d"
cat >"$root/etc/systemd/system/serial-getty@ttyS0.service.d/autologin.conf" <<'EOF'
# QemuTestKit distro guest: root shell on the serial console without a password prompt.
[Service]
ExecStart=
ExecStart=-/sbin/agetty --autologin root --noissue --noclear --keep-baud 115200,57600,38400,9600 %I vt100
EOF
touch "$root/root/.hushlogin"
cat >"$root/root/.profile" <<'EOF'
# QemuTestKit distro guest (generated by eng/guest/build-distro-guest.sh).
if [ "$BASH" ] && [ -f ~/.bashrc ]; then . ~/.bashrc; fi
if [ "$(tty)" = /dev/ttyS0 ]; then
    # A wide line so line editing never wraps long commands (as in the busybox test guest), a plain prompt.
    stty cols 4096 rows 64 2>/dev/null
    PS1='# '
    echo QTK-DISTRO-READY
fi
EOF
# bash's own history would be written on exit into the disk overlay: harmless, but not needed. Bash 5.2 turns
# bracketed paste on by default, which wraps every prompt's input in escape sequences on the console: off.
printf 'unset HISTFILE\nbind "set enable-bracketed-paste off" 2>/dev/null\n' >"$root/root/.bashrc"

# systemd-networkd: DHCP on the NIC (QEMU user networking answers with 10.0.2.15).
mkdir -p "$root/etc/systemd/network"
cat >"$root/etc/systemd/network/20-eth.network" <<'EOF'
[Match]
Name=eth*

[Network]
DHCP=ipv4
EOF
chroot "$root" systemctl enable systemd-networkd.service >/dev/null 2>&1 \
    || die "cannot enable systemd-networkd in the image"
# Nothing should wake up during a test on its own: apt's daily timers would run apt at random times.
# proc-sys-fs-binfmt_misc.automount needs autofs4, which is not in the initramfs: its start fails on every boot.
for unit in proc-sys-fs-binfmt_misc.automount apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer systemd-networkd-wait-online.service; do
    ln -sfn /dev/null "$root/etc/systemd/system/$unit"
done
# The journal lives in RAM: runs do not fill the disk overlay with logs.
mkdir -p "$root/etc/systemd/journald.conf.d"
printf '[Journal]\nStorage=volatile\n' >"$root/etc/systemd/journald.conf.d/volatile.conf"

# Smaller image: no package caches, lists, docs or locales.
rm -rf "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* \
    "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/usr/share/locale/* \
    "$root"/var/log/*.log
for m in proc sys dev/pts dev; do umount -l "$root/$m" 2>/dev/null || true; done

log "ext4 image (mkfs.ext4 -d, no mount) -> qcow2"
# 1 GiB virtual: room for the tests' writes; qcow2 stores only the used blocks.
mkfs.ext4 -q -F -L qtk-root -d "$root" "$work/root.img" 1G >/dev/null \
    || die "mkfs.ext4 -d failed (e2fsprogs 1.43 or later needed)"
qemu-img convert -q -f raw -O qcow2 "$work/root.img" "$work/root.qcow2"
rm -f "$work/root.img"

# ---------------------------------------------------------------- kernel modules (closure, as in build-guest.sh)
log "kernel $kernel_pkg $kernel_pkg_version: modules ${guest_modules[*]}"
dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$work" --wildcards './boot/vmlinuz-*' './lib/modules/*' \
    || die "cannot extract boot/vmlinuz-* and lib/modules from $deb"
vmlinuz_src="$(ls -1 "$work"/boot/vmlinuz-* | head -n 1)"
kernel_version="${vmlinuz_src##*/vmlinuz-}"
mod_src="$work/lib/modules/$kernel_version"
mod_cat() {
    case "$1" in
        *.ko) cat "$1" ;; *.ko.xz) xz -dc "$1" ;; *.ko.zst) zstd -dcq "$1" ;; *.ko.gz) gzip -dc "$1" ;;
        *) die "unknown module file type: $1" ;;
    esac
}
mod_name() { local n="${1##*/}"; n="${n%%.ko*}"; printf '%s' "${n//-/_}"; }
declare -A mod_file=() mod_builtin=() mod_mark=()
while IFS= read -r -d '' f; do
    n="$(mod_name "$f")"
    [[ -n "${mod_file[$n]:-}" ]] || mod_file[$n]="${f#"$mod_src"/}"
done < <(find "$mod_src/kernel" -type f -name '*.ko*' -print0 | sort -z)
if [[ -f "$mod_src/modules.builtin" ]]; then
    while IFS= read -r f; do [[ -z "$f" ]] || mod_builtin[$(mod_name "$f")]=1; done <"$mod_src/modules.builtin"
fi
mod_load_order=()
mod_visit() {
    local n="${1//-/_}" f deps dep
    [[ -z "${mod_builtin[$n]:-}" ]] || return 0
    case "${mod_mark[$n]:-}" in done) return 0 ;; active) die "module dependency cycle at $n" ;; esac
    f="${mod_file[$n]:-}"
    [[ -n "$f" ]] || die "module $n is neither in $kernel_pkg nor built into its kernel"
    mod_mark[$n]=active
    deps="$(mod_cat "$mod_src/$f" | tr '\0' '\n' | grep -a '^depends=' | head -n 1 || true)"
    deps="${deps#depends=}"
    for dep in ${deps//,/ }; do mod_visit "$dep"; done
    mod_mark[$n]=done
    mod_load_order+=("$n")
}
for m in "${guest_modules[@]}"; do mod_visit "$m"; done
log "modules: ${mod_load_order[*]}"

# ---------------------------------------------------------------- initramfs
ir="$work/initramfs"
mkdir -p "$ir"/{bin,dev,proc,sys,newroot,etc}
cp "$busybox_bin" "$ir/bin/busybox"
for applet in sh mount umount insmod switch_root sleep cat echo mkdir; do ln -s busybox "$ir/bin/$applet"; done
ln -s bin "$ir/sbin"
mkdir -p "$ir/lib/modules"
: >"$ir/etc/modules.load"
for n in "${mod_load_order[@]}"; do
    mod_cat "$mod_src/${mod_file[$n]}" >"$ir/lib/modules/$n.ko"
    printf '%s\n' "$n" >>"$ir/etc/modules.load"
done
cat >"$ir/init" <<'INIT'
#!/bin/sh
# QemuTestKit distro guest initramfs (generated by eng/guest/build-distro-guest.sh): load the drivers, mount the
# root disk read-write, hand over to systemd.
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
exec </dev/console >/dev/console 2>&1
while read -r m; do insmod "/lib/modules/$m.ko"; done </etc/modules.load
i=0
while [ ! -b /dev/vda ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
if ! mount -t ext4 -o rw /dev/vda /newroot; then
    echo "qtk-distro initramfs: cannot mount /dev/vda (attach the root disk as the first virtio disk)"
    sleep 1
    echo o >/proc/sysrq-trigger
fi
mount --move /dev /newroot/dev
umount /sys /proc
exec switch_root /newroot /sbin/init
INIT
chmod 0755 "$ir/init"
find "$ir" -exec touch -h -d @0 {} +
(cd "$ir" && find . -mindepth 1 -print | sort | cpio --quiet --reproducible -o -H newc -R 0:0) \
    | gzip -n -9 >"$work/initramfs.cpio.gz"

# ---------------------------------------------------------------- outputs
cp "$vmlinuz_src" "$work/vmlinuz"
rm -rf "$root" "$work/boot" "$work/lib"
cat >"$work/guest.json" <<JSON
{
  "kernel": "$out_dir/vmlinuz",
  "initrd": "$out_dir/initramfs.cpio.gz",
  "disk": "$out_dir/root.qcow2",
  "append": "$append",
  "readyPattern": "$ready_pattern",
  "suite": "$suite",
  "packages": "${packages[*]}",
  "kernelPackage": "$kernel_pkg",
  "kernelPackageVersion": "$kernel_pkg_version",
  "kernelVersion": "$kernel_version",
  "recipeHash": "$recipe_hash"
}
JSON
printf '%s\n' "$recipe" >"$work/recipe"
chmod 0644 "$work"/vmlinuz "$work"/initramfs.cpio.gz "$work"/guest.json "$work"/recipe
# The base disk is never written by runs (they use overlays): keep it read-only on disk as well.
chmod 0444 "$work/root.qcow2"
rm -f "$work/debootstrap.log"
rm -rf "$out_dir"
mv "$work" "$out_dir"
chmod 0755 "$out_dir"
trap - EXIT
point_link
log "built in $((SECONDS - started)) s: $(du -sh "$out_dir/root.qcow2" | cut -f1) disk"
echo "$out_dir/guest.json"

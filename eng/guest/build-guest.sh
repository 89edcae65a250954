#!/usr/bin/env bash
# Builds the QemuTestKit test guest into <repo>/artifacts/guest/:
#   vmlinuz              Debian kernel (from the package linux-image-amd64 depends on)
#   initramfs.cpio.gz    busybox-static initramfs, byte-for-byte reproducible, with the
#                        kernel modules for the devices tests attach (virtio-blk/net/rng,
#                        e1000; AHCI is opt-in below); the init loads them before the ready
#                        line and gives eth0 QEMU user networking's static address
#                        (10.0.2.15/24, gateway 10.0.2.2, DNS 10.0.2.3)
#   guest.json           paths + boot parameters for the test runtime
#   cache/               downloaded kernel .deb (re-used while the version is unchanged)
#   .stamp               hash of the inputs of the last successful build
#
# No root needed. Needs: apt-cache/apt-get with current package lists (run
# `apt-get update` once, ./build.sh setup does), dpkg-deb, cpio, gzip, /bin/busybox
# (and xz/zstd only if the kernel package ships compressed modules).
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
# init_on_free=1: freed pages are zeroed, so a saved VM state holds fewer non-zero pages (85 -> 58 MB here)
# and a machine starts from its ready snapshot about 30 ms sooner.
append="console=ttyS0 quiet panic=-1 init_on_free=1"
ready_pattern="QTK-GUEST-READY"
# Kernel modules to put into the initramfs (Debian builds these drivers as modules).
# Only the wanted drivers are listed: their dependencies are resolved from each module's
# modinfo "depends=" (what depmod writes into modules.dep; the package ships no
# modules.dep), built-in ones (modules.builtin, e.g. rng-core) are skipped, and the init
# loads the closure in dependency order. Changing this list changes the stamp.
guest_modules=(
    virtio_pci          # virtio transport (virtio, virtio_ring, virtio_pci_*_dev)
    virtio_blk          # -device virtio-blk-pci  -> /dev/vda
    virtio_net          # -device virtio-net-pci  -> eth0 (failover, net_failover)
    e1000               # -device e1000           -> eth0
    virtio_rng          # -device virtio-rng-pci  -> /dev/hwrng
    # SATA disks (-device ide-hd,bus=ide.N on q35's built-in AHCI -> /dev/sda): left out
    # because they are not cheap. Measured under TCG: the set above adds ~0.05-0.1 s to
    # a cold boot, these two (with libahci, libata, scsi_mod, scsi_common, t10_pi and
    # its crc modules: +0.5 MiB of initramfs) add ~0.45 s more, on every boot, since
    # q35 always has an AHCI controller whose six ports ahci probes before its insmod
    # returns. Uncomment both to get them (they are tested: /dev/sda appears).
    # ahci
    # sd_mod
)
# insmod parameters, used for the modules that are loaded. libata: skip the 200 ms
# "let the PHY settle" sleep before link debouncing, which QEMU's AHCI does not need
# (ahci's load, which waits for every port's link probe, drops from ~0.4 s to ~0.2 s).
declare -A guest_module_params=(
    [libata]="force=nodbdelay"
)

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

module_params_list="$(for m in "${!guest_module_params[@]}"; do
    printf '%s:%s\n' "$m" "${guest_module_params[$m]}"; done | sort | paste -sd' ')"
stamp_content="$(printf 'script=%s\nkernelPackage=%s\nkernelPackageVersion=%s\nbusyboxVersion=%s\nbusyboxSha256=%s\nmodules=%s\nmoduleParams=%s\nout=%s\n' \
    "$script_sha" "$kernel_pkg" "$kernel_pkg_version" "$busybox_version" "$busybox_sha" \
    "${guest_modules[*]}" "$module_params_list" "$out_dir")"

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

log "kernel: extracting vmlinuz and modules"
# One pass over the package (its data is one xz stream): the module tree is ~400 MiB
# unpacked but lives only in $work; only the needed modules go into the initramfs.
dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$work" --wildcards './boot/vmlinuz-*' './lib/modules/*' \
    || die "cannot extract boot/vmlinuz-* and lib/modules from $deb"
vmlinuz_src="$(ls -1 "$work"/boot/vmlinuz-* | head -n 1)"
kernel_version="${vmlinuz_src##*/vmlinuz-}"

# ---------------------------------------------------------------- modules
mod_src="$work/lib/modules/$kernel_version"
[[ -d "$mod_src/kernel" ]] || die "$deb has no lib/modules/$kernel_version/kernel"

# Module file contents, decompressed (busybox insmod loads plain .ko files only).
mod_cat() {
    local tool
    case "$1" in
        *.ko)     tool=(cat) ;;
        *.ko.xz)  tool=(xz -dc) ;;
        *.ko.zst) tool=(zstd -dcq) ;;
        *.ko.gz)  tool=(gzip -dc) ;;
        *)        die "unknown module file type: $1" ;;
    esac
    command -v "${tool[0]}" >/dev/null 2>&1 || die "'${tool[0]}' not found (needed to unpack ${1##*/})"
    "${tool[@]}" "$1"
}
# Module name as the kernel sees it: file name without .ko*, '-' -> '_'.
mod_name() { local n="${1##*/}"; n="${n%%.ko*}"; printf '%s' "${n//-/_}"; }

declare -A mod_file=() mod_builtin=() mod_mark=()
while IFS= read -r -d '' f; do
    n="$(mod_name "$f")"
    [[ -n "${mod_file[$n]:-}" ]] || mod_file[$n]="${f#"$mod_src"/}"
done < <(find "$mod_src/kernel" -type f \
    \( -name '*.ko' -o -name '*.ko.xz' -o -name '*.ko.zst' -o -name '*.ko.gz' \) -print0 | sort -z)
if [[ -f "$mod_src/modules.builtin" ]]; then
    while IFS= read -r f; do
        if [[ -n "$f" ]]; then mod_builtin[$(mod_name "$f")]=1; fi
    done <"$mod_src/modules.builtin"
fi

# Depth-first walk: every module comes after all of its dependencies.
mod_load_order=()
mod_visit() {
    local n="${1//-/_}" f deps dep
    if [[ -n "${mod_builtin[$n]:-}" ]]; then return 0; fi
    case "${mod_mark[$n]:-}" in
        done) return 0 ;;
        active) die "module dependency cycle at $n" ;;
    esac
    f="${mod_file[$n]:-}"
    [[ -n "$f" ]] || die "module $n is neither in $kernel_pkg nor built into its kernel"
    mod_mark[$n]=active
    # .modinfo holds NUL-separated key=value strings; exactly one depends= per module.
    deps="$(mod_cat "$mod_src/$f" | tr '\0' '\n' | grep -a '^depends=' || true)"
    [[ "$(printf '%s\n' "$deps" | grep -c '^depends=')" == 1 ]] \
        || die "cannot read 'depends=' of module $f"
    deps="${deps#depends=}"
    for dep in ${deps//,/ }; do mod_visit "$dep"; done
    mod_mark[$n]=done
    mod_load_order+=("$n")
}
for m in "${guest_modules[@]}"; do mod_visit "$m"; done
log "modules: ${mod_load_order[*]}"

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
# QEMU user networking (slirp) defaults; the init sets address and route statically.
printf 'nameserver 10.0.2.3\n' >"$root/etc/resolv.conf"

# Kernel modules, uncompressed, under their usual paths; /etc/modules.load lists
# them (relative to /lib/modules/<version>, then insmod parameters) in load order.
mod_dst="$root/lib/modules/$kernel_version"
mkdir -p "$mod_dst"
: >"$root/etc/modules.load"
for n in "${mod_load_order[@]}"; do
    f="${mod_file[$n]}"
    rel="${f%.ko*}.ko"
    mkdir -p "$mod_dst/$(dirname "$rel")"
    mod_cat "$mod_src/$f" >"$mod_dst/$rel"
    chmod 0644 "$mod_dst/$rel"
    printf '%s\n' "$rel${guest_module_params[$n]:+ ${guest_module_params[$n]}}" >>"$root/etc/modules.load"
done
find "$root/lib" -type d -exec chmod 0755 {} +
chmod 0644 "$root"/etc/*

# For tests that want DHCP instead (udhcpc -i eth0): apply the lease with ip.
mkdir -p "$root/usr/share/udhcpc"
cat >"$root/usr/share/udhcpc/default.script" <<'UDHCPC'
#!/bin/sh
# Minimal busybox udhcpc script (QemuTestKit test guest).
case "$1" in
    deconfig)
        ip -4 addr flush dev "$interface"
        ip link set "$interface" up ;;
    bound|renew)
        ip -4 addr flush dev "$interface"
        ip addr add "$ip/${mask:-24}" dev "$interface"
        for r in $router; do ip route replace default via "$r" dev "$interface"; break; done
        [ -n "$dns" ] && { for d in $dns; do echo "nameserver $d"; done >/etc/resolv.conf; } ;;
esac
exit 0
UDHCPC
chmod 0755 "$root/usr/share" "$root/usr/share/udhcpc" "$root/usr/share/udhcpc/default.script"

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
# Drivers for attached devices (virtio, e1000, ...), in dependency order; a module
# that fails prints its error and the boot goes on.
mods=/lib/modules/$(uname -r)
while read -r m args; do insmod "$mods/$m" $args; done </etc/modules.load
# Network: QEMU user networking's fixed addresses, no DHCP wait.
ip link set lo up
if [ -e /sys/class/net/eth0 ]; then
    ip link set eth0 up
    ip addr add 10.0.2.15/24 dev eth0
    ip route add default via 10.0.2.2 dev eth0
fi
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
modules_json="$(printf '"%s", ' "${mod_load_order[@]}")"
modules_json="${modules_json%, }"
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
  "initrdSha256": "$initrd_sha",
  "modules": [$modules_json]
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

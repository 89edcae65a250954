#!/usr/bin/env bash
# Builds the QemuTestKit test guest for one architecture:
#
#   eng/guest/build-guest.sh [x86_64|aarch64|riscv64]     (default x86_64)
#
# into <repo>/artifacts/guest/ (x86_64) or <repo>/artifacts/guest-<arch>/:
#   vmlinuz              Debian kernel (from the package linux-image-<debian arch> depends on)
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
# Other architectures (aarch64, riscv64) take their kernel and busybox-static from Debian's
# packages for that architecture without adding it to dpkg: apt runs on a private state
# (sources, lists, cache) under the output's cache/apt/, holding only that architecture's
# package lists, refreshed when the host's lists are newer. Debian 12 has no riscv64 port,
# so riscv64 comes from Debian 13 (trixie) on the same mirror. Their initramfs holds
# /bin/busybox alone (a foreign binary cannot list its applets here): the init links the
# applets at boot with `busybox --install -s`.
#
# Environment overrides (optional):
#   QTK_GUEST_OUT     output directory (default <repo>/artifacts/guest, or guest-<arch>)
#   QTK_GUEST_FORCE=1 rebuild even when the stamp says up to date
set -euo pipefail

script_path="$(readlink -f "${BASH_SOURCE[0]}")"
script_dir="$(dirname "$script_path")"
repo_root="$(cd "$script_dir/../.." && pwd -P)"
arch="${1:-x86_64}"
# Per architecture: Debian's name for it, the console the machine's first -serial reaches
# (q35: the 16550 at COM1; aarch64 virt: the PL011; riscv64 virt: a 16550 behind OpenSBI),
# the machine and CPU the guest is meant for ("" = the machine's default), and the Debian suite
# its packages come from ("" = the host's own apt, "host" = the host's suite on a private apt).
case "$arch" in
    x86_64)  deb_arch=amd64   console=ttyS0   machine=q35  cpu=max        suite=""       out_default=guest ;;
    aarch64) deb_arch=arm64   console=ttyAMA0 machine=virt cpu=cortex-a57 suite=host     out_default=guest-aarch64 ;;
    riscv64) deb_arch=riscv64 console=ttyS0   machine=virt cpu=""         suite=trixie   out_default=guest-riscv64 ;;
    *) printf 'build-guest: error: unknown architecture %s (x86_64, aarch64 or riscv64)\n' "$arch" >&2; exit 2 ;;
esac
out_dir="${QTK_GUEST_OUT:-$repo_root/artifacts/$out_default}"
cache_dir="$out_dir/cache"
busybox_bin=/bin/busybox
# init_on_free=1: freed pages are zeroed, so a saved VM state holds fewer non-zero pages (85 -> 58 MB here)
# and a machine starts from its ready snapshot about 30 ms sooner.
append="console=$console quiet panic=-1 init_on_free=1"
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
[[ -n "$suite" || -x "$busybox_bin" ]] || die "$busybox_bin not found: install the Debian package busybox-static"

mkdir -p "$out_dir" "$cache_dir"
out_dir="$(cd "$out_dir" && pwd -P)"
cache_dir="$out_dir/cache"

# One build at a time (test runs and setup may race).
exec 9>"$out_dir/.lock"
flock 9

# ---------------------------------------------------------------- apt
apt_opts=(-q)
# As root, apt drops to the _apt user, which cannot write into our 0700 temp dir.
[[ "$(id -u)" == 0 ]] && apt_opts+=(-o APT::Sandbox::User=root)
if [[ -n "$suite" ]]; then
    # A private apt for one foreign architecture: the host's dpkg and apt state are left alone.
    apt_dir="$cache_dir/apt"
    apt_opts+=(-o "APT::Architecture=$deb_arch" -o "APT::Architectures::=$deb_arch"
        -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache" -o Dir::State::status=/dev/null
        -o "Dir::Etc::SourceList=$apt_dir/sources.list" -o "Dir::Etc::SourceParts=$apt_dir/sources.list.d"
        -o Acquire::Languages=none -o Acquire::IndexTargets::deb::DEP-11::DefaultEnabled=false)
    mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$apt_dir/sources.list.d"
    # The host's Debian mirror (it may be a local or proxied one): the repository of its own suite's lists.
    host_suite="$(. /etc/os-release && printf '%s' "${VERSION_CODENAME:-bookworm}")"
    [[ "$suite" == host ]] && suite="$host_suite"
    mirror="" security=""
    while read -r uri release; do
        case "$release" in
            "$host_suite") mirror="${mirror:-$uri}" ;;
            "$host_suite-security"|"$host_suite/updates") security="${security:-$uri}" ;;
        esac
    done < <(apt-get indextargets --format '$(REPO_URI) $(RELEASE)' 'Created-By: Packages' 2>/dev/null | sort -u)
    mirror="${mirror:-http://deb.debian.org/debian/}"
    security="${security:-http://deb.debian.org/debian-security/}"
    sources="$(printf 'deb %s %s main\ndeb %s %s-updates main\ndeb %s %s-security main\n' \
        "$mirror" "$suite" "$mirror" "$suite" "$security" "$suite")"
    lists_stale=0
    [[ -f "$apt_dir/sources.list" && "$(cat "$apt_dir/sources.list")" == "$sources" ]] || lists_stale=1
    compgen -G "$apt_dir/lists/*_Packages*" >/dev/null || lists_stale=1
    # Refreshed with the host's: an `apt-get update` on the host brings newer kernels here too.
    [[ -n "$(find /var/lib/apt/lists -maxdepth 1 -name '*_Packages*' -newer "$apt_dir/lists/.updated" 2>/dev/null | head -n 1)" \
        || ! -f "$apt_dir/lists/.updated" ]] && lists_stale=1
    if [[ "$lists_stale" == 1 ]]; then
        printf '%s\n' "$sources" >"$apt_dir/sources.list"
        log "apt: $deb_arch package lists of $suite from $mirror (private state in $apt_dir)"
        if apt-get "${apt_opts[@]}" update >"$apt_dir/update.log" 2>&1; then
            touch "$apt_dir/lists/.updated"
        else
            printf 'build-guest: warning: apt-get update for %s failed (see %s); using what is cached\n' "$deb_arch" "$apt_dir/update.log" >&2
        fi
    fi
fi
apt_cache() { apt-cache "${apt_opts[@]}" "$@"; }

# Downloads <package>=<version> into the cache as <package>_<version>_<arch>.deb (unless there) and prints its path.
fetch_deb() {
    local pkg="$1" version="$2" name dl got
    # apt-get download names files <pkg>_<version with ':' as %3a>_<arch>.deb
    name="${pkg}_${version//:/%3a}_${deb_arch}.deb"
    if [[ -s "$cache_dir/$name" ]] && dpkg-deb -f "$cache_dir/$name" Version >/dev/null 2>&1; then
        log "$pkg: using cached $name" >&2
    else
        log "$pkg: downloading $version ($deb_arch)" >&2
        dl="$work/download-$pkg"
        mkdir -p "$dl"
        (cd "$dl" && apt-get download "${apt_opts[@]}" "$pkg=$version" >&2) \
            || die "apt-get download $pkg=$version failed"
        got="$(ls -1 "$dl"/*.deb | head -n 1)"
        [[ -n "$got" ]] || die "apt-get download produced no .deb"
        # Drop older cached versions, then move the new one in place atomically.
        find "$cache_dir" -maxdepth 1 -name "${pkg%%-[0-9]*}*_${deb_arch}.deb" ! -name "$name" -delete
        mv -f "$got" "$cache_dir/$name"
    fi
    printf '%s' "$cache_dir/$name"
}

# ---------------------------------------------------------------- inputs
# Kernel package: whatever linux-image-amd64 currently depends on (equivalent of
# `apt-cache depends linux-image-amd64`; one apt-cache call, as each costs ~0.6 s here).
# The metapackage pins its dependency: "Depends: linux-image-6.1.0-56-amd64 (= 6.1.192-2)".
kernel_pkg="" kernel_pkg_version=""
# (No early-exiting grep here: with pipefail, SIGPIPE in apt-cache would fail the pipeline.)
if dep_line="$(apt_cache show --no-all-versions "linux-image-$deb_arch" 2>/dev/null \
        | awk '/^Depends:/ && !found { print; found = 1 }')" && [[ -n "$dep_line" ]]; then
    dep_re='(linux-image-[0-9][^[:space:],]*)([[:space:]]*[(]=[[:space:]]*([^)[:space:]]+)[)])?'
    if [[ "$dep_line" =~ $dep_re ]]; then
        kernel_pkg="${BASH_REMATCH[1]}"
        kernel_pkg_version="${BASH_REMATCH[3]}"
    fi
fi
if [[ -n "$kernel_pkg" && -z "$kernel_pkg_version" ]]; then
    kernel_pkg_version="$(apt_cache policy "$kernel_pkg" 2>/dev/null \
        | awk '$1 == "Candidate:" { print $2; exit }')" || true
    [[ "$kernel_pkg_version" == "(none)" ]] && kernel_pkg_version=""
fi
if [[ -z "$kernel_pkg" || -z "$kernel_pkg_version" ]]; then
    # Offline / no package lists: fall back to the newest cached .deb, if any.
    cached="$(ls -1 "$cache_dir"/linux-image-[0-9]*_"$deb_arch".deb 2>/dev/null | sort -V | tail -n 1)" || true
    [[ -n "$cached" ]] || die "cannot resolve the kernel package from linux-image-$deb_arch (no apt lists?). Run 'apt-get update' (or ./build.sh setup) first."
    kernel_pkg="$(dpkg-deb -f "$cached" Package)"
    kernel_pkg_version="$(dpkg-deb -f "$cached" Version)"
    printf 'build-guest: warning: apt cannot resolve linux-image-%s; using cached %s %s\n' "$deb_arch" \
        "$kernel_pkg" "$kernel_pkg_version" >&2
fi

if [[ -z "$suite" ]]; then
    busybox_version="$(dpkg-query -W -f='${Version}' busybox-static 2>/dev/null || true)"
    busybox_sha="$(sha256sum "$busybox_bin" | cut -d' ' -f1)"
else
    busybox_version="$(apt_cache policy busybox-static 2>/dev/null | awk '$1 == "Candidate:" { print $2; exit }')" || true
    if [[ -z "$busybox_version" || "$busybox_version" == "(none)" ]]; then
        cached="$(ls -1 "$cache_dir"/busybox-static_*_"$deb_arch".deb 2>/dev/null | sort -V | tail -n 1)" || true
        [[ -n "$cached" ]] || die "cannot resolve busybox-static for $deb_arch (no package lists?); see $apt_dir/update.log"
        busybox_version="$(dpkg-deb -f "$cached" Version)"
    fi
    busybox_sha="deb"
fi
script_sha="$(sha256sum "$script_path" | cut -d' ' -f1)"

module_params_list="$(for m in "${!guest_module_params[@]}"; do
    printf '%s:%s\n' "$m" "${guest_module_params[$m]}"; done | sort | paste -sd' ')"
stamp_content="$(printf 'arch=%s\nscript=%s\nkernelPackage=%s\nkernelPackageVersion=%s\nbusyboxVersion=%s\nbusyboxSha256=%s\nmodules=%s\nmoduleParams=%s\nout=%s\n' \
    "$arch" "$script_sha" "$kernel_pkg" "$kernel_pkg_version" "$busybox_version" "$busybox_sha" \
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
deb="$(fetch_deb "$kernel_pkg" "$kernel_pkg_version")"

log "kernel: extracting the kernel image and modules"
# One pass over the package (its data is one xz stream): the module tree is ~400 MiB
# unpacked but lives only in $work; only the needed modules go into the initramfs.
# The image is boot/vmlinuz-* on amd64 and arm64, boot/vmlinux-* (an EFI-stub Image that QEMU's
# -kernel loads as is) on riscv64; modules are under usr/lib/modules from trixie on.
dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$work" --wildcards './boot/vmlinu[xz]-*' '*lib/modules/*' \
    || die "cannot extract boot/vmlinu[xz]-* and lib/modules from $deb"
vmlinuz_src="$(ls -1 "$work"/boot/vmlinu[xz]-* | head -n 1)"
kernel_version="${vmlinuz_src##*/vmlinu[xz]-}"

# ---------------------------------------------------------------- modules
mod_src="$work/lib/modules/$kernel_version"
[[ -d "$mod_src" ]] || mod_src="$work/usr/lib/modules/$kernel_version"
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

if [[ -z "$suite" ]]; then
    cp "$busybox_bin" "$root/bin/busybox"
    while IFS= read -r applet; do
        [[ -z "$applet" || "$applet" == busybox ]] && continue
        ln -s busybox "$root/bin/$applet"
    done < <("$busybox_bin" --list | sort -u)
    install_applets=""
else
    busybox_deb="$(fetch_deb busybox-static "$busybox_version")"
    mkdir -p "$work/busybox"
    dpkg-deb -x "$busybox_deb" "$work/busybox"
    found="$(ls -1 "$work"/busybox/bin/busybox "$work"/busybox/usr/bin/busybox 2>/dev/null | head -n 1)" || true
    [[ -n "$found" ]] || die "$busybox_deb holds no bin/busybox"
    cp "$found" "$root/bin/busybox"
    ln -s busybox "$root/bin/sh"
    install_applets="/bin/busybox --install -s /bin"
fi
chmod 0755 "$root/bin/busybox"

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
@INSTALL_APPLETS@
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
stty -F /dev/@CONSOLE@ cols 4096 rows 64 2>/dev/null
exec </dev/@CONSOLE@ >/dev/@CONSOLE@ 2>&1
cd /root
echo QTK-GUEST-READY
# Interactive shell on the console, with @CONSOLE@ as its controlling terminal
# (cttyhack opens the active console; setsid makes a new session for it).
setsid cttyhack sh
poweroff -f
INIT
# The x86 init has no applet line at all (its applets are links in the image).
sed -i -e "s|@CONSOLE@|$console|g" -e "${install_applets:+s|@INSTALL_APPLETS@|$install_applets|}" -e '/^@INSTALL_APPLETS@$/d' "$root/init"
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
  "architecture": "$arch",
  "machineType": "$machine",
  "cpu": "$cpu",
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

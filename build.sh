#!/usr/bin/env bash
# QemuTestKit build entry point.
#
#   ./build.sh setup          install missing host tools (Debian), build the test guest
#   ./build.sh test [args..]  setup, then dotnet test (extra args go to dotnet test);
#                             last line of output: "N passed, N failed, N skipped"
#   ./build.sh sample         setup, then the tour: sample suites, hunt, replay (artifacts/sample/)
#   ./build.sh help
#
# Environment:
#   QTK_SOLUTION   solution to test (default: QemuTestKit.sln in the repo root)
set -euo pipefail

repo_root="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd -P)"
cd "$repo_root"

export DOTNET_CLI_TELEMETRY_OPTOUT=1
export DOTNET_NOLOGO=1
export QEMUTESTKIT_GUEST="$repo_root/artifacts/guest/guest.json"
# The same test guest for the other architectures' virt machines (eng/guest/build-guest.sh aarch64|riscv64).
export QEMUTESTKIT_GUEST_AARCH64="$repo_root/artifacts/guest-aarch64/guest.json"
export QEMUTESTKIT_GUEST_RISCV64="$repo_root/artifacts/guest-riscv64/guest.json"
# The distro guest (Debian 12 + systemd): a link to its build in the cache outside the clone (eng/guest/build-distro-guest.sh).
export QEMUTESTKIT_DISTRO_GUEST="$repo_root/artifacts/distro-guest/guest.json"

solution="${QTK_SOLUTION:-QemuTestKit.sln}"
results_dir="$repo_root/artifacts/TestResults"

step() { printf '==> %s\n' "$*"; }
err() { printf 'build.sh: %s\n' "$*" >&2; }

usage() {
    cat <<'EOF'
Usage: ./build.sh <command> [args]

Commands:
  setup           Install missing host tools (qemu-system-x86, qemu-system-arm, qemu-system-misc,
                  qemu-utils, busybox-static, cpio, xz-utils, zstd, gdb, gdb-multiarch) with apt-get and build the
                  test guests (artifacts/guest/, artifacts/guest-aarch64/, artifacts/guest-riscv64/).
  test [args...]  setup, then dotnet test on the solution with TRX reports in
                  artifacts/TestResults; extra args are passed to dotnet test.
                  Last line: "N passed, N failed, N skipped".
  sample          setup, then the tour: run the sample guest test suites, hunt the flaky
                  test until it fails, replay its bundle from the last checkpoint, and run
                  the failing test again through dotnet test against the recording.
  help            Show this help.

Environment: QTK_SOLUTION overrides the solution (default QemuTestKit.sln).
EOF
}

# ------------------------------------------------------------------ setup
# Runs a command as root: directly when root, through sudo otherwise.
# as_root is only called after can_be_root has succeeded.
as_root() {
    if [[ "$(id -u)" == 0 ]]; then "$@"; else sudo "$@"; fi
}

can_be_root() {
    [[ "$(id -u)" == 0 ]] && return 0
    command -v sudo >/dev/null 2>&1 || return 1
    # Non-interactive sudo, or an interactive one when we have a terminal.
    sudo -n true 2>/dev/null && return 0
    [[ -t 0 ]] && sudo -v && return 0
    return 1
}

apt_updated=0
apt_update_once() {
    if [[ "$apt_updated" == 0 ]]; then
        step "apt-get update"
        as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
        apt_updated=1
    fi
}

# apt metadata is needed to resolve the kernel package of the guest.
# (Output captured first: with pipefail, an early-exiting grep -q could fail the pipe.)
have_kernel_metadata() {
    local info
    info="$(apt-cache show --no-all-versions linux-image-amd64 2>/dev/null)" || return 1
    [[ "$info" =~ (^|$'\n')Depends:[^$'\n']*linux-image-[0-9] ]]
}

cmd_setup() {
    step "setup: checking host tools"
    local missing=()
    command -v qemu-system-x86_64 >/dev/null 2>&1 || missing+=(qemu-system-x86)
    command -v qemu-system-aarch64 >/dev/null 2>&1 || missing+=(qemu-system-arm)
    # qemu-system-misc brings qemu-system-riscv64; OpenSBI, its -bios default, comes with qemu-system-data.
    command -v qemu-system-riscv64 >/dev/null 2>&1 || missing+=(qemu-system-misc)
    command -v qemu-img >/dev/null 2>&1 || missing+=(qemu-utils)
    [[ -x /bin/busybox ]] || missing+=(busybox-static)
    command -v cpio >/dev/null 2>&1 || missing+=(cpio)
    command -v gdb >/dev/null 2>&1 || missing+=(gdb)
    command -v gdb-multiarch >/dev/null 2>&1 || missing+=(gdb-multiarch)
    command -v dpkg-deb >/dev/null 2>&1 || missing+=(dpkg)
    # Kernel packages ship compressed modules (trixie's riscv64 kernel .ko.xz, newer ones .ko.zst); the guests' initramfs needs them plain.
    command -v xz >/dev/null 2>&1 || missing+=(xz-utils)
    command -v zstd >/dev/null 2>&1 || missing+=(zstd)
    # The distro guest: debootstrap builds its root, mkfs.ext4 -d turns it into a disk without mounting.
    { command -v debootstrap || [[ -x /usr/sbin/debootstrap ]]; } >/dev/null 2>&1 || missing+=(debootstrap)
    { command -v mkfs.ext4 || [[ -x /usr/sbin/mkfs.ext4 || -x /sbin/mkfs.ext4 ]]; } >/dev/null 2>&1 || missing+=(e2fsprogs)

    local need_meta=0
    have_kernel_metadata || need_meta=1

    if (( ${#missing[@]} > 0 || need_meta )); then
        if ! command -v apt-get >/dev/null 2>&1; then
            err "apt-get not found (this script supports Debian/Ubuntu hosts)."
            (( ${#missing[@]} > 0 )) && err "Install these packages by hand: ${missing[*]}"
            exit 1
        fi
        if ! can_be_root; then
            if (( ${#missing[@]} > 0 )); then
                err "missing packages and no root/sudo to install them. As root, run:"
                err "  apt-get update && apt-get install -y --no-install-recommends ${missing[*]}"
            else
                err "apt package lists are missing (needed to find the guest kernel) and no root/sudo. As root, run:"
                err "  apt-get update"
            fi
            exit 1
        fi
        apt_update_once
        if (( ${#missing[@]} > 0 )); then
            step "apt-get install ${missing[*]}"
            as_root env DEBIAN_FRONTEND=noninteractive \
                apt-get install -y -q --no-install-recommends "${missing[@]}"
        fi
    fi

    if ! command -v dotnet >/dev/null 2>&1; then
        err "dotnet not found: install the .NET SDK (see global.json for the version) and put 'dotnet' on PATH."
        exit 1
    fi

    step "setup: building the test guests"
    local arch
    for arch in x86_64 aarch64 riscv64; do
        "$repo_root/eng/guest/build-guest.sh" "$arch"
    done

    # As root (debootstrap needs it), cached outside the clone by recipe: a few seconds when the recipe is built.
    step "setup: building the distro guest"
    as_root env HOME="$HOME" ${XDG_CACHE_HOME:+XDG_CACHE_HOME="$XDG_CACHE_HOME"} "$repo_root/eng/guest/build-distro-guest.sh"

    setup_docker
}

# ------------------------------------------------------------------ docker (container-backed machines)
# A Docker engine on the local socket with an extra listener on tcp://127.0.0.1:2375 (the "remote" engine of the
# tests), and the QEMU images qemutestkit/qemu:local (7.2) and :10 (10.0) built offline (cached by their recipe hashes).
docker_tcp="tcp://127.0.0.1:2375"

engine_answers() { docker ${1:+-H "$1"} version --format '{{.Server.APIVersion}}' >/dev/null 2>&1; }

setup_docker() {
    step "setup: Docker engine"
    local missing=()
    command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
    { command -v debootstrap || [[ -x /usr/sbin/debootstrap ]]; } >/dev/null 2>&1 || missing+=(debootstrap)
    command -v socat >/dev/null 2>&1 || missing+=(socat)
    if (( ${#missing[@]} > 0 )); then
        if ! can_be_root; then
            err "container tests need: ${missing[*]}. As root, run: apt-get install -y --no-install-recommends ${missing[*]}"
            exit 1
        fi
        apt_update_once
        step "apt-get install ${missing[*]}"
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
    fi

    if ! engine_answers; then
        if ! can_be_root; then
            err "no Docker engine answers and starting one needs root: as root, run: dockerd -H unix:///var/run/docker.sock -H $docker_tcp &"
            exit 1
        fi
        step "starting dockerd (log: /var/log/qtk-dockerd.log)"
        as_root sh -c "nohup dockerd -H unix:///var/run/docker.sock -H $docker_tcp >/var/log/qtk-dockerd.log 2>&1 &"
        local i
        for i in $(seq 1 60); do engine_answers && break; sleep 0.5; done
        engine_answers || { err "dockerd did not answer within 30 s; see /var/log/qtk-dockerd.log"; exit 1; }
    fi

    # An engine started without the TCP listener: forward 127.0.0.1:2375 to its socket (an extra listener in effect).
    if ! engine_answers "$docker_tcp"; then
        step "forwarding $docker_tcp to the engine's socket"
        as_root sh -c "nohup socat TCP-LISTEN:2375,bind=127.0.0.1,reuseaddr,fork UNIX-CONNECT:/var/run/docker.sock >/dev/null 2>&1 &"
        sleep 0.5
    fi

    # QEMU 7.2 (Debian 12, the default image) and QEMU 10.0 (Debian 13) side by side (docs/containers.md).
    step "setup: images qemutestkit/qemu:local (QEMU 7.2) and qemutestkit/qemu:10 (QEMU 10.0)"
    as_root "$repo_root/eng/docker/build-image.sh" qemutestkit/qemu:local bookworm
    as_root "$repo_root/eng/docker/build-image.sh" qemutestkit/qemu:10 trixie
}

# The engine's API version for Testcontainers (4.16 asks for 1.44; Debian 12's engine speaks 1.41).
export_docker_env() {
    local api
    api="$(docker version --format '{{.Server.APIVersion}}' 2>/dev/null || true)"
    [[ -n "$api" && -z "${DOCKER_API_VERSION:-}" ]] && export DOCKER_API_VERSION="$api"
    export TESTCONTAINERS_RYUK_DISABLED=true
    export QTK_REMOTE_DOCKER_HOST="${QTK_REMOTE_DOCKER_HOST:-$docker_tcp}"
}

# ------------------------------------------------------------------ test
# Sums the <Counters> of every TRX file under $1 into trx_passed/failed/skipped/total
# and trx_files.
#
# TRX counter mapping:
#   passed  = passed + passedButRunAborted (the test itself passed; a run abort
#             shows up in dotnet test's exit code)
#   failed  = failed + error + timeout + aborted + disconnected (all mean the test
#             did not pass because something went wrong; none may hide as "skipped")
#   skipped = notExecuted (xUnit/MTP skips) + notRunnable + inconclusive
#   Anything left over in total (warning, pending, inProgress, completed, ...) is
#   counted as failed, so that no test is silently lost.
trx_counter() { # <counters element> <attribute name>
    local re="[[:space:]]$2=\"([0-9]+)\""
    if [[ "$1" =~ $re ]]; then echo "${BASH_REMATCH[1]}"; else echo 0; fi
}

sum_trx() {
    local dir="$1" f counters
    trx_files=0 trx_total=0 trx_passed=0 trx_failed=0 trx_skipped=0
    while IFS= read -r -d '' f; do
        trx_files=$((trx_files + 1))
        counters="$(tr '\n' ' ' <"$f" | grep -o '<Counters [^>]*>' | head -n 1 || true)"
        if [[ -z "$counters" ]]; then
            err "no <Counters> element in $f"
            continue
        fi
        local total passed failed skipped
        total=$(trx_counter "$counters" total)
        passed=$(( $(trx_counter "$counters" passed) + $(trx_counter "$counters" passedButRunAborted) ))
        failed=$(( $(trx_counter "$counters" failed) + $(trx_counter "$counters" error) \
            + $(trx_counter "$counters" timeout) + $(trx_counter "$counters" aborted) \
            + $(trx_counter "$counters" disconnected) ))
        skipped=$(( $(trx_counter "$counters" notExecuted) + $(trx_counter "$counters" notRunnable) \
            + $(trx_counter "$counters" inconclusive) ))
        local other=$(( total - passed - failed - skipped ))
        if (( other > 0 )); then
            err "$(basename "$f"): $other test(s) with other outcomes, counted as failed"
            failed=$((failed + other))
        fi
        (( total < passed + failed + skipped )) && total=$((passed + failed + skipped))
        trx_total=$((trx_total + total))
        trx_passed=$((trx_passed + passed))
        trx_failed=$((trx_failed + failed))
        trx_skipped=$((trx_skipped + skipped))
    done < <(find "$results_dir" -type f -name '*.trx' -print0 2>/dev/null)
}

# True when this SDK's `dotnet test` (Microsoft.Testing.Platform mode, chosen by
# global.json) knows --max-parallel-test-modules. Asked from an empty directory
# holding a copy of global.json, so that no project gets built for --help.
supports_max_parallel_modules() {
    local probe rc=1
    probe="$(mktemp -d)"
    [[ -f "$repo_root/global.json" ]] && cp "$repo_root/global.json" "$probe/"
    if (cd "$probe" && dotnet test --help 2>/dev/null) | grep -q -- '--max-parallel-test-modules'; then
        rc=0
    fi
    rm -rf "$probe"
    return $rc
}

cmd_test() {
    cmd_setup

    if [[ ! -e "$solution" ]]; then
        err "solution not found: $solution"
        echo "0 passed, 0 failed, 0 skipped"
        exit 1
    fi

    step "test: removing old $results_dir"
    rm -rf "$results_dir"
    mkdir -p "$results_dir"

    export_docker_env
    local args=(test "$solution" -c Release --report-trx --results-directory "$results_dir")
    # 2 cores here and tests start QEMU: at most two test modules at once.
    if supports_max_parallel_modules; then
        args+=(--max-parallel-test-modules 2)
    fi
    args+=("$@")

    step "dotnet ${args[*]}"
    local rc=0
    dotnet "${args[@]}" || rc=$?

    sum_trx "$results_dir"
    step "test: $trx_files TRX file(s), $trx_total test(s)"

    local status=0
    if (( rc != 0 )); then
        err "dotnet test exited with code $rc"
        status=1
    fi
    if (( trx_files == 0 )); then
        err "no TRX files found under $results_dir"
        status=1
    elif (( trx_total == 0 )); then
        err "the TRX files contain no tests"
        status=1
    fi
    if (( trx_failed > 0 )); then
        status=1
    fi
    echo "$trx_passed passed, $trx_failed failed, $trx_skipped skipped"
    exit $status
}

# ------------------------------------------------------------------ sample
# The product's tour: run the sample guest test suites (xunit.v3 and MSTest), hunt the honestly flaky test until
# it fails, replay its bundle from the last checkpoint ("replay: identical ..."), and run the failing test again
# through dotnet test against the recording, where it fails the same way.
cmd_sample() {
    cmd_setup
    local out="$repo_root/artifacts/sample"
    local flaky="HelloGuest.Xunit.HelloGuestTests.The_worker_finishes_before_we_look"
    rm -rf "$out"
    mkdir -p "$out"

    step "sample: building the qemutestkit CLI and the samples (the build boots each machine once)"
    dotnet build src/QemuTestKit.Cli -c Release -nologo -v:q -tl:off
    dotnet build samples/HelloGuest.Xunit -c Release -nologo -v:q -tl:off
    dotnet build samples/HelloGuest.MSTest -c Release -nologo -v:q -tl:off
    local qtk=(dotnet "$repo_root/src/QemuTestKit.Cli/bin/Release/net10.0/qemutestkit.dll")

    step "sample 1/4: the sample guest test suites"
    dotnet test --project samples/HelloGuest.Xunit -c Release --no-build --no-progress --results-directory "$out/xunit"
    dotnet test --project samples/HelloGuest.MSTest -c Release --no-build --no-progress --results-directory "$out/mstest"

    step "sample 2/4: qemutestkit hunt the flaky test (HELLOGUEST_FLAKY=1 lets its guest-side race happen)"
    local hunt_log="$out/hunt.log" rc=0
    HELLOGUEST_FLAKY=1 "${qtk[@]}" hunt --project samples/HelloGuest.Xunit --filter "$flaky" --runs 40 \
        --output "$out/hunt" | tee "$hunt_log" || rc=$?
    if (( rc != 0 )); then
        err "the hunt caught no failure (exit code $rc); see $hunt_log"
        exit 1
    fi
    local bundle from
    bundle="$(sed -n 's/^hunt: bundle: //p' "$hunt_log" | tail -n 1)"
    from="$(sed -n 's/^hunt: run .* failed; replay: .* --from \([^ ]*\)$/\1/p' "$hunt_log" | tail -n 1)"
    if [[ -z "$bundle" || ! -d "$bundle" ]]; then
        err "the hunt printed no bundle; see $hunt_log"
        exit 1
    fi

    step "sample 3/4: qemutestkit replay the bundle from its last checkpoint (${from:-the start})"
    local replay_args=(replay "$bundle")
    [[ -n "$from" ]] && replay_args+=(--from "$from")
    "${qtk[@]}" "${replay_args[@]}"

    step "sample 4/4: the same test through dotnet test against the recording (QEMUTESTKIT_REPLAY): it fails the same way"
    rc=0
    QEMUTESTKIT_REPLAY="$bundle" HELLOGUEST_FLAKY=1 dotnet test --project samples/HelloGuest.Xunit -c Release --no-build --no-progress \
        --results-directory "$out/replay" --filter-method "$flaky" >"$out/replay.log" 2>&1 || rc=$?
    grep -E 'AssertionFailedException|replay of machine' "$out/replay.log" | sed -e 's/^.*AssertionFailedException : /    failed again: /' -e 's/^ */    /' || true
    if (( rc == 0 )); then
        err "the replayed test passed, but the recorded run failed; see $out/replay.log"
        exit 1
    fi
    step "sample: done. The bundle: $bundle"
}

# ------------------------------------------------------------------ main
command="${1:-}"
(( $# > 0 )) && shift
case "$command" in
    setup)  cmd_setup ;;
    test)   cmd_test "$@" ;;
    sample) cmd_sample ;;
    help|-h|--help) usage ;;
    "") usage; exit 2 ;;
    *) err "unknown command: $command"; usage >&2; exit 2 ;;
esac

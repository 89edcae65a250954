using System.Globalization;
using System.Text.Json.Nodes;
using QemuTestKit.Introspection;
using QemuTestKit.Introspection.Images;
using QemuTestKit.Introspection.Qmp;
using QemuTestKit.Machines.Bundles;
using QemuTestKit.Machines.Runtime;
using QemuTestKit.Machines.Specs;

namespace QemuTestKit.Machines.Replay;

/// <summary>
/// Reverse execution of a replay under gdb (<c>reverse-stepi</c>, <c>reverse-continue</c>; QMP <c>replay-seek</c>):
/// QEMU loads the nearest snapshot at or before the target instruction count and replays forward to it. What that
/// needs from QEMU 7.2, measured:
/// <list type="bullet">
/// <item>A snapshot with an icount at or before the target in the state image. Replaying from a checkpoint, the
/// checkpoint is one (QEMU loads it through <c>rrsnapshot</c>); replaying from a snapshot saved outside the recording
/// (<c>-loadvm ready</c>), QEMU saves <c>start_debugging</c> itself when gdb attaches. That save takes seconds on a
/// busy machine, longer than gdb's default 2 s packet timeout, so the attach command raises it.</item>
/// <item>No <c>kvmvapic</c> device (x86's default): loading a snapshot while the replay runs deadlocks QEMU 7.2, as the
/// device's post_load waits for the vCPU thread, which waits for the replay lock the loading thread holds. Machines to
/// be debugged backwards are recorded with <c>-global apic-common.vapic=off</c> (harmless for Linux guests: it only
/// serves 32-bit Windows XP); the command-line builder adds it to every record and replay run of an x86 machine.</item>
/// <item>A replay counter that agrees with the machine's instruction count. QEMU 7.2 accounts instructions in
/// <c>int</c> steps (<c>replay_advance_current_icount</c>); a recording started from a snapshot saved outside any
/// recording at icount R ≥ 2^31 begins with one step of R, truncated to 32 bits, so the log's counter runs 2^32·k
/// behind (and when R mod 2^32 ≥ 2^31 the recording aborts at once: "Assertion `diff >= 0' failed"). Its breaks never
/// fire: <c>replay-break</c>, <c>replay-seek</c> and reverse steps spin at the target instruction without stopping.
/// A recording of a cold boot, or from a snapshot saved in record mode, has no such offset: ready states for recording
/// are prepared that way (<see cref="ReadyState.PrepareAsync"/>), so only bundles recorded before that are affected.</item>
/// </list>
/// </summary>
public static class ReverseDebugging
{
    /// <summary>QEMU 7.2 accounts executed instructions in <c>int</c> steps: a first step this large is truncated.</summary>
    public const long FirstStepLimit = 1L << 31;

    /// <summary>The arguments that remove the <c>kvmvapic</c> device from an x86 machine.</summary>
    public static IReadOnlyList<string> NoVapicArguments { get; } = ["-global", "apic-common.vapic=off"];

    /// <summary>
    /// The shell command that attaches gdb to a replay's stub (<c>host:port</c> or a Unix socket path) of a QEMU whose
    /// target is <paramref name="target"/> (<c>query-target</c>). It raises gdb's packet timeout: QEMU answers the first
    /// packet only after saving its <c>start_debugging</c> snapshot.
    /// </summary>
    public static string AttachCommand(string endpoint, string target = MachineSpec.DefaultArchitecture)
    {
        ArgumentException.ThrowIfNullOrEmpty(endpoint);
        return $"{Debugger(target)} -ex 'set remotetimeout 60' -ex 'target remote {endpoint.Replace("'", "'\\''", StringComparison.Ordinal)}'";
    }

    /// <summary>
    /// The gdb that can debug <paramref name="target"/>. Debian's plain gdb knows only the host's x86 family: on QEMU's
    /// aarch64 stub it fails ("Truncated register 37 in remote 'g' packet"). gdb-multiarch (package gdb-multiarch) takes
    /// the architecture from the stub's target description (measured: aarch64 for cortex-a57, arm for cortex-a15,
    /// riscv:rv64), so it needs no <c>set architecture</c>, which would be wrong for a 32-bit CPU on qemu-system-aarch64.
    /// </summary>
    public static string Debugger(string target) => target is "x86_64" or "i386" ? "gdb" : "gdb-multiarch";

    /// <summary>Why reverse execution cannot work on a replay with these facts; empty when it can.</summary>
    public static IReadOnlyList<string> Problems(ReverseDebuggingFacts facts)
    {
        ArgumentNullException.ThrowIfNull(facts);
        var problems = new List<string>();
        if (facts.HasKvmvapic)
        {
            problems.Add("the machine has QEMU's kvmvapic device (the x86 default), and QEMU (7.2 and 10.0 alike, measured) deadlocks when a reverse step loads a snapshot " +
                $"with it; record it again with this QemuTestKit (recorded x86 machines get '{string.Join(' ', NoVapicArguments)}')");
        }

        if (facts.StartSnapshot is { } start && !facts.StartSnapshotHasIcount && facts.StartIcountAtMost >= FirstStepLimit)
        {
            var at = string.Create(CultureInfo.InvariantCulture, $"{(facts.StartIcountExact ? string.Empty : "up to ")}{facts.StartIcountAtMost}");
            problems.Add($"the recording started from snapshot '{start}', saved outside a recording at instruction count {at} (2^31 or more), " +
                "so QEMU 7.2's replay counter runs a multiple of 2^32 behind and never reaches a break: reverse steps, replay-seek and replay-break spin " +
                "instead of stopping; record from a cold boot or from a snapshot saved in record mode");
        }

        return problems;
    }

    /// <summary>
    /// Reads the facts of a replay that QEMU holds paused (<c>-S</c>): its kvmvapic device (<c>info qtree</c>), the icount
    /// it starts at, and whether the snapshot the recording started from has an icount (<c>qemu-img info -U</c>).
    /// </summary>
    internal static async Task<ReverseDebuggingFacts> ReadFactsAsync(QemuMachine machine, ReplayBundle bundle, Checkpoint? checkpoint, CancellationToken ct)
    {
        // Straight through QMP: HumanMonitorAsync would take property names that contain "error" for a failure.
        var qtree = await machine.Qmp.ExecuteAsync("human-monitor-command", new JsonObject { ["command-line"] = "info qtree" }, cancellationToken: ct)
            .ConfigureAwait(false);
        var hasKvmvapic = qtree?.GetValue<string>().Contains("dev: kvmvapic", StringComparison.Ordinal) == true;
        var startIcount = await ReplayIcount.QueryAsync(machine.Qmp, ct).ConfigureAwait(false) ?? 0;
        // The bundle's state image: QEMU may run elsewhere (a container), and the replay's copy holds the same snapshots.
        var startSnapshotHasIcount = await ReplayUntil.StartSnapshotHasIcountAsync(bundle, ct).ConfigureAwait(false);

        // From a checkpoint the recording's own start is not in view: its icount is at most the checkpoint's.
        return new ReverseDebuggingFacts(hasKvmvapic, bundle.Manifest.StartSnapshot, startSnapshotHasIcount, startIcount, StartIcountExact: checkpoint is null);
    }

    /// <summary>
    /// The gdb path of <see cref="Replayer"/>: reports the attach command and, when reverse execution cannot work on this
    /// replay, why (forward debugging works either way).
    /// </summary>
    internal static async Task AnnounceAsync(QemuMachine machine, ReplayBundle bundle, Checkpoint? checkpoint, string endpoint, Action<string>? progress,
        CancellationToken ct)
    {
        if (progress is null)
        {
            return;
        }

        progress($"replay paused; attach with: {AttachCommand(endpoint, machine.Catalog.Target)}");
        IReadOnlyList<string> problems;
        try
        {
            problems = Problems(await ReadFactsAsync(machine, bundle, checkpoint, ct).ConfigureAwait(false));
        }
        catch (Exception e) when (e is QmpException or QemuTestKitException)
        {
            progress($"reverse execution: could not check this replay ({e.Message}); forward debugging works");
            return;
        }

        foreach (var problem in problems)
        {
            progress($"reverse execution (reverse-stepi, reverse-continue) will not work: {problem}; forward debugging works");
        }
    }
}

/// <summary>What decides whether reverse execution can work on a replay (see <see cref="ReverseDebugging"/>).</summary>
/// <param name="HasKvmvapic">The machine has the <c>kvmvapic</c> device.</param>
/// <param name="StartSnapshot">The snapshot the recording started from (<c>-loadvm</c>), or null for a cold boot.</param>
/// <param name="StartSnapshotHasIcount">That snapshot was saved during a recording or replay (it has an icount).</param>
/// <param name="StartIcountAtMost">The icount the replay starts at: the recording's start, or a checkpoint after it.</param>
/// <param name="StartIcountExact">Whether <paramref name="StartIcountAtMost"/> is the recording's start itself.</param>
public sealed record ReverseDebuggingFacts(bool HasKvmvapic, string? StartSnapshot, bool StartSnapshotHasIcount, long StartIcountAtMost, bool StartIcountExact);

using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using QemuTestKit.Introspection;
using QemuTestKit.Introspection.Catalog;
using QemuTestKit.Introspection.Images;
using QemuTestKit.Introspection.Processes;
using QemuTestKit.Introspection.Qmp;
using QemuTestKit.Machines.CommandLine;
using QemuTestKit.Machines.Console;
using QemuTestKit.Machines.Recording;
using QemuTestKit.Machines.Runtime;

namespace QemuTestKit.Machines.Replay;

/// <summary>
/// Replays a bundle from its start or from a checkpoint on the recorded QEMU build, and checks the replayed console
/// against the recorded transcript byte by byte: the proof that the replay is the recorded execution.
/// </summary>
public static class Replayer
{
    private static readonly TimeSpan QuietBeforeNudge = TimeSpan.FromMilliseconds(50);

    /// <exception cref="ReplayException">The binary differs from the recorded one, the checkpoint is unknown, or the replay got stuck.</exception>
    /// <exception cref="ReplayStuckException">The replay did not end within <see cref="ReplayOptions.Timeout"/>.</exception>
    public static async Task<ReplayResult> ReplayAsync(ReplayBundle bundle, ReplayOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(bundle);
        options ??= new ReplayOptions();
        var limit = Limit(bundle.Manifest, options);
        var mode = options.Gdb is not null ? " (with gdb)" : options.Until is not null ? $" (until {options.Until})" : string.Empty;
        ConsoleTranscript? console = null;
        return await ReplayDeadline.RunAsync(limit,
            ct => ReplayWithinAsync(bundle, options with { Started = c => { console = c; options.Started?.Invoke(c); } }, ct),
            () => Stuck(limit!.Value, console?.Length, bundle.Manifest.Transcript.Length, mode), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The deadline of a replay: the given timeout, else generous for a replay that checks itself, none for an interactive gdb session.</summary>
    internal static TimeSpan? Limit(BundleManifest manifest, ReplayOptions options) =>
        options.Timeout ?? (options.Gdb is null ? DefaultTimeout(manifest) : null);

    /// <summary>The one message of a replay that made no end: what was replayed by then, and the way out.</summary>
    /// <param name="mode">How it replayed, as words after "the replay" (" (with gdb)", " in the container").</param>
    public static ReplayStuckException Stuck(TimeSpan limit, long? replayed, long recorded, string mode)
    {
        var progress = replayed is { } n
            ? string.Create(CultureInfo.InvariantCulture, $"{n} console bytes replayed of the recording's {recorded}")
            : "QEMU was not replaying yet";
        return new ReplayStuckException(string.Create(CultureInfo.InvariantCulture, $"the replay{mode} made no end within {limit.TotalSeconds:0} s ({progress})"));
    }

    private static async Task<ReplayResult> ReplayWithinAsync(ReplayBundle bundle, ReplayOptions options, CancellationToken cancellationToken)
    {
        var stopwatch = Stopwatch.StartNew();
        var session = await StartAsync(bundle, options, cancellationToken).ConfigureAwait(false);
        await using var owned = session.ConfigureAwait(false);
        var startup = stopwatch.Elapsed;
        var machine = session.Machine;
        options.Started?.Invoke(machine.Console.Transcript);
        if (session.UntilIcount is { } until)
        {
            // To the break first: verified up to there, and without gdb that is the whole verdict.
            var atBreak = await FollowAsync(machine, session.ExpectedTranscript, session.StartOffset, options with { Gdb = null }, until, cancellationToken)
                .ConfigureAwait(false);
            if (!atBreak.Identical || options.Gdb is null || atBreak.StoppedAtIcount is null)
            {
                return atBreak with { From = session.From, Elapsed = stopwatch.Elapsed, Binary = session.Binary, Startup = startup };
            }

            options.Progress?.Invoke(string.Create(CultureInfo.InvariantCulture,
                $"replay stopped at icount {until} ({atBreak.ComparedBytes} console bytes identical so far)"));
        }

        if (options.Gdb is { } gdb)
        {
            // gdb path (ReverseDebugging.cs): the attach command, and why reverse execution cannot work when it cannot.
            await ReverseDebugging.AnnounceAsync(machine, bundle.Manifest, session.Checkpoint, gdb.Endpoint(machine.RunDirectoryPath), options.Progress,
                cancellationToken).ConfigureAwait(false);
        }

        var outcome = await FollowAsync(machine, session.ExpectedTranscript, session.StartOffset, options, stopAt: null, cancellationToken).ConfigureAwait(false);
        return outcome with { From = session.From, Elapsed = stopwatch.Elapsed, Binary = session.Binary, Startup = startup };
    }

    /// <summary>
    /// Starts QEMU replaying <paramref name="bundle"/> (from its start or <see cref="ReplayOptions.FromCheckpoint"/>) and
    /// hands the machine over without following it: the caller drives it like a live one while QEMU takes every input
    /// from the replay log. <see cref="ReplayAsync"/> is this plus the byte-by-byte comparison.
    /// </summary>
    /// <exception cref="ReplayException">The binary differs from the recorded one or the checkpoint is unknown.</exception>
    public static async Task<ReplaySession> StartAsync(ReplayBundle bundle, ReplayOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(bundle);
        options ??= new ReplayOptions();
        var manifest = bundle.Manifest;
        var binary = await CheckBinaryAsync(manifest, options, cancellationToken).ConfigureAwait(false);
        var checkpoint = manifest.CheckpointToReplayFrom(options.FromCheckpoint);
        var startOffset = checkpoint?.TranscriptOffset ?? 0;
        var from = checkpoint?.Name ?? manifest.StartSnapshot ?? "the start";
        var expected = await File.ReadAllBytesAsync(bundle.TranscriptPath, cancellationToken).ConfigureAwait(false);
        if (startOffset > expected.Length)
        {
            throw new ReplayException($"checkpoint '{checkpoint!.Name}' of {bundle.Source} lies beyond the end of its transcript: the bundle is damaged");
        }

        // Read on the thread pool: a cached catalog is parsed synchronously, and that can overlap QEMU's start (see LaunchAsync).
        var catalog = Task.Run(() => new CatalogCache().GetAsync(binary, cancellationToken), cancellationToken);
        var untilIcount = options.Until is { } until ? await until.ResolveAsync(bundle, cancellationToken).ConfigureAwait(false) : (long?)null;
        // A replay held paused (-S) must be continued quickly: QEMU 7.2 can stall for good when one loaded from a
        // snapshot (rrsnapshot) stands paused while its main loop runs (one recording in ~25 here, and only when the
        // pause lasted tens of milliseconds; a stop and cont right after the start did it too; from the ready snapshot
        // too: a clean-machine run stalled a break from ready for 120 s). So everything slow is done before QEMU starts,
        // and a break is set on the running replay without stopping it; a break it has already run past starts it again
        // paused. Only gdb (which attaches first) and old bundles (whose start snapshot has no icount) start paused.
        var startSnapshotHasIcount = untilIcount is null || await ReplayUntil.StartSnapshotHasIcountAsync(bundle, cancellationToken).ConfigureAwait(false);
        var paused = options.Gdb is not null || !startSnapshotHasIcount;
        var prefix = options.ConsoleFromStart && startOffset > 0 ? expected[..(int)startOffset] : null;
        var machine = await LaunchAsync(bundle, binary, catalog, checkpoint, options, paused, prefix, cancellationToken).ConfigureAwait(false);
        if (untilIcount is { } icount)
        {
            try
            {
                if (!await ReplayUntil.ArmAsync(machine, icount, from, paused, startSnapshotHasIcount, cancellationToken).ConfigureAwait(false))
                {
                    await machine.DisposeAsync().ConfigureAwait(false);
                    machine = await LaunchAsync(bundle, binary, catalog, checkpoint, options, paused: true, prefix, cancellationToken).ConfigureAwait(false);
                    await ReplayUntil.ArmAsync(machine, icount, from, paused: true, startSnapshotHasIcount, cancellationToken).ConfigureAwait(false);
                }
            }
            catch
            {
                await machine.DisposeAsync().ConfigureAwait(false);
                throw;
            }
        }

        // Whoever drives the session may only read the console, and then nothing polls QMP: under icount QEMU's main loop
        // can sleep with output pending (a full replay read this way took 15.8 s against the CLI's 10.6 s, and one under
        // load stalled), so a wait that sees nothing for a moment wakes it.
        machine.NudgeWhileWaiting(QuietBeforeNudge);
        return new ReplaySession(machine, checkpoint, from, startOffset, expected, binary, untilIcount, ConsoleOffset: prefix is null ? startOffset : 0);
    }

    private static async Task<QemuMachine> LaunchAsync(ReplayBundle bundle, string binary, Task<QemuCatalog> catalog, Checkpoint? checkpoint, ReplayOptions options, bool paused,
        byte[]? consolePrefix, CancellationToken cancellationToken)
    {
        var manifest = bundle.Manifest;
        var run = RunDirectory.Create("replay", options.RunRoot);
        try
        {
            var bases = await CopyRunFilesAsync(bundle, run, cancellationToken).ConfigureAwait(false);
            var arguments = Arguments(WithDiskBases(bundle.ExpandReplayArguments(run.Path), bases), checkpoint, options, paused, run);
            var files = new MachineRunFiles(run.QmpSocket, MachineRunFiles.SerialPortsOf(bundle.Manifest.ReplayArguments, Math.Max(1, manifest.Spec.SerialConsoles), run),
                run.File("state.qcow2"), []);
            return await QemuMachine.LaunchAsync(manifest.Spec, binary, catalog, run, files, arguments,
                new MachineStartOptions { Mode = RunMode.Replay, RunRoot = options.RunRoot, ConsolePrefix = consolePrefix },
                cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not MachineStartException)
        {
            run.Dispose();
            throw;
        }
    }

    /// <summary>A stuck replay (QEMU has such bugs, for example issue 2634) must fail, not hang: allow generously more than the recording took.</summary>
    public static TimeSpan DefaultTimeout(BundleManifest manifest)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        return TimeSpan.FromSeconds(Math.Max(60, manifest.Timings.RecordSeconds * 10));
    }

    /// <summary>
    /// Compares the replayed console with the recording as it arrives, until the replay ends (or stands paused at
    /// <paramref name="stopAt"/>). QMP queries every few milliseconds also keep it fast: under icount QEMU's main loop
    /// can sleep with work pending, and any monitor command wakes it (a 2 s recording replays in ~4 s without, ~1.9 s with).
    /// </summary>
    private static async Task<ReplayResult> FollowAsync(QemuMachine machine, byte[] expected, long startOffset, ReplayOptions options,
        long? stopAt, CancellationToken ct)
    {
        var transcript = machine.Console.Transcript;
        var expectedLength = expected.Length - startOffset;
        var compared = 0L;
        while (true)
        {
            var replayed = transcript.GetBytes(compared);
            var n = (int)Math.Min(replayed.Length, expectedLength - compared);
            for (var i = 0; i < n; i++)
            {
                if (replayed[i] != expected[startOffset + compared + i])
                {
                    return Diverged(expected, startOffset, transcript.GetBytes(), compared + i);
                }
            }

            compared += n;
            if (replayed.Length > n)
            {
                // Output beyond the recording: the recorded run had ended here.
                return Ended(compared, null);
            }

            if (machine.HasExited)
            {
                await Task.Delay(100, ct).ConfigureAwait(false);
                if (transcript.Length > compared)
                {
                    continue;
                }

                return Ended(compared, Exited(machine));
            }

            string mode;
            bool atBreak;
            try
            {
                mode = await ReplayIcount.ModeAsync(machine.Qmp, ct).ConfigureAwait(false);
                atBreak = stopAt is { } target && await ReplayUntil.StoppedAtAsync(machine, target, ct).ConfigureAwait(false);
            }
            catch (QmpException) when (machine.HasExited)
            {
                continue;
            }

            if (atBreak || mode == "none")
            {
                // Paused at the break, or at the end of the replay log: let the last bytes arrive, then judge.
                await machine.Console.WaitForInputDrainedAsync(ct).ConfigureAwait(false);
                if (transcript.Length > compared)
                {
                    continue;
                }

                return atBreak
                    ? Identical(compared) with { StoppedAtIcount = stopAt }
                    : Ended(compared, "QEMU's replay log ended (query-replay reports mode none)" + StderrPart(machine.StderrTail));
            }

            await Task.Delay(5, ct).ConfigureAwait(false);
        }

        // The verdict once the replay has ended: it must have replayed the whole recording and, with a break, reached the break.
        ReplayResult Ended(long compared, string? how)
        {
            if (compared != expectedLength)
            {
                var diverged = Diverged(expected, startOffset, transcript.GetBytes(), compared);
                return transcript.Length == compared && how is not null
                    ? diverged with
                    {
                        EndedEarly = string.Create(CultureInfo.InvariantCulture,
                            $"{how}, after {compared} of the recording's {expectedLength} console bytes")
                    }
                    : diverged;
            }

            return stopAt is { } missed
                ? throw new ReplayException(string.Create(CultureInfo.InvariantCulture,
                    $"the recording ended before icount {missed} (all {compared} console bytes replayed identically)"))
                : Identical(compared);
        }
    }

    private static string Exited(QemuMachine machine) =>
        string.Create(CultureInfo.InvariantCulture, $"QEMU exited (code {machine.ExitCode?.ToString(CultureInfo.InvariantCulture) ?? "unknown"})")
        + StderrPart(machine.StderrTail);

    private static string StderrPart(string stderr) =>
        string.IsNullOrWhiteSpace(stderr) ? string.Empty : $"; its stderr ends: {QemuProcess.TailLines(stderr, 5).Trim().ReplaceLineEndings(" | ")}";

    private static ReplayResult Identical(long compared)
        => new(true, compared, null, null, null, string.Empty, TimeSpan.Zero, string.Empty);

    private static ReplayResult Diverged(byte[] expected, long startOffset, byte[] replayed, long at)
    {
        static string Context(byte[] bytes, long from, long at)
        {
            var start = (int)Math.Max(from, from + at - 40);
            var end = (int)Math.Min(bytes.Length, from + at + 40);
            return start >= end ? "(nothing)" : System.Text.Encoding.UTF8.GetString(bytes, start, end - start);
        }

        return new ReplayResult(false, at, startOffset + at, Context(expected, startOffset, at), Context(replayed, 0, at), string.Empty, TimeSpan.Zero,
            string.Empty);
    }

    private static async Task<string> CheckBinaryAsync(BundleManifest manifest, ReplayOptions options, CancellationToken ct)
    {
        var binary = QemuBinary.Resolve(options.Qemu ?? manifest.Qemu.Binary).Path;
        var sha = await FileHashCache.Sha256Async(binary, cancellationToken: ct).ConfigureAwait(false);
        if (!string.Equals(sha, manifest.Qemu.Sha256, StringComparison.OrdinalIgnoreCase))
        {
            throw new ReplayException(
                $"the run was recorded with QEMU {manifest.Qemu.Version} at {manifest.Qemu.Binary} (sha256 {manifest.Qemu.Sha256[..Math.Min(16, manifest.Qemu.Sha256.Length)]}...), " +
                $"but {binary} is a different build (sha256 {sha[..16]}...): a replay needs the exact recorded build (pass it with --qemu)");
        }

        return binary;
    }

    /// <summary>
    /// The replay copies the state image and overlays (a replay never writes into the bundle), and returns where each
    /// overlay's base is here: the recorded path in the overlay may not exist on this machine, so the arguments name the
    /// base instead (<see cref="WithDiskBases"/>), which spares a <c>qemu-img rebase</c> per disk.
    /// </summary>
    private static async Task<List<DiskBase>> CopyRunFilesAsync(ReplayBundle bundle, RunDirectory run, CancellationToken ct)
    {
        ImageCopy.Copy(bundle.PathOf("state.qcow2"), run.File("state.qcow2"));
        var spec = bundle.Manifest.Spec;
        var bases = new List<DiskBase>();
        for (var i = 0; i < spec.Disks.Count; i++)
        {
            if (spec.Disks[i].ReadOnly)
            {
                continue;
            }

            var id = QemuCommandLine.DiskId(spec.Disks[i], i);
            var overlay = run.File($"{id}.overlay.qcow2");
            ImageCopy.Copy(bundle.PathOf($"disks/{id}.overlay.qcow2"), overlay);
            var baseRelative = $"disks/{id}.base";
            var basePath = bundle.Manifest.Files.Any(f => f.Path == baseRelative)
                ? bundle.PathOf(baseRelative)
                : bundle.Manifest.ExternalFiles.FirstOrDefault(e => e.BundlePath == baseRelative) is { } external
                    ? bundle.Resolve(external) ?? throw new ReplayException($"disk base image {external.OriginalPath} of the bundle is not on this machine")
                    : throw new ReplayException($"the bundle lacks {baseRelative}");
            // The overlay was made with the base's format (-F), so it names it; qemu-img only for overlays that do not.
            var format = spec.Disks[i].Format ?? Qcow2Header.BackingFormat(overlay)
                ?? (await new QemuImg().InfoAsync(basePath, cancellationToken: ct).ConfigureAwait(false)).Format;
            bases.Add(new DiskBase(overlay, Path.GetFullPath(basePath), format));
        }

        return bases;
    }

    /// <summary>A writable disk's overlay in the run, and the base it reads through (<c>backing.*</c> options on its drive).</summary>
    private sealed record DiskBase(string Overlay, string Base, string Format);

    /// <summary>Each overlay's drive option gets its base as <c>backing.driver</c> and <c>backing.file.filename</c>.</summary>
    private static List<string> WithDiskBases(IReadOnlyList<string> arguments, IReadOnlyList<DiskBase> bases)
    {
        var result = new List<string>(arguments);
        foreach (var disk in bases)
        {
            var file = "file=" + QemuOptionValue.Escape(disk.Overlay);
            var at = result.FindIndex(a => a.EndsWith("," + file, StringComparison.Ordinal) || a.Contains("," + file + ",", StringComparison.Ordinal));
            if (at < 1 || result[at - 1] != "-drive")
            {
                throw new ReplayException($"the bundle's replay arguments have no drive for {Path.GetFileName(disk.Overlay)}: the bundle is damaged");
            }

            result[at] = QemuOptionValue.Join(result[at], ("backing.driver", disk.Format), ("backing.file.filename", disk.Base));
        }

        return result;
    }

    private static List<string> Arguments(IReadOnlyList<string> recorded, Checkpoint? checkpoint, ReplayOptions options, bool paused, RunDirectory run)
    {
        var arguments = new List<string>(recorded);
        if (checkpoint is not null)
        {
            // From a checkpoint: QEMU loads it through rrsnapshot (which also positions the log), not -loadvm.
            var loadvm = arguments.IndexOf("-loadvm");
            if (loadvm >= 0)
            {
                arguments.RemoveRange(loadvm, 2);
            }

            var icount = arguments.IndexOf("-icount") + 1;
            arguments[icount] = QemuOptionValue.Join(arguments[icount], ("rrsnapshot", checkpoint.Name));
        }

        if (options.Gdb is { } gdb)
        {
            arguments.AddRange(["-gdb", gdb.QemuArgument(run)]);
        }

        if (paused)
        {
            // Paused at the start: for gdb to attach, or for the replay-break to be set before the first instruction.
            arguments.Add("-S");
        }

        return arguments;
    }
}

/// <summary>How to replay a bundle.</summary>
public sealed record ReplayOptions
{
    /// <summary>The checkpoint to start from; null for the recording's start.</summary>
    public string? FromCheckpoint { get; init; }

    /// <summary>
    /// Give up after this long, counted from the call, in every mode; defaults to ten times the recorded duration (at least
    /// a minute), and to no limit with <see cref="Gdb"/> (an interactive session lasts as long as its user).
    /// </summary>
    public TimeSpan? Timeout { get; init; }

    /// <summary>Use this binary instead of the recorded path (it must still be the recorded build).</summary>
    public string? Qemu { get; init; }

    /// <summary>Start paused with a gdb stub.</summary>
    public GdbStub? Gdb { get; init; }

    /// <summary>Stop the replay there (<c>replay-break</c>); with <see cref="Gdb"/> it waits there for gdb, otherwise the verdict covers the console up to there.</summary>
    public ReplayUntil? Until { get; init; }

    public string? RunRoot { get; init; }

    /// <summary>
    /// From a checkpoint: the replaying console's transcript starts with what the recording printed before it, at the
    /// recording's offsets, so a test that runs its commands from its start finds the earlier ones' output there.
    /// </summary>
    public bool ConsoleFromStart { get; init; }

    /// <summary>Lines for the user while the replay runs (for example the gdb command).</summary>
    public Action<string>? Progress { get; init; }

    /// <summary>
    /// Called once QEMU is replaying, with the console it prints to: how far the replay has got while it runs, and
    /// every byte it printed once it has ended (the transcript outlives the machine).
    /// </summary>
    public Action<QemuTestKit.Machines.Console.ConsoleTranscript>? Started { get; init; }
}

/// <summary>A gdb stub on a TCP port of 127.0.0.1, or on a Unix socket (in the run directory when no path is given).</summary>
public sealed record GdbStub(int? Port = null, string? SocketPath = null)
{
    internal string QemuArgument(RunDirectory run) => Port is { } port
        ? string.Create(CultureInfo.InvariantCulture, $"tcp:127.0.0.1:{port}")
        : QemuOptionValue.Join("unix:" + QemuOptionValue.Escape(SocketPath ?? run.GdbSocket), ("server", "on"), ("wait", "off"));

    internal string Endpoint(string runDirectory) => Port is { } port
        ? string.Create(CultureInfo.InvariantCulture, $"127.0.0.1:{port}")
        : SocketPath ?? Path.Combine(runDirectory, RunDirectory.GdbSocketName);
}

/// <summary>The verdict of a replay.</summary>
/// <param name="Identical">The replayed console equals the recorded transcript from the starting point.</param>
/// <param name="ComparedBytes">How many console bytes were compared (equal up to the divergence, if any).</param>
/// <param name="DivergedAt">The transcript offset of the first differing byte, when the replay diverged.</param>
/// <param name="Recorded">Context of the recording around the divergence.</param>
/// <param name="Replayed">Context of the replay around the divergence.</param>
public sealed record ReplayResult(
    bool Identical,
    long ComparedBytes,
    long? DivergedAt,
    string? Recorded,
    string? Replayed,
    string From,
    TimeSpan Elapsed,
    string Binary)
{
    /// <summary>How long it took to get QEMU replaying (binary check, copies of the state image and overlays, start, snapshot load).</summary>
    public TimeSpan Startup { get; init; }

    /// <summary>The icount the replay stopped at (<see cref="ReplayOptions.Until"/>), when it ended there.</summary>
    public long? StoppedAtIcount { get; init; }

    /// <summary>
    /// How the replay ended when it printed less than the recording and nothing different: QEMU exited (its exit code and
    /// stderr, for example "Missing character write event in the replay log") or its replay log ran out.
    /// </summary>
    public string? EndedEarly { get; init; }

    /// <summary>The CLI's last line.</summary>
    public string Verdict => Identical
        ? StoppedAtIcount is { } stopped
            ? string.Create(CultureInfo.InvariantCulture, $"replay: identical ({ComparedBytes} bytes from {From}, stopped at icount {stopped})")
            : string.Create(CultureInfo.InvariantCulture, $"replay: identical ({ComparedBytes} bytes from {From})")
        : EndedEarly is { } how
            ? string.Create(CultureInfo.InvariantCulture, $"replay: diverged at byte {DivergedAt}: {how}")
            : string.Create(CultureInfo.InvariantCulture, $"replay: diverged at byte {DivergedAt}");
}

/// <summary>A replay could not run or did not finish.</summary>
public class ReplayException : QemuTestKitException
{
    public ReplayException(string message, Exception? inner = null) : base(message, inner) { }
}

/// <summary>A replay that made no end within its timeout: QEMU stalled, or its log is damaged.</summary>
public sealed class ReplayStuckException : ReplayException
{
    /// <param name="what">What made no end, and how far it got (the message adds the likely causes and the way out).</param>
    public ReplayStuckException(string what) : base($"{what}: QEMU's replay is stuck, or its log is damaged; pass --timeout to wait longer") => What = what;

    /// <summary>What made no end and how far it got, without the guess at the cause.</summary>
    public string What { get; }
}

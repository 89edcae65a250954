using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using QemuTestKit.Introspection;
using QemuTestKit.Introspection.Catalog;
using QemuTestKit.Introspection.Images;
using QemuTestKit.Introspection.Processes;
using QemuTestKit.Introspection.Qmp;
using QemuTestKit.Machines.Bundles;
using QemuTestKit.Machines.CommandLine;
using QemuTestKit.Machines.Console;
using QemuTestKit.Machines.Runtime;
using QemuTestKit.Machines.Validation;

namespace QemuTestKit.Machines.Replay;

/// <summary>
/// Replays a bundle from its start or from a checkpoint on the recorded QEMU build, and checks the replayed console
/// against the recorded transcript byte by byte: the proof that the replay is the recorded execution.
/// </summary>
public static class Replayer
{
    private static readonly TimeSpan QuietBeforeNudge = TimeSpan.FromMilliseconds(50);

    private static readonly TimeSpan ConsoleDrainAfterExit = TimeSpan.FromSeconds(5);

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
                if (atBreak.StoppedAtIcount is null)
                {
                    await session.Launcher!.ConfirmEndAsync(machine, cancellationToken).ConfigureAwait(false);
                }

                return Finished(atBreak);
            }

            options.Progress?.Invoke(string.Create(CultureInfo.InvariantCulture,
                $"replay stopped at icount {until} ({atBreak.ComparedBytes} console bytes identical so far)"));
        }

        if (session.GdbEndpoint is { } endpoint)
        {
            // gdb path (ReverseDebugging.cs): the attach command, and why reverse execution cannot work when it cannot.
            await ReverseDebugging.AnnounceAsync(machine, bundle, session.Checkpoint, endpoint, options.Progress, cancellationToken).ConfigureAwait(false);
        }

        var outcome = await FollowAsync(machine, session.ExpectedTranscript, session.StartOffset, options, stopAt: null, cancellationToken).ConfigureAwait(false);
        await session.Launcher!.ConfirmEndAsync(machine, cancellationToken).ConfigureAwait(false);

        return Finished(outcome);

        ReplayResult Finished(ReplayResult result) => result with
        {
            From = session.From, Elapsed = stopwatch.Elapsed, Binary = session.Binary, Startup = startup, RelayedCheckpoints = session.RelayedCheckpoints,
        };
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
        var checkpoint = CheckpointToReplayFrom(manifest, options.FromCheckpoint);
        var launcher = await (options.Host ?? LocalReplayHost.Instance).PrepareAsync(bundle, options, cancellationToken).ConfigureAwait(false);
        var startOffset = checkpoint?.TranscriptOffset ?? 0;
        var from = checkpoint?.Name ?? manifest.StartSnapshot ?? "the start";
        var expected = await File.ReadAllBytesAsync(bundle.TranscriptPath, cancellationToken).ConfigureAwait(false);
        if (startOffset > expected.Length)
        {
            throw new ReplayException($"checkpoint '{checkpoint!.Name}' of {bundle.Source} lies beyond the end of its transcript: the bundle is damaged");
        }

        var untilIcount = options.Until is { } until ? await until.ResolveAsync(bundle, cancellationToken).ConfigureAwait(false) : (long?)null;
        // A replay stands paused (-S) as little as it can: QEMU goes on taking logged events while it does, and a
        // replay paused at a checkpoint can stall for good that way (ReplayUntil.SeekAsync says how). So everything
        // slow is done before QEMU starts, and a break is set on the running replay without stopping it; a break it
        // has already run past starts it again paused. Only gdb attaching at the start, old bundles (whose start
        // snapshot has no icount) and a break right after the start (ReplayUntil.NearStart) start paused, and from a
        // checkpoint those stand paused at the start snapshot and seek into the checkpoint. With --until gdb attaches
        // at the break (a paused start of --gdb --until stalled the QEMU 10 image in one CI run).
        // The start snapshot's table is read once, and only for a break, gdb from a checkpoint, or checkpoints to pass.
        var gdbFromCheckpoint = options.Gdb is not null && untilIcount is null && checkpoint is not null;
        var holds = untilIcount is not null || gdbFromCheckpoint;
        // A replay without gdb that will pass later checkpoints goes on from each (CheckpointRelay), where the machine can
        // be replayed from a checkpoint at all; the relay needs the start snapshot's icount to be the replay's.
        var passesCheckpoints = options.Gdb is null && ReplayLimits.FromCheckpoint(manifest.Spec) is null
            && CheckpointRelay.PointsAfter(manifest, checkpoint?.Icount ?? 0, untilIcount).Count > 0;
        var start = holds || passesCheckpoints ? await ReplayUntil.StartSnapshotIcountAsync(bundle, cancellationToken).ConfigureAwait(false) : default;
        var startSnapshotHasIcount = ReplayUntil.HasIcount(start);
        var paused = StartsPaused(gdbAtStart: options.Gdb is not null && untilIcount is null, holds, startSnapshotHasIcount,
            untilIcount is { } near && ReplayUntil.IsNearStart(checkpoint, start.Icount, near));
        // A paused replay from a checkpoint stands paused at its start snapshot instead and seeks into the checkpoint
        // (ReplayUntil.SeekAsync), a first start as much as a second one after a running start ran past its break; gdb
        // without --until then attaches one instruction after the checkpoint, where the replay runs.
        var hold = untilIcount ?? (gdbFromCheckpoint ? checkpoint!.Icount + 1 : null);
        bool Seeks(bool pausedStart) => pausedStart && checkpoint is not null && hold is { } target && ReplayUntil.CanSeekInto(manifest, checkpoint, start, target);
        if (Seeks(paused))
        {
            untilIcount = hold;
        }

        var prefix = options.ConsoleFromStart && startOffset > 0 ? expected[..(int)startOffset] : null;
        ReplayLaunch Launch(bool pausedStart) =>
            new(Seeks(pausedStart) ? manifest.StartSnapshot : checkpoint?.Name, pausedStart, options.Gdb, prefix, options.RunRoot);
        // Holds the launched replay at the break: a seek into the checkpoint, or a break armed on the running (or paused)
        // replay; false when a running replay has already run past it.
        async Task<bool> HoldAsync(QemuMachine machine, long icount, bool pausedStart)
        {
            if (!Seeks(pausedStart))
            {
                return await ReplayUntil.ArmAsync(machine, icount, from, pausedStart, startSnapshotHasIcount, cancellationToken).ConfigureAwait(false);
            }

            await ReplayUntil.SeekAsync(machine, icount, cancellationToken).ConfigureAwait(false);
            return true;
        }

        var launched = await launcher.LaunchAsync(Launch(paused), cancellationToken).ConfigureAwait(false);
        if (untilIcount is { } icount)
        {
            try
            {
                if (!await HoldAsync(launched.Machine, icount, paused).ConfigureAwait(false))
                {
                    await launched.Machine.DisposeAsync().ConfigureAwait(false);
                    launched = await launcher.LaunchAsync(Launch(pausedStart: true), cancellationToken).ConfigureAwait(false);
                    await HoldAsync(launched.Machine, icount, pausedStart: true).ConfigureAwait(false);
                }
            }
            catch
            {
                await launched.Machine.DisposeAsync().ConfigureAwait(false);
                throw;
            }
        }

        var machine = launched.Machine;
        var consoleOffset = prefix is null ? startOffset : 0;
        var relay = passesCheckpoints && startSnapshotHasIcount
            ? CheckpointRelay.Start(machine, manifest, checkpoint?.Icount ?? start.Icount ?? 0, untilIcount, consoleOffset, options.Progress)
            : null;
        // Whoever drives the session may only read the console, and then nothing polls QMP: under icount QEMU's main loop
        // can sleep with output pending (a full replay read this way took 15.8 s against the CLI's 10.6 s, and one under
        // load stalled), so a wait that sees nothing for a moment wakes it.
        machine.NudgeWhileWaiting(QuietBeforeNudge);
        return new ReplaySession(machine, checkpoint, from, startOffset, expected, launcher.Build, untilIcount, ConsoleOffset: consoleOffset)
        {
            GdbEndpoint = launched.GdbEndpoint,
            Launcher = launcher,
            Relay = relay,
        };
    }

    /// <summary>
    /// Whether a replay starts paused (<c>-S</c>): gdb attaching at its start, a hold (a break, gdb from a checkpoint) on a
    /// bundle whose start snapshot has no icount (ReplayUntil.ArmAsync), or a break right after the start. A replay with
    /// nothing to hold runs from its start whatever its start snapshot holds; nothing would continue it.
    /// </summary>
    internal static bool StartsPaused(bool gdbAtStart, bool holds, bool startSnapshotHasIcount, bool breakNearStart) =>
        gdbAtStart || (holds && !startSnapshotHasIcount) || breakNearStart;

    /// <summary>The checkpoint a replay starts from: null for the start (no name, or the start snapshot's).</summary>
    /// <exception cref="ReplayException">No such checkpoint, or the machine cannot be replayed from one (<see cref="ReplayLimits.FromCheckpoint"/>).</exception>
    internal static Checkpoint? CheckpointToReplayFrom(BundleManifest manifest, string? name)
    {
        if (name is null || name == manifest.StartSnapshot)
        {
            return null;
        }

        var checkpoint = manifest.Checkpoints.FirstOrDefault(c => c.Name == name)
            ?? throw new ReplayException($"the bundle has no checkpoint '{name}'; it has: {string.Join(", ", new[] { manifest.StartSnapshot ?? "(start)" }.Concat(manifest.Checkpoints.Select(c => c.Name)))}");
        return ReplayLimits.FromCheckpoint(manifest.Spec) is { } why
            ? throw new ReplayException($"cannot replay from checkpoint '{name}': {why} (without --from)")
            : checkpoint;
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
                // What QEMU printed before it exited may still be on its way (through a container's port proxy, under
                // load, well over 100 ms): read the console to its end, for a few seconds at most.
                await Task.WhenAny(machine.Console.Closed, Task.Delay(ConsoleDrainAfterExit, ct)).ConfigureAwait(false);
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
            catch (QmpDisconnectedException)
            {
                // QEMU closed QMP as it exited (a replayed shutdown); where QEMU runs may learn of the exit a little
                // later than QMP does (a container's exit comes through the engine's API).
                if (await HasExitedAsync(machine, ct).ConfigureAwait(false))
                {
                    continue;
                }

                throw;
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

    private static async Task<bool> HasExitedAsync(QemuMachine machine, CancellationToken ct)
    {
        try
        {
            await machine.Host.WaitForExitAsync(ExitNoticedWithin, ct).ConfigureAwait(false);
            return true;
        }
        catch (TimeoutException)
        {
            return false;
        }
    }

    private static readonly TimeSpan ExitNoticedWithin = TimeSpan.FromSeconds(10);

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

    /// <summary>Where QEMU runs; null for this host (<see cref="LocalReplayHost"/>). A container of the recorded image is another (QemuTestKit.Containers).</summary>
    public IReplayHost? Host { get; init; }

    /// <summary>A gdb stub; the replay waits for gdb at its first instruction, or at <see cref="Until"/> when given.</summary>
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

/// <summary>
/// A gdb stub on a TCP port of 127.0.0.1, or on a Unix socket (in the run directory when no path is given). A replay in
/// a container serves it on a port of 127.0.0.1 only: <paramref name="Port"/>, or any free one when neither is given.
/// </summary>
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

    /// <summary>
    /// The later checkpoints the replay went on from, in order: one instruction before each it loaded the checkpoint, so
    /// what follows replays from the state the recording saved there (why: <see cref="CheckpointRelay"/>).
    /// </summary>
    public IReadOnlyList<string> RelayedCheckpoints { get; init; } = [];

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

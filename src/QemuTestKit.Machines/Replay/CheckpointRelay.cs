using System.Text.Json.Nodes;
using QemuTestKit.Introspection.Qmp;
using QemuTestKit.Machines.Bundles;
using QemuTestKit.Machines.Runtime;

namespace QemuTestKit.Machines.Replay;

/// <summary>
/// Carries a running replay across the checkpoints its recording saved: one instruction before each, the replay stops
/// and QEMU's <c>replay-seek</c> loads the checkpoint and runs on, so the replay goes on from the state the recording
/// saved there rather than the one it computed itself.
/// </summary>
/// <remarks>
/// Why: a checkpoint stopped the recording (stop, savevm, cont) while its main loop went on taking timer events, and a
/// replay runs through that stretch of the log running. QEMU 7.2's icount warp timer (<c>icount_warp_rt</c>) moves the
/// virtual clock only while the machine runs; when it was due just as the recording stopped, it fired stopped in the
/// recording and running in the replay, whose virtual clock then runs ahead, and the replay stalls at the checkpoint for
/// good (1 of about 120 benchmark checkpoints, every time; CI saw one in a container). The checkpoint's snapshot holds
/// the recording's own clocks and log position: replays from it never stalled there. A seek loads and runs in one
/// command, so the replay never stands paused inside that stretch (<see cref="ReplayUntil.SeekAsync"/> says why that matters).
/// </remarks>
internal sealed class CheckpointRelay : IAsyncDisposable
{
    /// <summary>How long the relay waits for the replay to reach the next checkpoint; the replay's own deadline is what ends a stalled one.</summary>
    private static readonly TimeSpan ReachWithin = TimeSpan.FromHours(24);

    private readonly QemuMachine _machine;
    private readonly IReadOnlyList<Checkpoint> _points;
    private readonly IReadOnlyList<long> _checkpointIcounts;
    private readonly long? _until;
    private readonly long _consoleOffset;
    private readonly Action<string>? _progress;
    private readonly List<string> _relayed = [];
    private readonly CancellationTokenSource _stop = new();
    private Task _running = Task.CompletedTask;

    private CheckpointRelay(QemuMachine machine, IReadOnlyList<Checkpoint> points, IReadOnlyList<long> checkpointIcounts, long? until, long consoleOffset,
        Action<string>? progress)
    {
        _progress = progress;
        _machine = machine;
        _points = points;
        _checkpointIcounts = checkpointIcounts;
        _until = until;
        _consoleOffset = consoleOffset;
    }

    /// <summary>The checkpoints the replay went on from, in order.</summary>
    public IReadOnlyList<string> Relayed
    {
        get
        {
            lock (_relayed)
            {
                return [.. _relayed];
            }
        }
    }

    /// <summary>
    /// The checkpoints a replay from <paramref name="startIcount"/> passes before <paramref name="until"/>, the first saved of each
    /// icount: one instruction before each must lie after the start.
    /// </summary>
    internal static IReadOnlyList<Checkpoint> PointsAfter(BundleManifest manifest, long startIcount, long? until) =>
        [.. manifest.Checkpoints
            .Where(c => c.Icount - 1 > startIcount && (until is null || c.Icount < until))
            .GroupBy(c => c.Icount)
            .Select(g => g.First())
            .OrderBy(c => c.Icount)];

    /// <summary>
    /// Starts carrying <paramref name="machine"/>, a running replay from <paramref name="startIcount"/>, across the checkpoints
    /// it passes (<see cref="PointsAfter"/>); null when there are none.
    /// </summary>
    /// <param name="consoleOffset">The recording's transcript offset of the replaying console's first byte.</param>
    /// <param name="progress">Where a relay that gave up says so.</param>
    internal static CheckpointRelay? Start(QemuMachine machine, BundleManifest manifest, long startIcount, long? until, long consoleOffset,
        Action<string>? progress)
    {
        var points = PointsAfter(manifest, startIcount, until);
        if (points.Count == 0)
        {
            return null;
        }

        var relay = new CheckpointRelay(machine, points, [.. manifest.Checkpoints.Select(c => c.Icount).Distinct().Order()], until, consoleOffset, progress);
        relay._running = Task.Run(() => relay.RunAsync(relay._stop.Token));
        return relay;
    }

    private async Task RunAsync(CancellationToken ct)
    {
        using var stops = _machine.Qmp.Listen("STOP");
        try
        {
            var next = 0;
            while (next < _points.Count && !await TryBreakAsync(_points[next].Icount - 1, ct).ConfigureAwait(false))
            {
                next++; // The replay ran past it before the relay began.
            }

            for (; next < _points.Count; next++)
            {
                var point = _points[next];
                await PausedAtAsync(stops, point.Icount - 1, ct).ConfigureAwait(false);
                var target = TargetAfter(point.Icount);
                await _machine.Console.WaitForInputDrainedAsync(ct).ConfigureAwait(false);
                if (target > point.Icount && _consoleOffset + _machine.Console.Transcript.Length == point.TranscriptOffset)
                {
                    await ReplayUntil.SeekAsync(_machine, target, ct).ConfigureAwait(false);
                    lock (_relayed)
                    {
                        _relayed.Add(point.Name);
                    }
                }
                else
                {
                    // The last instruction before the checkpoint printed (going on from the checkpoint would lose that
                    // output), or the next stop is the checkpoint itself (a seek there would load it and never stop).
                    await BreakAndContinueAsync(target, ct).ConfigureAwait(false);
                }

                if (next + 1 < _points.Count && target == _points[next + 1].Icount - 1)
                {
                    continue;
                }

                if (_until is { } until && target == until - 1)
                {
                    // The break is a checkpoint's own icount: a seek there would load that checkpoint and never stop.
                    await PausedAtAsync(stops, target, ct).ConfigureAwait(false);
                    await BreakAndContinueAsync(until, ct).ConfigureAwait(false);
                }

                return;
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
        catch (QmpException) when (_machine.HasExited || !_machine.Qmp.IsConnected)
        {
            // The replay ended (or was stopped) before the next checkpoint: nothing left to carry.
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // A relay that failed (QEMU refused the seek, the console went away) leaves a plain replay: the break asked
            // for, and running; the replay's own end then says how it went.
            _progress?.Invoke($"replay: could not go on from the next checkpoint ({e.Message}); the replay runs on from its own state");
            await GoOnAsPlainReplayAsync().ConfigureAwait(false);
        }
    }

    private long TargetAfter(long icount) => TargetAfter(_checkpointIcounts, icount, _until);

    /// <summary>
    /// Where a replay gone on from the checkpoint at <paramref name="icount"/> stops next: one instruction before the next
    /// checkpoint (QEMU's seek must load this one), at the break, one instruction before a break that is a checkpoint's
    /// own icount, or nowhere (<see cref="long.MaxValue"/>).
    /// </summary>
    internal static long TargetAfter(IReadOnlyList<long> checkpointIcounts, long icount, long? until)
    {
        var later = checkpointIcounts.Where(c => c > icount).DefaultIfEmpty(long.MaxValue).Min();
        var target = later == long.MaxValue ? long.MaxValue : later - 1;
        return until is { } u && u <= target ? (later == u ? u - 1 : u) : target;
    }

    private async Task<bool> TryBreakAsync(long icount, CancellationToken ct)
    {
        try
        {
            await _machine.Qmp.ExecuteAsync("replay-break", new JsonObject { ["icount"] = icount }, cancellationToken: ct).ConfigureAwait(false);
            return true;
        }
        catch (QmpErrorException)
        {
            return false; // "in the past"
        }
    }

    private async Task BreakAndContinueAsync(long icount, CancellationToken ct)
    {
        if (icount != long.MaxValue)
        {
            await _machine.Qmp.ExecuteAsync("replay-break", new JsonObject { ["icount"] = icount }, cancellationToken: ct).ConfigureAwait(false);
        }

        await _machine.Qmp.ExecuteAsync("cont", cancellationToken: ct).ConfigureAwait(false);
    }

    /// <summary>Waits until the replay stands paused at <paramref name="icount"/> (a seek's own stop and start are passed over).</summary>
    private async Task PausedAtAsync(QmpEventListener stops, long icount, CancellationToken ct)
    {
        while (!await ReplayUntil.StoppedAtAsync(_machine, icount, ct).ConfigureAwait(false))
        {
            await stops.ReadAsync(ReachWithin, ct).ConfigureAwait(false);
        }
    }

    private async Task GoOnAsPlainReplayAsync()
    {
        try
        {
            await BreakAndContinueAsync(_until ?? long.MaxValue, CancellationToken.None).ConfigureAwait(false);
        }
        catch (QmpException)
        {
            // QEMU went away meanwhile: the replay's own end says how.
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        await _running.ConfigureAwait(false);
        _stop.Dispose();
    }
}

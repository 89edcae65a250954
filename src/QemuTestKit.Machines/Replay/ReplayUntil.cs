using System.Globalization;
using System.Text.Json.Nodes;
using QemuTestKit.Introspection.Images;
using QemuTestKit.Introspection.Qmp;
using QemuTestKit.Machines.Bundles;
using QemuTestKit.Machines.Runtime;

namespace QemuTestKit.Machines.Replay;

/// <summary>
/// Where a replay stops (<c>replay-break</c>): an instruction count, or a transcript offset mapped to the instruction
/// count stamped on the console chunk holding that byte (see <see cref="TranscriptMap.IcountAfterAsync"/>): the replay
/// then has printed that byte, and at most the rest of the chunks that arrived with it.
/// </summary>
public sealed record ReplayUntil
{
    private ReplayUntil(long? icount, long? offset)
    {
        Icount = icount;
        Offset = offset;
    }

    /// <summary>Stop at this instruction count (as <c>query-replay</c> and <c>bundle info</c> report it).</summary>
    public long? Icount { get; }

    /// <summary>Stop once the replay has printed the transcript byte at this offset.</summary>
    public long? Offset { get; }

    public static ReplayUntil AtIcount(long icount) => icount >= 0 ? new(icount, null) : throw new ArgumentOutOfRangeException(nameof(icount));

    public static ReplayUntil AtOffset(long offset) => offset >= 0 ? new(null, offset) : throw new ArgumentOutOfRangeException(nameof(offset));

    /// <summary>Parses the CLI form: <c>N</c> or <c>icount:N</c> for an instruction count, <c>offset:N</c> for a transcript offset.</summary>
    /// <exception cref="ArgumentException">Not one of those forms.</exception>
    public static ReplayUntil Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var (kind, number) = text.IndexOf(':', StringComparison.Ordinal) is var colon and >= 0 ? (text[..colon], text[(colon + 1)..]) : ("icount", text);
        if (!long.TryParse(number, NumberStyles.None, CultureInfo.InvariantCulture, out var value))
        {
            throw new ArgumentException($"--until '{text}' is not an instruction count (N or icount:N) or a transcript offset (offset:N)");
        }

        return kind switch
        {
            "icount" => AtIcount(value),
            "offset" => AtOffset(value),
            _ => throw new ArgumentException($"--until '{text}': '{kind}' is neither icount nor offset (give N, icount:N or offset:N)"),
        };
    }

    public override string ToString() => Icount is { } icount
        ? string.Create(CultureInfo.InvariantCulture, $"icount {icount}")
        : string.Create(CultureInfo.InvariantCulture, $"offset {Offset}");

    /// <summary>The instruction count to break at.</summary>
    internal async Task<long> ResolveAsync(ReplayBundle bundle, CancellationToken ct) =>
        Icount ?? await TranscriptMap.IcountAfterAsync(bundle, Offset!.Value, ct).ConfigureAwait(false);

    /// <summary>
    /// A break this close after where the replay starts is always behind a replay started running by the time QMP can
    /// set it (QEMU runs its first blocks before it answers: ~22,000 instructions on an idle guest, more on a busy one),
    /// which would cost a second start; such a replay starts paused at once. Kept well below what QEMU runs first: a
    /// paused start is what can stall 7.2 for good, and with 1,000,000 a break at the echo of the first line typed
    /// after a checkpoint started paused and stalled (CheckpointBreakStressTests), where a running start reaches it.
    /// </summary>
    internal const long NearStart = 10_000;

    /// <summary>Whether the bundle's start snapshot carries an icount (false for ready states saved outside record mode).</summary>
    internal static async Task<bool> StartSnapshotHasIcountAsync(ReplayBundle bundle, CancellationToken ct) =>
        HasIcount(await StartSnapshotIcountAsync(bundle, ct).ConfigureAwait(false));

    /// <summary>Whether a start snapshot read by <see cref="StartSnapshotIcountAsync"/> carries an icount (a cold boot needs none).</summary>
    internal static bool HasIcount((bool Saved, long? Icount) start) => start is not { Saved: true, Icount: null };

    /// <summary>
    /// The start snapshot's icount from the state image's own snapshot table (read in place: no qemu-img process on the
    /// way to a replay's start); Saved is false when the bundle starts from a cold boot.
    /// </summary>
    internal static async Task<(bool Saved, long? Icount)> StartSnapshotIcountAsync(ReplayBundle bundle, CancellationToken ct)
    {
        if (bundle.Manifest.StartSnapshot is not { } snapshot || await bundle.StateImageAsync(ct).ConfigureAwait(false) is not { } image)
        {
            return (false, null);
        }

        var found = Qcow2SnapshotTable.Read(image).FirstOrDefault(s => s.Name == snapshot);
        return (found is not null, found?.Icount);
    }

    /// <summary>
    /// Whether a break at <paramref name="icount"/> lies within <see cref="NearStart"/> instructions of where the replay
    /// starts: <paramref name="checkpoint"/>, else the start snapshot's icount (<see cref="StartSnapshotIcountAsync"/>).
    /// </summary>
    internal static bool IsNearStart(Checkpoint? checkpoint, long? startSnapshotIcount, long icount) =>
        (checkpoint?.Icount ?? startSnapshotIcount) is { } start && icount - start < NearStart;

    /// <summary>
    /// Sets the break on a replay and lets it run there. A replay QEMU holds paused (<c>-S</c>) has not begun and is
    /// continued; a running one gets the break as it runs (QEMU checks it against the current count, so it is never
    /// stopped, which is what stalls it), and false means it had already run past <paramref name="icount"/> (start it
    /// again paused).
    /// </summary>
    internal static async Task<bool> ArmAsync(QemuMachine machine, long icount, string from, bool paused, bool startSnapshotHasIcount, CancellationToken ct)
    {
        var start = await ReplayIcount.QueryAsync(machine.Qmp, ct).ConfigureAwait(false) ?? 0;
        if (!startSnapshotHasIcount && start >= ReverseDebugging.FirstStepLimit)
        {
            // Bundles recorded before ready states were prepared in record mode: QEMU 7.2 would spin past the break.
            throw new ReplayException(
                "this recording started from a snapshot saved outside record mode past 2^31 instructions, so QEMU 7.2's replay counter " +
                "runs 2^32 behind and would never stop at the break; re-record it from a ready state prepared for recording (or give no --until)");
        }

        if (!paused)
        {
            try
            {
                await machine.Qmp.ExecuteAsync("replay-break", new JsonObject { ["icount"] = icount }, cancellationToken: ct).ConfigureAwait(false);
                return true;
            }
            catch (QmpErrorException)
            {
                return false; // "in the past": it ran past the break already.
            }
        }

        if (icount < start)
        {
            throw new ReplayException(string.Create(CultureInfo.InvariantCulture,
                $"icount {icount} lies before this replay's start ({from}, icount {start}): replay from an earlier checkpoint"));
        }

        try
        {
            await machine.Qmp.ExecuteAsync("replay-break", new JsonObject { ["icount"] = icount }, cancellationToken: ct).ConfigureAwait(false);
        }
        catch (QmpErrorException e)
        {
            throw new ReplayException($"QEMU refused to break at icount {icount}: {e.Description}", e);
        }

        await machine.Qmp.ExecuteAsync("cont", cancellationToken: ct).ConfigureAwait(false);
        return true;
    }

    /// <summary>
    /// Whether a replay held paused for a break at <paramref name="icount"/> after <paramref name="checkpoint"/> can get
    /// there by <see cref="SeekAsync"/> from the start snapshot instead of standing paused at the checkpoint: the start
    /// snapshot carries an icount before the checkpoint's, the break lies past the checkpoint, and QEMU's seek, which
    /// loads the latest snapshot at or before the break (the first saved of equals), would load this checkpoint.
    /// </summary>
    internal static bool CanSeekInto(BundleManifest manifest, Checkpoint checkpoint, (bool Saved, long? Icount) start, long icount) =>
        start is { Saved: true, Icount: { } startIcount } && startIcount < checkpoint.Icount && icount > checkpoint.Icount
        && !manifest.Checkpoints.Any(c => c.Name != checkpoint.Name && c.Icount >= checkpoint.Icount && c.Icount <= icount);

    /// <summary>
    /// Runs a replay held paused at its start snapshot to <paramref name="icount"/> with QEMU's <c>replay-seek</c>, which
    /// loads the checkpoint before it, sets the break and lets the replay run, in one command.
    /// </summary>
    /// <remarks>
    /// Why not a start paused at the checkpoint itself (<c>rrsnapshot</c> and <c>-S</c>), set the break, continue: while
    /// a replay stands paused its main loop goes on taking the recorded timer checkpoints of the host clocks, and the
    /// first ones after a checkpoint were recorded while the recording stood stopped for it, then running again. One of
    /// those can fire QEMU's icount warp timer (<c>icount_warp_rt</c>), which moves the virtual clock only while the
    /// machine runs; taken while paused, the clock stays behind the recording's, the guest's timer never expires and the
    /// replay stalls for good at the checkpoint's icount (QEMU 7.2; 3 of 32 checkpoints of the bundle-size benchmark's
    /// recordings, each every time). A seek takes that stretch of the log running, as the recording did.
    /// </remarks>
    internal static async Task SeekAsync(QemuMachine machine, long icount, CancellationToken ct)
    {
        try
        {
            await machine.Qmp.ExecuteAsync("replay-seek", new JsonObject { ["icount"] = icount }, cancellationToken: ct).ConfigureAwait(false);
        }
        catch (QmpErrorException e)
        {
            throw new ReplayException(string.Create(CultureInfo.InvariantCulture, $"QEMU could not seek to icount {icount}: {e.Description}"), e);
        }
    }

    /// <summary>Whether the replay stands paused at <paramref name="icount"/>, its break.</summary>
    internal static async Task<bool> StoppedAtAsync(QemuMachine machine, long icount, CancellationToken ct)
    {
        var status = await machine.Qmp.ExecuteAsync("query-status", cancellationToken: ct).ConfigureAwait(false);
        if (status?["running"]?.GetValue<bool>() != false)
        {
            return false;
        }

        return await ReplayIcount.QueryAsync(machine.Qmp, ct).ConfigureAwait(false) == icount;
    }
}

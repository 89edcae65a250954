using QemuTestKit.Machines.Runtime;

namespace QemuTestKit.Machines.Replay;

/// <summary>
/// A machine replaying a bundle, with what the recording says it will print from where the replay starts. Disposing
/// it stops QEMU and removes the replay's run directory.
/// </summary>
/// <param name="Machine">The replaying machine (mode <c>Replay</c>): its console shows the recorded execution.</param>
/// <param name="Checkpoint">The checkpoint the replay started from; null for the recording's start.</param>
/// <param name="From">The start's name for messages: the checkpoint, the start snapshot, or "the start".</param>
/// <param name="StartOffset">The transcript offset the replayed console begins at.</param>
/// <param name="ExpectedTranscript">The whole recorded transcript (the replay shows it from <paramref name="StartOffset"/>).</param>
/// <param name="Binary">The QEMU build replaying (checked to be the recorded one): a binary's path, or an image (<see cref="IReplayLauncher.Build"/>).</param>
/// <param name="UntilIcount">The icount of the replay-break set from <see cref="ReplayOptions.Until"/>, if any: the machine pauses there.</param>
/// <param name="ConsoleOffset">The recording's transcript offset of the replaying console's first byte: <paramref name="StartOffset"/>,
/// or 0 when the console starts with the recording's earlier output (<see cref="ReplayOptions.ConsoleFromStart"/>).</param>
public sealed record ReplaySession(
    QemuMachine Machine,
    Checkpoint? Checkpoint,
    string From,
    long StartOffset,
    byte[] ExpectedTranscript,
    string Binary,
    long? UntilIcount = null,
    long ConsoleOffset = 0) : IAsyncDisposable
{
    /// <summary>Where the gdb stub answers (<c>host:port</c> or a Unix socket path), when <see cref="ReplayOptions.Gdb"/> asked for one.</summary>
    public string? GdbEndpoint { get; init; }

    /// <summary>What started it, to confirm that its end says something about the recording.</summary>
    internal IReplayLauncher? Launcher { get; init; }

    /// <summary>What carries the replay across the recording's later checkpoints (<see cref="CheckpointRelay"/>), if anything does.</summary>
    internal CheckpointRelay? Relay { get; init; }

    /// <summary>The checkpoints the replay went on from so far, in order (<see cref="ReplayResult.RelayedCheckpoints"/>).</summary>
    public IReadOnlyList<string> RelayedCheckpoints => Relay?.Relayed ?? [];

    public async ValueTask DisposeAsync()
    {
        if (Relay is not null)
        {
            await Relay.DisposeAsync().ConfigureAwait(false);
        }

        await Machine.DisposeAsync().ConfigureAwait(false);
    }
}

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
/// <param name="Binary">The QEMU binary replaying (checked to be the recorded build).</param>
/// <param name="UntilIcount">The icount of the replay-break set from <see cref="ReplayOptions.Until"/>, if any: the machine pauses there.</param>
/// <param name="ConsoleOffset">The recording's transcript offset of the replaying console's first byte: <paramref name="StartOffset"/>,
/// or 0 when the console starts with the recording's earlier output (<see cref="ReplayOptions.ConsoleFromStart"/>).</param>
public sealed record ReplaySession(
    QemuTestKit.Machines.Runtime.QemuMachine Machine,
    Checkpoint? Checkpoint,
    string From,
    long StartOffset,
    byte[] ExpectedTranscript,
    string Binary,
    long? UntilIcount = null,
    long ConsoleOffset = 0) : IAsyncDisposable
{
    public ValueTask DisposeAsync() => Machine.DisposeAsync();
}

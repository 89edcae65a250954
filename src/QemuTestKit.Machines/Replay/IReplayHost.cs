using QemuTestKit.Machines.Bundles;
using QemuTestKit.Machines.Runtime;

namespace QemuTestKit.Machines.Replay;

/// <summary>
/// Where a replay's QEMU runs: on this host (the default) or elsewhere, for example in a container of the image the
/// bundle was recorded in. <see cref="Replayer"/> does everything else once, whatever the host: the checkpoint, the
/// break (<see cref="ReplayOptions.Until"/>), gdb, the byte-by-byte verdict.
/// </summary>
public interface IReplayHost
{
    /// <summary>
    /// Finds the recorded QEMU build where this host runs QEMU (a replay needs that exact build), before anything slow
    /// happens.
    /// </summary>
    /// <exception cref="ReplayException">The build is not there; the message says where it is.</exception>
    Task<IReplayLauncher> PrepareAsync(ReplayBundle bundle, ReplayOptions options, CancellationToken cancellationToken);
}

/// <summary>Starts QEMU replaying one bundle on the recorded build an <see cref="IReplayHost"/> found.</summary>
public interface IReplayLauncher
{
    /// <summary>The recorded build as results name it: a binary's path, or an image.</summary>
    string Build { get; }

    /// <summary>
    /// Starts QEMU on the bundle's replay arguments as <see cref="ReplayArguments.Finish"/> completes them for
    /// <paramref name="launch"/>, with its own copies of the files QEMU writes (a replay never writes into the bundle).
    /// </summary>
    Task<LaunchedReplay> LaunchAsync(ReplayLaunch launch, CancellationToken cancellationToken);

    /// <summary>
    /// After the replay ended: throws when its end says nothing about the recording because the host lost QEMU (a
    /// container removed under it); returns otherwise.
    /// </summary>
    Task ConfirmEndAsync(QemuMachine machine, CancellationToken cancellationToken);
}

/// <summary>One start of a replay.</summary>
/// <param name="Snapshot">
/// The snapshot to load through <c>rrsnapshot</c>: the checkpoint to replay from, or the start snapshot of a replay
/// that seeks into a checkpoint (<see cref="ReplayUntil.SeekAsync"/>); null for the recorded <c>-loadvm</c>.
/// </param>
/// <param name="Paused">Start held (<c>-S</c>): for gdb to attach, or for a break set (or a seek made) before the first instruction.</param>
/// <param name="Gdb">The gdb stub to serve, if any.</param>
/// <param name="ConsolePrefix">What the console's transcript starts with (<see cref="ReplayOptions.ConsoleFromStart"/>).</param>
/// <param name="RunRoot">Where the run directory goes; null for the default.</param>
public sealed record ReplayLaunch(string? Snapshot, bool Paused, GdbStub? Gdb, byte[]? ConsolePrefix, string? RunRoot);

/// <summary>A replaying machine, and where its gdb stub answers (<c>host:port</c> or a Unix socket path) when one was asked for.</summary>
public sealed record LaunchedReplay(QemuMachine Machine, string? GdbEndpoint);

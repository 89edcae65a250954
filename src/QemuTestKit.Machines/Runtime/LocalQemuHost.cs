using QemuTestKit.Introspection;
using QemuTestKit.Introspection.Processes;
using QemuTestKit.Introspection.Qmp;
using QemuTestKit.Machines.CommandLine;

namespace QemuTestKit.Machines.Runtime;

/// <summary>
/// QEMU as a child process of this one, bound to die with it (see <see cref="QemuProcess"/>). It runs in the run
/// directory and writes its files there itself, so nothing needs collecting. Disposal kills it if it still runs.
/// </summary>
public sealed class LocalQemuHost : IQemuHost
{
    private readonly QemuProcess _process;

    private LocalQemuHost(QemuProcess process) => _process = process;

    /// <summary>
    /// Starts QEMU in <paramref name="run"/>, its stderr streamed to the run's log. <paramref name="arguments"/> are
    /// the portable ones a bundle records; what only this host allows is added here (see <see cref="StateDriveIo"/> and
    /// <see cref="RamBackingFile"/>, which needs the machine type's <paramref name="defaultRamId"/>).
    /// </summary>
    /// <exception cref="QemuBinaryNotFoundException">The binary does not exist or cannot be executed.</exception>
    internal static LocalQemuHost Start(string binary, IReadOnlyList<string> arguments, RunDirectory run, string? defaultRamId) =>
        new(QemuProcess.Start(new QemuProcessStartInfo(binary, RamBackingFile.ForLocalStart(StateDriveIo.ForLocalStart(arguments, binary), defaultRamId))
        {
            WorkingDirectory = run.Path,
            StderrLogPath = run.StderrLog,
        }));

    public string Description => $"process {_process.Id} of {_process.StartInfo.Binary}";

    public int ProcessId => _process.Id;

    public bool HasExited => _process.HasExited;

    public int? ExitCode => _process.ExitCode;

    public string StderrTail => _process.StderrTail;

    /// <summary>Null: the binary is on this host, and a bundle hashes it there.</summary>
    public QemuBuild? QemuBuild => null;

    public bool SharesFileSystem => true;

    public Task<int> WaitForExitAsync(TimeSpan timeout, CancellationToken cancellationToken = default) =>
        _process.WaitForExitAsync(timeout, cancellationToken);

    public Task KillAsync() => _process.KillAsync();

    /// <summary>
    /// The run's files are already where QEMU wrote them. Its stderr streams to the run's log as it runs, so only a
    /// log asked for at another path gets a copy.
    /// </summary>
    public async Task CollectRunFilesAsync(MachineRunFiles hostFiles, string stderrLog, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(hostFiles);
        ArgumentException.ThrowIfNullOrEmpty(stderrLog);
        var streamed = _process.StartInfo.StderrLogPath;
        if (streamed is not null && string.Equals(Path.GetFullPath(streamed), Path.GetFullPath(stderrLog), StringComparison.Ordinal))
        {
            return;
        }

        if (streamed is not null && File.Exists(streamed))
        {
            File.Copy(streamed, stderrLog, overwrite: true);
            return;
        }

        await File.WriteAllTextAsync(stderrLog, StderrTail, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>For a QMP disconnect: QEMU closes its socket a moment before it exits, so this waits briefly for the exit.</summary>
    internal Task<QmpPeerExit?> DescribeExitAsync() => _process.DescribeExitAsync();

    public ValueTask DisposeAsync() => _process.DisposeAsync();
}

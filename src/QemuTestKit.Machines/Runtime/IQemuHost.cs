using QemuTestKit.Machines.CommandLine;

namespace QemuTestKit.Machines.Runtime;

/// <summary>
/// Where QEMU runs: a local child process (<see cref="LocalQemuHost"/>) or elsewhere (a container). How it lives and
/// dies, and how its files reach this host. <see cref="QemuMachine"/> drives every host alike through its QMP
/// connection and consoles; what differs between hosts is said here, not by testing for a host's type.
/// </summary>
public interface IQemuHost : IAsyncDisposable
{
    /// <summary>Where QEMU runs, for messages (for example "container 1a2b3c4d5e6f of image qemutestkit/qemu:local").</summary>
    string Description { get; }

    /// <summary>A process id on this host, or 0 when QEMU runs elsewhere.</summary>
    int ProcessId { get; }

    bool HasExited { get; }

    int? ExitCode { get; }

    /// <summary>QEMU's stderr so far (as far as this host has fetched it).</summary>
    string StderrTail { get; }

    /// <summary>The QEMU build, for bundles (its binary is not on this host); null to hash the catalog's binary on this host.</summary>
    QemuBuild? QemuBuild { get; }

    /// <summary>
    /// Whether a file QEMU writes by path (a QMP <c>screendump</c>) lands at that path on this host. False where QEMU
    /// has a file system of its own: its run files reach this host only through <see cref="CollectRunFilesAsync"/>.
    /// </summary>
    bool SharesFileSystem { get; }

    /// <summary>Waits for QEMU to exit and returns its exit code.</summary>
    /// <exception cref="TimeoutException">It did not exit in time.</exception>
    Task<int> WaitForExitAsync(TimeSpan timeout, CancellationToken cancellationToken = default);

    /// <summary>Kills QEMU at once.</summary>
    Task KillAsync();

    /// <summary>
    /// After QEMU has exited: brings the run's files (replay log, state image, disk overlays) to their paths in
    /// <paramref name="hostFiles"/>, and QEMU's stderr to <paramref name="stderrLog"/>, so a bundle can be written here.
    /// </summary>
    Task CollectRunFilesAsync(MachineRunFiles hostFiles, string stderrLog, CancellationToken cancellationToken);
}

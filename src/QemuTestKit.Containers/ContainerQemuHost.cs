using Docker.DotNet.Models;
using QemuTestKit.Machines.CommandLine;
using QemuTestKit.Machines.Runtime;

namespace QemuTestKit.Containers;

/// <summary>
/// A QEMU running as the entry point of a container: it exits when QEMU exits, its stderr is the container's log, and
/// its run files are read out of the (stopped) container. Disposal removes the container.
/// </summary>
internal sealed class ContainerQemuHost : IQemuHost
{
    private readonly QemuContainer _container;
    private readonly string _id;
    private readonly Uri _endpoint;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task<long> _exit;
    private string _stderr = string.Empty;
    private int _disposed;

    public ContainerQemuHost(QemuContainer container, Uri endpoint, ImageFacts image, QemuBuild build)
    {
        _container = container;
        // Testcontainers forgets the id of a container removed behind its back; disposal still needs it.
        _id = container.Id;
        _endpoint = endpoint;
        Image = image;
        QemuBuild = build;
        _exit = WatchExitAsync();
    }

    public ImageFacts Image { get; }

    public string ContainerId => _id;

    /// <summary>The host port (on 127.0.0.1) of QEMU's gdb stub, or null when it serves none.</summary>
    public int? GdbPort => _container.GdbPort;

    public string Description => $"container {DockerEngine.Short(_id)} of image {Image.Name} on {_endpoint}";

    /// <summary>The container was removed while QEMU ran in it (docker rm, a pruning job): QEMU did not exit by itself.</summary>
    public bool Vanished { get; private set; }

    public int ProcessId => 0;

    public bool HasExited => _exit.IsCompletedSuccessfully;

    public int? ExitCode => _exit.IsCompletedSuccessfully ? (int)_exit.Result : null;

    public string StderrTail => _stderr;

    public QemuBuild? QemuBuild { get; }

    /// <summary>Files are copied in and read out, never bind-mounted (so remote engines work).</summary>
    public bool SharesFileSystem => false;

    public async Task<int> WaitForExitAsync(TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        try
        {
            return (int)await _exit.WaitAsync(timeout, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"QEMU in {Description} did not exit within {timeout.TotalSeconds:0.#} s");
        }
    }

    public async Task KillAsync()
    {
        if (HasExited)
        {
            return;
        }

        using var client = DockerEngine.CreateClient(_endpoint);
        try
        {
            await client.Containers.KillContainerAsync(_id, new ContainerKillParameters { Signal = "KILL" }).ConfigureAwait(false);
        }
        catch (Docker.DotNet.DockerApiException)
        {
            // Not running any more.
        }

        try
        {
            await WaitForExitAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
        }
    }

    public async Task CollectRunFilesAsync(MachineRunFiles hostFiles, string stderrLog, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(hostFiles);
        var wanted = new List<string> { hostFiles.StateImage };
        if (hostFiles.ReplayLog is { } log)
        {
            wanted.Add(log);
        }

        // Writable disks run on overlays in the run directory; read-only ones were read in place and are not copied back.
        wanted.AddRange(hostFiles.DiskImages.Where(d => Path.GetFileName(d).EndsWith(".overlay.qcow2", StringComparison.Ordinal)));
        foreach (var hostPath in wanted)
        {
            var inside = $"{QemuPorts.RunDirectory}/{Path.GetFileName(hostPath)}";
            var bytes = await _container.ReadFileAsync(inside, cancellationToken).ConfigureAwait(false);
            await File.WriteAllBytesAsync(hostPath, bytes, cancellationToken).ConfigureAwait(false);
        }

        await File.WriteAllTextAsync(stderrLog, await FetchStderrAsync().ConfigureAwait(false), cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        await _stop.CancelAsync().ConfigureAwait(false);
        try
        {
            await _container.DisposeAsync().ConfigureAwait(false);
        }
        catch (Exception e) when (Vanished && e is Docker.DotNet.DockerApiException or InvalidOperationException)
        {
            // Nothing left to stop.
        }
        finally
        {
            // Testcontainers removes what it started; make sure of it even when it did not (a stopped container stays otherwise).
            await RemoveAsync(_endpoint, _id).ConfigureAwait(false);
            _stop.Dispose();
        }
    }

    /// <summary>Whether the engine still has the container (QEMU's exit does not remove it; only disposal or someone else does).</summary>
    public async Task<bool> ExistsAsync(CancellationToken cancellationToken)
    {
        if (Vanished)
        {
            return false;
        }

        using var client = DockerEngine.CreateClient(_endpoint);
        try
        {
            await client.Containers.InspectContainerAsync(_id, cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (Docker.DotNet.DockerContainerNotFoundException)
        {
            Vanished = true;
            return false;
        }
    }

    internal static async Task RemoveAsync(Uri endpoint, string id)
    {
        if (string.IsNullOrEmpty(id))
        {
            return;
        }

        using var client = DockerEngine.CreateClient(endpoint);
        try
        {
            await client.Containers.RemoveContainerAsync(id, new ContainerRemoveParameters { Force = true }).ConfigureAwait(false);
        }
        catch (Docker.DotNet.DockerApiException)
        {
            // Already gone.
        }
    }

    private async Task<long> WatchExitAsync()
    {
        long code;
        try
        {
            code = await _container.GetExitCodeAsync(_stop.Token).ConfigureAwait(false);
        }
        catch (Docker.DotNet.DockerContainerNotFoundException)
        {
            Vanished = true;
            _stderr = $"{Description} was removed while QEMU ran in it";
            return -1;
        }

        await FetchStderrAsync().ConfigureAwait(false);
        return code;
    }

    private async Task<string> FetchStderrAsync()
    {
        try
        {
            var (_, stderr) = await _container.GetLogsAsync(timestampsEnabled: false).ConfigureAwait(false);
            _stderr = stderr;
        }
        catch (Exception e) when (e is Docker.DotNet.DockerApiException or HttpRequestException or IOException)
        {
            // Keep what we had: the engine may be gone.
        }

        return _stderr;
    }
}

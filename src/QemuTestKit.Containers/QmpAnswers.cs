using System.Net.Sockets;
using System.Text;
using DotNet.Testcontainers.Configurations;
using DotNet.Testcontainers.Containers;

namespace QemuTestKit.Containers;

/// <summary>
/// Readiness check, polled by <see cref="ContainerLaunch"/> after start against 127.0.0.1 of the engine's host
/// (Testcontainers' own <c>Hostname</c> guessed the bridge gateway 172.17.0.1 here, where nothing is published): the container is up when QEMU's QMP greeting arrives on the published port (which QEMU sends only once its consoles are connected, see <see cref="TcpEndpoints"/>). A bare TCP connect is
/// not enough: Docker's port proxy accepts connections before anything listens in the container. QEMU exiting
/// (bad arguments, missing file) fails at once with its stderr instead of waiting out the timeout.
/// </summary>
internal sealed class QmpAnswers(string host) : IWaitUntil
{
    public async Task<bool> UntilAsync(IContainer container)
    {
        await ThrowIfExitedAsync(container).ConfigureAwait(false);
        try
        {
            using var client = new TcpClient();
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2));
            await client.ConnectAsync(host, container.GetMappedPublicPort(QemuPorts.Qmp), timeout.Token).ConfigureAwait(false);
            var buffer = new byte[64];
            var read = await client.GetStream().ReadAsync(buffer, timeout.Token).ConfigureAwait(false);
            return read > 0 && Encoding.ASCII.GetString(buffer, 0, read).Contains("\"QMP\"", StringComparison.Ordinal);
        }
        catch (Exception e) when (e is SocketException or IOException or OperationCanceledException)
        {
            return false;
        }
    }

    /// <summary>QEMU exiting while it starts (bad arguments, a missing file) fails at once, with its stderr.</summary>
    internal static async Task ThrowIfExitedAsync(IContainer container)
    {
        if (container.State is TestcontainersStates.Exited or TestcontainersStates.Dead)
        {
            var (_, stderr) = await container.GetLogsAsync().ConfigureAwait(false);
            throw new QemuContainerException($"QEMU exited in container {container.Id[..12]} while starting: {LastLines(stderr)}");
        }
    }

    internal static string LastLines(string text, int lines = 5)
    {
        var all = text.Replace("\r", string.Empty, StringComparison.Ordinal).TrimEnd('\n').Split('\n');
        return string.Join(" | ", all.Skip(Math.Max(0, all.Length - lines)));
    }
}

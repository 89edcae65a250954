using System.Globalization;
using QemuTestKit.Introspection;
using QemuTestKit.Introspection.Catalog;
using QemuTestKit.Introspection.Processes;
using QemuTestKit.Introspection.Qmp;

namespace QemuTestKit.Containers;

/// <summary>
/// The image's QEMU started only to be asked questions, as <see cref="QemuProbeSession"/> starts a local one: paused,
/// no machine, QMP on a TCP port published on 127.0.0.1. Disposal quits it and removes the container.
/// </summary>
internal sealed class ImageProbeSession : IQemuProbeSession
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);

    private readonly QemuContainer _container;
    private readonly Uri _endpoint;
    private readonly string _id;
    private int _disposed;

    private ImageProbeSession(QemuContainer container, Uri endpoint, QmpClient qmp)
    {
        _container = container;
        _endpoint = endpoint;
        _id = container.Id;
        Qmp = qmp;
    }

    public QmpClient Qmp { get; }

    /// <exception cref="QemuProbeException">The image's QEMU exited or did not answer in time.</exception>
    public static async Task<IQemuProbeSession> StartAsync(Uri endpoint, ImageFacts image, CancellationToken cancellationToken)
    {
        var arguments = QemuProbeSession.ProbeArguments.Concat(QemuIntrospector.ProbeMachine)
            .Concat(["-qmp", TcpEndpoints.Qmp])
            .ToArray();
        var container = new QemuBuilder(image.Name)
            .WithDockerEndpoint(endpoint)
            .WithName($"qtk-probe-{Guid.NewGuid().ToString("N")[..12]}")
            .WithLabel("org.qemutestkit.machine", "probe")
            .WithQemu(arguments, serialPorts: 0, binary: ImageCatalog.ImageBinary)
            .Build();
        try
        {
            using var startup = Timeouts.Link(StartTimeout, cancellationToken);
            await container.StartAsync(startup.Token).ConfigureAwait(false);
            var answers = new QmpAnswers(DockerEngine.PublishedHost(endpoint));
            while (!await answers.UntilAsync(container).ConfigureAwait(false))
            {
                await Task.Delay(50, startup.Token).ConfigureAwait(false);
            }

            var qmp = await QmpClient.ConnectTcpAsync(container.QmpPort, new QmpClientOptions
            {
                ConnectTimeout = TimeSpan.FromSeconds(30),
                CommandTimeout = TimeSpan.FromSeconds(30),
                DescribePeerExit = () => DescribeExitAsync(container, image),
            }, startup.Token).ConfigureAwait(false);
            return new ImageProbeSession(container, endpoint, qmp);
        }
        catch (Exception e)
        {
            await RemoveAsync(container, endpoint).ConfigureAwait(false);
            if (e is OperationCanceledException && cancellationToken.IsCancellationRequested)
            {
                throw;
            }

            throw new QemuProbeException(e is OperationCanceledException
                ? $"the QEMU of image {image.Name} did not answer over QMP within {StartTimeout.TotalSeconds:0} s"
                : $"the QEMU of image {image.Name} could not be asked what it supports: {e.GetBaseException().Message}", e);
        }
    }

    private static async Task<QmpPeerExit?> DescribeExitAsync(QemuContainer container, ImageFacts image)
    {
        string stderr;
        long? code = null;
        try
        {
            using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            code = await container.GetExitCodeAsync(wait.Token).ConfigureAwait(false);
            (_, stderr) = await container.GetLogsAsync(ct: wait.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            stderr = string.Empty;
        }

        return new QmpPeerExit($"the QEMU of image {image.Name}", code is { } c ? (int)c : null, stderr);
    }

    private static async Task RemoveAsync(QemuContainer container, Uri endpoint)
    {
        string id;
        try
        {
            id = container.Id;
        }
        catch (InvalidOperationException)
        {
            id = string.Empty;
        }

        await container.DisposeAsync().ConfigureAwait(false);
        await ContainerQemuHost.RemoveAsync(endpoint, id).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        await QemuProbeSession.QuitAsync(Qmp).ConfigureAwait(false);
        await _container.DisposeAsync().ConfigureAwait(false);
        await ContainerQemuHost.RemoveAsync(_endpoint, _id).ConfigureAwait(false);
    }
}

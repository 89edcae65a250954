using QemuTestKit.Introspection.Catalog;
using QemuTestKit.Machines.CommandLine;
using QemuTestKit.Machines.Runtime;
using QemuTestKit.Machines.Specs;

namespace QemuTestKit.Containers;

/// <summary>
/// QEMU in a container of <see cref="Image"/>: give it as <see cref="MachineStartOptions.Launcher"/>, and
/// <c>QemuMachine.StartAsync</c>, <c>ReadyState.PrepareAsync</c> and <c>ReadyState.StartAsync</c> run the machine there
/// with the same API as a local one. The image's QEMU brings its own catalog (the spec is checked against it,
/// <see cref="ImageValidation"/>) and device placement, so <see cref="MachineStartOptions.Catalog"/> and
/// <see cref="MachineStartOptions.DeviceTree"/> are not used, and a start may take <see cref="ContainerStartAllowance"/>
/// longer than <see cref="MachineStartOptions.StartTimeout"/>. One launcher asks the engine about its image once.
/// </summary>
/// <exception cref="QemuContainerException">From each method: no engine answers, the image is missing, its QEMU cannot run the spec, or QEMU did not start; one line says what to do.</exception>
public sealed class ContainerQemuLauncher(ContainerImage image) : IQemuLauncher
{
    private (Uri Endpoint, ImageFacts Image, QemuCatalog Catalog)? _connected;

    /// <summary>
    /// How much longer than <see cref="MachineStartOptions.StartTimeout"/> (QEMU opening its sockets) a start in a
    /// container may take: creating the container and copying the state image and overlays into it.
    /// </summary>
    public static readonly TimeSpan ContainerStartAllowance = TimeSpan.FromSeconds(60);

    public ContainerImage Image { get; } = image ?? throw new ArgumentNullException(nameof(image));

    public string Where => $"in image {Image.Name}";

    public async Task<QemuCatalog> CatalogAsync(MachineSpec spec, MachineStartOptions options, bool recording, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var (_, facts, catalog) = await ConnectedAsync(cancellationToken).ConfigureAwait(false);
        ImageValidation.EnsureRunnable(spec, catalog, facts, recording);
        return catalog;
    }

    public async Task<QemuMachine> LaunchAsync(MachineSpec spec, MachineStartOptions options, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(options);
        var (endpoint, facts, catalog) = await ConnectedAsync(cancellationToken).ConfigureAwait(false);
        ImageValidation.EnsureRunnable(spec, catalog, facts, recording: options.Mode != RunMode.Normal);
        return await ContainerLaunch.LaunchInImageAsync(spec, catalog, endpoint, facts, options, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// A ready state saved by the same QEMU build for the same kind of run loads in the image as it does on this host.
    /// Otherwise one is prepared in the image, once, and cached beside it (<c>&lt;dir&gt;.image-&lt;id&gt;</c>).
    /// </summary>
    public async Task<ReadyState> UsableReadyStateAsync(MachineSpec spec, ReadyState ready, MachineStartOptions options, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(ready);
        ArgumentNullException.ThrowIfNull(options);
        if (ready.SpecHash != ReadyState.HashOf(spec))
        {
            throw new ReadyStateMismatchException($"the ready state of machine '{spec.Name}' was prepared from a different spec; prepare it again");
        }

        var (_, facts, _) = await ConnectedAsync(cancellationToken).ConfigureAwait(false);
        // QEMU 7.2 loads a state made in record mode only in record/replay runs, and one made in a normal run only there.
        var forRecording = options.Mode != RunMode.Normal;
        // A state whose RAM is in a separate file is loaded over QMP by the local runtime only: the image gets its own.
        if (File.Exists(ready.StateImage) && ready.ForRecording == forRecording && ready.MemoryFile is null && await SameBuildAsync(ready.Binary.Path, facts, cancellationToken).ConfigureAwait(false))
        {
            return ready;
        }

        var cached = $"{ready.Directory.TrimEnd('/')}.image-{DockerEngine.Short(facts.Id)}{(forRecording ? "-rr" : string.Empty)}";
        if (ReadyState.Load(cached) is { } existing && existing.SpecHash == ready.SpecHash && File.Exists(existing.StateImage) && existing.ForRecording == forRecording)
        {
            return existing;
        }

        return await ReadyState.PrepareAsync(spec, cached, options with
        {
            Launcher = this,
            PrepareForRecording = forRecording,
            IcountShift = forRecording ? ready.IcountShift ?? CommandLineOptions.DefaultRecordIcountShift : ready.ForRecording ? null : ready.IcountShift,
        }, cancellationToken).ConfigureAwait(false);
    }

    private async Task<(Uri Endpoint, ImageFacts Image, QemuCatalog Catalog)> ConnectedAsync(CancellationToken ct) =>
        _connected ??= await ContainerLaunch.ConnectAsync(Image, ct).ConfigureAwait(false);

    private static async Task<bool> SameBuildAsync(string binary, ImageFacts image, CancellationToken ct) =>
        await ImageCatalog.HostBuildAsync(binary, ct).ConfigureAwait(false) is { } host && string.Equals(host.Sha256, image.QemuSha256, StringComparison.OrdinalIgnoreCase);
}

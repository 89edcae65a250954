using System.Globalization;
using QemuTestKit.Introspection.Catalog;
using QemuTestKit.Machines.Bundles;
using QemuTestKit.Machines.CommandLine;
using QemuTestKit.Machines.Replay;
using QemuTestKit.Machines.Runtime;

namespace QemuTestKit.Containers;

/// <summary>
/// Replays in a container of the image a bundle was recorded in (the replay needs the recorded QEMU build, which the
/// image pins): <c>Replayer.ReplayAsync(bundle, new ReplayOptions { Host = new ContainerReplayHost() })</c>. Everything
/// but where QEMU runs is <see cref="Replayer"/>'s, as on the host: checkpoints, <c>--until</c>, gdb, the verdict.
/// </summary>
/// <param name="Image">The image to replay in; null for the one the bundle names (it must hold the recorded QEMU build either way).</param>
/// <param name="DockerEndpoint">The engine; null for <c>DOCKER_HOST</c> or the local socket.</param>
public sealed record ContainerReplayHost(string? Image = null, Uri? DockerEndpoint = null) : IReplayHost
{
    /// <summary>The image a bundle names (<c>name@sha256:...</c> in <see cref="QemuBuild.ContainerImage"/>), or null for a bundle recorded on a host.</summary>
    public static (string Name, string Id)? RecordedImage(BundleManifest manifest)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        var value = manifest.Qemu.ContainerImage;
        var at = value?.LastIndexOf("@sha256:", StringComparison.Ordinal) ?? -1;
        return value is null || at < 0 ? null : (value[..at], value[(at + 1)..]);
    }

    /// <summary>
    /// This host's QEMU binary when it is byte for byte the build <paramref name="manifest"/> was recorded with (the
    /// sha256 check a host replay makes), else null: then only the recorded image can replay it.
    /// </summary>
    /// <param name="qemu">A binary to use instead of the recorded path.</param>
    public static async Task<string?> HostBinaryOfRecordedBuildAsync(BundleManifest manifest, string? qemu = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        return await ImageCatalog.HostBuildAsync(qemu ?? manifest.Qemu.Binary, cancellationToken).ConfigureAwait(false) is { } host && string.Equals(host.Sha256, manifest.Qemu.Sha256, StringComparison.OrdinalIgnoreCase)
            ? host.Path
            : null;
    }

    /// <exception cref="QemuContainerException">The engine or image is missing, or the image holds another QEMU build.</exception>
    public async Task<IReplayLauncher> PrepareAsync(ReplayBundle bundle, ReplayOptions options, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(bundle);
        ArgumentNullException.ThrowIfNull(options);
        var manifest = bundle.Manifest;
        var imageName = Image ?? RecordedImage(manifest)?.Name
            ?? throw new QemuContainerException($"bundle {bundle.Source} was not recorded in a container: name an image to replay it in (--image)");
        if (manifest.ExternalFiles.Count > 0)
        {
            throw new QemuContainerException($"bundle {bundle.Source} references files outside it; replaying such a bundle in a container is not supported yet: replay it on the host");
        }

        if (options.Gdb is { SocketPath: { } socket })
        {
            throw new QemuContainerException(
                $"a replay in a container serves gdb on a TCP port of 127.0.0.1, not on a Unix socket ({socket}): name a port instead (--gdb PORT)");
        }

        var (endpoint, image, catalog) = await DockerErrors.ExplainAsync(bundle,
            () => ContainerLaunch.ConnectAsync(new ContainerImage(imageName, DockerEndpoint), cancellationToken)).ConfigureAwait(false);
        if (!string.Equals(image.QemuSha256, manifest.Qemu.Sha256, StringComparison.OrdinalIgnoreCase))
        {
            throw new QemuContainerException(
                $"bundle {bundle.Source} was recorded with QEMU {manifest.Qemu.Package} (sha256 {manifest.Qemu.Sha256[..12]}...), but image {image.Name} holds {image.QemuPackage ?? "another build"}: replay it in the recorded image {manifest.Qemu.ContainerImage}");
        }

        return new Launcher(bundle, endpoint, image, catalog);
    }

    private sealed class Launcher(ReplayBundle bundle, Uri endpoint, ImageFacts image, QemuCatalog catalog) : IReplayLauncher
    {
        public string Build => $"image {image.Name} ({DockerEngine.Short(image.Id)})";

        public Task<LaunchedReplay> LaunchAsync(ReplayLaunch launch, CancellationToken cancellationToken) =>
            DockerErrors.ExplainAsync(bundle, () => StartAsync(launch, cancellationToken));

        private async Task<LaunchedReplay> StartAsync(ReplayLaunch launch, CancellationToken cancellationToken)
        {
            var manifest = bundle.Manifest;
            var inside = QemuPorts.RunDirectory;
            var mappings = new List<(string Host, string Container)>();
            foreach (var file in manifest.Files)
            {
                // The state image and overlays are the replay's to write: they go to the run directory (the state image
                // restored first when the bundle keeps it packed); every other file keeps its host path, which is what
                // the expanded arguments name.
                var (path, target) = file.Role switch
                {
                    BundleRoles.StateImage => ((await bundle.StateImageAsync(cancellationToken).ConfigureAwait(false))!, $"{inside}/state.qcow2"),
                    BundleRoles.DiskOverlay => (bundle.PathOf(file.Path), $"{inside}/{Path.GetFileName(file.Path)}"),
                    // A packed disk base is restored first and takes the place its plain copy would have had.
                    _ => await bundle.ReadableAsync(file, cancellationToken).ConfigureAwait(false),
                };
                mappings.Add((path, target));
            }

            var serialPorts = Math.Max(1, manifest.Spec.SerialConsoles);
            var gdbStub = launch.Gdb is null ? null : string.Create(CultureInfo.InvariantCulture, $"tcp:0.0.0.0:{QemuPorts.Gdb}");
            var arguments = TcpEndpoints.Rewrite(ReplayArguments.Finish(bundle.ExpandReplayArguments(inside), launch.Snapshot, gdbStub, launch.Paused), serialPorts);
            var run = RunDirectory.Create("replay", launch.RunRoot);
            var machine = await ContainerLaunch.AttachContainerAsync(manifest.Spec, catalog, endpoint, image, run, arguments, mappings, serialPorts, (qmp, consoles) => new MachineRunFiles(qmp, consoles, run.File("state.qcow2"), []),
                new MachineStartOptions { Catalog = catalog, Mode = RunMode.Replay, RunRoot = launch.RunRoot, ConsolePrefix = launch.ConsolePrefix },
                cancellationToken, gdbHostPort: launch.Gdb is null ? null : launch.Gdb.Port ?? 0).ConfigureAwait(false);
            var gdbEndpoint = launch.Gdb is null || machine.Host is not ContainerQemuHost { GdbPort: { } port }
                ? null
                : string.Create(CultureInfo.InvariantCulture, $"127.0.0.1:{port}");
            return new LaunchedReplay(machine, gdbEndpoint);
        }

        public async Task ConfirmEndAsync(QemuMachine machine, CancellationToken cancellationToken)
        {
            if (machine.Host is ContainerQemuHost host && !await DockerErrors.ExplainAsync(bundle, () => host.ExistsAsync(cancellationToken)).ConfigureAwait(false))
            {
                throw new QemuContainerException($"the container replaying {bundle.Source} was removed while it ran (docker rm, a pruning job, the engine restarting?): replay it again");
            }
        }
    }

    private static class DockerErrors
    {
        /// <summary>
        /// The container went away under the replay (docker rm, a pruning job, the engine restarting): the user's fix is to
        /// run it again, not to read Docker.DotNet's exception type.
        /// </summary>
        public static async Task<T> ExplainAsync<T>(ReplayBundle bundle, Func<Task<T>> action)
        {
            try
            {
                return await action().ConfigureAwait(false);
            }
            catch (Docker.DotNet.DockerApiException e)
            {
                throw new QemuContainerException(
                    $"the Docker engine lost the container replaying {bundle.Source} ({(int)e.StatusCode} {e.StatusCode}: {e.ResponseBody?.Trim()}; removed, or the engine restarted?): replay it again");
            }
        }
    }
}

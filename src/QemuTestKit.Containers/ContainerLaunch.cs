using System.Globalization;
using QemuTestKit.Introspection;
using QemuTestKit.Introspection.Catalog;
using QemuTestKit.Introspection.DeviceTree;
using QemuTestKit.Introspection.Images;
using QemuTestKit.Introspection.Qmp;
using QemuTestKit.Machines.CommandLine;
using QemuTestKit.Machines.Console;
using QemuTestKit.Machines.Runtime;
using QemuTestKit.Machines.Specs;

namespace QemuTestKit.Containers;

/// <summary>
/// Starting QEMU in a container of an image: what <see cref="ContainerQemuLauncher"/> and
/// <see cref="ContainerReplayHost"/> share (the engine and image checks, the container itself, its consoles and QMP).
/// </summary>
internal static class ContainerLaunch
{
    /// <summary>The engine answers (sweeping what crashed runs left there), the image is there, and what its QEMU supports.</summary>
    internal static async Task<(Uri Endpoint, ImageFacts Image, QemuCatalog Catalog)> ConnectAsync(ContainerImage where, CancellationToken ct)
    {
        var endpoint = DockerEngine.Resolve(where.DockerEndpoint);
        await DockerEngine.CheckAsync(endpoint, ct).ConfigureAwait(false);
        await ContainerSweeper.SweepOnceAsync(endpoint, ct).ConfigureAwait(false);
        var image = await DockerEngine.InspectImageAsync(endpoint, where.Name, ct).ConfigureAwait(false);
        var catalog = await ImageCatalog.GetAsync(endpoint, image, ct).ConfigureAwait(false);
        return (endpoint, image, catalog);
    }

    /// <summary>
    /// Starts a container of <paramref name="image"/> running QEMU as <paramref name="options"/> say: from its
    /// <see cref="MachineStartOptions.StateImageSource"/> and <see cref="MachineStartOptions.DiskOverlaySources"/> (copied
    /// in) or fresh ones, loading <see cref="MachineStartOptions.LoadSnapshot"/> or <see cref="MachineStartOptions.ReplaySnapshot"/>.
    /// </summary>
    internal static async Task<QemuMachine> LaunchInImageAsync(MachineSpec spec, QemuCatalog catalog, Uri endpoint, ImageFacts image, MachineStartOptions options,
        CancellationToken ct)
    {
        var run = RunDirectory.Create(spec.Name, options.RunRoot);
        var serialPorts = Math.Max(1, spec.SerialConsoles);
        var inside = QemuPorts.RunDirectory;
        try
        {
            var mappings = new List<(string Host, string Container)>();
            var qemuImg = new QemuImg();

            // Snapshots need a qcow2 image even for a diskless machine; a fresh one is made here and copied in.
            var state = options.StateImageSource;
            if (state is null)
            {
                state = run.File("state.initial.qcow2");
                await qemuImg.CreateAsync(state, 1024 * 1024, ct).ConfigureAwait(false);
            }

            mappings.Add((state, $"{inside}/state.qcow2"));

            // Boot files and disk bases keep their absolute paths inside the container, so the spec and the backing
            // chains of overlays stay valid there unchanged.
            foreach (var file in new[] { spec.Kernel, spec.Initrd, spec.Firmware }.OfType<string>())
            {
                mappings.Add((Path.GetFullPath(file), Path.GetFullPath(file)));
            }

            var containerDisks = new List<string>();
            var hostDisks = new List<string>();
            var overlayIndex = 0;
            for (var i = 0; i < spec.Disks.Count; i++)
            {
                var disk = spec.Disks[i];
                var basePath = Path.GetFullPath(disk.Path);
                mappings.Add((basePath, basePath));
                if (disk.ReadOnly)
                {
                    containerDisks.Add(basePath);
                    hostDisks.Add(basePath);
                    continue;
                }

                var name = $"{QemuCommandLine.DiskId(disk, i)}.overlay.qcow2";
                var overlay = options.DiskOverlaySources is { } overlays && overlayIndex < overlays.Count ? overlays[overlayIndex] : null;
                if (overlay is null)
                {
                    overlay = run.File($"{name}.initial");
                    await qemuImg.CreateOverlayAsync(overlay, basePath, disk.Format, ct).ConfigureAwait(false);
                }

                overlayIndex++;
                mappings.Add((overlay, $"{inside}/{name}"));
                containerDisks.Add($"{inside}/{name}");
                hostDisks.Add(run.File(name));
            }

            var recorded = options.Mode != RunMode.Normal;
            // A host's catalog (the same build as the image's) lets the host read the same tree; another build's tree is
            // not read (QEMU places the devices itself).
            var tree = ImageCatalog.IsHostCatalog(catalog) ? await new DeviceTreeCache().TryGetAsync(catalog, spec.MachineType, ct).ConfigureAwait(false) : null;
            var containerFiles = new MachineRunFiles($"{inside}/qmp.sock",
                Enumerable.Range(0, serialPorts).Select(i => string.Create(CultureInfo.InvariantCulture, $"{inside}/serial{i}.sock")).ToArray(),
                $"{inside}/state.qcow2", containerDisks)
            {
                ReplayLog = recorded ? $"{inside}/replay.bin" : null,
            };

            // QEMU creates the machine only once the consoles have connected (TcpEndpoints), so no output is lost.
            var arguments = TcpEndpoints.Rewrite(QemuCommandLine.Build(spec, catalog, containerFiles, new CommandLineOptions
            {
                DeviceTree = tree,
                Mode = options.Mode,
                LoadSnapshot = options.LoadSnapshot,
                IcountShift = options.IcountShift,
                ReplaySnapshot = options.ReplaySnapshot,
                Paused = options.Paused,
            }), serialPorts);

            return await AttachContainerAsync(spec, catalog, endpoint, image, run, arguments, mappings, serialPorts,
                hostFiles: (qmp, consoles) => new MachineRunFiles(qmp, consoles, run.File("state.qcow2"), hostDisks)
                {
                    ReplayLog = recorded ? run.File("replay.bin") : null,
                },
                options with { Catalog = catalog, DeviceTree = tree }, ct).ConfigureAwait(false);
        }
        catch
        {
            run.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Starts a container running QEMU with <paramref name="arguments"/> (endpoints on TCP, <see cref="TcpEndpoints"/>),
    /// copies <paramref name="mappings"/> in, connects the consoles and QMP over 127.0.0.1, and wraps it
    /// all in a <see cref="QemuMachine"/> that owns <paramref name="run"/>. Cleans everything up on failure.
    /// </summary>
    internal static async Task<QemuMachine> AttachContainerAsync(MachineSpec spec, QemuCatalog catalog, Uri endpoint, ImageFacts image, RunDirectory run, IReadOnlyList<string> arguments, IReadOnlyList<(string Host, string Container)> mappings, int serialPorts,
        Func<string, IReadOnlyList<string>, MachineRunFiles> hostFiles, MachineStartOptions machineOptions, CancellationToken ct, int? gdbHostPort = null)
    {
        QemuContainer? container = null;
        ContainerQemuHost? host = null;
        QmpClient? qmp = null;
        var consoles = new List<SerialConsole>();
        try
        {
            var builder = new QemuBuilder(image.Name)
                .WithDockerEndpoint(endpoint)
                .WithName($"qtk-{Sanitize(spec.Name)}-{Guid.NewGuid().ToString("N")[..12]}")
                .WithLabel("org.qemutestkit.machine", spec.Name)
                .WithQemu(arguments, serialPorts, gdbHostPort: gdbHostPort);
            foreach (var (source, target) in mappings)
            {
                builder = builder.WithFile(source, target);
            }

            container = builder.Build();
            var startTimeout = machineOptions.StartTimeout + ContainerQemuLauncher.ContainerStartAllowance;
            using var startup = Timeouts.Link(startTimeout, ct);
            try
            {
                await container.StartAsync(startup.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
            {
                var why = e is OperationCanceledException
                    ? $"the container did not answer over QMP within {startTimeout.TotalSeconds:0} s"
                    : e.GetBaseException().Message;
                throw new QemuContainerException($"machine '{spec.Name}' did not start in image {image.Name}: {why}", e);
            }

            // Ready when QMP greets on the published port; QEMU exiting fails at once with its stderr.
            var hostName = DockerEngine.PublishedHost(endpoint);
            if (hostName is not ("localhost" or "127.0.0.1" or "::1"))
            {
                throw new QemuContainerException(
                    $"the Docker engine at {endpoint} runs on {hostName}, and machine ports are published on its 127.0.0.1 only: forward them (for example ssh -L) or run the engine on this host");
            }

            // QEMU waits for every console before it creates the machine (TcpEndpoints: wait=on), so it greets over QMP
            // only once they are all connected. Docker's port proxy accepts a connection before QEMU listens and then
            // drops it: such a console is connected again until QEMU has it.
            for (var i = 0; i < serialPorts; i++)
            {
                consoles.Add(await ConnectConsoleAsync(container, i, startup.Token).ConfigureAwait(false));
            }

            while (!await new QmpAnswers(hostName).UntilAsync(container).ConfigureAwait(false))
            {
                for (var i = 0; i < serialPorts; i++)
                {
                    if (consoles[i].Closed.IsCompleted)
                    {
                        await consoles[i].DisposeAsync().ConfigureAwait(false);
                        consoles[i] = await ConnectConsoleAsync(container, i, startup.Token).ConfigureAwait(false);
                    }
                }

                await Task.Delay(50, startup.Token).ConfigureAwait(false);
            }

            host = new ContainerQemuHost(container, endpoint, image, ImageCatalog.BuildOf(image, catalog));

            var exitDescription = host;
            qmp = await QmpClient.ConnectTcpAsync(container.QmpPort, new QmpClientOptions
            {
                ConnectTimeout = TimeSpan.FromSeconds(30),
                DescribePeerExit = async () =>
                {
                    try
                    {
                        await exitDescription.WaitForExitAsync(TimeSpan.FromSeconds(2)).ConfigureAwait(false);
                    }
                    catch (TimeoutException)
                    {
                    }

                    return new QmpPeerExit(exitDescription.Description, exitDescription.ExitCode, exitDescription.StderrTail);
                },
            }, startup.Token).ConfigureAwait(false);

            return QemuMachine.Attach(spec, catalog, host, qmp, consoles, run,
                hostFiles($"tcp:127.0.0.1:{container.QmpPort}", consoles.Select(c => c.SocketPath).ToArray()), arguments, machineOptions);
        }
        catch (Exception e)
        {
            foreach (var console in consoles)
            {
                await console.DisposeAsync().ConfigureAwait(false);
            }

            if (qmp is not null)
            {
                await qmp.DisposeAsync().ConfigureAwait(false);
            }

            var stderr = host is null ? string.Empty : QmpAnswers.LastLines(host.StderrTail);
            if (host is not null)
            {
                await host.DisposeAsync().ConfigureAwait(false);
            }
            else if (container is not null)
            {
                await container.DisposeAsync().ConfigureAwait(false);
                await ContainerQemuHost.RemoveAsync(endpoint, SafeId(container)).ConfigureAwait(false);
            }

            run.Dispose();
            if (e is QemuContainerException || (e is OperationCanceledException && ct.IsCancellationRequested))
            {
                throw;
            }

            if (e is OperationCanceledException)
            {
                throw new QemuContainerException(
                    $"machine '{spec.Name}' did not start in image {image.Name}: QEMU did not answer over QMP within {machineOptions.StartTimeout.TotalSeconds + ContainerQemuLauncher.ContainerStartAllowance.TotalSeconds:0} s{(stderr.Length > 0 ? $" (QEMU stderr: {stderr})" : string.Empty)}", e);
            }

            throw new QemuContainerException(
                $"machine '{spec.Name}' did not start in image {image.Name}: {e.Message}{(stderr.Length > 0 ? $" (QEMU stderr: {stderr})" : string.Empty)}", e);
        }
    }

    /// <summary>
    /// Connects console <paramref name="index"/> through Docker's port proxy, again while the proxy drops the connection
    /// at once (nothing listens in the container yet).
    /// </summary>
    private static async Task<SerialConsole> ConnectConsoleAsync(QemuContainer container, int index, CancellationToken ct)
    {
        while (true)
        {
            ct.ThrowIfCancellationRequested();
            await QmpAnswers.ThrowIfExitedAsync(container).ConfigureAwait(false);
            var console = await SerialConsole.ConnectTcpAsync("127.0.0.1", container.SerialPort(index), TimeSpan.FromSeconds(10), ct).ConfigureAwait(false);
            if (await Task.WhenAny(console.Closed, Task.Delay(100, ct)).ConfigureAwait(false) != console.Closed)
            {
                return console;
            }

            await console.DisposeAsync().ConfigureAwait(false);
            await Task.Delay(50, ct).ConfigureAwait(false);
        }
    }

    private static string SafeId(QemuContainer container)
    {
        try
        {
            return container.Id;
        }
        catch (InvalidOperationException)
        {
            return string.Empty;
        }
    }

    private static string Sanitize(string name) =>
        new(name.Select(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' ? c : '_').Take(14).ToArray());
}

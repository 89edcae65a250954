using System.Globalization;
using System.Text.Json.Nodes;
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
/// Machines in containers, with the same <see cref="QemuMachine"/> API as local ones: the entry point the fixtures call
/// for <c>Host="container"</c>.
/// </summary>
public static class QemuContainerMachines
{
    /// <summary>
    /// Starts <paramref name="spec"/> in a container of <paramref name="image"/>: from
    /// <paramref name="ready"/>'s snapshot when given (a ready state made on this host by the same QEMU build is used
    /// as is; otherwise one is prepared once in the image, next to it), else cold (then wait for the ready pattern with
    /// <see cref="QemuMachine.WaitUntilReadyAsync"/>). The spec is checked against the image's QEMU first (<see cref="ImageValidation"/>).
    /// <paramref name="options"/> are a local start's (one record for both); the image's QEMU brings its own catalog and
    /// device placement, so <see cref="MachineStartOptions.Catalog"/> and <see cref="MachineStartOptions.DeviceTree"/> are
    /// not used, and the start may take <see cref="ContainerStartAllowance"/> longer than <see cref="MachineStartOptions.StartTimeout"/>.
    /// </summary>
    /// <exception cref="QemuContainerException">No engine answers, the image is missing, its QEMU cannot run the spec, or QEMU did not start; one line says what to do.</exception>
    public static async Task<QemuMachine> StartAsync(MachineSpec spec, ReadyState? ready, MachineStartOptions options, ContainerImage image,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(image);
        var (endpoint, facts, catalog) = await ConnectAsync(image, cancellationToken).ConfigureAwait(false);
        ImageValidation.EnsureRunnable(spec, catalog, facts, recording: options.Mode != RunMode.Normal);
        if (ready is null)
        {
            return await LaunchAsync(spec, catalog, endpoint, facts, options, cancellationToken).ConfigureAwait(false);
        }

        var state = await UsableReadyStateAsync(spec, ready, catalog, endpoint, facts, options, cancellationToken).ConfigureAwait(false);
        if (options.Mode != RunMode.Normal && state.IcountShift is null)
        {
            throw new ReadyStateMismatchException(
                $"the ready state of machine '{spec.Name}' was prepared without icount, and a recorded run cannot start from it; prepare it again with MachineStartOptions.IcountShift set (for example 5)");
        }

        return await LaunchAsync(spec, catalog, endpoint, facts, options with
        {
            StateImageSource = state.StateImage,
            DiskOverlaySources = state.DiskOverlays,
            IcountShift = state.IcountShift,
            LoadSnapshot = ReadyState.SnapshotName,
        }, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// How much longer than <see cref="MachineStartOptions.StartTimeout"/> (QEMU opening its sockets) a start in a
    /// container may take: creating the container and copying the state image and overlays into it.
    /// </summary>
    public static readonly TimeSpan ContainerStartAllowance = TimeSpan.FromSeconds(60);

    /// <summary>Boots <paramref name="spec"/> cold in the image, waits for its ready pattern and stores the <c>ready</c> snapshot under <paramref name="stateDirectory"/>.</summary>
    public static async Task<ReadyState> PrepareAsync(MachineSpec spec, string stateDirectory, MachineStartOptions options, ContainerImage image,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(image);
        var (endpoint, facts, catalog) = await ConnectAsync(image, cancellationToken).ConfigureAwait(false);
        ImageValidation.EnsureRunnable(spec, catalog, facts, recording: false);
        // As on the host (ReadyState.PrepareAsync): with icount, the state is made in record mode, for recorded runs.
        var forRecording = options.PrepareForRecording ?? options.IcountShift is not null;
        return await PrepareCoreAsync(spec, stateDirectory, catalog, endpoint, facts,
            options with { Mode = forRecording ? RunMode.Record : RunMode.Normal, IcountShift = forRecording ? options.IcountShift ?? CommandLineOptions.DefaultRecordIcountShift : options.IcountShift },
            cancellationToken).ConfigureAwait(false);
    }

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
    /// A ready state saved by the same QEMU build loads in the image as it does here. One made by another build is
    /// replaced by a state prepared in the image, cached beside it (<c>&lt;dir&gt;.image-&lt;id&gt;</c>).
    /// </summary>
    private static async Task<ReadyState> UsableReadyStateAsync(MachineSpec spec, ReadyState ready, QemuCatalog catalog, Uri endpoint, ImageFacts image,
        MachineStartOptions options, CancellationToken ct)
    {
        if (ready.SpecHash != ReadyState.HashOf(spec))
        {
            throw new ReadyStateMismatchException($"the ready state of machine '{spec.Name}' was prepared from a different spec; prepare it again");
        }

        // QEMU 7.2 loads a state made in record mode only in record/replay runs, and one made in a normal run only there.
        var forRecording = options.Mode != RunMode.Normal;
        // A state whose RAM is in a separate file is loaded over QMP by the local runtime only: the image gets its own.
        if (File.Exists(ready.StateImage) && await SameBuildAsync(ready.Binary.Path, image, ct).ConfigureAwait(false) && ready.ForRecording == forRecording && ready.MemoryFile is null)
        {
            return ready;
        }

        var cached = $"{ready.Directory.TrimEnd('/')}.image-{DockerEngine.Short(image.Id)}{(forRecording ? "-rr" : string.Empty)}";
        if (ReadyState.Load(cached) is { } existing && existing.SpecHash == ready.SpecHash && File.Exists(existing.StateImage) && existing.ForRecording == forRecording)
        {
            return existing;
        }

        var shift = forRecording ? ready.IcountShift ?? CommandLineOptions.DefaultRecordIcountShift : ready.ForRecording ? null : ready.IcountShift;
        return await PrepareCoreAsync(spec, cached, catalog, endpoint, image, options with { Mode = forRecording ? RunMode.Record : RunMode.Normal, IcountShift = shift }, ct)
            .ConfigureAwait(false);
    }

    private static async Task<bool> SameBuildAsync(string binary, ImageFacts image, CancellationToken ct) =>
        await ImageCatalog.HostBuildAsync(binary, ct).ConfigureAwait(false) is { } host && string.Equals(host.Sha256, image.QemuSha256, StringComparison.OrdinalIgnoreCase);

    private static async Task<ReadyState> PrepareCoreAsync(MachineSpec spec, string stateDirectory, QemuCatalog catalog, Uri endpoint, ImageFacts image,
        MachineStartOptions options, CancellationToken ct)
    {
        if (spec.Ready.Pattern is null)
        {
            throw new MachineStartException($"machine '{spec.Name}' cannot be prepared: it declares no ready pattern");
        }

        var started = DateTime.UtcNow;
        var machine = await LaunchAsync(spec, catalog, endpoint, image,
                options with { KeepRunDirectory = true, StateImageSource = null, DiskOverlaySources = null, LoadSnapshot = null, ReplaySnapshot = null }, ct)
            .ConfigureAwait(false);
        var forRecording = options.Mode != RunMode.Normal;
        try
        {
            await using (machine.ConfigureAwait(false))
            {
                await machine.WaitUntilReadyAsync(ct).ConfigureAwait(false);
                var bootSeconds = (DateTime.UtcNow - started).TotalSeconds;
                await machine.SaveSnapshotAsync(forRecording ? ReadyState.BootSnapshotName : ReadyState.SnapshotName, ct).ConfigureAwait(false);
                await machine.ShutdownAsync().ConfigureAwait(false);
                await machine.Host.CollectRunFilesAsync(machine.Files, Path.Combine(machine.RunDirectoryPath, RunDirectory.StderrLogName), ct).ConfigureAwait(false);
                if (!forRecording)
                {
                    return await ReadyState.StoreAsync(spec, catalog, machine, stateDirectory, bootSeconds, forRecording: false, ct).ConfigureAwait(false);
                }

                // The second half of ReadyState's preparation for recording (why: ReadyState.PrepareForRecordingAsync): a
                // paused QEMU loads the boot snapshot in record mode and saves 'ready' at the start of a fresh replay log.
                var overlays = machine.Files.DiskImages.Where((_, i) => !spec.Disks[i].ReadOnly).ToArray();
                var rebase = await LaunchAsync(spec, catalog, endpoint, image, options with
                {
                    KeepRunDirectory = true,
                    StateImageSource = machine.Files.StateImage,
                    DiskOverlaySources = overlays,
                    LoadSnapshot = ReadyState.BootSnapshotName,
                    ReplaySnapshot = ReadyState.SnapshotName,
                }, ct).ConfigureAwait(false);
                try
                {
                    await using (rebase.ConfigureAwait(false))
                    {
                        await rebase.ShutdownAsync().ConfigureAwait(false);
                        await rebase.Host.CollectRunFilesAsync(rebase.Files, Path.Combine(rebase.RunDirectoryPath, RunDirectory.StderrLogName), ct).ConfigureAwait(false);
                        var qemuImg = new QemuImg();
                        foreach (var file in rebase.Files.DiskImages.Where((_, i) => !spec.Disks[i].ReadOnly).Prepend(rebase.Files.StateImage))
                        {
                            await qemuImg.DeleteSnapshotAsync(file, ReadyState.BootSnapshotName, ct).ConfigureAwait(false);
                        }

                        return await ReadyState.StoreAsync(spec, catalog, rebase, stateDirectory, bootSeconds, forRecording: true, ct).ConfigureAwait(false);
                    }
                }
                finally
                {
                    ReadyState.DeleteKeptRunDirectory(rebase.RunDirectoryPath);
                }
            }
        }
        finally
        {
            // Kept for StoreAsync to move files out of (gone after it); a boot that failed leaves nothing either.
            ReadyState.DeleteKeptRunDirectory(machine.RunDirectoryPath);
        }
    }

    /// <summary>
    /// Starts a container of <paramref name="image"/> running QEMU as <paramref name="options"/> say: from its
    /// <see cref="MachineStartOptions.StateImageSource"/> and <see cref="MachineStartOptions.DiskOverlaySources"/> (copied
    /// in) or fresh ones, loading <see cref="MachineStartOptions.LoadSnapshot"/> or <see cref="MachineStartOptions.ReplaySnapshot"/>.
    /// </summary>
    internal static async Task<QemuMachine> LaunchAsync(MachineSpec spec, QemuCatalog catalog, Uri endpoint, ImageFacts image, MachineStartOptions options,
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
            var startTimeout = machineOptions.StartTimeout + ContainerStartAllowance;
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
                    $"machine '{spec.Name}' did not start in image {image.Name}: QEMU did not answer over QMP within {machineOptions.StartTimeout.TotalSeconds + ContainerStartAllowance.TotalSeconds:0} s{(stderr.Length > 0 ? $" (QEMU stderr: {stderr})" : string.Empty)}", e);
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

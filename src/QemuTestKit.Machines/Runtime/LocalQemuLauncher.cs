using QemuTestKit.Introspection;
using QemuTestKit.Introspection.Catalog;
using QemuTestKit.Introspection.DeviceTree;
using QemuTestKit.Introspection.Images;
using QemuTestKit.Introspection.Processes;
using QemuTestKit.Introspection.Qmp;
using QemuTestKit.Machines.CommandLine;
using QemuTestKit.Machines.Console;
using QemuTestKit.Machines.Specs;

namespace QemuTestKit.Machines.Runtime;

/// <summary>
/// QEMU as a child process of this one (<see cref="LocalQemuHost"/>), with the spec's own binary: the default
/// <see cref="IQemuLauncher"/>. Its run files live in a private run directory on this host, its sockets are Unix sockets
/// there, and a ready state loads only with the binary that saved it.
/// </summary>
public sealed class LocalQemuLauncher : IQemuLauncher
{
    public static LocalQemuLauncher Instance { get; } = new();

    private LocalQemuLauncher()
    {
    }

    public string Where => "on this host";

    /// <summary>
    /// The catalog given (<see cref="MachineStartOptions.Catalog"/>), else the spec's binary's from the default
    /// <see cref="CatalogCache"/>. The build validated the spec against it (<c>MachineSpecValidator</c>); what recording
    /// needs on top is checked at launch (<see cref="RecordingGuard"/>).
    /// </summary>
    public async Task<QemuCatalog> CatalogAsync(MachineSpec spec, MachineStartOptions options, bool recording, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(options);
        return options.Catalog ?? await new CatalogCache().GetAsync(spec.QemuBinary, cancellationToken).ConfigureAwait(false);
    }

    /// <summary><paramref name="ready"/>, when it was saved from this spec by the spec's binary; it cannot load otherwise.</summary>
    public Task<ReadyState> UsableReadyStateAsync(MachineSpec spec, ReadyState ready, MachineStartOptions options, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(ready);
        ArgumentNullException.ThrowIfNull(options);
        return ready.MismatchWith(spec, options.Catalog ?? throw new ArgumentException("the catalog is read first", nameof(options))) is { } mismatch
            ? throw new ReadyStateMismatchException($"{mismatch}; prepare it again")
            : Task.FromResult(ready);
    }

    /// <inheritdoc/>
    public async Task<QemuMachine> LaunchAsync(MachineSpec spec, MachineStartOptions options, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(options);
        var catalog = await CatalogAsync(spec, options, recording: options.Mode != RunMode.Normal, cancellationToken).ConfigureAwait(false);
        options = options with { Catalog = catalog, DeviceTree = options.DeviceTree ?? await new DeviceTreeCache().TryGetAsync(catalog, spec.MachineType, cancellationToken).ConfigureAwait(false) };
        RecordingGuard.CheckReplayable(spec, catalog, options);
        var run = RunDirectory.Create(spec.Name, options.RunRoot);
        MachineRunFiles files;
        try
        {
            files = await PrepareFilesAsync(spec, run, options, cancellationToken).ConfigureAwait(false);
            await RecordingGuard.CheckStartSnapshotAsync(spec, files, options, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            run.Dispose();
            throw;
        }

        var arguments = QemuCommandLine.Build(spec, catalog, files, new CommandLineOptions
        {
            DeviceTree = options.DeviceTree,
            Mode = options.Mode,
            LoadSnapshot = options.LoadSnapshot,
            IcountShift = options.IcountShift,
            Paused = options.Paused,
            ReplaySnapshot = options.ReplaySnapshot,
        });
        return await LaunchProcessAsync(spec, catalog, run, files, arguments, options, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Starts QEMU with a ready argument array in a run directory whose files are in place (the replayer's way in: its
    /// arguments come from a bundle). Owns <paramref name="run"/> from here on.
    /// </summary>
    internal static Task<QemuMachine> LaunchProcessAsync(MachineSpec spec, QemuCatalog catalog, RunDirectory run, MachineRunFiles files,
        IReadOnlyList<string> arguments, MachineStartOptions options, CancellationToken cancellationToken)
        => LaunchProcessAsync(spec, catalog.Binary, Task.FromResult(catalog), run, files, arguments, options, cancellationToken);

    /// <summary>
    /// As above, with the binary's catalog still being read: a cold process spends ~0.2 s parsing the cached catalog,
    /// which then overlaps QEMU's start and snapshot load (the replayer's case) instead of preceding them.
    /// </summary>
    internal static async Task<QemuMachine> LaunchProcessAsync(MachineSpec spec, string binary, Task<QemuCatalog> catalogRead, RunDirectory run, MachineRunFiles files,
        IReadOnlyList<string> arguments, MachineStartOptions options, CancellationToken cancellationToken)
    {
        var consoles = new List<SerialConsole>();
        LocalQemuHost? host = null;
        QmpClient? qmp = null;
        try
        {
            foreach (var port in files.SerialPorts)
            {
                ConsoleTranscript? transcript = null;
                if (consoles.Count == 0 && options.ConsolePrefix is { Length: > 0 } prefix)
                {
                    transcript = new ConsoleTranscript();
                    transcript.Append(prefix);
                }

                consoles.Add(MachineRunFiles.IsSerialSocket(port) ? SerialConsole.Listen(port, transcript) : SerialConsole.OpenPipe(port, transcript));
            }

            // A replayer's catalog is usually still being read here (it overlaps QEMU's start): its bundle names the RAM id.
            var catalogNow = options.Catalog ?? (catalogRead.IsCompletedSuccessfully ? catalogRead.Result : null);
            host = LocalQemuHost.Start(binary, arguments, run, options.DefaultRamId ?? catalogNow?.FindMachine(spec.MachineType)?.DefaultRamId);
            run.WritePid(host.ProcessId);

            using var startup = Timeouts.Link(options.StartTimeout, cancellationToken);
            var exited = host.WaitForExitAsync(Timeout.InfiniteTimeSpan, startup.Token);
            var exitedForConsoles = host.WaitForExitAsync(Timeout.InfiniteTimeSpan, CancellationToken.None);
            foreach (var console in consoles)
            {
                if (MachineRunFiles.IsSerialSocket(console.SocketPath))
                {
                    await FirstOrExit(console.AcceptAsync(options.StartTimeout, startup.Token), exited).ConfigureAwait(false);
                }
                else
                {
                    console.StartReading(exitedForConsoles);
                }
            }

            qmp = await FirstOrExit(ConnectQmpAsync(files.QmpSocket, host, startup.Token), exited).ConfigureAwait(false);
            if (files.MemoryFile is not null)
            {
                await FirstOrExit(GuestMemoryFile.IgnoreSharedMemoryAsync(qmp, startup.Token), exited).ConfigureAwait(false);
            }

            if (files.LoadsSnapshotAfterStart(options.LoadSnapshot))
            {
                await FirstOrExit(GuestMemoryFile.LoadSnapshotAsync(qmp, options.LoadSnapshot!, resume: !options.Paused, startup.Token), exited).ConfigureAwait(false);
            }

            var catalog = await catalogRead.ConfigureAwait(false);
            return QemuMachine.Attach(spec, catalog, host, qmp, consoles, run, files, arguments, options with { Catalog = options.Catalog ?? catalog });
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            if (host is not null && e is not ProcessExited)
            {
                // A socket error is usually QEMU dying at start-up: give it a moment to say so with its exit code.
                try
                {
                    await host.WaitForExitAsync(TimeSpan.FromSeconds(1), CancellationToken.None).ConfigureAwait(false);
                }
                catch (TimeoutException)
                {
                }
            }

            var stderr = host is null ? string.Empty : QemuProcess.TailLines(host.StderrTail, 10);
            var exitCode = host?.ExitCode; // read before the clean-up: a disposed process has no exit code
            await QemuMachine.CleanUpAsync(host, qmp, consoles, run, keep: false).ConfigureAwait(false);
            var why = e switch
            {
                _ when exitCode is not null => $"QEMU exited with code {exitCode} while starting",
                OperationCanceledException => $"QEMU did not open its sockets within {options.StartTimeout.TotalSeconds:0} s",
                _ => e.Message,
            };
            throw new MachineStartException(
                $"machine '{spec.Name}' did not start: {why}{(string.IsNullOrWhiteSpace(stderr) ? string.Empty : $"\nQEMU stderr:\n{stderr}")}", e);
        }
        catch
        {
            await QemuMachine.CleanUpAsync(host, qmp, consoles, run, keep: false).ConfigureAwait(false);
            throw;
        }
    }


    private static async Task<MachineRunFiles> PrepareFilesAsync(MachineSpec spec, RunDirectory run, MachineStartOptions options, CancellationToken ct)
    {
        var qemuImg = new QemuImg();
        var state = Path.Combine(run.Path, "state.qcow2");
        if (options.StateImageSource is { } source)
        {
            ImageCopy.Copy(source, state);
        }
        else
        {
            // Snapshots need a qcow2 image even when the machine has no disk; its virtual size is irrelevant.
            await qemuImg.CreateAsync(state, 1024 * 1024, ct).ConfigureAwait(false);
        }

        var disks = new List<string>();
        var overlayIndex = 0;
        for (var i = 0; i < spec.Disks.Count; i++)
        {
            var disk = spec.Disks[i];
            if (disk.ReadOnly)
            {
                disks.Add(Path.GetFullPath(disk.Path));
                continue;
            }

            var overlay = Path.Combine(run.Path, $"{QemuCommandLine.DiskId(disk, i)}.overlay.qcow2");
            if (options.DiskOverlaySources is { } overlays && overlayIndex < overlays.Count)
            {
                ImageCopy.Copy(overlays[overlayIndex], overlay);
            }
            else
            {
                await qemuImg.CreateOverlayAsync(overlay, disk.Path, disk.Format, ct).ConfigureAwait(false);
            }

            overlayIndex++;
            disks.Add(overlay);
        }

        // Preparing a normal ready state: the guest's RAM is a file of the run (see GuestMemoryFile).
        var shareMemory = options.PreparingReadyState && options.SeparateMemoryFile && options.MemoryFileSource is null && options.LoadSnapshot is null
            && options.Mode == RunMode.Normal && options.Catalog is { } catalog && GuestMemoryFile.Applies(spec, catalog);
        return new MachineRunFiles(run.QmpSocket, Enumerable.Range(0, Math.Max(1, spec.SerialConsoles)).Select(run.SerialPort).ToArray(), state, disks)
        {
            ReplayLog = options.Mode == RunMode.Normal ? null : options.ReplayLog ?? Path.Combine(run.Path, "replay.bin"),
            GdbSocket = options.GdbStub ? run.GdbSocket : null,
            MemoryFile = options.MemoryFileSource is { } memory ? Path.GetFullPath(memory) : shareMemory ? Path.Combine(run.Path, GuestMemoryFile.FileName) : null,
            MemoryFileShared = shareMemory,
        };
    }

    private static async Task<QmpClient> ConnectQmpAsync(string socket, LocalQemuHost host, CancellationToken ct)
    {
        var options = new QmpClientOptions { DescribePeerExit = host.DescribeExitAsync };
        while (true)
        {
            ct.ThrowIfCancellationRequested();
            if (File.Exists(socket))
            {
                try
                {
                    return await QmpClient.ConnectUnixAsync(socket, options, ct).ConfigureAwait(false);
                }
                catch (QmpDisconnectedException) when (!host.HasExited)
                {
                    // The socket file can exist a moment before QEMU listens on it.
                }
            }

            await Task.Delay(5, ct).ConfigureAwait(false); // QEMU opens it ~0.15 s after its start; every start waits for it
        }
    }

    private static async Task<T> FirstOrExit<T>(Task<T> work, Task exited)
    {
        var first = await Task.WhenAny(work, exited).ConfigureAwait(false);
        if (first == exited && !work.IsCompleted)
        {
            await exited.ConfigureAwait(false); // a wait cancelled (timeout or caller) is not an exit: that rethrows
            throw new ProcessExited();
        }

        return await work.ConfigureAwait(false);
    }

    private static async Task FirstOrExit(Task work, Task exited)
    {
        var first = await Task.WhenAny(work, exited).ConfigureAwait(false);
        if (first == exited && !work.IsCompleted)
        {
            await exited.ConfigureAwait(false); // a wait cancelled (timeout or caller) is not an exit: that rethrows
            throw new ProcessExited();
        }

        await work.ConfigureAwait(false);
    }

    private sealed class ProcessExited : Exception
    {
    }
}

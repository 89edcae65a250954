using QemuTestKit.Introspection;
using QemuTestKit.Introspection.Catalog;
using QemuTestKit.Introspection.Images;
using QemuTestKit.Machines.Bundles;
using QemuTestKit.Machines.CommandLine;
using QemuTestKit.Machines.Runtime;

namespace QemuTestKit.Machines.Replay;

/// <summary>Replays on this host: the recorded binary (or <see cref="ReplayOptions.Qemu"/>, checked to be the same build) as a child process.</summary>
public sealed class LocalReplayHost : IReplayHost
{
    public static LocalReplayHost Instance { get; } = new();

    private LocalReplayHost()
    {
    }

    public async Task<IReplayLauncher> PrepareAsync(ReplayBundle bundle, ReplayOptions options, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(bundle);
        ArgumentNullException.ThrowIfNull(options);
        var binary = await CheckBinaryAsync(bundle.Manifest, options, cancellationToken).ConfigureAwait(false);
        // Read on the thread pool: a cached catalog is parsed synchronously, and that can overlap QEMU's start.
        var catalog = Task.Run(() => new CatalogCache().GetAsync(binary, cancellationToken), cancellationToken);
        return new Launcher(bundle, binary, catalog);
    }

    private static async Task<string> CheckBinaryAsync(BundleManifest manifest, ReplayOptions options, CancellationToken ct)
    {
        var binary = QemuBinary.Resolve(options.Qemu ?? manifest.Qemu.Binary).Path;
        var sha = await FileHashCache.Sha256Async(binary, cancellationToken: ct).ConfigureAwait(false);
        if (!string.Equals(sha, manifest.Qemu.Sha256, StringComparison.OrdinalIgnoreCase))
        {
            throw new ReplayException(
                $"the run was recorded with QEMU {manifest.Qemu.Version} at {manifest.Qemu.Binary} (sha256 {manifest.Qemu.Sha256[..Math.Min(16, manifest.Qemu.Sha256.Length)]}...), " +
                $"but {binary} is a different build (sha256 {sha[..16]}...): a replay needs the exact recorded build (pass it with --qemu)");
        }

        return binary;
    }

    /// <summary>
    /// The serial ports of a replay in <paramref name="run"/>, in the transport the bundle's arguments were recorded
    /// with: sockets for a bundle whose arguments name <c>{run}/serial0.sock</c>, pipe pairs otherwise.
    /// </summary>
    private static string[] SerialPortsOf(IReadOnlyList<string> replayArguments, int count, RunDirectory run)
    {
        var sockets = replayArguments.Any(a => a.Contains("{run}/serial0.sock", StringComparison.Ordinal));
        return Enumerable.Range(0, count).Select(i => sockets ? run.SerialSocket(i) : run.SerialPort(i)).ToArray();
    }

    private sealed class Launcher(ReplayBundle bundle, string binary, Task<QemuCatalog> catalog) : IReplayLauncher
    {
        public string Build => binary;

        public async Task<LaunchedReplay> LaunchAsync(ReplayLaunch launch, CancellationToken cancellationToken)
        {
            var manifest = bundle.Manifest;
            var run = RunDirectory.Create("replay", launch.RunRoot);
            try
            {
                var bases = await CopyRunFilesAsync(bundle, run, cancellationToken).ConfigureAwait(false);
                var arguments = ReplayArguments.Finish(WithDiskBases(bundle.ExpandReplayArguments(run.Path), bases), launch.Snapshot,
                    launch.Gdb?.QemuArgument(run), launch.Paused);
                var files = new MachineRunFiles(run.QmpSocket, SerialPortsOf(manifest.ReplayArguments, Math.Max(1, manifest.Spec.SerialConsoles), run),
                    run.File("state.qcow2"), []);
                var machine = await LocalQemuLauncher.LaunchProcessAsync(manifest.Spec, binary, catalog, run, files, arguments,
                    new MachineStartOptions { Mode = RunMode.Replay, RunRoot = launch.RunRoot, ConsolePrefix = launch.ConsolePrefix, DefaultRamId = manifest.DefaultRamId },
                    cancellationToken).ConfigureAwait(false);
                return new LaunchedReplay(machine, launch.Gdb?.Endpoint(run.Path));
            }
            catch (Exception e) when (e is not MachineStartException)
            {
                run.Dispose();
                throw;
            }
        }

        public Task ConfirmEndAsync(QemuMachine machine, CancellationToken cancellationToken) => Task.CompletedTask;
    }

    /// <summary>
    /// The replay writes to its own state image and overlays (a replay never writes into the bundle): working copies
    /// kept between replays (<see cref="ReplayImageCache"/>), else private copies. Returns where each overlay's base is
    /// here: the recorded path in the overlay may not exist on this machine, so the arguments name the base instead
    /// (<see cref="WithDiskBases"/>), which spares a <c>qemu-img rebase</c> per disk.
    /// </summary>
    private static async Task<List<DiskBase>> CopyRunFilesAsync(ReplayBundle bundle, RunDirectory run, CancellationToken ct)
    {
        var stateImage = await bundle.StateImageAsync(ct).ConfigureAwait(false) ?? throw new ReplayException($"bundle {bundle.Source} has no state image: the bundle is damaged");
        await ReplayImageCache.ProvideAsync(stateImage, run.File("state.qcow2"), run, cancellationToken: ct).ConfigureAwait(false);
        var spec = bundle.Manifest.Spec;
        var bases = new List<DiskBase>();
        for (var i = 0; i < spec.Disks.Count; i++)
        {
            if (spec.Disks[i].ReadOnly)
            {
                continue;
            }

            var id = QemuCommandLine.DiskId(spec.Disks[i], i);
            var overlay = run.File($"{id}.overlay.qcow2");
            await ReplayImageCache.ProvideAsync(bundle.PathOf(BundlePaths.DiskOverlay(id)), overlay, run, cancellationToken: ct).ConfigureAwait(false);
            var basePath = await bundle.DiskBaseAsync(id, run, ct).ConfigureAwait(false);
            // The overlay was made with the base's format (-F), so it names it; qemu-img only for overlays that do not.
            var format = spec.Disks[i].Format ?? Qcow2Header.BackingFormat(overlay)
                ?? (await new QemuImg().InfoAsync(basePath, cancellationToken: ct).ConfigureAwait(false)).Format;
            bases.Add(new DiskBase(overlay, Path.GetFullPath(basePath), format));
        }

        return bases;
    }

    /// <summary>A writable disk's overlay in the run, and the base it reads through (<c>backing.*</c> options on its drive).</summary>
    private sealed record DiskBase(string Overlay, string Base, string Format);

    /// <summary>Each overlay's drive option gets its base as <c>backing.driver</c> and <c>backing.file.filename</c>.</summary>
    private static List<string> WithDiskBases(IReadOnlyList<string> arguments, IReadOnlyList<DiskBase> bases)
    {
        var result = new List<string>(arguments);
        foreach (var disk in bases)
        {
            var file = "file=" + QemuOptionValue.Escape(disk.Overlay);
            var at = result.FindIndex(a => a.EndsWith("," + file, StringComparison.Ordinal) || a.Contains("," + file + ",", StringComparison.Ordinal));
            if (at < 1 || result[at - 1] != "-drive")
            {
                throw new ReplayException($"the bundle's replay arguments have no drive for {Path.GetFileName(disk.Overlay)}: the bundle is damaged");
            }

            result[at] = QemuOptionValue.Join(result[at], ("backing.driver", disk.Format), ("backing.file.filename", disk.Base));
        }

        return result;
    }
}

using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Serialization;
using QemuTestKit.Machines.CommandLine;
using QemuTestKit.Machines.Runtime;
using QemuTestKit.Machines.Specs;

namespace QemuTestKit.Machines.Bundles;

/// <summary>
/// Turns a finished recorded run into a replay bundle: the replay log, the state image with its snapshots, disk
/// overlays, the console transcript with its icount map, QEMU's stderr, the boot files, and a manifest whose replay
/// argument array points into the bundle (<c>{bundle}</c>) and a private run directory (<c>{run}</c>).
/// </summary>
internal static class RecordingBundler
{
    /// <summary>The bundle's name for the screen at the end of the run.</summary>
    public const string ScreenshotPath = "screenshots/final.png";

    /// <summary>
    /// The screen as the run ends (QMP <c>screendump</c>, PNG), or null when the machine has no display device (QEMU
    /// then says it has no console to dump) or has already gone.
    /// </summary>
    public static async Task<string?> TryScreenshotAsync(QemuMachine machine, RunDirectory run, CancellationToken ct)
    {
        if (machine.HasExited || !machine.Qmp.IsConnected)
        {
            return null;
        }

        var png = run.File("final.png");
        try
        {
            await machine.ScreenshotAsync(png, ct).ConfigureAwait(false);
            return File.Exists(png) ? png : null;
        }
        catch (Exception e) when (e is MachineCommandException or QemuTestKit.Introspection.Qmp.QmpException)
        {
            return null;
        }
    }

    public static async Task<string> WriteAsync(QemuMachine machine, RunDirectory run, string bundleDirectory, BundleTest? test, string? screenshot,
        CancellationToken ct)
    {
        // The bundle says what ran: a spec that declares no architecture gets the binary's target.
        var spec = machine.Spec.WithTargetOf(machine.Catalog);
        var files = machine.Files;
        // Each checkpoint is a whole vmstate, mostly the pages of the one before it: packed, a bundle holds them once.
        var pack = run.File(BundlePaths.StatePackName);
        await StatePack.PackAsync(files.StateImage, pack, ct).ConfigureAwait(false);
        var sources = new List<BundleSource>
        {
            new(files.ReplayLog!, "replay.bin", BundleRoles.ReplayLog, Move: true),
            new(pack, BundlePaths.StatePackName, BundleRoles.StateImage, Move: true),
        };

        var transcript = run.File("console.log");
        await machine.Console.Transcript.SaveAsync(transcript, ct).ConfigureAwait(false);
        sources.Add(new BundleSource(transcript, "console.log", BundleRoles.Transcript, Move: true));
        var chunks = run.File("console.chunks.json");
        await WriteChunksAsync(machine, chunks, ct).ConfigureAwait(false);
        sources.Add(new BundleSource(chunks, "console.chunks.json", BundleRoles.TranscriptChunks, Move: true));
        if (screenshot is not null)
        {
            sources.Add(new BundleSource(screenshot, ScreenshotPath, BundleRoles.Screenshot, Move: true));
        }

        if (File.Exists(run.StderrLog))
        {
            sources.Add(new BundleSource(run.StderrLog, "qemu.stderr.log", BundleRoles.Stderr));
        }

        // The replay spec points at the bundle's copies of the boot files and at the replay's private run directory.
        var replaySpec = spec;
        void Boot(string? path, string role, Func<string, MachineSpec> set)
        {
            if (path is null)
            {
                return;
            }

            var inBundle = $"boot/{Path.GetFileName(path)}";
            sources.Add(new BundleSource(path, inBundle, role));
            replaySpec = set("{bundle}/" + inBundle);
        }

        Boot(spec.Kernel, BundleRoles.Kernel, p => replaySpec with { Kernel = p });
        Boot(spec.Initrd, BundleRoles.Initrd, p => replaySpec with { Initrd = p });
        Boot(spec.Firmware, BundleRoles.Firmware, p => replaySpec with { Firmware = p });

        var diskImages = new List<string>();
        for (var i = 0; i < spec.Disks.Count; i++)
        {
            var disk = spec.Disks[i];
            var id = QemuCommandLine.DiskId(disk, i);
            var basePath = Path.GetFullPath(disk.Path);
            if (disk.ReadOnly)
            {
                sources.Add(new BundleSource(basePath, BundlePaths.DiskBase(id), BundleRoles.DiskBase));
                diskImages.Add($"{{bundle}}/{BundlePaths.DiskBase(id)}");
            }
            else
            {
                // A writable disk's base is read through its overlay, so a replay can restore it first: packed like the
                // state image (a 141 MB Debian base, its clusters mostly uncompressed, packs to ~45 MB). A base too large
                // to copy stays external, referenced by its path and sha256 (BundleWriteOptions.MaxCopyBytes).
                if (new FileInfo(basePath).Length <= BundleWriteOptions.DefaultMaxCopyBytes)
                {
                    var packedBase = run.File(Path.GetFileName(BundlePaths.PackedDiskBase(id)));
                    await StatePack.PackAsync(basePath, packedBase, ct).ConfigureAwait(false);
                    sources.Add(new BundleSource(packedBase, BundlePaths.PackedDiskBase(id), BundleRoles.DiskBase, Move: true));
                }
                else
                {
                    sources.Add(new BundleSource(basePath, BundlePaths.DiskBase(id), BundleRoles.DiskBase));
                }

                sources.Add(new BundleSource(files.DiskImages[i], BundlePaths.DiskOverlay(id), BundleRoles.DiskOverlay, Move: true));
                diskImages.Add($"{{run}}/{id}.overlay.qcow2");
            }
        }

        // A replay reads its console from a socket: QEMU replays each write's recorded result and writes it whole
        // (write_all), so a host that reads late only slows it; the pipe pair is what a recording needs (SerialPipe).
        // Measured: test-driven replays with the pipe pair stalled on busy cores, with the socket they did not.
        var replayFiles = new MachineRunFiles("{run}/qmp.sock",
            files.SerialPorts.Select((_, i) => $"{{run}}/serial{i}.sock").ToArray(), "{run}/state.qcow2", diskImages)
        {
            ReplayLog = "{bundle}/replay.bin",
        };
        var arguments = QemuCommandLine.Build(replaySpec, machine.Catalog, replayFiles, new CommandLineOptions
        {
            DeviceTree = machine.DeviceTree,
            Mode = RunMode.Replay,
            LoadSnapshot = machine.StartSnapshot,
            IcountShift = machine.IcountShift,
        });

        var manifest = new BundleManifest
        {
            Test = test,
            // A QEMU that ran elsewhere (a container) describes its own build: its binary is not on this host.
            Qemu = machine.Host.QemuBuild ?? new QemuBuild(machine.Catalog.QemuVersion, machine.Catalog.QemuPackage, machine.Catalog.Binary,
                await QemuTestKit.Introspection.Catalog.FileHashCache.Sha256Async(machine.Catalog.Binary, cancellationToken: ct).ConfigureAwait(false)),
            Spec = spec,
            ReplayArguments = arguments,
            IcountShift = machine.IcountShift ?? CommandLineOptions.DefaultRecordIcountShift,
            DefaultRamId = machine.Catalog.FindMachine(spec.MachineType)?.DefaultRamId,
            StartSnapshot = machine.StartSnapshot,
            Checkpoints = machine.Checkpoints,
            Transcript = new BundleTranscript("console.log", 0, string.Empty),
            Timings = new BundleTimings((DateTimeOffset.UtcNow - machine.StartedAt).TotalSeconds, machine.StartedAt, DateTimeOffset.UtcNow),
        };
        return await ReplayBundleWriter.WriteAsync(manifest, sources, bundleDirectory, cancellationToken: ct).ConfigureAwait(false);
    }

    private static async Task WriteChunksAsync(QemuMachine machine, string path, CancellationToken ct)
    {
        var chunks = machine.Console.Transcript.Chunks
            .Select(c => new TranscriptChunk(c.Offset, c.Length, c.TimeUtc, c.Icount))
            .ToArray();
        var stream = File.Create(path);
        await using (stream.ConfigureAwait(false))
        {
            await JsonSerializer.SerializeAsync(stream, chunks, ChunkJsonContext.Default.TranscriptChunkArray, ct).ConfigureAwait(false);
        }
    }

    public static async Task<string> Sha256OfFileAsync(string path, CancellationToken ct)
    {
        var stream = File.OpenRead(path);
        await using (stream.ConfigureAwait(false))
        {
            return Convert.ToHexString(await SHA256.HashDataAsync(stream, ct).ConfigureAwait(false)).ToLowerInvariant();
        }
    }
}

/// <summary>One entry of <c>console.chunks.json</c>: where a chunk of console bytes starts, when it arrived, and the icount then.</summary>
public sealed record TranscriptChunk(long Offset, int Length, DateTime TimeUtc, long? Icount);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
[JsonSerializable(typeof(TranscriptChunk[]))]
public sealed partial class ChunkJsonContext : JsonSerializerContext;

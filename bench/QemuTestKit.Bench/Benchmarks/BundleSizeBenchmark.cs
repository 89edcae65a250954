using System.Globalization;
using QemuTestKit.Introspection;
using QemuTestKit.Introspection.Images;
using QemuTestKit.Machines.Bundles;
using QemuTestKit.Machines.CommandLine;
using QemuTestKit.Machines.Tests.Support;

namespace QemuTestKit.Bench.Benchmarks;

/// <summary>
/// <c>bundle-size</c>: what a kept bundle costs on disk. The same short recorded test (one command, then 4 MiB of
/// random data written to /tmp before each checkpoint, so every checkpoint has guest memory of its own) is recorded
/// twice from the ready state, with 1 and with 3 checkpoints, and kept. Each bundle's size is the space its files take
/// on disk (allocated blocks, <c>stat %b*%B</c>: the state image and overlays are sparse) and their apparent length,
/// per part. The yardstick is what the guest itself holds at the end of the run: its used RAM (MemTotal - MemFree,
/// page cache and tmpfs included) plus its disk delta (the allocated bytes of the writable disk overlays, which the
/// bundle keeps; none for the test guest, which has no disk). Goal: &lt;= 1.5x for one checkpoint, and each further
/// checkpoint &lt;= 0.3x. Sizes are deterministic enough that one recording per variant is enough: <c>--runs</c> is ignored.
/// Last line: <c>bundle-size: &lt;r1&gt;x for 1 checkpoint, +&lt;rn&gt;x per further checkpoint</c>.
/// </summary>
internal sealed class BundleSizeBenchmark : IBenchmark
{
    private const double GoalOne = 1.5;
    private const double GoalFurther = 0.3;

    /// <summary>The parts a bundle's size is reported in, in this order.</summary>
    private static readonly string[] Parts = ["state image", "replay.bin", "boot/", "disk bases", "disk overlays", "console", "other"];

    public string Name => "bundle-size";

    public string Description => "the kept bundle of a recorded test with 1 and with 3 checkpoints, in MB and as a ratio to the guest's used RAM plus disk delta (goal: <= 1.5x for one checkpoint, <= 0.3x per further checkpoint); options --guest GUEST_JSON, --keep DIR (leave both bundles there)";

    public async Task<int> RunAsync(string[] args, CancellationToken cancellationToken)
    {
        var options = BenchOptions.Parse(args, valueOptions: [BenchGuest.Option, BenchDirectory.KeepOption], defaultRuns: 1);
        void Say(string text) => BenchOutput.Line(Name, text);
        using var directory = BenchDirectory.Create(options, "qtk-bench-size-");
        var root = directory.Path;
        return await BenchOutput.GuardAsync(Name, null, async () =>
        {
            if (await BenchGuest.PrepareAsync(Name, options, root, Say, icountShift: CommandLineOptions.DefaultRecordIcountShift, cancellationToken).ConfigureAwait(false) is not { } guest)
            {
                return 1;
            }

            // One at a time: a single QEMU runs on the machine at any moment.
            var one = await RecordAsync(guest, Path.Combine(root, "one"), 1, cancellationToken).ConfigureAwait(false);
            Report(one, Say);
            var three = await RecordAsync(guest, Path.Combine(root, "three"), 3, cancellationToken).ConfigureAwait(false);
            Report(three, Say);

            var r1 = one.Ratio;
            // The further checkpoints against the guest as it was when they were taken: the 3-checkpoint run's end.
            var furtherMb = (three.Allocated - one.Allocated) / 2 / 1e6;
            var rn = furtherMb / three.GuestMb;
            Say(string.Create(CultureInfo.InvariantCulture,
                $"each further checkpoint: ({Mb(three.Allocated)} - {Mb(one.Allocated)} MB) / 2 = {furtherMb:0.0} MB, {rn:0.00}x of {three.GuestMb:0.0} MB"));
            Say(string.Create(CultureInfo.InvariantCulture, $"  goal <= {GoalOne:0.0}x for one checkpoint: {(r1 <= GoalOne ? "ok" : "MISSED")}"));
            Say(string.Create(CultureInfo.InvariantCulture, $"  goal <= {GoalFurther:0.0}x per further checkpoint: {(rn <= GoalFurther ? "ok" : "MISSED")}"));
            Say(string.Create(CultureInfo.InvariantCulture, $"{r1:0.00}x for 1 checkpoint, +{rn:0.00}x per further checkpoint"));
            return 0;
        }).ConfigureAwait(false);
    }

    /// <summary>
    /// Records one command from the ready state and <paramref name="checkpoints"/> checkpoints, each after 4 MiB of new
    /// guest memory, reads the guest's used RAM last, and keeps the run as a bundle.
    /// </summary>
    private static async Task<Recording> RecordAsync(PreparedGuest guest, string bundleDirectory, int checkpoints, CancellationToken ct)
    {
        (long Total, long Used) ram = default;
        var bundle = await CheckpointedRecording.KeepAsync(guest, bundleDirectory, "bundle-size", checkpoints,
            async (machine, token) => ram = Ram((await machine.ExecAsync("cat /proc/meminfo", CheckpointedRecording.CommandTimeout, token).ConfigureAwait(false)).Lines),
            ct).ConfigureAwait(false);

        var manifest = BundleManifestJson.Parse(await File.ReadAllBytesAsync(Path.Combine(bundle, "bundle.json"), ct).ConfigureAwait(false), bundle);
        var files = manifest.Files
            .Select(f => new SizedFile(Part(f), f.Role, SparseFiles.AllocatedBytes(Path.Combine(bundle, f.Path)), f.Size))
            .Append(new SizedFile("other", "manifest", SparseFiles.AllocatedBytes(Path.Combine(bundle, "bundle.json")), new FileInfo(Path.Combine(bundle, "bundle.json")).Length))
            .ToArray();
        // The overlays are measured in the bundle, after QEMU shut down: everything it wrote is in them by then.
        var diskDelta = files.Where(f => f.Role == BundleRoles.DiskOverlay).Sum(f => f.Allocated);
        // Each snapshot's vmstate as qemu-img reports it: says whether a checkpoint costs its changes or a whole RAM image.
        using var opened = await ReplayBundle.OpenAsync(bundle, ct).ConfigureAwait(false);
        var snapshots = await new QemuImg().ListSnapshotsAsync((await opened.StateImageAsync(ct).ConfigureAwait(false))!, cancellationToken: ct).ConfigureAwait(false);
        return new Recording(checkpoints, files, ram.Total, ram.Used, diskDelta, snapshots);
    }

    /// <summary>MemTotal, and MemTotal - MemFree, of <c>/proc/meminfo</c>, in bytes (its values are KiB).</summary>
    private static (long Total, long Used) Ram(IReadOnlyList<string> meminfo)
    {
        long Field(string name) =>
            meminfo.Select(l => l.Split(':', 2)).FirstOrDefault(p => p.Length == 2 && p[0] == name) is { } pair
            && long.TryParse(pair[1].Replace("kB", string.Empty, StringComparison.Ordinal).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var kib)
                ? kib * 1024
                : throw new BenchFailedException($"/proc/meminfo has no {name}: {string.Join(" | ", meminfo.Take(3))}");

        var total = Field("MemTotal");
        return (total, total - Field("MemFree"));
    }

    /// <summary>A file's part: by its role where the role says it (a disk base copied in weighs like the whole disk), else by its path.</summary>
    private static string Part(BundleFile file) => file.Role switch
    {
        BundleRoles.StateImage => "state image",
        BundleRoles.Transcript or BundleRoles.TranscriptChunks => "console",
        BundleRoles.DiskBase => "disk bases",
        BundleRoles.DiskOverlay => "disk overlays",
        _ => Parts.FirstOrDefault(p => p.EndsWith('/') ? file.Path.StartsWith(p, StringComparison.Ordinal) : file.Path == p) ?? "other",
    };

    private static void Report(Recording r, Action<string> say)
    {
        say(string.Create(CultureInfo.InvariantCulture,
            $"{r.Checkpoints} checkpoint{(r.Checkpoints == 1 ? string.Empty : "s")}: {Mb(r.Allocated)} MB allocated ({Mb(r.Apparent)} MB apparent)"));
        foreach (var part in Parts)
        {
            var files = r.Files.Where(f => f.Part == part).ToArray();
            if (files.Length > 0)
            {
                say(string.Create(CultureInfo.InvariantCulture,
                    $"  {part,-12} {Mb(files.Sum(f => f.Allocated)),8} MB allocated {Mb(files.Sum(f => f.Apparent)),8} MB apparent"));
            }
        }

        say("  vmstates in state.qcow2: " + string.Join(", ", r.Snapshots.Select(s => $"{s.Name} {Mb(s.VmStateSize)} MB")));
        say(string.Create(CultureInfo.InvariantCulture,
            $"  guest: used RAM {Mb(r.UsedRam)} MB (of MemTotal {Mb(r.MemTotal)} MB) + disk delta {Mb(r.DiskDelta)} MB = {r.GuestMb:0.0} MB; bundle {r.Ratio:0.00}x"));
    }

    private static string Mb(long bytes) => (bytes / 1e6).ToString("0.0", CultureInfo.InvariantCulture);

    /// <summary>A bundle file's part, role, allocated bytes and apparent length.</summary>
    private sealed record SizedFile(string Part, string Role, long Allocated, long Apparent);

    /// <summary>A kept bundle's files and what the guest held when it was kept.</summary>
    private sealed record Recording(int Checkpoints, IReadOnlyList<SizedFile> Files, long MemTotal, long UsedRam, long DiskDelta,
        IReadOnlyList<ImageSnapshot> Snapshots)
    {
        public long Allocated => Files.Sum(f => f.Allocated);

        public long Apparent => Files.Sum(f => f.Apparent);

        public double GuestMb => (UsedRam + DiskDelta) / 1e6;

        public double Ratio => Allocated / 1e6 / GuestMb;
    }
}
